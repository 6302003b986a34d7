//! `estate.customers.v1.OrganizationsService`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use estate_auth::Principal;
use estate_db::{Created, DbError, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::organizations_service_server::OrganizationsService;
use estate_proto::customers::{
    BatchCreateOrganizationsRequest, BatchCreateOrganizationsResponse, CreateOrganizationRequest,
    DeleteOrganizationRequest, DeleteOrganizationResponse, GetOrganizationRequest,
    ListOrganizationsRequest, ListOrganizationsResponse, Organization as ProtoOrganization,
    PartnerType, RelationshipOwner, SearchOrganizationsRequest, SearchOrganizationsResponse,
    UpdateOrganizationRequest,
};
use estate_proto::fields::fingerprint;
use estate_proto::names::{OrganizationId, OrganizationName, UserId};
use estate_proto::time::to_timestamp;
use tokio_postgres::GenericClient;
use tonic::{Request, Response, Status};

use super::{
    Organizations, caller, check_email, check_etag, commit, existing_organization, kind_from_proto,
    kind_to_proto, organization_id, request_id, revision_etag, transaction,
};
use crate::access::{self, Access};
use crate::db::organizations::{self, Kind, NewOrganization, Organization};
use crate::db::{grants, members, overview};
use crate::rules::organizations::{grant_after_owner_change, repeats_in_batch};
use crate::rules::status::GrantMode;

/// The most organizations one batch creates.
pub const MAX_BATCH: usize = 100;

pub(crate) fn to_proto(organization: Organization) -> ProtoOrganization {
    let partner_type = match organization.partner_type.as_deref() {
        Some("msp") => PartnerType::Msp,
        Some("reseller") => PartnerType::Reseller,
        _ => PartnerType::Unspecified,
    };
    let relationship_owner = match organization.relationship_owner.as_deref() {
        Some("partner") => RelationshipOwner::Partner,
        Some("customer") => RelationshipOwner::Customer,
        _ => RelationshipOwner::Unspecified,
    };
    ProtoOrganization {
        name: OrganizationName {
            organization: organization.id,
        }
        .to_string(),
        kind: kind_to_proto(organization.kind).into(),
        display_name: organization.display_name,
        description: organization.description,
        external_id: organization.external_id.unwrap_or_default(),
        parent: organization
            .parent_id
            .map(|organization| OrganizationName { organization }.to_string())
            .unwrap_or_default(),
        create_time: Some(to_timestamp(organization.create_time)),
        update_time: Some(to_timestamp(organization.update_time)),
        etag: revision_etag(organization.revision),
        partner_type: partner_type.into(),
        relationship_owner: relationship_owner.into(),
        data_region: organization.data_region,
    }
}

/// Which kinds may sit directly below which: distributors at the top,
/// partners (and sub-partner tiers) below distributors, customers (and
/// customer tiers) below partners or distributors.
fn allowed_below(parent: Option<Kind>, child: Kind) -> bool {
    matches!(
        (parent, child),
        (None, Kind::Distributor)
            | (Some(Kind::Distributor | Kind::Partner), Kind::Partner)
            | (
                Some(Kind::Distributor | Kind::Partner | Kind::Customer),
                Kind::Customer
            )
    )
}

fn valid_region(region: &str) -> bool {
    (1..=32).contains(&region.len())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The validated fields of one create, before the parent is known.
struct CreateInput {
    organization: NewOrganization,
    /// Requested relationship owner (checked against the parent later).
    relationship_owner: RelationshipOwner,
    owner: Option<(String, String)>,
    request_id: Option<String>,
    /// The create's idempotency key, when it has a request id.
    key: Option<RequestKey>,
}

/// Validates one create below `parent` (`parent_id`), naming fields under
/// `prefix` (empty, or `requests[3].` in a batch).
fn validate_create(
    prefix: &str,
    parent: (&str, Option<OrganizationId>),
    message: CreateOrganizationRequest,
    violations: &mut Violations,
) -> Option<CreateInput> {
    let field = |name: &str| format!("{prefix}{name}");
    let request_id = match request_id(&message.request_id) {
        Ok(id) => id.map(str::to_owned),
        Err(_) => {
            violations.add(field("request_id"), "must be at most 128 characters");
            None
        }
    };
    // The same create alone or in a batch is the same request.
    let key = RequestKey::of(
        parent.1.unwrap_or_default(),
        "CreateOrganization",
        request_id.as_deref(),
        fingerprint(&CreateOrganizationRequest {
            parent: parent.0.to_owned(),
            request_id: String::new(),
            ..message.clone()
        }),
    );
    let Some(organization) = message.organization else {
        violations.add(field("organization"), "is required");
        return None;
    };
    violations.check_length(
        &field("organization.display_name"),
        &organization.display_name,
        1,
        512,
    );
    violations.check_length(
        &field("organization.description"),
        &organization.description,
        0,
        4096,
    );
    violations.check_length(
        &field("organization.external_id"),
        &organization.external_id,
        0,
        256,
    );
    if !organization.data_region.is_empty() && !valid_region(&organization.data_region) {
        violations.add(
            field("organization.data_region"),
            "must be 1..32 lowercase letters, digits and dashes",
        );
    }
    let kind = kind_from_proto(organization.kind);
    let partner_type = PartnerType::try_from(organization.partner_type).ok();
    let relationship_owner = RelationshipOwner::try_from(organization.relationship_owner)
        .unwrap_or(RelationshipOwner::Unspecified);
    match kind {
        None => violations.add(
            field("organization.kind"),
            "must be DISTRIBUTOR, PARTNER or CUSTOMER",
        ),
        Some(kind) => {
            if kind != Kind::Partner && organization.partner_type != 0 {
                violations.add(
                    field("organization.partner_type"),
                    "is set only for partners",
                );
            }
            if kind != Kind::Customer && organization.relationship_owner != 0 {
                violations.add(
                    field("organization.relationship_owner"),
                    "is set only for customers",
                );
            }
        }
    }
    if partner_type.is_none() {
        violations.add(field("organization.partner_type"), "is not a partner type");
    }
    let owner = message.initial_owner.map(|owner| {
        check_email(violations, &field("initial_owner.email"), &owner.email);
        violations.check_length(
            &field("initial_owner.display_name"),
            &owner.display_name,
            1,
            256,
        );
        (owner.email, owner.display_name)
    });
    let kind = kind?;
    Some(CreateInput {
        organization: NewOrganization {
            kind,
            display_name: organization.display_name,
            description: organization.description,
            external_id: Some(organization.external_id).filter(|id| !id.is_empty()),
            parent_id: None,
            partner_type: (kind == Kind::Partner).then(|| {
                match partner_type {
                    Some(PartnerType::Reseller) => "reseller",
                    _ => "msp",
                }
                .to_string()
            }),
            relationship_owner: None,
            data_region: organization.data_region,
        },
        relationship_owner,
        owner,
        request_id,
        key,
    })
}

/// Completes a validated create with what the parent decides: where it may
/// sit, its region, who owns the relationship, and that it has an owner.
fn place(
    prefix: &str,
    input: &mut CreateInput,
    parent: Option<&Organization>,
    violations: &mut Violations,
) {
    let field = |name: &str| format!("{prefix}{name}");
    let new = &mut input.organization;
    new.parent_id = parent.map(|parent| parent.id);
    let parent_kind = parent.map(|parent| parent.kind);
    if !allowed_below(parent_kind, new.kind) {
        let where_ = parent_kind.map_or("at the top level".to_string(), |kind| {
            format!("below a {}", kind.as_str())
        });
        violations.add(
            field("organization.kind"),
            format!("a {} cannot be created {where_}", new.kind.as_str()),
        );
    }
    if new.data_region.is_empty() {
        new.data_region = parent.map_or("default".into(), |parent| parent.data_region.clone());
    }
    let below_partner = new.kind == Kind::Customer && parent_kind == Some(Kind::Partner);
    new.relationship_owner = match (below_partner, input.relationship_owner) {
        (true, RelationshipOwner::Customer) => Some("customer".into()),
        (true, _) => Some("partner".into()),
        (false, RelationshipOwner::Unspecified) => None,
        (false, _) => {
            violations.add(
                field("organization.relationship_owner"),
                "is set only for customers directly below a partner",
            );
            None
        }
    };
    if parent.is_some() && input.owner.is_none() {
        violations.add(
            field("initial_owner"),
            "is required: every organization below another has an owner",
        );
    }
}

/// Stores one placed create and what comes with it: its first owner and,
/// for a customer below a partner, the partner's grant (managed and
/// continuous, or disabled until a customer-owned customer grants it).
async fn insert_placed(
    client: &impl GenericClient,
    input: &CreateInput,
    now: DateTime<Utc>,
) -> Result<Organization, DbError> {
    let created = organizations::insert(
        client,
        &input.organization,
        input.request_id.as_deref(),
        now,
    )
    .await?;
    if let Some((email, display_name)) = &input.owner {
        let user = members::ensure_user(client, email, display_name, now).await?;
        members::insert(client, created.id, user, "owner", now).await?;
    }
    if let (Some(parent_id), Some(owner)) =
        (created.parent_id, created.relationship_owner.as_deref())
    {
        let managed = owner == "partner";
        let mode = if managed {
            GrantMode::Continuous
        } else {
            GrantMode::Disabled
        };
        grants::insert(client, created.id, parent_id, mode, managed, now).await?;
        overview::refresh(client, &[created.id], now).await?;
    }
    Ok(created)
}

/// Why one create of a batch failed.
enum BatchError {
    /// Its external id is used below the parent already.
    ExternalIdTaken,
    Store(DbError),
}

impl From<DbError> for BatchError {
    fn from(error: DbError) -> Self {
        Self::Store(error)
    }
}

/// A duplicate external id, as the client sees it.
fn external_id_taken(external_id: &str) -> ApiError {
    ApiError::AlreadyExists {
        resource_type: "organization",
        name: external_id.to_string(),
        description: "organization.external_id is already used below this parent".into(),
    }
}

fn conflict_error(conflict: members::Conflict) -> ApiError {
    ApiError::FailedPrecondition {
        violation: "AUTHORIZED_PARTNER_USER_CONFLICT",
        subject: OrganizationName {
            organization: conflict.customer_id,
        }
        .to_string(),
        description: format!(
            "{} cannot be both an authorized partner user of organizations/{} and a member of \
             organizations/{}, which that partner has access to",
            conflict.email, conflict.partner_id, conflict.customer_id
        ),
    }
}

/// Fails the transaction when a change made someone both an authorized
/// partner user and a member of a customer that partner can reach.
pub(crate) async fn refuse_conflicts(
    client: &impl GenericClient,
    user: Option<UserId>,
    customer: Option<OrganizationId>,
    partner: Option<OrganizationId>,
) -> Result<(), ApiError> {
    match members::find_conflict(client, user, customer, partner).await? {
        Some(conflict) => Err(conflict_error(conflict)),
        None => Ok(()),
    }
}

/// The parent a create goes below, after checking the caller may add to
/// it (a view-only partner may not).
async fn writable_parent(
    client: &impl GenericClient,
    principal: &Principal,
    parent: Option<OrganizationId>,
    now: DateTime<Utc>,
) -> Result<Option<Organization>, ApiError> {
    let Some(parent_id) = parent else {
        if !principal.is_platform_admin() {
            return Err(ApiError::PermissionDenied(
                "only platform administrators create top-level organizations".into(),
            ));
        }
        return Ok(None);
    };
    access::require(client, principal, parent_id, Access::Write, now).await?;
    let parent = existing_organization(client, parent_id).await?;
    if organizations::chain(client, parent_id).await?.len() >= organizations::MAX_DEPTH {
        return Err(ApiError::FailedPrecondition {
            violation: "TREE_TOO_DEEP",
            subject: OrganizationName {
                organization: parent_id,
            }
            .to_string(),
            description: format!(
                "organizations nest at most {} levels deep; this parent is at the deepest level",
                organizations::MAX_DEPTH
            ),
        });
    }
    Ok(Some(parent))
}

/// Hides, from a partner's (or distributor's) listing of its own
/// children, the customers that granted it no effective access: a
/// customer-owned customer is visible only while it allows it. Listings
/// below a customer passed the access check of that customer already.
async fn visible_children(
    client: &impl GenericClient,
    principal: &Principal,
    parent_id: Option<OrganizationId>,
    rows: Vec<Organization>,
    now: DateTime<Utc>,
) -> Result<Vec<Organization>, ApiError> {
    let own = access::own_organization(principal);
    if own.is_none() || parent_id != own {
        return Ok(rows);
    }
    let own = own.expect("checked above");
    let customers: Vec<OrganizationId> = rows
        .iter()
        .filter(|row| row.kind == Kind::Customer)
        .map(|row| row.id)
        .collect();
    if customers.is_empty() || existing_organization(client, own).await?.kind == Kind::Customer {
        return Ok(rows);
    }
    let effective: HashSet<OrganizationId> = grants::for_partner_among(client, own, &customers)
        .await?
        .into_iter()
        .filter(|grant| grant.mode.effective_at(now))
        .map(|grant| grant.customer_id)
        .collect();
    Ok(rows
        .into_iter()
        .filter(|row| row.kind != Kind::Customer || effective.contains(&row.id))
        .collect())
}

fn parse_parent(parent: &str) -> Result<Option<OrganizationId>, ApiError> {
    if parent.is_empty() {
        return Ok(None);
    }
    Ok(Some(organization_id("parent", parent)?))
}

/// The update mask paths this API accepts.
const UPDATABLE: &[&str] = &[
    "display_name",
    "description",
    "external_id",
    "partner_type",
    "relationship_owner",
    "data_region",
];

/// Applies the fields of `changes` named by `paths` to `organization`,
/// checking each: every invalid field at once. Returns whether the
/// relationship now is the partner's (managed) when its owner changed.
fn apply_changes(
    organization: &mut Organization,
    changes: &ProtoOrganization,
    paths: &[String],
    principal: &Principal,
) -> Result<Option<bool>, ApiError> {
    let mut violations = Violations::new();
    let mut owner_change = None;
    for path in paths {
        match path.as_str() {
            "display_name" => {
                violations.check_length("organization.display_name", &changes.display_name, 1, 512);
                organization.display_name = changes.display_name.clone();
            }
            "description" => {
                violations.check_length("organization.description", &changes.description, 0, 4096);
                organization.description = changes.description.clone();
            }
            "external_id" => {
                violations.check_length("organization.external_id", &changes.external_id, 0, 256);
                organization.external_id =
                    Some(changes.external_id.clone()).filter(|id| !id.is_empty());
            }
            "data_region" => {
                if !valid_region(&changes.data_region) {
                    violations.add(
                        "organization.data_region",
                        "must be 1..32 lowercase letters, digits and dashes",
                    );
                }
                organization.data_region = changes.data_region.clone();
            }
            "partner_type" => match PartnerType::try_from(changes.partner_type) {
                _ if organization.kind != Kind::Partner => {
                    violations.add("organization.partner_type", "is set only for partners");
                }
                Ok(PartnerType::Msp) => organization.partner_type = Some("msp".into()),
                Ok(PartnerType::Reseller) => {
                    organization.partner_type = Some("reseller".into());
                }
                _ => violations.add("organization.partner_type", "must be MSP or RESELLER"),
            },
            "relationship_owner" => {
                let requested = match RelationshipOwner::try_from(changes.relationship_owner) {
                    Ok(RelationshipOwner::Partner) => "partner",
                    Ok(RelationshipOwner::Customer) => "customer",
                    _ => {
                        violations.add(
                            "organization.relationship_owner",
                            "must be PARTNER or CUSTOMER",
                        );
                        continue;
                    }
                };
                if organization.relationship_owner.is_none() {
                    violations.add(
                        "organization.relationship_owner",
                        "is set only for customers directly below a partner",
                    );
                    continue;
                }
                // The relationship is the customer's to hand over or
                // take back, not the partner's.
                let own = access::own_organization(principal);
                if !principal.is_platform_admin() && own != Some(organization.id) {
                    return Err(ApiError::PermissionDenied(
                        "only the customer itself changes who owns its relationship".into(),
                    ));
                }
                organization.relationship_owner = Some(requested.into());
                owner_change = Some(requested == "partner");
            }
            _ => unreachable!("paths were checked against UPDATABLE"),
        }
    }
    violations.finish()?;
    Ok(owner_change)
}

/// Creates each of `inputs` below `parent_id` (none: at the top) in
/// `transaction` (a create
/// made before under its request id is returned, not made again), or
/// refuses them all: every external id already used below the parent at
/// once.
async fn create_each(
    transaction: &tokio_postgres::Transaction<'_>,
    inputs: &[CreateInput],
    parent_id: Option<OrganizationId>,
    now: DateTime<Utc>,
) -> Result<Vec<Organization>, ApiError> {
    // Request ids are claimed in one order by every batch, so two
    // batches sharing some never wait on each other in a cycle.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|a, b| inputs[*a].request_id.cmp(&inputs[*b].request_id));
    let mut created: Vec<Option<Organization>> = vec![None; inputs.len()];
    let mut taken = Violations::new();
    for index in order {
        let input = &inputs[index];
        let outcome = {
            let client = transaction;
            estate_db::create_once(
                client,
                input.key.as_ref(),
                now,
                |id| async move {
                    organizations::get(client, id)
                        .await
                        .map_err(BatchError::from)
                },
                || async move {
                    if let Some(external_id) = &input.organization.external_id
                        && organizations::external_id_used(client, parent_id, external_id).await?
                    {
                        return Err(BatchError::ExternalIdTaken);
                    }
                    Ok(insert_placed(client, input, now).await?)
                },
                |organization| organization.id,
            )
            .await
        };
        match outcome {
            Ok(outcome) => created[index] = Some(outcome.into_inner()),
            Err(BatchError::ExternalIdTaken) => taken.add(
                format!("requests[{index}].organization.external_id"),
                "is already used below this parent",
            ),
            Err(BatchError::Store(DbError::UniqueViolation { .. })) => {
                // A concurrent create took the external id first.
                return Err(external_id_taken(
                    input
                        .organization
                        .external_id
                        .as_deref()
                        .unwrap_or_default(),
                ));
            }
            Err(BatchError::Store(error)) => return Err(ApiError::from(error)),
        }
    }
    let created: Vec<Organization> = created.into_iter().flatten().collect();
    taken.finish()?;
    Ok(created)
}

#[tonic::async_trait]
impl OrganizationsService for Organizations {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_organization(
        &self,
        request: Request<CreateOrganizationRequest>,
    ) -> Result<Response<ProtoOrganization>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = parse_parent(&message.parent)?;
        let mut violations = Violations::new();
        let parent_name = message.parent.clone();
        let mut input = validate_create("", (&parent_name, parent_id), message, &mut violations);

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let parent = writable_parent(&**client, &principal, parent_id, now).await?;
        // Every violation at once: the request's own and the parent's.
        if let Some(input) = input.as_mut() {
            place("", input, parent.as_ref(), &mut violations);
        }
        violations.finish()?;
        let input = input.expect("validation yields an input when nothing is violated");

        let transaction = transaction(&mut client).await?;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                input.key.as_ref(),
                now,
                |id| async move { organizations::get(client, id).await },
                || insert_placed(client, &input, now),
                |organization| organization.id,
            )
            .await
        };
        let created = match outcome {
            Ok(Created::New(created)) => created,
            Ok(Created::Replayed(existing)) => return Ok(Response::new(to_proto(existing))),
            Err(DbError::UniqueViolation { .. }) => {
                return Err(external_id_taken(
                    input
                        .organization
                        .external_id
                        .as_deref()
                        .unwrap_or_default(),
                )
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        if created.kind == Kind::Customer {
            refuse_conflicts(&transaction, None, Some(created.id), None).await?;
        }
        commit(transaction).await?;
        tracing::info!(organization = %created.id, kind = created.kind.as_str(), "organization created");
        Ok(Response::new(to_proto(created)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent, count = request.get_ref().requests.len()))]
    async fn batch_create_organizations(
        &self,
        request: Request<BatchCreateOrganizationsRequest>,
    ) -> Result<Response<BatchCreateOrganizationsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = parse_parent(&message.parent)?;
        if message.requests.is_empty() || message.requests.len() > MAX_BATCH {
            return Err(ApiError::invalid(
                "requests",
                format!(
                    "must hold 1..{MAX_BATCH} creates, got {}",
                    message.requests.len()
                ),
            )
            .into());
        }
        let mut violations = Violations::new();
        let mut inputs = Vec::with_capacity(message.requests.len());
        for (index, create) in message.requests.into_iter().enumerate() {
            let prefix = format!("requests[{index}].");
            if !create.parent.is_empty() && create.parent != message.parent {
                violations.add(
                    format!("{prefix}parent"),
                    "must be empty or equal to the batch's parent",
                );
            }
            inputs.push(validate_create(
                &prefix,
                (&message.parent, parent_id),
                create,
                &mut violations,
            ));
        }

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let parent = writable_parent(&**client, &principal, parent_id, now).await?;
        let ids: Vec<(Option<String>, Option<String>)> = inputs
            .iter()
            .map(|input| {
                input.as_ref().map_or((None, None), |input| {
                    (
                        input.organization.external_id.clone(),
                        input.request_id.clone(),
                    )
                })
            })
            .collect();
        let ids: Vec<(Option<&str>, Option<&str>)> = ids
            .iter()
            .map(|(external_id, request_id)| (external_id.as_deref(), request_id.as_deref()))
            .collect();
        let repeats = repeats_in_batch(&ids);
        // Each request's violations together: its placement, then its
        // repeated ids.
        for (index, input) in inputs.iter_mut().enumerate() {
            let prefix = format!("requests[{index}].");
            if let Some(input) = input {
                place(&prefix, input, parent.as_ref(), &mut violations);
            }
            for (_, field, reason) in repeats.iter().filter(|repeat| repeat.0 == index) {
                violations.add(format!("{prefix}{field}"), *reason);
            }
        }
        violations.finish()?;
        let inputs: Vec<CreateInput> = inputs.into_iter().flatten().collect();

        let transaction = transaction(&mut client).await?;
        let created = create_each(&transaction, &inputs, parent_id, now).await?;
        for organization in &created {
            if organization.kind == Kind::Customer {
                refuse_conflicts(&transaction, None, Some(organization.id), None).await?;
            }
        }
        commit(transaction).await?;
        tracing::info!(count = created.len(), "organizations created in a batch");
        Ok(Response::new(BatchCreateOrganizationsResponse {
            organizations: created.into_iter().map(to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_organization(
        &self,
        request: Request<GetOrganizationRequest>,
    ) -> Result<Response<ProtoOrganization>, Status> {
        let principal = caller(&request)?;
        let id = organization_id("name", &request.get_ref().name)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, id, Access::Read, self.0.clock.now()).await?;
        let organization = existing_organization(&**client, id).await?;
        Ok(Response::new(to_proto(organization)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_organizations(
        &self,
        request: Request<ListOrganizationsRequest>,
    ) -> Result<Response<ListOrganizationsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = parse_parent(&message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        match parent_id {
            None if !principal.is_platform_admin() => {
                return Err(ApiError::PermissionDenied(
                    "only platform administrators list top-level organizations".into(),
                )
                .into());
            }
            None => {}
            Some(parent_id) => {
                access::require(&**client, &principal, parent_id, Access::Read, now).await?
            }
        }
        let mut rows = organizations::list_children(&**client, parent_id, &page).await?;
        // The token comes from the unfiltered page, so hiding rows below
        // never ends the listing early (a page may hold fewer rows).
        let next_page_token = page.finish(&mut rows, |row| row.id.uuid());
        let rows = visible_children(&**client, &principal, parent_id, rows, now).await?;
        Ok(Response::new(ListOrganizationsResponse {
            organizations: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn search_organizations(
        &self,
        request: Request<SearchOrganizationsRequest>,
    ) -> Result<Response<SearchOrganizationsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let parent_id = organization_id("parent", &message.parent)?;
        let mut violations = Violations::new();
        violations.check_length("query", &message.query, 1, 200);
        if !(0..=100).contains(&message.page_size) {
            violations.add("page_size", "must be between 0 (the default, 20) and 100");
        }
        violations.finish()?;
        let limit = if message.page_size == 0 {
            20
        } else {
            i64::from(message.page_size)
        };
        let client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        access::require(&**client, &principal, parent_id, Access::Read, now).await?;
        let found = organizations::search(&**client, parent_id, &message.query, limit).await?;
        // What ListOrganizations would show: children as it filters them
        // below `parent`, and grandchildren only below a child the caller
        // may see (as listing that child's children requires). The
        // search's order is kept; a page may come back short of `limit`.
        let mut child_ids: HashSet<OrganizationId> = found
            .iter()
            .map(|row| match row.parent_id {
                Some(parent) if parent != parent_id => parent,
                _ => row.id,
            })
            .collect();
        let children =
            organizations::get_many(&**client, &child_ids.drain().collect::<Vec<_>>()).await?;
        let visible: HashSet<OrganizationId> =
            visible_children(&**client, &principal, Some(parent_id), children, now)
                .await?
                .into_iter()
                .map(|row| row.id)
                .collect();
        let matches = found.into_iter().filter(|row| match row.parent_id {
            Some(parent) if parent != parent_id => visible.contains(&parent),
            _ => visible.contains(&row.id),
        });
        Ok(Response::new(SearchOrganizationsResponse {
            organizations: matches.map(to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_organization(
        &self,
        request: Request<UpdateOrganizationRequest>,
    ) -> Result<Response<ProtoOrganization>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let Some(changes) = message.organization else {
            return Err(ApiError::invalid("organization", "is required").into());
        };
        let id = organization_id("organization.name", &changes.name)?;
        let paths = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(ApiError::invalid(
                "update_mask",
                format!("must name at least one of {}", UPDATABLE.join(", ")),
            )
            .into());
        }
        let mut violations = Violations::new();
        for path in &paths {
            if !UPDATABLE.contains(&path.as_str()) {
                violations.add(
                    "update_mask",
                    format!(
                        "{} cannot be updated; updatable: {}",
                        estate_errors::quote(path),
                        UPDATABLE.join(", ")
                    ),
                );
            }
        }
        violations.finish()?;

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, id, Access::Write, now).await?;
        let transaction = transaction(&mut client).await?;
        let mut organization = organizations::get_for_update(&transaction, id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                resource_type: "organization",
                name: changes.name.clone(),
            })?;
        check_etag(&changes.etag, organization.revision, changes.name.clone())?;
        let owner_change = apply_changes(&mut organization, &changes, &paths, &principal)?;
        let updated = match organizations::update(&transaction, &organization, now).await {
            Ok(updated) => updated,
            Err(DbError::UniqueViolation { .. }) => {
                return Err(external_id_taken(
                    organization.external_id.as_deref().unwrap_or_default(),
                )
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        if let (Some(managed), Some(parent_id)) = (owner_change, updated.parent_id) {
            let current = grants::get(&transaction, id, parent_id).await?;
            let mode = grant_after_owner_change(managed, current.map(|grant| grant.mode));
            grants::update(&transaction, id, parent_id, mode, managed, now).await?;
        }
        if updated.kind == Kind::Customer {
            overview::refresh(&transaction, &[id], now).await?;
        }
        commit(transaction).await?;
        Ok(Response::new(to_proto(updated)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_organization(
        &self,
        request: Request<DeleteOrganizationRequest>,
    ) -> Result<Response<DeleteOrganizationResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let id = organization_id("name", &message.name)?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, id, Access::Write, now).await?;
        if access::own_organization(&principal) == Some(id) {
            return Err(ApiError::PermissionDenied(
                "an organization cannot delete itself; ask the organization above it".into(),
            )
            .into());
        }
        let transaction = transaction(&mut client).await?;
        let organization = organizations::get_for_update(&transaction, id)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                resource_type: "organization",
                name: message.name.clone(),
            })?;
        check_etag(&message.etag, organization.revision, message.name.clone())?;
        if organizations::has_children(&transaction, id).await? {
            return Err(ApiError::FailedPrecondition {
                violation: "HAS_CHILDREN",
                subject: message.name,
                description: "an organization with child organizations cannot be deleted; \
                              delete its children first (organizations are not moved \
                              between parents)"
                    .into(),
            }
            .into());
        }
        organizations::delete(&transaction, id).await?;
        commit(transaction).await?;
        tracing::info!(organization = %id, "organization deleted");
        Ok(Response::new(DeleteOrganizationResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_allows_only_channel_shapes() {
        assert!(allowed_below(None, Kind::Distributor));
        assert!(!allowed_below(None, Kind::Partner));
        assert!(!allowed_below(None, Kind::Customer));
        assert!(allowed_below(Some(Kind::Distributor), Kind::Partner));
        assert!(allowed_below(Some(Kind::Partner), Kind::Customer));
        assert!(allowed_below(Some(Kind::Customer), Kind::Customer));
        assert!(!allowed_below(Some(Kind::Customer), Kind::Partner));
        assert!(!allowed_below(Some(Kind::Partner), Kind::Distributor));
    }

    #[test]
    fn regions_are_short_lowercase_slugs() {
        assert!(valid_region("eu-west-1"));
        assert!(!valid_region("EU"));
        assert!(!valid_region(""));
        assert!(!valid_region(&"a".repeat(33)));
    }
}
