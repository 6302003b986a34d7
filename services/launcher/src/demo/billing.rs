//! The demo's billing side: Northwind's partner and customer accounts,
//! three service plans, product licenses, daily usage since the start of
//! the month before last, and the usage and billing reports of the last
//! two complete months in several statuses.
//!
//! Dates are relative to `today`, so the reports are always the last two
//! months. Loading twice changes nothing: creates carry request ids, usage
//! carries client keys, and each report is moved only from the status it
//! is expected to be in.

use chrono::{Datelike, Days, Months, NaiveDate};
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::billing::product_licenses_service_client::ProductLicensesServiceClient;
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
use estate_proto::billing::{
    AcceptBillingReportRequest, ApproveUsageReportRequest, BillingReport, BillingReportStatus,
    BillingSettings, CompleteBillingReportRequest, CreateCustomerAccountRequest,
    CreatePartnerRequest, CreateProductLicenseRequest, CreateServicePlanRequest, CustomerAccount,
    LicenseType, ListBillingReportsRequest, Partner, PlanPrice, PrepareUsageReportsRequest,
    ProductLicense, ReportUsageRequest, ServicePlan, SubmitBillingReportRequest,
    SubmitUsageReportRequest, UpdateBillingReportRequest, UpdateBillingSettingsRequest,
    UpdateUsageReportRequest, UsageReport, UsageReportStatus, UsageReportSummary,
};
use estate_proto::common::Money;
use prost_types::FieldMask;
use tonic::transport::Channel;

use super::authorized;

/// The organizations the accounts are opened for.
#[derive(Debug)]
pub struct Organizations<'a> {
    pub distributor: &'a str,
    pub contoso: &'a str,
    pub fabrikam: &'a str,
    /// Contoso's customers: Adatum, Litware, Wide World Importers.
    pub adatum: &'a str,
    pub litware: &'a str,
    pub wide_world: &'a str,
    /// Fabrikam's.
    pub tailspin: &'a str,
}

/// The products the plans sell, by id, as usage names them.
pub const SAM_CORE: &str = "sam-core";
pub const CLOUD_BACKUP: &str = "cloud-backup";

/// The unit prices of the full plans, in euro cents.
pub const SAM_CORE_PRICE: i64 = 450;
pub const CLOUD_BACKUP_PRICE: i64 = 1_990;

/// Contoso's and Fabrikam's channel margin: 15%.
const MARGIN_BASIS_POINTS: i32 = 1_500;

/// The deadline the demo leaves in place: a month's reports still
/// PREPARING are auto-submitted from the first day of the next month, so
/// the worker picks up what the demo left on any day it runs.
const AUTO_SUBMIT_AFTER_DAYS: i32 = 0;

struct Clients {
    key: String,
    partners: PartnersServiceClient<Channel>,
    plans: ServicePlansServiceClient<Channel>,
    licenses: ProductLicensesServiceClient<Channel>,
    reports: ReportsServiceClient<Channel>,
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|path| (*path).to_string()).collect(),
    })
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

