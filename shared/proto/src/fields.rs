//! Validation of the request fields every API shares (AIP conventions), with
//! errors that name the field and say what was expected.

use estate_errors::ApiError;
use uuid::Uuid;

/// Parses the resource name in `field`, e.g. `parent` =
/// `customers/{uuid}`, into its ids.
pub fn resource_name(
    field: &str,
    value: &str,
    collections: &[&str],
) -> Result<Vec<Uuid>, ApiError> {
    crate::names::parse(value, collections).ok_or_else(|| {
        let expected = crate::names::pattern(collections);
        ApiError::invalid(
            field,
            format!(
                "must be a resource name like {expected}, got {}",
                estate_errors::quote(value)
            ),
        )
    })
}

/// The id of a single-segment resource name such as `organizations/{uuid}`.
pub fn resource_id(field: &str, value: &str, collection: &str) -> Result<Uuid, ApiError> {
    Ok(resource_name(field, value, &[collection])?[0])
}

/// An optional idempotency key (AIP-155): empty means none; bounded so it
/// indexes well.
pub fn request_id(value: &str) -> Result<Option<&str>, ApiError> {
    match value.chars().count() {
        0 => Ok(None),
        1..=128 => Ok(Some(value)),
        _ => Err(ApiError::invalid(
            "request_id",
            "must be at most 128 characters",
        )),
    }
}

/// A digest of a request, to tell a retry (same request, same request id)
/// from a different request reusing a request id (AIP-155). Pass the
/// request with its `request_id` cleared. Maps encode in key order, so
/// equal requests give equal digests.
pub fn fingerprint(request: &impl prost::Message) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(request.encode_to_vec()).to_vec()
}

/// An etag for a revision counter (AIP-154).
pub fn revision_etag(revision: i64) -> String {
    format!("W/\"r{revision}\"")
}

/// Refuses a stale etag (FAILED_PRECONDITION `ETAG_MISMATCH` about
/// `subject`); an empty one skips the check.
pub fn check_etag(sent: &str, revision: i64, subject: String) -> Result<(), ApiError> {
    if sent.is_empty() || sent == revision_etag(revision) {
        return Ok(());
    }
    Err(etag_mismatch(subject))
}

/// FAILED_PRECONDITION `ETAG_MISMATCH` about `subject`, for stores that
/// compare revisions themselves (see [`revision_from_etag`]).
pub fn etag_mismatch(subject: String) -> ApiError {
    ApiError::FailedPrecondition {
        violation: "ETAG_MISMATCH",
        subject,
        description: "the resource changed since it was read; read it again and retry".into(),
    }
}

/// The revision a [`revision_etag`] in `field` names; `None` for an empty
/// etag (no check), INVALID_ARGUMENT for anything else.
pub fn revision_from_etag(field: &str, etag: &str) -> Result<Option<i64>, ApiError> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.strip_prefix("W/\"r")
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|revision| revision.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid(field, "is not an etag returned by a previous call"))
}

/// The field mask's paths; an empty or missing mask is refused, since an
/// update that silently changes nothing (or everything) surprises.
pub fn mask_paths(
    mask: Option<prost_types::FieldMask>,
    allowed: &[&str],
) -> Result<Vec<String>, ApiError> {
    let paths = mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!("must list the fields to change: {}", allowed.join(", ")),
        ));
    }
    if let Some(unknown) = paths.iter().find(|path| !allowed.contains(&path.as_str())) {
        return Err(ApiError::invalid(
            "update_mask",
            format!(
                "{} cannot be updated; allowed: {}",
                estate_errors::quote(unknown),
                allowed.join(", ")
            ),
        ));
    }
    Ok(paths)
}

/// A `YYYY-MM-DD` date in `field`; empty means none.
pub fn optional_date(
    violations: &mut estate_errors::Violations,
    field: &str,
    value: &str,
) -> Option<chrono::NaiveDate> {
    if value.is_empty() {
        return None;
    }
    match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            violations.add(
                field,
                format!(
                    "must be a date like 2026-11-23, got {}",
                    estate_errors::quote(value)
                ),
            );
            None
        }
    }
}

pub fn date_string(date: Option<chrono::NaiveDate>) -> String {
    date.map(|date| date.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_etag_round_trips_and_garbage_is_refused() {
        assert_eq!(
            revision_from_etag("etag", &revision_etag(7)).unwrap(),
            Some(7)
        );
        assert_eq!(revision_from_etag("etag", "").unwrap(), None);
        assert!(revision_from_etag("etag", "W/\"7\"").is_err());
    }
}
