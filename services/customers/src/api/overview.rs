//! `estate.customers.v1.CustomerOverviewService`: the partner's table of
//! customers, read from `overview_rows` (see `db::overview`).

use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_errors::{ApiError, Violations};
use estate_proto::customers::customer_overview_service_server::CustomerOverviewService;
use estate_proto::customers::{
    ApplicationFigures, ComplianceFigures as ProtoComplianceFigures, ComputerFigures,
    CustomerDetails, CustomerOverview, CustomerStatus, ExpirationStatus,
    ExportCustomerOverviewsRequest, ExportCustomerOverviewsResponse, GetCustomerDetailsRequest,
    LicenseUsageFigures, ListCustomerOverviewsRequest, ListCustomerOverviewsResponse,
    OverviewFilter, ProductUsage, SaasFigures, SetCustomerFavoriteRequest,
    SetCustomerFavoriteResponse,
};
use estate_proto::customers::{
    CustomerNeed, ListCustomerNeedsRequest, ListCustomerNeedsResponse, NeedKind as ProtoNeedKind,
};
use estate_proto::names::{OrganizationId, OrganizationName};
use estate_proto::time::to_timestamp;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Overview, caller, commit, organization_id, transaction};
use crate::access::{self, Access};
use crate::db::overview::{self, OverviewRow};
use crate::db::overview_list::{self, Cursor, OverviewQuery, SORT_COLUMNS};
use crate::db::{beacons, organizations, sync_runs};
use crate::rules::needs::{self, NeedKind};

/// How many favorites one user may pin per partner.
const MAX_FAVORITES: i64 = 500;
/// Rows per database round trip while exporting.
const EXPORT_BATCH: i64 = 500;
/// Due rows refreshed per request before reading (the background
/// refresher catches up with the rest).
const REFRESH_LIMIT: i64 = 1000;

fn status_to_proto(status: crate::rules::status::CustomerStatus) -> CustomerStatus {
    use crate::rules::status::CustomerStatus as Domain;
    match status {
        Domain::Synced => CustomerStatus::Synced,
        Domain::Warning => CustomerStatus::Warning,
        Domain::SyncPending => CustomerStatus::SyncPending,
        Domain::AccessDisabled => CustomerStatus::AccessDisabled,
    }
}

/// A needs page token: where the next page starts, bound to the partner.
fn needs_token(partner: OrganizationId, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{partner}:{offset}"))
}

/// The offset a needs page token names; INVALID_ARGUMENT for a token of
/// another partner or not one of ours.
fn needs_offset(partner: OrganizationId, token: &str) -> Result<usize, ApiError> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || ApiError::invalid("page_token", "is not a token of this list");
    let decoded = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (owner, offset) = text.split_once(':').ok_or_else(invalid)?;
    if owner != partner.to_string() {
        return Err(invalid());
    }
    offset.parse().map_err(|_| invalid())
}

/// Whether the overview's reader sees entitlement information (the next
/// expiry and the expiration status): owners of the partner and platform
/// administrators only (SPEC section 1, seed 001).
pub(crate) fn sees_entitlements(principal: &Principal) -> bool {
    principal.is_platform_admin() || principal.has_role("owner")
}

