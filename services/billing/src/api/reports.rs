//! `estate.billing.v1.ReportsService`: monthly usage reports, the billing
//! reports made from them, and a distributor's billing settings. The
//! status flows are in the proto's service comment.

use chrono::{Datelike, NaiveDate};
use estate_auth::{Access, CallerToken, Principal, caller};
use estate_db::SortedPage;
use estate_errors::{ApiError, Violations};
use estate_proto::billing::reports_service_server::ReportsService;
use estate_proto::billing::{
    BillingReport as ProtoBilling, BillingSettings, GetBillingReportRequest,
    GetBillingSettingsRequest, GetUsageReportRequest, ListBillingReportsRequest,
    ListBillingReportsResponse, ListUsageReportsRequest, ListUsageReportsResponse,
    PrepareUsageReportsRequest, PrepareUsageReportsResponse, UpdateBillingReportRequest,
    UpdateBillingSettingsRequest, UpdateUsageReportRequest, UsageReportSummary,
};
use estate_proto::common::Money;
use estate_proto::fields::{check_etag, mask_paths, revision_etag};
use estate_proto::names::{
    BillingReportName, DistributorId, DistributorName, PartnerName, UsageReportName,
};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::Reports;
use super::partners::{PartnerUsers, authorize, load_partner, not_found, require_editable};
use crate::db::Lock;
use crate::db::reports::{self, BillingReport, Settings, UsageFilter, UsageReport};
use crate::rules::reports::{
    BillingAction, BillingFacts, EditRefusal, Editor, Refusal, UsageAction, UsageEdit, UsageFacts,
    billing_transition, opened_billing_status, usage_edit, usage_transition,
};
use crate::rules::statuses::{BillingStatus, Stored, UsageStatus};

/// The statuses `values` (contract enum numbers) in `field`.
pub(super) fn statuses<T: Stored>(
    violations: &mut Violations,
    field: &str,
    values: &[i32],
) -> Vec<T> {
    let mut statuses = Vec::new();
    for (index, value) in values.iter().enumerate() {
        match T::from_contract(*value) {
            Some(status) => statuses.push(status),
            None => violations.add(format!("{field}[{index}]"), "is not a known status"),
        }
    }
    statuses
}

/// `YYYY-MM` in `field` as the month's first day.
fn parse_month(violations: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    // Exactly `YYYY-MM`: chrono alone would take `2027-2` as well.
    let parsed = NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d")
        .ok()
        .filter(|month| month_string(*month) == value);
    if parsed.is_none() {
        violations.add(
            field,
            format!(
                "must be a month like 2026-11, got {}",
                estate_errors::quote(value)
            ),
        );
    }
    parsed
}

pub(super) fn month_string(month: NaiveDate) -> String {
    month.format("%Y-%m").to_string()
}

/// FAILED_PRECONDITION for a report `subject` refused a transition.
fn refused(subject: String) -> impl FnOnce(Refusal) -> ApiError {
    move |refusal| ApiError::FailedPrecondition {
        violation: refusal.violation,
        subject,
        description: refusal.description,
    }
}

fn usage_name(report: &UsageReport) -> String {
    UsageReportName {
        distributor: report.distributor_id,
        partner: report.partner_id,
        report: report.id,
    }
    .to_string()
}

fn usage_proto(report: UsageReport) -> UsageReportSummary {
    UsageReportSummary {
        name: usage_name(&report),
        month: month_string(report.month),
        status: report.status.contract(),
        provisioned_units: report.provisioned,
        used_units: report.figures().used(),
        chargeable_units: report.chargeable(),
        over_provisioned_percent: report.figures().over_provisioned_percent(),
        auto_submitted: report.auto_submitted,
        flagged: report.flagged,
        update_time: Some(to_timestamp(report.update_time)),
        submit_time: report.submit_time.map(to_timestamp),
        etag: revision_etag(report.revision),
        product: report.product,
        comment: report.comment,
        rejection_reason: report.rejection_reason,
        comment_author: report.comment_author,
        comment_time: report.comment_time.map(to_timestamp),
        distributor_comment: report.distributor_comment,
        distributor_comment_author: report.distributor_comment_author,
        distributor_comment_time: report.distributor_comment_time.map(to_timestamp),
    }
}

fn billing_name(report: &BillingReport) -> String {
    BillingReportName {
        distributor: report.distributor_id,
        report: report.id,
    }
    .to_string()
}

