//! The distributor dashboard at 2,000 partners, 50,000 customers and 24
//! months of usage (issue 6): `GetDistributorDashboard` through the gateway
//! against the bare SQL that computes the same figures, in the same run,
//! with `ListChargeableDrops`, `ListInactiveNewPartners` and
//! `SearchAccounts` (a name prefix) against theirs.
//!
//! One platform, hence one private database. Two distributors are created
//! through the gateway (the measured one gets an API key with the `admin`
//! role); everything below them is generated straight into the schemas in
//! SQL (not timed), deterministically (every draw is a hash of its row
//! number and `SEED`), with foreign keys and checks enforced as the rows go
//! in:
//! - customers schema: the partner organizations below each distributor and
//!   the customer organizations below the partners (names from a word list,
//!   1 in 20 starting with "Woodgrove"), each customer with its managed
//!   grant to its partner;
//! - billing schema, per distributor (the second one a tenth the size, so
//!   every figure has to filter by distributor): the partner accounts (60%
//!   MSP, 85% active, 10% suspended, 5% canceled, acquired evenly over the
//!   last 3 years, so about 55 in the last 30 days; a third of those
//!   acquired in the last 120 days get no customers: the inactive new
//!   partners), the customer accounts (skewed towards the oldest partners,
//!   8% disabled), 8 service plans over 4 products (trial and full, renewing
//!   or not, one disabled), 1-3 licenses per customer sold since its
//!   partner's acquisition (trials in the last 60 days) with the full
//!   licenses' sales, daily usage of the last 45 days per customer and
//!   product in force (5% above their seats lately), 24 months of usage
//!   reports per partner and product it sold (the last month mostly
//!   preparing or under review, 12% of them dropping 25-60%, 2% missing),
//!   the billing reports of the approved ones in every status, and the
//!   billing settings (auto-submission after 30 days, so nothing is due on
//!   the pinned 2026-11-23 and the worker changes nothing while measuring).
//!
//! Daily usage is kept to 45 days: the dashboard reads the last 31 only,
//! and 24 months of it would be 40M rows. The tables are vacuumed and
//! analyzed before measuring.
//!
//! Each series runs untimed warm-ups, then iterations that alternate which
//! side goes first, every series interleaved with the others; the table
//! reports the median and the minimum of each side:
//! - bare SQL: the service's own statements (its constants and SQL-building
//!   functions from `estate_billing::sql`, copies of those it writes inline
//!   in `services/billing/src/db/{dashboard,reports}.rs` and, for the
//!   search, of `services/customers/src/db/organizations.rs`), prepared once
//!   beforehand on direct connections (each still planned with its
//!   parameters, as the service's are) and run as the service runs them,
//!   from the first statement sent to the last row received: for the
//!   dashboard, the license statuses on one connection while the other
//!   figures follow one another on a second; for the other calls, one
//!   after another on one connection;
//! - RPC: the call through the gateway with the distributor's API key
//!   (production credential cache, 3 s), as the service answers it:
//!   authorization by the customers service, the statements over its pool,
//!   the conversion to protobuf.
//!
//! Each side's figures are compared on every iteration, and the license
//! statuses are checked once against the per-license rule of the list API
//! (`product_licenses::SELECT`), timed for reference.
//!
//! Target (issue 6; printed, not asserted): the whole dashboard within 3x
//! the bare SQL.
//!
//! Run: `cargo bench -p estate-e2e --bench billing_dashboard`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests).
//! `ESTATE_BENCH_SCALE=0.1` generates a tenth of the partners and customers
//! for a quick run; `ESTATE_BENCH_EXPLAIN=1` prints the plans of the
//! dashboard's statements.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{Datelike, Months, NaiveDate};
use estate_billing::sql as service_sql;
use estate_e2e::{Options, Platform, pinned_now, with_key};
use estate_proto::billing::dashboard_service_client::DashboardServiceClient;
use estate_proto::billing::{
    DistributorDashboard, Figure, GetDistributorDashboardRequest, Granularity,
    ListChargeableDropsRequest, ListInactiveNewPartnersRequest, SearchAccountsRequest,
};
use estate_proto::common::OrganizationKind;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tonic::transport::Channel;
use uuid::Uuid;

/// Partners and customers of the measured distributor at scale 1.
const PARTNERS: f64 = 2_000.0;
const CUSTOMERS: f64 = 50_000.0;
/// The second distributor's size, as a share of the first's.
const OTHER_SHARE: f64 = 0.1;
/// Mixed into every pseudo-random draw of the generator.
const SEED: i64 = 0x5eed_0006;
const WARM_UP: usize = 3;
const ITERATIONS: usize = 15;
const TARGET_RATIO: f64 = 3.0;
/// A name prefix of 1 in 20 partners and customers.
const SEARCH_QUERY: &str = "woodgrove";
const SEARCH_PAGE_SIZE: i32 = 20;
/// Days of daily usage generated before the pinned day, the day included.
const USAGE_DAYS: i32 = 45;

