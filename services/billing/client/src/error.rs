//! What can go wrong calling the platform. A refused or failed call keeps
//! everything the service said: the gRPC code, its message, and the rich
//! details our services attach (`BadRequest` field violations,
//! `PreconditionFailure` violations such as `INVALID_REPORT_TRANSITION`), so
//! a program can react to the exact reason and a person sees it whole.

use std::fmt;

pub use estate_errors::FieldViolation;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// An error of the billing client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not a URI, or nothing answered there.
    #[error("cannot connect to {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("the endpoint {0:?} must start with http:// or https://")]
    InvalidEndpoint(String),
    /// The API key cannot travel in a header (visible ASCII only).
    #[error("the API key is not a valid header value (visible ASCII characters only)")]
    InvalidApiKey,
    /// An argument given to the client is malformed: a resource name, a
    /// month, a status; nothing was sent.
    #[error("invalid {what}: {message}")]
    InvalidInput {
        /// What was malformed, e.g. `month`.
        what: &'static str,
        message: String,
    },
    /// The service refused or failed a call.
    #[error(transparent)]
    Rpc(Box<RpcError>),
    /// The service handed back the page token it was given, which would
    /// page forever.
    #[error("{method} returned the same page token twice")]
    PageTokenRepeated { method: &'static str },
}

impl Error {
    /// The gRPC code when the service refused or failed the call.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Rpc(rpc) => Some(rpc.code),
            _ => None,
        }
    }

    /// Keeps a failed call's status with the method that failed.
    pub(crate) fn rpc(method: &'static str, status: Status) -> Self {
        Self::Rpc(Box::new(RpcError::new(method, status)))
    }
}

/// A refused or failed call, as the service reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The RPC, e.g. `ListUsageReports`.
    pub method: &'static str,
    pub code: Code,
    pub message: String,
    /// Each invalid request field (`INVALID_ARGUMENT`).
    pub field_violations: Vec<FieldViolation>,
    /// Each failed precondition (`FAILED_PRECONDITION`).
    pub precondition_violations: Vec<PreconditionViolation>,
}

/// One failed precondition, e.g. type `INVALID_REPORT_TRANSITION` about a
/// report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// Machine-readable, e.g. `COMMENT_REQUIRED`.
    pub kind: String,
    /// The resource it is about.
    pub subject: String,
    pub description: String,
}

impl RpcError {
    fn new(method: &'static str, status: Status) -> Self {
        let details = status.get_error_details();
        let field_violations = details
            .bad_request()
            .map(|bad_request| {
                bad_request
                    .field_violations
                    .iter()
                    .map(|violation| FieldViolation::new(&violation.field, &violation.description))
                    .collect()
            })
            .unwrap_or_default();
        let precondition_violations = details
            .precondition_failure()
            .map(|failure| {
                failure
                    .violations
                    .iter()
                    .map(|violation| PreconditionViolation {
                        kind: violation.r#type.clone(),
                        subject: violation.subject.clone(),
                        description: violation.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            method,
            code: status.code(),
            message: status.message().to_string(),
            field_violations,
            precondition_violations,
        }
    }
}

impl fmt::Display for RpcError {
    /// `ListUsageReports: PERMISSION_DENIED: <message>`, then every
    /// violation the message does not already spell out.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}: {}: {}",
            self.method,
            code_name(self.code),
            self.message
        )?;
        for violation in &self.field_violations {
            let described = format!("{}: {}", violation.field, violation.description);
            if !self.message.contains(&described) {
                write!(formatter, "; {described}")?;
            }
        }
        for violation in &self.precondition_violations {
            write!(formatter, " [{} on {}]", violation.kind, violation.subject)?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// The canonical name of a gRPC code, as grpcurl and the gRPC docs spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::ErrorDetails;

    use super::*;

    #[test]
    fn a_refusal_keeps_its_code_message_and_field_violations() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("month", "must be YYYY-MM");
        details.add_bad_request_violation("page_size", "must not be negative");
        let status =
            Status::with_error_details(Code::InvalidArgument, "month: must be YYYY-MM", details);
        let error = Error::rpc("ListUsageReports", status);
        assert_eq!(error.code(), Some(Code::InvalidArgument));
        let Error::Rpc(rpc) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(
            rpc.field_violations,
            [
                FieldViolation::new("month", "must be YYYY-MM"),
                FieldViolation::new("page_size", "must not be negative"),
            ]
        );
        assert_eq!(
            error.to_string(),
            "ListUsageReports: INVALID_ARGUMENT: month: must be YYYY-MM; \
             page_size: must not be negative"
        );
    }

    #[test]
    fn a_failed_precondition_names_its_violation() {
        let status = Status::with_error_details(
            Code::FailedPrecondition,
            "the report is approved",
            ErrorDetails::with_precondition_failure_violation(
                "INVALID_REPORT_TRANSITION",
                "distributors/d/partners/p/usageReports/r",
                "the report is approved",
            ),
        );
        let error = Error::rpc("ApproveUsageReport", status);
        assert_eq!(
            error.to_string(),
            "ApproveUsageReport: FAILED_PRECONDITION: the report is approved \
             [INVALID_REPORT_TRANSITION on distributors/d/partners/p/usageReports/r]"
        );
    }
}
