//! Resource names (AIP-122): `collection/{id}/collection/{id}`, with UUID
//! ids. Parsing is strict so a malformed name is a clear INVALID_ARGUMENT,
//! never a lookup of something else.

use uuid::Uuid;

/// Parses `name` against `collections` (e.g. `["customers", "licenses"]`)
/// and returns the ids in order, or `None` when it does not match.
pub fn parse(name: &str, collections: &[&str]) -> Option<Vec<Uuid>> {
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() != collections.len() * 2 {
        return None;
    }
    segments
        .chunks(2)
        .zip(collections)
        .map(|(pair, collection)| {
            if pair[0] != *collection {
                return None;
            }
            Uuid::parse_str(pair[1])
                .ok()
                .filter(|id| pair[1] == id.to_string())
        })
        .collect()
}

/// Formats a resource name from `(collection, id)` pairs.
pub fn format(parts: &[(&str, Uuid)]) -> String {
    parts
        .iter()
        .map(|(collection, id)| format!("{collection}/{id}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The pattern a client should follow, for error messages.
pub fn pattern(collections: &[&str]) -> String {
    collections
        .iter()
        .map(|c| format!("{c}/{{uuid}}"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_exact_names() {
        let customer = Uuid::now_v7();
        let license = Uuid::now_v7();
        let name = format(&[("customers", customer), ("licenses", license)]);
        assert_eq!(
            parse(&name, &["customers", "licenses"]),
            Some(vec![customer, license])
        );
        assert_eq!(parse(&name, &["customers"]), None);
        assert_eq!(parse(&format!("{name}/"), &["customers", "licenses"]), None);
        assert_eq!(parse("organizations/not-a-uuid", &["organizations"]), None);
        let upper = format!("organizations/{}", customer.to_string().to_uppercase());
        assert_eq!(parse(&upper, &["organizations"]), None);
    }
}
