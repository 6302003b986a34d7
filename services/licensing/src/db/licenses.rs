//! Licenses with their upgrade links, manual allocations and assignment
//! totals. Every query is scoped by customer.

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::{CustomerId, LicenseId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::rules::archive::{Graph, LicenseNode};
use crate::rules::licenses::{Draft, Quantity};

/// A stored license.
#[derive(Debug, Clone)]
pub struct License {
    pub customer_id: CustomerId,
    pub id: LicenseId,
    pub draft: Draft,
    pub incomplete: bool,
    pub missing_fields: Vec<String>,
    pub archived: bool,
    pub archive_time: Option<DateTime<Utc>>,
    /// The agreement's period when it is a subscription agreement.
    pub agreement_period: Option<(NaiveDate, NaiveDate)>,
    pub allocations: Vec<(Uuid, i64)>,
    pub assigned: i64,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl License {
    /// The subscription period that counts: the subscription agreement's,
    /// else the license's own.
    pub fn effective_subscription(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.agreement_period.or(self.draft.subscription)
    }
}

/// Which licenses a list returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    pub include_archived: bool,
    pub only_incomplete: bool,
    pub application_id: Option<Uuid>,
}

const SELECT: &str = "SELECT l.*,
     ARRAY(SELECT u.base_id FROM license_upgrades u
           WHERE u.customer_id = l.customer_id AND u.upgrade_id = l.id ORDER BY u.base_id)
         AS upgrade_bases,
     ARRAY(SELECT u.quantity FROM license_upgrades u
           WHERE u.customer_id = l.customer_id AND u.upgrade_id = l.id ORDER BY u.base_id)
         AS upgrade_quantities,
     ARRAY(SELECT a.node_id FROM license_allocations a
           WHERE a.customer_id = l.customer_id AND a.license_id = l.id ORDER BY a.node_id)
         AS allocation_nodes,
     ARRAY(SELECT a.quantity FROM license_allocations a
           WHERE a.customer_id = l.customer_id AND a.license_id = l.id ORDER BY a.node_id)
         AS allocation_quantities,
     (SELECT coalesce(sum(s.quantity), 0)::bigint FROM license_assignments s
      WHERE s.customer_id = l.customer_id AND s.license_id = l.id) AS assigned,
     CASE WHEN ag.subscription THEN ag.start_date END AS agreement_start,
     CASE WHEN ag.subscription THEN ag.end_date END AS agreement_end";

const FROM: &str = " FROM licenses l
 LEFT JOIN agreements ag ON ag.customer_id = l.customer_id AND ag.id = l.agreement_id";

fn from_row(row: &Row) -> License {
    let quantity = match (row.get::<_, Option<i64>>("quantity"), row.get("unlimited")) {
        (_, true) => Some(Quantity::Unlimited),
        (Some(count), false) => Some(Quantity::Count(count)),
        (None, false) => None,
    };
    let price = match (
        row.get::<_, Option<String>>("price_currency"),
        row.get::<_, Option<i64>>("price_amount_minor"),
    ) {
        (Some(currency), Some(amount)) => Some((currency, amount)),
        _ => None,
    };
    let subscription = match (
        row.get::<_, Option<NaiveDate>>("subscription_start"),
        row.get::<_, Option<NaiveDate>>("subscription_end"),
    ) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    let agreement_period = match (
        row.get::<_, Option<NaiveDate>>("agreement_start"),
        row.get::<_, Option<NaiveDate>>("agreement_end"),
    ) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    let custom_fields: serde_json::Value = row.get("custom_fields");
    let custom_fields = serde_json::from_value(custom_fields).unwrap_or_default();
    let bases: Vec<Uuid> = row.get("upgrade_bases");
    let base_quantities: Vec<i64> = row.get("upgrade_quantities");
    let nodes: Vec<Uuid> = row.get("allocation_nodes");
    let node_quantities: Vec<i64> = row.get("allocation_quantities");
    License {
        customer_id: row.get("customer_id"),
        id: row.get("id"),
        draft: Draft {
            application_id: row.get("application_id"),
            family_id: row.get("family_id"),
            metric: row
                .get::<_, Option<&str>>("metric")
                .and_then(crate::rules::licenses::known_metric),
            assignment_type: row
                .get::<_, Option<&str>>("assignment_type")
                .and_then(crate::rules::licenses::known_assignment_type),
            quantity,
            legal_owner_id: row.get("legal_owner_id"),
            purchase_date: row.get("purchase_date"),
            price,
            vendor: row.get("vendor"),
            invoice_reference: row.get("invoice_reference"),
            custom_fields,
            automatic_allocation: row.get("automatic_allocation"),
            downgrade_rights: row.get("downgrade_rights"),
            minimum_per_computer: row.get("minimum_per_computer"),
            upgrade_of: bases.into_iter().zip(base_quantities).collect(),
            subscription,
            agreement_id: row.get("agreement_id"),
        },
        incomplete: row.get("incomplete"),
        missing_fields: row.get("missing_fields"),
        archived: row.get("archived"),
        archive_time: row.get("archive_time"),
        agreement_period,
        allocations: nodes.into_iter().zip(node_quantities).collect(),
        assigned: row.get("assigned"),
        revision: row.get("revision"),
        create_time: row.get("create_time"),
        update_time: row.get("update_time"),
    }
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::get", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
) -> Result<Option<License>, DbError> {
    let statement = format!("{SELECT}{FROM} WHERE l.customer_id = $1 AND l.id = $2");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Reads the license, locking its row for the rest of the transaction.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::lock", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn lock(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
) -> Result<Option<License>, DbError> {
    let statement =
        format!("{SELECT}{FROM} WHERE l.customer_id = $1 AND l.id = $2 FOR UPDATE OF l");
    let row = client.query_opt(&statement, &[&customer_id, &id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// What `ListLicenses` sorts by; the first is the default.
pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn::new("create_time", "l.id", "uuid"),
    SortColumn::new("update_time", "l.update_time", "timestamptz"),
    SortColumn::new(
        "purchase_date",
        "coalesce(l.purchase_date, '-infinity'::date)",
        "date",
    ),
    SortColumn::new(
        "quantity",
        "CASE WHEN l.unlimited THEN 9223372036854775807 ELSE coalesce(l.quantity, 0) END",
        "bigint",
    ),
    SortColumn::new("metric", "coalesce(l.metric, '')", "text"),
    SortColumn::new("vendor", "l.vendor", "text"),
    SortColumn::new("invoice_reference", "l.invoice_reference", "text"),
];

/// One sorted page of licenses and the next page's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::list", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list(
    client: &impl GenericClient,
    customer_id: CustomerId,
    filter: ListFilter,
    page: &SortedPage,
) -> Result<(Vec<License>, String), DbError> {
    page.query(
        client,
        SELECT,
        &format!(
            "{FROM}
         WHERE l.customer_id = $1
           AND ($2 OR NOT l.archived)
           AND (NOT $3 OR l.incomplete)
           AND ($4::uuid IS NULL OR l.application_id = $4)"
        ),
        "l.id",
        &[
            &customer_id,
            &filter.include_archived,
            &filter.only_incomplete,
            &filter.application_id,
        ],
        from_row,
    )
    .await
}

fn quantity_columns(quantity: Option<Quantity>) -> (Option<i64>, bool) {
    match quantity {
        Some(Quantity::Count(count)) => (Some(count), false),
        Some(Quantity::Unlimited) => (None, true),
        None => (None, false),
    }
}

/// Inserts (`id` new) or overwrites the writable columns of a license, and
/// replaces its upgrade links.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT licensing.licenses::save", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn save(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
    draft: &Draft,
    missing_fields: &[String],
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let (quantity, unlimited) = quantity_columns(draft.quantity);
    let (currency, amount) = match &draft.price {
        Some((currency, amount)) => (Some(currency.as_str()), Some(*amount)),
        None => (None, None),
    };
    let custom_fields = serde_json::to_value(&draft.custom_fields).unwrap_or_default();
    let (start, end) = match draft.subscription {
        Some((start, end)) => (Some(start), Some(end)),
        None => (None, None),
    };
    client
        .execute(
            include_str!("../../sql/upsert_license.sql"),
            &[
                &customer_id,
                &id,
                &draft.application_id,
                &draft.family_id,
                &draft.metric,
                &draft.assignment_type,
                &quantity,
                &unlimited,
                &draft.legal_owner_id,
                &draft.purchase_date,
                &currency,
                &amount,
                &draft.vendor,
                &draft.invoice_reference,
                &custom_fields,
                &draft.automatic_allocation,
                &draft.downgrade_rights,
                &start,
                &end,
                &draft.agreement_id,
                &missing_fields,
                &request_id,
                &now,
                &draft.minimum_per_computer,
            ],
        )
        .await?;
    client
        .execute(
            "DELETE FROM license_upgrades WHERE customer_id = $1 AND upgrade_id = $2",
            &[&customer_id, &id],
        )
        .await?;
    for (base, quantity) in &draft.upgrade_of {
        client
            .execute(
                "INSERT INTO license_upgrades (customer_id, upgrade_id, base_id, quantity)
                 VALUES ($1, $2, $3, $4)",
                &[&customer_id, &id, base, quantity],
            )
            .await?;
    }
    Ok(())
}

/// How much of `base_id` upgrades other than `except_upgrade` take.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::taken_from_base", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn taken_from_base(
    client: &impl GenericClient,
    customer_id: CustomerId,
    base_id: LicenseId,
    except_upgrade: LicenseId,
) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(quantity), 0)::bigint FROM license_upgrades
             WHERE customer_id = $1 AND base_id = $2 AND upgrade_id <> $3",
            &[&customer_id, &base_id, &except_upgrade],
        )
        .await?;
    Ok(row.get(0))
}

