//! Conversions between the licensing contract and the stored license:
//! a request's license parsed into a draft (with every field's
//! violations), and stored licenses and assignments back into messages.

use std::collections::BTreeSet;

use estate_errors::{ApiError, FieldViolation, Violations};
use estate_proto::fields::revision_etag;
use estate_proto::licensing::{
    Allocation as ProtoAllocation, Assignment as ProtoAssignment, AssignmentType,
    License as ProtoLicense, Metric, Period, Price, Quantity as ProtoQuantity, Unlimited,
    UpgradeBase, quantity,
};
use estate_proto::names::{AssignmentName, CustomerId};
use estate_proto::time::to_timestamp;
use uuid::Uuid;

use super::super::{
    date_string, name, optional_date, optional_name, optional_reference, reference,
};
use crate::db::assignments::Assignment;
use crate::db::licenses::License;
use crate::rules::licenses::{Draft, Quantity};

pub(super) const METRICS: &[(Metric, &str)] = &[
    (Metric::Installations, "installations"),
    (Metric::Processors, "processors"),
    (Metric::Cores, "cores"),
    (Metric::Users, "users"),
    (Metric::Devices, "devices"),
    (Metric::ConcurrentUsers, "concurrent_users"),
    (Metric::Site, "site"),
];

pub(super) const ASSIGNMENT_TYPES: &[(AssignmentType, &str)] = &[
    (AssignmentType::Organization, "organization"),
    (AssignmentType::Site, "site"),
    (AssignmentType::Computer, "computer"),
    (AssignmentType::User, "user"),
];

pub(crate) fn metric_column(metric: i32) -> Option<&'static str> {
    let metric = Metric::try_from(metric).ok()?;
    METRICS
        .iter()
        .find(|(known, _)| *known == metric)
        .map(|(_, column)| *column)
}

pub(crate) fn metric_proto(column: &str) -> Metric {
    METRICS
        .iter()
        .find(|(_, known)| *known == column)
        .map_or(Metric::Unspecified, |(metric, _)| *metric)
}

pub(super) fn assignment_type_column(value: i32) -> Option<&'static str> {
    let value = AssignmentType::try_from(value).ok()?;
    ASSIGNMENT_TYPES
        .iter()
        .find(|(known, _)| *known == value)
        .map(|(_, column)| *column)
}

pub(super) fn assignment_type_proto(column: &str) -> AssignmentType {
    ASSIGNMENT_TYPES
        .iter()
        .find(|(_, known)| *known == column)
        .map_or(AssignmentType::Unspecified, |(value, _)| *value)
}

pub(super) fn period_proto(
    period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
) -> Option<Period> {
    period.map(|(start, end)| Period {
        start_date: date_string(Some(start)),
        end_date: date_string(Some(end)),
    })
}

pub(super) fn to_proto(license: License) -> ProtoLicense {
    let customer_id = license.customer_id;
    let effective_subscription = period_proto(license.effective_subscription());
    let draft = license.draft;
    let unassigned = match (draft.assignment_type, draft.quantity) {
        (Some("computer" | "user"), Some(Quantity::Count(count))) => count - license.assigned,
        _ => 0,
    };
    ProtoLicense {
        name: name(customer_id, "licenses", license.id),
        application: optional_name(customer_id, "applications", draft.application_id),
        family: optional_name(customer_id, "families", draft.family_id),
        metric: draft
            .metric
            .map_or(Metric::Unspecified, metric_proto)
            .into(),
        assignment_type: draft
            .assignment_type
            .map_or(AssignmentType::Unspecified, assignment_type_proto)
            .into(),
        quantity: draft.quantity.map(|quantity| ProtoQuantity {
            kind: Some(match quantity {
                Quantity::Count(count) => quantity::Kind::Count(count),
                Quantity::Unlimited => quantity::Kind::Unlimited(Unlimited {}),
            }),
        }),
        legal_owner: optional_name(customer_id, "nodes", draft.legal_owner_id),
        purchase_date: date_string(draft.purchase_date),
        price: draft.price.map(|(currency_code, amount_minor)| Price {
            currency_code,
            amount_minor,
        }),
        vendor: draft.vendor,
        invoice_reference: draft.invoice_reference,
        custom_fields: draft.custom_fields.into_iter().collect(),
        automatic_allocation: draft.automatic_allocation,
        downgrade_rights: draft.downgrade_rights,
        minimum_per_computer: draft.minimum_per_computer,
        upgrade_of: draft
            .upgrade_of
            .into_iter()
            .map(|(base, quantity)| UpgradeBase {
                base: name(customer_id, "licenses", base),
                quantity,
            })
            .collect(),
        subscription: period_proto(draft.subscription),
        agreement: optional_name(customer_id, "agreements", draft.agreement_id),
        effective_subscription,
        incomplete: license.incomplete,
        missing_fields: license.missing_fields,
        archived: license.archived,
        archive_time: license.archive_time.map(to_timestamp),
        allocations: license
            .allocations
            .into_iter()
            .map(|(node, quantity)| ProtoAllocation {
                node: name(customer_id, "nodes", node),
                quantity,
            })
            .collect(),
        assigned: license.assigned,
        unassigned,
        create_time: Some(to_timestamp(license.create_time)),
        update_time: Some(to_timestamp(license.update_time)),
        etag: revision_etag(license.revision),
    }
}

