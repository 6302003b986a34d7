//! The partner overview read model: `overview_rows`, one per (partner,
//! customer) grant. [`refresh`] re-derives the rows of some customers from
//! their facts with [`crate::rules::overview::derive`]; every write that
//! changes a fact calls it in the same transaction, and rows whose
//! `next_change_time` has passed are refreshed before they are read
//! ([`refresh_due`]), so the overview is never stale and never computed
//! per row at read time.

use estate_proto::names::OrganizationId;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use estate_db::DbError;
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row};

use super::entitlements;
use crate::rules::beacons::{BeaconFacts, Reported};
use crate::rules::expirations::{ExpirationStatus, Held, UpcomingExpiration};
use crate::rules::overview::{
    ApplicationFigures, ComplianceFigures, ComputerFigures, ProductFigures, RowFacts, SaasFigures,
    Snapshot, VisibleMetrics, derive,
};
use crate::rules::status::{CustomerStatus, RunState, SyncFacts};

/// Everything about one customer's sync that the rows need.
struct CustomerFacts {
    display_name: String,
    external_id: String,
    sync: SyncFacts,
    snapshot: Option<Snapshot>,
    computers_30_days_earlier: Option<i64>,
    beacon_count: i64,
    /// Every beacon of the customer, for their health.
    beacons: Vec<BeaconFacts>,
    /// The time to derive the customer's rows at (see [`derivation_time`]).
    derive_at: DateTime<Utc>,
}

const CUSTOMER_FACTS: &str = "
    SELECT o.id, o.display_name, coalesce(o.external_id, '') AS external_id,
           (SELECT r.state FROM sync_runs r WHERE r.customer_id = o.id
            ORDER BY r.id DESC LIMIT 1) AS latest_state,
           s.end_time AS last_success_time,
           (SELECT min(r.create_time) FROM sync_runs r
            WHERE r.customer_id = o.id AND r.id > s.id) AS first_run_after_success,
           snap.computers, snap.applications, snap.saas, snap.license_usage, snap.compliance,
           (SELECT (earlier.computers ->> 'total')::bigint FROM sync_snapshots earlier
            WHERE earlier.customer_id = o.id AND earlier.computers IS NOT NULL
              AND earlier.taken_time <= snap.taken_time - interval '30 days'
            ORDER BY earlier.taken_time DESC LIMIT 1) AS computers_30_days_earlier,
           (SELECT count(*) FROM beacons b WHERE b.customer_id = o.id) AS beacon_count,
           (SELECT coalesce(array_agg(b.status ORDER BY b.id), '{}') FROM beacons b
            WHERE b.customer_id = o.id) AS beacon_statuses,
           (SELECT coalesce(array_agg(b.last_contact_time ORDER BY b.id), '{}') FROM beacons b
            WHERE b.customer_id = o.id) AS beacon_contacts,
           (SELECT coalesce(array_agg(b.silent_after_seconds ORDER BY b.id), '{}')
            FROM beacons b WHERE b.customer_id = o.id) AS beacon_silent_after,
           (SELECT max(v.derived_time) FROM overview_rows v
            WHERE v.customer_id = o.id) AS derived_time
    FROM organizations o
    LEFT JOIN LATERAL (
        SELECT r.id, r.end_time FROM sync_runs r
        WHERE r.customer_id = o.id AND r.state = 'succeeded'
        ORDER BY r.id DESC LIMIT 1
    ) s ON true
    LEFT JOIN sync_snapshots snap ON snap.run_id = s.id
    WHERE o.id = ANY($1)";

