//! Usage reports, billing reports and billing settings of a distributor.

use chrono::{DateTime, NaiveDate, Utc};
use estate_db::{DbError, SortColumn, SortedPage};
use estate_proto::names::{BillingReportId, DistributorId, PartnerId, UsageReportId};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::rules::figures::UsageFigures;
use crate::rules::statuses::{BillingStatus, Stored, UsageStatus};

/// A distributor's billing settings (defaults without a stored row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub auto_submit_after_days: i32,
    pub chargeable_drop_threshold_percent: i32,
    pub usage_reports_screen: bool,
    pub billing_reports_screen: bool,
    /// 0 while the defaults were never changed.
    pub revision: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            auto_submit_after_days: 5,
            chargeable_drop_threshold_percent: 20,
            usage_reports_screen: true,
            billing_reports_screen: true,
            revision: 0,
        }
    }
}

/// A distributor's settings; the defaults when it has no row.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.reports::settings", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn settings(
    client: &impl GenericClient,
    distributor_id: DistributorId,
) -> Result<Settings, DbError> {
    read_settings(client, distributor_id, "").await
}

/// A distributor's settings locked for a change: its row is created with
/// the defaults first, so two first changes cannot both pass an etag check
/// against no row.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.reports::settings_for_update", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn settings_for_update(
    client: &impl GenericClient,
    distributor_id: DistributorId,
) -> Result<Settings, DbError> {
    let defaults = Settings::default();
    client
        .execute(
            "INSERT INTO billing_settings (distributor_id, auto_submit_after_days,
                 chargeable_drop_threshold_percent, usage_reports_screen, billing_reports_screen,
                 revision)
             VALUES ($1, $2, $3, $4, $5, 0)
             ON CONFLICT (distributor_id) DO NOTHING",
            &[
                &distributor_id,
                &defaults.auto_submit_after_days,
                &defaults.chargeable_drop_threshold_percent,
                &defaults.usage_reports_screen,
                &defaults.billing_reports_screen,
            ],
        )
        .await?;
    read_settings(client, distributor_id, " FOR UPDATE").await
}

async fn read_settings(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    lock: &str,
) -> Result<Settings, DbError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT auto_submit_after_days, chargeable_drop_threshold_percent,
                        usage_reports_screen, billing_reports_screen, revision
                 FROM billing_settings WHERE distributor_id = $1{lock}"
            ),
            &[&distributor_id],
        )
        .await?;
    Ok(row.map_or_else(Settings::default, |row| Settings {
        auto_submit_after_days: row.get(0),
        chargeable_drop_threshold_percent: row.get(1),
        usage_reports_screen: row.get(2),
        billing_reports_screen: row.get(3),
        revision: row.get(4),
    }))
}

/// Stores `settings` over the row locked by [`settings_for_update`].
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.reports::store_settings", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn store_settings(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    settings: &Settings,
) -> Result<Settings, DbError> {
    let row = client
        .query_one(
            "UPDATE billing_settings
             SET auto_submit_after_days = $2, chargeable_drop_threshold_percent = $3,
                 usage_reports_screen = $4, billing_reports_screen = $5,
                 revision = revision + 1
             WHERE distributor_id = $1
             RETURNING revision",
            &[
                &distributor_id,
                &settings.auto_submit_after_days,
                &settings.chargeable_drop_threshold_percent,
                &settings.usage_reports_screen,
                &settings.billing_reports_screen,
            ],
        )
        .await?;
    Ok(Settings {
        revision: row.get(0),
        ..*settings
    })
}

/// The units a usage report charges, as SQL over `usage_reports r`
/// (the rule of [`UsageFigures::chargeable`]).
pub const CHARGEABLE_SQL: &str = "CASE WHEN r.flagged THEN r.provisioned \
     ELSE coalesce(r.used_declared, r.used_reported, r.provisioned) END";

/// Whether the platform's automatic submission flags a usage report, as
/// SQL over `usage_reports r` (the rule of
/// [`UsageFigures::flagged_on_auto_submit`]).
///
/// Blank means white space only, as Rust's `str::trim` sees it (Unicode's
/// White_Space characters): the regular expression lists them, because
/// `\s` follows the database's locale and misses, say, a no-break space.
pub const FLAGGED_SQL: &str = "(r.comment ~ \
     '^[\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$' \
     AND coalesce(r.used_declared, r.used_reported) IS NOT NULL \
     AND r.provisioned > coalesce(r.used_declared, r.used_reported))";

