//! A product license's status on a day, computed in SQL (the list
//! filters and the dashboard count by it): the one query fragment both
//! product licenses and customer accounts read licenses through. The rule
//! is `rules::figures::license_status`; `rules_in_sql` checks this copy
//! (and the dashboard's) against it.

/// The select list over `product_licenses l`, with `$1` the day (date)
/// the period end and status are derived for.
pub const SELECT: &str = include_str!("../../sql/product_licenses_with_status.sql");
