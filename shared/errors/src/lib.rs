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
    /// A violation; a field path or description longer than the bounds
    /// below is cut (a last line of defence: callers quote client values
    /// with [`quote`], so nothing a client sent is repeated at length).
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: truncate(field.into(), MAX_FIELD_PATH_BYTES),
            description: truncate(description.into(), MAX_DESCRIPTION_BYTES),
        }
    }
}

/// At most this many field violations reach a client; the rest are
/// counted in one last violation. An error's size must not grow with the
/// size of the request that caused it.
pub const MAX_VIOLATIONS: usize = 100;

/// Longest field path a violation carries, in bytes.
pub const MAX_FIELD_PATH_BYTES: usize = 256;

/// Longest violation description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 512;

/// Longest status message, in bytes: well inside HTTP/2 header limits
/// (16 KiB by default), with the details beside it.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// Client values longer than this many characters are quoted in part.
const QUOTED_CHARACTERS: usize = 64;

/// A client-supplied value as an error may show it: quoted whole when it
/// is short, otherwise its start and its length, so an error never
/// repeats unbounded input (`"aaaa…" (16,500 characters)`).
pub fn quote(value: &str) -> String {
    let length = value.chars().count();
    if length <= QUOTED_CHARACTERS {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(QUOTED_CHARACTERS / 2).collect();
    format!(
        "{:?} ({} characters)",
        format!("{start}…"),
        thousands(length)
    )
}

/// `16500` as `16,500`, for lengths in messages people read.
pub fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A copy of `text` cut as [`truncate`] cuts.
fn bounded(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        text.to_owned()
    } else {
        truncate(text.to_owned(), max_bytes)
    }
}

/// `text` cut to at most `max_bytes` on a character boundary, marked with
/// `…` when cut.
fn truncate(mut text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
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
    /// A cap on concurrent work or a quota is reached: the same request
    /// may succeed later.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn describe(violations: &[FieldViolation]) -> String {
    let text = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    truncate(text, MAX_MESSAGE_BYTES)
}

/// Most bytes of field paths and descriptions one error's details carry:
/// encoded, they stay well within what every response's status headers
/// may hold (`estate_server::limits`), so the details always arrive.
pub const MAX_DETAILS_BYTES: usize = 3072;

