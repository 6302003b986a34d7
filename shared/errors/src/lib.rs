//! The error every service's domain returns, and its single mapping to a
//! gRPC [`Status`] with rich details (google.rpc `BadRequest`,
//! `PreconditionFailure`, `ResourceInfo`, `ErrorInfo`).
//!
//! Clients must be able to tell which field was wrong and why, so
//! validation failures carry field violations; internal failures are logged
//! with their whole source chain and reported without leaking internals.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The error domain reported in `ErrorInfo` details.
pub const ERROR_DOMAIN: &str = "estate.dev";

/// One invalid field of a request and why it is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `organization.display_name`.
    pub field: String,
    /// Why the value is not acceptable, in words a client can show.
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A domain error. Each variant maps to exactly one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; every offending field is listed.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist (or the caller may not know it does).
    #[error("{resource_type} {name} not found")]
    NotFound {
        resource_type: &'static str,
        name: String,
    },
    /// A resource with the same identity already exists.
    #[error("{resource_type} {name} already exists: {description}")]
    AlreadyExists {
        resource_type: &'static str,
        name: String,
        description: String,
    },
    /// The system is not in a state that allows the operation.
    #[error("failed precondition: {description}")]
    FailedPrecondition {
        /// A machine-readable violation type, e.g. `HAS_CHILDREN`.
        violation: &'static str,
        /// The subject the precondition is about (a resource name).
        subject: String,
        description: String,
    },
    /// The caller is known but may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The caller did not present a valid credential.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A dependency (another service, the database) cannot be reached.
    #[error("{dependency} unavailable")]
    Unavailable {
        dependency: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A concurrent change got in the way (a serialization failure, a
    /// deadlock the database broke, a row gone between two statements):
    /// the same request, sent again, is expected to succeed.
    #[error("aborted: {0}")]
    Aborted(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// An unexpected failure from any error type.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(source.into())
    }
}

/// Collects field violations during validation, so a client learns about
/// every bad field at once rather than one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Checks that a string's length in characters lies in `min..=max`.
    pub fn check_length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let length = value.chars().count();
        if length < min {
            if min == 1 {
                self.add(field, "must not be empty");
            } else {
                self.add(field, format!("must be at least {min} characters"));
            }
        } else if length > max {
            self.add(
                field,
                format!("must be at most {max} characters, got {length}"),
            );
        }
    }

    /// `Ok(())` when nothing was violated, else the collected error.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for violation in &violations {
                    details.add_bad_request_violation(&violation.field, &violation.description);
                }
                Status::with_error_details(Code::InvalidArgument, describe(&violations), details)
            }
            ApiError::NotFound {
                resource_type,
                ref name,
            } => Status::with_error_details(
                Code::NotFound,
                error.to_string(),
                ErrorDetails::with_resource_info(resource_type, name, "", "not found"),
            ),
            ApiError::AlreadyExists {
                resource_type,
                ref name,
                ref description,
            } => Status::with_error_details(
                Code::AlreadyExists,
                error.to_string(),
                ErrorDetails::with_resource_info(resource_type, name, "", description),
            ),
            ApiError::FailedPrecondition {
                violation,
                ref subject,
                ref description,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                description.clone(),
                ErrorDetails::with_precondition_failure_violation(violation, subject, description),
            ),
            ApiError::PermissionDenied(message) => Status::permission_denied(message),
            ApiError::Unauthenticated(message) => Status::unauthenticated(message),
            ApiError::Unavailable {
                dependency,
                ref source,
            } => {
                tracing::warn!(dependency, error = %source, "dependency unavailable");
                Status::with_error_details(
                    Code::Unavailable,
                    format!("{dependency} is unavailable, retry later"),
                    ErrorDetails::with_error_info(
                        "DEPENDENCY_UNAVAILABLE",
                        ERROR_DOMAIN,
                        [("dependency".to_string(), dependency.to_string())],
                    ),
                )
            }
            ApiError::Aborted(ref reason) => {
                tracing::info!(%reason, "request aborted by a concurrent change");
                Status::with_error_details(
                    Code::Aborted,
                    format!("{reason}; retry the request"),
                    ErrorDetails::with_error_info("CONCURRENT_CHANGE", ERROR_DOMAIN, []),
                )
            }
            ApiError::Internal(source) => {
                tracing::error!(error = %source, source = ?source, "internal error");
                Status::internal("internal error; it has been logged")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field_in_details() {
        let mut violations = Violations::new();
        violations.check_length("organization.display_name", "", 1, 512);
        violations.check_length("organization.description", &"x".repeat(4097), 0, 4096);
        let status = Status::from(violations.finish().unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("organization.display_name", "must not be empty"),
                (
                    "organization.description",
                    "must be at most 4096 characters, got 4097"
                ),
            ]
        );
    }

    #[test]
    fn an_aborted_request_says_to_retry() {
        let status = Status::from(ApiError::Aborted("a deadlock was broken".into()));
        assert_eq!(status.code(), Code::Aborted);
        assert!(status.message().contains("retry"), "{status:?}");
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "CONCURRENT_CHANGE");
    }

    #[test]
    fn internal_errors_do_not_leak_their_source() {
        let status = Status::from(ApiError::internal("password=hunter2 in connection string"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