/// Licenses that upgrade `base_id`.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::upgrades_of", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn upgrades_of(
    client: &impl GenericClient,
    customer_id: CustomerId,
    base_ids: &[Uuid],
) -> Result<Vec<Uuid>, DbError> {
    super::ids(
        client,
        "SELECT DISTINCT upgrade_id FROM license_upgrades
             WHERE customer_id = $1 AND base_id = ANY($2)",
        &[&customer_id, &base_ids],
    )
    .await
}

/// Marks licenses incomplete because a base of theirs is gone.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.licenses::mark_base_missing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn mark_base_missing(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE licenses
             SET missing_fields = array_append(array_remove(missing_fields, 'upgrade_of'), 'upgrade_of'),
                 incomplete = true, revision = revision + 1, update_time = $3
             WHERE customer_id = $1 AND id = ANY($2)",
            &[&customer_id, &ids, &now],
        )
        .await?;
    Ok(())
}

/// Recomputes `upgrade_of` completeness of the upgrades among `ids` and
/// of the upgrades of the bases among `ids`: incomplete exactly while a
/// base is archived.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.licenses::refresh_upgrade_completeness", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn refresh_upgrade_completeness(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "WITH affected AS (
                 SELECT DISTINCT upgrade_id AS id FROM license_upgrades
                 WHERE customer_id = $1 AND (base_id = ANY($2) OR upgrade_id = ANY($2))),
             computed AS (
                 SELECT l.id,
                        array_remove(l.missing_fields, 'upgrade_of')
                        || CASE WHEN EXISTS (
                               SELECT 1 FROM license_upgrades u
                               JOIN licenses b ON b.customer_id = u.customer_id AND b.id = u.base_id
                               WHERE u.customer_id = l.customer_id AND u.upgrade_id = l.id
                                 AND b.archived)
                           THEN ARRAY['upgrade_of'] ELSE ARRAY[]::text[] END AS missing
                 FROM licenses l JOIN affected a ON a.id = l.id
                 WHERE l.customer_id = $1)
             UPDATE licenses l
             SET missing_fields = c.missing, incomplete = cardinality(c.missing) > 0,
                 revision = l.revision + 1, update_time = $3
             FROM computed c
             WHERE l.customer_id = $1 AND l.id = c.id AND l.missing_fields <> c.missing",
            &[&customer_id, &ids, &now],
        )
        .await?;
    Ok(())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.licenses::delete", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn delete(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
) -> Result<(), DbError> {
    client
        .execute(
            "DELETE FROM licenses WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id],
        )
        .await?;
    Ok(())
}

