//! Asking the customers service whether the current principal may touch a
//! tenant's data. Licensing and billing call this before every tenant-scoped
//! read or write; access rules live in one place (the customers service).

use std::time::Duration;

use estate_errors::ApiError;
use estate_proto::internal::AuthorizeRequest;
use estate_proto::internal::identity_service_client::IdentityServiceClient;
use tonic::transport::Channel;

use crate::{CallerToken, forward};

/// A client of the customers service's `Authorize` call.
#[derive(Debug, Clone)]
pub struct AccessChecker {
    client: IdentityServiceClient<Channel>,
}

impl AccessChecker {
    /// Connects lazily to the customers service at `url`; a customers
    /// service that is down makes tenant-scoped calls fail with UNAVAILABLE
    /// within `timeout`, never hang.
    pub fn connect_lazy(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(url.to_string())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        Ok(Self {
            client: IdentityServiceClient::new(channel),
        })
    }

    /// `Ok` when the caller may read (or, with `write`, change) the data of
    /// `organization_id`; PERMISSION_DENIED otherwise.
    pub async fn require(
        &self,
        token: &CallerToken,
        organization_id: &str,
        write: bool,
    ) -> Result<(), ApiError> {
        let request = forward(
            AuthorizeRequest {
                organization_id: organization_id.to_string(),
                write,
            },
            token,
        );
        let response =
            self.client
                .clone()
                .authorize(request)
                .await
                .map_err(|status| match status.code() {
                    // The customers service refused the token: the caller's problem.
                    tonic::Code::Unauthenticated => {
                        ApiError::Unauthenticated(status.message().into())
                    }
                    tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Unknown => ApiError::Unavailable {
                        dependency: "customers service",
                        source: Box::new(status),
                    },
                    _ => ApiError::internal(status),
                })?;
        let answer = response.into_inner();
        if answer.allowed {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(answer.reason))
        }
    }
}