/// The proto of a row; without `entitlements`, the expiration columns are
/// left unset and `entitlements_withheld` says why.
pub(crate) fn row_to_proto(
    row: OverviewRow,
    now: DateTime<Utc>,
    entitlements: bool,
) -> CustomerOverview {
    let metrics = row.metrics;
    let (upcoming_kind, upcoming_time, expiration_status) = if entitlements {
        (
            i32::from(row.upcoming_expiration_kind),
            row.upcoming_expiration_time.map(to_timestamp),
            i32::from(row.expiration_status),
        )
    } else {
        (0, None, 0)
    };
    CustomerOverview {
        customer: OrganizationName {
            organization: row.customer_id,
        }
        .to_string(),
        display_name: row.display_name,
        external_id: row.external_id,
        status: status_to_proto(row.status).into(),
        sync_pending_overdue: row.sync_pending_overdue,
        beacon_count: row.beacon_count,
        beacon_problem_count: row.beacon_problems,
        upcoming_expiration_kind: upcoming_kind,
        upcoming_expiration_time: upcoming_time,
        expiration_status,
        entitlements_withheld: !entitlements,
        favorite: row.favorite,
        last_successful_sync_time: row.last_successful_sync_time.map(to_timestamp),
        days_since_last_sync: row
            .last_successful_sync_time
            .map(|last| (now - last).num_days().max(0)),
        computers: metrics.computers.map(|figures| ComputerFigures {
            total: figures.total,
            inventoried_within_7_days: figures.inventoried_within_7_days,
            not_inventoried_for_over_7_days: figures.not_inventoried_for_over_7_days,
            quarantined: figures.quarantined,
            inactive: figures.inactive,
            total_change_30_days: metrics.computers_change_30_days,
        }),
        applications: metrics.applications.map(|figures| ApplicationFigures {
            total: figures.total,
            licensable: figures.licensable,
            denied_installed: figures.denied_installed,
        }),
        saas: metrics.saas.map(|figures| SaasFigures {
            applications: figures.applications,
            active_users: figures.active_users_30_days,
        }),
        licenses_and_usage: metrics.license_usage.map(|products| LicenseUsageFigures {
            products: products
                .into_iter()
                .map(|product| ProductUsage {
                    utilization_percent: (product.quantity_purchased > 0)
                        .then(|| product.highest_usage_30_days * 100 / product.quantity_purchased),
                    product: product.product,
                    quantity_purchased: product.quantity_purchased,
                    highest_usage_30_days: product.highest_usage_30_days,
                })
                .collect(),
        }),
        compliance: metrics.compliance.map(|figures| ProtoComplianceFigures {
            calculated_time: Some(to_timestamp(figures.calculated_time)),
            requirement: figures.requirement,
            coverage: figures.coverage,
            compliance: figures.compliance,
            applications_short: figures.applications_short,
        }),
    }
}

/// A page token: where to resume, bound to the query it came from.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    /// The query's fingerprint; a token is refused under another query.
    q: String,
    f: bool,
    k: Option<String>,
    i: Option<Uuid>,
}

/// What a token is bound to: the partner's list, whose favorites, the
/// sort and the filters.
fn fingerprint(query: &OverviewQuery) -> String {
    format!(
        "{}:{}:{}:{}:{:?}:{:?}:{}:{}",
        query.partner_id,
        query.subject,
        query.sort.name,
        query.descending,
        query.statuses,
        query.expiration_statuses,
        query.name_contains,
        query.beacon_problems_only
    )
}

fn encode_token(query: &OverviewQuery, cursor: &Cursor) -> String {
    let token = Token {
        q: fingerprint(query),
        f: cursor.in_favorites,
        k: cursor.after.as_ref().map(|(key, _)| key.clone()),
        i: cursor.after.as_ref().map(|(_, id)| id.uuid()),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("tokens serialize"))
}

fn decode_token(query: &OverviewQuery, token: &str) -> Result<Cursor, ApiError> {
    if token.is_empty() {
        return Ok(Cursor {
            in_favorites: true,
            after: None,
        });
    }
    let invalid = || ApiError::invalid("page_token", "is not a token returned by a previous call");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.q != fingerprint(query) {
        return Err(ApiError::invalid(
            "page_token",
            "was issued for a different order_by or filter",
        ));
    }
    if token
        .k
        .as_deref()
        .is_some_and(|key| !estate_db::valid_value(query.sort.sql_type(), key))
    {
        return Err(invalid());
    }
    Ok(Cursor {
        in_favorites: token.f,
        after: token.k.zip(token.i.map(OrganizationId::from_uuid)),
    })
}

