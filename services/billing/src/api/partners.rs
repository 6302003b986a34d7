//! `estate.billing.v1.PartnersService`: partner accounts and their
//! customers' accounts.
//!
//! Who may do what: a distributor's users read and change everything of
//! its partners; a partner's own users read their account and their
//! customers and enable or disable those customers. A suspended partner is
//! read-only, a canceled one final; both refusals are FAILED_PRECONDITION
//! naming the state.

use chrono::NaiveDate;
use estate_auth::{Access, CallerToken, Principal, caller};
use estate_db::{Created, DbError, PageRequest, RequestKey, SortedPage};
use estate_errors::{ApiError, Violations};
use estate_proto::billing::partners_service_server::PartnersService;
use estate_proto::billing::{
    CreateCustomerAccountRequest, CreatePartnerRequest, CustomerAccount as ProtoCustomer,
    GetCustomerAccountRequest, GetPartnerRequest, ListCustomerAccountsRequest,
    ListCustomerAccountsResponse, ListPartnersRequest, ListPartnersResponse,
    Partner as ProtoPartner, PartnerType, SetCustomerAccountEnabledRequest, UpdatePartnerRequest,
};
use estate_proto::common::OrganizationKind;
use estate_proto::fields::{
    check_etag, date_string, fingerprint, mask_paths, optional_date, request_id, resource_id,
    revision_etag,
};
use estate_proto::names::{
    CustomerAccountName, CustomerId, DistributorId, DistributorName, PartnerId, PartnerName,
};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::Partners;
use crate::db::Lock;
use crate::db::partners::{
    self, CustomerAccount, PARTNER_SORT, Partner, PartnerFields, PartnerFilter,
};
use crate::rules::partners::{PartnerAction, editable, partner_transition, partner_type};
use crate::rules::statuses::{LicenseStatus, PartnerKind, PartnerState, Stored};
use crate::{AppState, standings};

/// Why a customer account was not created.
enum CustomerCreate {
    /// The partner stopped taking customers since it was checked.
    PartnerChanged,
    Store(DbError),
}

impl From<DbError> for CustomerCreate {
    fn from(error: DbError) -> Self {
        Self::Store(error)
    }
}

fn partner_name(partner: &Partner) -> String {
    PartnerName {
        distributor: partner.distributor_id,
        partner: partner.id,
    }
    .to_string()
}

pub(super) fn partner_proto(partner: Partner) -> ProtoPartner {
    ProtoPartner {
        name: partner_name(&partner),
        organization: format!("organizations/{}", partner.id),
        r#type: partner.kind.contract(),
        status: partner.status.contract(),
        acquisition_date: date_string(Some(partner.acquisition_date)),
        region: partner.region,
        create_time: Some(to_timestamp(partner.create_time)),
        update_time: Some(to_timestamp(partner.update_time)),
        status_time: Some(to_timestamp(partner.status_time)),
        etag: revision_etag(partner.revision),
        channel_margin_basis_points: partner.margin_basis_points,
    }
}

fn customer_name(customer: &CustomerAccount) -> String {
    CustomerAccountName {
        distributor: customer.distributor_id,
        partner: customer.partner_id,
        customer: customer.id,
    }
    .to_string()
}

fn customer_proto(customer: CustomerAccount) -> ProtoCustomer {
    ProtoCustomer {
        name: customer_name(&customer),
        organization: format!("organizations/{}", customer.id),
        enabled: customer.enabled,
        create_time: Some(to_timestamp(customer.create_time)),
        update_time: Some(to_timestamp(customer.update_time)),
        etag: revision_etag(customer.revision),
    }
}