fn customer_facts(row: &Row, now: DateTime<Utc>) -> CustomerFacts {
    let computers: Option<Json<ComputerFigures>> = row.get("computers");
    let applications: Option<Json<ApplicationFigures>> = row.get("applications");
    let saas: Option<Json<SaasFigures>> = row.get("saas");
    let license_usage: Option<Json<Vec<ProductFigures>>> = row.get("license_usage");
    let compliance: Option<Json<ComplianceFigures>> = row.get("compliance");
    let last_success_time: Option<DateTime<Utc>> = row.get("last_success_time");
    let snapshot = last_success_time.map(|_| Snapshot {
        computers: computers.map(|Json(figures)| figures),
        applications: applications.map(|Json(figures)| figures),
        saas: saas.map(|Json(figures)| figures),
        license_usage: license_usage.map(|Json(products)| products),
        compliance: compliance.map(|Json(figures)| figures),
    });
    CustomerFacts {
        display_name: row.get("display_name"),
        external_id: row.get("external_id"),
        sync: SyncFacts {
            latest_run: row
                .get::<_, Option<&str>>("latest_state")
                .map(RunState::parse),
            last_success_time,
            first_run_after_success: row.get("first_run_after_success"),
            silent_computers: snapshot
                .as_ref()
                .and_then(|snapshot| snapshot.computers)
                .map(|computers| computers.not_inventoried_for_over_7_days),
            denied_installed: snapshot
                .as_ref()
                .and_then(|snapshot| snapshot.applications)
                .map(|applications| applications.denied_installed),
        },
        snapshot,
        computers_30_days_earlier: row.get("computers_30_days_earlier"),
        beacon_count: row.get("beacon_count"),
        beacons: {
            let statuses: Vec<String> = row.get("beacon_statuses");
            let contacts: Vec<DateTime<Utc>> = row.get("beacon_contacts");
            let silent_after: Vec<i32> = row.get("beacon_silent_after");
            statuses
                .iter()
                .zip(contacts)
                .zip(silent_after)
                .map(|((status, last_contact), seconds)| BeaconFacts {
                    reported: Reported::parse(status),
                    last_contact,
                    silent_after: chrono::Duration::seconds(i64::from(seconds)),
                })
                .collect()
        },
        derive_at: derivation_time(row.get("id"), row.get("derived_time"), now),
    }
}

/// Re-derives every overview row of `customers`: rows for their grants
/// are written, rows without a grant removed. Call it inside the
/// transaction that changed a fact. It locks the customers' organization
/// rows in id order, so a transaction calls it once for customers other
/// transactions can see (a second call could take locks out of order
/// against another one), and should hold no row locks before it that a
/// holder of an organization lock may want (deleting an organization
/// locks it, then its sync runs). PostgreSQL breaks such a deadlock by
/// failing one side, which callers see as a retryable conflict.
/// Customers created in the same transaction are safe to add.
///
/// Refreshes of a customer take turns: the customers' organization rows
/// are locked first, so the facts read afterwards include everything
/// committed by the refresh before. Each row is derived at the later of
/// `now` and the time its customer's rows were last derived at (within
/// [`DERIVED_AHEAD_AT_MOST`]): a caller that read its clock before another
/// refresh committed (a scheduler pass, a replica whose clock is a little
/// behind) brings in its facts without taking the row back in time.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.overview::refresh", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn refresh(
    client: &impl GenericClient,
    customers: &[OrganizationId],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if customers.is_empty() {
        return Ok(());
    }
    let mut customers = customers.to_vec();
    customers.sort_unstable();
    customers.dedup();
    client
        .execute(
            "SELECT 1 FROM organizations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&customers],
        )
        .await?;
    let facts: HashMap<OrganizationId, CustomerFacts> = client
        .query(CUSTOMER_FACTS, &[&customers])
        .await?
        .iter()
        .map(|row| (row.get("id"), customer_facts(row, now)))
        .collect();
    let mut held: HashMap<OrganizationId, Vec<Held>> = HashMap::new();
    for entitlement in entitlements::for_organizations(client, &customers).await? {
        held.entry(entitlement.organization_id)
            .or_default()
            .push(entitlement.held);
    }
    let grant_rows = client
        .query(
            "SELECT customer_id, partner_id, mode, start_time, end_time, update_time
             FROM access_grants WHERE customer_id = ANY($1)",
            &[&customers],
        )
        .await?;

    let mut columns = RowColumns::default();
    for grant in &grant_rows {
        let customer_id: OrganizationId = grant.get("customer_id");
        let Some(customer) = facts.get(&customer_id) else {
            continue;
        };
        let held = held.get(&customer_id).map_or(&[][..], Vec::as_slice);
        let derived = derive(
            &RowFacts {
                grant: crate::rules::status::GrantMode::from_columns(
                    grant.get("mode"),
                    grant.get("start_time"),
                    grant.get("end_time"),
                ),
                grant_changed: grant.get("update_time"),
                sync: customer.sync,
                snapshot: customer.snapshot.as_ref(),
                computers_30_days_earlier: customer.computers_30_days_earlier,
                held,
                beacons: &customer.beacons,
            },
            customer.derive_at,
        );
        columns.push(grant.get("partner_id"), customer_id, customer, derived);
    }
    columns.write(client, &customers).await
}