/// Generator helpers, in the session's temporary schema. `bid(kind, i)`: a
/// deterministic id ordered by (kind, i); `rnd(stream, i)`: a number in
/// [0, 1), a hash of the row `i`, the stream and the seed.
const HELPERS: &str = r#"
CREATE FUNCTION pg_temp.bid(kind integer, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT (lpad(to_hex(kind), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.rnd(stream integer, i bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashint8(i * 256 + stream + SEED) & 2147483647)::double precision
           / 2147483648::double precision
$$;
"#;

/// The first words of organization names: the 19th is the search prefix.
const NAME_WORDS: &str = "ARRAY['Northwind', 'Contoso', 'Fabrikam', 'Tailspin', 'Adventure', \
     'Litware', 'Proseware', 'Wingtip', 'Alpine', 'Blue Yonder', 'Coho', 'Fourth Coffee', \
     'Humongous', 'Lucerne', 'Margie', 'Relecloud', 'Southridge', 'Trey', 'Woodgrove', 'Graphic']";

/// What is generated below one distributor.
struct Tenant {
    id: Uuid,
    /// Added to every generated row number, so the tenants' ids differ.
    offset: i64,
    partners: i64,
    customers: i64,
    chargeable_drop_threshold_percent: i32,
    billing_reports_screen: bool,
}

/// The statements that generate `tenant`, labelled, in order (the helpers
/// must exist, the search path be `billing`).
fn generation(tenant: &Tenant) -> Vec<(&'static str, String)> {
    let d = format!("'{}'::uuid", tenant.id);
    let off = tenant.offset;
    let partners = tenant.partners;
    let customers = tenant.customers;
    let today_date = pinned_now().date_naive();
    let today = format!("date '{today_date}'");
    let now = format!("'{}'::timestamptz", pinned_now().to_rfc3339());
    let last_month = today_date.with_day(1).expect("day 1 exists") - Months::new(1);
    let first_month = last_month - Months::new(23);
    let first_month = format!("date '{first_month}'");
    let words = NAME_WORDS;
    vec![
        (
            "partners",
            format!(
                "CREATE TEMP TABLE bench_partners AS
                 SELECT i, pg_temp.bid(1, {off} + i) AS id,
                     CASE WHEN pg_temp.rnd(1, i) < 0.6 THEN 'msp' ELSE 'reseller' END AS type,
                     CASE WHEN pg_temp.rnd(2, i) < 0.85 THEN 'active'
                          WHEN pg_temp.rnd(2, i) < 0.95 THEN 'suspended'
                          ELSE 'canceled' END AS status,
                     acquired,
                     acquired >= {today} - 120 AND pg_temp.rnd(27, i) < 0.33 AS dormant
                 FROM (SELECT i, {today} - floor(1095 * (1 - (i + pg_temp.rnd(3, i))
                                                          / {partners}))::integer AS acquired
                       FROM generate_series(0::bigint, {partners} - 1) i) s;
                 INSERT INTO customers.organizations (id, kind, display_name, parent_id,
                     create_time, update_time, partner_type)
                 SELECT id, 'partner',
                     ({words})[1 + i % 20] || ' '
                     || (ARRAY['Systems', 'Networks', 'IT', 'Solutions', 'Consulting',
                               'Services', 'Technologies', 'Group'])[1 + i / 20 % 8]
                     || ' ' || i,
                     {d}, {now}, {now}, type
                 FROM bench_partners;
                 INSERT INTO partners (distributor_id, id, type, status, acquisition_date,
                     region, revision, create_time, update_time, status_time)
                 SELECT {d}, id, type, status, acquired,
                     (ARRAY['EMEA', 'North America', 'APAC', 'LATAM'])[1 + i % 4], 1,
                     acquired::timestamptz, {now}, acquired::timestamptz
                 FROM bench_partners"
            ),
        ),
        (
            "customers",
            format!(
                "CREATE TEMP TABLE bench_customers AS
                 SELECT j, pg_temp.bid(2, {off} + j) AS id, p.i AS partner,
                     p.id AS partner_id, pg_temp.rnd(5, j) >= 0.08 AS enabled
                 FROM (SELECT j, floor({partners} * power(pg_temp.rnd(4, j), 2))::bigint AS drawn
                       FROM generate_series(0::bigint, {customers} - 1) j) c
                 JOIN bench_partners drawn ON drawn.i = c.drawn
                 JOIN bench_partners p
                   ON p.i = CASE WHEN drawn.dormant THEN c.drawn / 2 ELSE c.drawn END;
                 INSERT INTO customers.organizations (id, kind, display_name, parent_id,
                     create_time, update_time, relationship_owner)
                 SELECT id, 'customer',
                     ({words})[1 + j * 7 % 20] || ' '
                     || (ARRAY['Clinic', 'Bakery', 'Logistics', 'Legal', 'Dental', 'Hotel',
                               'Foods', 'Motors', 'Labs', 'Studio'])[1 + j / 20 % 10]
                     || ' ' || j,
                     partner_id, {now}, {now}, 'partner'
                 FROM bench_customers;
                 INSERT INTO customers.access_grants (customer_id, partner_id, mode, managed,
                     create_time, update_time)
                 SELECT id, partner_id, 'continuous', true, {now}, {now} FROM bench_customers;
                 INSERT INTO customer_accounts (distributor_id, partner_id, id, enabled,
                     revision, create_time, update_time)
                 SELECT {d}, partner_id, id, enabled, 1, {now}, {now} FROM bench_customers"
            ),
        ),
        (
            "plans",
            format!(
                "CREATE TEMP TABLE bench_plans AS
                 SELECT k, pg_temp.bid(3, {off} + k) AS id, name, product, license_type,
                     months, renews, notice, enabled
                 FROM (VALUES
                     (0, 'Backup Pro', 'Backup', 'full', 12, true, 30, true),
                     (1, 'Backup Trial', 'Backup', 'trial', 1, false, 7, true),
                     (2, 'Endpoint Annual', 'Endpoint', 'full', 12, false, 60, true),
                     (3, 'Endpoint Trial', 'Endpoint', 'trial', 1, false, 7, true),
                     (4, 'Mail Security 3 Years', 'Mail Security', 'full', 36, false, 90, true),
                     (5, 'Monitoring Monthly', 'Monitoring', 'full', 1, true, 0, true),
                     (6, 'Monitoring Trial', 'Monitoring', 'trial', 1, false, 7, true),
                     (7, 'Legacy Backup', 'Backup', 'full', 12, false, 30, false)
                 ) v (k, name, product, license_type, months, renews, notice, enabled);
                 INSERT INTO service_plans (id, distributor_id, display_name, product,
                     license_type, unit_type, initial_period_months, auto_renewal,
                     expiration_notification_days, enabled, create_time, update_time,
                     end_of_sale_time, revision)
                 SELECT id, {d}, name, product, license_type, 'seat', months, renews, notice,
                     enabled, {now} - interval '4 years', {now},
                     CASE WHEN NOT enabled THEN {now} - interval '1 year' END, 1
                 FROM bench_plans"
            ),
        ),
        (
            "licenses",
            format!(
                "CREATE TEMP TABLE bench_licenses AS
                 SELECT c.j * 4 + s AS m, c.id AS customer_id, c.partner_id, pl.*,
                     CASE WHEN pl.license_type = 'trial'
                          THEN greatest(a.acquired, {today} - 60) ELSE a.acquired END
                     + floor(pg_temp.rnd(7, c.j * 4 + s)
                             * ({today} - CASE WHEN pl.license_type = 'trial'
                                               THEN greatest(a.acquired, {today} - 60)
                                               ELSE a.acquired END + 1))::integer AS start_date,
                     (5 + floor(200 * power(pg_temp.rnd(8, c.j * 4 + s), 2)))::bigint AS seats
                 FROM bench_customers c
                 JOIN bench_partners a ON a.i = c.partner
                 CROSS JOIN generate_series(0, 2) s
                 JOIN bench_plans pl
                   ON pl.k = (ARRAY[0, 0, 0, 0, 2, 2, 2, 4, 4, 5, 5, 5, 1, 3, 6, 7])
                             [1 + floor(16 * pg_temp.rnd(9, c.j * 4 + s))::integer]
                 WHERE s = 0 OR (s = 1 AND pg_temp.rnd(6, c.j) < 0.4)
                    OR (s = 2 AND pg_temp.rnd(6, c.j) < 0.1);
                 INSERT INTO product_licenses (distributor_id, partner_id, customer_id, id,
                     plan_id, product, license_type, seats, start_date, period_months,
                     auto_renewal, notification_days, create_time)
                 SELECT {d}, partner_id, customer_id, pg_temp.bid(4, {off} + m), id, product,
                     license_type, seats, start_date, months, renews, notice,
                     start_date::timestamptz
                 FROM bench_licenses;
                 INSERT INTO full_license_sales (distributor_id, partner_id, customer_id,
                     license_id, seats, sale_date)
                 SELECT {d}, partner_id, customer_id, pg_temp.bid(4, {off} + m), seats,
                     start_date
                 FROM bench_licenses WHERE license_type = 'full'"
            ),
        ),
        (
            "daily usage",
            format!(
                "CREATE TEMP TABLE bench_pairs AS
                 SELECT customer_id, partner_id, product, min(m) AS m, sum(seats) AS seats,
                     min(start_date) AS first_day,
                     max(CASE WHEN renews THEN {today} + 1
                              ELSE (start_date + make_interval(months => months))::date
                         END) AS last_day
                 FROM bench_licenses GROUP BY 1, 2, 3;
                 INSERT INTO usage_days (distributor_id, partner_id, customer_id, product,
                     usage_date, used_units, client_key, report_time)
                 SELECT {d}, partner_id, customer_id, product, day,
                     floor(seats * CASE WHEN pg_temp.rnd(10, m) < 0.05 AND day >= {today} - 20
                                        THEN 1.1 + 0.3 * pg_temp.rnd(11, m)
                                        ELSE 0.4 + 0.55 * pg_temp.rnd(12, m * 64 + ({today} - day))
                                   END)::bigint,
                     'agent-' || m || '-' || day, day + interval '23 hours'
                 FROM bench_pairs,
                     generate_series(greatest(first_day, {today} - {USAGE_DAYS} + 1),
                                     least(last_day - 1, {today}), interval '1 day') d (at),
                     LATERAL (SELECT at::date AS day) x"
            ),
        ),
        (
            "usage reports",
            format!(
                "CREATE TEMP TABLE bench_usage AS
                 SELECT row_number() OVER (ORDER BY partner_id, product, age) AS n, *
                 FROM (SELECT pp.partner_id, pp.product, pp.base, pp.r, age,
                           ({first_month} + make_interval(months => age))::date AS month
                       FROM (SELECT l.partner_id, l.product, sum(l.seats) AS base,
                                 min(b.acquired) AS acquired, min(l.m) AS r
                             FROM bench_licenses l JOIN bench_partners b ON b.id = l.partner_id
                             GROUP BY 1, 2) pp,
                           generate_series(0, 23) age
                       WHERE {first_month} + make_interval(months => age)
                             >= date_trunc('month', pp.acquired)
                         AND NOT (age = 23 AND pg_temp.rnd(13, pp.r) < 0.02)) s;
                 CREATE TEMP TABLE bench_usage_rows AS
                 SELECT n, partner_id, product, month, age, provisioned,
                     CASE WHEN pg_temp.rnd(15, n) < 0.03 THEN NULL
                          ELSE floor(provisioned * CASE
                              WHEN age = 23 AND pg_temp.rnd(16, r) < 0.12
                                  THEN 0.4 + 0.35 * pg_temp.rnd(17, r)
                              ELSE 0.85 + 0.1 * pg_temp.rnd(18, n) END)::bigint
                     END AS used,
                     CASE WHEN age = 23 THEN
                              CASE WHEN pg_temp.rnd(19, n) < 0.55 THEN 'preparing'
                                   WHEN pg_temp.rnd(19, n) < 0.90 THEN 'under_review'
                                   WHEN pg_temp.rnd(19, n) < 0.97 THEN 'approved'
                                   ELSE 'rejected' END
                          WHEN age = 22 THEN
                              CASE WHEN pg_temp.rnd(19, n) < 0.2 THEN 'under_review'
                                   WHEN pg_temp.rnd(19, n) < 0.9 THEN 'approved'
                                   ELSE 'rejected' END
                          ELSE CASE WHEN pg_temp.rnd(19, n) < 0.95 THEN 'approved'
                                    WHEN pg_temp.rnd(19, n) < 0.97 THEN 'rejected'
                                    ELSE 'under_review' END
                     END AS status,
                     pg_temp.rnd(20, n) < 0.05 AS declared,
                     pg_temp.rnd(21, n) < 0.03 AS flagged
                 FROM (SELECT *, (1 + floor(base * (0.6 + 0.4 * age / 23.0)
                                            * (0.9 + 0.2 * pg_temp.rnd(14, n))))::bigint
                                     AS provisioned
                       FROM bench_usage) u;
                 INSERT INTO usage_reports (distributor_id, partner_id, id, product, month,
                     status, provisioned, used_reported, used_declared, comment,
                     auto_submitted, flagged, revision, create_time, update_time, submit_time)
                 SELECT {d}, partner_id, pg_temp.bid(5, {off} + n), product, month, status,
                     provisioned, used,
                     CASE WHEN declared THEN coalesce(used, provisioned) END,
                     CASE WHEN declared THEN 'Corrected after the customer''s audit'
                          ELSE '' END,
                     status <> 'preparing' AND pg_temp.rnd(22, n) < 0.3,
                     flagged AND status <> 'preparing',
                     CASE WHEN status = 'preparing' THEN 1 ELSE 3 END,
                     (month + interval '1 month')::timestamptz,
                     (month + interval '1 month 5 days')::timestamptz,
                     CASE WHEN status <> 'preparing'
                          THEN (month + interval '1 month 3 days')::timestamptz END
                 FROM bench_usage_rows"
            ),
        ),
        (
            "billing reports",
            format!(
                "INSERT INTO billing_reports (distributor_id, id, partner_id, usage_report_id,
                     product, month, status, units, po_number, currency_code,
                     unit_price_minor, margin_basis_points, revision, create_time,
                     update_time)
                 SELECT {d}, pg_temp.bid(6, {off} + n), partner_id, pg_temp.bid(5, {off} + n),
                     product, month,
                     CASE WHEN age < 21 THEN
                              CASE WHEN pg_temp.rnd(23, n) < 0.90 THEN 'completed'
                                   WHEN pg_temp.rnd(23, n) < 0.95 THEN 'submitted'
                                   WHEN pg_temp.rnd(23, n) < 0.97 THEN 'rejected'
                                   ELSE 'returned' END
                          ELSE (ARRAY['preparing', 'under_review_manual',
                                      'under_review_automatic',
                                      'under_review_automatic_with_penalties', 'returned',
                                      'rejected', 'submitted', 'completed'])
                               [1 + floor(8 * pg_temp.rnd(23, n))::integer]
                     END,
                     CASE WHEN flagged THEN provisioned ELSE coalesce(used, provisioned) END,
                     CASE WHEN pg_temp.rnd(24, n) < 0.5 THEN 'PO-' || n ELSE '' END,
                     'EUR', 250 + floor(1750 * pg_temp.rnd(25, n))::bigint,
                     floor(3000 * pg_temp.rnd(26, n))::integer, 2,
                     (month + interval '1 month 6 days')::timestamptz,
                     (month + interval '1 month 9 days')::timestamptz
                 FROM bench_usage_rows WHERE status = 'approved'"
            ),
        ),
        (
            "settings",
            format!(
                "INSERT INTO billing_settings (distributor_id, auto_submit_after_days,
                     chargeable_drop_threshold_percent, usage_reports_screen,
                     billing_reports_screen, revision)
                 VALUES ({d}, 30, {}, true, {}, 1);
                 DROP TABLE bench_partners, bench_customers, bench_plans, bench_licenses,
                     bench_pairs, bench_usage, bench_usage_rows",
                tenant.chargeable_drop_threshold_percent, tenant.billing_reports_screen
            ),
        ),
    ]
}

/// The tables generated into, vacuumed and analyzed after generating.
const GENERATED_TABLES: &str = "customers.organizations, customers.access_grants, \
     billing.partners, billing.customer_accounts, billing.service_plans, \
     billing.product_licenses, billing.full_license_sales, billing.usage_days, \
     billing.usage_reports, billing.billing_reports, billing.billing_settings";

/// Generates every tenant (not timed), vacuums and analyzes, and prints
/// what the measured one has.
async fn generate(platform: &Platform, tenants: &[Tenant]) -> anyhow::Result<()> {
    let started = Instant::now();
    let database = platform.database.connect().await?;
    database
        .batch_execute("SET search_path = billing; SET work_mem = '256MB'")
        .await?;
    database
        .batch_execute(&HELPERS.replace("SEED", &SEED.to_string()))
        .await?;
    let mut steps: BTreeMap<&str, Duration> = BTreeMap::new();
    for tenant in tenants {
        for (label, statement) in generation(tenant) {
            let step = Instant::now();
            database
                .batch_execute(&statement)
                .await
                .map_err(|error| anyhow::anyhow!("generating {label}: {error:?}"))?;
            *steps.entry(label).or_default() += step.elapsed();
        }
    }
    let step = Instant::now();
    database
        .batch_execute(&format!("VACUUM (ANALYZE) {GENERATED_TABLES}"))
        .await?;
    steps.insert("vacuum", step.elapsed());

    let measured = &tenants[0];
    let row = database
        .query_one(
            "SELECT (SELECT count(*) FROM partners WHERE distributor_id = $1),
                    (SELECT count(*) FROM customer_accounts WHERE distributor_id = $1),
                    (SELECT count(*) FROM product_licenses WHERE distributor_id = $1),
                    (SELECT count(*) FROM usage_days WHERE distributor_id = $1),
                    (SELECT count(*) FROM usage_reports WHERE distributor_id = $1),
                    (SELECT count(*) FROM billing_reports WHERE distributor_id = $1),
                    (SELECT count(*) FROM customers.organizations)",
            &[&measured.id],
        )
        .await?;
    let count = |index: usize| row.get::<_, i64>(index);
    anyhow::ensure!(
        count(0) == measured.partners && count(1) == measured.customers,
        "unexpected tenant: {} partners, {} customers",
        count(0),
        count(1)
    );
    let steps: Vec<String> = steps
        .iter()
        .map(|(label, time)| format!("{label} {:.1} s", time.as_secs_f64()))
        .collect();
    println!(
        "generated in {:.0} s ({}); the measured distributor: {} partners, {} customers, {} \
         licenses, {} daily usage rows, {} usage reports, {} billing reports ({} organizations \
         in all)",
        started.elapsed().as_secs_f64(),
        steps.join(", "),
        count(0),
        count(1),
        count(2),
        count(3),
        count(4),
        count(5),
        count(6),
    );
    Ok(())
}

// The service's statements. `$1` is the distributor throughout. Where the
// billing service holds a statement (or a part of one) as a constant or
// builds it in a pure function, it is taken from `estate_billing::sql`;
// the rest are written inline in the service's functions (or, for the
// search, are the customers service's) and copied here.

/// Copied: `reports::read_settings` (without a lock).
const SETTINGS_SQL: &str = "SELECT auto_submit_after_days, chargeable_drop_threshold_percent,
        usage_reports_screen, billing_reports_screen, revision
     FROM billing_settings WHERE distributor_id = $1";

/// Copied: `dashboard::counts`, around the service's `inactive_new`.
fn counts_sql() -> String {
    format!(
        "SELECT
           (SELECT count(*) FROM customer_accounts c WHERE c.distributor_id = $1 AND c.enabled),
           (SELECT count(*) FROM partners p WHERE p.distributor_id = $1 AND p.status = 'active'),
           (SELECT count(*) FROM service_plans s WHERE s.distributor_id = $1 AND s.enabled),
           (SELECT count(*) FROM partners p
            WHERE p.distributor_id = $1 AND p.acquisition_date >= $2),
           (SELECT count(*) FROM partners p WHERE {})",
        service_sql::inactive_new("$3")
    )
}

/// The list API's per-license rule (`product_licenses::SELECT`, `$1` the
/// day), counted as the dashboard counts: the reference the figure is
/// checked against once.
fn license_rule_sql() -> String {
    // As the dashboard and the list behind it count: a canceled partner's
    // customers are in no license status.
    format!(
        "SELECT s.status, count(DISTINCT s.customer_id)
         FROM ({} WHERE l.distributor_id = $2
               AND l.partner_id NOT IN (
                   SELECT p.id FROM partners p
                   WHERE p.distributor_id = $2 AND p.status = 'canceled')) s
         GROUP BY 1",
        service_sql::PRODUCT_LICENSES_SELECT
    )
}

/// Copied: `dashboard::acquisitions`. `$2` the year, `$3` whether by
/// quarter.
const ACQUISITIONS_SQL: &str = "SELECT extract(year FROM acquisition_date)::integer,
        (CASE WHEN $3 THEN extract(quarter FROM acquisition_date)
              ELSE extract(month FROM acquisition_date) END)::integer,
        count(*)
     FROM partners
     WHERE distributor_id = $1
       AND acquisition_date >= make_date($2 - 1, 1, 1)
       AND acquisition_date < make_date($2 + 1, 1, 1)
     GROUP BY 1, 2";

/// The service's `DROPS` with its chargeable units: `$2` the month before
/// last, `$3` last month, `$4` the threshold.
fn drops_with() -> String {
    service_sql::DROPS.replace("CHARGEABLE", service_sql::CHARGEABLE_SQL)
}

/// Copied: the query of `dashboard::drop_counts` around [`drops_with`].
fn drop_counts_sql() -> String {
    format!(
        "{} SELECT product, count(*) FILTER (WHERE beyond) FROM drops GROUP BY 1 ORDER BY 1",
        drops_with()
    )
}

/// Copied: the query of `dashboard::drops` around [`drops_with`]; `$5`
/// the product.
fn drops_sql() -> String {
    format!(
        "{} SELECT partner_id, product, previous, current, percent FROM drops
         WHERE beyond AND product = $5 ORDER BY percent DESC, partner_id",
        drops_with()
    )
}

/// Copied: `dashboard::reports_by_status`.
fn by_status_sql(table: &str) -> String {
    format!("SELECT status, count(*) FROM {table} WHERE distributor_id = $1 GROUP BY 1")
}

/// Copied: `dashboard::inactive_new_partners`, around the service's
/// columns and `inactive_new`; `$2` the first acquisition day that counts
/// as new.
fn inactive_new_partners_sql() -> String {
    format!(
        "SELECT {} FROM partners p WHERE {}
         ORDER BY p.acquisition_date DESC, p.id",
        service_sql::PARTNER_COLUMNS,
        service_sql::inactive_new("$2")
    )
}

// Copied from the customers service (`services/customers/src/db/organizations.rs`).

const ORGANIZATION_COLUMNS: &str = "id, kind, display_name, description, external_id, \
     parent_id, create_time, update_time, partner_type, relationship_owner, data_region, revision";

/// The customers service's search: `$1` the parent, `$2` the query, `$3`
/// the limit.
fn search_sql() -> String {
    format!(
        "SELECT {ORGANIZATION_COLUMNS} FROM (
             SELECT * FROM customers.organizations
             WHERE coalesce(parent_id, '00000000-0000-0000-0000-000000000000')
                   = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
             UNION ALL
             SELECT o.* FROM customers.organizations c
             JOIN customers.organizations o
               ON coalesce(o.parent_id, '00000000-0000-0000-0000-000000000000') = c.id
             WHERE coalesce(c.parent_id, '00000000-0000-0000-0000-000000000000') = $1::uuid
         ) found
         WHERE strpos(lower(display_name), lower($2)) > 0
         ORDER BY strpos(lower(display_name), lower($2)) <> 1, lower(display_name), id
         LIMIT $3"
    )
}

