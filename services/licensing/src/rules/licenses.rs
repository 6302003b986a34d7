//! Whether a license may be saved, and whether it is complete: the license
//! policy (required fields, allowed values) always blocks saving; missing
//! data outside the policy blocks saving unless the customer allows
//! incomplete licenses, in which case the license is saved as incomplete
//! and left out of compliance until completed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::policy::Policy;

/// How many consumers a license covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Count(i64),
    Unlimited,
}

/// A license's writable data, as validated from a request (absent fields
/// are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub application_id: Option<Uuid>,
    pub family_id: Option<Uuid>,
    pub metric: Option<&'static str>,
    pub assignment_type: Option<&'static str>,
    pub quantity: Option<Quantity>,
    pub legal_owner_id: Option<Uuid>,
    pub purchase_date: Option<NaiveDate>,
    /// ISO 4217 code and amount in minor units.
    pub price: Option<(String, i64)>,
    pub vendor: String,
    pub invoice_reference: String,
    pub custom_fields: BTreeMap<String, String>,
    pub automatic_allocation: bool,
    pub downgrade_rights: bool,
    /// Processors and cores licenses: the least units a computer requires.
    pub minimum_per_computer: i32,
    /// Base license id and the quantity taken from it.
    pub upgrade_of: Vec<(Uuid, i64)>,
    pub subscription: Option<(NaiveDate, NaiveDate)>,
    pub agreement_id: Option<Uuid>,
}

/// The compliance engine's metric for a stored metric name.
pub fn engine_metric(name: &str) -> Option<estate_compliance::Metric> {
    use estate_compliance::Metric;
    Some(match name {
        "installations" => Metric::Installations,
        "processors" => Metric::Processors,
        "cores" => Metric::Cores,
        "users" => Metric::Users,
        "devices" => Metric::Devices,
        "concurrent_users" => Metric::ConcurrentUsers,
        "site" => Metric::Site,
        _ => return None,
    })
}

/// The stored metric names.
pub const METRICS: &[&str] = &[
    "installations",
    "processors",
    "cores",
    "users",
    "devices",
    "concurrent_users",
    "site",
];

/// The stored assignment type names.
pub const ASSIGNMENT_TYPES: &[&str] = &["organization", "site", "computer", "user"];

pub fn known_metric(value: &str) -> Option<&'static str> {
    METRICS.iter().copied().find(|known| *known == value)
}

pub fn known_assignment_type(value: &str) -> Option<&'static str> {
    ASSIGNMENT_TYPES
        .iter()
        .copied()
        .find(|known| *known == value)
}

/// The fields a policy can govern besides `custom_fields.{key}`, in the
/// order a form shows them.
pub const POLICY_FIELDS: &[&str] = &[
    "vendor",
    "invoice_reference",
    "purchase_date",
    "price",
    "agreement",
];

/// Policy fields that take text, and so may have allowed values.
pub fn is_text_field(field: &str) -> bool {
    matches!(field, "vendor" | "invoice_reference") || field.starts_with("custom_fields.")
}

/// The text value of a policy field, `None` when it is not a text field.
fn text_value<'a>(draft: &'a Draft, field: &str) -> Option<&'a str> {
    match field {
        "vendor" => Some(&draft.vendor),
        "invoice_reference" => Some(&draft.invoice_reference),
        _ => field
            .strip_prefix("custom_fields.")
            .map(|key| draft.custom_fields.get(key).map_or("", String::as_str)),
    }
}

fn is_present(draft: &Draft, field: &str) -> bool {
    match field {
        "purchase_date" => draft.purchase_date.is_some(),
        "price" => draft.price.is_some(),
        "agreement" => draft.agreement_id.is_some(),
        _ => text_value(draft, field).is_some_and(|value| !value.is_empty()),
    }
}

/// Every way `draft` breaks the policy, as (field path, reason).
pub fn policy_violations(draft: &Draft, policy: &Policy) -> Vec<(String, String)> {
    let mut violations = Vec::new();
    for rule in &policy.fields {
        let path = format!("license.{}", rule.field);
        if !is_present(draft, &rule.field) {
            if rule.required {
                violations.push((path, "is required by the license policy".to_string()));
            }
            continue;
        }
        let Some(value) = text_value(draft, &rule.field) else {
            continue;
        };
        if !rule.allowed_values.is_empty()
            && !rule.custom_values_allowed
            && !rule.allowed_values.iter().any(|allowed| allowed == value)
        {
            violations.push((
                path,
                format!(
                    "must be one of {} (license policy), got {}",
                    listed(&rule.allowed_values),
                    estate_errors::quote(value)
                ),
            ));
        }
    }
    violations
}

/// The data compliance needs that `draft` lacks, as field paths.
/// `bases_unavailable` says an upgrade's base is archived or deleted.
pub fn missing_fields(draft: &Draft, bases_unavailable: bool) -> Vec<String> {
    let mut missing = Vec::new();
    if draft.application_id.is_none() && draft.family_id.is_none() {
        missing.push("application");
    }
    if draft.metric.is_none() {
        missing.push("metric");
    }
    if draft.assignment_type.is_none() {
        missing.push("assignment_type");
    }
    if draft.quantity.is_none() {
        missing.push("quantity");
    }
    if draft.legal_owner_id.is_none() {
        missing.push("legal_owner");
    }
    if draft.purchase_date.is_none() {
        missing.push("purchase_date");
    }
    if bases_unavailable {
        missing.push("upgrade_of");
    }
    missing.into_iter().map(String::from).collect()
}

