//! What a license draft references within its customer (application,
//! family, legal owner, agreement, base licenses), checked over the facts
//! the handler loaded for each reference: the field and reason of every
//! reference that is missing or may not be used.

use std::collections::HashMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::licenses::{Draft, Quantity, agreement_offered, engine_metric};

/// The application a draft names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplicationFacts<'a> {
    pub display_name: &'a str,
    /// The metric its use is counted in.
    pub default_metric: &'a str,
}

/// The agreement a draft names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementFacts<'a> {
    pub kind: &'a str,
    pub archived: bool,
    pub period: Option<(NaiveDate, NaiveDate)>,
    pub offer_outside_period: bool,
}

/// A base license a draft upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseFacts {
    pub archived: bool,
    pub quantity: Option<Quantity>,
    /// How much of it upgrades other than the draft's license take.
    pub taken_by_others: i64,
}

/// What was found for each reference of a draft; `None` (or no entry)
/// where the draft names something its customer does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found<'a> {
    pub application: Option<ApplicationFacts<'a>>,
    pub family: bool,
    /// Whether the legal owner node is a legal node.
    pub legal_owner: Option<bool>,
    pub agreement: Option<AgreementFacts<'a>>,
    pub bases: HashMap<Uuid, BaseFacts>,
}

/// The outcome of checking a draft's references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Field and reason of every reference refused, in field order.
    pub violations: Vec<(String, String)>,
    /// A base it upgrades is archived (the license is then incomplete).
    pub bases_unavailable: bool,
}