/// Customer `customer_id`'s license graph, as archiving decides over it
/// (`rules::archive`): one query for the licenses, one for their links,
/// one for the archived agreements' groups.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.licenses::graph", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn graph(client: &impl GenericClient, customer_id: CustomerId) -> Result<Graph, DbError> {
    let licenses = client
        .query(
            "SELECT id, archived, archive_group, agreement_id FROM licenses
             WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?;
    let links = client
        .query(
            "SELECT upgrade_id, base_id FROM license_upgrades WHERE customer_id = $1",
            &[&customer_id],
        )
        .await?;
    let agreements = client
        .query(
            "SELECT id, archive_group FROM agreements
             WHERE customer_id = $1 AND archived AND archive_group IS NOT NULL",
            &[&customer_id],
        )
        .await?;
    Ok(Graph {
        licenses: licenses
            .iter()
            .map(|row| {
                let node = LicenseNode {
                    archived: row.get(1),
                    archive_group: row.get(2),
                    agreement: row.get(3),
                };
                (row.get(0), node)
            })
            .collect(),
        links: links.iter().map(|row| (row.get(0), row.get(1))).collect(),
        archived_agreements: agreements
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect(),
    })
}

/// Archives licenses as one group: each leaves its agreement, remembering
/// it for unarchiving.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.licenses::archive", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn archive(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ids: &[Uuid],
    group: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE licenses
             SET archived = true, archive_group = $3, archive_time = $4,
                 archived_agreement_id = agreement_id, agreement_id = NULL,
                 revision = revision + 1, update_time = $4
             WHERE customer_id = $1 AND id = ANY($2) AND NOT archived",
            &[&customer_id, &ids, &group, &now],
        )
        .await?;
    Ok(())
}