/// How far ahead of a refresher's clock a row's last derivation may be and
/// still be kept to: enough for a scheduler pass that read its clock a
/// little before another refresh, or replicas a little apart; a stored
/// time further ahead came from a clock that was wrong, and following it
/// would keep every later refresh in that clock's future.
const DERIVED_AHEAD_AT_MOST: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The time to derive a customer's rows at: the later of `now` and the
/// last derivation, unless that is implausibly far ahead.
fn derivation_time(
    customer_id: OrganizationId,
    derived: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match derived {
        Some(derived) if derived > now + DERIVED_AHEAD_AT_MOST => {
            tracing::warn!(
                %customer_id, %derived, %now,
                "overview rows were derived further ahead than clocks may differ; using this clock"
            );
            now
        }
        Some(derived) => derived.max(now),
        None => now,
    }
}

/// The rows to write, column by column, for one `unnest` upsert.
#[derive(Default)]
struct RowColumns {
    partner_id: Vec<OrganizationId>,
    customer_id: Vec<OrganizationId>,
    display_name: Vec<String>,
    external_id: Vec<String>,
    status: Vec<i16>,
    overdue: Vec<bool>,
    beacon_count: Vec<i64>,
    beacon_problems: Vec<i64>,
    upcoming_kind: Vec<i16>,
    upcoming_time: Vec<Option<DateTime<Utc>>>,
    expiration_status: Vec<i16>,
    last_success: Vec<Option<DateTime<Utc>>>,
    computers_total: Vec<Option<i64>>,
    applications_total: Vec<Option<i64>>,
    metrics: Vec<Json<VisibleMetrics>>,
    next_change: Vec<Option<DateTime<Utc>>>,
    derived_time: Vec<DateTime<Utc>>,
}

impl RowColumns {
    fn push(
        &mut self,
        partner_id: OrganizationId,
        customer_id: OrganizationId,
        customer: &CustomerFacts,
        derived: crate::rules::overview::DerivedRow,
    ) {
        let (upcoming_kind, upcoming_time) = upcoming_columns(derived.upcoming_expiration);
        self.partner_id.push(partner_id);
        self.customer_id.push(customer_id);
        self.display_name.push(customer.display_name.clone());
        self.external_id.push(customer.external_id.clone());
        self.status.push(derived.status as i16);
        self.overdue.push(derived.sync_pending_overdue);
        // Withheld while access is disabled (see `DerivedRow`).
        let shown = derived.shows_activity;
        self.beacon_count
            .push(if shown { customer.beacon_count } else { 0 });
        self.beacon_problems.push(derived.beacon_problems);
        self.upcoming_kind.push(upcoming_kind);
        self.upcoming_time.push(upcoming_time);
        self.expiration_status
            .push(expiration_status_column(derived.expiration_status));
        self.last_success
            .push(customer.sync.last_success_time.filter(|_| shown));
        self.computers_total
            .push(derived.metrics.computers.map(|computers| computers.total));
        self.applications_total.push(
            derived
                .metrics
                .applications
                .map(|applications| applications.total),
        );
        self.metrics.push(Json(derived.metrics));
        self.next_change.push(derived.next_change);
        self.derived_time.push(customer.derive_at);
    }

    async fn write(
        self,
        client: &impl GenericClient,
        customers: &[OrganizationId],
    ) -> Result<(), DbError> {
        client
            .execute(
                "DELETE FROM overview_rows r
                 WHERE r.customer_id = ANY($1) AND NOT EXISTS (
                     SELECT 1 FROM access_grants g
                     WHERE g.customer_id = r.customer_id AND g.partner_id = r.partner_id)",
                &[&customers],
            )
            .await?;
        if self.partner_id.is_empty() {
            return Ok(());
        }
        client
            .execute(
                include_str!("../../sql/refresh_overview_rows.sql"),
                &[
                    &self.partner_id,
                    &self.customer_id,
                    &self.display_name,
                    &self.external_id,
                    &self.status,
                    &self.overdue,
                    &self.beacon_count,
                    &self.upcoming_kind,
                    &self.upcoming_time,
                    &self.expiration_status,
                    &self.last_success,
                    &self.computers_total,
                    &self.applications_total,
                    &self.metrics,
                    &self.next_change,
                    &self.derived_time,
                    &self.beacon_problems,
                ],
            )
            .await?;
        Ok(())
    }
}

