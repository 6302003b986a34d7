//! `estate.customers.v1.ApiKeysService`.

use estate_db::{Created, DbError, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::api_keys_service_server::ApiKeysService;
use estate_proto::customers::{
    ApiKey as ProtoApiKey, CreateApiKeyRequest, CreateApiKeyResponse, ListApiKeysRequest,
    ListApiKeysResponse, RevokeApiKeyRequest,
};
use estate_proto::fields::fingerprint;
use estate_proto::names::{ApiKeyName, UserId};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::{ApiKeys, caller, commit, organization_id, request_id, transaction};
use crate::access::{self, Access};
use crate::db::api_keys::{self, ApiKey, NewApiKey};
use crate::keys;
use crate::rules::roles;

/// Roles an organization's keys may carry. `platform_admin` is never
/// grantable through the API.
const GRANTABLE_ROLES: &[&str] = &["admin", "member", "authorized_partner_user"];

fn to_proto(key: ApiKey) -> ProtoApiKey {
    let organization = key
        .organization_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    ProtoApiKey {
        // A platform key belongs to no organization: its name has an
        // empty organization segment, which no typed name can hold.
        name: format!("organizations/{organization}/apiKeys/{}", key.id),
        display_name: key.display_name,
        key_prefix: key.key_prefix,
        roles: key.roles,
        create_time: Some(to_timestamp(key.create_time)),
        last_use_time: key.last_use_time.map(to_timestamp),
        revoke_time: key.revoke_time.map(to_timestamp),
        user: key
            .user_id
            .map(|id| format!("users/{id}"))
            .unwrap_or_default(),
    }
}

/// What a create stores: the name, the roles, or the user it acts as.
type KeyFields = (String, Vec<String>, Option<UserId>);

fn validate(key: Option<ProtoApiKey>) -> Result<KeyFields, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::invalid("api_key", "is required"));
    };
    let mut violations = Violations::new();
    violations.check_length("api_key.display_name", &key.display_name, 1, 256);
    let mut roles = key.roles;
    roles.sort();
    roles.dedup();
    let user = if key.user.is_empty() {
        None
    } else {
        match estate_proto::fields::resource_id("api_key.user", &key.user, "users") {
            Ok(user) => Some(UserId::from_uuid(user)),
            Err(_) => {
                violations.add("api_key.user", "must be a resource name like users/{uuid}");
                None
            }
        }
    };
    if !key.user.is_empty() && !roles.is_empty() {
        violations.add(
            "api_key.roles",
            "must be empty for a personal key: it acts with its user's role",
        );
    } else if key.user.is_empty() && roles.is_empty() {
        violations.add("api_key.roles", "must name at least one role");
    }
    for role in &roles {
        if !GRANTABLE_ROLES.contains(&role.as_str()) {
            violations.add(
                "api_key.roles",
                format!(
                    "{} is not a grantable role; use one of {GRANTABLE_ROLES:?}",
                    estate_errors::quote(role)
                ),
            );
        }
    }
    violations.finish()?;
    Ok((key.display_name, roles, user))
}

#[tonic::async_trait]
impl ApiKeysService for ApiKeys {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization_id = organization_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            organization_id,
            "CreateApiKey",
            request_id,
            fingerprint(&CreateApiKeyRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let (display_name, roles, user_id) = validate(message.api_key)?;

        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(
            &**client,
            &principal,
            organization_id,
            Access::Write,
            self.0.clock.now(),
        )
        .await?;
        for role in &roles {
            roles::require(&principal, role, "create a key with")?;
        }
        if let Some(user_id) = user_id {
            let Some(member) = crate::db::members::get(&**client, organization_id, user_id).await?
            else {
                return Err(ApiError::FailedPrecondition {
                    violation: "NOT_A_MEMBER",
                    subject: format!("users/{user_id}"),
                    description: "a personal key's user must be a member of the organization"
                        .into(),
                }
                .into());
            };
            roles::require(
                &principal,
                &member.role,
                "create a personal key acting with",
            )?;
        }
        let secret = keys::generate().map_err(|error| ApiError::internal(error.to_string()))?;
        let new = NewApiKey {
            organization_id,
            display_name: &display_name,
            key_prefix: &keys::prefix(&secret),
            key_hash: &keys::hash(&secret),
            roles: &roles,
            user_id,
            role_ceiling: user_id.and_then(|_| roles::ceiling(&principal)),
        };
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { api_keys::get(client, organization_id, id).await },
                || api_keys::insert(client, &new, request_id, now),
                |key| key.id,
            )
            .await
        };
        let created = match outcome {
            Ok(Created::New(created)) => created,
            Ok(Created::Replayed(existing)) => {
                // The secret was shown once, in the first call's response.
                return Ok(Response::new(CreateApiKeyResponse {
                    api_key: Some(to_proto(existing)),
                    key: String::new(),
                }));
            }
            Err(DbError::ForeignKeyViolation) => {
                return Err(ApiError::NotFound {
                    resource_type: "organization",
                    name: message.parent.clone(),
                }
                .into());
            }
            Err(other) => return Err(ApiError::from(other).into()),
        };
        commit(transaction).await?;
        tracing::info!(api_key = %created.id, organization = %organization_id, "api key created");
        Ok(Response::new(CreateApiKeyResponse {
            api_key: Some(to_proto(created)),
            key: secret,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization_id = organization_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let client = estate_db::connection(&self.0.pool).await?;
        // Credentials are an administrator's business, even as metadata.
        access::require(
            &**client,
            &principal,
            organization_id,
            Access::Write,
            self.0.clock.now(),
        )
        .await?;
        let mut rows = api_keys::list(&**client, organization_id, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.id.uuid());
        Ok(Response::new(ListApiKeysResponse {
            api_keys: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<ProtoApiKey>, Status> {
        let principal = caller(&request)?;
        let name = request.into_inner().name;
        let target = ApiKeyName::parse("name", &name)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(
            &**client,
            &principal,
            target.organization,
            Access::Write,
            self.0.clock.now(),
        )
        .await?;
        let revoked = api_keys::revoke(
            &**client,
            target.organization,
            target.key,
            self.0.clock.now(),
        )
        .await?
        .ok_or(ApiError::NotFound {
            resource_type: "api key",
            name,
        })?;
        tracing::info!(api_key = %revoked.id, "api key revoked");
        Ok(Response::new(to_proto(revoked)))
    }
}
