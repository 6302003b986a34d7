//! `estate.billing.v1.ServicePlansService`.

use estate_auth::{Access, caller};
use estate_db::{Created, DbError, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::billing::service_plans_service_server::ServicePlansService;
use estate_proto::billing::{
    CreateServicePlanRequest, EndServicePlanSaleRequest, GetServicePlanRequest,
    ListServicePlansRequest, ListServicePlansResponse, PlanPrice, ServicePlan as ProtoServicePlan,
    UpdateServicePlanRequest,
};
use estate_proto::common::Money;
use estate_proto::fields::{
    check_etag, date_string, fingerprint, mask_paths, optional_date, request_id, revision_etag,
};
use estate_proto::names::{DistributorId, DistributorName, ServicePlanId, ServicePlanName};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::ServicePlans;
use crate::db::Lock;
use crate::db::service_plans::{self, PlanFields, Price, ServicePlan};
use crate::rules::statuses::{LicenseKind, Stored};

fn to_proto(plan: ServicePlan) -> ProtoServicePlan {
    let fields = plan.fields;
    ProtoServicePlan {
        name: ServicePlanName {
            distributor: plan.distributor_id,
            plan: plan.id,
        }
        .to_string(),
        display_name: fields.display_name,
        product: fields.product,
        license_type: fields.license_type.contract(),
        unit_type: fields.unit_type,
        initial_period_months: fields.initial_period_months,
        auto_renewal: fields.auto_renewal,
        expiration_notification_days: fields.expiration_notification_days,
        enabled: fields.enabled,
        create_time: Some(to_timestamp(plan.create_time)),
        update_time: Some(to_timestamp(plan.update_time)),
        etag: revision_etag(plan.revision),
        end_of_sale_time: plan.end_of_sale_time.map(to_timestamp),
        prices: fields
            .prices
            .into_iter()
            .map(|price| PlanPrice {
                effective_from: date_string(Some(price.effective_from)),
                unit_price: Some(Money {
                    currency_code: price.currency_code,
                    amount_minor: price.unit_price_minor,
                }),
            })
            .collect(),
    }
}

fn validate(plan: Option<ProtoServicePlan>) -> Result<PlanFields, ApiError> {
    let Some(plan) = plan else {
        return Err(ApiError::invalid("service_plan", "is required"));
    };
    validate_fields(plan)
}

/// Fields an update may change.
const UPDATABLE: &[&str] = &[
    "display_name",
    "product",
    "license_type",
    "unit_type",
    "initial_period_months",
    "auto_renewal",
    "expiration_notification_days",
    "enabled",
    "prices",
];

/// The most prices a plan keeps.
const MAX_PRICES: usize = 100;

/// A plan's prices, earliest first: every date valid and distinct, every
/// price present, not negative, in one ISO 4217 currency.
fn validate_prices(violations: &mut Violations, prices: &[PlanPrice]) -> Vec<Price> {
    if prices.len() > MAX_PRICES {
        violations.add(
            "service_plan.prices",
            format!("at most {MAX_PRICES} prices, got {}", prices.len()),
        );
        return Vec::new();
    }
    let mut parsed = Vec::with_capacity(prices.len());
    for (index, price) in prices.iter().enumerate() {
        let field = format!("service_plan.prices[{index}]");
        let date = optional_date(
            violations,
            &format!("{field}.effective_from"),
            &price.effective_from,
        );
        if price.effective_from.is_empty() {
            violations.add(format!("{field}.effective_from"), "is required");
        }
        let Some(unit_price) = &price.unit_price else {
            violations.add(format!("{field}.unit_price"), "is required");
            continue;
        };
        let code = &unit_price.currency_code;
        if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
            violations.add(
                format!("{field}.unit_price.currency_code"),
                "must be an ISO 4217 code of three capital letters, e.g. EUR",
            );
        }
        if unit_price.amount_minor < 0 {
            violations.add(
                format!("{field}.unit_price.amount_minor"),
                "must not be negative",
            );
        }
        if let Some(date) = date {
            parsed.push(Price {
                effective_from: date,
                currency_code: code.clone(),
                unit_price_minor: unit_price.amount_minor,
            });
        }
    }
    parsed.sort_by_key(|price| price.effective_from);
    if parsed
        .windows(2)
        .any(|pair| pair[0].effective_from == pair[1].effective_from)
    {
        violations.add("service_plan.prices", "each date may start one price only");
    }
    if parsed
        .windows(2)
        .any(|pair| pair[0].currency_code != pair[1].currency_code)
    {
        violations.add("service_plan.prices", "must all be in one currency");
    }
    parsed
}

