//! Asking the customers service whether the current principal may touch a
//! tenant's data. Licensing and billing call this before every tenant-scoped
//! read or write; access rules live in one place (the customers service).

use std::time::Duration;

use estate_errors::ApiError;
use estate_proto::common::OrganizationKind;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{GetOrganizationRequest, Organization, SearchOrganizationsRequest};
use estate_proto::internal::identity_service_client::IdentityServiceClient;
use estate_proto::internal::{AuthorizeRequest, PartnerStanding, SetPartnerStandingRequest};
use estate_transport::Balanced;

use crate::{CallerToken, forward};

/// What a caller asks to do with an organization's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A client of the customers service's `Authorize` call.
#[derive(Debug, Clone)]
pub struct AccessChecker {
    client: IdentityServiceClient<Balanced>,
    organizations: OrganizationsServiceClient<Balanced>,
}

impl AccessChecker {
    /// Connects lazily to every replica of the customers service at
    /// `url` (the value of `ESTATE_CUSTOMERS_URL`); a customers service
    /// that is down makes tenant-scoped calls fail with UNAVAILABLE within
    /// `timeout`, never hang.
    pub fn connect_lazy(
        url: &str,
        timeout: Duration,
        options: &estate_transport::ChannelOptions,
    ) -> anyhow::Result<Self> {
        let channel = Balanced::new(
            "customers",
            "ESTATE_CUSTOMERS_URL",
            url,
            estate_transport::ChannelOptions {
                request_timeout: Some(timeout),
                ..options.clone()
            },
        )?;
        Ok(Self {
            client: IdentityServiceClient::new(channel.clone()),
            organizations: OrganizationsServiceClient::new(channel),
        })
    }

    /// Readiness: whether the customers service answers and accepts this
    /// service's internal token. It is asked to resolve a credential that
    /// cannot exist; any answer but a refusal of the token will do.
    pub async fn probe(&self, token: &CallerToken) -> Result<(), String> {
        probe_token(self.client.clone(), token).await
    }

    /// `Ok` when the caller may have `access` to the data of
    /// `organization_id` and that organization is of the `expected` kind;
    /// PERMISSION_DENIED when the caller may not, INVALID_ARGUMENT naming
    /// `field` when the organization is of another kind.
    pub async fn require(
        &self,
        token: &CallerToken,
        organization_id: &str,
        access: Access,
        expected: OrganizationKind,
        field: &str,
    ) -> Result<(), ApiError> {
        let request = AuthorizeRequest {
            organization_id: organization_id.to_string(),
            write: access == Access::Write,
            report_usage: false,
            required_capability: String::new(),
        };
        self.authorize(token, request, expected, field).await
    }

    /// [`Self::require`], where a change also needs the organization to
    /// hold `capability` (an id such as `sam-core`) active now; refused
    /// with FAILED_PRECONDITION `CAPABILITY_MISSING` otherwise.
    pub async fn require_with_capability(
        &self,
        token: &CallerToken,
        organization_id: &str,
        access: Access,
        expected: OrganizationKind,
        field: &str,
        capability: &str,
    ) -> Result<(), ApiError> {
        let request = AuthorizeRequest {
            organization_id: organization_id.to_string(),
            write: access == Access::Write,
            report_usage: false,
            required_capability: capability.to_string(),
        };
        self.authorize(token, request, expected, field).await
    }

    /// [`Self::require`] for reporting product usage: a change that a
    /// suspended partner may still make.
    pub async fn require_usage_report(
        &self,
        token: &CallerToken,
        organization_id: &str,
        expected: OrganizationKind,
        field: &str,
    ) -> Result<(), ApiError> {
        let request = AuthorizeRequest {
            organization_id: organization_id.to_string(),
            write: true,
            report_usage: true,
            required_capability: String::new(),
        };
        self.authorize(token, request, expected, field).await
    }

    /// Records a partner's standing with the customers service, as of the
    /// billing `revision`; whether it was applied (an older delivery is
    /// not). `token` must be a service's.
    pub async fn set_partner_standing(
        &self,
        token: &CallerToken,
        organization_id: &str,
        standing: PartnerStanding,
        revision: i64,
    ) -> Result<bool, ApiError> {
        let request = forward(
            SetPartnerStandingRequest {
                organization_id: organization_id.to_string(),
                standing: standing.into(),
                revision,
            },
            token,
        );
        match self.client.clone().set_partner_standing(request).await {
            Ok(response) => Ok(response.into_inner().applied),
            // No such partner there (any more): nothing to bound.
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => Err(customers_failure(status)),
        }
    }