fn get_many_sql() -> String {
    format!("SELECT {ORGANIZATION_COLUMNS} FROM customers.organizations WHERE id = ANY($1)")
}

/// Copied: `dashboard::accounts_of`.
const ACCOUNTS_OF_SQL: &str = "SELECT id, NULL::uuid FROM partners
     WHERE distributor_id = $1 AND id = ANY($2)
     UNION ALL
     SELECT id, partner_id FROM customer_accounts
     WHERE distributor_id = $1 AND id = ANY($2)";

/// The dashboard's statements by label, as the service runs them: the
/// license statuses on a connection of their own, concurrently with the
/// others, which follow one another on a second one.
const DASHBOARD_STEPS: [&str; 7] = [
    "license statuses",
    "settings",
    "counts",
    "acquisitions",
    "chargeable drops",
    "usage reports",
    "billing reports",
];

/// The bare SQL side: two direct connections, every statement prepared on
/// the one it runs on.
struct Bare {
    client: Client,
    /// The dashboard's license statuses, concurrently with the figures on
    /// `client`, as the service runs them on a connection of their own.
    licenses_client: Client,
    settings: Statement,
    counts: Statement,
    /// On `licenses_client`.
    license_statuses: Statement,
    acquisitions: Statement,
    drop_counts: Statement,
    usage_by_status: Statement,
    billing_by_status: Statement,
    drops: Statement,
    inactive_new_partners: Statement,
    search: Statement,
    get_many: Statement,
    accounts_of: Statement,
}

