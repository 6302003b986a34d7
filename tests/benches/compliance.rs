//! A compliance calculation over a realistic estate at 10k, 100k and 300k
//! computers with 20 installations each: the full `CalculateCompliance` run
//! (read the estate from PostgreSQL, compute, store the results) against a
//! raw binary COPY-out of the same input rows, in the same run.
//!
//! Each size gets a fresh platform, hence a fresh database (dropped at the
//! end of the size), and one customer created through the gateway with its
//! root node; the rest of its estate is generated straight into the
//! `licensing` schema in SQL (not timed), deterministically: an organization
//! tree of 4 levels and 200 nodes (4 legal entities, 35 sites, 160
//! departments); 5,000 applications in 500 families of 10 versions (mixed
//! default metrics; two thirds allow downgrade, a tenth need no license);
//! N computers on the sites and departments (5% datacenters with 2-4
//! processors, 3% inactive, 5% quarantined), each with 20 distinct
//! installations skewed towards popular products and recent versions; N/2
//! users with 5 usage rows each (15% outside the metering period); 100
//! agreements (a third subscriptions, some expired); 10,000 licenses of
//! every metric and assignment type (an eighth for a whole family, 2% with
//! a metric that does not match, 5% archived, 2% incomplete, some expired
//! subscriptions, 0.5% unlimited, 40% automatic allocation, manual
//! allocations, upgrades, minimums per computer), computer and user
//! licenses assigned up to their quantity (100 when unlimited) to consumers
//! that have the application, the licenses of one application taking
//! consecutive slices of its consumers (plus one stray computer assignment
//! each; assignments of inactive computers, users outside the metering
//! period or too few processor units are invalid), and 50 exclusions.
//! Ids are deterministic and grow in insertion order, like the UUIDv7 ids
//! the service creates. Foreign-key triggers are off while generating
//! (`session_replication_role = replica`, else 6M installation rows take
//! minutes of checks); every reference is verified afterwards with one
//! anti-join per foreign key, and the tables are vacuumed and analyzed.
//!
//! Per size, after one untimed warm-up of each side (so caches are warm and
//! every measured run replaces a previous run's results, as in steady
//! state), iterations (3 at <= 10k computers, else 2) each measure:
//! - raw COPY-out: `COPY (SELECT …) TO STDOUT (FORMAT binary)` of exactly
//!   the statements `services/licensing/src/compliance/load.rs` runs (same
//!   columns, filters and order), on two direct connections the way the
//!   loader reads: REPEATABLE READ read-only transactions sharing one
//!   exported snapshot, settings, nodes, families, applications, computers
//!   and installations on the first while users, usage, exclusions,
//!   licenses with agreements, upgrades, allocations and assignments are
//!   read on the second; draining the bytes; timed from the first BEGIN to
//!   both COMMITs.
//! - full run: `CalculateCompliance` through the gateway (admin API key),
//!   from the call until the stream ends after the finished run. Each
//!   progress message is stamped on arrival: read = first READING to the
//!   end of READING, compute = first engine phase (VALIDATING) to the end of
//!   RESULTS, store = first STORING to the last message (commit included);
//!   the rest (authorization, the run row, hand-offs) is "other".
//! - peak memory: `/proc/self/clear_refs` reset to the current RSS just
//!   before the full run, `VmHWM` read right after. The services, the
//!   gateway and this client all run in this process, so it is the peak of
//!   the whole platform (and the client) during the run, the licensing
//!   service's loaded estate and engine outcome being by far the largest
//!   part; PostgreSQL is a separate process and not included.
//!
//! The bench starts itself again under the glibc malloc settings the
//! `estate` binary runs with (`estate_server::malloc`), so the services
//! allocate here as they do deployed.
//!
//! The two sides alternate which goes first, result tables are vacuumed
//! after every full run (untimed; autovacuum's job in production), and the
//! table reports medians (the mean of the middle two for two iterations).
//!
//! Targets (from the product issue; printed, not asserted): full run
//! within 2x the raw read; compute under 1 s per million installations on
//! this 2-core machine; near-linear growth from 10k to 300k computers
//! (here: time per installation at the largest size at most 1.25x that at
//! the smallest).
//!
//! Run: `cargo bench -p estate-e2e --bench compliance`
//! (needs DATABASE_URL or a server on 127.0.0.1:5432, like the tests).
//! `ESTATE_BENCH_SIZES=10000,100000` picks the sizes (computers); the
//! default 10k, 100k, 300k takes about 8-10 minutes once built, most of it
//! at 300k (generating 6M installations takes about 2 minutes).

use std::pin::pin;
use std::time::{Duration, Instant};

