//! Keyset pagination: a page token is the opaque (base64url) id of the last
//! row returned, so the next page is `WHERE id > $token ORDER BY id`, served
//! by the primary key index and stable under concurrent inserts. Ids are
//! UUIDv7, so id order is creation order. A token also carries a
//! fingerprint of the list it came from (its parent), and is refused on
//! any other: a token is never a way into another tenant's list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use estate_errors::{ApiError, Violations};
use uuid::Uuid;

const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 1000;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Return rows whose id is greater than this one.
    pub after: Option<Uuid>,
    /// How many rows to return.
    pub size: i64,
    /// The fingerprint of the list's scope, which tokens carry.
    pub scope: u64,
}

impl PageRequest {
    /// Validates `page_size` (0 means the default; negative is refused; above
    /// the maximum is capped, as AIP-158 asks) and `page_token`, which must
    /// come from the list of `scope` (the request's parent).
    pub fn parse(page_size: i32, page_token: &str, scope: &str) -> Result<Self, ApiError> {
        let mut violations = Violations::new();
        let size = page_size_of(page_size, &mut violations);
        let scope = crate::sorting::filter_fingerprint(scope);
        let after = match decode_page_token(page_token, scope) {
            Ok(after) => after,
            Err(description) => {
                violations.add("page_token", description);
                None
            }
        };
        violations.finish()?;
        Ok(Self { after, size, scope })
    }

    /// How many rows to fetch: one more than the page, to learn whether a
    /// next page exists without a count query.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Trims an over-fetched result to the page and returns the next token.
    pub fn finish<T>(&self, rows: &mut Vec<T>, id_of: impl Fn(&T) -> Uuid) -> String {
        self.finish_with(rows, |last| encode_page_token(self.scope, id_of(last)))
    }

    /// [`Self::finish`] for lists with tokens of their own: `token_of` makes
    /// the next page's token from the last row kept.
    pub fn finish_with<T>(&self, rows: &mut Vec<T>, token_of: impl Fn(&T) -> String) -> String {
        let page_size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if rows.len() <= page_size {
            return String::new();
        }
        rows.truncate(page_size);
        rows.last().map(token_of).unwrap_or_default()
    }
}

/// The page size `page_size` asks for: 0 means the default, above the
/// maximum is capped (AIP-158), negative is a violation.
pub(crate) fn page_size_of(page_size: i32, violations: &mut Violations) -> i64 {
    match i64::from(page_size) {
        0 => DEFAULT_PAGE_SIZE,
        size if size < 0 => {
            violations.add("page_size", "must not be negative");
            DEFAULT_PAGE_SIZE
        }
        size => size.min(MAX_PAGE_SIZE),
    }
}

/// The token that resumes after `id` in the list of `scope`: the scope's
/// fingerprint (8 bytes) and the id (16).
pub fn encode_page_token(scope: u64, id: Uuid) -> String {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(&scope.to_be_bytes());
    bytes.extend_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a token made by [`encode_page_token`] for `scope`; empty means
/// the first page.
pub fn decode_page_token(token: &str, scope: u64) -> Result<Option<Uuid>, &'static str> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = "is not a token returned by a previous call";
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid)?;
    let (issued_for, id) = bytes.split_at_checked(8).ok_or(invalid)?;
    if issued_for != scope.to_be_bytes() {
        return Err("was issued for another list (another parent)");
    }
    Uuid::from_slice(id).map(Some).map_err(|_| invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(
            decode_page_token(&encode_page_token(7, id), 7),
            Ok(Some(id))
        );
        assert!(decode_page_token("not-a-token!", 7).is_err());
        assert!(PageRequest::parse(10, "AAAA", "customers/a").is_err());
    }

    #[test]
    fn a_token_is_refused_on_another_parents_list() {
        let first = PageRequest::parse(1, "", "customers/a").unwrap();
        let mut rows = vec![Uuid::now_v7(), Uuid::now_v7()];
        let token = first.finish(&mut rows, |id| *id);
        let next = PageRequest::parse(1, &token, "customers/a").unwrap();
        assert_eq!(next.after, Some(rows[0]));
        let error = PageRequest::parse(1, &token, "customers/b").unwrap_err();
        assert!(format!("{error:?}").contains("another list"), "{error:?}");
    }

    #[test]
    fn page_size_defaults_caps_and_refuses_negatives() {
        assert_eq!(PageRequest::parse(0, "", "").unwrap().size, 50);
        assert_eq!(PageRequest::parse(5000, "", "").unwrap().size, 1000);
        assert!(PageRequest::parse(-1, "", "").is_err());
    }

    #[test]
    fn finish_trims_the_lookahead_row_and_points_at_the_last_kept_one() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = PageRequest {
            after: None,
            size: 2,
            scope: 3,
        };
        let mut rows = ids.clone();
        let token = page.finish(&mut rows, |id| *id);
        assert_eq!(rows, ids[..2]);
        assert_eq!(decode_page_token(&token, 3), Ok(Some(ids[1])));
        let mut short = ids[..2].to_vec();
        assert_eq!(page.finish(&mut short, |id| *id), "");
    }
}
