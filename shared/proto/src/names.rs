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

/// Declares id types: one per kind of thing a name points at, each a
/// UUID that cannot be passed where another kind's id is expected. Made
/// from a UUID only by `from_uuid`, at the edges (a page token, an
/// idempotency record); names parse into them and, with the `postgres`
/// feature, they are stored and read as `uuid`.
///
/// A partner's id where a distributor's is wanted does not compile:
///
/// ```compile_fail
/// use estate_proto::names::{PartnerId, PartnerName};
/// let partner = PartnerId::default();
/// let _ = PartnerName { distributor: partner, partner };
/// ```
macro_rules! ids {
    ($(
        $(#[$doc:meta])*
        $id:ident
    )+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $id(Uuid);

        impl $id {
            /// The id `id` is.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID it is.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $id {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$id> for Uuid {
            fn from(id: $id) -> Uuid {
                id.0
            }
        }

        #[cfg(feature = "postgres")]
        impl postgres_types::ToSql for $id {
            fn to_sql(
                &self,
                ty: &postgres_types::Type,
                out: &mut postgres_types::private::BytesMut,
            ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &postgres_types::Type) -> bool {
                <Uuid as postgres_types::ToSql>::accepts(ty)
            }

            postgres_types::to_sql_checked!();
        }

        #[cfg(feature = "postgres")]
        impl<'a> postgres_types::FromSql<'a> for $id {
            fn from_sql(
                ty: &postgres_types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                Uuid::from_sql(ty, raw).map(Self)
            }

            fn accepts(ty: &postgres_types::Type) -> bool {
                <Uuid as postgres_types::FromSql>::accepts(ty)
            }
        }
    )+};
}

ids! {
    /// An organization in the customers service: a distributor, a partner
    /// or a customer.
    OrganizationId
    /// A member (a user) of an organization.
    UserId
    /// An API key.
    ApiKeyId
    /// A customer's beacon.
    BeaconId
    /// A customer's synchronization run.
    SyncRunId
    /// A customer, in the licensing and billing services (the same UUID
    /// as its organization in the customers service).
    CustomerId
    /// A license in a customer's estate (licensing).
    LicenseId
    /// A license's assignment (licensing).
    AssignmentId
    /// A distributor (billing; its organization's UUID).
    DistributorId
    /// A partner of a distributor (billing; its organization's UUID).
    PartnerId
    /// A product license sold to a customer (billing).
    ProductLicenseId
    /// A distributor's service plan (billing).
    ServicePlanId
    /// A partner's monthly usage report (billing).
    UsageReportId
    /// A distributor's billing report (billing).
    BillingReportId
}

impl OrganizationId {
    /// The customer, in licensing and billing, this organization is.
    pub const fn as_customer(self) -> CustomerId {
        CustomerId(self.0)
    }
}

impl CustomerId {
    /// The organization, in the customers service, this customer is.
    pub const fn as_organization(self) -> OrganizationId {
        OrganizationId(self.0)
    }
}

/// Declares typed resource names: one struct per name pattern, its ids
/// as named, typed fields, parsed strictly ([`parse`]) with an error
/// naming the request field, and printed by `Display`. Every service
/// parses and prints its names through these, never by position or by
/// hand.
macro_rules! resource_names {
    ($(
        $(#[$doc:meta])*
        $name:ident { $($field:ident: $id:ident = $collection:literal),+ $(,)? }
    )+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            $(pub $field: $id,)+
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
                    $($field: $id(ids.next().unwrap_or_default()),)+
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let parts = [$(($collection, self.$field.0)),+];
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
    OrganizationName { organization: OrganizationId = "organizations" }
    /// `organizations/{organization}/members/{user}`.
    MemberName { organization: OrganizationId = "organizations", user: UserId = "members" }
    /// `organizations/{customer}/accessGrants/{partner}`.
    AccessGrantName {
        customer: OrganizationId = "organizations",
        partner: OrganizationId = "accessGrants",
    }
    /// `organizations/{organization}/apiKeys/{key}`.
    ApiKeyName { organization: OrganizationId = "organizations", key: ApiKeyId = "apiKeys" }
    /// `organizations/{customer}/beacons/{beacon}`.
    BeaconName { customer: OrganizationId = "organizations", beacon: BeaconId = "beacons" }
    /// `organizations/{customer}/syncRuns/{run}`.
    SyncRunName { customer: OrganizationId = "organizations", run: SyncRunId = "syncRuns" }
    /// `customers/{customer}`: a customer's estate in the licensing
    /// service.
    CustomerName { customer: CustomerId = "customers" }
    /// `customers/{customer}/licenses/{license}/assignments/{assignment}`.
    AssignmentName {
        customer: CustomerId = "customers",
        license: LicenseId = "licenses",
        assignment: AssignmentId = "assignments",
    }
    /// `distributors/{distributor}`.
    DistributorName { distributor: DistributorId = "distributors" }
    /// `distributors/{distributor}/partners/{partner}`.
    PartnerName { distributor: DistributorId = "distributors", partner: PartnerId = "partners" }
    /// `distributors/{distributor}/partners/{partner}/customers/{customer}`.
    CustomerAccountName {
        distributor: DistributorId = "distributors",
        partner: PartnerId = "partners",
        customer: CustomerId = "customers",
    }
    /// `distributors/{distributor}/partners/{partner}/customers/{customer}/productLicenses/{license}`.
    ProductLicenseName {
        distributor: DistributorId = "distributors",
        partner: PartnerId = "partners",
        customer: CustomerId = "customers",
        license: ProductLicenseId = "productLicenses",
    }
    /// `distributors/{distributor}/servicePlans/{plan}`.
    ServicePlanName { distributor: DistributorId = "distributors", plan: ServicePlanId = "servicePlans" }
    /// `distributors/{distributor}/partners/{partner}/usageReports/{report}`.
    UsageReportName {
        distributor: DistributorId = "distributors",
        partner: PartnerId = "partners",
        report: UsageReportId = "usageReports",
    }
    /// `distributors/{distributor}/billingReports/{report}`.
    BillingReportName {
        distributor: DistributorId = "distributors",
        report: BillingReportId = "billingReports",
    }
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
            distributor: DistributorId::from_uuid(Uuid::now_v7()),
            partner: PartnerId::from_uuid(Uuid::now_v7()),
            report: UsageReportId::from_uuid(Uuid::now_v7()),
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
                distributor: DistributorId::from_uuid(Uuid::nil()),
                partner: PartnerId::from_uuid(Uuid::nil()),
            })
        );
    }
}
