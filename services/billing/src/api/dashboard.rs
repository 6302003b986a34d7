//! `estate.billing.v1.DashboardService`: a distributor's dashboard. Every
//! figure carries the list call (method and JSON request) that returns
//! the records it counts.

use chrono::{Datelike, Duration, Months, NaiveDate};
use estate_auth::{Access, caller};
use estate_errors::{ApiError, Violations};
use estate_proto::billing::dashboard_service_server::DashboardService;
use estate_proto::billing::{
    AccountMatch, AcquisitionPeriod, BillingReportStatusFigure, ChargeableDrop,
    ChargeableDropFigure, DistributorDashboard, Figure, GetDistributorDashboardRequest,
    Granularity, LicenseStatusFigure, ListCall, ListChargeableDropsRequest,
    ListChargeableDropsResponse, ListInactiveNewPartnersRequest, ListInactiveNewPartnersResponse,
    PartnerStatus, SearchAccountsRequest, SearchAccountsResponse, UsageReportStatusFigure,
};
use estate_proto::common::OrganizationKind;
use estate_proto::fields::date_string;
use estate_proto::names::{
    CustomerAccountName, CustomerId, DistributorId, DistributorName, PartnerId, PartnerName,
};
use serde_json::{Value, json};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::Dashboard;
use crate::db::dashboard;
use crate::db::reports as report_store;
use crate::rules::statuses::{BillingStatus, LicenseStatus, Stored, UsageStatus};

/// "New" partners: acquired within this many days.
const NEW_PARTNER_DAYS: i64 = 90;
/// "Acquired in the last 30 days".
const RECENT_DAYS: i64 = 30;

fn figure(count: i64, method: &str, request: Value) -> Option<Figure> {
    Some(Figure {
        count,
        list: Some(ListCall {
            method: format!("estate.billing.v1.{method}"),
            request_json: request.to_string(),
        }),
    })
}

/// One figure per status of `T` (in the contract's order, a status
/// without rows counted 0), each opening `method` with the request
/// `filter` makes of the status's contract name; `make` builds the message.
fn by_status<T: Stored, F>(
    counts: &[(T, i64)],
    method: &str,
    filter: impl Fn(&str) -> Value,
    make: impl Fn(i32, Option<Figure>) -> F,
) -> Vec<F> {
    T::ALL
        .iter()
        .map(|&status| {
            let count = count_of(counts, status);
            make(
                status.contract(),
                figure(count, method, filter(status.contract_name())),
            )
        })
        .collect()
}

fn count_of<T: PartialEq>(counts: &[(T, i64)], wanted: T) -> i64 {
    counts
        .iter()
        .find(|(status, _)| *status == wanted)
        .map_or(0, |(_, count)| *count)
}

/// The first days of last month and of the month before.
fn last_two_months(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let this_month = today.with_day(1).unwrap_or(today);
    let last = this_month - Months::new(1);
    (last - Months::new(1), last)
}

/// First and last day of `period` (a month, or a quarter) of `year`.
fn period_bounds(year: i32, period: u32, quarterly: bool) -> Option<(NaiveDate, NaiveDate)> {
    let (first_month, months) = if quarterly {
        (3 * (period - 1) + 1, 3)
    } else {
        (period, 1)
    };
    let start = NaiveDate::from_ymd_opt(year, first_month, 1)?;
    let end = start + Months::new(months) - Duration::days(1);
    Some((start, end))
}

/// Every figure but the license statuses, as stored.
struct OtherFigures {
    settings: report_store::Settings,
    counts: dashboard::Counts,
    acquisitions: Vec<(i32, i32, i64)>,
    drops: Vec<(String, i64)>,
    /// Empty when the settings hide the usage reports screen.
    usage: Vec<(UsageStatus, i64)>,
    /// Empty when the settings hide the billing reports screen.
    billing: Vec<(BillingStatus, i64)>,
}