/// The days and periods every figure is computed for, as the service
/// derives them from the pinned clock.
struct Days {
    today: NaiveDate,
    recent_since: NaiveDate,
    new_since: NaiveDate,
    previous_month: NaiveDate,
    last_month: NaiveDate,
}

impl Days {
    fn pinned() -> Self {
        let today = pinned_now().date_naive();
        let last_month = today.with_day(1).expect("day 1 exists") - Months::new(1);
        Self {
            today,
            recent_since: today - chrono::Duration::days(30),
            new_since: today - chrono::Duration::days(90),
            previous_month: last_month - Months::new(1),
            last_month,
        }
    }
}

/// Every figure by a label, zero counts left out (the RPC lists every
/// status, the SQL only those it finds).
type Figures = BTreeMap<String, i64>;

/// The rows of every dashboard figure but the license statuses.
struct OtherRows {
    threshold: i32,
    counts: Vec<Row>,
    acquisitions: Vec<Row>,
    drops: Vec<Row>,
    /// Empty when the settings hide the usage reports screen.
    usage: Vec<Row>,
    /// Empty when the settings hide the billing reports screen.
    billing: Vec<Row>,
}

/// A direct connection to the platform's database, set up as the
/// service's are.
async fn bare_connection(platform: &Platform) -> anyhow::Result<Client> {
    let client = platform.database.connect().await?;
    // Planned with their parameters on every run, as the service's
    // unnamed statements are: a generic plan could differ.
    client
        .batch_execute(
            "SET search_path = billing, customers; SET plan_cache_mode = force_custom_plan",
        )
        .await?;
    Ok(client)
}

