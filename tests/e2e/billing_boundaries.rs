//! Calendar edges through the API: a usage report's month ends on its last
//! day (31 December, 29 February of a leap year) and the next one starts
//! on the 1st; the dashboard's 30-day window reaches back across 29
//! February, and its year-over-year comparison splits on 1 January.

use chrono::{TimeZone, Utc};
use estate_e2e::with_key;
use estate_proto::billing::{Granularity, LicenseType, PartnerType, PrepareUsageReportsRequest};
use tonic::Code;

use crate::assert_code;
use crate::billing::{Distribution, count};
use crate::billing_reports::{prepare, reports};

#[tokio::test]
async fn a_months_usage_ends_on_its_last_day_across_year_ends_and_leap_days() {
    let world = Distribution::build().await;
    let partner = world
        .partner("Contoso IT", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&partner, "Adatum").await;
    let plan = world.plan("Renewing", LicenseType::Full, true).await;
    world
        .sell(&customer, &plan, 10, "2026-11-01")
        .await
        .unwrap();

    // Spring 2028: every day below is in the past.
    world
        .platform
        .clock
        .set(Utc.with_ymd_and_hms(2028, 3, 10, 9, 0, 0).unwrap());
    for (day, used) in [
        ("2026-12-30", 5),
        ("2026-12-31", 7),
        ("2027-01-01", 6),
        ("2028-01-31", 3),
        ("2028-02-28", 4),
        ("2028-02-29", 6),
        ("2028-03-01", 8),
    ] {
        world
            .report(&customer, day, used, &format!("usage-{day}"))
            .await
            .unwrap();
    }

    // (month, used): 31 December belongs to December, 1 January to
    // January; 29 February to February, 1 March to March. A month that
    // started a day early would take December's 7 into January, one that
    // ended a day late March's 8 into February.
    for (month, used) in [
        ("2026-12", 7),
        ("2027-01", 6),
        ("2028-01", 3),
        ("2028-02", 6),
        ("2028-03", 8),
    ] {
        let prepared = prepare(&world, month).await;
        assert_eq!(prepared.len(), 1, "{month}: {prepared:?}");
        let report = &prepared[0];
        assert_eq!(report.month, month);
        assert_eq!(
            (report.provisioned_units, report.used_units),
            (10, Some(used)),
            "{month}"
        );
    }

    // Months that do not exist are refused, naming the field.
    for month in ["2027-13", "2027-00", "2027-2", "February"] {
        let status = assert_code(
            reports(&world)
                .prepare_usage_reports(with_key(
                    PrepareUsageReportsRequest {
                        parent: world.parent(),
                        month: month.into(),
                    },
                    &world.distributor_key,
                ))
                .await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains("month"), "{month}: {status:?}");
    }
}

#[tokio::test]
async fn the_dashboard_windows_reach_across_leap_days_and_year_ends() {
    let world = Distribution::build().await;
    // 2028-03-10: the last 30 days start on 2028-02-09 (February has 29
    // days), so a partner acquired that day is counted and one acquired
    // on 2028-02-08 is not.
    world
        .platform
        .clock
        .set(Utc.with_ymd_and_hms(2028, 3, 10, 9, 0, 0).unwrap());
    for (name, acquired) in [
        ("Window start", "2028-02-09"),
        ("Day before", "2028-02-08"),
        ("Leap day", "2028-02-29"),
        ("New year", "2028-01-01"),
        ("Old year", "2027-12-31"),
        ("Last leap day", "2024-02-29"),
    ] {
        world.partner(name, PartnerType::Msp, acquired).await;
    }
    let board = world
        .dashboard(Granularity::Monthly, &world.distributor_key)
        .await
        .unwrap();
    assert_eq!(board.as_of, "2028-03-10");
    assert_eq!(count(&board.partners_acquired_last_30_days), 2);
    assert_eq!(board.acquisition_year, 2028);
    // (month, 2028, 2027): 1 January 2028 is this year, 31 December 2027
    // the previous one; February 2028 has three (8th, 9th, 29th).
    let months: Vec<(i32, i64, i64)> = board
        .new_partner_acquisition
        .iter()
        .map(|period| {
            (
                period.period,
                count(&period.this_year),
                count(&period.previous_year),
            )
        })
        .filter(|(_, this, previous)| this + previous > 0)
        .collect();
    assert_eq!(months, [(1, 1, 0), (2, 3, 0), (12, 0, 1)]);
}
