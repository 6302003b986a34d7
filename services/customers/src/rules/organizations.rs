//! The organizations an access decision walks: their kinds, and the chain
//! from one up to the top.

use estate_proto::names::OrganizationId;

use super::status::GrantMode;

/// What an organization is (the `kind` column's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Distributor,
    Partner,
    Customer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distributor => "distributor",
            Self::Partner => "partner",
            Self::Customer => "customer",
        }
    }

    /// The kind a `kind` column value names.
    pub fn parse(value: &str) -> Self {
        match value {
            "distributor" => Self::Distributor,
            "partner" => Self::Partner,
            _ => Self::Customer,
        }
    }
}

/// One link of the chain from an organization up to the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    pub id: OrganizationId,
    pub kind: Kind,
}

/// The partner's grant after a customer's relationship changes owner:
/// managed by the partner means continuous access; a customer taking
/// ownership keeps the partner's current access (disabled when it had
/// none) until it changes the grant itself.
pub fn grant_after_owner_change(managed: bool, current: Option<GrantMode>) -> GrantMode {
    match (managed, current) {
        (true, _) => GrantMode::Continuous,
        (false, Some(mode)) => mode,
        (false, None) => GrantMode::Disabled,
    }
}

/// The creates of one batch that repeat an earlier one's external id or
/// request id (each create's pair, in request order): the index, the
/// field (under the create) and why. An earlier create keeps its ids; a
/// repeat of one is refused, whatever the database would say.
pub fn repeats_in_batch(
    creates: &[(Option<&str>, Option<&str>)],
) -> Vec<(usize, &'static str, &'static str)> {
    let mut external_ids = std::collections::HashSet::new();
    let mut request_ids = std::collections::HashSet::new();
    let mut repeats = Vec::new();
    for (index, (external_id, request_id)) in creates.iter().enumerate() {
        if let Some(external_id) = external_id
            && !external_ids.insert(*external_id)
        {
            repeats.push((
                index,
                "organization.external_id",
                "repeats an external id of an earlier request in this batch",
            ));
        }
        if let Some(request_id) = request_id
            && !request_ids.insert(*request_id)
        {
            repeats.push((
                index,
                "request_id",
                "repeats a request id of an earlier request in this batch",
            ));
        }
    }
    repeats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_refuses_the_second_use_of_an_id_not_the_first() {
        let creates = [
            (Some("crm-1"), Some("r-1")),
            (Some("crm-2"), None),
            (Some("crm-1"), Some("r-2")),
            (None, Some("r-1")),
            (None, None),
            (Some("crm-1"), Some("r-1")),
        ];
        let repeats: Vec<(usize, &str)> = repeats_in_batch(&creates)
            .into_iter()
            .map(|(index, field, _)| (index, field))
            .collect();
        assert_eq!(
            repeats,
            [
                (2, "organization.external_id"),
                (3, "request_id"),
                (5, "organization.external_id"),
                (5, "request_id"),
            ]
        );
        assert!(repeats_in_batch(&[]).is_empty());
    }

    #[test]
    fn a_managed_relationship_grants_continuous_access_an_owned_one_keeps_its_grant() {
        let period = GrantMode::Period {
            start: chrono::DateTime::UNIX_EPOCH,
            end: chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(30),
        };
        assert_eq!(grant_after_owner_change(true, None), GrantMode::Continuous);
        assert_eq!(
            grant_after_owner_change(true, Some(GrantMode::Disabled)),
            GrantMode::Continuous
        );
        assert_eq!(grant_after_owner_change(false, None), GrantMode::Disabled);
        assert_eq!(
            grant_after_owner_change(false, Some(GrantMode::Continuous)),
            GrantMode::Continuous
        );
        assert_eq!(grant_after_owner_change(false, Some(period)), period);
    }
}
