//! `estate.customers.v1.MembersService`: people and their roles.

use estate_db::{DbError, PageRequest};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::members_service_server::MembersService;
use estate_proto::customers::{
    AddMemberRequest, ListMembersRequest, ListMembersResponse, Member as ProtoMember,
    RemoveMemberRequest, RemoveMemberResponse, UpdateMemberRequest,
};
use estate_proto::names::{MemberName, UserId};
use estate_proto::time::to_timestamp;
use tokio_postgres::GenericClient;
use tonic::{Request, Response, Status};

use super::organizations::refuse_conflicts;
use super::{
    Members, caller, check_email, commit, existing_organization, organization_id, role_for,
    role_to_proto, transaction,
};
use crate::access::{self, Access};
use crate::db::members::{self, Member};
use crate::db::organizations::{Kind, Organization};
use crate::rules::roles;

fn to_proto(member: Member) -> ProtoMember {
    ProtoMember {
        name: MemberName {
            organization: member.organization_id,
            user: member.user_id,
        }
        .to_string(),
        user: format!("users/{}", member.user_id),
        email: member.email,
        display_name: member.display_name,
        role: role_to_proto(&member.role).into(),
        create_time: Some(to_timestamp(member.create_time)),
    }
}

/// Refuses a change that would leave an organization below another
/// without an owner.
async fn keep_an_owner(
    client: &impl GenericClient,
    organization: &Organization,
    leaving: UserId,
) -> Result<(), ApiError> {
    if organization.parent_id.is_none() {
        return Ok(());
    }
    let owners = members::lock_owners(client, organization.id).await?;
    if owners == [leaving] {
        return Err(ApiError::FailedPrecondition {
            violation: "LAST_OWNER",
            subject: MemberName {
                organization: organization.id,
                user: leaving,
            }
            .to_string(),
            description: "every organization below another keeps at least one owner; \
                          make someone else an owner first"
                .into(),
        });
    }
    Ok(())
}

/// The conflict check a role in `organization` calls for.
async fn refuse_conflicts_of(
    client: &impl GenericClient,
    organization: &Organization,
    user: UserId,
    role: &str,
) -> Result<(), ApiError> {
    match organization.kind {
        Kind::Customer => refuse_conflicts(client, Some(user), Some(organization.id), None).await,
        Kind::Partner if role == "authorized_partner_user" => {
            refuse_conflicts(client, Some(user), None, Some(organization.id)).await
        }
        _ => Ok(()),
    }
}

fn member_not_found(name: String) -> ApiError {
    ApiError::NotFound {
        resource_type: "member",
        name,
    }
}

#[tonic::async_trait]
impl MembersService for Members {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn add_member(
        &self,
        request: Request<AddMemberRequest>,
    ) -> Result<Response<ProtoMember>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization_id = organization_id("parent", &message.parent)?;
        let mut violations = Violations::new();
        check_email(&mut violations, "email", &message.email);
        violations.check_length("display_name", &message.display_name, 1, 256);
        violations.finish()?;

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, organization_id, Access::Write, now).await?;
        let organization = existing_organization(&**client, organization_id).await?;
        let role = role_for(message.role, organization.kind)?;
        roles::require(&principal, role, "grant")?;
        let transaction = transaction(&mut client).await?;
        let user =
            members::ensure_user(&transaction, &message.email, &message.display_name, now).await?;
        let member = match members::insert(&transaction, organization_id, user, role, now).await {
            Ok(member) => member,
            Err(DbError::UniqueViolation { .. }) => {
                return Err(ApiError::AlreadyExists {
                    resource_type: "member",
                    name: MemberName {
                        organization: organization_id,
                        user,
                    }
                    .to_string(),
                    description: format!(
                        "{} is already a member; change the role with UpdateMember",
                        message.email
                    ),
                }
                .into());
            }
            Err(error) => return Err(ApiError::from(error).into()),
        };
        refuse_conflicts_of(&transaction, &organization, user, role).await?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(member)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_members(
        &self,
        request: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let organization_id = organization_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(
            &**client,
            &principal,
            organization_id,
            Access::Read,
            self.0.clock.now(),
        )
        .await?;
        let mut rows = members::list(&**client, organization_id, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.user_id.uuid());
        Ok(Response::new(ListMembersResponse {
            members: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn update_member(
        &self,
        request: Request<UpdateMemberRequest>,
    ) -> Result<Response<ProtoMember>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let target = MemberName::parse("name", &message.name)?;
        let (organization_id, user) = (target.organization, target.user);
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, organization_id, Access::Write, now).await?;
        let organization = existing_organization(&**client, organization_id).await?;
        let role = role_for(message.role, organization.kind)?;
        roles::require(&principal, role, "grant")?;
        let transaction = transaction(&mut client).await?;
        let current = members::get_for_update(&transaction, organization_id, user)
            .await?
            .ok_or_else(|| member_not_found(message.name.clone()))?;
        roles::require(&principal, &current.role, "change a member holding")?;
        if role != "owner" {
            keep_an_owner(&transaction, &organization, user).await?;
        }
        let member = members::set_role(&transaction, organization_id, user, role)
            .await?
            .ok_or_else(|| member_not_found(message.name.clone()))?;
        refuse_conflicts_of(&transaction, &organization, user, role).await?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(member)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Result<Response<RemoveMemberResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let target = MemberName::parse("name", &message.name)?;
        let (organization_id, user) = (target.organization, target.user);
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, organization_id, Access::Write, now).await?;
        let organization = existing_organization(&**client, organization_id).await?;
        let transaction = transaction(&mut client).await?;
        if let Some(current) = members::get_for_update(&transaction, organization_id, user).await? {
            roles::require(&principal, &current.role, "remove a member holding")?;
        }
        keep_an_owner(&transaction, &organization, user).await?;
        if !members::remove(&transaction, organization_id, user).await? {
            return Err(member_not_found(message.name).into());
        }
        commit(transaction).await?;
        Ok(Response::new(RemoveMemberResponse {}))
    }
}