/// Parses `order_by` and the filter into a query for `partner`.
fn parse_query(
    partner: OrganizationId,
    subject: String,
    order_by: &str,
    filter: Option<OverviewFilter>,
    entitlements: bool,
) -> Result<OverviewQuery, ApiError> {
    let mut violations = Violations::new();
    let mut words = order_by.split_whitespace();
    let column = words.next().unwrap_or("display_name");
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            violations.add(
                "order_by",
                format!(
                    "direction must be asc or desc, got {}",
                    estate_errors::quote(other)
                ),
            );
            false
        }
    };
    if words.next().is_some() {
        violations.add("order_by", "sorts by one column: \"column [asc|desc]\"");
    }
    let sort = SORT_COLUMNS
        .iter()
        .find(|candidate| candidate.name == column)
        .copied();
    if sort.is_none() {
        let names: Vec<&str> = SORT_COLUMNS.iter().map(|column| column.name).collect();
        violations.add(
            "order_by",
            format!(
                "{} is not a column; use one of {}",
                estate_errors::quote(column),
                names.join(", ")
            ),
        );
    }
    let filter = filter.unwrap_or_default();
    let mut statuses = Vec::new();
    for status in &filter.statuses {
        match CustomerStatus::try_from(*status) {
            Ok(status) if status != CustomerStatus::Unspecified => statuses.push(status as i16),
            _ => violations.add("filter.statuses", format!("{status} is not a status")),
        }
    }
    let mut expiration_statuses = Vec::new();
    for status in &filter.expiration_statuses {
        match ExpirationStatus::try_from(*status) {
            Ok(status) if status != ExpirationStatus::Unspecified => {
                expiration_statuses.push(status as i16);
            }
            _ => violations.add(
                "filter.expiration_statuses",
                format!("{status} is not an expiration status"),
            ),
        }
    }
    // Sorting or filtering by what the caller may not see would show it.
    if !entitlements {
        if matches!(column, "upcoming_expiration" | "expiration_status") {
            violations.add(
                "order_by",
                format!("only owners see entitlement information; {column} is theirs to sort by"),
            );
        }
        if !filter.expiration_statuses.is_empty() {
            violations.add(
                "filter.expiration_statuses",
                "only owners see entitlement information, so only they filter by it",
            );
        }
    }
    violations.check_length(
        "filter.display_name_contains",
        &filter.display_name_contains,
        0,
        512,
    );
    violations.finish()?;
    statuses.sort_unstable();
    statuses.dedup();
    expiration_statuses.sort_unstable();
    expiration_statuses.dedup();
    Ok(OverviewQuery {
        partner_id: partner,
        subject,
        sort: sort.expect("validated above"),
        descending,
        statuses,
        expiration_statuses,
        name_contains: filter.display_name_contains,
        beacon_problems_only: filter.beacon_problems_only,
    })
}

/// Brings the partner's rows whose time-dependent columns have changed up
/// to date before they are read.
async fn refresh_due_rows(
    client: &mut estate_db::Connection,
    partner: OrganizationId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let transaction = transaction(client).await?;
    overview::refresh_due(&transaction, Some(partner), now, REFRESH_LIMIT).await?;
    commit(transaction).await
}

/// Refreshes the partner's due rows, if any.
async fn refresh_if_due(
    client: &mut estate_db::Connection,
    partner: OrganizationId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if overview::any_due(client, partner, now).await? {
        refresh_due_rows(client, partner, now).await?;
    }
    Ok(())
}

/// One page, with due rows refreshed first. The due probe travels with
/// the page's queries; only when something is due is the page read again
/// after the refresh.
async fn read_page(
    client: &mut estate_db::Connection,
    query: &OverviewQuery,
    cursor: &Cursor,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<OverviewRow>, Option<Cursor>), ApiError> {
    let (due, page) = tokio::join!(
        overview::any_due(client, query.partner_id, now),
        overview_list::page(client, query, cursor, limit),
    );
    if !due? {
        return page.map_err(ApiError::from);
    }
    refresh_due_rows(client, query.partner_id, now).await?;
    overview_list::page(client, query, cursor, limit)
        .await
        .map_err(ApiError::from)
}

/// Every column the list returns, in its order; a group the row does not
/// have leaves its cells empty. `licenses_and_usage` holds one
/// `product=purchased/highest_30_days/utilization%` entry per product,
/// `;`-separated. Withheld entitlement columns are empty (`-` means the
/// data is unavailable).
const CSV_HEADER: [&str; 30] = [
    "customer",
    "display_name",
    "external_id",
    "status",
    "sync_pending_overdue",
    "beacon_count",
    "beacon_problem_count",
    "upcoming_expiration",
    "expiration_status",
    "entitlements_withheld",
    "favorite",
    "last_successful_sync_time",
    "days_since_last_sync",
    "computers_total",
    "computers_inventoried_within_7_days",
    "computers_not_inventoried_for_over_7_days",
    "computers_quarantined",
    "computers_inactive",
    "computers_change_30_days",
    "applications_total",
    "applications_licensable",
    "applications_denied_installed",
    "saas_applications",
    "saas_active_users",
    "licenses_and_usage",
    "compliance_calculated_time",
    "compliance_requirement",
    "compliance_coverage",
    "compliance",
    "compliance_applications_short",
];