/// What saving `draft` means: `Ok(missing fields)` (empty when complete),
/// or the violations that refuse it.
pub fn check(
    draft: &Draft,
    policy: &Policy,
    allow_incomplete: bool,
    bases_unavailable: bool,
) -> Result<Vec<String>, Vec<(String, String)>> {
    let mut violations = policy_violations(draft, policy);
    if draft.minimum_per_computer > 0 && !matches!(draft.metric, Some("processors" | "cores")) {
        violations.push((
            "license.minimum_per_computer".into(),
            "applies only to PROCESSORS and CORES licenses".into(),
        ));
    }
    let missing = missing_fields(draft, bases_unavailable);
    if !allow_incomplete {
        for field in &missing {
            // A base archived after saving is the only cause of
            // `upgrade_of` here, which saving cannot fix; report it but
            // do not refuse for it.
            if field != "upgrade_of" {
                violations.push((
                    format!("license.{field}"),
                    "is required (this customer does not allow incomplete licenses)".into(),
                ));
            }
        }
    }
    if violations.is_empty() {
        Ok(missing)
    } else {
        Err(violations)
    }
}

/// Allowed values as an error lists them: the first few, and how many
/// there are in all when there are more.
fn listed(values: &[String]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|value| estate_errors::quote(value))
        .collect();
    if values.len() > SHOWN {
        format!("[{}, …] ({} in all)", shown.join(", "), values.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// Whether an agreement with `period` (start, end; `None` when open) is
/// offered for a license purchased on `purchase_date`: a software agreement
/// is offered within its period, or at any date when it allows
/// `offer_outside_period`. Without a purchase date there is nothing to
/// check. The reason when not.
pub fn agreement_offered(
    period: Option<(NaiveDate, NaiveDate)>,
    offer_outside_period: bool,
    purchase_date: Option<NaiveDate>,
) -> Result<(), String> {
    match (period, purchase_date) {
        (Some((start, end)), Some(date))
            if !offer_outside_period && !(start..=end).contains(&date) =>
        {
            Err(format!(
                "is not offered for a license purchased {date}: its period is {start} to {end} \
                 and it does not allow connections outside it (offer_outside_period)"
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::policy::PolicyField;

    fn complete() -> Draft {
        Draft {
            application_id: Some(Uuid::now_v7()),
            metric: Some("installations"),
            assignment_type: Some("organization"),
            quantity: Some(Quantity::Count(10)),
            legal_owner_id: Some(Uuid::now_v7()),
            purchase_date: NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Draft::default()
        }
    }

    fn policy(rule: PolicyField) -> Policy {
        Policy {
            fields: vec![rule],
            revision: 1,
        }
    }

    #[test]
    fn a_required_policy_field_blocks_saving_even_as_incomplete() {
        let required_vendor = policy(PolicyField {
            field: "vendor".into(),
            required: true,
            ..PolicyField::default()
        });
        let refused = check(&complete(), &required_vendor, true, false).unwrap_err();
        assert_eq!(refused[0].0, "license.vendor");
        let with_vendor = Draft {
            vendor: "Contoso".into(),
            ..complete()
        };
        assert_eq!(
            check(&with_vendor, &required_vendor, true, false),
            Ok(vec![])
        );
    }

    #[test]
    fn missing_data_saves_as_incomplete_only_when_allowed() {
        let draft = Draft {
            quantity: None,
            ..complete()
        };
        assert_eq!(
            check(&draft, &Policy::default(), true, false),
            Ok(vec!["quantity".to_string()])
        );
        let refused = check(&draft, &Policy::default(), false, false).unwrap_err();
        assert_eq!(refused[0].0, "license.quantity");
    }

    #[test]
    fn allowed_values_refuse_others_unless_custom_values_are_allowed() {
        let mut rule = PolicyField {
            field: "custom_fields.cost_center".into(),
            allowed_values: vec!["IT".into(), "HR".into()],
            ..PolicyField::default()
        };
        let mut draft = complete();
        draft
            .custom_fields
            .insert("cost_center".into(), "Sales".into());
        assert_eq!(policy_violations(&draft, &policy(rule.clone())).len(), 1);
        rule.custom_values_allowed = true;
        assert!(policy_violations(&draft, &policy(rule)).is_empty());
    }

    #[test]
    fn an_upgrade_without_its_base_is_incomplete() {
        assert_eq!(missing_fields(&complete(), true), vec!["upgrade_of"]);
    }

    #[test]
    fn an_agreement_is_offered_within_its_period_or_when_it_allows_more() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        let period = Some((date("2026-01-01"), date("2026-12-31")));
        let table = [
            (period, false, Some("2026-01-01"), true),
            (period, false, Some("2026-12-31"), true),
            (period, false, Some("2025-12-31"), false),
            (period, false, Some("2027-01-01"), false),
            (period, true, Some("2027-01-01"), true),
            (period, false, None, true),
            (None, false, Some("2027-01-01"), true),
        ];
        for (period, outside, purchase, offered) in table {
            let answer = agreement_offered(period, outside, purchase.map(date));
            assert_eq!(answer.is_ok(), offered, "{period:?} {outside} {purchase:?}");
        }
    }
}
