//! Partner accounts and their customers' accounts. Every query is scoped by
//! distributor; a customer account also by partner.

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, PageRequest, SortColumn, SortedPage};
use estate_proto::names::{CustomerId, DistributorId, PartnerId};
use tokio_postgres::{GenericClient, Row};

use super::Lock;
use crate::rules::statuses::{LicenseStatus, PartnerKind, PartnerState};

/// A stored partner account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub distributor_id: DistributorId,
    /// The partner organization's id.
    pub id: PartnerId,
    pub kind: PartnerKind,
    pub status: PartnerState,
    pub acquisition_date: NaiveDate,
    pub region: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub status_time: DateTime<Utc>,
    /// The channel margin its billing reports start with, in basis points.
    pub margin_basis_points: i32,
}

/// What a partner's creator or editor sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerFields {
    pub kind: PartnerKind,
    pub acquisition_date: NaiveDate,
    pub region: String,
    pub margin_basis_points: i32,
}

pub const PARTNER_COLUMNS: &str = "p.distributor_id, p.id, p.type, p.status, p.acquisition_date, \
    p.region, p.revision, p.create_time, p.update_time, p.status_time, \
    p.channel_margin_basis_points";

pub fn partner(row: &Row) -> Partner {
    Partner {
        distributor_id: row.get(0),
        id: row.get(1),
        kind: row.get(2),
        status: row.get(3),
        acquisition_date: row.get(4),
        region: row.get(5),
        revision: row.get(6),
        create_time: row.get(7),
        update_time: row.get(8),
        status_time: row.get(9),
        margin_basis_points: row.get(10),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.partners::insert_partner", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert_partner(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: PartnerId,
    fields: &PartnerFields,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Partner, DbError> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO partners AS p (distributor_id, id, type, status, acquisition_date,
                     region, request_id, revision, create_time, update_time, status_time,
                     channel_margin_basis_points)
                 VALUES ($1, $2, $3, 'active', $4, $5, $6, 1, $7, $7, $7, $8)
                 RETURNING {PARTNER_COLUMNS}"
            ),
            &[
                &distributor_id,
                &id,
                &fields.kind,
                &fields.acquisition_date,
                &fields.region,
                &request_id,
                &now,
                &fields.margin_basis_points,
            ],
        )
        .await?;
    Ok(partner(&row))
}

/// One partner.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.partners::get_partner", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_partner(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: PartnerId,
    lock: Lock,
) -> Result<Option<Partner>, DbError> {
    let lock = lock.clause();
    let row = client
        .query_opt(
            &format!(
                "SELECT {PARTNER_COLUMNS} FROM partners p
                 WHERE p.distributor_id = $1 AND p.id = $2{lock}"
            ),
            &[&distributor_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(partner))
}

/// Stores `fields` over a partner read (locked) before.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.partners::update_partner", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn update_partner(
    client: &impl GenericClient,
    stored: &Partner,
    fields: &PartnerFields,
    now: DateTime<Utc>,
) -> Result<Partner, DbError> {
    let row = client
        .query_one(
            &format!(
                "UPDATE partners p
                 SET type = $3, acquisition_date = $4, region = $5,
                     revision = revision + 1, update_time = $6,
                     channel_margin_basis_points = $7
                 WHERE p.distributor_id = $1 AND p.id = $2
                 RETURNING {PARTNER_COLUMNS}"
            ),
            &[
                &stored.distributor_id,
                &stored.id,
                &fields.kind,
                &fields.acquisition_date,
                &fields.region,
                &now,
                &fields.margin_basis_points,
            ],
        )
        .await?;
    Ok(partner(&row))
}

/// Moves a partner read (locked) before to `status`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.partners::set_partner_status", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn set_partner_status(
    client: &impl GenericClient,
    stored: &Partner,
    status: PartnerState,
    now: DateTime<Utc>,
) -> Result<Partner, DbError> {
    let row = client
        .query_one(
            &format!(
                "UPDATE partners p
                 SET status = $3, status_time = $4, revision = revision + 1, update_time = $4,
                     standing_revision = revision + 1
                 WHERE p.distributor_id = $1 AND p.id = $2
                 RETURNING {PARTNER_COLUMNS}"
            ),
            &[&stored.distributor_id, &stored.id, &status, &now],
        )
        .await?;
    Ok(partner(&row))
}

/// Filters of a partner listing.
#[derive(Debug, Clone, Default)]
pub struct PartnerFilter {
    /// Empty: any.
    pub statuses: Vec<PartnerState>,
    pub kind: Option<PartnerKind>,
    pub region: Option<String>,
    pub acquired_from: Option<NaiveDate>,
    pub acquired_to: Option<NaiveDate>,
}

pub const PARTNER_SORT: &[SortColumn] = &[
    SortColumn::new("acquisition_date", "p.acquisition_date", "date"),
    SortColumn::new("region", "p.region", "text"),
    SortColumn::new("status", "p.status", "text"),
    SortColumn::new("type", "p.type", "text"),
];

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.partners::list_partners", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_partners(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    filter: &PartnerFilter,
    page: &SortedPage,
) -> Result<(Vec<Partner>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {PARTNER_COLUMNS}"),
        "FROM partners p
         WHERE p.distributor_id = $1
           AND (cardinality($2::text[]) = 0 OR p.status = ANY($2))
           AND ($3::text IS NULL OR p.type = $3)
           AND ($4::text IS NULL OR p.region = $4)
           AND ($5::date IS NULL OR p.acquisition_date >= $5)
           AND ($6::date IS NULL OR p.acquisition_date <= $6)",
        "p.id",
        &[
            &distributor_id,
            &filter.statuses,
            &filter.kind,
            &filter.region,
            &filter.acquired_from,
            &filter.acquired_to,
        ],
        partner,
    )
    .await
}