use estate_e2e::{Platform, pinned_now, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::organization_structure_service_client::OrganizationStructureServiceClient;
use estate_proto::licensing::{
    CalculateComplianceRequest, CalculationPhase, ListOrgNodesRequest, RunState,
};
use tokio_postgres::IsolationLevel;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use uuid::Uuid;

/// Computers per size, unless `ESTATE_BENCH_SIZES` says otherwise.
const DEFAULT_SIZES: [usize; 3] = [10_000, 100_000, 300_000];
const INSTALLATIONS_PER_COMPUTER: usize = 20;
const LICENSES: usize = 10_000;
const AGREEMENTS: usize = 100;
const EXCLUSIONS: usize = 50;
/// Near-linear: time per installation at the largest size at most this
/// times that at the smallest.
const LINEAR_TOLERANCE: f64 = 1.25;

/// Seeds of the pseudo-random streams (`pg_temp.rnd`), far apart so the
/// streams do not overlap.
const USAGE_SEED: i64 = 1 << 40;
const LICENSE_SEED: i64 = 1 << 41;
/// Assignment ids: computer assignments from 0, stray ones and user ones
/// from these offsets.
const STRAY_ASSIGNMENTS: i64 = 10_000_000_000;
const USER_ASSIGNMENTS: i64 = 20_000_000_000;

/// Helpers for the generator, in the session's temporary schema.
/// `bid(kind, i)`: a deterministic id ordered by (kind, i); `rnd(seed)`: a
/// deterministic number in [0, 1); `metric(family)`: a family's default
/// metric (68% installations, 8% processors, 6% cores, 6% users, 4% devices,
/// 4% concurrent users, 4% site); `pick(slot, r1, r2)`: an application of
/// installation slot 0..19 (slot s holds families 25s..25s+24, popular
/// families and recent versions more likely); `pick_user(r1, which, r2)`:
/// a users or concurrent-users application, popular first; `node_of(i)`:
/// the node of computer i (every tenth on a site, the rest on departments).
const HELPERS: &str = r#"
CREATE FUNCTION pg_temp.bid(kind integer, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT (lpad(to_hex(kind), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid
$$;
CREATE FUNCTION pg_temp.rnd(seed bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashint8(seed) & 2147483647)::double precision / 2147483648::double precision
$$;
CREATE FUNCTION pg_temp.metric(family integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN family % 50 < 34 THEN 'installations'
        WHEN family % 50 < 38 THEN 'processors'
        WHEN family % 50 < 41 THEN 'cores'
        WHEN family % 50 < 44 THEN 'users'
        WHEN family % 50 < 46 THEN 'devices'
        WHEN family % 50 < 48 THEN 'concurrent_users'
        ELSE 'site'
    END
$$;
CREATE FUNCTION pg_temp.pick(slot integer, r1 double precision, r2 double precision)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT (25 * slot + (floor(25 * r1 * r1)::integer * 7) % 25) * 10
           + 9 - floor(10 * r2 * r2)::integer
$$;
CREATE FUNCTION pg_temp.pick_user(r1 double precision, which bigint, r2 double precision)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT (50 * floor(10 * r1 * r1)::integer
            + (ARRAY[41, 42, 43, 46, 47])[1 + (which % 5)::integer]) * 10
           + 9 - floor(10 * r2 * r2)::integer
$$;
CREATE FUNCTION pg_temp.node_of(i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN i % 10 = 0 THEN pg_temp.bid(1, 5 + (i / 10) % 35)
                ELSE pg_temp.bid(1, 40 + floor(160 * pg_temp.rnd(i * 7 + 3))::integer) END
$$;
"#;

/// The generated input tables, vacuumed and analyzed after generating.
const INPUT_TABLES: &str = "org_nodes, families, applications, computers, users, installations, \
     application_usage, agreements, licenses, license_upgrades, license_allocations, \
     license_assignments, compliance_exclusions";

/// The tables a run writes.
const RESULT_TABLES: [&str; 9] = [
    "compliance_runs",
    "compliance_node_results",
    "compliance_application_results",
    "compliance_family_results",
    "compliance_license_results",
    "compliance_invalid_assignments",
    "compliance_consumer_results",
    "compliance_run_keys",
    "compliance_transfers",
];

/// Every foreign key of the input tables: child table, column, parent table.
const FOREIGN_KEYS: [(&str, &str, &str); 21] = [
    ("org_nodes", "parent_id", "org_nodes"),
    ("applications", "family_id", "families"),
    ("computers", "node_id", "org_nodes"),
    ("users", "node_id", "org_nodes"),
    ("installations", "computer_id", "computers"),
    ("installations", "application_id", "applications"),
    ("application_usage", "user_id", "users"),
    ("application_usage", "application_id", "applications"),
    ("licenses", "application_id", "applications"),
    ("licenses", "family_id", "families"),
    ("licenses", "legal_owner_id", "org_nodes"),
    ("licenses", "agreement_id", "agreements"),
    ("license_upgrades", "upgrade_id", "licenses"),
    ("license_upgrades", "base_id", "licenses"),
    ("license_allocations", "license_id", "licenses"),
    ("license_allocations", "node_id", "org_nodes"),
    ("license_assignments", "license_id", "licenses"),
    ("license_assignments", "computer_id", "computers"),
    ("license_assignments", "user_id", "users"),
    ("compliance_exclusions", "computer_id", "computers"),
    ("compliance_exclusions", "user_id", "users"),
];

/// The customer of one size.
struct Customer {
    /// `customers/{uuid}`.
    name: String,
    id: Uuid,
    root: Uuid,
}

/// The id in the last segment of a resource name.
fn last_id(name: &str) -> anyhow::Result<Uuid> {
    let id = name.rsplit('/').next().unwrap_or_default();
    Ok(id.parse()?)
}

/// Creates the customer through the gateway, and its root node by listing
/// the nodes.
async fn create_customer(platform: &Platform, size: usize) -> anyhow::Result<Customer> {
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "Bench Distribution")
        .await?;
    let organization = platform
        .create_organization(
            &distributor.name,
            OrganizationKind::Customer,
            &format!("Compliance Bench {size}"),
        )
        .await?;
    let id = last_id(&organization.name)?;
    let name = format!("customers/{id}");
    let mut nodes = OrganizationStructureServiceClient::new(platform.gateway_channel().await?);
    let listed = nodes
        .list_org_nodes(with_key(
            ListOrgNodesRequest {
                parent: name.clone(),
                page_size: 1,
                ..Default::default()
            },
            &platform.admin_key,
        ))
        .await?
        .into_inner();
    let root = listed
        .org_nodes
        .first()
        .ok_or_else(|| anyhow::anyhow!("{name} has no root node"))?;
    anyhow::ensure!(root.parent.is_empty(), "the first node is not the root");
    Ok(Customer {
        root: last_id(&root.name)?,
        name,
        id,
    })
}

/// The statements that generate the estate of `customer` with `computers`
/// computers, labelled, in order (the helpers must exist).
fn generation(customer: &Customer, computers: usize) -> Vec<(&'static str, String)> {
    let c = format!("'{}'::uuid", customer.id);
    let root = format!("'{}'::uuid", customer.root);
    let now = format!("'{}'::timestamptz", pinned_now().to_rfc3339());
    let n = computers;
    let users = computers / 2;
    let installations = computers * INSTALLATIONS_PER_COMPUTER;
    vec![
        (
            "nodes",
            format!(
                "INSERT INTO org_nodes (customer_id, id, parent_id, display_name, legal, depth,
                     revision, create_time, update_time)
                 SELECT {c}, pg_temp.bid(1, n),
                     CASE WHEN n <= 4 THEN {root}
                          WHEN n <= 39 THEN pg_temp.bid(1, 1 + (n - 5) % 4)
                          ELSE pg_temp.bid(1, 5 + (n - 40) % 35) END,
                     CASE WHEN n <= 4 THEN 'Legal entity ' WHEN n <= 39 THEN 'Site '
                          ELSE 'Department ' END || n,
                     n <= 4,
                     CASE WHEN n <= 4 THEN 1 WHEN n <= 39 THEN 2 ELSE 3 END,
                     1, {now}, {now}
                 FROM generate_series(1, 199) n"
            ),
        ),
        (
            "catalog",
            format!(
                "INSERT INTO families (customer_id, id, manufacturer, display_name)
                 SELECT {c}, pg_temp.bid(2, f), 'Vendor ' || f % 60, 'Product ' || f
                 FROM generate_series(0, 499) f;
                 INSERT INTO applications (customer_id, id, family_id, display_name, version,
                     version_key, edition, default_metric, downgrade_allowed, denied,
                     no_license_required, revision, create_time, update_time)
                 SELECT {c}, pg_temp.bid(3, f * 10 + v), pg_temp.bid(2, f),
                     'Product ' || f || ' ' || 2016 + v, (2016 + v)::text,
                     '004' || 2016 + v, '', pg_temp.metric(f), f % 3 <> 0, false, f % 10 = 9,
                     1, {now}, {now}
                 FROM generate_series(0, 499) f, generate_series(0, 9) v"
            ),
        ),
        (
            "computers",
            format!(
                "INSERT INTO computers (customer_id, id, hostname, node_id, kind, processors,
                     cores, last_scan_time, inactive, revision, create_time, update_time)
                 SELECT {c}, pg_temp.bid(4, i), 'host-' || lpad(i::text, 7, '0') || '.corp.example',
                     pg_temp.node_of(i),
                     CASE WHEN i % 20 = 0 THEN 'datacenter' ELSE 'computer' END,
                     CASE WHEN i % 20 = 0 THEN 2 + i % 3 ELSE 1 END,
                     CASE WHEN i % 20 = 0 THEN (2 + i % 3) * 16 ELSE 4 * (1 + i % 2) END,
                     {now} - CASE WHEN i % 20 = 3 THEN interval '45 days'
                                  ELSE (i % 72) * interval '1 hour' END,
                     i % 33 = 5, 1, {now}, {now}
                 FROM generate_series(0::bigint, {n} - 1) i"
            ),
        ),
        (
            "users",
            format!(
                "INSERT INTO users (customer_id, id, username, node_id, create_time, update_time)
                 SELECT {c}, pg_temp.bid(5, u), 'user' || u || '@corp.example',
                     pg_temp.node_of(3 * u), {now}, {now}
                 FROM generate_series(0::bigint, {users} - 1) u"
            ),
        ),
        (
            "installations",
            format!(
                "INSERT INTO installations (customer_id, computer_id, application_id)
                 SELECT {c}, pg_temp.bid(4, k / 20),
                     pg_temp.bid(3, pg_temp.pick((k % 20)::integer,
                         pg_temp.rnd(k / 20 * 64 + k % 20), pg_temp.rnd(k / 20 * 64 + 32 + k % 20)))
                 FROM generate_series(0::bigint, {installations} - 1) k"
            ),
        ),
        (
            "usage",
            format!(
                "INSERT INTO application_usage (customer_id, user_id, application_id,
                     last_used_time)
                 SELECT {c}, pg_temp.bid(5, k / 5),
                     pg_temp.bid(3, CASE WHEN k % 5 = 4
                         THEN pg_temp.pick((k / 5 % 20)::integer, r1, r2)
                         ELSE pg_temp.pick_user(r1, k / 5 + k, r2) END),
                     {now} - CASE WHEN r3 < 0.85 THEN r3 * interval '80 days'
                                  ELSE (100 + 300 * r3) * interval '1 day' END
                 FROM (SELECT k, pg_temp.rnd(k * 4 + {USAGE_SEED}) AS r1,
                              pg_temp.rnd(k * 4 + 1 + {USAGE_SEED}) AS r2,
                              pg_temp.rnd(k * 4 + 2 + {USAGE_SEED}) AS r3
                       FROM generate_series(0::bigint, {users} * 5 - 1) k) s
                 ON CONFLICT DO NOTHING"
            ),
        ),
        (
            "agreements",
            format!(
                "INSERT INTO agreements (customer_id, id, display_name, kind, custom_kind,
                     start_date, end_date, subscription, offer_outside_period, archived,
                     revision, create_time, update_time)
                 SELECT {c}, pg_temp.bid(6, g), 'Agreement ' || g,
                     (ARRAY['software', 'maintenance', 'support', 'purchase', 'custom'])[1 + g % 5],
                     CASE WHEN g % 5 = 4 THEN 'Enterprise framework' ELSE '' END,
                     CASE WHEN g % 3 <> 0 THEN date '2023-01-01' + g
                          WHEN g % 9 = 0 THEN date '2024-01-01' ELSE date '2026-01-01' END,
                     CASE WHEN g % 3 <> 0 THEN NULL
                          WHEN g % 9 = 0 THEN date '2025-12-31' ELSE date '2027-12-31' END,
                     g % 3 = 0, false, false, 1, {now}, {now}
                 FROM generate_series(0, {AGREEMENTS} - 1) g"
            ),
        ),
        (
            "licenses",
            format!(
                "CREATE TEMP TABLE bench_licenses AS
                 SELECT l, a, m,
                     CASE WHEN m IN ('users', 'concurrent_users') THEN
                              CASE WHEN l / 10 % 10 < 7 THEN 'user' ELSE 'organization' END
                          WHEN m = 'site' THEN 'site'
                          WHEN l % 10 = 7 THEN 'computer'
                          WHEN l % 10 = 8 THEN 'site'
                          ELSE 'organization' END AS kind,
                     CASE WHEN l % 200 = 13 THEN NULL
                          ELSE 1 + floor(r * {n} / 250)::bigint END AS quantity
                 FROM (
                     SELECT l, a, r,
                         CASE WHEN l % 50 = 17 THEN
                                  CASE WHEN pg_temp.metric(a / 10) = 'installations'
                                       THEN 'devices' ELSE 'installations' END
                              ELSE pg_temp.metric(a / 10) END AS m
                     FROM (
                         SELECT l, pg_temp.rnd(l * 4 + {LICENSE_SEED}) AS r,
                             CASE WHEN l % 10 = 9 THEN
                                      pg_temp.pick_user(pg_temp.rnd(l * 4 + 1 + {LICENSE_SEED}),
                                          l / 10, pg_temp.rnd(l * 4 + 2 + {LICENSE_SEED}))
                                  ELSE pg_temp.pick((l % 20)::integer,
                                      pg_temp.rnd(l * 4 + 1 + {LICENSE_SEED}),
                                      pg_temp.rnd(l * 4 + 2 + {LICENSE_SEED})) END AS a
                         FROM generate_series(0::bigint, {LICENSES} - 1) l) s) t;
                 INSERT INTO licenses (customer_id, id, application_id, family_id, metric,
                     assignment_type, quantity, unlimited, legal_owner_id, purchase_date,
                     price_currency, price_amount_minor, vendor, invoice_reference,
                     custom_fields, automatic_allocation, downgrade_rights, subscription_start,
                     subscription_end, agreement_id, archived_agreement_id, incomplete,
                     missing_fields, archived, archive_group, archive_time, request_id,
                     revision, create_time, update_time, minimum_per_computer)
                 SELECT {c}, pg_temp.bid(7, l),
                     CASE WHEN l % 8 = 3 THEN NULL ELSE pg_temp.bid(3, a) END,
                     CASE WHEN l % 8 = 3 THEN pg_temp.bid(2, a / 10) END,
                     m, kind, quantity, quantity IS NULL,
                     CASE WHEN l % 3 = 0 THEN {root} ELSE pg_temp.bid(1, 1 + l % 4) END,
                     CASE WHEN l % 50 = 23 THEN NULL
                          ELSE date '2020-01-01' + (l % 2000)::integer END,
                     'EUR', 100 * (1 + l % 997), 'Reseller ' || l % 12, 'INV-' || l,
                     jsonb_build_object(), l % 5 < 2, l % 2 = 0,
                     CASE WHEN l % 7 = 2 THEN date '2026-01-01'
                          WHEN l % 21 = 5 THEN date '2025-01-01' END,
                     CASE WHEN l % 7 = 2 THEN date '2026-12-31'
                          WHEN l % 21 = 5 THEN date '2025-12-31' END,
                     CASE WHEN l % 4 = 1 THEN pg_temp.bid(6, l % {AGREEMENTS}) END,
                     NULL, l % 50 = 23,
                     CASE WHEN l % 50 = 23 THEN ARRAY['purchase_date'] ELSE ARRAY[]::text[] END,
                     l % 20 = 11, NULL,
                     CASE WHEN l % 20 = 11 THEN {now} - interval '30 days' END, NULL, 1,
                     {now} - (l % 1000) * interval '1 day', {now},
                     CASE WHEN m = 'processors' AND l % 3 = 0 THEN 2
                          WHEN m = 'cores' AND l % 3 = 0 THEN 8 ELSE 0 END
                 FROM bench_licenses;
                 INSERT INTO license_upgrades (customer_id, upgrade_id, base_id, quantity)
                 SELECT {c}, pg_temp.bid(7, l), pg_temp.bid(7, l - 1), 1 + l % 5
                 FROM generate_series(42::bigint, {LICENSES} - 1, 100) l;
                 INSERT INTO license_allocations (customer_id, license_id, node_id, quantity)
                 SELECT {c}, pg_temp.bid(7, l), pg_temp.bid(1, 5 + (l + 17 * k) % 35),
                     1 + (l + k) % 10
                 FROM bench_licenses, generate_series(0, 1) k
                 WHERE kind IN ('organization', 'site') AND l % 10 = 4"
            ),
        ),
        (
            "assignments",
            format!(
                "INSERT INTO license_assignments (customer_id, id, license_id, computer_id,
                     user_id, quantity, create_time)
                 SELECT {c}, pg_temp.bid(8, row_number() OVER (ORDER BY l, computer_id)),
                     pg_temp.bid(7, l), computer_id, NULL, units, {now} - interval '10 days'
                 FROM (
                     SELECT b.l, i.computer_id,
                         CASE WHEN b.l % 9 = 0 THEN 1
                              WHEN b.m = 'processors' THEN x.processors
                              WHEN b.m = 'cores' THEN x.cores ELSE 1 END AS units
                     FROM (SELECT l, a, m, coalesce(quantity, 100) AS quantity,
                               coalesce(sum(coalesce(quantity, 100)) OVER (PARTITION BY a
                                   ORDER BY l ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                                   0) AS first
                           FROM bench_licenses WHERE kind = 'computer') b
                     JOIN (SELECT computer_id, application_id, row_number() OVER (
                                   PARTITION BY application_id ORDER BY computer_id) AS position
                           FROM installations
                           WHERE customer_id = {c} AND application_id IN (
                               SELECT pg_temp.bid(3, a) FROM bench_licenses
                               WHERE kind = 'computer')) i
                       ON i.application_id = pg_temp.bid(3, b.a)
                      AND i.position > b.first AND i.position <= b.first + b.quantity
                     JOIN computers x ON x.customer_id = {c} AND x.id = i.computer_id) s;
                 INSERT INTO license_assignments (customer_id, id, license_id, computer_id,
                     user_id, quantity, create_time)
                 SELECT {c}, pg_temp.bid(8, {STRAY_ASSIGNMENTS} + l), pg_temp.bid(7, l),
                     pg_temp.bid(4, l * 7919 % {n}), NULL, 1, {now} - interval '5 days'
                 FROM bench_licenses WHERE kind = 'computer'
                 ON CONFLICT DO NOTHING;
                 INSERT INTO license_assignments (customer_id, id, license_id, computer_id,
                     user_id, quantity, create_time)
                 SELECT {c},
                     pg_temp.bid(8, {USER_ASSIGNMENTS} + row_number() OVER (ORDER BY l, user_id)),
                     pg_temp.bid(7, l), NULL, user_id, 1, {now} - interval '10 days'
                 FROM (SELECT l, a, coalesce(quantity, 100) AS quantity,
                           coalesce(sum(coalesce(quantity, 100)) OVER (PARTITION BY a
                               ORDER BY l ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                               0) AS first
                       FROM bench_licenses WHERE kind = 'user') b
                 JOIN (SELECT user_id, application_id, row_number() OVER (
                               PARTITION BY application_id ORDER BY user_id) AS position
                       FROM application_usage WHERE customer_id = {c}) u
                   ON u.application_id = pg_temp.bid(3, b.a)
                  AND u.position > b.first AND u.position <= b.first + b.quantity"
            ),
        ),
        (
            "exclusions",
            format!(
                "INSERT INTO compliance_exclusions (customer_id, id, computer_id, user_id,
                     application_id, reason, create_time)
                 SELECT {c}, pg_temp.bid(9, e),
                     CASE WHEN e < 40 THEN pg_temp.bid(4, e * 7919 % {n}) END,
                     CASE WHEN e >= 40 THEN pg_temp.bid(5, e * 104729 % {users}) END,
                     CASE WHEN e < 40 AND e % 2 = 1 THEN pg_temp.bid(3, pg_temp.pick(0,
                         pg_temp.rnd(e * 7919 % {n} * 64), pg_temp.rnd(e * 7919 % {n} * 64 + 32)))
                     END,
                     CASE WHEN e < 40 THEN 'Test lab machine, licensed by the lab'
                          ELSE 'Contractor, licensed by the agency' END,
                     {now} - interval '60 days'
                 FROM generate_series(0::bigint, {EXCLUSIONS} - 1) e"
            ),
        ),
    ]
}

/// Generates the estate (not timed), verifies every reference, vacuums and
/// analyzes, and prints what was generated.
async fn generate(
    platform: &Platform,
    customer: &Customer,
    computers: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let database = platform.database.connect().await?;
    database
        .batch_execute(
            "SET search_path = licensing; SET session_replication_role = replica; \
             SET work_mem = '256MB'",
        )
        .await?;
    database.batch_execute(HELPERS).await?;
    let mut steps = Vec::new();
    for (label, statement) in generation(customer, computers) {
        let step = Instant::now();
        database
            .batch_execute(&statement)
            .await
            .map_err(|error| anyhow::anyhow!("generating {label}: {error:?}"))?;
        steps.push(format!("{label} {:.1} s", step.elapsed().as_secs_f64()));
    }
    let step = Instant::now();
    let checks: Vec<String> = FOREIGN_KEYS
        .iter()
        .map(|(child, column, parent)| {
            format!(
                "SELECT '{child}.{column}', count(*) FROM {child} x
                 WHERE x.customer_id = $1 AND x.{column} IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM {parent} p
                                   WHERE p.customer_id = $1 AND p.id = x.{column})"
            )
        })
        .collect();
    for row in database
        .query(&checks.join(" UNION ALL "), &[&customer.id])
        .await?
    {
        let (reference, orphans): (&str, i64) = (row.get(0), row.get(1));
        anyhow::ensure!(orphans == 0, "{orphans} rows break {reference}");
    }
    steps.push(format!("references {:.1} s", step.elapsed().as_secs_f64()));
    let step = Instant::now();
    database
        .batch_execute(&format!("VACUUM (ANALYZE) {INPUT_TABLES}"))
        .await?;
    steps.push(format!("vacuum {:.1} s", step.elapsed().as_secs_f64()));

    let row = database
        .query_one(
            "SELECT (SELECT count(*) FROM org_nodes WHERE customer_id = $1),
                    (SELECT count(*) FROM applications WHERE customer_id = $1),
                    (SELECT count(*) FROM computers WHERE customer_id = $1),
                    (SELECT count(*) FROM installations WHERE customer_id = $1),
                    (SELECT count(*) FROM users WHERE customer_id = $1),
                    (SELECT count(*) FROM application_usage WHERE customer_id = $1),
                    (SELECT count(*) FROM licenses WHERE customer_id = $1),
                    (SELECT count(*) FROM license_assignments WHERE customer_id = $1),
                    (SELECT count(*) FROM license_allocations WHERE customer_id = $1)",
            &[&customer.id],
        )
        .await?;
    let count = |index: usize| row.get::<_, i64>(index);
    anyhow::ensure!(
        count(0) == 200 && count(3) == (computers * INSTALLATIONS_PER_COMPUTER) as i64,
        "unexpected estate: {} nodes, {} installations",
        count(0),
        count(3)
    );
    println!(
        "  generated in {:.0} s ({}): {} nodes, {} applications, {} computers, {} \
         installations, {} users, {} usage rows, {} licenses, {} assignments, {} allocations",
        started.elapsed().as_secs_f64(),
        steps.join(", "),
        count(0),
        count(1),
        count(2),
        count(3),
        count(4),
        count(5),
        count(6),
        count(7),
        count(8),
    );
    Ok(())
}