/// FAILED_PRECONDITION `END_OF_SALE` for a plan whose sale ended.
fn require_on_sale(plan: &ServicePlan) -> Result<(), ApiError> {
    match plan.end_of_sale_time {
        None => Ok(()),
        Some(ended) => Err(ApiError::FailedPrecondition {
            violation: "END_OF_SALE",
            subject: plan_name(plan),
            description: format!(
                "the plan's sale ended at {}; it is read-only",
                ended.to_rfc3339()
            ),
        }),
    }
}

fn plan_name(plan: &ServicePlan) -> String {
    ServicePlanName {
        distributor: plan.distributor_id,
        plan: plan.id,
    }
    .to_string()
}

impl ServicePlans {
    /// Authorizes a change of plan `name`, before any transaction opens
    /// (it asks the customers service); returns the distributor and plan
    /// ids.
    async fn authorize_change(
        &self,
        token: &estate_auth::CallerToken,
        name: &str,
        field: &str,
    ) -> Result<(DistributorId, ServicePlanId), ApiError> {
        let target = ServicePlanName::parse(field, name)?;
        super::require_distributor(&self.0, token, target.distributor, Access::Write, field)
            .await?;
        Ok((target.distributor, target.plan))
    }
}

/// Reads plan `ids` (named `name`) locked, on sale and unchanged since
/// `sent_etag`.
async fn lock_for_change(
    transaction: &tokio_postgres::Transaction<'_>,
    (distributor_id, plan_id): (DistributorId, ServicePlanId),
    name: &str,
    sent_etag: &str,
) -> Result<ServicePlan, ApiError> {
    let stored = service_plans::get(transaction, distributor_id, plan_id, Lock::Update)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            resource_type: "service plan",
            name: name.to_string(),
        })?;
    check_etag(sent_etag, stored.revision, plan_name(&stored))?;
    require_on_sale(&stored)?;
    Ok(stored)
}

fn validate_fields(plan: ProtoServicePlan) -> Result<PlanFields, ApiError> {
    let mut violations = Violations::new();
    violations.check_length("service_plan.display_name", &plan.display_name, 1, 256);
    super::check_product_id(&mut violations, "service_plan.product", &plan.product);
    violations.check_length("service_plan.unit_type", &plan.unit_type, 1, 64);
    let license_type = LicenseKind::from_contract(plan.license_type).unwrap_or_else(|| {
        violations.add("service_plan.license_type", "must be TRIAL or FULL");
        LicenseKind::Full
    });
    if !(1..=120).contains(&plan.initial_period_months) {
        violations.add(
            "service_plan.initial_period_months",
            format!(
                "must be between 1 and 120, got {}",
                plan.initial_period_months
            ),
        );
    }
    if !(0..=365).contains(&plan.expiration_notification_days) {
        violations.add(
            "service_plan.expiration_notification_days",
            format!(
                "must be between 0 and 365, got {}",
                plan.expiration_notification_days
            ),
        );
    }
    let prices = validate_prices(&mut violations, &plan.prices);
    violations.finish()?;
    Ok(PlanFields {
        display_name: plan.display_name,
        product: plan.product,
        license_type,
        unit_type: plan.unit_type,
        initial_period_months: plan.initial_period_months,
        auto_renewal: plan.auto_renewal,
        expiration_notification_days: plan.expiration_notification_days,
        enabled: plan.enabled,
        prices,
    })
}

