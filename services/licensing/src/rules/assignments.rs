//! Whether a license may be assigned to a consumer: the refusals of
//! `AssignLicense`, in the order a caller meets them, decided over the
//! license as stored and the assignment asked for.

use super::licenses::Quantity;

/// What an assignment is made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    Computer,
    User,
}

impl Consumer {
    /// The assignment type (and request field) of this consumer.
    pub fn name(self) -> &'static str {
        match self {
            Self::Computer => "computer",
            Self::User => "user",
        }
    }
}

/// What assigning needs to know of the license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseFacts<'a> {
    pub assignment_type: Option<&'a str>,
    pub archived: bool,
    pub quantity: Option<Quantity>,
    /// The quantity its assignments take already.
    pub assigned: i64,
}

/// Why an assignment is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The license's state refuses it (FAILED_PRECONDITION).
    Precondition {
        violation: &'static str,
        description: String,
    },
    /// The request names the wrong kind of consumer (INVALID_ARGUMENT).
    Invalid { field: String, description: String },
}

/// Whether `license` may be assigned `quantity` more to a `consumer`:
/// only computer and user licenses are assigned, never once archived,
/// only to their kind of consumer, and never beyond a counted quantity.
pub fn may_assign(
    license: &LicenseFacts<'_>,
    consumer: Consumer,
    quantity: i64,
) -> Result<(), Refusal> {
    let expected = match license.assignment_type {
        Some("computer") => Consumer::Computer,
        Some("user") => Consumer::User,
        other => {
            return Err(Refusal::Precondition {
                violation: "NOT_ASSIGNABLE",
                description: format!(
                    "only computer/datacenter and user licenses are assigned; this one is {}",
                    other.unwrap_or("of no assignment type yet")
                ),
            });
        }
    };
    if license.archived {
        return Err(Refusal::Precondition {
            violation: "ARCHIVED",
            description: "an archived license cannot be assigned".into(),
        });
    }
    if consumer != expected {
        return Err(Refusal::Invalid {
            field: format!("assignment.{}", expected.name()),
            description: format!("is required: this is a {} license", expected.name()),
        });
    }
    if let Some(Quantity::Count(purchased)) = license.quantity
        && license.assigned + quantity > purchased
    {
        return Err(Refusal::Precondition {
            violation: "OVER_ASSIGNED",
            description: format!(
                "{purchased} purchased and {} assigned; assigning {quantity} more would exceed \
                 the purchased quantity",
                license.assigned
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPUTER_LICENSE: LicenseFacts<'static> = LicenseFacts {
        assignment_type: Some("computer"),
        archived: false,
        quantity: Some(Quantity::Count(10)),
        assigned: 4,
    };

    /// The violation or field of a refusal, `None` when allowed.
    fn outcome(license: LicenseFacts<'_>, consumer: Consumer, quantity: i64) -> Option<String> {
        match may_assign(&license, consumer, quantity) {
            Ok(()) => None,
            Err(Refusal::Precondition { violation, .. }) => Some(violation.to_string()),
            Err(Refusal::Invalid { field, .. }) => Some(field),
        }
    }

    #[test]
    fn each_refusal_in_the_order_a_caller_meets_them() {
        use Consumer::*;
        let archived = LicenseFacts {
            archived: true,
            ..COMPUTER_LICENSE
        };
        // (license, consumer, quantity, refusal)
        let table = [
            (COMPUTER_LICENSE, Computer, 6, None),
            (COMPUTER_LICENSE, Computer, 7, Some("OVER_ASSIGNED")),
            (COMPUTER_LICENSE, User, 1, Some("assignment.computer")),
            // Archived is said before the wrong consumer or quantity.
            (archived, User, 100, Some("ARCHIVED")),
            (
                LicenseFacts {
                    assignment_type: Some("user"),
                    ..COMPUTER_LICENSE
                },
                Computer,
                1,
                Some("assignment.user"),
            ),
            (
                LicenseFacts {
                    assignment_type: Some("organization"),
                    ..archived
                },
                Computer,
                1,
                Some("NOT_ASSIGNABLE"),
            ),
            (
                LicenseFacts {
                    assignment_type: None,
                    ..COMPUTER_LICENSE
                },
                Computer,
                1,
                Some("NOT_ASSIGNABLE"),
            ),
            (
                LicenseFacts {
                    quantity: Some(Quantity::Unlimited),
                    ..COMPUTER_LICENSE
                },
                Computer,
                1_000_000,
                None,
            ),
            (
                LicenseFacts {
                    quantity: None,
                    ..COMPUTER_LICENSE
                },
                Computer,
                1_000_000,
                None,
            ),
        ];
        for (license, consumer, quantity, expected) in table {
            assert_eq!(
                outcome(license, consumer, quantity).as_deref(),
                expected,
                "{license:?} to a {consumer:?}, {quantity}"
            );
        }
    }

    #[test]
    fn an_over_assignment_says_what_is_left() {
        let Err(Refusal::Precondition { description, .. }) =
            may_assign(&COMPUTER_LICENSE, Consumer::Computer, 7)
        else {
            panic!("refused");
        };
        assert_eq!(
            description,
            "10 purchased and 4 assigned; assigning 7 more would exceed the purchased quantity"
        );
    }
}