fn billing_proto(report: BillingReport) -> ProtoBilling {
    let currency = report
        .unit_price
        .as_ref()
        .map(|(currency, _)| currency.clone())
        .unwrap_or_default();
    let money = |amount: Option<i64>| {
        amount.map(|amount_minor| Money {
            currency_code: currency.clone(),
            amount_minor,
        })
    };
    ProtoBilling {
        name: billing_name(&report),
        usage_report: UsageReportName {
            distributor: report.distributor_id,
            partner: report.partner_id,
            report: report.usage_report_id,
        }
        .to_string(),
        partner: PartnerName {
            distributor: report.distributor_id,
            partner: report.partner_id,
        }
        .to_string(),
        month: month_string(report.month),
        status: report.status.contract(),
        units: report.units,
        unit_price: money(report.unit_price.as_ref().map(|(_, price)| *price)),
        channel_margin_basis_points: report.margin_basis_points,
        amount: money(report.amount()),
        total: money(report.total()),
        create_time: Some(to_timestamp(report.create_time)),
        update_time: Some(to_timestamp(report.update_time)),
        etag: revision_etag(report.revision),
        po_number: report.po_number,
        product: report.product,
    }
}

fn settings_proto(distributor_id: DistributorId, settings: Settings) -> BillingSettings {
    BillingSettings {
        name: format!("distributors/{distributor_id}/billingSettings"),
        auto_submit_after_days: settings.auto_submit_after_days,
        chargeable_drop_threshold_percent: settings.chargeable_drop_threshold_percent,
        usage_reports_screen: settings.usage_reports_screen,
        billing_reports_screen: settings.billing_reports_screen,
        etag: revision_etag(settings.revision),
    }
}

/// PERMISSION_DENIED unless the caller is a platform administrator.
fn require_platform_admin(request_principal: &Principal, action: &str) -> Result<(), ApiError> {
    if request_principal.is_platform_admin() {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(format!(
            "only platform administrators may {action}"
        )))
    }
}

/// What follows a usage report's change in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterChange {
    Nothing,
    /// Open (or extend) its billing report: the report was approved.
    OpenBillingReport,
}

impl Reports {
    /// Takes `action` on usage report `name`: authorized first (partners'
    /// own users as far as `partner_users` allows), then in one
    /// transaction with the partner held active, the report locked, its
    /// etag checked, the transition decided by the rules, `change`
    /// applied and the result stored, then what `after` says.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is one named part of a usage-report change (who, which, what, what follows)"
    )]
    async fn change_usage(
        &self,
        who: &(Principal, CallerToken),
        name: &str,
        etag: &str,
        partner_users: PartnerUsers,
        action: UsageAction,
        after: AfterChange,
        change: impl FnOnce(&mut UsageReport),
    ) -> Result<UsageReport, ApiError> {
        let target = UsageReportName::parse("name", name)?;
        authorize(
            &self.0,
            who,
            target.distributor,
            target.partner,
            Access::Write,
            partner_users,
            "name",
        )
        .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let partner = load_partner(&transaction, target.partner(), Lock::Share).await?;
        require_editable(&partner)?;
        let mut report = reports::get_usage(
            &transaction,
            target.distributor,
            target.partner,
            target.report,
            true,
        )
        .await?
        .ok_or_else(|| not_found("usage report", name))?;
        check_etag(etag, report.revision, name.to_string())?;
        let figures = report.figures();
        report.status = usage_transition(
            action,
            &UsageFacts {
                status: report.status,
                over_provisioned: figures.over_provisioned(),
                over_provisioned_percent: figures.over_provisioned_percent(),
                comment: &report.comment,
            },
        )
        .map_err(refused(usage_name(&report)))?;
        change(&mut report);
        let now = self.0.clock.now();
        let saved = reports::save_usage(&transaction, &report, now).await?;
        if after == AfterChange::OpenBillingReport {
            let status = opened_billing_status(saved.auto_submitted, saved.flagged);
            let billing = reports::create_billing(&transaction, &saved, status, now).await?;
            tracing::info!(usage_report = %name, billing_report = %billing_name(&billing), "usage report billed");
        }
        estate_db::commit(transaction).await?;
        Ok(saved)
    }

    /// Authorizes `action` on billing report `name`: the distributor's
    /// writers, or platform administrators for the platform's actions.
    /// Returns its name.
    async fn authorize_billing(
        &self,
        (principal, token): &(Principal, CallerToken),
        name: &str,
        action: BillingAction,
    ) -> Result<BillingReportName, ApiError> {
        let target = BillingReportName::parse("name", name)?;
        match action.platform_action() {
            Some(action) => require_platform_admin(principal, action)?,
            None => {
                super::require_distributor(
                    &self.0,
                    token,
                    target.distributor,
                    Access::Write,
                    "name",
                )
                .await?
            }
        }
        Ok(target)
    }

    /// Takes `action` on billing report `request.name`, as the rules
    /// decide it.
    async fn move_billing<T: super::ActionRequest>(
        &self,
        request: Request<T>,
        action: BillingAction,
    ) -> Result<Response<ProtoBilling>, Status> {
        let who = caller(&request)?;
        let message = request.get_ref();
        let target = self.authorize_billing(&who, message.name(), action).await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let mut report =
            locked_billing(&transaction, target, message.name(), message.etag()).await?;
        let name = billing_name(&report);
        report.status =
            billing_transition(action, &billing_facts(&report)).map_err(refused(name.clone()))?;
        let to = report.status.column();
        let saved = reports::save_billing(&transaction, &report, self.0.clock.now())
            .await
            .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        tracing::info!(billing_report = %name, status = to, "billing report moved");
        Ok(Response::new(billing_proto(saved)))
    }
}

