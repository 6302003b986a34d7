//! The figures that run both in Rust (`rules::figures`) and inside SQL
//! (lists filter and the dashboard counts by them): each SQL copy is run
//! over the same table of cases as its rule, on a real PostgreSQL, so the
//! two cannot drift apart. The cases are generated (every combination
//! for usage figures; a seeded pseudo-random estate of licenses and usage
//! for license statuses) rather than picked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate, Utc};
use estate_proto::names::{CustomerId, DistributorId};
use estate_testkit::TestDatabase;
use tokio_postgres::Client;
use uuid::Uuid;

use super::dashboard::LICENSE_STATUSES;
use super::license_status::SELECT;
use super::reports::{CHARGEABLE_SQL, FLAGGED_SQL};
use crate::rules::figures::{
    EXCEEDED_WINDOW_DAYS, LicenseTerms, UsageFigures, charged_usage, exceeded, license_status,
    seats_in_force,
};
use crate::rules::reports::auto_submit_due;
use crate::rules::statuses::{LicenseKind, LicenseStatus, PartnerState, Stored, UsageStatus};

async fn migrated() -> (TestDatabase, Client) {
    let database = TestDatabase::create().await.expect("a test database");
    crate::migrate(&database.url)
        .await
        .expect("billing migrates");
    let client = database.connect().await.expect("a connection");
    client
        .batch_execute("SET search_path TO billing")
        .await
        .expect("search path");
    (database, client)
}