/// Checks what `draft` (of license `license_id`) references against
/// `found`.
pub fn check_references(draft: &Draft, license_id: Uuid, found: &Found<'_>) -> Checked {
    let mut checked = Checked::default();
    let mut refuse = |field: String, reason: String| checked.violations.push((field, reason));
    if draft.application_id.is_some() {
        match found.application {
            None => refuse(
                "license.application".into(),
                "names no application of this customer".into(),
            ),
            // A license in a metric that can never cover its application's
            // requirement is refused, not saved to cover nothing (the
            // engine's rule 1 says which metrics cover which).
            Some(application) => {
                let license = draft.metric.and_then(engine_metric);
                let counted = engine_metric(application.default_metric);
                if let (Some(license), Some(counted)) = (license, counted)
                    && !license.covers(counted)
                    && !license.converts(counted)
                {
                    refuse(
                        "license.metric".into(),
                        format!(
                            "a {} license can never cover {}, counted in {}: use its metric, \
                             one counting the same thing, a site license, or a processors or \
                             cores license for a computer-counted application",
                            draft.metric.unwrap_or_default(),
                            estate_errors::quote(application.display_name),
                            application.default_metric
                        ),
                    );
                }
            }
        }
    }
    if draft.family_id.is_some() && !found.family {
        refuse(
            "license.family".into(),
            "names no family of this customer".into(),
        );
    }
    if draft.legal_owner_id.is_some() {
        match found.legal_owner {
            None => refuse(
                "license.legal_owner".into(),
                "names no node of this customer".into(),
            ),
            Some(false) => refuse(
                "license.legal_owner".into(),
                "is not a legal node; licenses are registered on legal nodes".into(),
            ),
            Some(true) => {}
        }
    }
    if draft.agreement_id.is_some() {
        match found.agreement {
            None => refuse(
                "license.agreement".into(),
                "names no agreement of this customer".into(),
            ),
            Some(agreement) if agreement.kind != "software" => refuse(
                "license.agreement".into(),
                format!(
                    "is a {} agreement; only software agreements hold licenses",
                    agreement.kind
                ),
            ),
            Some(agreement) if agreement.archived => {
                refuse("license.agreement".into(), "is archived".into());
            }
            Some(agreement) => {
                if let Err(reason) = agreement_offered(
                    agreement.period,
                    agreement.offer_outside_period,
                    draft.purchase_date,
                ) {
                    refuse("license.agreement".into(), reason);
                }
            }
        }
    }
    let mut bases_unavailable = false;
    for (index, (base_id, quantity)) in draft.upgrade_of.iter().enumerate() {
        let field = format!("license.upgrade_of[{index}]");
        if *base_id == license_id {
            refuse(
                format!("{field}.base"),
                "a license cannot upgrade itself".into(),
            );
            continue;
        }
        let Some(base) = found.bases.get(base_id) else {
            refuse(
                format!("{field}.base"),
                "names no license of this customer".into(),
            );
            continue;
        };
        bases_unavailable |= base.archived;
        if let Some(Quantity::Count(base_quantity)) = base.quantity
            && base.taken_by_others + quantity > base_quantity
        {
            refuse(
                format!("{field}.quantity"),
                format!(
                    "the base has {base_quantity}, of which other upgrades take {}; at most {} \
                     is left",
                    base.taken_by_others,
                    (base_quantity - base.taken_by_others).max(0)
                ),
            );
        }
    }
    checked.bases_unavailable = bases_unavailable;
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft::default()
    }

    fn fields(checked: &Checked) -> Vec<&str> {
        checked
            .violations
            .iter()
            .map(|(field, _)| field.as_str())
            .collect()
    }

    const APP: ApplicationFacts<'static> = ApplicationFacts {
        display_name: "Office",
        default_metric: "installations",
    };

    #[test]
    fn nothing_referenced_nothing_refused() {
        assert_eq!(
            check_references(&draft(), Uuid::nil(), &Found::default()),
            Checked::default()
        );
    }

    #[test]
    fn each_missing_reference_names_its_field() {
        let draft = Draft {
            application_id: Some(Uuid::from_u128(1)),
            family_id: Some(Uuid::from_u128(2)),
            legal_owner_id: Some(Uuid::from_u128(3)),
            agreement_id: Some(Uuid::from_u128(4)),
            upgrade_of: vec![(Uuid::from_u128(5), 1)],
            ..draft()
        };
        let checked = check_references(&draft, Uuid::from_u128(9), &Found::default());
        assert_eq!(
            fields(&checked),
            [
                "license.application",
                "license.family",
                "license.legal_owner",
                "license.agreement",
                "license.upgrade_of[0].base"
            ]
        );
    }

    #[test]
    fn a_metric_that_can_never_cover_the_application_is_refused() {
        // (license metric, the application's, refused)
        let table = [
            ("installations", "installations", false),
            ("site", "installations", false),
            ("processors", "installations", false),
            ("users", "installations", true),
            ("users", "users", false),
            ("installations", "users", true),
        ];
        for (license, counted, refused) in table {
            let draft = Draft {
                application_id: Some(Uuid::from_u128(1)),
                metric: Some(license),
                ..draft()
            };
            let found = Found {
                application: Some(ApplicationFacts {
                    default_metric: counted,
                    ..APP
                }),
                ..Found::default()
            };
            let checked = check_references(&draft, Uuid::nil(), &found);
            assert_eq!(
                fields(&checked) == ["license.metric"],
                refused,
                "{license} for {counted}: {checked:?}"
            );
        }
    }

    #[test]
    fn the_legal_owner_must_be_a_legal_node() {
        let draft = Draft {
            legal_owner_id: Some(Uuid::from_u128(3)),
            ..draft()
        };
        for (legal, refused) in [(true, false), (false, true)] {
            let found = Found {
                legal_owner: Some(legal),
                ..Found::default()
            };
            let checked = check_references(&draft, Uuid::nil(), &found);
            assert_eq!(!checked.violations.is_empty(), refused, "legal {legal}");
        }
    }

    #[test]
    fn only_a_live_software_agreement_offered_on_the_purchase_date_holds_licenses() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("a date");
        let software = AgreementFacts {
            kind: "software",
            archived: false,
            period: Some((day("2026-01-01"), day("2026-12-31"))),
            offer_outside_period: false,
        };
        // (agreement, purchase date, refused)
        let table = [
            (software, Some(day("2026-06-01")), false),
            (software, None, false),
            (software, Some(day("2027-01-01")), true),
            (
                AgreementFacts {
                    offer_outside_period: true,
                    ..software
                },
                Some(day("2027-01-01")),
                false,
            ),
            (
                AgreementFacts {
                    kind: "hardware",
                    ..software
                },
                None,
                true,
            ),
            (
                AgreementFacts {
                    archived: true,
                    ..software
                },
                None,
                true,
            ),
        ];
        for (agreement, purchase_date, refused) in table {
            let draft = Draft {
                agreement_id: Some(Uuid::from_u128(4)),
                purchase_date,
                ..draft()
            };
            let found = Found {
                agreement: Some(agreement),
                ..Found::default()
            };
            let checked = check_references(&draft, Uuid::nil(), &found);
            assert_eq!(
                !checked.violations.is_empty(),
                refused,
                "{agreement:?} bought {purchase_date:?}: {checked:?}"
            );
        }
    }

    #[test]
    fn an_upgrade_takes_at_most_what_its_base_has_left() {
        let base = Uuid::from_u128(5);
        let me = Uuid::from_u128(9);
        // (base quantity, taken by others, taken by the draft, refused)
        let table = [
            (Some(Quantity::Count(10)), 4, 6, false),
            (Some(Quantity::Count(10)), 4, 7, true),
            (Some(Quantity::Count(10)), 12, 1, true),
            (Some(Quantity::Unlimited), 100, 100, false),
            (None, 0, 5, false),
        ];
        for (quantity, taken_by_others, taken, refused) in table {
            let draft = Draft {
                upgrade_of: vec![(base, taken)],
                ..draft()
            };
            let found = Found {
                bases: HashMap::from([(
                    base,
                    BaseFacts {
                        archived: false,
                        quantity,
                        taken_by_others,
                    },
                )]),
                ..Found::default()
            };
            let checked = check_references(&draft, me, &found);
            assert_eq!(
                fields(&checked) == ["license.upgrade_of[0].quantity"],
                refused,
                "{quantity:?} less {taken_by_others}, taking {taken}: {checked:?}"
            );
        }
        // A license cannot upgrade itself, and an archived base leaves it
        // incomplete.
        let itself = Draft {
            upgrade_of: vec![(me, 1)],
            ..draft()
        };
        assert_eq!(
            fields(&check_references(&itself, me, &Found::default())),
            ["license.upgrade_of[0].base"]
        );
        let archived = Found {
            bases: HashMap::from([(
                base,
                BaseFacts {
                    archived: true,
                    quantity: None,
                    taken_by_others: 0,
                },
            )]),
            ..Found::default()
        };
        let upgrade = Draft {
            upgrade_of: vec![(base, 1)],
            ..draft()
        };
        let checked = check_references(&upgrade, me, &archived);
        assert!(checked.violations.is_empty() && checked.bases_unavailable);
    }
}