/// The figures but the license statuses, one statement after another.
async fn other_figures(
    client: &impl tokio_postgres::GenericClient,
    distributor_id: DistributorId,
    today: NaiveDate,
    recent_since: NaiveDate,
    new_since: NaiveDate,
    quarterly: bool,
) -> Result<OtherFigures, ApiError> {
    let (previous_month, last_month) = last_two_months(today);
    let settings = report_store::settings(client, distributor_id).await?;
    let counts = dashboard::counts(client, distributor_id, recent_since, new_since).await?;
    let acquisitions =
        dashboard::acquisitions(client, distributor_id, today.year(), quarterly).await?;
    let drops = dashboard::drop_counts(
        client,
        distributor_id,
        previous_month,
        last_month,
        settings.chargeable_drop_threshold_percent,
    )
    .await?;
    let usage = if settings.usage_reports_screen {
        dashboard::usage_reports_by_status(client, distributor_id).await?
    } else {
        Vec::new()
    };
    let billing = if settings.billing_reports_screen {
        dashboard::billing_reports_by_status(client, distributor_id).await?
    } else {
        Vec::new()
    };
    Ok(OtherFigures {
        settings,
        counts,
        acquisitions,
        drops,
        usage,
        billing,
    })
}

/// The dashboard's message from its figures: each count with the list
/// call (and filter) that shows what it counts.
fn dashboard_message(
    name: &str,
    distributor_id: DistributorId,
    today: NaiveDate,
    granularity: Granularity,
    by_license: &[(LicenseStatus, i64)],
    figures: OtherFigures,
) -> DistributorDashboard {
    let parent = DistributorName {
        distributor: distributor_id,
    }
    .to_string();
    let all_partners = format!("{parent}/partners/-");
    let recent_since = today - Duration::days(RECENT_DAYS);
    let quarterly = granularity == Granularity::Quarterly;
    let OtherFigures {
        settings,
        counts,
        acquisitions,
        drops,
        usage,
        billing,
    } = figures;

    let periods = if quarterly { 4 } else { 12 };
    let year = today.year();
    let acquisition_figure = |year: i32, period: u32| {
        let count = acquisitions
            .iter()
            .find(|(y, p, _)| *y == year && u32::try_from(*p).ok() == Some(period))
            .map_or(0, |(_, _, count)| *count);
        let (start, end) = period_bounds(year, period, quarterly)?;
        figure(
            count,
            "PartnersService/ListPartners",
            json!({
                "parent": parent,
                "acquired_on_or_after": date_string(Some(start)),
                "acquired_on_or_before": date_string(Some(end)),
            }),
        )
    };

    DistributorDashboard {
        name: name.to_string(),
        as_of: date_string(Some(today)),
        enabled_customers: figure(
            counts.enabled_customers,
            "PartnersService/ListCustomerAccounts",
            json!({"parent": all_partners, "enabled": true}),
        ),
        active_partners: figure(
            counts.active_partners,
            "PartnersService/ListPartners",
            json!({"parent": parent, "statuses": [PartnerStatus::Active.as_str_name()]}),
        ),
        enabled_service_plans: figure(
            counts.enabled_plans,
            "ServicePlansService/ListServicePlans",
            json!({"parent": parent, "enabled": true}),
        ),
        customers_by_license_status: by_status(
            by_license,
            "PartnersService/ListCustomerAccounts",
            |status| json!({"parent": all_partners, "license_status": status}),
            |status, customers| LicenseStatusFigure { status, customers },
        ),
        usage_reports_shown: settings.usage_reports_screen,
        // A screen the settings turn off shows no figures at all.
        usage_reports_by_status: if settings.usage_reports_screen {
            by_status(
                &usage,
                "ReportsService/ListUsageReports",
                |status| json!({"parent": all_partners, "statuses": [status]}),
                |status, usage_reports| UsageReportStatusFigure {
                    status,
                    usage_reports,
                },
            )
        } else {
            Vec::new()
        },
        billing_reports_shown: settings.billing_reports_screen,
        billing_reports_by_status: if settings.billing_reports_screen {
            by_status(
                &billing,
                "ReportsService/ListBillingReports",
                |status| json!({"parent": parent, "statuses": [status]}),
                |status, billing_reports| BillingReportStatusFigure {
                    status,
                    billing_reports,
                },
            )
        } else {
            Vec::new()
        },
        acquisition_granularity: granularity.into(),
        acquisition_year: year,
        new_partner_acquisition: (1..=periods)
            .map(|period| AcquisitionPeriod {
                period: i32::try_from(period).unwrap_or_default(),
                this_year: acquisition_figure(year, period),
                previous_year: acquisition_figure(year - 1, period),
            })
            .collect(),
        partners_acquired_last_30_days: figure(
            counts.acquired_since,
            "PartnersService/ListPartners",
            json!({"parent": parent, "acquired_on_or_after": date_string(Some(recent_since))}),
        ),
        chargeable_drops: drops
            .into_iter()
            .map(|(product, count)| ChargeableDropFigure {
                partners: figure(
                    count,
                    "DashboardService/ListChargeableDrops",
                    json!({"parent": parent, "product": product}),
                ),
                product,
            })
            .collect(),
        chargeable_drop_threshold_percent: settings.chargeable_drop_threshold_percent,
        inactive_new_partners: figure(
            counts.inactive_new,
            "DashboardService/ListInactiveNewPartners",
            json!({"parent": parent}),
        ),
    }
}

