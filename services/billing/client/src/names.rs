//! Typed ids of the accounts a distributor's calls name. Billing keys a
//! distributor and its partners by their organizations' ids, so the same id
//! appears as `organizations/{id}` in the customers service and as
//! `distributors/{id}` or `distributors/{d}/partners/{id}` in billing; both
//! spellings (and a bare id) are accepted here and the right one is sent.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::Error;

/// A distributor, by its organization's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DistributorId(pub Uuid);

impl DistributorId {
    /// `distributors/{id}`: the parent of billing's distributor-wide calls.
    pub fn name(&self) -> String {
        format!("distributors/{}", self.0)
    }

    /// `organizations/{id}`: the organization in the customers service.
    pub fn organization(&self) -> String {
        format!("organizations/{}", self.0)
    }

    /// `distributors/{id}/partners/-`: every partner of the distributor.
    pub fn all_partners(&self) -> String {
        format!("distributors/{}/partners/-", self.0)
    }

    /// `distributors/{id}/dashboard`.
    pub fn dashboard(&self) -> String {
        format!("distributors/{}/dashboard", self.0)
    }
}

impl FromStr for DistributorId {
    type Err = Error;

    /// `distributors/{uuid}`, `organizations/{uuid}` or a bare UUID.
    fn from_str(text: &str) -> Result<Self, Error> {
        let id = text
            .strip_prefix("distributors/")
            .or_else(|| text.strip_prefix("organizations/"))
            .unwrap_or(text);
        parse_id(id).map(Self).ok_or_else(|| Error::InvalidInput {
            what: "distributor",
            message: format!(
                "expected distributors/{{uuid}} or organizations/{{uuid}}, got {text:?}"
            ),
        })
    }
}

impl fmt::Display for DistributorId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name())
    }
}

/// A partner of a distributor, by its organization's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartnerId(pub Uuid);

impl PartnerId {
    /// `distributors/{d}/partners/{id}`: the partner account in billing.
    pub fn name(&self, distributor: &DistributorId) -> String {
        format!("distributors/{}/partners/{}", distributor.0, self.0)
    }

    /// `organizations/{id}`: the partner organization.
    pub fn organization(&self) -> String {
        format!("organizations/{}", self.0)
    }

    /// Parses a partner account name, an organization name or a bare UUID.
    /// A partner account name of another distributor is refused.
    pub fn parse_for(text: &str, distributor: &DistributorId) -> Result<Self, Error> {
        let partner = Self::from_str(text)?;
        if text.starts_with("distributors/") && !text.starts_with(&distributor.name()) {
            return Err(Error::InvalidInput {
                what: "partner",
                message: format!("{text} is not a partner of {distributor}"),
            });
        }
        Ok(partner)
    }

    /// The partner of a billing resource name that starts with
    /// `distributors/{d}/partners/{p}` (a partner, a usage report, a
    /// chargeable drop's partner).
    pub fn of_resource(name: &str) -> Option<Self> {
        let mut segments = name.split('/');
        match (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) {
            (Some("distributors"), Some(_), Some("partners"), Some(id)) => parse_id(id).map(Self),
            _ => None,
        }
    }
}

impl FromStr for PartnerId {
    type Err = Error;

    /// `distributors/{d}/partners/{uuid}`, `organizations/{uuid}` or a bare
    /// UUID.
    fn from_str(text: &str) -> Result<Self, Error> {
        let parsed = if text.starts_with("distributors/") {
            Self::of_resource(text).filter(|_| text.split('/').count() == 4)
        } else {
            parse_id(text.strip_prefix("organizations/").unwrap_or(text)).map(Self)
        };
        parsed.ok_or_else(|| Error::InvalidInput {
            what: "partner",
            message: format!(
                "expected distributors/{{d}}/partners/{{uuid}}, organizations/{{uuid}} or a UUID, got {text:?}"
            ),
        })
    }
}

/// A UUID in its canonical lower-case hyphenated form only, as the
/// services write them (they refuse any other spelling).
fn parse_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text)
        .ok()
        .filter(|id| id.to_string() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0192f3c4-5b6a-7c8d-9e0f-112233445566";
    const OTHER: &str = "0192f3c4-5b6a-7c8d-9e0f-665544332211";

    #[test]
    fn a_distributor_is_named_as_a_distributor_an_organization_or_a_bare_id() {
        for text in [
            format!("distributors/{ID}"),
            format!("organizations/{ID}"),
            ID.to_string(),
        ] {
            let distributor: DistributorId = text.parse().unwrap();
            assert_eq!(distributor.name(), format!("distributors/{ID}"));
            assert_eq!(
                distributor.all_partners(),
                format!("distributors/{ID}/partners/-")
            );
        }
        for bad in [
            "",
            "distributors/",
            "customers/0192f3c4-5b6a-7c8d-9e0f-112233445566",
            "distributors/0192F3C4-5B6A-7C8D-9E0F-112233445566",
        ] {
            assert!(bad.parse::<DistributorId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_partner_of_another_distributor_is_refused() {
        let distributor: DistributorId = ID.parse().unwrap();
        let own = format!("distributors/{ID}/partners/{OTHER}");
        let partner = PartnerId::parse_for(&own, &distributor).unwrap();
        assert_eq!(partner.name(&distributor), own);
        assert_eq!(
            PartnerId::parse_for(&format!("organizations/{OTHER}"), &distributor).unwrap(),
            partner
        );
        let foreign = format!("distributors/{OTHER}/partners/{OTHER}");
        assert!(PartnerId::parse_for(&foreign, &distributor).is_err());
        assert!(PartnerId::parse_for(&format!("{own}/usageReports/{ID}"), &distributor).is_err());
    }

    #[test]
    fn the_partner_of_a_report_name_is_its_second_id() {
        let report = format!("distributors/{ID}/partners/{OTHER}/usageReports/{ID}");
        assert_eq!(
            PartnerId::of_resource(&report).unwrap().0.to_string(),
            OTHER
        );
        assert_eq!(
            PartnerId::of_resource(&format!("distributors/{ID}/billingReports/{ID}")),
            None
        );
    }
}
