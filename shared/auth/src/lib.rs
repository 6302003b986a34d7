//! Who is calling, as every backend sees it.
//!
//! The gateway authenticates the outside caller and forwards a short-lived
//! internal token naming the [`Principal`], signed with HMAC-SHA256 under a
//! secret only the platform's services hold. Backends verify it with
//! [`RequirePrincipalLayer`] and never trust any other header. A service
//! calling another forwards the token it received ([`forward`]).
//!
//! The token is a compact `v1.<claims>.<mac>` string (base64url JSON claims
//! and MAC) rather than a JWT: one algorithm, one key, no header parsing,
//! and no RSA/ECDSA stack to compile for a token that never leaves the
//! cluster.

pub mod access;
mod layer;
mod token;

pub use access::{Access, AccessChecker};
pub use layer::{CallerToken, RequirePrincipalLayer};
pub use token::{INTERNAL_TOKEN_TTL, TokenError, TokenSigner};

use serde::{Deserialize, Serialize};

/// The metadata key carrying the internal token between services. The
/// gateway removes every `x-estate-*` key a caller sends.
pub const INTERNAL_TOKEN_HEADER: &str = "x-estate-internal-token";

/// Prefix of every metadata key the platform reserves for itself.
pub const RESERVED_HEADER_PREFIX: &str = "x-estate-";

/// Role of a platform administrator (sees and manages everything).
pub const ROLE_PLATFORM_ADMIN: &str = "platform_admin";
/// Role of one of the platform's own services calling another.
pub const ROLE_SERVICE: &str = "service";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable id of the credential, user or service, e.g. `apiKeys/{uuid}`.
    pub subject: String,
    /// The organization acted for; `None` for administrators and services.
    pub organization_id: Option<String>,
    /// `estate.common.v1.OrganizationKind` of that organization.
    pub organization_kind: i32,
    /// Roles held in that organization.
    pub roles: Vec<String>,
}

impl Principal {
    /// Who the call acts for, as logs name it: the organization, or for
    /// administrators and services (who act for none) the subject.
    pub fn acting_for(&self) -> &str {
        self.organization_id
            .as_deref()
            .filter(|organization| !organization.is_empty())
            .unwrap_or(&self.subject)
    }

    /// A service of the platform acting on its own behalf (e.g. the gateway
    /// resolving a credential).
    pub fn service(name: &str) -> Self {
        Self {
            subject: format!("services/{name}"),
            organization_id: None,
            organization_kind: 0,
            roles: vec![ROLE_SERVICE.to_string()],
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.has_role(ROLE_PLATFORM_ADMIN)
    }

    pub fn is_service(&self) -> bool {
        self.has_role(ROLE_SERVICE)
    }
}

impl From<estate_proto::internal::Principal> for Principal {
    fn from(principal: estate_proto::internal::Principal) -> Self {
        Self {
            subject: principal.subject,
            organization_id: Some(principal.organization_id).filter(|id| !id.is_empty()),
            organization_kind: principal.organization_kind,
            roles: principal.roles,
        }
    }
}

impl From<Principal> for estate_proto::internal::Principal {
    fn from(principal: Principal) -> Self {
        Self {
            subject: principal.subject,
            organization_id: principal.organization_id.unwrap_or_default(),
            organization_kind: principal.organization_kind,
            roles: principal.roles,
        }
    }
}

/// The verified caller of a request and its token (for forwarding). The
/// server's [`RequirePrincipalLayer`] guarantees both exist.
pub fn caller<T>(
    request: &tonic::Request<T>,
) -> Result<(Principal, CallerToken), estate_errors::ApiError> {
    let principal = request.extensions().get::<Principal>().cloned();
    let token = request.extensions().get::<CallerToken>().cloned();
    principal
        .zip(token)
        .ok_or_else(|| estate_errors::ApiError::Unauthenticated("no verified principal".into()))
}

/// Wraps `message` in a request that carries the caller's internal token,
/// so the next service sees the same principal (the channel adds the
/// trace context of its client span).
pub fn forward<T>(message: T, token: &CallerToken) -> tonic::Request<T> {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(&token.0) {
        headers.insert(INTERNAL_TOKEN_HEADER, value);
    }
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    request
}