pub async fn load(
    channel: &Channel,
    key: &str,
    organizations: &Organizations<'_>,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let mut clients = Clients {
        key: key.into(),
        partners: PartnersServiceClient::new(channel.clone()),
        plans: ServicePlansServiceClient::new(channel.clone()),
        licenses: ProductLicensesServiceClient::new(channel.clone()),
        reports: ReportsServiceClient::new(channel.clone()),
    };
    let distributor = organizations
        .distributor
        .replacen("organizations/", "distributors/", 1);
    let this_month = first_of_month(today);
    let last_month = this_month - Months::new(1);
    let month_before = this_month - Months::new(2);

    // While the demo moves reports itself, the worker must not submit
    // them first: the longest deadline now, the default at the end.
    clients.settings(&distributor, 90).await?;

    let contoso = clients
        .partner(
            &distributor,
            organizations.contoso,
            today - Days::new(400),
            "demo-partner-contoso",
        )
        .await?;
    // Acquired twelve days ago with only a trial sold: a new partner on
    // the dashboard, and an inactive one.
    let fabrikam = clients
        .partner(
            &distributor,
            organizations.fabrikam,
            today - Days::new(12),
            "demo-partner-fabrikam",
        )
        .await?;
    let adatum = clients
        .customer(&contoso, organizations.adatum, "demo-account-adatum")
        .await?;
    let litware = clients
        .customer(&contoso, organizations.litware, "demo-account-litware")
        .await?;
    let wide_world = clients
        .customer(&contoso, organizations.wide_world, "demo-account-wideworld")
        .await?;
    let tailspin = clients
        .customer(&fabrikam, organizations.tailspin, "demo-account-tailspin")
        .await?;

    let sam_core = clients
        .plan(
            &distributor,
            "SAM Core — 12 months",
            SAM_CORE,
            LicenseType::Full,
            "device",
            12,
            Some((month_before - Months::new(1), SAM_CORE_PRICE)),
            "demo-sam-core-12",
        )
        .await?;
    let sam_core_trial = clients
        .plan(
            &distributor,
            "SAM Core — 1-month trial",
            SAM_CORE,
            LicenseType::Trial,
            "device",
            1,
            None,
            "demo-sam-core-trial",
        )
        .await?;
    let backup = clients
        .plan(
            &distributor,
            "Cloud Backup — monthly",
            CLOUD_BACKUP,
            LicenseType::Full,
            "TB",
            1,
            Some((month_before - Months::new(1), CLOUD_BACKUP_PRICE)),
            "demo-cloud-backup",
        )
        .await?;

    // Licenses from the start of the month before the reports' first one.
    let start = month_before - Months::new(1);
    let trial_start = today - Days::new(10);
    for (customer, plan, seats, start_date, request_id) in [
        (&adatum, &sam_core, 250, start, "demo-license-adatum-sam"),
        (&adatum, &backup, 20, start, "demo-license-adatum-backup"),
        (&litware, &sam_core, 40, start, "demo-license-litware-sam"),
        (
            &wide_world,
            &backup,
            10,
            start,
            "demo-license-wideworld-backup",
        ),
        (
            &tailspin,
            &sam_core_trial,
            25,
            trial_start,
            "demo-license-tailspin-trial",
        ),
    ] {
        clients
            .license(customer, plan, seats, start_date, request_id)
            .await?;
    }

    // Daily usage from the month before last through yesterday. Litware
    // outgrows its 40 seats in the last two weeks (exceeded allocation);
    // Adatum's backup falls from 18 TB to 12 TB (a chargeable drop).
    let mut usage = Vec::new();
    let mut day = month_before;
    while day < today {
        let index = (day - month_before).num_days();
        let wobble = index * 7 % 11;
        let recent = (today - day).num_days() <= 14;
        let before_last_month = day < last_month;
        usage.push((&adatum, SAM_CORE, day, 205 + wobble));
        usage.push((
            &litware,
            SAM_CORE,
            day,
            if recent { 46 } else { 34 + wobble % 4 },
        ));
        usage.push((
            &adatum,
            CLOUD_BACKUP,
            day,
            if before_last_month { 18 } else { 12 },
        ));
        usage.push((&wide_world, CLOUD_BACKUP, day, 8));
        if day >= trial_start {
            usage.push((&tailspin, SAM_CORE, day, 20));
        }
        day = day + Days::new(1);
    }
    for batch in usage.chunks(32) {
        let calls = batch.iter().map(|(customer, product, day, used)| {
            let mut licenses = clients.licenses.clone();
            let request = ReportUsageRequest {
                parent: customer.name.clone(),
                usage: Some(UsageReport {
                    product: (*product).into(),
                    usage_date: day.to_string(),
                    used_units: *used,
                    client_key: format!(
                        "demo-{}-{product}-{day}",
                        customer.name.rsplit('/').next().unwrap_or_default()
                    ),
                    ..Default::default()
                }),
            };
            let request = authorized(request, key);
            async move { licenses.report_usage(request).await }
        });
        futures::future::try_join_all(calls).await?;
    }

    // The month before last: both of Contoso's reports approved; SAM Core
    // billed and completed, Cloud Backup billed and still being prepared.
    // Last month: Cloud Backup under review (its chargeable units fell by
    // more than the dashboard's 20% threshold), SAM Core left preparing
    // over-provisioned without a comment, for the worker to auto-submit,
    // flag and charge on provisioned units.
    let before = clients.prepare(&distributor, month_before).await?;
    let last = clients.prepare(&distributor, last_month).await?;
    for report in &before {
        let report = clients
            .submit(report, "seats bought ahead of the spring rollout")
            .await?;
        let report = clients.approve(&report).await?;
        // Priced from its plan and Contoso's margin when it was made.
        let billing = clients.billing_report(&distributor, &report).await?;
        let billing = clients.order(billing).await?;
        if report.product == SAM_CORE {
            clients.bill_to_completion(billing).await?;
        }
    }
    for report in last.iter().filter(|report| report.product == CLOUD_BACKUP) {
        clients
            .submit(report, "Adatum archived last year's backups")
            .await?;
    }
    clients
        .settings(&distributor, AUTO_SUBMIT_AFTER_DAYS)
        .await?;
    Ok(())
}