/// `upcoming_expiration_kind` values, equal to the proto enum's numbers;
/// withheld shows as unavailable ("-").
fn upcoming_columns(upcoming: Option<UpcomingExpiration>) -> (i16, Option<DateTime<Utc>>) {
    match upcoming {
        Some(UpcomingExpiration::Date(date)) => (1, Some(date)),
        Some(UpcomingExpiration::NoExpirations) => (2, None),
        Some(UpcomingExpiration::NoEntitlements) => (3, None),
        None => (4, None),
    }
}

/// `expiration_status` values, equal to the proto enum's numbers (and in
/// the order a sort should put them: most urgent first).
fn expiration_status_column(status: Option<ExpirationStatus>) -> i16 {
    match status {
        Some(ExpirationStatus::Expired) => 1,
        Some(ExpirationStatus::ExpiresIn30Days) => 2,
        Some(ExpirationStatus::ExpiresIn60Days) => 3,
        Some(ExpirationStatus::None) => 4,
        // Withheld: unspecified, which no filter matches.
        None => 0,
    }
}

/// Refreshes rows whose `next_change_time` has come, of one partner or of
/// everyone; at most `limit` customers per call.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "customers.overview::refresh_due", otel.kind = "client", db.system.name = "postgresql"))]
pub async fn refresh_due(
    client: &impl GenericClient,
    partner_id: Option<OrganizationId>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<(), DbError> {
    let customers = due(client, partner_id, now, limit).await?;
    refresh(client, &customers, now).await
}

/// The customers with rows whose `next_change_time` has come, of one
/// partner or of everyone; at most `limit` (with repeats when a customer
/// has several partners, which [`refresh`] removes).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview::due", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn due(
    client: &impl GenericClient,
    partner_id: Option<OrganizationId>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<OrganizationId>, DbError> {
    let rows = match partner_id {
        Some(partner_id) => {
            client
                .query(
                    "SELECT customer_id FROM overview_rows
                     WHERE partner_id = $1 AND next_change_time <= $2
                     ORDER BY next_change_time LIMIT $3",
                    &[&partner_id, &now, &limit],
                )
                .await?
        }
        None => {
            client
                .query(
                    "SELECT customer_id FROM overview_rows
                     WHERE next_change_time <= $1
                     ORDER BY next_change_time LIMIT $2",
                    &[&now, &limit],
                )
                .await?
        }
    };
    // Ordered by the due time so the `*_due` indexes serve the scan.
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Whether any of the partner's rows is due for a refresh: the partner's
/// earliest `next_change_time`, read from the end of its index (an
/// `EXISTS (... <= $2)` probe let the planner pick a scan of the whole
/// table, expecting an early match that never comes when nothing is due).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview::any_due", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn any_due(
    client: &estate_db::Connection,
    partner_id: OrganizationId,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let statement = client
        .prepare_cached(
            "SELECT next_change_time FROM overview_rows
             WHERE partner_id = $1 AND next_change_time IS NOT NULL
             ORDER BY next_change_time LIMIT 1",
        )
        .await?;
    let earliest: Option<DateTime<Utc>> = client
        .query_opt(&statement, &[&partner_id])
        .await?
        .map(|row| row.get(0));
    Ok(earliest.is_some_and(|earliest| earliest <= now))
}

/// A stored row as the API shows it.
#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub customer_id: OrganizationId,
    pub display_name: String,
    pub external_id: String,
    pub status: CustomerStatus,
    pub sync_pending_overdue: bool,
    pub beacon_count: i64,
    /// Beacons silent or reporting a problem when the row was derived.
    pub beacon_problems: i64,
    pub upcoming_expiration_kind: i16,
    pub upcoming_expiration_time: Option<DateTime<Utc>>,
    pub expiration_status: i16,
    pub last_successful_sync_time: Option<DateTime<Utc>>,
    pub metrics: VisibleMetrics,
    pub favorite: bool,
    /// The sort column's value as text, for the page token.
    pub sort_key: String,
}