/// A stored customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccount {
    pub distributor_id: DistributorId,
    pub partner_id: PartnerId,
    /// The customer organization's id.
    pub id: CustomerId,
    pub enabled: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str =
    "c.distributor_id, c.partner_id, c.id, c.enabled, c.revision, c.create_time, c.update_time";

fn customer(row: &Row) -> CustomerAccount {
    CustomerAccount {
        distributor_id: row.get(0),
        partner_id: row.get(1),
        id: row.get(2),
        enabled: row.get(3),
        revision: row.get(4),
        create_time: row.get(5),
        update_time: row.get(6),
    }
}

/// Opens a customer account below `partner` while the partner is active
/// (checked and held in the same statement); `None` when it is not.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.partners::insert_customer", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn insert_customer(
    client: &impl GenericClient,
    partner: &Partner,
    id: CustomerId,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<CustomerAccount>, DbError> {
    let row = client
        .query_opt(
            &format!(
                "INSERT INTO customer_accounts AS c (distributor_id, partner_id, id, enabled,
                     request_id, revision, create_time, update_time)
                 SELECT $1, $2, $3, true, $4, 1, $5, $5
                 WHERE EXISTS (SELECT 1 FROM partners p
                               WHERE p.distributor_id = $1 AND p.id = $2
                                 AND p.status = 'active' FOR SHARE)
                 RETURNING {CUSTOMER_COLUMNS}"
            ),
            &[&partner.distributor_id, &partner.id, &id, &request_id, &now],
        )
        .await?;
    Ok(row.as_ref().map(customer))
}

/// One customer account.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.partners::get_customer", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_customer(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    partner_id: PartnerId,
    id: CustomerId,
    lock: Lock,
) -> Result<Option<CustomerAccount>, DbError> {
    let lock = lock.clause();
    let row = client
        .query_opt(
            &format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customer_accounts c
                 WHERE c.distributor_id = $1 AND c.partner_id = $2 AND c.id = $3{lock}"
            ),
            &[&distributor_id, &partner_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(customer))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.partners::set_customer_enabled", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn set_customer_enabled(
    client: &impl GenericClient,
    stored: &CustomerAccount,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<CustomerAccount, DbError> {
    let row = client
        .query_one(
            &format!(
                "UPDATE customer_accounts c
                 SET enabled = $4, revision = revision + 1, update_time = $5
                 WHERE c.distributor_id = $1 AND c.partner_id = $2 AND c.id = $3
                 RETURNING {CUSTOMER_COLUMNS}"
            ),
            &[
                &stored.distributor_id,
                &stored.partner_id,
                &stored.id,
                &enabled,
                &now,
            ],
        )
        .await?;
    Ok(customer(&row))
}

/// Customer accounts of a distributor, of one partner when `partner_id` is
/// set, oldest first; with `license_status`, only those with a license in
/// that status on `today`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.partners::list_customers", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_customers(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    partner_id: Option<PartnerId>,
    enabled: Option<bool>,
    license_status: Option<LicenseStatus>,
    today: NaiveDate,
    page: &PageRequest,
) -> Result<Vec<CustomerAccount>, DbError> {
    let licenses = super::license_status::SELECT;
    let rows = client
        .query(
            &format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customer_accounts c
                 WHERE c.distributor_id = $2
                   AND ($3::uuid IS NULL OR c.partner_id = $3)
                   AND ($4::boolean IS NULL OR c.enabled = $4)
                   AND ($5::uuid IS NULL OR c.id > $5)
                   AND ($7::text IS NULL OR EXISTS (
                        SELECT 1 FROM ({licenses} WHERE l.customer_id = c.id) s
                        WHERE s.status = $7))
                   -- As the dashboard counts: a canceled partner's customers
                   -- are in no license status.
                   AND ($7::text IS NULL OR NOT EXISTS (
                        SELECT 1 FROM partners p
                        WHERE p.distributor_id = c.distributor_id AND p.id = c.partner_id
                          AND p.status = 'canceled'))
                 ORDER BY c.id LIMIT $6"
            ),
            &[
                &today,
                &distributor_id,
                &partner_id,
                &enabled,
                &page.after,
                &page.fetch_limit(),
                &license_status,
            ],
        )
        .await?;
    Ok(rows.iter().map(customer).collect())
}

/// A partner status the customers service has not confirmed yet.
#[derive(Debug, Clone)]
pub struct StandingDue {
    pub id: PartnerId,
    pub status: PartnerState,
    pub revision: i64,
}

/// Up to `limit` partners whose status change the customers service has
/// not confirmed, oldest change first.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.partners::standings_due", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn standings_due(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<StandingDue>, DbError> {
    let rows = client
        .query(
            "SELECT id, status, standing_revision FROM partners
             WHERE standing_delivered < standing_revision
             ORDER BY status_time LIMIT $1",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StandingDue {
            id: row.get(0),
            status: row.get(1),
            revision: row.get(2),
        })
        .collect())
}

/// Records that the customers service has the partner's status as of
/// `revision`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.partners::standing_delivered", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn standing_delivered(
    client: &impl GenericClient,
    partner: PartnerId,
    revision: i64,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE partners SET standing_delivered = greatest(standing_delivered, $2)
             WHERE id = $1",
            &[&partner, &revision],
        )
        .await?;
    Ok(())
}

/// Disables every enabled customer account of a partner; how many.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.partners::disable_customers", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn disable_customers(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    partner_id: PartnerId,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    Ok(client
        .execute(
            "UPDATE customer_accounts
             SET enabled = false, revision = revision + 1, update_time = $3
             WHERE distributor_id = $1 AND partner_id = $2 AND enabled",
            &[&distributor_id, &partner_id, &now],
        )
        .await?)
}