#[tonic::async_trait]
impl DashboardService for Dashboard {
    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_distributor_dashboard(
        &self,
        request: Request<GetDistributorDashboardRequest>,
    ) -> Result<Response<DistributorDashboard>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = super::distributor_of(&message.name, "/dashboard", "name")?;
        let granularity = match Granularity::try_from(message.acquisition_granularity) {
            Ok(Granularity::Unspecified | Granularity::Monthly) => Granularity::Monthly,
            Ok(Granularity::Quarterly) => Granularity::Quarterly,
            Err(_) => {
                return Err(
                    ApiError::invalid("acquisition_granularity", "is not a Granularity").into(),
                );
            }
        };
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "name").await?;
        let today = self.0.clock.now().date_naive();
        let recent_since = today - Duration::days(RECENT_DAYS);
        let new_since = today - Duration::days(NEW_PARTNER_DAYS);
        let quarterly = granularity == Granularity::Quarterly;

        // The license statuses cost more than every other figure together:
        // they run on a connection of their own while the rest follow one
        // another on a second, so the dashboard takes about as long as that
        // one statement. Each statement sees its own snapshot either way;
        // neither side holds a connection while waiting for another, so
        // a busy pool only queues them.
        let license_statuses = async {
            let client = estate_db::connection(&self.0.pool).await?;
            dashboard::customers_by_license_status(&**client, distributor_id, today)
                .await
                .map_err(ApiError::from)
        };
        let the_rest = async {
            let client = estate_db::connection(&self.0.pool).await?;
            other_figures(
                &**client,
                distributor_id,
                today,
                recent_since,
                new_since,
                quarterly,
            )
            .await
        };
        let (by_license, figures) = tokio::try_join!(license_statuses, the_rest)?;
        Ok(Response::new(dashboard_message(
            &message.name,
            distributor_id,
            today,
            granularity,
            &by_license,
            figures,
        )))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn search_accounts(
        &self,
        request: Request<SearchAccountsRequest>,
    ) -> Result<Response<SearchAccountsResponse>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let mut violations = Violations::new();
        violations.check_length("query", &message.query, 1, 200);
        if !(0..=100).contains(&message.page_size) {
            violations.add("page_size", "must be between 0 (the default, 20) and 100");
        }
        violations.finish()?;
        let limit = if message.page_size == 0 {
            20
        } else {
            message.page_size
        };
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "parent").await?;
        // Names belong to the customers service; it searches them as the
        // caller sees them. Organizations without an account of this
        // distributor are left out, so more are asked for than returned.
        let found: Vec<(Uuid, _)> = self
            .0
            .access
            .search_organizations(
                &token,
                &distributor_id.to_string(),
                &message.query,
                (limit * 2).min(100),
            )
            .await?
            .into_iter()
            .filter_map(|organization| {
                let id = organization.name.strip_prefix("organizations/")?;
                Some((Uuid::parse_str(id).ok()?, organization))
            })
            .collect();
        let ids: Vec<Uuid> = found.iter().map(|(id, _)| *id).collect();
        let client = estate_db::connection(&self.0.pool).await?;
        let accounts = dashboard::accounts_of(&**client, distributor_id, &ids)
            .await
            .map_err(ApiError::from)?;
        let query = message.query.to_lowercase();
        let matches = found
            .into_iter()
            .filter_map(|(id, organization)| {
                let (_, partner_of) = accounts.iter().find(|(account, _)| *account == id)?;
                let account = match partner_of {
                    None => PartnerName {
                        distributor: distributor_id,
                        partner: PartnerId::from_uuid(id),
                    }
                    .to_string(),
                    Some(partner) => CustomerAccountName {
                        distributor: distributor_id,
                        partner: *partner,
                        customer: CustomerId::from_uuid(id),
                    }
                    .to_string(),
                };
                Some(AccountMatch {
                    account,
                    partner: organization.kind == i32::from(OrganizationKind::Partner),
                    prefix: organization.display_name.to_lowercase().starts_with(&query),
                    organization: organization.name,
                    display_name: organization.display_name,
                })
            })
            .take(usize::try_from(limit).unwrap_or(20))
            .collect();
        Ok(Response::new(SearchAccountsResponse { matches }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_chargeable_drops(
        &self,
        request: Request<ListChargeableDropsRequest>,
    ) -> Result<Response<ListChargeableDropsResponse>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        if message.product.is_empty() {
            return Err(ApiError::invalid("product", "is required").into());
        }
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "parent").await?;
        let (previous_month, month) = last_two_months(self.0.clock.now().date_naive());
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = report_store::settings(&**client, distributor_id)
            .await
            .map_err(ApiError::from)?;
        let drops = dashboard::drops(
            &**client,
            distributor_id,
            previous_month,
            month,
            settings.chargeable_drop_threshold_percent,
            &message.product,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Response::new(ListChargeableDropsResponse {
            drops: drops
                .into_iter()
                .map(|drop| ChargeableDrop {
                    partner: PartnerName {
                        distributor: distributor_id,
                        partner: drop.partner_id,
                    }
                    .to_string(),
                    previous_month: super::reports::month_string(previous_month),
                    month: super::reports::month_string(month),
                    previous_chargeable_units: drop.previous,
                    chargeable_units: drop.current,
                    drop_percent: drop.percent,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_inactive_new_partners(
        &self,
        request: Request<ListInactiveNewPartnersRequest>,
    ) -> Result<Response<ListInactiveNewPartnersResponse>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "parent").await?;
        let today = self.0.clock.now().date_naive();
        let client = estate_db::connection(&self.0.pool).await?;
        let partners = dashboard::inactive_new_partners(
            &**client,
            distributor_id,
            today - Duration::days(NEW_PARTNER_DAYS),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(Response::new(ListInactiveNewPartnersResponse {
            partners: partners
                .into_iter()
                .map(super::partners::partner_proto)
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_last_two_months_cross_a_year_boundary() {
        assert_eq!(
            last_two_months(date("2026-01-15")),
            (date("2025-11-01"), date("2025-12-01"))
        );
        assert_eq!(
            last_two_months(date("2026-03-31")),
            (date("2026-01-01"), date("2026-02-01"))
        );
    }

    #[test]
    fn periods_end_on_their_last_day_leap_years_included() {
        assert_eq!(
            period_bounds(2028, 2, false),
            Some((date("2028-02-01"), date("2028-02-29")))
        );
        assert_eq!(
            period_bounds(2027, 2, false),
            Some((date("2027-02-01"), date("2027-02-28")))
        );
        assert_eq!(
            period_bounds(2026, 4, true),
            Some((date("2026-10-01"), date("2026-12-31")))
        );
    }

    fn figures(screens: bool) -> OtherFigures {
        OtherFigures {
            settings: report_store::Settings {
                usage_reports_screen: screens,
                billing_reports_screen: screens,
                ..report_store::Settings::default()
            },
            counts: dashboard::Counts {
                active_partners: 3,
                ..dashboard::Counts::default()
            },
            acquisitions: vec![(2026, 2, 5), (2025, 2, 1)],
            drops: vec![("backup".into(), 2)],
            usage: vec![(UsageStatus::UnderReview, 4)],
            billing: vec![(BillingStatus::Submitted, 1)],
        }
    }

    #[test]
    fn every_status_is_counted_and_opens_its_list() {
        let distributor = Uuid::from_u128(7);
        let today: NaiveDate = "2026-06-15".parse().expect("a date");
        let message = dashboard_message(
            "distributors/x/dashboard",
            DistributorId::from_uuid(distributor),
            today,
            Granularity::Quarterly,
            &[(LicenseStatus::Expired, 2)],
            figures(true),
        );
        // Every status, a status without rows counted 0.
        let licenses: Vec<(i32, i64)> = message
            .customers_by_license_status
            .iter()
            .map(|f| (f.status, f.customers.as_ref().map_or(-1, |c| c.count)))
            .collect();
        assert_eq!(licenses.len(), LicenseStatus::ALL.len());
        assert!(licenses.contains(&(LicenseStatus::Expired.contract(), 2)));
        assert!(licenses.contains(&(LicenseStatus::Active.contract(), 0)));
        assert_eq!(
            message.usage_reports_by_status.len(),
            UsageStatus::ALL.len()
        );
        let under_review = message
            .usage_reports_by_status
            .iter()
            .find(|f| f.status == UsageStatus::UnderReview.contract())
            .and_then(|f| f.usage_reports.clone())
            .expect("counted");
        assert_eq!(under_review.count, 4);
        let list = under_review.list.expect("a list call");
        assert_eq!(
            list.method,
            "estate.billing.v1.ReportsService/ListUsageReports"
        );
        assert_eq!(
            list.request_json,
            json!({
                "parent": format!("distributors/{distributor}/partners/-"),
                "statuses": ["USAGE_REPORT_STATUS_UNDER_REVIEW"],
            })
            .to_string()
        );
        // Quarters, this year and the last.
        assert_eq!(message.new_partner_acquisition.len(), 4);
        let second = &message.new_partner_acquisition[1];
        assert_eq!(second.period, 2);
        assert_eq!(second.this_year.as_ref().map(|f| f.count), Some(5));
        assert_eq!(second.previous_year.as_ref().map(|f| f.count), Some(1));
        assert_eq!(message.active_partners.map(|f| f.count), Some(3));
    }

    #[test]
    fn a_screen_the_settings_turn_off_shows_no_counts() {
        let message = dashboard_message(
            "distributors/x/dashboard",
            DistributorId::from_uuid(Uuid::nil()),
            "2026-06-15".parse().expect("a date"),
            Granularity::Monthly,
            &[],
            figures(false),
        );
        assert!(!message.usage_reports_shown && message.usage_reports_by_status.is_empty());
        assert!(!message.billing_reports_shown && message.billing_reports_by_status.is_empty());
        assert_eq!(message.new_partner_acquisition.len(), 12);
    }
}