pub(super) const ROW_COLUMNS: &str = "r.customer_id, r.display_name, r.external_id, r.status, \
     r.sync_pending_overdue, r.beacon_count, r.upcoming_expiration_kind, \
     r.upcoming_expiration_time, r.expiration_status, r.last_successful_sync_time, r.metrics, \
     r.beacon_problems";

pub(super) fn row_from(row: &Row, favorite: bool) -> OverviewRow {
    let Json(metrics) = row.get("metrics");
    OverviewRow {
        customer_id: row.get("customer_id"),
        display_name: row.get("display_name"),
        external_id: row.get("external_id"),
        status: CustomerStatus::from_rank(row.get("status")),
        sync_pending_overdue: row.get("sync_pending_overdue"),
        beacon_count: row.get("beacon_count"),
        beacon_problems: row.get("beacon_problems"),
        upcoming_expiration_kind: row.get("upcoming_expiration_kind"),
        upcoming_expiration_time: row.get("upcoming_expiration_time"),
        expiration_status: row.get("expiration_status"),
        last_successful_sync_time: row.get("last_successful_sync_time"),
        metrics,
        favorite,
        sort_key: row.try_get("sort_key").unwrap_or_default(),
    }
}

/// One partner's row for one customer.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    partner_id: OrganizationId,
    customer_id: OrganizationId,
    subject: &str,
) -> Result<Option<OverviewRow>, DbError> {
    let statement = format!(
        "SELECT {ROW_COLUMNS}, EXISTS (SELECT 1 FROM favorites f WHERE f.subject = $3
             AND f.partner_id = r.partner_id AND f.customer_id = r.customer_id) AS favorite
         FROM overview_rows r WHERE r.partner_id = $1 AND r.customer_id = $2"
    );
    let row = client
        .query_opt(&statement, &[&partner_id, &customer_id, &subject])
        .await?;
    Ok(row.map(|row| {
        let favorite = row.get("favorite");
        row_from(&row, favorite)
    }))
}

/// Every row of a partner, name order (favorites aside).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview::all_of_partner", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn all_of_partner(
    client: &impl GenericClient,
    partner_id: OrganizationId,
) -> Result<Vec<OverviewRow>, DbError> {
    let statement = format!(
        "SELECT {ROW_COLUMNS} FROM overview_rows r WHERE r.partner_id = $1
         ORDER BY r.display_name, r.customer_id"
    );
    let rows = client.query(&statement, &[&partner_id]).await?;
    Ok(rows.iter().map(|row| row_from(row, false)).collect())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT customers.overview::set_favorite", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn set_favorite(
    client: &impl GenericClient,
    subject: &str,
    partner_id: OrganizationId,
    customer_id: OrganizationId,
    favorite: bool,
) -> Result<(), DbError> {
    if favorite {
        client
            .execute(
                "INSERT INTO favorites (subject, partner_id, customer_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&subject, &partner_id, &customer_id],
            )
            .await?;
    } else {
        client
            .execute(
                "DELETE FROM favorites WHERE subject = $1 AND partner_id = $2 AND customer_id = $3",
                &[&subject, &partner_id, &customer_id],
            )
            .await?;
    }
    Ok(())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview::count_favorites", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn count_favorites(
    client: &impl GenericClient,
    subject: &str,
    partner_id: OrganizationId,
) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM favorites WHERE subject = $1 AND partner_id = $2",
            &[&subject, &partner_id],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    #[test]
    fn rows_are_derived_at_the_later_time_unless_it_is_implausibly_far_ahead() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let customer = OrganizationId::default();
        let at = |derived| derivation_time(customer, derived, now);
        assert_eq!(at(None), now);
        assert_eq!(at(Some(now - TimeDelta::hours(1))), now);
        let ahead = now + TimeDelta::minutes(1);
        assert_eq!(at(Some(ahead)), ahead);
        assert_eq!(
            at(Some(now + DERIVED_AHEAD_AT_MOST)),
            now + DERIVED_AHEAD_AT_MOST
        );
        // A clock that jumped ahead once does not hold every later
        // refresh in its future.
        assert_eq!(at(Some(now + TimeDelta::days(1))), now);
    }
}