/// The loader's statements (`services/licensing/src/compliance/load.rs`),
/// with the customer inlined, labelled by table.
fn input_queries(customer: Uuid) -> Vec<(&'static str, String)> {
    let c = format!("'{customer}'::uuid");
    vec![
        (
            "settings",
            format!(
                "SELECT quarantine_after_days, metering_period_days, allow_incomplete_licenses,
                     revision
                 FROM settings WHERE customer_id = {c}"
            ),
        ),
        (
            "org_nodes",
            format!(
                "SELECT id, parent_id FROM org_nodes WHERE customer_id = {c} ORDER BY depth, id"
            ),
        ),
        (
            "families",
            format!("SELECT id FROM families WHERE customer_id = {c} ORDER BY id"),
        ),
        (
            "applications",
            format!(
                "SELECT id, family_id, default_metric, downgrade_allowed, no_license_required,
                     dense_rank() OVER (PARTITION BY family_id ORDER BY version_key)::integer
                 FROM applications WHERE customer_id = {c} ORDER BY id"
            ),
        ),
        (
            "computers",
            format!(
                "SELECT id, node_id, processors, cores, inactive
                 FROM computers WHERE customer_id = {c} ORDER BY id"
            ),
        ),
        (
            "users",
            format!("SELECT id, node_id FROM users WHERE customer_id = {c} ORDER BY id"),
        ),
        (
            "installations",
            format!(
                "SELECT computer_id, application_id FROM installations
                 WHERE customer_id = {c} ORDER BY computer_id, application_id"
            ),
        ),
        (
            "application_usage",
            format!(
                "SELECT user_id, application_id, extract(epoch FROM last_used_time)::bigint
                 FROM application_usage WHERE customer_id = {c}"
            ),
        ),
        (
            "compliance_exclusions",
            format!(
                "SELECT computer_id, user_id, application_id
                 FROM compliance_exclusions WHERE customer_id = {c} ORDER BY id"
            ),
        ),
        (
            "licenses",
            format!(
                "SELECT l.id, l.application_id, l.family_id, l.metric, l.assignment_type,
                     l.quantity, l.unlimited, l.legal_owner_id, l.automatic_allocation,
                     l.downgrade_rights, l.archived, l.incomplete, l.minimum_per_computer,
                     CASE WHEN ag.subscription THEN ag.start_date ELSE l.subscription_start END,
                     CASE WHEN ag.subscription THEN ag.end_date ELSE l.subscription_end END
                 FROM licenses l
                 LEFT JOIN agreements ag
                   ON ag.customer_id = l.customer_id AND ag.id = l.agreement_id
                 WHERE l.customer_id = {c} ORDER BY l.id"
            ),
        ),
        (
            "license_upgrades",
            format!(
                "SELECT upgrade_id, base_id, quantity FROM license_upgrades
                 WHERE customer_id = {c} ORDER BY upgrade_id, base_id"
            ),
        ),
        (
            "license_allocations",
            format!(
                "SELECT license_id, node_id, quantity FROM license_allocations
                 WHERE customer_id = {c} ORDER BY license_id, node_id"
            ),
        ),
        (
            "license_assignments",
            format!(
                "SELECT id, license_id, computer_id, user_id, quantity FROM license_assignments
                 WHERE customer_id = {c} ORDER BY id"
            ),
        ),
    ]
}