impl Bare {
    async fn connect(platform: &Platform) -> anyhow::Result<Self> {
        let client = bare_connection(platform).await?;
        let licenses_client = bare_connection(platform).await?;
        Ok(Self {
            settings: client.prepare(SETTINGS_SQL).await?,
            counts: client.prepare(&counts_sql()).await?,
            license_statuses: licenses_client
                .prepare(service_sql::LICENSE_STATUSES)
                .await?,
            acquisitions: client.prepare(ACQUISITIONS_SQL).await?,
            drop_counts: client.prepare(&drop_counts_sql()).await?,
            usage_by_status: client.prepare(&by_status_sql("usage_reports")).await?,
            billing_by_status: client.prepare(&by_status_sql("billing_reports")).await?,
            drops: client.prepare(&drops_sql()).await?,
            inactive_new_partners: client.prepare(&inactive_new_partners_sql()).await?,
            search: client.prepare(&search_sql()).await?,
            get_many: client.prepare(&get_many_sql()).await?,
            accounts_of: client.prepare(ACCOUNTS_OF_SQL).await?,
            client,
            licenses_client,
        })
    }

    /// Runs `statement` on `client`, adding its time to `steps[step]`.
    async fn timed(
        &self,
        steps: &mut [Duration; 7],
        step: usize,
        statement: &Statement,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>> {
        let started = Instant::now();
        let rows = self.client.query(statement, parameters).await?;
        steps[step] += started.elapsed();
        Ok(rows)
    }

    /// Every figure of the dashboard, and each statement's time (in
    /// [`DASHBOARD_STEPS`] order): the license statuses on
    /// `licenses_client` while the rest follow one another on `client`,
    /// as the service runs them.
    async fn dashboard(
        &self,
        distributor: Uuid,
        days: &Days,
    ) -> anyhow::Result<(Figures, [Duration; 7])> {
        let license_statuses = async {
            let started = Instant::now();
            let rows = self
                .licenses_client
                .query(&self.license_statuses, &[&distributor, &days.today])
                .await?;
            anyhow::Ok((rows, started.elapsed()))
        };
        let ((licenses, license_time), (other, mut steps)) =
            tokio::try_join!(license_statuses, self.other_figures(distributor, days))?;
        steps[0] = license_time;
        let OtherRows {
            threshold,
            counts,
            acquisitions,
            drops,
            usage,
            billing,
        } = other;

        let mut figures = Figures::new();
        let counts = &counts[0];
        for (index, label) in [
            "enabled customers",
            "active partners",
            "enabled service plans",
            "partners acquired in the last 30 days",
            "inactive new partners",
        ]
        .into_iter()
        .enumerate()
        {
            figures.insert(label.into(), counts.get(index));
        }
        for (prefix, rows) in [
            ("customers with a license", &licenses),
            ("usage reports", &usage),
            ("billing reports", &billing),
            ("chargeable drops of", &drops),
        ] {
            for row in rows {
                figures.insert(format!("{prefix} {}", row.get::<_, &str>(0)), row.get(1));
            }
        }
        for row in &acquisitions {
            let (year, period): (i32, i32) = (row.get(0), row.get(1));
            figures.insert(format!("acquired {year}/{period:02}"), row.get(2));
        }
        figures.insert("chargeable drop threshold".into(), threshold.into());
        figures.retain(|_, count| *count != 0);
        Ok((figures, steps))
    }

    /// The dashboard's figures but the license statuses, one statement
    /// after another on `client` in the service's order, and their times
    /// (the license statuses' left zero).
    async fn other_figures(
        &self,
        distributor: Uuid,
        days: &Days,
    ) -> anyhow::Result<(OtherRows, [Duration; 7])> {
        let mut steps = [Duration::ZERO; 7];
        let d = &distributor;
        let settings_rows = self.timed(&mut steps, 1, &self.settings, &[d]).await?;
        let settings = settings_rows.first();
        let threshold = settings.map_or(20, |row| row.get::<_, i32>(1));
        let usage_shown = settings.is_none_or(|row| row.get(2));
        let billing_shown = settings.is_none_or(|row| row.get(3));
        let counts = self
            .timed(
                &mut steps,
                2,
                &self.counts,
                &[d, &days.recent_since, &days.new_since],
            )
            .await?;
        let acquisitions = self
            .timed(
                &mut steps,
                3,
                &self.acquisitions,
                &[d, &days.today.year(), &false],
            )
            .await?;
        let drops = self
            .timed(
                &mut steps,
                4,
                &self.drop_counts,
                &[
                    d,
                    &days.previous_month,
                    &days.last_month,
                    &i64::from(threshold),
                ],
            )
            .await?;
        let usage = if usage_shown {
            self.timed(&mut steps, 5, &self.usage_by_status, &[d])
                .await?
        } else {
            Vec::new()
        };
        let billing = if billing_shown {
            self.timed(&mut steps, 6, &self.billing_by_status, &[d])
                .await?
        } else {
            Vec::new()
        };
        let rows = OtherRows {
            threshold,
            counts,
            acquisitions,
            drops,
            usage,
            billing,
        };
        Ok((rows, steps))
    }

    /// The partners (ids) whose chargeable units of `product` fell.
    async fn chargeable_drops(
        &self,
        distributor: Uuid,
        days: &Days,
        product: &str,
    ) -> anyhow::Result<Vec<Uuid>> {
        let settings = self.client.query(&self.settings, &[&distributor]).await?;
        let threshold = settings.first().map_or(20, |row| row.get::<_, i32>(1));
        let rows = self
            .client
            .query(
                &self.drops,
                &[
                    &distributor,
                    &days.previous_month,
                    &days.last_month,
                    &i64::from(threshold),
                    &product,
                ],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn inactive_new_partners(
        &self,
        distributor: Uuid,
        days: &Days,
    ) -> anyhow::Result<Vec<Uuid>> {
        let rows = self
            .client
            .query(
                &self.inactive_new_partners,
                &[&distributor, &days.new_since],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(1)).collect())
    }

    /// The organizations (ids) `SearchAccounts` returns: the customers
    /// service's search (twice the page, as billing asks), the partners
    /// the customers found are below, and which have an account.
    async fn search(&self, distributor: Uuid, query: &str) -> anyhow::Result<Vec<Uuid>> {
        let limit = i64::from(SEARCH_PAGE_SIZE * 2);
        let found = self
            .client
            .query(&self.search, &[&Some(distributor), &query, &limit])
            .await?;
        let mut parents: Vec<Uuid> = found
            .iter()
            .map(|row| match row.get::<_, Option<Uuid>>("parent_id") {
                Some(parent) if parent != distributor => parent,
                _ => row.get("id"),
            })
            .collect();
        parents.sort_unstable();
        parents.dedup();
        self.client.query(&self.get_many, &[&parents]).await?;
        let ids: Vec<Uuid> = found.iter().map(|row| row.get("id")).collect();
        let accounts = self
            .client
            .query(&self.accounts_of, &[&distributor, &ids])
            .await?;
        let with_account: Vec<Uuid> = accounts.iter().map(|row| row.get(0)).collect();
        Ok(ids
            .into_iter()
            .filter(|id| with_account.contains(id))
            .take(SEARCH_PAGE_SIZE as usize)
            .collect())
    }
}

fn count(figure: &Option<Figure>) -> i64 {
    figure.as_ref().map_or(0, |figure| figure.count)
}

/// `PRODUCT_LICENSE_STATUS_EXCEEDED_ALLOCATION` → `exceeded_allocation`.
fn status_name(enum_name: &str, prefix: &str) -> String {
    enum_name.trim_start_matches(prefix).to_lowercase()
}

/// The dashboard's figures under the same labels as [`Bare::dashboard`].
fn rpc_figures(board: &DistributorDashboard) -> Figures {
    let mut figures = Figures::new();
    for (label, figure) in [
        ("enabled customers", &board.enabled_customers),
        ("active partners", &board.active_partners),
        ("enabled service plans", &board.enabled_service_plans),
        (
            "partners acquired in the last 30 days",
            &board.partners_acquired_last_30_days,
        ),
        ("inactive new partners", &board.inactive_new_partners),
    ] {
        figures.insert(label.into(), count(figure));
    }
    for entry in &board.customers_by_license_status {
        let status = status_name(entry.status().as_str_name(), "PRODUCT_LICENSE_STATUS_");
        figures.insert(
            format!("customers with a license {status}"),
            count(&entry.customers),
        );
    }
    for entry in &board.usage_reports_by_status {
        let status = status_name(entry.status().as_str_name(), "USAGE_REPORT_STATUS_");
        figures.insert(
            format!("usage reports {status}"),
            count(&entry.usage_reports),
        );
    }
    for entry in &board.billing_reports_by_status {
        let status = status_name(entry.status().as_str_name(), "BILLING_REPORT_STATUS_");
        figures.insert(
            format!("billing reports {status}"),
            count(&entry.billing_reports),
        );
    }
    for entry in &board.chargeable_drops {
        figures.insert(
            format!("chargeable drops of {}", entry.product),
            count(&entry.partners),
        );
    }
    for period in &board.new_partner_acquisition {
        let year = board.acquisition_year;
        for (year, figure) in [(year, &period.this_year), (year - 1, &period.previous_year)] {
            figures.insert(
                format!("acquired {year}/{:02}", period.period),
                count(figure),
            );
        }
    }
    figures.insert(
        "chargeable drop threshold".into(),
        board.chargeable_drop_threshold_percent.into(),
    );
    figures.retain(|_, count| *count != 0);
    figures
}

/// The id in the last segment of a resource name.
fn last_id(name: &str) -> anyhow::Result<Uuid> {
    Ok(name.rsplit('/').next().unwrap_or_default().parse()?)
}

/// The RPC side: the gateway, as the distributor.
struct Rpc {
    dashboard: DashboardServiceClient<Channel>,
    key: String,
    /// `distributors/{uuid}`.
    parent: String,
}

impl Rpc {
    async fn dashboard(&mut self) -> anyhow::Result<Figures> {
        let board = self
            .dashboard
            .get_distributor_dashboard(with_key(
                GetDistributorDashboardRequest {
                    name: format!("{}/dashboard", self.parent),
                    acquisition_granularity: Granularity::Monthly.into(),
                },
                &self.key,
            ))
            .await?
            .into_inner();
        Ok(rpc_figures(&board))
    }

    async fn chargeable_drops(&mut self, product: &str) -> anyhow::Result<Vec<Uuid>> {
        let response = self
            .dashboard
            .list_chargeable_drops(with_key(
                ListChargeableDropsRequest {
                    parent: self.parent.clone(),
                    product: product.into(),
                },
                &self.key,
            ))
            .await?
            .into_inner();
        response
            .drops
            .iter()
            .map(|drop| last_id(&drop.partner))
            .collect()
    }

    async fn inactive_new_partners(&mut self) -> anyhow::Result<Vec<Uuid>> {
        let response = self
            .dashboard
            .list_inactive_new_partners(with_key(
                ListInactiveNewPartnersRequest {
                    parent: self.parent.clone(),
                },
                &self.key,
            ))
            .await?
            .into_inner();
        response
            .partners
            .iter()
            .map(|partner| last_id(&partner.name))
            .collect()
    }

    async fn search(&mut self, query: &str) -> anyhow::Result<Vec<Uuid>> {
        let response = self
            .dashboard
            .search_accounts(with_key(
                SearchAccountsRequest {
                    parent: self.parent.clone(),
                    query: query.into(),
                    page_size: SEARCH_PAGE_SIZE,
                },
                &self.key,
            ))
            .await?
            .into_inner();
        anyhow::ensure!(
            response.matches.iter().all(|found| found.prefix),
            "a match of the prefix query is not a prefix match"
        );
        response
            .matches
            .iter()
            .map(|found| last_id(&found.organization))
            .collect()
    }
}

/// The measured calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    Dashboard,
    ChargeableDrops,
    InactiveNewPartners,
    Search,
}

const SERIES: [Series; 4] = [
    Series::Dashboard,
    Series::ChargeableDrops,
    Series::InactiveNewPartners,
    Series::Search,
];

impl Series {
    fn label(self) -> &'static str {
        match self {
            Series::Dashboard => "GetDistributorDashboard (every figure)",
            Series::ChargeableDrops => "ListChargeableDrops",
            Series::InactiveNewPartners => "ListInactiveNewPartners",
            Series::Search => "SearchAccounts (prefix, 20)",
        }
    }
}