/// Validates the writable fields of `partner`; an empty acquisition date
/// means `today`.
fn partner_fields(partner: &ProtoPartner, today: NaiveDate) -> Result<PartnerFields, ApiError> {
    let mut violations = Violations::new();
    let kind = PartnerKind::from_contract(partner.r#type);
    if kind.is_none() {
        violations.add("partner.type", "must be MSP or RESELLER");
    }
    violations.check_length("partner.region", &partner.region, 1, 64);
    let acquisition_date = optional_date(
        &mut violations,
        "partner.acquisition_date",
        &partner.acquisition_date,
    );
    if acquisition_date.is_some_and(|date| date > today) {
        violations.add("partner.acquisition_date", "must not be in the future");
    }
    if !(0..=10_000).contains(&partner.channel_margin_basis_points) {
        violations.add(
            "partner.channel_margin_basis_points",
            "must be between 0 and 10000 (100%)",
        );
    }
    violations.finish()?;
    Ok(PartnerFields {
        kind: kind.unwrap_or(PartnerKind::Msp),
        acquisition_date: acquisition_date.unwrap_or(today),
        region: partner.region.clone(),
        margin_basis_points: partner.channel_margin_basis_points,
    })
}

/// FAILED_PRECONDITION when `partner` cannot be changed in its state.
pub(super) fn require_editable(partner: &Partner) -> Result<(), ApiError> {
    editable(partner.status).map_err(|refusal| ApiError::FailedPrecondition {
        violation: refusal.violation,
        subject: partner_name(partner),
        description: refusal.description,
    })
}

/// What a partner's own users may do with a partner's billing data (its
/// distributor's users may do anything their roles allow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartnerUsers {
    Read,
    Write,
}

/// Authorizes the caller for `access` to partner `partner_id` of
/// `distributor_id`: the distributor's users always; the partner's own
/// users as far as `partner_users` allows. One call to the customers
/// service, chosen by the organization the caller acts for.
pub(super) async fn authorize(
    state: &AppState,
    (principal, token): &(Principal, CallerToken),
    distributor_id: DistributorId,
    partner_id: PartnerId,
    access: Access,
    partner_users: PartnerUsers,
    field: &str,
) -> Result<(), ApiError> {
    let partner = partner_id.to_string();
    if principal.organization_id.as_deref() != Some(partner.as_str()) {
        return super::require_distributor(state, token, distributor_id, access, field).await;
    }
    if access == Access::Write && partner_users == PartnerUsers::Read {
        return Err(ApiError::PermissionDenied(
            "only the partner's distributor may do this".into(),
        ));
    }
    state
        .access
        .require(token, &partner, access, OrganizationKind::Partner, field)
        .await
}

/// [`authorize`] for reporting product usage, which a partner's own
/// writers may do while the partner is suspended (SPEC section 3).
pub(super) async fn authorize_usage_report(
    state: &AppState,
    (principal, token): &(Principal, CallerToken),
    distributor_id: DistributorId,
    partner_id: PartnerId,
    field: &str,
) -> Result<(), ApiError> {
    let partner = partner_id.to_string();
    if principal.organization_id.as_deref() != Some(partner.as_str()) {
        return super::require_distributor(state, token, distributor_id, Access::Write, field)
            .await;
    }
    state
        .access
        .require_usage_report(token, &partner, OrganizationKind::Partner, field)
        .await
}

/// The distributor and partner a list's `parent` names, authorized for
/// reading: `distributors/{d}/partners/-` (every partner: the
/// distributor's users only) or `distributors/{d}/partners/{p}` (the
/// distributor's users or the partner's own).
pub(super) async fn scope(
    state: &AppState,
    who: &(Principal, CallerToken),
    parent: &str,
) -> Result<(DistributorId, Option<PartnerId>), ApiError> {
    match parent.strip_suffix("/partners/-") {
        Some(distributor) => {
            let distributor_id = DistributorName::parse("parent", distributor)?.distributor;
            super::require_distributor(state, &who.1, distributor_id, Access::Read, "parent")
                .await?;
            Ok((distributor_id, None))
        }
        None => {
            let target = PartnerName::parse("parent", parent)?;
            authorize(
                state,
                who,
                target.distributor,
                target.partner,
                Access::Read,
                PartnerUsers::Read,
                "parent",
            )
            .await?;
            Ok((target.distributor, Some(target.partner)))
        }
    }
}