#[tonic::async_trait]
impl ServicePlansService for ServicePlans {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_service_plan(
        &self,
        request: Request<CreateServicePlanRequest>,
    ) -> Result<Response<ProtoServicePlan>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            distributor_id,
            "CreateServicePlan",
            request_id,
            fingerprint(&CreateServicePlanRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let fields = validate(message.service_plan)?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Write, "parent")
            .await?;

        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = estate_db::transaction(&mut client).await?;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { service_plans::get(client, distributor_id, id, Lock::None).await },
                || service_plans::insert(client, distributor_id, &fields, request_id, now),
                |plan| plan.id,
            )
            .await
        };
        let created = match outcome {
            Ok(Created::New(created)) => created,
            Ok(Created::Replayed(existing)) => return Ok(Response::new(to_proto(existing))),
            Err(DbError::UniqueViolation { constraint })
                if constraint == "service_plans_name_unique" =>
            {
                return Err(ApiError::AlreadyExists {
                    resource_type: "service plan",
                    name: fields.display_name,
                    description: "service_plan.display_name is already used by this distributor"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        estate_db::commit(transaction).await?;
        tracing::info!(service_plan = %created.id, distributor = %distributor_id, "service plan created");
        Ok(Response::new(to_proto(created)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_service_plan(
        &self,
        request: Request<GetServicePlanRequest>,
    ) -> Result<Response<ProtoServicePlan>, Status> {
        let (_, token) = caller(&request)?;
        let name = request.into_inner().name;
        let target = ServicePlanName::parse("name", &name)?;
        super::require_distributor(&self.0, &token, target.distributor, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let plan = service_plans::get(&**client, target.distributor, target.plan, Lock::None)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound {
                resource_type: "service plan",
                name,
            })?;
        Ok(Response::new(to_proto(plan)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_service_plans(
        &self,
        request: Request<ListServicePlansRequest>,
    ) -> Result<Response<ListServicePlansResponse>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "parent").await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let mut rows = service_plans::list(&**client, distributor_id, message.enabled, &page)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.finish(&mut rows, |row| row.id.uuid());
        Ok(Response::new(ListServicePlansResponse {
            service_plans: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_service_plan(
        &self,
        request: Request<UpdateServicePlanRequest>,
    ) -> Result<Response<ProtoServicePlan>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let update = message
            .service_plan
            .ok_or_else(|| ApiError::invalid("service_plan", "is required"))?;
        let paths = mask_paths(message.update_mask, UPDATABLE)?;
        let ids = self
            .authorize_change(&token, &update.name, "service_plan.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let stored = lock_for_change(&transaction, ids, &update.name, &message.etag).await?;
        let mut merged = to_proto(stored.clone());
        for path in &paths {
            match path.as_str() {
                "display_name" => merged.display_name.clone_from(&update.display_name),
                "product" => merged.product.clone_from(&update.product),
                "license_type" => merged.license_type = update.license_type,
                "unit_type" => merged.unit_type.clone_from(&update.unit_type),
                "initial_period_months" => {
                    merged.initial_period_months = update.initial_period_months;
                }
                "auto_renewal" => merged.auto_renewal = update.auto_renewal,
                "prices" => merged.prices.clone_from(&update.prices),
                "expiration_notification_days" => {
                    merged.expiration_notification_days = update.expiration_notification_days;
                }
                _ => merged.enabled = update.enabled,
            }
        }
        let fields = validate_fields(merged)?;
        let updated = match service_plans::update(
            &transaction,
            stored.distributor_id,
            stored.id,
            &fields,
            self.0.clock.now(),
        )
        .await
        {
            Ok(updated) => updated,
            Err(DbError::UniqueViolation { constraint })
                if constraint == "service_plans_name_unique" =>
            {
                return Err(ApiError::AlreadyExists {
                    resource_type: "service plan",
                    name: fields.display_name,
                    description: "service_plan.display_name is already used by this distributor"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        estate_db::commit(transaction).await?;
        Ok(Response::new(to_proto(updated)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn end_service_plan_sale(
        &self,
        request: Request<EndServicePlanSaleRequest>,
    ) -> Result<Response<ProtoServicePlan>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let ids = self.authorize_change(&token, &message.name, "name").await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let stored = lock_for_change(&transaction, ids, &message.name, &message.etag).await?;
        let ended = service_plans::end_sale(
            &transaction,
            stored.distributor_id,
            stored.id,
            self.0.clock.now(),
        )
        .await
        .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        tracing::info!(service_plan = %message.name, "service plan sale ended");
        Ok(Response::new(to_proto(ended)))
    }
}