/// What one side returned, for comparing the two.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Figures(Figures),
    Ids(Vec<Uuid>),
}

/// Everything a run needs.
struct Bench {
    bare: Bare,
    rpc: Rpc,
    distributor: Uuid,
    days: Days,
    /// The product with the most chargeable drops.
    drop_product: String,
}

impl Bench {
    /// One bare SQL run of `series`, its time and answer (with the
    /// dashboard's statement times).
    async fn bare(
        &self,
        series: Series,
    ) -> anyhow::Result<(Duration, Answer, Option<[Duration; 7]>)> {
        let started = Instant::now();
        let (answer, steps) = match series {
            Series::Dashboard => {
                let (figures, steps) = self.bare.dashboard(self.distributor, &self.days).await?;
                (Answer::Figures(figures), Some(steps))
            }
            Series::ChargeableDrops => (
                Answer::Ids(
                    self.bare
                        .chargeable_drops(self.distributor, &self.days, &self.drop_product)
                        .await?,
                ),
                None,
            ),
            Series::InactiveNewPartners => (
                Answer::Ids(
                    self.bare
                        .inactive_new_partners(self.distributor, &self.days)
                        .await?,
                ),
                None,
            ),
            Series::Search => (
                Answer::Ids(self.bare.search(self.distributor, SEARCH_QUERY).await?),
                None,
            ),
        };
        Ok((started.elapsed(), answer, steps))
    }