    async fn authorize(
        &self,
        token: &CallerToken,
        request: AuthorizeRequest,
        expected: OrganizationKind,
        field: &str,
    ) -> Result<(), ApiError> {
        let organization_id = request.organization_id.clone();
        let request = forward(request, token);
        let response = self
            .client
            .clone()
            .authorize(request)
            .await
            .map_err(customers_failure)?;
        let answer = response.into_inner();
        if !answer.allowed && !answer.missing_capability.is_empty() {
            return Err(ApiError::FailedPrecondition {
                violation: "CAPABILITY_MISSING",
                subject: format!(
                    "organizations/{organization_id}/entitlements/{}",
                    answer.missing_capability
                ),
                description: answer.reason,
            });
        }
        if !answer.allowed {
            return Err(ApiError::PermissionDenied(answer.reason));
        }
        if answer.organization_kind != i32::from(expected) {
            let actual = OrganizationKind::try_from(answer.organization_kind)
                .unwrap_or(OrganizationKind::Unspecified);
            return Err(ApiError::invalid(
                field,
                format!(
                    "names a {} organization; expected a {}",
                    kind_name(actual),
                    kind_name(expected)
                ),
            ));
        }
        Ok(())
    }

    /// The organization `organization_id` as `token`'s principal sees it,
    /// `None` when it does not exist or that principal may not see it.
    pub async fn organization(
        &self,
        token: &CallerToken,
        organization_id: &str,
    ) -> Result<Option<Organization>, ApiError> {
        let request = forward(
            GetOrganizationRequest {
                name: format!("organizations/{organization_id}"),
            },
            token,
        );
        match self.organizations.clone().get_organization(request).await {
            Ok(response) => Ok(Some(response.into_inner())),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::NotFound | tonic::Code::PermissionDenied
                ) =>
            {
                Ok(None)
            }
            Err(status) => Err(customers_failure(status)),
        }
    }
}

impl AccessChecker {
    /// Children and grandchildren of `parent_id` whose name contains
    /// `query`, as `token`'s principal may see them (see the customers
    /// service's `SearchOrganizations`).
    pub async fn search_organizations(
        &self,
        token: &CallerToken,
        parent_id: &str,
        query: &str,
        limit: i32,
    ) -> Result<Vec<Organization>, ApiError> {
        let request = forward(
            SearchOrganizationsRequest {
                parent: format!("organizations/{parent_id}"),
                query: query.to_string(),
                page_size: limit,
            },
            token,
        );
        let response = self
            .organizations
            .clone()
            .search_organizations(request)
            .await
            .map_err(customers_failure)?;
        Ok(response.into_inner().organizations)
    }
}

/// What a failed call to the customers service means to the caller.
fn customers_failure(status: tonic::Status) -> ApiError {
    match status.code() {
        // The customers service refused the token: the caller's problem.
        tonic::Code::Unauthenticated => ApiError::Unauthenticated(status.message().into()),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
            ApiError::Unavailable {
                dependency: "customers service",
                source: Box::new(status),
            }
        }
        _ => ApiError::internal(status),
    }
}

fn kind_name(kind: OrganizationKind) -> &'static str {
    match kind {
        OrganizationKind::Distributor => "distributor",
        OrganizationKind::Partner => "partner",
        OrganizationKind::Customer => "customer",
        OrganizationKind::Unspecified => "unknown",
    }
}

/// See [`AccessChecker::probe`]; the gateway asks the same way.
pub async fn probe_token<T>(
    mut client: IdentityServiceClient<T>,
    token: &CallerToken,
) -> Result<(), String>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let request = forward(
        estate_proto::internal::ResolveCredentialRequest {
            credential: "readiness-probe-credential-that-does-not-exist".to_string(),
        },
        token,
    );
    match client.resolve_credential(request).await {
        Ok(_) => Ok(()),
        Err(status) => match status.code() {
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => Err(format!(
                "the customers service refuses this service's internal token ({}): check ESTATE_INTERNAL_TOKEN_SECRET",
                status.message()
            )),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                Err(format!(
                    "the customers service is unreachable: {}",
                    status.message()
                ))
            }
            _ => Ok(()),
        },
    }
}
