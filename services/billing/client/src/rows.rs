//! Flat rows for export: one struct per listed resource, every field a
//! plain scalar, so the same value serializes as a JSON object or a CSV
//! record with the same keys in the same order. Enums are labels
//! (`under_review`), times RFC 3339 in UTC, money and margins exact decimal
//! strings (see [`crate::money`]), and a partner appears by display name
//! and by resource name, since billing itself keeps only ids.

use estate_proto::billing::{
    AccountMatch, BillingReport, BillingReportStatus, ChargeableDrop, Partner, PartnerStatus,
    PartnerType, UsageReportStatus, UsageReportSummary,
};
use estate_proto::common::Money;
use serde::Serialize;

use crate::filters::label_of;
use crate::money::{basis_points_percent, money_decimal};

/// A row type: its fields in serialization order (the CSV header, written
/// even when there are no rows) and the narrower view a terminal table
/// shows.
pub trait Row: Serialize {
    /// Every field name, in declaration order.
    const FIELDS: &'static [&'static str];
    /// The columns a table shows.
    const TABLE_HEADERS: &'static [&'static str];
    /// This row's cells under [`Self::TABLE_HEADERS`].
    fn table_cells(&self) -> Vec<String>;
}

/// One monthly usage report of a partner and product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReportRow {
    /// `YYYY-MM`.
    pub month: String,
    pub partner_name: String,
    pub product: String,
    pub provisioned_units: i64,
    /// Unset when nothing was reported.
    pub used_units: Option<i64>,
    pub chargeable_units: i64,
    pub over_provisioned_percent: i64,
    pub status: String,
    pub comment: String,
    /// Why the distributor last rejected it; empty once submitted again.
    pub rejection_reason: String,
    pub auto_submitted: bool,
    pub flagged: bool,
    /// `distributors/{d}/partners/{p}`.
    pub partner: String,
    /// The report's resource name.
    pub name: String,
    pub submit_time: Option<String>,
    pub update_time: Option<String>,
}

impl UsageReportRow {
    /// `partner_name` is the partner's display name (see
    /// [`crate::PartnerNames`]), or empty.
    pub fn new(report: &UsageReportSummary, partner_name: String) -> Self {
        Self {
            month: report.month.clone(),
            partner_name,
            product: report.product.clone(),
            provisioned_units: report.provisioned_units,
            used_units: report.used_units,
            chargeable_units: report.chargeable_units,
            over_provisioned_percent: report.over_provisioned_percent,
            status: label_of::<UsageReportStatus>(report.status),
            comment: report.comment.clone(),
            rejection_reason: report.rejection_reason.clone(),
            auto_submitted: report.auto_submitted,
            flagged: report.flagged,
            partner: partner_of(&report.name),
            name: report.name.clone(),
            submit_time: rfc3339(report.submit_time.as_ref()),
            update_time: rfc3339(report.update_time.as_ref()),
        }
    }
}

impl Row for UsageReportRow {
    const FIELDS: &'static [&'static str] = &[
        "month",
        "partner_name",
        "product",
        "provisioned_units",
        "used_units",
        "chargeable_units",
        "over_provisioned_percent",
        "status",
        "comment",
        "rejection_reason",
        "auto_submitted",
        "flagged",
        "partner",
        "name",
        "submit_time",
        "update_time",
    ];
    const TABLE_HEADERS: &'static [&'static str] = &[
        "MONTH",
        "PARTNER",
        "PRODUCT",
        "PROVISIONED",
        "USED",
        "CHARGEABLE",
        "OVER %",
        "STATUS",
        "FLAGGED",
        "COMMENT",
        "REJECTION REASON",
    ];

    fn table_cells(&self) -> Vec<String> {
        vec![
            self.month.clone(),
            self.partner_name.clone(),
            self.product.clone(),
            self.provisioned_units.to_string(),
            self.used_units
                .map(|used| used.to_string())
                .unwrap_or_default(),
            self.chargeable_units.to_string(),
            self.over_provisioned_percent.to_string(),
            self.status.clone(),
            yes(self.flagged),
            self.comment.clone(),
            self.rejection_reason.clone(),
        ]
    }
}