/// A stored usage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    pub distributor_id: DistributorId,
    pub partner_id: PartnerId,
    pub id: UsageReportId,
    pub product: String,
    pub month: NaiveDate,
    pub status: UsageStatus,
    pub provisioned: i64,
    pub used_reported: Option<i64>,
    pub used_declared: Option<i64>,
    pub comment: String,
    /// The partner's comment: who wrote it last (a principal's subject), when.
    pub comment_author: String,
    pub comment_time: Option<DateTime<Utc>>,
    /// The distributor's own comment, its author and time.
    pub distributor_comment: String,
    pub distributor_comment_author: String,
    pub distributor_comment_time: Option<DateTime<Utc>>,
    /// Why the distributor last rejected it; cleared when submitted again.
    pub rejection_reason: String,
    pub auto_submitted: bool,
    pub flagged: bool,
    pub revision: i64,
    pub update_time: DateTime<Utc>,
    pub submit_time: Option<DateTime<Utc>>,
}

impl UsageReport {
    /// Its unit figures, which the rules derive the rest from.
    pub fn figures(&self) -> UsageFigures {
        UsageFigures {
            provisioned: self.provisioned,
            used_reported: self.used_reported,
            used_declared: self.used_declared,
        }
    }

    /// The units it charges ([`UsageFigures::chargeable`]).
    pub fn chargeable(&self) -> i64 {
        self.figures().chargeable(self.flagged)
    }
}

const USAGE_COLUMNS: &str = "r.distributor_id, r.partner_id, r.id, r.product, r.month, r.status, \
     r.provisioned, r.used_reported, r.used_declared, r.comment, r.auto_submitted, r.flagged, \
     r.revision, r.update_time, r.submit_time, r.rejection_reason, r.comment_author, \
     r.comment_time, r.distributor_comment, r.distributor_comment_author, \
     r.distributor_comment_time";

fn usage_report(row: &Row) -> UsageReport {
    UsageReport {
        distributor_id: row.get(0),
        partner_id: row.get(1),
        id: row.get(2),
        product: row.get(3),
        month: row.get(4),
        status: row.get(5),
        provisioned: row.get(6),
        used_reported: row.get(7),
        used_declared: row.get(8),
        comment: row.get(9),
        auto_submitted: row.get(10),
        flagged: row.get(11),
        revision: row.get(12),
        update_time: row.get(13),
        submit_time: row.get(14),
        rejection_reason: row.get(15),
        comment_author: row.get(16),
        comment_time: row.get(17),
        distributor_comment: row.get(18),
        distributor_comment_author: row.get(19),
        distributor_comment_time: row.get(20),
    }
}

/// Creates the usage reports of `month` for every partner (not canceled)
/// and product with full licenses or chargeable usage in it, and recalculates the figures
/// of those still preparing or rejected. Returns the month's reports.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.reports::prepare", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn prepare(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    month: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<UsageReport>, DbError> {
    client
        .execute(
            include_str!("../../sql/prepare_usage_reports.sql"),
            &[&distributor_id, &month, &now],
        )
        .await?;
    let rows = client
        .query(
            &format!(
                "SELECT {USAGE_COLUMNS} FROM usage_reports r
                 WHERE r.distributor_id = $1 AND r.month = $2 ORDER BY r.partner_id, r.product"
            ),
            &[&distributor_id, &month],
        )
        .await?;
    Ok(rows.iter().map(usage_report).collect())
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.reports::get_usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_usage(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    partner_id: PartnerId,
    id: UsageReportId,
    lock: bool,
) -> Result<Option<UsageReport>, DbError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = client
        .query_opt(
            &format!(
                "SELECT {USAGE_COLUMNS} FROM usage_reports r
                 WHERE r.distributor_id = $1 AND r.partner_id = $2 AND r.id = $3{lock}"
            ),
            &[&distributor_id, &partner_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(usage_report))
}

/// Filters of a usage report listing.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub partner_id: Option<PartnerId>,
    pub statuses: Vec<UsageStatus>,
    pub month: Option<NaiveDate>,
    pub product: Option<String>,
}

/// The one order of usage report lists: newest month first.
pub const USAGE_SORT: &[SortColumn] = &[SortColumn::new("month", "r.month", "date")];

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.reports::list_usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_usage(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    filter: &UsageFilter,
    page: &SortedPage,
) -> Result<(Vec<UsageReport>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {USAGE_COLUMNS}"),
        "FROM usage_reports r
         WHERE r.distributor_id = $1
           AND ($2::uuid IS NULL OR r.partner_id = $2)
           AND (cardinality($3::text[]) = 0 OR r.status = ANY($3))
           AND ($4::date IS NULL OR r.month = $4)
           AND ($5::text IS NULL OR r.product = $5)",
        "r.id",
        &[
            &distributor_id,
            &filter.partner_id,
            &filter.statuses,
            &filter.month,
            &filter.product,
        ],
        usage_report,
    )
    .await
}

