//! `estate.billing.v1.ProductLicensesService`: licenses sold from plans,
//! and usage reports against them.

use estate_auth::{Access, CallerToken, Principal, caller};
use estate_db::{Created, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::billing::product_licenses_service_server::ProductLicensesService;
use estate_proto::billing::{
    CreateProductLicenseRequest, GetProductLicenseRequest, ListProductLicensesRequest,
    ListProductLicensesResponse, ProductLicense as ProtoLicense, ReportUsageRequest, UsageReport,
};
use estate_proto::fields::{date_string, fingerprint, optional_date, request_id};
use estate_proto::names::{CustomerAccountName, CustomerId, ProductLicenseName, ServicePlanName};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::ProductLicenses;
use super::partners::{PartnerUsers, authorize, load_partner, not_found, require_editable};
use crate::AppState;
use crate::db::Lock;
use crate::db::partners::{self as accounts, CustomerAccount};
use crate::db::product_licenses::{self, ProductLicense, Usage};
use crate::db::service_plans;
use crate::rules::sales::{PlanTerms, SaleRefusal, Subject, customer_may_buy, may_sell};
use crate::rules::statuses::{LicenseStatus, PartnerState, Stored};

fn to_proto(license: ProductLicense) -> ProtoLicense {
    ProtoLicense {
        name: ProductLicenseName {
            distributor: license.distributor_id,
            partner: license.partner_id,
            customer: license.customer_id,
            license: license.id,
        }
        .to_string(),
        service_plan: ServicePlanName {
            distributor: license.distributor_id,
            plan: license.plan_id,
        }
        .to_string(),
        product: license.product,
        license_type: license.license_type.contract(),
        seats: license.seats,
        start_date: date_string(Some(license.start_date)),
        end_date: date_string(Some(license.end_date)),
        auto_renewal: license.auto_renewal,
        status: license.status.contract(),
        create_time: Some(to_timestamp(license.create_time)),
    }
}

/// Authorizes the caller for `access` to the customer account `name` (in
/// `field`), which partners' own users may change. Returns its name.
async fn authorize_customer(
    state: &AppState,
    who: &(Principal, CallerToken),
    name: &str,
    field: &str,
    access: Access,
) -> Result<CustomerAccountName, ApiError> {
    let target = CustomerAccountName::parse(field, name)?;
    authorize(
        state,
        who,
        target.distributor,
        target.partner,
        access,
        PartnerUsers::Write,
        field,
    )
    .await?;
    Ok(target)
}

/// Customer account `account`, read with `lock`.
async fn customer_account(
    client: &impl tokio_postgres::GenericClient,
    account: CustomerAccountName,
    lock: Lock,
    name: &str,
) -> Result<CustomerAccount, ApiError> {
    accounts::get_customer(
        client,
        account.distributor,
        account.partner,
        account.customer,
        lock,
    )
    .await?
    .ok_or_else(|| not_found("customer account", name))
}

/// The customer's partner, held unchanged (`FOR SHARE`) until the
/// transaction ends, so a check of its status stays true until commit.
async fn held_partner(
    transaction: &tokio_postgres::Transaction<'_>,
    account: CustomerAccountName,
) -> Result<crate::db::partners::Partner, ApiError> {
    load_partner(transaction, account.partner(), Lock::Share).await
}

fn usage_proto(customer: &str, usage: Usage) -> UsageReport {
    UsageReport {
        customer: customer.to_string(),
        product: usage.product,
        usage_date: date_string(Some(usage.usage_date)),
        used_units: usage.used_units,
        client_key: usage.client_key,
        report_time: Some(to_timestamp(usage.report_time)),
    }
}

/// The plan and start date of `license` (a start date left out is
/// `today`), with every field's violation at once.
fn parse_sale(
    license: &ProtoLicense,
    today: chrono::NaiveDate,
) -> Result<(ServicePlanName, chrono::NaiveDate), ApiError> {
    let mut violations = Violations::new();
    let plan = ServicePlanName::parse("product_license.service_plan", &license.service_plan);
    if let Err(ApiError::InvalidArgument(found)) = &plan {
        for violation in found {
            violations.add(violation.field.clone(), violation.description.clone());
        }
    }
    if !(1..=super::MAX_UNITS).contains(&license.seats) {
        violations.add(
            "product_license.seats",
            format!(
                "must be between 1 and {}, got {}",
                super::MAX_UNITS,
                license.seats
            ),
        );
    }
    let start_date = optional_date(
        &mut violations,
        "product_license.start_date",
        &license.start_date,
    )
    .unwrap_or(today);
    violations.finish()?;
    Ok((plan?, start_date))
}

#[tonic::async_trait]
impl ProductLicensesService for ProductLicenses {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_product_license(
        &self,
        request: Request<CreateProductLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let request_id = request_id(&message.request_id)?;
        let license = message
            .product_license
            .clone()
            .ok_or_else(|| ApiError::invalid("product_license", "is required"))?;
        let now = self.0.clock.now();
        let today = now.date_naive();
        let (plan_name, start_date) = parse_sale(&license, today)?;
        let account =
            authorize_customer(&self.0, &who, &message.parent, "parent", Access::Write).await?;
        let key = RequestKey::of(
            account.customer,
            "CreateProductLicense",
            request_id,
            fingerprint(&CreateProductLicenseRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        if plan_name.distributor != account.distributor {
            return Err(ApiError::invalid(
                "product_license.service_plan",
                "must be a plan of the customer's distributor",
            )
            .into());
        }
        // Partner, customer and plan are held unchanged until the sale
        // commits, so none of the checks below goes stale. A retry of a
        // sale that was made replays it before any check.
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        // What a refused sale names: the customer, its plan or the date.
        let sale_refused = |refused: SaleRefusal| ApiError::FailedPrecondition {
            violation: refused.refusal.violation,
            subject: match refused.subject {
                Subject::Customer => message.parent.clone(),
                Subject::Plan => license.service_plan.clone(),
                Subject::StartDate => "product_license.start_date".into(),
            },
            description: refused.refusal.description,
        };
        let outcome = {
            let client = &transaction;
            let (parent, license) = (&message.parent, &license);
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move {
                    Ok::<_, ApiError>(product_licenses::get_of(client, account, id, today).await?)
                },
                || async move {
                    require_editable(&held_partner(client, account).await?)?;
                    let customer = customer_account(client, account, Lock::Share, parent).await?;
                    customer_may_buy(customer.enabled).map_err(sale_refused)?;
                    let plan = service_plans::get(
                        client,
                        plan_name.distributor,
                        plan_name.plan,
                        Lock::Share,
                    )
                    .await?
                    .ok_or_else(|| not_found("service plan", &license.service_plan))?;
                    let terms = PlanTerms {
                        enabled: plan.fields.enabled,
                        end_of_sale: plan.end_of_sale_time.is_some(),
                        initial_period_months: u32::try_from(plan.fields.initial_period_months)
                            .unwrap_or(0),
                        auto_renewal: plan.fields.auto_renewal,
                    };
                    may_sell(&terms, start_date, today).map_err(sale_refused)?;
                    let id = product_licenses::insert(
                        client,
                        &customer,
                        &plan,
                        license.seats,
                        start_date,
                        request_id,
                        now,
                    )
                    .await?;
                    product_licenses::get(client, &customer, id, today)
                        .await?
                        .ok_or_else(|| ApiError::internal("the license just written is gone"))
                },
                |stored| stored.id,
            )
            .await?
        };
        let stored = match outcome {
            Created::New(stored) => stored,
            Created::Replayed(stored) => return Ok(Response::new(to_proto(stored))),
        };
        estate_db::commit(transaction).await?;
        Ok(Response::new(to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_product_license(
        &self,
        request: Request<GetProductLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let who = caller(&request)?;
        let name = request.into_inner().name;
        let target = ProductLicenseName::parse("name", &name)?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Read,
            PartnerUsers::Write,
            "name",
        )
        .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        // A missing customer and a missing license are both NOT_FOUND.
        let customer = customer_account(&**client, target.customer(), Lock::None, &name).await?;
        let license = product_licenses::get(
            &**client,
            &customer,
            target.license,
            self.0.clock.now().date_naive(),
        )
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found("product license", &name))?;
        Ok(Response::new(to_proto(license)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_product_licenses(
        &self,
        request: Request<ListProductLicensesRequest>,
    ) -> Result<Response<ListProductLicensesResponse>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let mut violations = Violations::new();
        let mut statuses = Vec::new();
        for (index, status) in message.statuses.iter().enumerate() {
            match LicenseStatus::from_contract(*status) {
                Some(status) => statuses.push(status),
                None => violations.add(
                    format!("statuses[{index}]"),
                    "is not a ProductLicenseStatus",
                ),
            }
        }
        violations.finish()?;
        let account =
            authorize_customer(&self.0, &who, &message.parent, "parent", Access::Read).await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let customer = customer_account(&**client, account, Lock::None, &message.parent).await?;
        let mut licenses = product_licenses::list(
            &**client,
            &customer,
            self.0.clock.now().date_naive(),
            &statuses,
            &page,
        )
        .await
        .map_err(ApiError::from)?;
        let next_page_token = page.finish(&mut licenses, |license| license.id.uuid());
        Ok(Response::new(ListProductLicensesResponse {
            product_licenses: licenses.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn report_usage(
        &self,
        request: Request<ReportUsageRequest>,
    ) -> Result<Response<UsageReport>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let usage = message
            .usage
            .ok_or_else(|| ApiError::invalid("usage", "is required"))?;
        let now = self.0.clock.now();
        let mut violations = Violations::new();
        super::check_product_id(&mut violations, "usage.product", &usage.product);
        violations.check_length("usage.client_key", &usage.client_key, 1, 128);
        let date = optional_date(&mut violations, "usage.usage_date", &usage.usage_date);
        if usage.usage_date.is_empty() {
            violations.add("usage.usage_date", "is required");
        }
        if date.is_some_and(|date| date > now.date_naive()) {
            violations.add("usage.usage_date", "must not be in the future");
        }
        if !(0..=super::MAX_UNITS).contains(&usage.used_units) {
            violations.add(
                "usage.used_units",
                format!("must be between 0 and {}", super::MAX_UNITS),
            );
        }
        violations.finish()?;
        let target = CustomerAccountName::parse("parent", &message.parent)?;
        // Reporting usage is the one change a suspended partner may make.
        super::partners::authorize_usage_report(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            "parent",
        )
        .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let partner = held_partner(&transaction, target).await?;
        let customer = customer_account(&transaction, target, Lock::None, &message.parent).await?;
        // A suspended partner is read-only, but its MSP customers' products
        // keep reporting; a canceled partner's do not.
        if partner.status == PartnerState::Canceled {
            require_editable(&partner)?;
        }
        let report = Usage {
            product: usage.product,
            usage_date: date.unwrap_or_default(),
            used_units: usage.used_units,
            client_key: usage.client_key,
            report_time: now,
        };
        let stored = match product_licenses::report_usage(&transaction, &customer, &report)
            .await
            .map_err(ApiError::from)?
        {
            Ok(stored) => stored,
            Err(earlier)
                if (&earlier.product, earlier.usage_date, earlier.used_units)
                    == (&report.product, report.usage_date, report.used_units) =>
            {
                earlier
            }
            Err(_) => {
                return Err(ApiError::FailedPrecondition {
                    violation: "CLIENT_KEY_REUSED",
                    subject: report.client_key,
                    description: "this client_key was used for a report with other figures; \
                                  send a correction under a new key"
                        .into(),
                }
                .into());
            }
        };
        estate_db::commit(transaction).await?;
        Ok(Response::new(usage_proto(&message.parent, stored)))
    }
}

/// The customer organizations' figures for the customers overview.
pub(crate) async fn usage_summary(
    state: &AppState,
    customer_id: CustomerId,
) -> Result<Vec<(String, i64, i64)>, ApiError> {
    let client = estate_db::connection(&state.pool).await?;
    Ok(
        product_licenses::usage_summary(&**client, customer_id, state.clock.now().date_naive())
            .await?,
    )
}