/// One billing report, with its money as exact decimals in the major
/// unit of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingReportRow {
    pub month: String,
    pub partner_name: String,
    pub product: String,
    pub status: String,
    pub units: i64,
    pub po_number: String,
    /// ISO 4217; unset until a unit price is.
    pub currency: Option<String>,
    pub unit_price: Option<String>,
    /// The channel margin in percent, two places (`14.50`).
    pub channel_margin_percent: String,
    /// Units × unit price.
    pub amount: Option<String>,
    /// The amount less the channel margin.
    pub total: Option<String>,
    pub partner: String,
    /// The approved usage report it bills.
    pub usage_report: String,
    pub name: String,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
}

impl BillingReportRow {
    pub fn new(report: &BillingReport, partner_name: String) -> Self {
        let currency = [&report.unit_price, &report.amount, &report.total]
            .into_iter()
            .flatten()
            .map(|money| money.currency_code.clone())
            .find(|code| !code.is_empty());
        let decimal = |money: &Option<Money>| money.as_ref().map(money_decimal);
        Self {
            month: report.month.clone(),
            partner_name,
            product: report.product.clone(),
            status: label_of::<BillingReportStatus>(report.status),
            units: report.units,
            po_number: report.po_number.clone(),
            currency,
            unit_price: decimal(&report.unit_price),
            channel_margin_percent: basis_points_percent(report.channel_margin_basis_points),
            amount: decimal(&report.amount),
            total: decimal(&report.total),
            partner: report.partner.clone(),
            usage_report: report.usage_report.clone(),
            name: report.name.clone(),
            create_time: rfc3339(report.create_time.as_ref()),
            update_time: rfc3339(report.update_time.as_ref()),
        }
    }
}

impl Row for BillingReportRow {
    const FIELDS: &'static [&'static str] = &[
        "month",
        "partner_name",
        "product",
        "status",
        "units",
        "po_number",
        "currency",
        "unit_price",
        "channel_margin_percent",
        "amount",
        "total",
        "partner",
        "usage_report",
        "name",
        "create_time",
        "update_time",
    ];
    const TABLE_HEADERS: &'static [&'static str] = &[
        "MONTH", "PARTNER", "PRODUCT", "STATUS", "UNITS", "PO", "CURRENCY", "PRICE", "MARGIN %",
        "AMOUNT", "TOTAL",
    ];

    fn table_cells(&self) -> Vec<String> {
        vec![
            self.month.clone(),
            self.partner_name.clone(),
            self.product.clone(),
            self.status.clone(),
            self.units.to_string(),
            self.po_number.clone(),
            self.currency.clone().unwrap_or_default(),
            self.unit_price.clone().unwrap_or_default(),
            self.channel_margin_percent.clone(),
            self.amount.clone().unwrap_or_default(),
            self.total.clone().unwrap_or_default(),
        ]
    }
}

/// One partner account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartnerRow {
    pub display_name: String,
    /// `msp` or `reseller`.
    #[serde(rename = "type")]
    pub partner_type: String,
    pub status: String,
    /// `YYYY-MM-DD`.
    pub acquisition_date: String,
    pub region: String,
    /// `distributors/{d}/partners/{p}`.
    pub name: String,
    /// `organizations/{p}`.
    pub organization: String,
}