/// Stores a usage report's editable state over a locked read.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.reports::save_usage", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn save_usage(
    client: &impl GenericClient,
    report: &UsageReport,
    now: DateTime<Utc>,
) -> Result<UsageReport, DbError> {
    let row = client
        .query_one(
            &format!(
                "UPDATE usage_reports r
                 SET status = $4, used_declared = $5, comment = $6, auto_submitted = $7,
                     flagged = $8, submit_time = $9, revision = revision + 1, update_time = $10,
                     rejection_reason = $11, comment_author = $12, comment_time = $13,
                     distributor_comment = $14, distributor_comment_author = $15,
                     distributor_comment_time = $16
                 WHERE r.distributor_id = $1 AND r.partner_id = $2 AND r.id = $3
                 RETURNING {USAGE_COLUMNS}"
            ),
            &[
                &report.distributor_id,
                &report.partner_id,
                &report.id,
                &report.status,
                &report.used_declared,
                &report.comment,
                &report.auto_submitted,
                &report.flagged,
                &report.submit_time,
                &now,
                &report.rejection_reason,
                &report.comment_author,
                &report.comment_time,
                &report.distributor_comment,
                &report.distributor_comment_author,
                &report.distributor_comment_time,
            ],
        )
        .await?;
    // Counted once the statement succeeded (its transaction may still
    // roll back: a rare over-count, never a miss).
    metrics::counter!("estate_billing_usage_report_saves_total", "status" => report.status.column())
        .increment(1);
    Ok(usage_report(&row))
}

/// Submits, as the platform, every report still preparing whose month
/// ended at least the distributor's `auto_submit_after_days` before
/// `today`, of partners that are active (a suspended or canceled partner's
/// reports could not be decided on): over-provisioned without a comment
/// (blank counts as none, as for a partner's own submission), it is
/// flagged, and so charged on provisioned units. Returns how many were
/// submitted.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.reports::auto_submit", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn auto_submit(
    client: &impl GenericClient,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    Ok(client
        .execute(
            &format!(
                "UPDATE usage_reports r
             SET status = 'under_review', auto_submitted = true, submit_time = $2,
                 rejection_reason = '',
                 flagged = {FLAGGED_SQL},
                 revision = r.revision + 1, update_time = $2
             FROM (SELECT r2.distributor_id, r2.partner_id, r2.id
                   FROM usage_reports r2
                   JOIN partners p ON p.distributor_id = r2.distributor_id
                                  AND p.id = r2.partner_id AND p.status = 'active'
                   LEFT JOIN billing_settings s ON s.distributor_id = r2.distributor_id
                   WHERE r2.status = 'preparing'
                     AND (r2.month + interval '1 month')::date
                         + coalesce(s.auto_submit_after_days, $3) <= $1
                   FOR UPDATE OF r2 SKIP LOCKED) due
             WHERE r.distributor_id = due.distributor_id AND r.partner_id = due.partner_id
               AND r.id = due.id"
            ),
            &[&today, &now, &Settings::default().auto_submit_after_days],
        )
        .await?)
}

/// A stored billing report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingReport {
    pub distributor_id: DistributorId,
    pub id: BillingReportId,
    pub partner_id: PartnerId,
    pub usage_report_id: UsageReportId,
    pub product: String,
    pub month: NaiveDate,
    pub status: BillingStatus,
    pub units: i64,
    pub po_number: String,
    pub unit_price: Option<(String, i64)>,
    pub margin_basis_points: i32,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl BillingReport {
    /// Units × unit price, in minor units; `None` without a price or on
    /// overflow.
    pub fn amount(&self) -> Option<i64> {
        let (_, price) = self.unit_price.as_ref()?;
        self.units.checked_mul(*price)
    }

    /// The amount less the margin, rounded half up to the minor unit.
    pub fn total(&self) -> Option<i64> {
        let amount = i128::from(self.amount()?);
        let kept = i128::from(10_000 - self.margin_basis_points);
        i64::try_from((amount * kept + 5_000) / 10_000).ok()
    }
}

const BILLING_COLUMNS: &str = "b.distributor_id, b.id, b.partner_id, b.usage_report_id, b.product, \
     b.month, b.status, b.units, b.po_number, b.currency_code, b.unit_price_minor, \
     b.margin_basis_points, b.revision, b.create_time, b.update_time";