/// What the billing workflow needs to know of `report`.
fn billing_facts(report: &BillingReport) -> BillingFacts {
    BillingFacts {
        status: report.status,
        has_po_number: !report.po_number.is_empty(),
        has_unit_price: report.unit_price.is_some(),
        has_amount: report.amount().is_some(),
    }
}

/// Billing report `report` locked for a change, unchanged since `etag`.
async fn locked_billing(
    transaction: &tokio_postgres::Transaction<'_>,
    report: BillingReportName,
    name: &str,
    etag: &str,
) -> Result<BillingReport, ApiError> {
    let report = reports::get_billing(transaction, report.distributor, report.report, true)
        .await?
        .ok_or_else(|| not_found("billing report", name))?;
    check_etag(etag, report.revision, name.to_string())?;
    Ok(report)
}

/// The two report screens a distributor's billing settings turn on or off.
#[derive(Debug, Clone, Copy)]
enum Screen {
    Usage,
    Billing,
}

/// Refuses the distributor's own users the reports of a screen its
/// billing settings turn off, as the dashboard hides their figures.
/// Platform administrators (who review billing reports) and partners are
/// not bound by the distributor's screens.
async fn require_screen(
    client: &impl tokio_postgres::GenericClient,
    principal: &Principal,
    distributor_id: DistributorId,
    screen: Screen,
) -> Result<(), ApiError> {
    let distributor = distributor_id.to_string();
    if principal.is_platform_admin() || principal.organization_id.as_deref() != Some(&distributor) {
        return Ok(());
    }
    let settings = reports::settings(client, distributor_id).await?;
    let (shown, setting) = match screen {
        Screen::Usage => (settings.usage_reports_screen, "usage_reports_screen"),
        Screen::Billing => (settings.billing_reports_screen, "billing_reports_screen"),
    };
    if shown {
        return Ok(());
    }
    Err(ApiError::FailedPrecondition {
        violation: "SCREEN_DISABLED",
        subject: format!("distributors/{distributor_id}/billingSettings"),
        description: format!(
            "the distributor's billing settings turn this screen off ({setting} is false)"
        ),
    })
}