/// The violations an error carries: at most [`MAX_VIOLATIONS`] and
/// [`MAX_DETAILS_BYTES`] of them, the last one counting those left out
/// (with `left_out` more that were never kept).
fn capped(violations: Vec<FieldViolation>, left_out: usize) -> Vec<FieldViolation> {
    let size = |violation: &FieldViolation| violation.field.len() + violation.description.len();
    let total_bytes: usize = violations.iter().map(size).sum();
    if left_out == 0 && violations.len() <= MAX_VIOLATIONS && total_bytes <= MAX_DETAILS_BYTES {
        return violations;
    }
    let total = violations.len();
    let mut kept = Vec::with_capacity(total.min(MAX_VIOLATIONS));
    let mut bytes = 0;
    for violation in violations {
        // Room is kept for the last one, which counts the rest.
        if kept.len() + 1 >= MAX_VIOLATIONS || bytes + size(&violation) > MAX_DETAILS_BYTES - 64 {
            break;
        }
        bytes += size(&violation);
        kept.push(violation);
    }
    let more = total - kept.len() + left_out;
    kept.push(FieldViolation::new(
        "",
        format!("and {} more violations", thousands(more)),
    ));
    kept
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
pub struct Violations(Vec<FieldViolation>, usize);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation. Past [`MAX_VIOLATIONS`] only the count grows,
    /// so a request with a million bad elements costs no more memory than
    /// one with a hundred.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.0.len() < MAX_VIOLATIONS {
            self.0.push(FieldViolation::new(field, description));
        } else {
            self.1 += 1;
        }
    }

    /// Whether nothing was violated so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        let Self(violations, left_out) = self;
        if violations.is_empty() {
            return Ok(());
        }
        Err(ApiError::InvalidArgument(capped(violations, left_out)))
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let violations = capped(violations, 0);
                let mut details = ErrorDetails::new();
                for violation in &violations {
                    details.add_bad_request_violation(&violation.field, &violation.description);
                }
                Status::with_error_details(Code::InvalidArgument, describe(&violations), details)
            }
            ApiError::NotFound {
                resource_type,
                ref name,
            } => {
                let name = bounded(name, MAX_FIELD_PATH_BYTES);
                Status::with_error_details(
                    Code::NotFound,
                    format!("{resource_type} {name} not found"),
                    ErrorDetails::with_resource_info(resource_type, name, "", "not found"),
                )
            }
            ApiError::AlreadyExists {
                resource_type,
                ref name,
                ref description,
            } => {
                let name = bounded(name, MAX_FIELD_PATH_BYTES);
                let description = bounded(description, MAX_DESCRIPTION_BYTES);
                Status::with_error_details(
                    Code::AlreadyExists,
                    format!("{resource_type} {name} already exists: {description}"),
                    ErrorDetails::with_resource_info(resource_type, name, "", description),
                )
            }
            ApiError::FailedPrecondition {
                violation,
                ref subject,
                ref description,
            } => {
                let description = bounded(description, MAX_MESSAGE_BYTES);
                Status::with_error_details(
                    Code::FailedPrecondition,
                    description.clone(),
                    ErrorDetails::with_precondition_failure_violation(
                        violation,
                        bounded(subject, MAX_FIELD_PATH_BYTES),
                        description,
                    ),
                )
            }
            ApiError::PermissionDenied(message) => {
                Status::permission_denied(bounded(&message, MAX_MESSAGE_BYTES))
            }
            ApiError::Unauthenticated(message) => {
                Status::unauthenticated(bounded(&message, MAX_MESSAGE_BYTES))
            }
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
                    format!("{}; retry the request", bounded(reason, MAX_MESSAGE_BYTES)),
                    ErrorDetails::with_error_info("CONCURRENT_CHANGE", ERROR_DOMAIN, []),
                )
            }
            ApiError::ResourceExhausted(message) => {
                tracing::info!(%message, "request refused: a limit is reached");
                Status::with_error_details(
                    Code::ResourceExhausted,
                    bounded(&message, MAX_MESSAGE_BYTES),
                    ErrorDetails::with_error_info("LIMIT_REACHED", ERROR_DOMAIN, []),
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
    fn an_error_never_grows_with_the_request() {
        let mut violations = Violations::new();
        let long = "n".repeat(16_500);
        for index in 0..10_000 {
            violations.add(
                format!("items[{index}].{long}"),
                format!("got {}", quote(&long)),
            );
        }
        let status = Status::from(violations.finish().unwrap_err());
        let details = status.get_error_details();
        let listed = &details.bad_request().unwrap().field_violations;
        let bytes: usize = listed
            .iter()
            .map(|v| v.field.len() + v.description.len())
            .sum();
        assert!(bytes <= MAX_DETAILS_BYTES, "{bytes}");
        assert_eq!(
            listed.last().unwrap().description,
            format!(
                "and {} more violations",
                thousands(10_000 - (listed.len() - 1))
            )
        );
        assert!(listed.iter().all(|v| v.field.len() <= MAX_FIELD_PATH_BYTES));
        assert!(
            listed[0].description.ends_with("(16,500 characters)"),
            "{:?}",
            listed[0].description
        );
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let not_found = Status::from(ApiError::NotFound {
            resource_type: "thing",
            name: long.clone(),
        });
        assert!(not_found.message().len() < 2 * MAX_FIELD_PATH_BYTES);
        let denied = Status::from(ApiError::PermissionDenied(long));
        assert!(denied.message().len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn the_encoded_details_of_the_largest_error_fit_the_status_header_bound() {
        let mut violations = Violations::new();
        for index in 0..10_000 {
            violations.add(
                format!("items[{index}].{}", "f".repeat(300)),
                "é".repeat(300),
            );
        }
        let status = Status::from(violations.finish().unwrap_err());
        // What `estate_server::limits` lets through: 8 KiB of base64.
        assert!(
            status.details().len() * 4 / 3 + 4 <= 8192,
            "{}",
            status.details().len()
        );
    }

    #[test]
    fn short_violations_are_counted_to_a_hundred() {
        let mut violations = Violations::new();
        for index in 0..150 {
            violations.add(format!("items[{index}]"), "is bad");
        }
        let ApiError::InvalidArgument(listed) = violations.finish().unwrap_err() else {
            unreachable!()
        };
        assert_eq!(listed.len(), MAX_VIOLATIONS);
        assert_eq!(listed[99].description, "and 51 more violations");
        // Mapping to a status keeps them as they are.
        let status = Status::from(ApiError::InvalidArgument(listed));
        let details = status.get_error_details();
        assert_eq!(details.bad_request().unwrap().field_violations.len(), 100);
    }

    #[test]
    fn a_quoted_value_keeps_short_values_whole_and_long_ones_counted() {
        assert_eq!(quote("abc"), "\"abc\"");
        let quoted = quote(&"é".repeat(1000));
        assert!(quoted.starts_with("\"éé"), "{quoted}");
        assert!(quoted.ends_with("…\" (1,000 characters)"), "{quoted}");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
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