    /// One RPC of `series`, its time and answer.
    async fn rpc(&mut self, series: Series) -> anyhow::Result<(Duration, Answer)> {
        let started = Instant::now();
        let answer = match series {
            Series::Dashboard => Answer::Figures(self.rpc.dashboard().await?),
            Series::ChargeableDrops => {
                Answer::Ids(self.rpc.chargeable_drops(&self.drop_product).await?)
            }
            Series::InactiveNewPartners => Answer::Ids(self.rpc.inactive_new_partners().await?),
            Series::Search => Answer::Ids(self.rpc.search(SEARCH_QUERY).await?),
        };
        Ok((started.elapsed(), answer))
    }
}

/// Times of one series.
#[derive(Default)]
struct Measured {
    bare: Vec<f64>,
    rpc: Vec<f64>,
    /// Per dashboard statement, in [`DASHBOARD_STEPS`] order.
    steps: Vec<[Duration; 7]>,
    /// Rows (figures or ids) each side returned.
    answer_size: usize,
}

fn millis(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}

/// The median; the mean of the middle two for an even count.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn minimum(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Runs both sides of every series, `WARM_UP` times untimed then
/// `ITERATIONS` times, alternating which side goes first.
async fn measure(bench: &mut Bench) -> anyhow::Result<Vec<(Series, Measured)>> {
    let mut results: Vec<(Series, Measured)> = SERIES
        .iter()
        .map(|series| (*series, Measured::default()))
        .collect();
    for iteration in 0..WARM_UP + ITERATIONS {
        let bare_first = iteration.is_multiple_of(2);
        for (series, measured) in &mut results {
            let (mut bare, mut rpc) = (None, None);
            for bare_turn in [bare_first, !bare_first] {
                if bare_turn {
                    bare = Some(bench.bare(*series).await?);
                } else {
                    rpc = Some(bench.rpc(*series).await?);
                }
            }
            let (Some((bare_time, bare_answer, steps)), Some((rpc_time, rpc_answer))) = (bare, rpc)
            else {
                unreachable!("both sides ran");
            };
            anyhow::ensure!(
                bare_answer == rpc_answer,
                "{}: the bare SQL and the RPC disagree:\n  SQL {bare_answer:?}\n  RPC \
                 {rpc_answer:?}",
                series.label()
            );
            measured.answer_size = match &rpc_answer {
                Answer::Figures(figures) => figures.len(),
                Answer::Ids(ids) => ids.len(),
            };
            if iteration < WARM_UP {
                continue;
            }
            measured.bare.push(millis(bare_time));
            measured.rpc.push(millis(rpc_time));
            measured.steps.extend(steps);
        }
    }
    Ok(results)
}

/// Checks the dashboard's license statuses against the list API's
/// per-license rule once, and returns that rule's time.
async fn check_license_rule(bench: &Bench) -> anyhow::Result<Duration> {
    let client = &bench.bare.licenses_client;
    let started = Instant::now();
    let by_rule = client
        .query(
            &license_rule_sql(),
            &[&bench.days.today, &bench.distributor],
        )
        .await?;
    let elapsed = started.elapsed();
    let dashboard = client
        .query(
            &bench.bare.license_statuses,
            &[&bench.distributor, &bench.days.today],
        )
        .await?;
    let counted = |rows: &[Row]| -> BTreeMap<String, i64> {
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    };
    let (by_rule, dashboard) = (counted(&by_rule), counted(&dashboard));
    anyhow::ensure!(
        by_rule == dashboard,
        "the dashboard's license statuses {dashboard:?} differ from the per-license rule's \
         {by_rule:?}"
    );
    println!("customers by license status: {dashboard:?} (the same by the per-license rule)");
    Ok(elapsed)
}

/// The product with the most partners whose units fell (ties by name).
async fn busiest_drop_product(bench: &Bench) -> anyhow::Result<String> {
    let (figures, _) = bench.bare.dashboard(bench.distributor, &bench.days).await?;
    figures
        .iter()
        .filter_map(|(label, count)| Some((label.strip_prefix("chargeable drops of ")?, *count)))
        .max_by_key(|(product, count)| (*count, std::cmp::Reverse(product.to_string())))
        .map(|(product, _)| product.to_string())
        .ok_or_else(|| anyhow::anyhow!("no product has chargeable units"))
}

