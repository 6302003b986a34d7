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

/// The pattern a client should follow, for error messages.
pub fn pattern(collections: &[&str]) -> String {
    collections
        .iter()
        .map(|c| format!("{c}/{{uuid}}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// Declares typed resource names: one struct per name pattern, its ids
/// as named fields, parsed strictly ([`parse`]) with an error naming the
/// request field, and printed by `Display`. Every service parses and
/// prints its names through these, never by position or by hand.
macro_rules! resource_names {
    ($(
        $(#[$doc:meta])*
        $name:ident { $($field:ident: $collection:literal),+ $(,)? }
    )+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            $(pub $field: Uuid,)+
        }

        impl $name {
            /// The collections of its pattern, outermost first.
            pub const COLLECTIONS: &'static [&'static str] = &[$($collection),+];

            /// Parses `value`, the request's `field`: INVALID_ARGUMENT
            /// naming the field and the expected pattern unless it is
            /// exactly such a name.
            pub fn parse(field: &str, value: &str) -> Result<Self, estate_errors::ApiError> {
                let ids = crate::fields::resource_name(field, value, Self::COLLECTIONS)?;
                let mut ids = ids.into_iter();
                Ok(Self {
                    $($field: ids.next().unwrap_or_default(),)+
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let parts = [$(($collection, self.$field)),+];
                for (index, (collection, id)) in parts.iter().enumerate() {
                    if index > 0 {
                        f.write_str("/")?;
                    }
                    write!(f, "{collection}/{id}")?;
                }
                Ok(())
            }
        }
    )+};
}

resource_names! {
    /// `organizations/{organization}`: an organization in the customers
    /// service (distributor, partner or customer).
    OrganizationName { organization: "organizations" }
    /// `organizations/{organization}/members/{user}`.
    MemberName { organization: "organizations", user: "members" }
    /// `organizations/{customer}/accessGrants/{partner}`.
    AccessGrantName { customer: "organizations", partner: "accessGrants" }
    /// `organizations/{organization}/apiKeys/{key}`.
    ApiKeyName { organization: "organizations", key: "apiKeys" }
    /// `organizations/{customer}/beacons/{beacon}`.
    BeaconName { customer: "organizations", beacon: "beacons" }
    /// `organizations/{customer}/syncRuns/{run}`.
    SyncRunName { customer: "organizations", run: "syncRuns" }
    /// `customers/{customer}`: a customer's estate in the licensing
    /// service.
    CustomerName { customer: "customers" }
    /// `customers/{customer}/licenses/{license}/assignments/{assignment}`.
    AssignmentName { customer: "customers", license: "licenses", assignment: "assignments" }
    /// `distributors/{distributor}`.
    DistributorName { distributor: "distributors" }
    /// `distributors/{distributor}/partners/{partner}`.
    PartnerName { distributor: "distributors", partner: "partners" }
    /// `distributors/{distributor}/partners/{partner}/customers/{customer}`.
    CustomerAccountName { distributor: "distributors", partner: "partners", customer: "customers" }
    /// `distributors/{distributor}/partners/{partner}/customers/{customer}/productLicenses/{license}`.
    ProductLicenseName {
        distributor: "distributors",
        partner: "partners",
        customer: "customers",
        license: "productLicenses",
    }
    /// `distributors/{distributor}/servicePlans/{plan}`.
    ServicePlanName { distributor: "distributors", plan: "servicePlans" }
    /// `distributors/{distributor}/partners/{partner}/usageReports/{report}`.
    UsageReportName { distributor: "distributors", partner: "partners", report: "usageReports" }
    /// `distributors/{distributor}/billingReports/{report}`.
    BillingReportName { distributor: "distributors", report: "billingReports" }
}

impl CustomerAccountName {
    /// Its partner's name.
    pub fn partner(self) -> PartnerName {
        PartnerName {
            distributor: self.distributor,
            partner: self.partner,
        }
    }
}

impl ProductLicenseName {
    /// Its customer account's name.
    pub fn customer(self) -> CustomerAccountName {
        CustomerAccountName {
            distributor: self.distributor,
            partner: self.partner,
            customer: self.customer,
        }
    }
}

impl UsageReportName {
    /// Its partner's name.
    pub fn partner(self) -> PartnerName {
        PartnerName {
            distributor: self.distributor,
            partner: self.partner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_exact_names() {
        let customer = Uuid::now_v7();
        let license = Uuid::now_v7();
        let name = format!("customers/{customer}/licenses/{license}");
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

    #[test]
    fn a_typed_name_prints_what_it_parses() {
        let name = UsageReportName {
            distributor: Uuid::now_v7(),
            partner: Uuid::now_v7(),
            report: Uuid::now_v7(),
        };
        let printed = name.to_string();
        assert_eq!(
            printed,
            format!(
                "distributors/{}/partners/{}/usageReports/{}",
                name.distributor, name.partner, name.report
            )
        );
        assert_eq!(UsageReportName::parse("name", &printed).ok(), Some(name));
        assert_eq!(
            name.partner().to_string(),
            format!(
                "distributors/{}/partners/{}",
                name.distributor, name.partner
            )
        );
    }

    #[test]
    fn a_malformed_name_names_the_field_and_the_pattern() {
        let partner = format!("distributors/{}/partners/{}", Uuid::nil(), Uuid::nil());
        let error = UsageReportName::parse("usage_report.name", &partner).unwrap_err();
        let text = format!("{error:?}");
        assert!(text.contains("usage_report.name"), "{text}");
        assert!(
            text.contains("distributors/{uuid}/partners/{uuid}/usageReports/{uuid}"),
            "{text}"
        );
        assert_eq!(
            PartnerName::parse("parent", &partner).ok(),
            Some(PartnerName {
                distributor: Uuid::nil(),
                partner: Uuid::nil()
            })
        );
    }
}