#[tokio::test]
async fn chargeable_and_flagged_agree_with_their_rules() {
    let database = TestDatabase::create().await.expect("a test database");
    let client = database.connect().await.expect("a connection");
    let statement = client
        .prepare(&format!(
            "SELECT {CHARGEABLE_SQL}, {FLAGGED_SQL}
             FROM (VALUES ($1::boolean, $2::bigint, $3::bigint, $4::bigint, $5::text))
                  AS r(flagged, provisioned, used_reported, used_declared, comment)"
        ))
        .await
        .expect("the fragments are valid SQL");
    let used = [None, Some(0), Some(3), Some(10), Some(12)];
    let mut cases = 0;
    for provisioned in [0_i64, 3, 10] {
        for used_reported in used {
            for used_declared in used {
                for flagged in [false, true] {
                    // Every character Rust counts as white space, and one
                    // it does not (a zero-width space).
                    for comment in [
                        "",
                        " \n\t\r",
                        "\u{b}\u{c}\u{85}\u{a0}\u{1680}\u{2003}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}",
                        "\u{200b}",
                        "seasonal peak",
                    ] {
                        let figures = UsageFigures {
                            provisioned,
                            used_reported,
                            used_declared,
                        };
                        let row = client
                            .query_one(
                                &statement,
                                &[
                                    &flagged,
                                    &provisioned,
                                    &used_reported,
                                    &used_declared,
                                    &comment,
                                ],
                            )
                            .await
                            .expect("evaluated");
                        let case = format!("{figures:?} flagged {flagged} comment {comment:?}");
                        assert_eq!(row.get::<_, i64>(0), figures.chargeable(flagged), "{case}");
                        assert_eq!(
                            row.get::<_, bool>(1),
                            figures.flagged_on_auto_submit(comment),
                            "{case}"
                        );
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 750);
}

/// A small deterministic generator (SplitMix64), so a failure replays.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

impl Cases {
    /// A license of random terms starting around `anchor` (or on a month
    /// end, where period arithmetic clamps).
    fn license(&mut self, anchor: NaiveDate) -> LicenseTerms {
        let start = anchor - Days::new(self.below(900)) + Days::new(self.below(400));
        LicenseTerms {
            trial: self.below(4) == 0,
            seats: 1 + self.below(10) as i64,
            start_date: self.pick(&[start, start, date("2026-01-31"), date("2025-02-28")]),
            period_months: self.pick(&[1, 3, 12, 13, 24]),
            auto_renewal: self.below(2) == 0,
            notification_days: self.pick(&[0, 7, 30, 90]),
        }
    }
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

/// Stores a license of `terms` for customer `[distributor, partner,
/// customer]` of product `backup`; its id.
async fn insert_license(client: &Client, owner: [Uuid; 3], terms: &LicenseTerms) -> Uuid {
    let id = Uuid::new_v4();
    let kind = if terms.trial {
        LicenseKind::Trial
    } else {
        LicenseKind::Full
    };
    let [distributor, partner, customer] = owner;
    client
        .execute(
            "INSERT INTO product_licenses (distributor_id, partner_id, customer_id, id, plan_id,
                 product, license_type, seats, start_date, period_months, auto_renewal,
                 notification_days, create_time)
             VALUES ($1, $2, $3, $4, $5, 'backup', $6, $7, $8, $9, $10, $11, now())",
            &[
                &distributor,
                &partner,
                &customer,
                &id,
                &Uuid::new_v4(),
                &kind,
                &terms.seats,
                &terms.start_date,
                &i32::try_from(terms.period_months).expect("months"),
                &terms.auto_renewal,
                &i32::try_from(terms.notification_days).expect("days"),
            ],
        )
        .await
        .expect("license stored");
    id
}

/// Stores `used` units of product `backup` used by `owner` on `day`.
async fn insert_usage(client: &Client, owner: [Uuid; 3], day: NaiveDate, used: i64) {
    let [distributor, partner, customer] = owner;
    client
        .execute(
            "INSERT INTO usage_days (distributor_id, partner_id, customer_id, product,
                 usage_date, used_units, client_key, report_time)
             VALUES ($1, $2, $3, 'backup', $4, $5, 'test', now())",
            &[&distributor, &partner, &customer, &day, &used],
        )
        .await
        .expect("usage stored");
}

/// Licenses are checked on their own terms: the accounts and plans they
/// belong to do not change a figure.
async fn licenses_on_their_own(client: &Client) {
    client
        .batch_execute(
            "ALTER TABLE product_licenses
                 DROP CONSTRAINT product_licenses_distributor_id_partner_id_customer_id_fkey,
                 DROP CONSTRAINT product_licenses_plan_id_fkey",
        )
        .await
        .expect("constraints dropped");
}

/// One customer's licenses and usage of one product, under a distributor
/// of its own (so the dashboard's counts are the customer's statuses).
struct Estate {
    distributor: Uuid,
    customer: Uuid,
    /// Its partner is canceled: its customer is served no more, so the
    /// dashboard counts it in no status (the list still shows them).
    canceled: bool,
    licenses: Vec<(Uuid, LicenseTerms)>,
    usage: BTreeMap<NaiveDate, i64>,
}

#[tokio::test]
async fn license_statuses_in_lists_and_on_the_dashboard_agree_with_the_rule() {
    let (_database, client) = migrated().await;
    licenses_on_their_own(&client).await;
    let anchor = date("2026-06-15");
    let days = [
        anchor,
        date("2026-02-28"),
        date("2026-03-31"),
        date("2027-01-01"),
    ];
    let mut cases = Cases(0x5eed_0022);
    let mut estates = Vec::new();
    for _ in 0..120 {
        let distributor = Uuid::new_v4();
        let partner = Uuid::new_v4();
        let customer = Uuid::new_v4();
        let mut estate = Estate {
            distributor,
            customer,
            canceled: cases.below(6) == 0,
            licenses: Vec::new(),
            usage: BTreeMap::new(),
        };
        let status = if estate.canceled {
            "canceled"
        } else {
            "active"
        };
        client
            .execute(
                "INSERT INTO partners (distributor_id, id, type, status, acquisition_date, region,
                     revision, create_time, update_time, status_time)
                 VALUES ($1, $2, 'msp', $3, '2025-01-01', 'eu', 1, now(), now(), now())",
                &[&distributor, &partner, &status],
            )
            .await
            .expect("partner stored");
        for _ in 0..=cases.below(3) {
            let terms = cases.license(anchor);
            let id = insert_license(&client, [distributor, partner, customer], &terms).await;
            estate.licenses.push((id, terms));
        }
        for _ in 0..cases.below(6) {
            let day = cases.pick(&days) - Days::new(cases.below(40)) + Days::new(cases.below(3));
            estate.usage.insert(day, cases.below(25) as i64);
        }
        for (day, used) in &estate.usage {
            insert_usage(&client, [distributor, partner, customer], *day, *used).await;
        }
        estates.push(estate);
    }
    let list = client
        .prepare(&format!(
            "SELECT id, end_date, status FROM ({SELECT} WHERE l.distributor_id = $2) s"
        ))
        .await
        .expect("the list's query");
    let dashboard = client
        .prepare(LICENSE_STATUSES)
        .await
        .expect("the dashboard's query");
    let mut seen = BTreeSet::new();
    for day in days {
        for estate in &estates {
            let terms: Vec<LicenseTerms> = estate.licenses.iter().map(|(_, t)| *t).collect();
            let window = day - Days::new(EXCEEDED_WINDOW_DAYS);
            let max_used = estate
                .usage
                .range(window..=day)
                .map(|(_, used)| *used)
                .max();
            let exceeded = exceeded(max_used, seats_in_force(&terms, day));
            let expected: BTreeMap<Uuid, (NaiveDate, LicenseStatus)> = estate
                .licenses
                .iter()
                .map(|(id, terms)| {
                    (
                        *id,
                        (terms.end_date(day), license_status(terms, day, exceeded)),
                    )
                })
                .collect();
            let case = format!(
                "on {day}: licenses {:?}, usage {:?}",
                estate.licenses, estate.usage
            );
            let listed: BTreeMap<Uuid, (NaiveDate, LicenseStatus)> = client
                .query(&list, &[&day, &estate.distributor])
                .await
                .expect("listed")
                .iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect();
            assert_eq!(listed, expected, "the list's statuses {case}");
            // What the customers service is told the customer bought and
            // used: the seats in force, the most used on a day of the
            // window.
            let seats = seats_in_force(&terms, day);
            let summary = super::product_licenses::usage_summary(
                &client,
                CustomerId::from_uuid(estate.customer),
                day,
            )
            .await
            .expect("summarized");
            let expected_summary = if seats > 0 || max_used.is_some() {
                vec![("backup".to_string(), seats, max_used.unwrap_or(0))]
            } else {
                Vec::new()
            };
            assert_eq!(summary, expected_summary, "the usage summary {case}");
            let counted: BTreeMap<LicenseStatus, i64> = client
                .query(&dashboard, &[&estate.distributor, &day])
                .await
                .expect("counted")
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            let statuses: BTreeSet<LicenseStatus> =
                expected.values().map(|(_, status)| *status).collect();
            let one_customer: BTreeMap<LicenseStatus, i64> = if estate.canceled {
                BTreeMap::new()
            } else {
                statuses.iter().map(|status| (*status, 1)).collect()
            };
            assert_eq!(
                counted, one_customer,
                "the dashboard's counts (partner canceled: {}) {case}",
                estate.canceled
            );
            seen.extend(statuses);
        }
    }
    // The estate reaches every status, so each rule was compared.
    assert_eq!(seen.len(), 5, "statuses reached: {seen:?}");
}

#[tokio::test]
async fn a_months_usage_report_sums_the_seats_in_force_and_the_charged_usage() {
    let (_database, client) = migrated().await;
    licenses_on_their_own(&client).await;
    let month = date("2026-02-01");
    let month_days: Vec<NaiveDate> = month
        .iter_days()
        .take_while(|day| *day < date("2026-03-01"))
        .collect();
    let mut cases = Cases(0x5eed_0023);
    let mut reported = 0;
    for _ in 0..60 {
        let distributor = Uuid::new_v4();
        let partner = Uuid::new_v4();
        client
            .execute(
                "INSERT INTO partners (distributor_id, id, type, status, acquisition_date, region,
                     revision, create_time, update_time, status_time)
                 VALUES ($1, $2, 'msp', 'active', '2025-01-01', 'eu', 1, now(), now(), now())",
                &[&distributor, &partner],
            )
            .await
            .expect("partner stored");
        // Each customer: its licenses and its usage by day.
        let mut customers: Vec<(Vec<LicenseTerms>, BTreeMap<NaiveDate, i64>)> = Vec::new();
        for _ in 0..=cases.below(2) {
            let owner = [distributor, partner, Uuid::new_v4()];
            let mut licenses = Vec::new();
            for _ in 0..cases.below(4) {
                let terms = cases.license(month);
                insert_license(&client, owner, &terms).await;
                licenses.push(terms);
            }
            let mut usage = BTreeMap::new();
            for _ in 0..cases.below(5) {
                let day = month - Days::new(2) + Days::new(cases.below(32));
                usage.insert(day, cases.below(20) as i64);
            }
            for (day, used) in &usage {
                insert_usage(&client, owner, *day, *used).await;
            }
            customers.push((licenses, usage));
        }
        // The rule: the most full seats in force on a day of the month,
        // and the most units charged on a day of the month (summed over
        // customers), if any were used.
        let seats = |licenses: &[LicenseTerms], day, trial| {
            let of_kind: Vec<LicenseTerms> = licenses
                .iter()
                .filter(|terms| terms.trial == trial)
                .copied()
                .collect();
            seats_in_force(&of_kind, day)
        };
        let provisioned = month_days
            .iter()
            .map(|day| {
                customers
                    .iter()
                    .map(|(licenses, _)| seats(licenses, *day, false))
                    .sum::<i64>()
            })
            .max()
            .unwrap_or(0);
        let used = month_days
            .iter()
            .filter(|day| customers.iter().any(|(_, usage)| usage.contains_key(day)))
            .map(|day| {
                customers
                    .iter()
                    .filter_map(|(licenses, usage)| {
                        let used = *usage.get(day)?;
                        Some(charged_usage(
                            used,
                            seats(licenses, *day, false),
                            seats(licenses, *day, true),
                        ))
                    })
                    .sum::<i64>()
            })
            .max();
        let reports = super::reports::prepare(
            &client,
            DistributorId::from_uuid(distributor),
            month,
            Utc::now(),
        )
        .await
        .expect("prepared");
        let case = format!("customers {customers:?}");
        if provisioned > 0 || used.is_some_and(|used| used > 0) {
            assert_eq!(reports.len(), 1, "{case}");
            assert_eq!(reports[0].provisioned, provisioned, "provisioned, {case}");
            assert_eq!(reports[0].used_reported, used, "used, {case}");
            reported += 1;
        } else {
            assert_eq!(reports, Vec::new(), "nothing to report, {case}");
        }
    }
    // Both sides of the rule were compared.
    assert!(
        (10..60).contains(&reported),
        "{reported} of 60 estates reported"
    );
}

#[tokio::test]
async fn auto_submit_takes_the_reports_the_rule_says_and_flags_them_as_it_says() {
    let (_database, client) = migrated().await;
    let today = date("2026-11-20");
    let mut cases = Cases(0x5eed_0024);
    // (distributor, partner, id) -> (due by the rule, flagged by the rule,
    // status before)
    let mut expected = BTreeMap::new();
    for _ in 0..40 {
        let distributor = Uuid::new_v4();
        // Some distributors keep the default of 7 days.
        let after_days: Option<i32> = cases.pick(&[None, Some(0), Some(3), Some(19), Some(90)]);
        if let Some(days) = after_days {
            client
                .execute(
                    "INSERT INTO billing_settings (distributor_id, auto_submit_after_days,
                         chargeable_drop_threshold_percent, usage_reports_screen,
                         billing_reports_screen, revision)
                     VALUES ($1, $2, 20, true, true, 1)",
                    &[&distributor, &days],
                )
                .await
                .expect("settings stored");
        }
        let after_days =
            after_days.unwrap_or(super::reports::Settings::default().auto_submit_after_days);
        for _ in 0..=cases.below(2) {
            let partner = Uuid::new_v4();
            let standing = cases.pick(PartnerState::ALL);
            client
                .execute(
                    "INSERT INTO partners (distributor_id, id, type, status, acquisition_date,
                         region, revision, create_time, update_time, status_time)
                     VALUES ($1, $2, 'msp', $3, '2025-01-01', 'eu', 1, now(), now(), now())",
                    &[&distributor, &partner, &standing],
                )
                .await
                .expect("partner stored");
            for month in [
                date("2026-08-01"),
                date("2026-09-01"),
                date("2026-10-01"),
                date("2026-11-01"),
            ] {
                if cases.below(3) == 0 {
                    continue;
                }
                let status = cases.pick(UsageStatus::ALL);
                let figures = UsageFigures {
                    provisioned: cases.below(12) as i64,
                    used_reported: cases.pick(&[None, Some(0), Some(5), Some(10)]),
                    used_declared: cases.pick(&[None, None, Some(8)]),
                };
                let comment = cases.pick(&["", " ", "\u{a0}", "why"]);
                let id = Uuid::new_v4();
                client
                    .execute(
                        "INSERT INTO usage_reports (distributor_id, partner_id, id, product, month,
                             status, provisioned, used_reported, used_declared, comment,
                             revision, create_time, update_time)
                         VALUES ($1, $2, $3, 'backup', $4, $5, $6, $7, $8, $9, 1, now(), now())",
                        &[
                            &distributor,
                            &partner,
                            &id,
                            &month,
                            &status,
                            &figures.provisioned,
                            &figures.used_reported,
                            &figures.used_declared,
                            &comment,
                        ],
                    )
                    .await
                    .expect("report stored");
                let due = auto_submit_due(
                    status,
                    standing,
                    month,
                    u64::try_from(after_days).expect("days"),
                    today,
                );
                expected.insert(
                    (distributor, partner, id),
                    (due, due && figures.flagged_on_auto_submit(comment), status),
                );
            }
        }
    }
    let submitted = super::reports::auto_submit(&client, today, Utc::now())
        .await
        .expect("auto-submitted");
    let due = expected.values().filter(|(due, _, _)| *due).count();
    assert_eq!(submitted, due as u64);
    assert!(due >= 10, "only {due} due: the cases compare too little");
    for row in client
        .query(
            "SELECT distributor_id, partner_id, id, status, flagged, auto_submitted
             FROM usage_reports",
            &[],
        )
        .await
        .expect("read back")
    {
        let key = (row.get(0), row.get(1), row.get(2));
        let (due, flagged, before) = expected[&key];
        let status: UsageStatus = row.get(3);
        let case = format!("{key:?} due {due}");
        assert_eq!(
            status,
            if due {
                UsageStatus::UnderReview
            } else {
                before
            },
            "{case}"
        );
        assert_eq!(row.get::<_, bool>(4), flagged, "flagged, {case}");
        assert_eq!(row.get::<_, bool>(5), due, "auto_submitted, {case}");
    }
}
