use estate_proto::billing::{
    AccountMatch, BillingReport, BillingReportStatus, Partner, PartnerStatus, PartnerType,
    UsageReportStatus, UsageReportSummary,
};
use estate_proto::common::Money;

use super::*;
use crate::output::{Format, RowWriter};

const PARTNER: &str = "distributors/d1/partners/p1";

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2026-11-23T12:00:00Z.
const NOW: i64 = 1_795_435_200;

fn usage() -> UsageReportSummary {
    UsageReportSummary {
        name: format!("{PARTNER}/usageReports/r1"),
        product: "sam-core".into(),
        month: "2026-10".into(),
        status: UsageReportStatus::UnderReview.into(),
        provisioned_units: 10,
        used_units: Some(8),
        chargeable_units: 8,
        over_provisioned_percent: 25,
        comment: "seats for a rollout, \"phase 2\"".into(),
        auto_submitted: false,
        flagged: false,
        update_time: at(NOW),
        submit_time: at(NOW),
        etag: "W/\"r2\"".into(),
        rejection_reason: String::new(),
        ..Default::default()
    }
}

fn billing() -> BillingReport {
    let eur = |amount_minor| {
        Some(Money {
            currency_code: "EUR".into(),
            amount_minor,
        })
    };
    BillingReport {
        name: "distributors/d1/billingReports/b1".into(),
        usage_report: format!("{PARTNER}/usageReports/r1"),
        partner: PARTNER.into(),
        product: "sam-core".into(),
        month: "2026-10".into(),
        status: BillingReportStatus::UnderReviewManual.into(),
        units: 9,
        po_number: "PO-2026-10".into(),
        unit_price: eur(1234),
        channel_margin_basis_points: 1450,
        amount: eur(11_106),
        total: eur(9_496),
        create_time: at(NOW),
        update_time: at(NOW),
        etag: String::new(),
    }
}

fn csv<R: Row>(rows: &[R]) -> String {
    let mut out = Vec::new();
    let mut writer = RowWriter::<R, _>::new(Format::Csv, &mut out).unwrap();
    writer.write_page(rows).unwrap();
    writer.finish().unwrap();
    String::from_utf8(out).unwrap()
}

/// The keys serde writes, in order, as the csv crate derives a header.
fn serialized_fields<R: Row>(row: &R) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(row).unwrap();
    let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
    text.lines().next().unwrap().to_string()
}

#[test]
fn each_rows_declared_fields_are_the_ones_it_serializes_in_order() {
    assert_eq!(
        serialized_fields(&UsageReportRow::new(&usage(), String::new())),
        UsageReportRow::FIELDS.join(",")
    );
    assert_eq!(
        serialized_fields(&BillingReportRow::new(&billing(), String::new())),
        BillingReportRow::FIELDS.join(",")
    );
    let partner = PartnerRow::new(&Partner::default(), String::new());
    assert_eq!(serialized_fields(&partner), PartnerRow::FIELDS.join(","));
    let account = AccountRow::from(&AccountMatch::default());
    assert_eq!(serialized_fields(&account), AccountRow::FIELDS.join(","));
    let drop = ChargeableDropRow::new(&Default::default(), "sam-core", String::new());
    assert_eq!(
        serialized_fields(&drop),
        ChargeableDropRow::FIELDS.join(",")
    );
    for (fields, headers) in [
        (UsageReportRow::FIELDS, UsageReportRow::TABLE_HEADERS),
        (BillingReportRow::FIELDS, BillingReportRow::TABLE_HEADERS),
    ] {
        assert!(headers.len() <= fields.len());
    }
}

#[test]
fn a_usage_report_is_one_csv_record_with_its_figures_and_quoted_comment() {
    let row = UsageReportRow::new(&usage(), "Contoso MSP".into());
    assert_eq!(row.partner, PARTNER);
    assert_eq!(
        csv(&[row]),
        "month,partner_name,product,provisioned_units,used_units,chargeable_units,\
         over_provisioned_percent,status,comment,rejection_reason,auto_submitted,flagged,\
         partner,name,submit_time,update_time\n\
         2026-10,Contoso MSP,sam-core,10,8,8,25,under_review,\
         \"seats for a rollout, \"\"phase 2\"\"\",,false,false,distributors/d1/partners/p1,\
         distributors/d1/partners/p1/usageReports/r1,2026-11-23T12:00:00Z,2026-11-23T12:00:00Z\n"
    );
}