/// Prints the plan of `statement` run with `parameters`.
async fn explain_one(
    client: &Client,
    label: &str,
    statement: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> anyhow::Result<()> {
    let rows = client
        .query(
            &format!("EXPLAIN (ANALYZE, BUFFERS) {statement}"),
            parameters,
        )
        .await?;
    println!("\nplan of {label}:");
    for row in rows {
        println!("  {}", row.get::<_, &str>(0));
    }
    Ok(())
}

/// Prints the plans of the dashboard's costlier statements and of the
/// search (`ESTATE_BENCH_EXPLAIN`).
async fn explain(bench: &Bench) -> anyhow::Result<()> {
    let client = &bench.bare.client;
    let days = &bench.days;
    let d = &bench.distributor;
    let counts = counts_sql();
    explain_one(
        client,
        "counts",
        &counts,
        &[d, &days.recent_since, &days.new_since],
    )
    .await?;
    explain_one(
        client,
        "license statuses",
        service_sql::LICENSE_STATUSES,
        &[d, &days.today],
    )
    .await?;
    let drops = drop_counts_sql();
    let threshold = 20i64;
    let months = [&days.previous_month, &days.last_month];
    explain_one(
        client,
        "chargeable drops",
        &drops,
        &[d, months[0], months[1], &threshold],
    )
    .await?;
    for table in ["usage_reports", "billing_reports"] {
        explain_one(client, table, &by_status_sql(table), &[d]).await?;
    }
    let parent = Some(bench.distributor);
    let limit = i64::from(SEARCH_PAGE_SIZE * 2);
    explain_one(
        client,
        "search",
        &search_sql(),
        &[&parent, &SEARCH_QUERY, &limit],
    )
    .await?;
    Ok(())
}

fn print_report(results: &[(Series, Measured)], rule: Duration, scale: f64) {
    println!(
        "\nscale {scale} ({ITERATIONS} iterations after {WARM_UP} warm-ups, sides alternating); \
         times in ms"
    );
    println!(
        "{:<40} {:>7} {:>14} {:>14} {:>7} {:>7}",
        "series", "rows", "bare SQL med", "RPC med", "ratio", "min"
    );
    println!(
        "{:<40} {:>7} {:>14} {:>14} {:>7} {:>7}",
        "", "", "(min)", "(min)", "med", "ratio"
    );
    for (series, measured) in results {
        let (bare, rpc) = (median(measured.bare.clone()), median(measured.rpc.clone()));
        let (bare_min, rpc_min) = (minimum(&measured.bare), minimum(&measured.rpc));
        println!(
            "{:<40} {:>7} {:>6.1} ({:>5.1}) {:>6.1} ({:>5.1}) {:>6.2}x {:>6.2}x",
            series.label(),
            measured.answer_size,
            bare,
            bare_min,
            rpc,
            rpc_min,
            rpc / bare,
            rpc_min / bare_min,
        );
    }
    if let Some((_, dashboard)) = results
        .iter()
        .find(|(series, _)| *series == Series::Dashboard)
    {
        let step_median = |index: usize| {
            median(
                dashboard
                    .steps
                    .iter()
                    .map(|steps| millis(steps[index]))
                    .collect(),
            )
        };
        let rest: Vec<String> = DASHBOARD_STEPS
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, label)| format!("{label} {:.1}", step_median(index)))
            .collect();
        let rest_total = median(
            dashboard
                .steps
                .iter()
                .map(|steps| steps[1..].iter().copied().map(millis).sum())
                .collect(),
        );
        println!(
            "\nbare dashboard statements (median ms), on two connections at once: {} {:.1} | \
             the rest one after another {rest_total:.1} ({})",
            DASHBOARD_STEPS[0],
            step_median(0),
            rest.join(", ")
        );
        println!(
            "the list API's per-license rule over the same licenses, once: {:.0} ms",
            millis(rule)
        );
        let ratio = median(dashboard.rpc.clone()) / median(dashboard.bare.clone());
        println!(
            "\ntarget: the whole dashboard within {TARGET_RATIO}x the bare SQL: {} ({ratio:.2}x)",
            if ratio <= TARGET_RATIO {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}

fn scale() -> anyhow::Result<f64> {
    let Some(value) = std::env::var("ESTATE_BENCH_SCALE")
        .ok()
        .filter(|value| !value.trim().is_empty())
    else {
        return Ok(1.0);
    };
    let scale: f64 = value
        .trim()
        .parse()
        .map_err(|error| anyhow::anyhow!("ESTATE_BENCH_SCALE={value}: {error}"))?;
    anyhow::ensure!(
        (0.01..=4.0).contains(&scale),
        "ESTATE_BENCH_SCALE: between 0.01 and 4"
    );
    Ok(scale)
}

/// Partners and customers at `scale` times `share` of the full size.
fn sized(scale: f64, share: f64) -> (i64, i64) {
    let partners = (PARTNERS * scale * share).round().max(20.0) as i64;
    let customers = (CUSTOMERS * scale * share).round().max(100.0) as i64;
    (partners, customers)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    let run_started = Instant::now();
    let scale = scale()?;
    let platform = Platform::spawn_with(Options {
        // The production credential cache; no auto-submission while
        // measuring (nothing is due anyway).
        credential_cache_ttl: Duration::from_secs(3),
        auto_submit_poll_interval: Duration::from_secs(3600),
        ..Options::default()
    })
    .await?;
    let measured = platform
        .create_organization("", OrganizationKind::Distributor, "Bench Distribution")
        .await?;
    let other = platform
        .create_organization("", OrganizationKind::Distributor, "Other Distribution")
        .await?;
    let key = platform.create_api_key(&measured.name, &["admin"]).await?;
    let distributor = last_id(&measured.name)?;
    let (partners, customers) = sized(scale, 1.0);
    let (other_partners, other_customers) = sized(scale, OTHER_SHARE);
    let tenants = [
        Tenant {
            id: distributor,
            offset: 0,
            partners,
            customers,
            chargeable_drop_threshold_percent: 20,
            billing_reports_screen: true,
        },
        Tenant {
            id: last_id(&other.name)?,
            offset: 1_000_000_000,
            partners: other_partners,
            customers: other_customers,
            chargeable_drop_threshold_percent: 25,
            billing_reports_screen: false,
        },
    ];
    generate(&platform, &tenants).await?;

    let mut bench = Bench {
        bare: Bare::connect(&platform).await?,
        rpc: Rpc {
            dashboard: DashboardServiceClient::new(platform.gateway_channel().await?),
            key,
            parent: format!("distributors/{distributor}"),
        },
        distributor,
        days: Days::pinned(),
        drop_product: String::new(),
    };
    bench.drop_product = busiest_drop_product(&bench).await?;
    let rule = check_license_rule(&bench).await?;
    if std::env::var_os("ESTATE_BENCH_EXPLAIN").is_some() {
        explain(&bench).await?;
    }
    let results = measure(&mut bench).await?;
    print_report(&results, rule, scale);
    println!("(whole bench {:.0} s)", run_started.elapsed().as_secs_f64());
    drop(bench);
    platform.shutdown().await?;
    Ok(())
}