#[tonic::async_trait]
impl ReportsService for Reports {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn prepare_usage_reports(
        &self,
        request: Request<PrepareUsageReportsRequest>,
    ) -> Result<Response<PrepareUsageReportsResponse>, Status> {
        let who = caller(&request)?;
        let token = who.1.clone();
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let mut violations = Violations::new();
        let month = parse_month(&mut violations, "month", &message.month);
        if message.month.is_empty() {
            violations.add("month", "is required");
        }
        let now = self.0.clock.now();
        let this_month = now.date_naive().with_day(1).unwrap_or_default();
        if month.is_some_and(|month| month > this_month) {
            violations.add("month", "must not be after the current month");
        }
        violations.finish()?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Write, "parent")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let reports = reports::prepare(
            &transaction,
            distributor_id,
            month.unwrap_or(this_month),
            now,
        )
        .await
        .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        Ok(Response::new(PrepareUsageReportsResponse {
            usage_reports: reports.into_iter().map(usage_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_usage_report(
        &self,
        request: Request<GetUsageReportRequest>,
    ) -> Result<Response<UsageReportSummary>, Status> {
        let who = caller(&request)?;
        let name = request.into_inner().name;
        let target = UsageReportName::parse("name", &name)?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Read,
            PartnerUsers::Read,
            "name",
        )
        .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        require_screen(&**client, &who.0, target.distributor, Screen::Usage).await?;
        let report = reports::get_usage(
            &**client,
            target.distributor,
            target.partner,
            target.report,
            false,
        )
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found("usage report", &name))?;
        Ok(Response::new(usage_proto(report)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_usage_reports(
        &self,
        request: Request<ListUsageReportsRequest>,
    ) -> Result<Response<ListUsageReportsResponse>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let mut filter = UsageFilter {
            statuses: statuses::<UsageStatus>(&mut violations, "statuses", &message.statuses),
            month: parse_month(&mut violations, "month", &message.month),
            product: (!message.product.is_empty()).then(|| message.product.clone()),
            partner_id: None,
        };
        violations.finish()?;
        let page = SortedPage::parse(
            "month desc",
            reports::USAGE_SORT,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{}:{filter:?}", message.parent),
        )?;
        let (distributor_id, partner_id) =
            super::partners::scope(&self.0, &who, &message.parent).await?;
        filter.partner_id = partner_id;
        let client = estate_db::connection(&self.0.pool).await?;
        require_screen(&**client, &who.0, distributor_id, Screen::Usage).await?;
        let (reports, next_page_token) =
            reports::list_usage(&**client, distributor_id, &filter, &page)
                .await
                .map_err(ApiError::from)?;
        Ok(Response::new(ListUsageReportsResponse {
            usage_reports: reports.into_iter().map(usage_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_usage_report(
        &self,
        request: Request<UpdateUsageReportRequest>,
    ) -> Result<Response<UsageReportSummary>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let update = message
            .usage_report
            .ok_or_else(|| ApiError::invalid("usage_report", "is required"))?;
        let paths = mask_paths(
            message.update_mask,
            &["used_units", "comment", "distributor_comment"],
        )?;
        let mut violations = Violations::new();
        violations.check_length("usage_report.comment", &update.comment, 0, 2000);
        violations.check_length(
            "usage_report.distributor_comment",
            &update.distributor_comment,
            0,
            2000,
        );
        if update
            .used_units
            .is_some_and(|used| !(0..=super::MAX_DECLARED_UNITS).contains(&used))
        {
            violations.add(
                "usage_report.used_units",
                format!("must be between 0 and {}", super::MAX_DECLARED_UNITS),
            );
        }
        violations.finish()?;
        let target = UsageReportName::parse("usage_report.name", &update.name)?;
        let principal = &who.0;
        let editor = if principal.organization_id.as_deref() == Some(&target.partner.to_string()) {
            Editor::Partner
        } else if principal.is_platform_admin() {
            Editor::Platform
        } else {
            Editor::Distributor
        };
        let edit = usage_edit(editor, &paths).map_err(|refusal| match refusal {
            EditRefusal::OtherSide(reason) => ApiError::PermissionDenied(reason),
            EditRefusal::Mixed => ApiError::invalid(
                "update_mask",
                "distributor_comment is updated on its own, without the partner's fields",
            ),
        })?;
        let now = self.0.clock.now();
        let author = principal.subject.clone();
        if edit == UsageEdit::DistributorComment {
            let saved = self
                .change_usage(
                    &who,
                    &update.name,
                    &message.etag,
                    PartnerUsers::Read,
                    UsageAction::Comment,
                    AfterChange::Nothing,
                    |report| {
                        report
                            .distributor_comment
                            .clone_from(&update.distributor_comment);
                        report.distributor_comment_author = author;
                        report.distributor_comment_time = Some(now);
                    },
                )
                .await?;
            return Ok(Response::new(usage_proto(saved)));
        }
        let saved = self
            .change_usage(
                &who,
                &update.name,
                &message.etag,
                PartnerUsers::Write,
                UsageAction::Edit,
                AfterChange::Nothing,
                |report| {
                    for path in &paths {
                        if path == "comment" {
                            report.comment.clone_from(&update.comment);
                            report.comment_author = author.clone();
                            report.comment_time = Some(now);
                        } else {
                            report.used_declared = update.used_units;
                        }
                    }
                    // Editing a rejected report starts it over: it is the
                    // partner's again, no longer the platform's automatic
                    // submission nor charged as one.
                    report.auto_submitted = false;
                    report.flagged = false;
                },
            )
            .await?;
        Ok(Response::new(usage_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn submit_usage_report(
        &self,
        request: Request<estate_proto::billing::SubmitUsageReportRequest>,
    ) -> Result<Response<UsageReportSummary>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let now = self.0.clock.now();
        let saved = self
            .change_usage(
                &who,
                &message.name,
                &message.etag,
                PartnerUsers::Write,
                UsageAction::Submit,
                AfterChange::Nothing,
                |report| {
                    report.submit_time = Some(now);
                    // Submitted by the partner: no longer the platform's
                    // automatic submission, nor charged as one.
                    report.auto_submitted = false;
                    report.flagged = false;
                    report.rejection_reason.clear();
                },
            )
            .await?;
        Ok(Response::new(usage_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn approve_usage_report(
        &self,
        request: Request<estate_proto::billing::ApproveUsageReportRequest>,
    ) -> Result<Response<UsageReportSummary>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let saved = self
            .change_usage(
                &who,
                &message.name,
                &message.etag,
                PartnerUsers::Read,
                UsageAction::Approve,
                AfterChange::OpenBillingReport,
                |_| {},
            )
            .await?;
        Ok(Response::new(usage_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn reject_usage_report(
        &self,
        request: Request<estate_proto::billing::RejectUsageReportRequest>,
    ) -> Result<Response<UsageReportSummary>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        if message.comment.trim().is_empty() {
            return Err(ApiError::invalid("comment", "a rejection needs a reason").into());
        }
        let saved = self
            .change_usage(
                &who,
                &message.name,
                &message.etag,
                PartnerUsers::Read,
                UsageAction::Reject,
                AfterChange::Nothing,
                |report| {
                    // Apart from the partner's comment, which must still
                    // explain an over-provisioned report on its own.
                    report.rejection_reason = message.comment.trim().chars().take(2000).collect();
                },
            )
            .await?;
        Ok(Response::new(usage_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_billing_report(
        &self,
        request: Request<GetBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        let who = caller(&request)?;
        let token = who.1.clone();
        let name = request.into_inner().name;
        let target = BillingReportName::parse("name", &name)?;
        super::require_distributor(&self.0, &token, target.distributor, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        require_screen(&**client, &who.0, target.distributor, Screen::Billing).await?;
        let report = reports::get_billing(&**client, target.distributor, target.report, false)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| not_found("billing report", &name))?;
        Ok(Response::new(billing_proto(report)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_billing_reports(
        &self,
        request: Request<ListBillingReportsRequest>,
    ) -> Result<Response<ListBillingReportsResponse>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let mut violations = Violations::new();
        let statuses = statuses::<BillingStatus>(&mut violations, "statuses", &message.statuses);
        let month = parse_month(&mut violations, "month", &message.month);
        violations.finish()?;
        let page = SortedPage::parse(
            "month desc",
            reports::BILLING_SORT,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{statuses:?}:{month:?}"),
        )?;
        super::require_distributor(&self.0, &who.1, distributor_id, Access::Read, "parent").await?;
        let client = estate_db::connection(&self.0.pool).await?;
        require_screen(&**client, &who.0, distributor_id, Screen::Billing).await?;
        let (reports, next_page_token) =
            reports::list_billing(&**client, distributor_id, &statuses, month, &page)
                .await
                .map_err(ApiError::from)?;
        Ok(Response::new(ListBillingReportsResponse {
            billing_reports: reports.into_iter().map(billing_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_billing_report(
        &self,
        request: Request<UpdateBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let update = message
            .billing_report
            .ok_or_else(|| ApiError::invalid("billing_report", "is required"))?;
        let paths = mask_paths(
            message.update_mask,
            &["po_number", "unit_price", "channel_margin_basis_points"],
        )?;
        let mut violations = Violations::new();
        violations.check_length("billing_report.po_number", &update.po_number, 0, 64);
        if let Some(price) = &update.unit_price {
            let code_ok = price.currency_code.len() == 3
                && price.currency_code.bytes().all(|b| b.is_ascii_uppercase());
            if !code_ok {
                violations.add(
                    "billing_report.unit_price.currency_code",
                    "must be an ISO 4217 code of three upper-case letters, e.g. EUR",
                );
            }
            if price.amount_minor < 0 {
                violations.add(
                    "billing_report.unit_price.amount_minor",
                    "must not be negative",
                );
            }
        }
        if !(0..=10_000).contains(&update.channel_margin_basis_points) {
            violations.add(
                "billing_report.channel_margin_basis_points",
                "must be between 0 and 10000 (100%)",
            );
        }
        violations.finish()?;
        let target = self
            .authorize_billing(&who, &update.name, BillingAction::Edit)
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let mut report = locked_billing(&transaction, target, &update.name, &message.etag).await?;
        billing_transition(BillingAction::Edit, &billing_facts(&report))
            .map_err(refused(billing_name(&report)))?;
        for path in &paths {
            match path.as_str() {
                "po_number" => report.po_number.clone_from(&update.po_number),
                "unit_price" => {
                    report.unit_price = update
                        .unit_price
                        .as_ref()
                        .map(|price| (price.currency_code.clone(), price.amount_minor));
                }
                _ => report.margin_basis_points = update.channel_margin_basis_points,
            }
        }
        if report.unit_price.is_some() && report.amount().is_none() {
            return Err(ApiError::invalid(
                "billing_report.unit_price.amount_minor",
                "units × unit price does not fit in 64 bits",
            )
            .into());
        }
        let saved = reports::save_billing(&transaction, &report, self.0.clock.now())
            .await
            .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        Ok(Response::new(billing_proto(saved)))
    }

    async fn submit_billing_report(
        &self,
        request: Request<estate_proto::billing::SubmitBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        self.move_billing(request, BillingAction::Submit).await
    }

    async fn return_billing_report(
        &self,
        request: Request<estate_proto::billing::ReturnBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        self.move_billing(request, BillingAction::Return).await
    }

    async fn reject_billing_report(
        &self,
        request: Request<estate_proto::billing::RejectBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        self.move_billing(request, BillingAction::Reject).await
    }

    async fn accept_billing_report(
        &self,
        request: Request<estate_proto::billing::AcceptBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        self.move_billing(request, BillingAction::Accept).await
    }

    async fn complete_billing_report(
        &self,
        request: Request<estate_proto::billing::CompleteBillingReportRequest>,
    ) -> Result<Response<ProtoBilling>, Status> {
        self.move_billing(request, BillingAction::Complete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_billing_settings(
        &self,
        request: Request<GetBillingSettingsRequest>,
    ) -> Result<Response<BillingSettings>, Status> {
        let who = caller(&request)?;
        let token = who.1.clone();
        let name = request.into_inner().name;
        let distributor_id = super::distributor_of(&name, "/billingSettings", "name")?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "name").await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = reports::settings(&**client, distributor_id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(settings_proto(distributor_id, settings)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_billing_settings(
        &self,
        request: Request<UpdateBillingSettingsRequest>,
    ) -> Result<Response<BillingSettings>, Status> {
        let (principal, _) = caller(&request)?;
        require_platform_admin(&principal, "change billing settings")?;
        let message = request.into_inner();
        let update = message
            .settings
            .ok_or_else(|| ApiError::invalid("settings", "is required"))?;
        let distributor_id =
            super::distributor_of(&update.name, "/billingSettings", "settings.name")?;
        let paths = mask_paths(
            message.update_mask,
            &[
                "auto_submit_after_days",
                "chargeable_drop_threshold_percent",
                "usage_reports_screen",
                "billing_reports_screen",
            ],
        )?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let mut settings = reports::settings_for_update(&transaction, distributor_id)
            .await
            .map_err(ApiError::from)?;
        check_etag(&message.etag, settings.revision, update.name.clone())?;
        for path in &paths {
            match path.as_str() {
                "auto_submit_after_days" => {
                    settings.auto_submit_after_days = update.auto_submit_after_days;
                }
                "chargeable_drop_threshold_percent" => {
                    settings.chargeable_drop_threshold_percent =
                        update.chargeable_drop_threshold_percent;
                }
                "usage_reports_screen" => {
                    settings.usage_reports_screen = update.usage_reports_screen;
                }
                _ => settings.billing_reports_screen = update.billing_reports_screen,
            }
        }
        let mut violations = Violations::new();
        if !(0..=90).contains(&settings.auto_submit_after_days) {
            violations.add(
                "settings.auto_submit_after_days",
                "must be between 0 and 90",
            );
        }
        if !(1..=100).contains(&settings.chargeable_drop_threshold_percent) {
            violations.add(
                "settings.chargeable_drop_threshold_percent",
                "must be between 1 and 100",
            );
        }
        violations.finish()?;
        let stored = reports::store_settings(&transaction, distributor_id, &settings)
            .await
            .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        Ok(Response::new(settings_proto(distributor_id, stored)))
    }
}