impl PartnerRow {
    pub fn new(partner: &Partner, display_name: String) -> Self {
        Self {
            display_name,
            partner_type: label_of::<PartnerType>(partner.r#type),
            status: label_of::<PartnerStatus>(partner.status),
            acquisition_date: partner.acquisition_date.clone(),
            region: partner.region.clone(),
            name: partner.name.clone(),
            organization: partner.organization.clone(),
        }
    }
}

impl Row for PartnerRow {
    const FIELDS: &'static [&'static str] = &[
        "display_name",
        "type",
        "status",
        "acquisition_date",
        "region",
        "name",
        "organization",
    ];
    const TABLE_HEADERS: &'static [&'static str] =
        &["PARTNER", "TYPE", "STATUS", "ACQUIRED", "REGION", "NAME"];

    fn table_cells(&self) -> Vec<String> {
        vec![
            self.display_name.clone(),
            self.partner_type.clone(),
            self.status.clone(),
            self.acquisition_date.clone(),
            self.region.clone(),
            self.name.clone(),
        ]
    }
}

/// One account an account search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    pub display_name: String,
    /// `partner` or `customer`.
    pub kind: String,
    /// The name starts with the query (rather than containing it).
    pub prefix_match: bool,
    /// The partner or customer account name.
    pub account: String,
    pub organization: String,
}

impl From<&AccountMatch> for AccountRow {
    fn from(found: &AccountMatch) -> Self {
        Self {
            display_name: found.display_name.clone(),
            kind: if found.partner { "partner" } else { "customer" }.into(),
            prefix_match: found.prefix,
            account: found.account.clone(),
            organization: found.organization.clone(),
        }
    }
}

impl Row for AccountRow {
    const FIELDS: &'static [&'static str] = &[
        "display_name",
        "kind",
        "prefix_match",
        "account",
        "organization",
    ];
    const TABLE_HEADERS: &'static [&'static str] = &["NAME", "KIND", "ACCOUNT"];

    fn table_cells(&self) -> Vec<String> {
        vec![
            self.display_name.clone(),
            self.kind.clone(),
            self.account.clone(),
        ]
    }
}

/// A partner whose chargeable units of a product fell beyond the
/// distributor's threshold from one month to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeableDropRow {
    pub product: String,
    pub partner_name: String,
    pub previous_month: String,
    pub month: String,
    pub previous_chargeable_units: i64,
    pub chargeable_units: i64,
    /// Whole percent, rounded down.
    pub drop_percent: i64,
    pub partner: String,
}

impl ChargeableDropRow {
    /// `product` is the one the drops were listed for: the drop itself
    /// does not repeat it.
    pub fn new(drop: &ChargeableDrop, product: &str, partner_name: String) -> Self {
        Self {
            product: product.into(),
            partner_name,
            previous_month: drop.previous_month.clone(),
            month: drop.month.clone(),
            previous_chargeable_units: drop.previous_chargeable_units,
            chargeable_units: drop.chargeable_units,
            drop_percent: drop.drop_percent,
            partner: drop.partner.clone(),
        }
    }
}

impl Row for ChargeableDropRow {
    const FIELDS: &'static [&'static str] = &[
        "product",
        "partner_name",
        "previous_month",
        "month",
        "previous_chargeable_units",
        "chargeable_units",
        "drop_percent",
        "partner",
    ];
    const TABLE_HEADERS: &'static [&'static str] = &[
        "PRODUCT", "PARTNER", "FROM", "TO", "BEFORE", "AFTER", "DROP %",
    ];

    fn table_cells(&self) -> Vec<String> {
        vec![
            self.product.clone(),
            self.partner_name.clone(),
            self.previous_month.clone(),
            self.month.clone(),
            self.previous_chargeable_units.to_string(),
            self.chargeable_units.to_string(),
            self.drop_percent.to_string(),
        ]
    }
}

/// `distributors/{d}/partners/{p}` of a name below a partner.
fn partner_of(name: &str) -> String {
    name.split('/').take(4).collect::<Vec<_>>().join("/")
}

fn yes(flag: bool) -> String {
    if flag { "yes" } else { "" }.into()
}

/// RFC 3339 in UTC with whole seconds, e.g. `2026-11-23T12:00:00Z`.
fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> Option<String> {
    let instant = estate_proto::time::from_timestamp(timestamp?)?;
    Some(instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests;
