//! The statuses and types billing stores as text, each paired with its
//! contract value: one table per kind, read in both directions at the
//! storage edge. A test checks every table against the contract's values
//! and the database's CHECK constraints (`services/billing/schema.sql`),
//! so the three cannot drift apart.

use estate_proto::billing::{
    BillingReportStatus, PartnerStatus, PartnerType, ProductLicenseStatus, UsageReportStatus,
};

/// A partner's standing with its distributor.
pub const PARTNER_STATUSES: &[(PartnerStatus, &str)] = &[
    (PartnerStatus::Active, "active"),
    (PartnerStatus::Suspended, "suspended"),
    (PartnerStatus::Canceled, "canceled"),
];

/// What kind of partner sells: a managed-service provider or a reseller.
pub const PARTNER_TYPES: &[(PartnerType, &str)] = &[
    (PartnerType::Msp, "msp"),
    (PartnerType::Reseller, "reseller"),
];

/// A product license's status on a day (computed, not stored: the names
/// are what queries filter and count by).
pub const LICENSE_STATUSES: &[(ProductLicenseStatus, &str)] = &[
    (ProductLicenseStatus::Active, "active"),
    (ProductLicenseStatus::Trial, "trial"),
    (ProductLicenseStatus::ExpiringSoon, "expiring_soon"),
    (ProductLicenseStatus::Expired, "expired"),
    (
        ProductLicenseStatus::ExceededAllocation,
        "exceeded_allocation",
    ),
];

/// A usage report's place in its workflow.
pub const USAGE_STATUSES: &[(UsageReportStatus, &str)] = &[
    (UsageReportStatus::Preparing, "preparing"),
    (UsageReportStatus::UnderReview, "under_review"),
    (UsageReportStatus::Approved, "approved"),
    (UsageReportStatus::Rejected, "rejected"),
];

/// A billing report's place in its workflow.
pub const BILLING_STATUSES: &[(BillingReportStatus, &str)] = &[
    (BillingReportStatus::Preparing, "preparing"),
    (
        BillingReportStatus::UnderReviewManual,
        "under_review_manual",
    ),
    (
        BillingReportStatus::UnderReviewAutomatic,
        "under_review_automatic",
    ),
    (
        BillingReportStatus::UnderReviewAutomaticWithPenalties,
        "under_review_automatic_with_penalties",
    ),
    (BillingReportStatus::Returned, "returned"),
    (BillingReportStatus::Rejected, "rejected"),
    (BillingReportStatus::Submitted, "submitted"),
    (BillingReportStatus::Completed, "completed"),
];

/// The stored name of contract value `value` (an enum number) in `table`;
/// `None` for unspecified or unknown values.
pub fn column_of<E: Copy + Into<i32>>(
    table: &[(E, &'static str)],
    value: i32,
) -> Option<&'static str> {
    table
        .iter()
        .find(|(known, _)| (*known).into() == value)
        .map(|(_, column)| *column)
}

/// The contract value of stored name `column` in `table`; the enum's
/// default (unspecified) for a name it does not know.
pub fn value_of<E: Copy + Default>(table: &[(E, &str)], column: &str) -> E {
    table
        .iter()
        .find(|(_, known)| *known == column)
        .map_or_else(E::default, |(value, _)| *value)
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

    /// Every value the contract's enum declares but unspecified (0).
    fn declared<E: TryFrom<i32>>() -> Vec<E> {
        (1..256)
            .filter_map(|number| E::try_from(number).ok())
            .collect()
    }

    fn check<E>(table: &[(E, &'static str)], constraint: Option<&str>)
    where
        E: Copy + Default + PartialEq + std::fmt::Debug + Into<i32> + TryFrom<i32>,
    {
        let contract = declared::<E>();
        // Every known contract value has exactly one stored name, and back.
        assert_eq!(table.len(), contract.len(), "{table:?}");
        for &value in &contract {
            let column = column_of(table, value.into()).expect("a stored name");
            assert_eq!(value_of(table, column), value);
        }
        assert_eq!(
            column_of(table, E::default().into()),
            None,
            "unspecified is no status"
        );
        assert_eq!(value_of(table, "no_such_status"), E::default());
        // And the database accepts exactly these names.
        if let Some(constraint) = constraint {
            let mut stored: Vec<String> = table.iter().map(|(_, c)| c.to_string()).collect();
            let mut allowed = allowed(constraint);
            stored.sort();
            allowed.sort();
            assert_eq!(stored, allowed, "{constraint}");
        }
    }

    #[test]
    fn every_status_maps_one_to_one_to_the_contract_and_the_database() {
        check(PARTNER_STATUSES, Some("partners_status_check"));
        check(PARTNER_TYPES, Some("partners_type_check"));
        check(LICENSE_STATUSES, None);
        check(USAGE_STATUSES, Some("usage_reports_status_check"));
        check(BILLING_STATUSES, Some("billing_reports_status_check"));
    }
}