/// Parses a license message: the draft, and what is malformed in it (as
/// field paths under `license.`).
pub(super) fn parse(
    license: &ProtoLicense,
    customer_id: CustomerId,
) -> (Draft, Vec<FieldViolation>) {
    let mut violations = Violations::new();
    let mut draft = Draft::default();
    let keep = |result: Result<Option<Uuid>, ApiError>, violations: &mut Violations| {
        super::super::collect(violations, result).flatten()
    };
    draft.application_id = keep(
        optional_reference(
            "license.application",
            &license.application,
            customer_id,
            "applications",
        ),
        &mut violations,
    );
    draft.family_id = keep(
        optional_reference("license.family", &license.family, customer_id, "families"),
        &mut violations,
    );
    if !license.application.is_empty() && !license.family.is_empty() {
        violations.add(
            "license.family",
            "a license is of an application or of a family, not both",
        );
    }
    draft.metric = metric_column(license.metric);
    if draft.metric.is_none() && license.metric != 0 {
        violations.add("license.metric", "is not a Metric");
    }
    draft.assignment_type = assignment_type_column(license.assignment_type);
    if draft.assignment_type.is_none() && license.assignment_type != 0 {
        violations.add("license.assignment_type", "is not an AssignmentType");
    }
    draft.quantity = match license
        .quantity
        .as_ref()
        .and_then(|quantity| quantity.kind.as_ref())
    {
        Some(quantity::Kind::Count(count)) if *count >= 1 => Some(Quantity::Count(*count)),
        Some(quantity::Kind::Count(count)) => {
            violations.add(
                "license.quantity.count",
                format!("must be at least 1, got {count}; use `unlimited` for no limit"),
            );
            None
        }
        Some(quantity::Kind::Unlimited(_)) => Some(Quantity::Unlimited),
        None => None,
    };
    draft.legal_owner_id = keep(
        optional_reference(
            "license.legal_owner",
            &license.legal_owner,
            customer_id,
            "nodes",
        ),
        &mut violations,
    );
    draft.purchase_date = optional_date(
        &mut violations,
        "license.purchase_date",
        &license.purchase_date,
    );
    if let Some(price) = &license.price {
        let code_ok = price.currency_code.len() == 3
            && price
                .currency_code
                .bytes()
                .all(|byte| byte.is_ascii_uppercase());
        if !code_ok {
            violations.add(
                "license.price.currency_code",
                "must be an ISO 4217 code of three upper-case letters, e.g. EUR",
            );
        }
        if price.amount_minor < 0 {
            violations.add("license.price.amount_minor", "must not be negative");
        }
        draft.price = Some((price.currency_code.clone(), price.amount_minor));
    }
    violations.check_length("license.vendor", &license.vendor, 0, 200);
    violations.check_length(
        "license.invoice_reference",
        &license.invoice_reference,
        0,
        200,
    );
    draft.vendor = license.vendor.clone();
    draft.invoice_reference = license.invoice_reference.clone();
    if license.custom_fields.len() > 50 {
        violations.add("license.custom_fields", "must have at most 50 entries");
    }
    for (key, value) in &license.custom_fields {
        let path = format!("license.custom_fields[{}]", estate_errors::quote(key));
        violations.check_length(&path, key, 1, 64);
        violations.check_length(&path, value, 0, 1024);
    }
    draft.custom_fields = license
        .custom_fields
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    draft.automatic_allocation = license.automatic_allocation;
    draft.downgrade_rights = license.downgrade_rights;
    if !(0..=1024).contains(&license.minimum_per_computer) {
        violations.add(
            "license.minimum_per_computer",
            format!(
                "must be between 0 and 1024, got {}",
                license.minimum_per_computer
            ),
        );
    }
    draft.minimum_per_computer = license.minimum_per_computer;
    let mut bases = BTreeSet::new();
    for (index, upgrade) in license.upgrade_of.iter().enumerate() {
        let field = format!("license.upgrade_of[{index}]");
        let base = keep(
            reference(
                &format!("{field}.base"),
                &upgrade.base,
                customer_id,
                "licenses",
            )
            .map(Some),
            &mut violations,
        );
        if upgrade.quantity < 1 {
            violations.add(format!("{field}.quantity"), "must be at least 1");
        }
        if let Some(base) = base {
            if !bases.insert(base) {
                violations.add(format!("{field}.base"), "appears more than once");
            }
            draft.upgrade_of.push((base, upgrade.quantity));
        }
    }
    if let Some(period) = &license.subscription {
        let start = optional_date(
            &mut violations,
            "license.subscription.start_date",
            &period.start_date,
        );
        let end = optional_date(
            &mut violations,
            "license.subscription.end_date",
            &period.end_date,
        );
        match (start, end) {
            (Some(start), Some(end)) if start <= end => draft.subscription = Some((start, end)),
            (Some(_), Some(_)) => violations.add(
                "license.subscription.end_date",
                "must not be before start_date",
            ),
            _ => violations.add("license.subscription", "needs both start_date and end_date"),
        }
    }
    draft.agreement_id = keep(
        optional_reference(
            "license.agreement",
            &license.agreement,
            customer_id,
            "agreements",
        ),
        &mut violations,
    );
    let violations = match violations.finish() {
        Ok(()) => Vec::new(),
        Err(ApiError::InvalidArgument(found)) => found,
        Err(_) => Vec::new(),
    };
    (draft, violations)
}

pub(super) fn assignment_to_proto(assignment: Assignment) -> ProtoAssignment {
    let customer_id = assignment.customer_id;
    ProtoAssignment {
        name: AssignmentName {
            customer: customer_id,
            license: assignment.license_id,
            assignment: assignment.id,
        }
        .to_string(),
        computer: optional_name(customer_id, "computers", assignment.computer_id),
        user: optional_name(customer_id, "users", assignment.user_id),
        quantity: assignment.quantity,
        create_time: Some(to_timestamp(assignment.create_time)),
        alerts: Vec::new(),
    }
}