fn csv_record(row: &CustomerOverview) -> Vec<String> {
    let optional = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
    let time = |value: Option<&prost_types::Timestamp>| {
        value
            .and_then(estate_proto::time::from_timestamp)
            .map(|time| time.to_rfc3339())
            .unwrap_or_default()
    };
    let status = CustomerStatus::try_from(row.status)
        .map(|status| {
            status
                .as_str_name()
                .trim_start_matches("CUSTOMER_STATUS_")
                .to_string()
        })
        .unwrap_or_default();
    let upcoming = match row.upcoming_expiration_kind {
        _ if row.entitlements_withheld => String::new(),
        1 => time(row.upcoming_expiration_time.as_ref()),
        2 => "No expirations".into(),
        3 => "No entitlements".into(),
        _ => "-".into(),
    };
    let expiration = match row.expiration_status {
        _ if row.entitlements_withheld => "",
        1 => "Expired",
        2 => "Expires in 30 days",
        3 => "Expires in 60 days",
        _ => "-",
    };
    let licenses = row
        .licenses_and_usage
        .as_ref()
        .map(|group| {
            group
                .products
                .iter()
                .map(|product| {
                    format!(
                        "{}={}/{}/{}",
                        product.product,
                        product.quantity_purchased,
                        product.highest_usage_30_days,
                        optional(product.utilization_percent)
                    )
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .unwrap_or_default();
    let computers = row.computers.as_ref();
    let applications = row.applications.as_ref();
    let compliance = row.compliance.as_ref();
    let saas = row.saas.as_ref();
    vec![
        row.customer.clone(),
        row.display_name.clone(),
        row.external_id.clone(),
        status,
        row.sync_pending_overdue.to_string(),
        row.beacon_count.to_string(),
        row.beacon_problem_count.to_string(),
        upcoming,
        expiration.into(),
        row.entitlements_withheld.to_string(),
        row.favorite.to_string(),
        time(row.last_successful_sync_time.as_ref()),
        optional(row.days_since_last_sync),
        optional(computers.map(|c| c.total)),
        optional(computers.map(|c| c.inventoried_within_7_days)),
        optional(computers.map(|c| c.not_inventoried_for_over_7_days)),
        optional(computers.map(|c| c.quarantined)),
        optional(computers.map(|c| c.inactive)),
        optional(computers.and_then(|c| c.total_change_30_days)),
        optional(applications.map(|a| a.total)),
        optional(applications.map(|a| a.licensable)),
        optional(applications.map(|a| a.denied_installed)),
        optional(saas.map(|s| s.applications)),
        optional(saas.map(|s| s.active_users)),
        licenses,
        time(compliance.and_then(|c| c.calculated_time.as_ref())),
        optional(compliance.map(|c| c.requirement)),
        optional(compliance.map(|c| c.coverage)),
        optional(compliance.map(|c| c.compliance)),
        optional(compliance.map(|c| c.applications_short)),
    ]
}

/// CSV bytes of `records` (with the header first when asked).
fn csv_chunk(header: bool, records: &[CustomerOverview]) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if header {
        writer
            .write_record(CSV_HEADER)
            .map_err(ApiError::internal)?;
    }
    for record in records {
        writer
            .write_record(csv_record(record))
            .map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|error| ApiError::internal(error.to_string()))
}

type ExportStream =
    Pin<Box<dyn Stream<Item = Result<ExportCustomerOverviewsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl CustomerOverviewService for Overview {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_customer_overviews(
        &self,
        request: Request<ListCustomerOverviewsRequest>,
    ) -> Result<Response<ListCustomerOverviewsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let partner = organization_id("parent", &message.parent)?;
        // One connection for the access check and the page.
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_reader(&**client, &principal, partner).await?;
        let entitlements = sees_entitlements(&principal);
        let query = parse_query(
            partner,
            principal.subject.clone(),
            &message.order_by,
            message.filter,
            entitlements,
        )?;
        let page = estate_db::PageRequest::parse(message.page_size, "", "")?;
        let cursor = decode_token(&query, &message.page_token)?;
        let now = self.0.clock.now();
        let (rows, next) = read_page(&mut client, &query, &cursor, page.size, now).await?;
        drop(client);
        Ok(Response::new(ListCustomerOverviewsResponse {
            customer_overviews: rows
                .into_iter()
                .map(|row| row_to_proto(row, now, entitlements))
                .collect(),
            next_page_token: next
                .map(|cursor| encode_token(&query, &cursor))
                .unwrap_or_default(),
        }))
    }

    type ExportCustomerOverviewsStream = ExportStream;

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn export_customer_overviews(
        &self,
        request: Request<ExportCustomerOverviewsRequest>,
    ) -> Result<Response<Self::ExportCustomerOverviewsStream>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let partner = organization_id("parent", &message.parent)?;
        // One connection for the access check and the refresh.
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_reader(&**client, &principal, partner).await?;
        let entitlements = sees_entitlements(&principal);
        let query = parse_query(
            partner,
            principal.subject,
            &message.order_by,
            message.filter,
            entitlements,
        )?;
        let now = self.0.clock.now();
        // Due rows are refreshed once, before the first chunk.
        refresh_if_due(&mut client, partner, now).await?;
        drop(client);
        let state = self.0.clone();
        // Each chunk is one page read on demand: the client's pace bounds
        // the memory, whatever the partner's size.
        let chunks = futures::stream::try_unfold(
            Some(Cursor {
                in_favorites: true,
                after: None,
            }),
            move |cursor| {
                let state = state.clone();
                let query = query.clone();
                async move {
                    let Some(cursor) = cursor else {
                        return Ok(None);
                    };
                    let header = cursor.in_favorites && cursor.after.is_none();
                    let client = estate_db::connection(&state.pool).await?;
                    let (rows, next) =
                        overview_list::page(&client, &query, &cursor, EXPORT_BATCH).await?;
                    let records: Vec<CustomerOverview> = rows
                        .into_iter()
                        .map(|row| row_to_proto(row, now, entitlements))
                        .collect();
                    let csv = csv_chunk(header, &records)?;
                    Ok::<_, ApiError>(Some((ExportCustomerOverviewsResponse { csv }, next)))
                }
            },
        );
        let stream = futures::StreamExt::map(chunks, |chunk| chunk.map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn set_customer_favorite(
        &self,
        request: Request<SetCustomerFavoriteRequest>,
    ) -> Result<Response<SetCustomerFavoriteResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let partner = organization_id("parent", &message.parent)?;
        let customer = organization_id("customer", &message.customer)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_reader(&**client, &principal, partner).await?;
        if overview::get(&**client, partner, customer, &principal.subject)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound {
                resource_type: "customer overview",
                name: message.customer,
            }
            .into());
        }
        if message.favorite
            && overview::count_favorites(&**client, &principal.subject, partner).await?
                >= MAX_FAVORITES
        {
            return Err(ApiError::FailedPrecondition {
                violation: "TOO_MANY_FAVORITES",
                subject: message.parent,
                description: format!("at most {MAX_FAVORITES} customers can be pinned"),
            }
            .into());
        }
        overview::set_favorite(
            &**client,
            &principal.subject,
            partner,
            customer,
            message.favorite,
        )
        .await?;
        Ok(Response::new(SetCustomerFavoriteResponse {}))
    }

    #[tracing::instrument(skip_all, fields(customer = %request.get_ref().customer))]
    async fn get_customer_details(
        &self,
        request: Request<GetCustomerDetailsRequest>,
    ) -> Result<Response<CustomerDetails>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let partner = organization_id("parent", &message.parent)?;
        let customer = organization_id("customer", &message.customer)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_reader(&**client, &principal, partner).await?;
        refresh_if_due(&mut client, partner, now).await?;
        let overview = overview::get(&**client, partner, customer, &principal.subject)
            .await?
            .ok_or(ApiError::NotFound {
                resource_type: "customer overview",
                name: message.customer.clone(),
            })?;
        // Details need an authorized user and effective access, on top of
        // the overview row a partner user sees.
        access::require(&**client, &principal, customer, Access::Read, now).await?;
        let organization =
            organizations::get(&**client, customer)
                .await?
                .ok_or(ApiError::NotFound {
                    resource_type: "organization",
                    name: message.customer,
                })?;
        let first_beacons = estate_db::PageRequest::parse(100, "", "")?;
        let mut beacon_rows = beacons::list(&**client, customer, &first_beacons).await?;
        beacon_rows.truncate(100);
        let recent = estate_db::PageRequest::parse(5, "", "")?;
        let mut runs = sync_runs::list(&**client, customer, &recent).await?;
        runs.truncate(5);
        Ok(Response::new(CustomerDetails {
            organization: Some(super::organizations::to_proto(organization)),
            overview: Some(row_to_proto(overview, now, sees_entitlements(&principal))),
            beacons: beacon_rows
                .into_iter()
                .map(|beacon| super::beacons::to_proto(beacon, now))
                .collect(),
            recent_sync_runs: runs.into_iter().map(super::sync::to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_customer_needs(
        &self,
        request: Request<ListCustomerNeedsRequest>,
    ) -> Result<Response<ListCustomerNeedsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let partner = organization_id("parent", &message.parent)?;
        let page = estate_db::PageRequest::parse(message.page_size, "", "")?;
        let offset = needs_offset(partner, &message.page_token)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require_overview_reader(&**client, &principal, partner).await?;
        refresh_if_due(&mut client, partner, now).await?;
        let rows = overview::all_of_partner(&**client, partner).await?;
        let mut needs: Vec<CustomerNeed> = rows
            .into_iter()
            .flat_map(|row| {
                let customer = OrganizationName {
                    organization: row.customer_id,
                }
                .to_string();
                let display_name = row.display_name.clone();
                needs::needs_of(&row.metrics)
                    .into_iter()
                    .map(move |need| CustomerNeed {
                        customer: customer.clone(),
                        display_name: display_name.clone(),
                        kind: match need.kind {
                            NeedKind::UsageOverPurchase => ProtoNeedKind::UsageOverPurchase,
                            NeedKind::ComplianceShortfall => ProtoNeedKind::ComplianceShortfall,
                        }
                        .into(),
                        gap: need.gap(),
                        product: need.product,
                        have: need.have,
                        need: need.need,
                        applications_short: need.applications_short,
                    })
            })
            .collect();
        // Rows come in name order, and the sort is stable: equal gaps keep
        // it.
        needs.sort_by_key(|need| std::cmp::Reverse(need.gap));
        let size = page.size as usize;
        let rest = needs.split_off(offset.min(needs.len()));
        let more = rest.len() > size;
        let needs: Vec<CustomerNeed> = rest.into_iter().take(size).collect();
        let next_page_token = if more {
            needs_token(partner, offset + size)
        } else {
            String::new()
        };
        Ok(Response::new(ListCustomerNeedsResponse {
            needs,
            next_page_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(order_by: &str) -> Result<OverviewQuery, ApiError> {
        parse_query(
            OrganizationId::from_uuid(Uuid::nil()),
            "users/x".into(),
            order_by,
            None,
            true,
        )
    }

    #[test]
    fn order_by_names_a_column_and_a_direction() {
        let parsed = query("status desc").unwrap();
        assert_eq!(parsed.sort.name, "status");
        assert!(parsed.descending);
        assert_eq!(query("").unwrap().sort.name, "display_name");
        assert!(query("colour").is_err());
        assert!(query("status sideways").is_err());
    }

    #[test]
    fn a_token_is_refused_under_another_query() {
        let by_status = query("status").unwrap();
        let cursor = Cursor {
            in_favorites: false,
            after: Some(("2".into(), OrganizationId::from_uuid(Uuid::nil()))),
        };
        let token = encode_token(&by_status, &cursor);
        assert_eq!(decode_token(&by_status, &token).unwrap(), cursor);
        assert!(decode_token(&query("display_name").unwrap(), &token).is_err());
        assert!(decode_token(&by_status, "garbage").is_err());
    }

    #[test]
    fn every_csv_record_fills_every_column() {
        let row = CustomerOverview::default();
        assert_eq!(csv_record(&row).len(), CSV_HEADER.len());
        let withheld = CustomerOverview {
            entitlements_withheld: true,
            upcoming_expiration_kind: 4,
            ..Default::default()
        };
        let record = csv_record(&withheld);
        let column = |name: &str| {
            CSV_HEADER
                .iter()
                .position(|header| *header == name)
                .unwrap()
        };
        let upcoming = column("upcoming_expiration");
        assert_eq!(record[upcoming], "", "withheld is not unavailable");
        assert_eq!(
            csv_record(&CustomerOverview {
                upcoming_expiration_kind: 4,
                ..row
            })[upcoming],
            "-"
        );
    }

    #[test]
    fn a_needs_token_resumes_its_own_partners_list_only() {
        let partner = Uuid::from_u128(7);
        let token = needs_token(OrganizationId::from_uuid(partner), 50);
        assert_eq!(
            needs_offset(OrganizationId::from_uuid(partner), &token).unwrap(),
            50
        );
        assert_eq!(
            needs_offset(OrganizationId::from_uuid(partner), "").unwrap(),
            0
        );
        assert!(needs_offset(OrganizationId::from_uuid(Uuid::from_u128(8)), &token).is_err());
        assert!(needs_offset(OrganizationId::from_uuid(partner), "not-a-token").is_err());
    }
}