#[test]
fn unset_figures_are_empty_in_csv_and_null_in_json() {
    let report = UsageReportSummary {
        used_units: None,
        submit_time: None,
        comment: String::new(),
        ..usage()
    };
    let row = UsageReportRow::new(&report, "Contoso MSP".into());
    let text = csv(std::slice::from_ref(&row));
    assert!(
        text.ends_with(",10,,8,25,under_review,,,false,false,distributors/d1/partners/p1,distributors/d1/partners/p1/usageReports/r1,,2026-11-23T12:00:00Z\n"),
        "{text}"
    );
    let json = serde_json::to_string(&row).unwrap();
    assert!(json.contains("\"used_units\":null"), "{json}");
    assert!(json.contains("\"submit_time\":null"), "{json}");
}

#[test]
fn a_billing_report_carries_exact_money_and_margin() {
    let row = BillingReportRow::new(&billing(), "Contoso MSP".into());
    assert_eq!(
        csv(&[row]),
        "month,partner_name,product,status,units,po_number,currency,unit_price,\
         channel_margin_percent,amount,total,partner,usage_report,name,create_time,update_time\n\
         2026-10,Contoso MSP,sam-core,under_review_manual,9,PO-2026-10,EUR,12.34,14.50,111.06,\
         94.96,distributors/d1/partners/p1,distributors/d1/partners/p1/usageReports/r1,\
         distributors/d1/billingReports/b1,2026-11-23T12:00:00Z,2026-11-23T12:00:00Z\n"
    );
    // Not priced yet: no currency, no money.
    let unpriced = BillingReport {
        unit_price: None,
        amount: None,
        total: None,
        channel_margin_basis_points: 0,
        ..billing()
    };
    let row = BillingReportRow::new(&unpriced, String::new());
    assert_eq!(
        (row.currency, row.unit_price, row.amount, row.total),
        (None, None, None, None)
    );
    assert_eq!(row.channel_margin_percent, "0.00");
}

#[test]
fn csv_has_its_header_even_without_rows() {
    assert_eq!(
        csv::<PartnerRow>(&[]),
        "display_name,type,status,acquisition_date,region,name,organization\n"
    );
}

#[test]
fn json_is_one_array_written_page_by_page_and_ndjson_one_object_a_line() {
    let partner = |region: &str| {
        PartnerRow::new(
            &Partner {
                name: format!("{PARTNER}{region}"),
                organization: "organizations/p1".into(),
                r#type: PartnerType::Msp.into(),
                status: PartnerStatus::Active.into(),
                acquisition_date: "2026-03-01".into(),
                region: region.into(),
                ..Default::default()
            },
            "Contoso MSP".into(),
        )
    };
    let object = |region: &str| {
        format!(
            "{{\"display_name\":\"Contoso MSP\",\"type\":\"msp\",\"status\":\"active\",\
             \"acquisition_date\":\"2026-03-01\",\"region\":\"{region}\",\
             \"name\":\"{PARTNER}{region}\",\"organization\":\"organizations/p1\"}}"
        )
    };
    for (format, expected) in [
        (
            Format::Json,
            format!(
                "[\n{},\n{},\n{}\n]\n",
                object("A"),
                object("B"),
                object("C")
            ),
        ),
        (
            Format::Ndjson,
            format!("{}\n{}\n{}\n", object("A"), object("B"), object("C")),
        ),
    ] {
        let mut out = Vec::new();
        let mut writer = RowWriter::<PartnerRow, _>::new(format, &mut out).unwrap();
        writer.write_page(&[partner("A"), partner("B")]).unwrap();
        writer.write_page(&[]).unwrap();
        writer.write_page(&[partner("C")]).unwrap();
        assert_eq!(writer.finish().unwrap(), 3);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
    let mut out = Vec::new();
    RowWriter::<PartnerRow, _>::new(Format::Json, &mut out)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(out, b"[]\n");
}

#[test]
fn a_table_aligns_columns_and_keeps_each_row_on_one_line() {
    let report = UsageReportSummary {
        comment: "line one\nline two".into(),
        rejection_reason: "count again".into(),
        flagged: true,
        ..usage()
    };
    let mut out = Vec::new();
    let mut writer = RowWriter::<UsageReportRow, _>::new(Format::Table, &mut out).unwrap();
    writer
        .write_page(&[UsageReportRow::new(&report, "Contoso MSP".into())])
        .unwrap();
    writer.finish().unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "MONTH    PARTNER      PRODUCT   PROVISIONED  USED  CHARGEABLE  OVER %  STATUS        FLAGGED  COMMENT            REJECTION REASON\n\
         2026-10  Contoso MSP  sam-core  10           8     8           25      under_review  yes      line one line two  count again\n"
    );
}