fn billing_report(row: &Row) -> BillingReport {
    let currency: Option<String> = row.get(9);
    let price: Option<i64> = row.get(10);
    BillingReport {
        distributor_id: row.get(0),
        id: row.get(1),
        partner_id: row.get(2),
        usage_report_id: row.get(3),
        product: row.get(4),
        month: row.get(5),
        status: row.get(6),
        units: row.get(7),
        po_number: row.get(8),
        unit_price: currency.zip(price),
        margin_basis_points: row.get(11),
        revision: row.get(12),
        create_time: row.get(13),
        update_time: row.get(14),
    }
}

/// Bills an approved usage report, starting in `status`, priced as it is
/// made: the unit price in force on the first day of the month of the most
/// recently created full plan of the product that has one (none: unpriced,
/// and then it cannot be accepted or completed until priced), and the
/// partner's channel margin.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "INSERT billing.reports::create_billing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "INSERT"))]
pub async fn create_billing(
    client: &impl GenericClient,
    usage: &UsageReport,
    status: BillingStatus,
    now: DateTime<Utc>,
) -> Result<BillingReport, DbError> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO billing_reports AS b (distributor_id, id, partner_id, usage_report_id,
                     product, month, status, units, currency_code, unit_price_minor,
                     margin_basis_points, revision, create_time, update_time)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, price.currency_code,
                        price.unit_price_minor, coalesce(pa.channel_margin_basis_points, 0),
                        1, $9, $9
                 FROM (SELECT 1) one
                 LEFT JOIN LATERAL (
                     SELECT pr.currency_code, pr.unit_price_minor
                     FROM service_plans s
                     JOIN service_plan_prices pr ON pr.plan_id = s.id
                     WHERE s.distributor_id = $1 AND s.product = $5
                       AND s.license_type = 'full' AND pr.effective_from <= $6
                     ORDER BY s.create_time DESC, s.id DESC, pr.effective_from DESC
                     LIMIT 1) price ON true
                 LEFT JOIN partners pa ON pa.distributor_id = $1 AND pa.id = $3
                 RETURNING {BILLING_COLUMNS}"
            ),
            &[
                &usage.distributor_id,
                &Uuid::now_v7(),
                &usage.partner_id,
                &usage.id,
                &usage.product,
                &usage.month,
                &status,
                &usage.chargeable(),
                &now,
            ],
        )
        .await?;
    Ok(billing_report(&row))
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.reports::get_billing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn get_billing(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    id: BillingReportId,
    lock: bool,
) -> Result<Option<BillingReport>, DbError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = client
        .query_opt(
            &format!(
                "SELECT {BILLING_COLUMNS} FROM billing_reports b
                 WHERE b.distributor_id = $1 AND b.id = $2{lock}"
            ),
            &[&distributor_id, &id],
        )
        .await?;
    Ok(row.as_ref().map(billing_report))
}

/// Billing report lists: newest month first, like usage reports.
pub const BILLING_SORT: &[SortColumn] = &[SortColumn::new("month", "b.month", "date")];

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.reports::list_billing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn list_billing(
    client: &impl GenericClient,
    distributor_id: DistributorId,
    statuses: &[BillingStatus],
    month: Option<NaiveDate>,
    page: &SortedPage,
) -> Result<(Vec<BillingReport>, String), DbError> {
    page.query(
        client,
        &format!("SELECT {BILLING_COLUMNS}"),
        "FROM billing_reports b
         WHERE b.distributor_id = $1
           AND (cardinality($2::text[]) = 0 OR b.status = ANY($2))
           AND ($3::date IS NULL OR b.month = $3)",
        "b.id",
        &[&distributor_id, &statuses, &month],
        billing_report,
    )
    .await
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "UPDATE billing.reports::save_billing", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "UPDATE"))]
pub async fn save_billing(
    client: &impl GenericClient,
    report: &BillingReport,
    now: DateTime<Utc>,
) -> Result<BillingReport, DbError> {
    let (currency, price) = report.unit_price.clone().unzip();
    let row = client
        .query_one(
            &format!(
                "UPDATE billing_reports b
                 SET status = $3, po_number = $4, currency_code = $5, unit_price_minor = $6,
                     margin_basis_points = $7, revision = revision + 1, update_time = $8
                 WHERE b.distributor_id = $1 AND b.id = $2
                 RETURNING {BILLING_COLUMNS}"
            ),
            &[
                &report.distributor_id,
                &report.id,
                &report.status,
                &report.po_number,
                &currency,
                &price,
                &report.margin_basis_points,
                &now,
            ],
        )
        .await?;
    Ok(billing_report(&row))
}

/// How many usage reports are in each status (for the by-status gauge).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT billing.reports::usage_counts_by_status", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn usage_counts_by_status(
    client: &impl GenericClient,
) -> Result<Vec<(UsageStatus, i64)>, DbError> {
    let rows = client
        .query(
            "SELECT status, count(*) FROM usage_reports GROUP BY status",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