/// One raw read of the input.
struct RawRead {
    elapsed: Duration,
    bytes: u64,
    /// The installations' COPY alone.
    installations: Duration,
}

/// The tables the loader reads on its second connection while the first
/// reads the rest (`load.rs`, `read_rest`).
const SECOND_CONNECTION: [&str; 7] = [
    "users",
    "application_usage",
    "compliance_exclusions",
    "licenses",
    "license_upgrades",
    "license_allocations",
    "license_assignments",
];

/// Binary COPY-out of every input query, split over two connections the
/// way the loader splits them and in one snapshot the way it shares it
/// (the first exports it, the second imports it), draining the bytes;
/// timed from the first BEGIN until both COMMITs return.
async fn raw_read(
    database: &mut tokio_postgres::Client,
    second: &mut tokio_postgres::Client,
    queries: &[(&'static str, String)],
) -> anyhow::Result<RawRead> {
    let started = Instant::now();
    let first = read_only(database).await?;
    let snapshot: String = first
        .query_one("SELECT pg_export_snapshot()", &[])
        .await?
        .get(0);
    let other = read_only(second).await?;
    other
        .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .await?;
    let (rest, theirs): (Vec<_>, Vec<_>) = queries
        .iter()
        .partition(|(table, _)| !SECOND_CONNECTION.contains(table));
    let ((bytes, installations), (other_bytes, _)) =
        tokio::try_join!(copy_out(&first, &rest), copy_out(&other, &theirs))?;
    other.commit().await?;
    first.commit().await?;
    Ok(RawRead {
        elapsed: started.elapsed(),
        bytes: bytes + other_bytes,
        installations,
    })
}

async fn read_only(
    client: &mut tokio_postgres::Client,
) -> anyhow::Result<tokio_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// COPYs `queries` out one after another; the bytes and the time the
/// installations took.
async fn copy_out(
    transaction: &tokio_postgres::Transaction<'_>,
    queries: &[&(&'static str, String)],
) -> anyhow::Result<(u64, Duration)> {
    let mut bytes = 0u64;
    let mut installations = Duration::ZERO;
    for (table, query) in queries {
        let step = Instant::now();
        let stream = transaction
            .copy_out(&format!("COPY ({query}) TO STDOUT (FORMAT binary)"))
            .await?;
        let mut stream = pin!(stream);
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len() as u64;
        }
        if *table == "installations" {
            installations = step.elapsed();
        }
    }
    Ok((bytes, installations))
}

/// One progress message as it arrived.
struct Mark {
    phase: CalculationPhase,
    at: Instant,
}

fn is_engine(phase: CalculationPhase) -> bool {
    matches!(
        phase,
        CalculationPhase::Validating
            | CalculationPhase::Upgrades
            | CalculationPhase::Requirements
            | CalculationPhase::Assignments
            | CalculationPhase::FixedPools
            | CalculationPhase::AutomaticAllocation
            | CalculationPhase::Results
    )
}

/// What the store step reports after, in order: the start, then each of
/// the five result parts as it is written (the service hands them out to
/// its connections, so which part finishes when depends on the run; see
/// `store::Part`), then the finished run: the run row and the commits.
const STORE_STEPS: [&str; 6] = [
    "1st part",
    "2nd part",
    "3rd part",
    "4th part",
    "5th part",
    "run row + commits",
];

/// One full run, split by the progress it streamed.
struct FullRun {
    elapsed: Duration,
    read: Duration,
    compute: Duration,
    store: Duration,
    /// Each engine phase, in the order reported.
    engine: Vec<(CalculationPhase, Duration)>,
    /// [`STORE_STEPS`], when every step was reported.
    store_steps: Option<Vec<Duration>>,
    installations: i64,
    /// Requirement, coverage and compliance totals.
    totals: (i64, i64, i64),
    start_rss_kb: Option<u64>,
    peak_rss_kb: Option<u64>,
}

impl FullRun {
    fn other(&self) -> Duration {
        self.elapsed
            .saturating_sub(self.read + self.compute + self.store)
    }
}

/// A field of `/proc/self/status` in kB.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Calls `CalculateCompliance` through the gateway and times it, resetting
/// the process's peak RSS just before.
async fn full_run(
    client: &mut ComplianceServiceClient<Channel>,
    key: &str,
    customer: &Customer,
) -> anyhow::Result<FullRun> {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start_rss_kb = status_kb("VmRSS");
    let started = Instant::now();
    let mut stream = client
        .calculate_compliance(with_key(
            CalculateComplianceRequest {
                parent: customer.name.clone(),
            },
            key,
        ))
        .await?
        .into_inner();
    let mut marks = Vec::new();
    let mut run = None;
    while let Some(message) = stream.message().await? {
        marks.push(Mark {
            phase: message.phase(),
            at: Instant::now(),
        });
        if let Some(finished) = message.run {
            run = Some(finished);
        }
    }
    let ended = Instant::now();
    let peak_rss_kb = if reset { status_kb("VmHWM") } else { None };
    let run = run.ok_or_else(|| anyhow::anyhow!("the stream ended without the run"))?;
    anyhow::ensure!(
        run.state() == RunState::Succeeded,
        "the run failed: {run:?}"
    );

    let first = |wanted: &dyn Fn(CalculationPhase) -> bool| {
        marks
            .iter()
            .find(|mark| wanted(mark.phase))
            .map(|mark| mark.at)
    };
    let last = |wanted: &dyn Fn(CalculationPhase) -> bool| {
        marks
            .iter()
            .rev()
            .find(|mark| wanted(mark.phase))
            .map(|mark| mark.at)
    };
    let missing = || anyhow::anyhow!("a phase was not reported");
    let reading = |phase: CalculationPhase| phase == CalculationPhase::Reading;
    let storing = |phase: CalculationPhase| phase == CalculationPhase::Storing;
    let read_start = first(&reading).ok_or_else(missing)?;
    let read_end = last(&reading).ok_or_else(missing)?;
    let engine_start = first(&is_engine).ok_or_else(missing)?;
    let engine_end = last(&is_engine).ok_or_else(missing)?;
    let store_start = first(&storing).ok_or_else(missing)?;

    let mut engine: Vec<(CalculationPhase, Instant)> = Vec::new();
    for mark in marks.iter().filter(|mark| is_engine(mark.phase)) {
        if engine.last().is_none_or(|(phase, _)| *phase != mark.phase) {
            engine.push((mark.phase, mark.at));
        }
    }
    let ends = engine.iter().skip(1).map(|(_, at)| *at).chain([engine_end]);
    let engine = engine
        .iter()
        .zip(ends)
        .map(|((phase, start), end)| (*phase, end - *start))
        .collect();
    let stored: Vec<Instant> = marks
        .iter()
        .filter(|mark| storing(mark.phase))
        .map(|mark| mark.at)
        .chain([ended])
        .collect();
    let store_steps = (stored.len() == STORE_STEPS.len() + 1)
        .then(|| stored.windows(2).map(|pair| pair[1] - pair[0]).collect());
    let totals = run.totals.unwrap_or_default();
    Ok(FullRun {
        elapsed: ended - started,
        read: read_end - read_start,
        compute: engine_end - engine_start,
        store: ended - store_start,
        engine,
        store_steps,
        installations: run.installations,
        totals: (totals.requirement, totals.coverage, totals.compliance),
        start_rss_kb,
        peak_rss_kb,
    })
}

/// Removes the dead result rows a run left (untimed).
async fn vacuum_results(database: &tokio_postgres::Client) -> anyhow::Result<()> {
    database
        .batch_execute(&format!("VACUUM {}", RESULT_TABLES.join(", ")))
        .await?;
    Ok(())
}

/// Rows the latest run stored, per result table.
async fn result_rows(
    database: &tokio_postgres::Client,
    customer: Uuid,
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut counts = Vec::new();
    for table in &RESULT_TABLES[1..] {
        let row = database
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE customer_id = $1"),
                &[&customer],
            )
            .await?;
        counts.push((table.trim_start_matches("compliance_"), row.get(0)));
    }
    Ok(counts)
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

fn seconds(time: Duration) -> f64 {
    time.as_secs_f64()
}

/// Every measurement of one size.
struct SizeResult {
    computers: usize,
    installations: i64,
    raw: Vec<RawRead>,
    full: Vec<FullRun>,
}

impl SizeResult {
    fn raw_s(&self) -> f64 {
        median(self.raw.iter().map(|raw| seconds(raw.elapsed)).collect())
    }

    fn full_s(&self, part: impl Fn(&FullRun) -> Duration) -> f64 {
        median(self.full.iter().map(|run| seconds(part(run))).collect())
    }

    fn millions(&self) -> f64 {
        self.installations as f64 / 1e6
    }

    fn peak_mb(&self) -> Option<f64> {
        let peaks: Option<Vec<f64>> = self
            .full
            .iter()
            .map(|run| run.peak_rss_kb.map(|kb| kb as f64 / 1024.0))
            .collect();
        peaks.map(median)
    }

    fn start_mb(&self) -> Option<f64> {
        let starts: Option<Vec<f64>> = self
            .full
            .iter()
            .map(|run| run.start_rss_kb.map(|kb| kb as f64 / 1024.0))
            .collect();
        starts.map(median)
    }
}

fn iterations(computers: usize) -> usize {
    if computers <= 10_000 { 3 } else { 2 }
}

fn sizes() -> anyhow::Result<Vec<usize>> {
    let Some(value) = std::env::var("ESTATE_BENCH_SIZES")
        .ok()
        .filter(|value| !value.trim().is_empty())
    else {
        return Ok(DEFAULT_SIZES.to_vec());
    };
    let mut sizes = value
        .split(',')
        .map(|size| size.trim().replace('_', "").parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| anyhow::anyhow!("ESTATE_BENCH_SIZES={value}: {error}"))?;
    anyhow::ensure!(
        sizes.iter().all(|size| *size >= 100),
        "ESTATE_BENCH_SIZES: at least 100 computers"
    );
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}

/// Generates one size and measures it.
async fn measure_size(computers: usize) -> anyhow::Result<SizeResult> {
    println!("\n{computers} computers:");
    let platform = Platform::spawn().await?;
    let customer = create_customer(&platform, computers).await?;
    generate(&platform, &customer, computers).await?;
    let mut database = platform.database.connect().await?;
    let mut second = platform.database.connect().await?;
    for connection in [&database, &second] {
        connection
            .batch_execute("SET search_path = licensing")
            .await?;
    }
    let queries = input_queries(customer.id);
    let mut compliance = ComplianceServiceClient::new(platform.gateway_channel().await?);
    let key = platform.admin_key.clone();

    let warm_full = full_run(&mut compliance, &key, &customer).await?;
    vacuum_results(&database).await?;
    let warm_raw = raw_read(&mut database, &mut second, &queries).await?;
    let stored = result_rows(&database, customer.id).await?;
    println!(
        "  warm-up: full run {:.2} s, raw read {:.2} s ({:.1} MB); stored rows (chunks hold many results) {}",
        seconds(warm_full.elapsed),
        seconds(warm_raw.elapsed),
        warm_raw.bytes as f64 / 1e6,
        stored
            .iter()
            .map(|(table, rows)| format!("{rows} {table}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut result = SizeResult {
        computers,
        installations: warm_full.installations,
        raw: Vec::new(),
        full: Vec::new(),
    };
    for iteration in 0..iterations(computers) {
        let raw_first = iteration.is_multiple_of(2);
        let (mut raw, mut full) = (None, None);
        for raw_turn in [raw_first, !raw_first] {
            if raw_turn {
                raw = Some(raw_read(&mut database, &mut second, &queries).await?);
            } else {
                full = Some(full_run(&mut compliance, &key, &customer).await?);
                vacuum_results(&database).await?;
            }
        }
        let (Some(raw), Some(full)) = (raw, full) else {
            unreachable!("both sides ran");
        };
        anyhow::ensure!(
            full.totals == warm_full.totals && full.installations == warm_full.installations,
            "the same estate gave different results: {:?} then {:?}",
            warm_full.totals,
            full.totals
        );
        println!(
            "  iteration {} ({} first): raw {:.2} s, full {:.2} s (read {:.2}, compute {:.2}, \
             store {:.2}, other {:.2}), peak RSS {} MB",
            iteration + 1,
            if raw_first { "raw" } else { "full" },
            seconds(raw.elapsed),
            seconds(full.elapsed),
            seconds(full.read),
            seconds(full.compute),
            seconds(full.store),
            seconds(full.other()),
            full.peak_rss_kb.map_or_else(
                || "n/a".to_string(),
                |kb| format!("{:.0}", kb as f64 / 1024.0)
            ),
        );
        result.raw.push(raw);
        result.full.push(full);
    }
    let (requirement, coverage, balance) = warm_full.totals;
    println!(
        "  every run: requirement {requirement}, coverage {coverage}, compliance {balance}; \
         raw installations COPY {:.2} s of the raw read (median)",
        median(
            result
                .raw
                .iter()
                .map(|raw| seconds(raw.installations))
                .collect()
        )
    );
    drop(compliance);
    drop(database);
    platform.shutdown().await?;
    Ok(result)
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

fn print_report(results: &[SizeResult], run_started: Instant) {
    println!(
        "\nCalculateCompliance through the gateway vs raw binary COPY-out of the same input \
         rows; medians; times in s, s/M = compute seconds per million installations"
    );
    println!(
        "{:>9} {:>13} {:>8} {:>8} {:>8} {:>7} {:>8} {:>6} {:>8} {:>7} {:>8} {:>8}",
        "computers",
        "installations",
        "raw s",
        "full s",
        "full/raw",
        "read s",
        "compute",
        "s/M",
        "store s",
        "other",
        "peak MB",
        "start MB"
    );
    let optional =
        |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}"));
    for result in results {
        let raw = result.raw_s();
        let full = result.full_s(|run| run.elapsed);
        let compute = result.full_s(|run| run.compute);
        println!(
            "{:>9} {:>13} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>8.2} {:>6.2} {:>8.2} {:>7.2} \
             {:>8} {:>8}",
            result.computers,
            result.installations,
            raw,
            full,
            full / raw,
            result.full_s(|run| run.read),
            compute,
            compute / result.millions(),
            result.full_s(|run| run.store),
            result.full_s(FullRun::other),
            optional(result.peak_mb()),
            optional(result.start_mb()),
        );
    }
    println!(
        "peak MB: VmHWM of this process (client, gateway and all four services) during the \
         full run; start MB: its RSS when the peak was reset"
    );

    println!("\nEngine phases (median s):");
    for result in results {
        let phases: Vec<String> = result.full[0]
            .engine
            .iter()
            .enumerate()
            .map(|(index, (phase, _))| {
                let times = result
                    .full
                    .iter()
                    .filter_map(|run| run.engine.get(index).map(|(_, time)| seconds(*time)))
                    .collect();
                format!(
                    "{} {:.3}",
                    phase
                        .as_str_name()
                        .trim_start_matches("CALCULATION_PHASE_")
                        .to_lowercase(),
                    median(times)
                )
            })
            .collect();
        println!("{:>9}: {}", result.computers, phases.join(", "));
    }
    println!("Store steps (median s):");
    for result in results {
        let steps: Option<Vec<&Vec<Duration>>> = result
            .full
            .iter()
            .map(|run| run.store_steps.as_ref())
            .collect();
        let Some(steps) = steps else {
            println!("{:>9}: not every step was reported", result.computers);
            continue;
        };
        let line: Vec<String> = STORE_STEPS
            .iter()
            .enumerate()
            .map(|(index, label)| {
                let times = steps.iter().map(|run| seconds(run[index])).collect();
                format!("{label} {:.2}", median(times))
            })
            .collect();
        println!("{:>9}: {}", result.computers, line.join(", "));
    }

    if let [smallest, .., _] = results {
        println!(
            "\nGrowth vs {} computers: time ratio / size ratio (1.00 = linear)",
            smallest.computers
        );
        println!(
            "{:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "computers", "size ratio", "raw", "full", "read", "compute", "store"
        );
        for result in &results[1..] {
            let size = result.installations as f64 / smallest.installations as f64;
            let growth =
                |part: fn(&FullRun) -> Duration| result.full_s(part) / smallest.full_s(part) / size;
            println!(
                "{:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                result.computers,
                size,
                result.raw_s() / smallest.raw_s() / size,
                growth(|run| run.elapsed),
                growth(|run| run.read),
                growth(|run| run.compute),
                growth(|run| run.store),
            );
        }
    }

    println!("\nTargets:");
    for result in results {
        let ratio = result.full_s(|run| run.elapsed) / result.raw_s();
        let per_million = result.full_s(|run| run.compute) / result.millions();
        println!(
            "{:>9} computers: full run within 2x the raw read: {} ({ratio:.2}x); compute under \
             1 s per million installations: {} ({per_million:.2} s)",
            result.computers,
            met(ratio <= 2.0),
            met(per_million < 1.0),
        );
    }
    if let ([smallest, ..], Some(largest)) = (results, results.last())
        && results.len() > 1
    {
        let size = largest.installations as f64 / smallest.installations as f64;
        let full = largest.full_s(|run| run.elapsed) / smallest.full_s(|run| run.elapsed) / size;
        let compute = largest.full_s(|run| run.compute) / smallest.full_s(|run| run.compute) / size;
        println!(
            "near-linear growth {} -> {} computers (per-installation time at most \
             {LINEAR_TOLERANCE:.2}x): full run {} ({full:.2}x), compute {} ({compute:.2}x)",
            smallest.computers,
            largest.computers,
            met(full <= LINEAR_TOLERANCE),
            met(compute <= LINEAR_TOLERANCE),
        );
    }
    println!("(whole bench {:.0} s)", run_started.elapsed().as_secs_f64());
}

fn main() -> anyhow::Result<()> {
    // The allocator settings the `estate` binary runs the services with.
    estate_server::malloc::apply();
    bench()
}

#[tokio::main]
async fn bench() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing; nothing to list.
    }
    let run_started = Instant::now();
    let sizes = sizes()?;
    let mut results = Vec::new();
    for computers in sizes {
        results.push(measure_size(computers).await?);
    }
    print_report(&results, run_started);
    Ok(())
}
