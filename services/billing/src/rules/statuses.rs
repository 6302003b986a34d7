//! The statuses and types billing stores as text, as typed enums: each
//! knows (through [`Stored`]) its stored name and its contract value,
//! and is converted at the storage edge (`db::stored`) and at the
//! contract edge, never compared as a string in between. A test checks
//! every enum against the contract's values and the database's CHECK
//! constraints (`services/billing/schema.sql`), so the three cannot drift
//! apart.

use estate_proto::billing::{
    BillingReportStatus, LicenseType, PartnerStatus, PartnerType, ProductLicenseStatus,
    UsageReportStatus,
};

/// A status or type stored as text and sent as a contract enum.
pub trait Stored: Sized + Copy + Eq + std::fmt::Debug + 'static {
    /// Every value, in the contract's order.
    const ALL: &'static [Self];

    /// The stored name.
    fn column(self) -> &'static str;

    /// The value stored as `column`; `None` for a name it does not know.
    fn from_column(column: &str) -> Option<Self>;

    /// The contract's enum number.
    fn contract(self) -> i32;

    /// The contract's name of the value (as JSON shows it).
    fn contract_name(self) -> &'static str;

    /// The value of contract enum number `value`; `None` for unspecified
    /// and unknown numbers.
    fn from_contract(value: i32) -> Option<Self>;
}

/// Declares a stored enum whose variants are named as the contract's.
macro_rules! stored {
    (
        $(#[$doc:meta])*
        pub enum $name:ident as $contract:ident {
            $($(#[$variant_doc:meta])* $variant:ident = $column:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$variant_doc])* $variant,)+
        }

        impl Stored for $name {
            const ALL: &'static [Self] = &[$(Self::$variant,)+];

            fn column(self) -> &'static str {
                match self {
                    $(Self::$variant => $column,)+
                }
            }

            fn from_column(column: &str) -> Option<Self> {
                match column {
                    $($column => Some(Self::$variant),)+
                    _ => None,
                }
            }

            fn contract(self) -> i32 {
                match self {
                    $(Self::$variant => $contract::$variant.into(),)+
                }
            }

            fn contract_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $contract::$variant.as_str_name(),)+
                }
            }

            fn from_contract(value: i32) -> Option<Self> {
                match $contract::try_from(value).ok()? {
                    $($contract::$variant => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

stored! {
    /// A partner's standing with its distributor.
    pub enum PartnerState as PartnerStatus {
        Active = "active",
        Suspended = "suspended",
        Canceled = "canceled",
    }
}

stored! {
    /// What kind of partner sells: a managed-service provider or a reseller.
    pub enum PartnerKind as PartnerType {
        Msp = "msp",
        Reseller = "reseller",
    }
}

stored! {
    /// A service plan's, and so its licenses', kind: a trial's seats and
    /// usage are not charged.
    pub enum LicenseKind as LicenseType {
        Trial = "trial",
        Full = "full",
    }
}

stored! {
    /// A product license's status on a day (computed, not stored: the
    /// names are what queries filter and count by; the rule is
    /// `rules::figures::license_status`).
    pub enum LicenseStatus as ProductLicenseStatus {
        Active = "active",
        Trial = "trial",
        ExpiringSoon = "expiring_soon",
        Expired = "expired",
        ExceededAllocation = "exceeded_allocation",
    }
}

stored! {
    /// A usage report's place in its workflow (`rules::reports`).
    pub enum UsageStatus as UsageReportStatus {
        Preparing = "preparing",
        UnderReview = "under_review",
        Approved = "approved",
        Rejected = "rejected",
    }
}

stored! {
    /// A billing report's place in its workflow (`rules::reports`).
    pub enum BillingStatus as BillingReportStatus {
        Preparing = "preparing",
        UnderReviewManual = "under_review_manual",
        UnderReviewAutomatic = "under_review_automatic",
        UnderReviewAutomaticWithPenalties = "under_review_automatic_with_penalties",
        Returned = "returned",
        Rejected = "rejected",
        Submitted = "submitted",
        Completed = "completed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a CHECK constraint named `constraint` allows, from the
    /// committed schema.
    fn allowed(constraint: &str) -> Vec<String> {
        let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.sql"))
            .expect("services/billing/schema.sql");
        let line = schema
            .lines()
            .find(|line| line.contains(&format!("CONSTRAINT {constraint} ")))
            .unwrap_or_else(|| panic!("no constraint {constraint} in schema.sql"));
        line.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Every number the contract's enum `E` declares but unspecified (0).
    fn declared<E: TryFrom<i32>>() -> Vec<i32> {
        (1..256)
            .filter(|number| E::try_from(*number).is_ok())
            .collect()
    }

    fn check<T: Stored, E: TryFrom<i32>>(constraint: Option<&str>) {
        // Every known contract value has exactly one stored name, and back.
        let mut numbers: Vec<i32> = T::ALL.iter().map(|value| value.contract()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, declared::<E>(), "{:?}", T::ALL);
        for &value in T::ALL {
            assert_eq!(T::from_contract(value.contract()), Some(value));
            assert!(E::try_from(value.contract()).is_ok());
            assert_eq!(T::from_column(value.column()), Some(value));
        }
        assert_eq!(T::from_contract(0), None, "unspecified is no status");
        assert_eq!(T::from_contract(9999), None);
        assert_eq!(T::from_column("no_such_status"), None);
        // And the database accepts exactly these names.
        if let Some(constraint) = constraint {
            let mut stored: Vec<String> = T::ALL.iter().map(|v| v.column().to_string()).collect();
            let mut allowed = allowed(constraint);
            stored.sort();
            allowed.sort();
            assert_eq!(stored, allowed, "{constraint}");
        }
    }

    #[test]
    fn every_status_maps_one_to_one_to_the_contract_and_the_database() {
        check::<PartnerState, PartnerStatus>(Some("partners_status_check"));
        check::<PartnerKind, PartnerType>(Some("partners_type_check"));
        check::<LicenseKind, LicenseType>(Some("service_plans_license_type_check"));
        check::<LicenseKind, LicenseType>(Some("product_licenses_license_type_check"));
        check::<LicenseStatus, ProductLicenseStatus>(None);
        check::<UsageStatus, UsageReportStatus>(Some("usage_reports_status_check"));
        check::<BillingStatus, BillingReportStatus>(Some("billing_reports_status_check"));
    }
}