/// Unarchives licenses and reconnects each to its agreement; returns the
/// agreements they reconnect to.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE licensing.licenses::unarchive", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn unarchive(
    client: &impl GenericClient,
    customer_id: CustomerId,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbError> {
    let rows = client
        .query(
            "UPDATE licenses l
             SET archived = false, archive_group = NULL, archive_time = NULL,
                 agreement_id = (SELECT ag.id FROM agreements ag
                                 WHERE ag.customer_id = l.customer_id
                                   AND ag.id = l.archived_agreement_id),
                 archived_agreement_id = NULL, revision = l.revision + 1, update_time = $3
             WHERE l.customer_id = $1 AND l.id = ANY($2) AND l.archived
             RETURNING l.agreement_id",
            &[&customer_id, &ids, &now],
        )
        .await?;
    Ok(rows.iter().filter_map(|row| row.get(0)).collect())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "DELETE licensing.licenses::replace_allocations", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "DELETE"))]
pub async fn replace_allocations(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
    allocations: &[(Uuid, i64)],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    client
        .execute(
            "DELETE FROM license_allocations WHERE customer_id = $1 AND license_id = $2",
            &[&customer_id, &id],
        )
        .await?;
    for (node, quantity) in allocations {
        client
            .execute(
                "INSERT INTO license_allocations (customer_id, license_id, node_id, quantity)
                 VALUES ($1, $2, $3, $4)",
                &[&customer_id, &id, node, quantity],
            )
            .await?;
    }
    client
        .execute(
            "UPDATE licenses SET revision = revision + 1, update_time = $3
             WHERE customer_id = $1 AND id = $2",
            &[&customer_id, &id, &now],
        )
        .await?;
    Ok(())
}