impl Clients {
    async fn settings(&mut self, distributor: &str, days: i32) -> anyhow::Result<()> {
        let request = UpdateBillingSettingsRequest {
            settings: Some(BillingSettings {
                name: format!("{distributor}/billingSettings"),
                auto_submit_after_days: days,
                ..Default::default()
            }),
            update_mask: mask(&["auto_submit_after_days"]),
            etag: String::new(),
        };
        self.reports
            .update_billing_settings(authorized(request, &self.key))
            .await?;
        Ok(())
    }

    async fn partner(
        &mut self,
        distributor: &str,
        organization: &str,
        acquired: NaiveDate,
        request_id: &str,
    ) -> anyhow::Result<Partner> {
        let request = CreatePartnerRequest {
            parent: distributor.into(),
            partner: Some(Partner {
                organization: organization.into(),
                // The organization's own type.
                acquisition_date: acquired.to_string(),
                region: "EMEA".into(),
                channel_margin_basis_points: MARGIN_BASIS_POINTS,
                ..Default::default()
            }),
            request_id: request_id.into(),
        };
        Ok(self
            .partners
            .create_partner(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    async fn customer(
        &mut self,
        partner: &Partner,
        organization: &str,
        request_id: &str,
    ) -> anyhow::Result<CustomerAccount> {
        let request = CreateCustomerAccountRequest {
            parent: partner.name.clone(),
            customer: Some(CustomerAccount {
                organization: organization.into(),
                ..Default::default()
            }),
            request_id: request_id.into(),
        };
        Ok(self
            .partners
            .create_customer_account(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per column of a demo service plan, named at each call"
    )]
    async fn plan(
        &mut self,
        distributor: &str,
        display_name: &str,
        product: &str,
        license_type: LicenseType,
        unit_type: &str,
        months: i32,
        price: Option<(NaiveDate, i64)>,
        request_id: &str,
    ) -> anyhow::Result<ServicePlan> {
        let plan = ServicePlan {
            display_name: display_name.into(),
            product: product.into(),
            license_type: license_type.into(),
            unit_type: unit_type.into(),
            initial_period_months: months,
            auto_renewal: license_type == LicenseType::Full,
            // A month's trial warns in its last week, so it shows as a trial
            // until then.
            expiration_notification_days: if license_type == LicenseType::Full {
                30
            } else {
                7
            },
            enabled: true,
            prices: price
                .map(|(from, cents)| PlanPrice {
                    effective_from: from.to_string(),
                    unit_price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: cents,
                    }),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let request = CreateServicePlanRequest {
            parent: distributor.into(),
            service_plan: Some(plan),
            request_id: request_id.into(),
        };
        Ok(self
            .plans
            .create_service_plan(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    async fn license(
        &mut self,
        customer: &CustomerAccount,
        plan: &ServicePlan,
        seats: i64,
        start: NaiveDate,
        request_id: &str,
    ) -> anyhow::Result<()> {
        let request = CreateProductLicenseRequest {
            parent: customer.name.clone(),
            product_license: Some(ProductLicense {
                service_plan: plan.name.clone(),
                seats,
                start_date: start.to_string(),
                ..Default::default()
            }),
            request_id: request_id.into(),
        };
        self.licenses
            .create_product_license(authorized(request, &self.key))
            .await?;
        Ok(())
    }

    async fn prepare(
        &mut self,
        distributor: &str,
        month: NaiveDate,
    ) -> anyhow::Result<Vec<UsageReportSummary>> {
        let request = PrepareUsageReportsRequest {
            parent: distributor.into(),
            month: month.format("%Y-%m").to_string(),
        };
        Ok(self
            .reports
            .prepare_usage_reports(authorized(request, &self.key))
            .await?
            .into_inner()
            .usage_reports)
    }

    /// Comments (when over-provisioned) and submits a report still being
    /// prepared; a report past that is returned as it is.
    async fn submit(
        &mut self,
        report: &UsageReportSummary,
        comment: &str,
    ) -> anyhow::Result<UsageReportSummary> {
        if report.status() != UsageReportStatus::Preparing {
            return Ok(report.clone());
        }
        if report.over_provisioned_percent > 0 && report.comment.is_empty() {
            let request = UpdateUsageReportRequest {
                usage_report: Some(UsageReportSummary {
                    name: report.name.clone(),
                    comment: comment.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["comment"]),
                etag: String::new(),
            };
            self.reports
                .update_usage_report(authorized(request, &self.key))
                .await?;
        }
        let request = SubmitUsageReportRequest {
            name: report.name.clone(),
            etag: String::new(),
        };
        Ok(self
            .reports
            .submit_usage_report(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    async fn approve(&mut self, report: &UsageReportSummary) -> anyhow::Result<UsageReportSummary> {
        if report.status() != UsageReportStatus::UnderReview {
            return Ok(report.clone());
        }
        let request = ApproveUsageReportRequest {
            name: report.name.clone(),
            etag: String::new(),
        };
        Ok(self
            .reports
            .approve_usage_report(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    /// The billing report made when `report` was approved.
    async fn billing_report(
        &mut self,
        distributor: &str,
        report: &UsageReportSummary,
    ) -> anyhow::Result<BillingReport> {
        let request = ListBillingReportsRequest {
            parent: distributor.into(),
            month: report.month.clone(),
            ..Default::default()
        };
        self.reports
            .list_billing_reports(authorized(request, &self.key))
            .await?
            .into_inner()
            .billing_reports
            .into_iter()
            .find(|billing| billing.usage_report == report.name)
            .ok_or_else(|| anyhow::anyhow!("no billing report for {}", report.name))
    }

    /// Gives a report still being prepared its purchase order number.
    async fn order(&mut self, billing: BillingReport) -> anyhow::Result<BillingReport> {
        if billing.status() != BillingReportStatus::Preparing || !billing.po_number.is_empty() {
            return Ok(billing);
        }
        let request = UpdateBillingReportRequest {
            billing_report: Some(BillingReport {
                name: billing.name.clone(),
                po_number: format!("PO-{}-{}", billing.month, &billing.product[..3]),
                ..Default::default()
            }),
            update_mask: mask(&["po_number"]),
            etag: String::new(),
        };
        Ok(self
            .reports
            .update_billing_report(authorized(request, &self.key))
            .await?
            .into_inner())
    }

    /// Submits, accepts and completes a billing report, from wherever it is
    /// on that way.
    async fn bill_to_completion(&mut self, mut billing: BillingReport) -> anyhow::Result<()> {
        loop {
            let name = billing.name.clone();
            let key = self.key.clone();
            let reports = &mut self.reports;
            billing = match billing.status() {
                BillingReportStatus::Preparing => {
                    let request = SubmitBillingReportRequest {
                        name,
                        etag: String::new(),
                    };
                    reports
                        .submit_billing_report(authorized(request, &key))
                        .await?
                }
                BillingReportStatus::UnderReviewManual => {
                    let request = AcceptBillingReportRequest {
                        name,
                        etag: String::new(),
                    };
                    reports
                        .accept_billing_report(authorized(request, &key))
                        .await?
                }
                BillingReportStatus::Submitted => {
                    let request = CompleteBillingReportRequest {
                        name,
                        etag: String::new(),
                    };
                    reports
                        .complete_billing_report(authorized(request, &key))
                        .await?
                }
                _ => return Ok(()),
            }
            .into_inner();
        }
    }
}