pub(super) fn not_found(resource_type: &'static str, name: &str) -> ApiError {
    ApiError::NotFound {
        resource_type,
        name: name.to_string(),
    }
}

pub(super) async fn load_partner(
    client: &impl tokio_postgres::GenericClient,
    partner: PartnerName,
    lock: Lock,
) -> Result<Partner, ApiError> {
    partners::get_partner(client, partner.distributor, partner.partner, lock)
        .await?
        .ok_or_else(|| not_found("partner", &partner.to_string()))
}

/// Checks that `organization` (in `field`) is an organization of `kind`
/// directly below `parent_id` (an organization's UUID: a distributor's
/// or a partner's); returns its UUID. The billing service asks as itself: the
/// caller was authorized for the parent, and a distributor need not see
/// its partners' customers' data to bill them.
async fn require_child(
    state: &AppState,
    field: &str,
    organization: &str,
    kind: OrganizationKind,
    parent_id: impl std::fmt::Display,
) -> Result<(Uuid, estate_proto::customers::Organization), ApiError> {
    let id = resource_id(field, organization, "organizations")?;
    let service = CallerToken(state.signer.sign(&Principal::service("billing")));
    let found = state.access.organization(&service, &id.to_string()).await?;
    let expected_parent = format!("organizations/{parent_id}");
    match found {
        Some(found) if found.kind == i32::from(kind) && found.parent == expected_parent => {
            Ok((id, found))
        }
        _ => Err(ApiError::invalid(
            field,
            format!(
                "must name a {} organization directly below {expected_parent}",
                kind.as_str_name()
                    .trim_start_matches("ORGANIZATION_KIND_")
                    .to_lowercase()
            ),
        )),
    }
}

impl Partners {
    /// Takes `action` on partner `name`'s standing, as the rules decide it.
    async fn transition<T: super::ActionRequest>(
        &self,
        request: Request<T>,
        action: PartnerAction,
    ) -> Result<Response<ProtoPartner>, Status> {
        let who = caller(&request)?;
        let message = request.get_ref();
        let name = message.name().to_string();
        let target = PartnerName::parse("name", &name)?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Write,
            PartnerUsers::Read,
            "name",
        )
        .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let stored = load_partner(&transaction, target, Lock::Update).await?;
        check_etag(message.etag(), stored.revision, name.clone())?;
        let to = partner_transition(action, stored.status).map_err(|refusal| {
            ApiError::FailedPrecondition {
                violation: refusal.violation,
                subject: name.clone(),
                description: refusal.description,
            }
        })?;
        let now = self.0.clock.now();
        let updated = partners::set_partner_status(&transaction, &stored, to, now)
            .await
            .map_err(ApiError::from)?;
        if to == PartnerState::Canceled {
            // Access is revoked for good: its customers are no longer
            // served, so none of them stays enabled (nor can be again).
            partners::disable_customers(&transaction, stored.distributor_id, stored.id, now)
                .await
                .map_err(ApiError::from)?;
        }
        estate_db::commit(transaction).await?;
        tracing::info!(partner = %name, from = stored.status.column(), to = to.column(), "partner status changed");
        // Tell the customers service now, so the partner's access follows
        // on its next call; the background delivery retries a failure.
        let due = partners::StandingDue {
            id: updated.id,
            status: updated.status,
            revision: updated.revision,
        };
        let service = standings::service_token(&self.0);
        if let Err(error) = standings::deliver_standing(&self.0, &**client, &service, &due).await {
            tracing::warn!(partner = %name, %error, "partner standing not delivered yet; retrying");
        }
        Ok(Response::new(partner_proto(updated)))
    }
}

#[tonic::async_trait]
impl PartnersService for Partners {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_partner(
        &self,
        request: Request<CreatePartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        let who = caller(&request)?;
        let token = who.1.clone();
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            distributor_id,
            "CreatePartner",
            request_id,
            fingerprint(&CreatePartnerRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let partner = message
            .partner
            .ok_or_else(|| ApiError::invalid("partner", "is required"))?;
        let now = self.0.clock.now();
        // Validated before any call, with the type checked once known.
        partner_fields(
            &ProtoPartner {
                r#type: PartnerType::Msp.into(),
                ..partner.clone()
            },
            now.date_naive(),
        )?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Write, "parent")
            .await?;
        // A retry of a create that succeeded gets what it created, even
        // once the organization has moved or gone: replayed before the
        // preconditions are checked again.
        if key.is_some() {
            let client = estate_db::connection(&self.0.pool).await?;
            if let Some(id) = estate_db::replayed(&**client, key.as_ref()).await?
                && let Some(existing) =
                    partners::get_partner(&**client, distributor_id, id, Lock::None).await?
            {
                return Ok(Response::new(partner_proto(existing)));
            }
        }
        let (partner_id, organization) = require_child(
            &self.0,
            "partner.organization",
            &partner.organization,
            OrganizationKind::Partner,
            distributor_id,
        )
        .await?;
        let partner_id = PartnerId::from_uuid(partner_id);
        let kind = partner_type(partner.r#type, organization.partner_type)
            .map_err(|reason| ApiError::invalid("partner.type", reason))?;
        let fields = partner_fields(
            &ProtoPartner {
                r#type: kind,
                ..partner.clone()
            },
            now.date_naive(),
        )?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let fields_ref = &fields;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { partners::get_partner(client, distributor_id, id, Lock::None).await },
                || {
                    partners::insert_partner(
                        client,
                        distributor_id,
                        partner_id,
                        fields_ref,
                        request_id,
                        now,
                    )
                },
                |partner| partner.id,
            )
            .await
        };
        match outcome {
            Ok(Created::New(created)) => {
                estate_db::commit(transaction).await?;
                tracing::info!(partner = %partner_name(&created), "partner account opened");
                Ok(Response::new(partner_proto(created)))
            }
            Ok(Created::Replayed(existing)) => Ok(Response::new(partner_proto(existing))),
            Err(DbError::UniqueViolation { constraint })
                if constraint == "partners_organization" || constraint == "partners_pkey" =>
            {
                Err(ApiError::AlreadyExists {
                    resource_type: "partner",
                    name: partner.organization,
                    description: "the organization already has a partner account".into(),
                }
                .into())
            }
            Err(error) => Err(ApiError::from(error).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_partner(
        &self,
        request: Request<GetPartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        let who = caller(&request)?;
        let name = request.into_inner().name;
        let target = PartnerName::parse("name", &name)?;
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
        let partner = load_partner(&**client, target, Lock::None).await?;
        Ok(Response::new(partner_proto(partner)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_partners(
        &self,
        request: Request<ListPartnersRequest>,
    ) -> Result<Response<ListPartnersResponse>, Status> {
        let who = caller(&request)?;
        let token = who.1.clone();
        let message = request.into_inner();
        let distributor_id = DistributorName::parse("parent", &message.parent)?.distributor;
        let mut violations = Violations::new();
        let mut filter = PartnerFilter::default();
        for (index, status) in message.statuses.iter().enumerate() {
            match PartnerState::from_contract(*status) {
                Some(status) => filter.statuses.push(status),
                None => violations.add(format!("statuses[{index}]"), "is not a PartnerStatus"),
            }
        }
        if message.r#type != 0 {
            filter.kind = PartnerKind::from_contract(message.r#type);
            if filter.kind.is_none() {
                violations.add("type", "is not a PartnerType");
            }
        }
        filter.region = (!message.region.is_empty()).then(|| message.region.clone());
        filter.acquired_from = optional_date(
            &mut violations,
            "acquired_on_or_after",
            &message.acquired_on_or_after,
        );
        filter.acquired_to = optional_date(
            &mut violations,
            "acquired_on_or_before",
            &message.acquired_on_or_before,
        );
        violations.finish()?;
        let page = SortedPage::parse(
            &message.order_by,
            PARTNER_SORT,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{filter:?}"),
        )?;
        super::require_distributor(&self.0, &token, distributor_id, Access::Read, "parent").await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (partners, next_page_token) =
            partners::list_partners(&**client, distributor_id, &filter, &page)
                .await
                .map_err(ApiError::from)?;
        Ok(Response::new(ListPartnersResponse {
            partners: partners.into_iter().map(partner_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_partner(
        &self,
        request: Request<UpdatePartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let partner = message
            .partner
            .ok_or_else(|| ApiError::invalid("partner", "is required"))?;
        let target = PartnerName::parse("partner.name", &partner.name)?;
        let paths = mask_paths(
            message.update_mask,
            &["region", "acquisition_date", "channel_margin_basis_points"],
        )?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Write,
            PartnerUsers::Read,
            "partner.name",
        )
        .await?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        let stored = load_partner(&transaction, target, Lock::Update).await?;
        check_etag(&message.etag, stored.revision, partner.name.clone())?;
        require_editable(&stored)?;
        // Fields outside the mask keep their stored values.
        let mut merged = partner_proto(stored.clone());
        for path in &paths {
            match path.as_str() {
                "region" => merged.region.clone_from(&partner.region),
                "channel_margin_basis_points" => {
                    merged.channel_margin_basis_points = partner.channel_margin_basis_points;
                }
                _ => merged
                    .acquisition_date
                    .clone_from(&partner.acquisition_date),
            }
        }
        if merged.acquisition_date.is_empty() {
            return Err(ApiError::invalid("partner.acquisition_date", "is required").into());
        }
        let fields = partner_fields(&merged, now.date_naive())?;
        let updated = partners::update_partner(&transaction, &stored, &fields, now)
            .await
            .map_err(ApiError::from)?;
        estate_db::commit(transaction).await?;
        Ok(Response::new(partner_proto(updated)))
    }

    async fn suspend_partner(
        &self,
        request: Request<estate_proto::billing::SuspendPartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        self.transition(request, PartnerAction::Suspend).await
    }

    async fn reactivate_partner(
        &self,
        request: Request<estate_proto::billing::ReactivatePartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        self.transition(request, PartnerAction::Reactivate).await
    }

    async fn cancel_partner(
        &self,
        request: Request<estate_proto::billing::CancelPartnerRequest>,
    ) -> Result<Response<ProtoPartner>, Status> {
        self.transition(request, PartnerAction::Cancel).await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_customer_account(
        &self,
        request: Request<CreateCustomerAccountRequest>,
    ) -> Result<Response<ProtoCustomer>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let target = PartnerName::parse("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            target.partner,
            "CreateCustomerAccount",
            request_id,
            fingerprint(&CreateCustomerAccountRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let customer = message
            .customer
            .ok_or_else(|| ApiError::invalid("customer", "is required"))?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Write,
            PartnerUsers::Read,
            "parent",
        )
        .await?;
        // As for partners: a retry of a create that succeeded gets what it
        // created, even once the partner is suspended or the organization
        // has moved.
        if key.is_some() {
            let client = estate_db::connection(&self.0.pool).await?;
            if let Some(id) = estate_db::replayed(&**client, key.as_ref()).await?
                && let Some(existing) = partners::get_customer(
                    &**client,
                    target.distributor,
                    target.partner,
                    id,
                    Lock::None,
                )
                .await?
            {
                return Ok(Response::new(customer_proto(existing)));
            }
        }
        let (customer_id, _) = require_child(
            &self.0,
            "customer.organization",
            &customer.organization,
            OrganizationKind::Customer,
            target.partner,
        )
        .await?;
        let customer_id = CustomerId::from_uuid(customer_id);
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let partner = load_partner(&**client, target, Lock::None).await?;
        require_editable(&partner)?;
        let transaction = estate_db::transaction(&mut client).await?;
        let partner_ref = &partner;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move {
                    partners::get_customer(
                        client,
                        partner_ref.distributor_id,
                        partner_ref.id,
                        id,
                        Lock::None,
                    )
                    .await
                    .map_err(CustomerCreate::from)
                },
                || async move {
                    partners::insert_customer(client, partner_ref, customer_id, request_id, now)
                        .await?
                        // Suspended or canceled since the check above.
                        .ok_or(CustomerCreate::PartnerChanged)
                },
                |account| account.id,
            )
            .await
        };
        match outcome {
            Ok(created) => {
                estate_db::commit(transaction).await?;
                Ok(Response::new(customer_proto(created.into_inner())))
            }
            Err(CustomerCreate::PartnerChanged) => {
                drop(transaction);
                let partner = load_partner(&**client, target, Lock::None).await?;
                require_editable(&partner)?;
                Err(ApiError::internal("the partner is active but took no customer").into())
            }
            Err(CustomerCreate::Store(DbError::UniqueViolation { constraint }))
                if constraint == "customer_accounts_organization"
                    || constraint == "customer_accounts_pkey" =>
            {
                Err(ApiError::AlreadyExists {
                    resource_type: "customer account",
                    name: customer.organization,
                    description: "the organization already has a customer account".into(),
                }
                .into())
            }
            Err(CustomerCreate::Store(error)) => Err(ApiError::from(error).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_customer_account(
        &self,
        request: Request<GetCustomerAccountRequest>,
    ) -> Result<Response<ProtoCustomer>, Status> {
        let who = caller(&request)?;
        let name = request.into_inner().name;
        let target = CustomerAccountName::parse("name", &name)?;
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
        let customer = partners::get_customer(
            &**client,
            target.distributor,
            target.partner,
            target.customer,
            Lock::None,
        )
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found("customer account", &name))?;
        Ok(Response::new(customer_proto(customer)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_customer_accounts(
        &self,
        request: Request<ListCustomerAccountsRequest>,
    ) -> Result<Response<ListCustomerAccountsResponse>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let license_status = match message.license_status {
            0 => None,
            status => Some(LicenseStatus::from_contract(status).ok_or_else(|| {
                ApiError::invalid("license_status", "is not a ProductLicenseStatus")
            })?),
        };
        let (distributor_id, partner_id) = scope(&self.0, &who, &message.parent).await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let mut customers = partners::list_customers(
            &**client,
            distributor_id,
            partner_id,
            message.enabled,
            license_status,
            self.0.clock.now().date_naive(),
            &page,
        )
        .await
        .map_err(ApiError::from)?;
        let next_page_token = page.finish(&mut customers, |customer| customer.id.uuid());
        Ok(Response::new(ListCustomerAccountsResponse {
            customers: customers.into_iter().map(customer_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn set_customer_account_enabled(
        &self,
        request: Request<SetCustomerAccountEnabledRequest>,
    ) -> Result<Response<ProtoCustomer>, Status> {
        let who = caller(&request)?;
        let message = request.into_inner();
        let target = CustomerAccountName::parse("name", &message.name)?;
        authorize(
            &self.0,
            &who,
            target.distributor,
            target.partner,
            Access::Write,
            PartnerUsers::Write,
            "name",
        )
        .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        // The partner's row is locked first, so a suspension cannot slip in
        // between the check and the change.
        let partner = load_partner(&transaction, target.partner(), Lock::Share).await?;
        let stored = partners::get_customer(
            &transaction,
            target.distributor,
            target.partner,
            target.customer,
            Lock::Update,
        )
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found("customer account", &message.name))?;
        check_etag(&message.etag, stored.revision, message.name.clone())?;
        require_editable(&partner)?;
        let updated = if stored.enabled == message.enabled {
            stored
        } else {
            partners::set_customer_enabled(
                &transaction,
                &stored,
                message.enabled,
                self.0.clock.now(),
            )
            .await
            .map_err(ApiError::from)?
        };
        estate_db::commit(transaction).await?;
        Ok(Response::new(customer_proto(updated)))
    }
}
