//! The usage-report and billing-report workflows as transition functions:
//! an action and the report's facts in, the next status or a refusal
//! out. Handlers load and lock the report, ask here, and store the
//! answer; the flows are also drawn in the proto's service comments.
//!
//! ```text
//! usage:   preparing ──submit──▶ under_review ──approve──▶ approved
//!              ▲                     │
//!              └──edit── rejected ◀──reject
//! billing: preparing / returned ──submit──▶ under_review_manual ─┐
//!          (opened as under_review_automatic[_with_penalties]     ├─accept──▶ submitted ──complete──▶ completed
//!           when its usage report was auto-submitted)  ───────────┤
//!                        returned ◀──return── under_review_* ─────┴─reject──▶ rejected
//! ```

use chrono::{Days, Months, NaiveDate};

use super::statuses::{BillingStatus, PartnerState, Stored, UsageStatus};

/// Why a report cannot take an action: a FAILED_PRECONDITION violation
/// type and a sentence for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub violation: &'static str,
    pub description: String,
}

/// Refusal unless `current` is one of `from`.
fn require<T: Stored>(current: T, from: &[T], action: &str) -> Result<(), Refusal> {
    if from.contains(&current) {
        return Ok(());
    }
    let from: Vec<&str> = from.iter().map(|status| status.column()).collect();
    Err(Refusal {
        violation: "INVALID_REPORT_TRANSITION",
        description: format!(
            "the report is {}; it can be {action} only when {}",
            current.column(),
            from.join(" or ")
        ),
    })
}

/// What can be done to a usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageAction {
    /// The partner changes its used units or comment: a rejected report
    /// starts over as preparing.
    Edit,
    /// The distributor remarks on it, at any stage, changing nothing else.
    Comment,
    /// The partner hands it to its distributor.
    Submit,
    Approve,
    Reject,
}

impl UsageAction {
    /// The statuses a report may take this action from.
    pub fn from(self) -> &'static [UsageStatus] {
        use UsageStatus::*;
        match self {
            Self::Edit => &[Preparing, Rejected],
            Self::Comment => UsageStatus::ALL,
            Self::Submit => &[Preparing],
            Self::Approve | Self::Reject => &[UnderReview],
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Edit => "edited",
            Self::Comment => "commented on",
            Self::Submit => "submitted",
            Self::Approve => "approved",
            Self::Reject => "rejected",
        }
    }
}

/// What a usage-report action needs to know of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageFacts<'a> {
    pub status: UsageStatus,
    /// `UsageFigures::over_provisioned_percent`, 0 when not over.
    pub over_provisioned_percent: i64,
    pub over_provisioned: bool,
    /// The partner's comment.
    pub comment: &'a str,
}

/// The status usage report `facts` moves to by `action`, or why not: the
/// status first, then (to submit) an over-provisioned report must say
/// why in its comment (blank counts as none).
pub fn usage_transition(
    action: UsageAction,
    facts: &UsageFacts<'_>,
) -> Result<UsageStatus, Refusal> {
    require(facts.status, action.from(), action.verb())?;
    Ok(match action {
        UsageAction::Edit => UsageStatus::Preparing,
        UsageAction::Comment => facts.status,
        UsageAction::Submit => {
            if facts.over_provisioned && facts.comment.trim().is_empty() {
                return Err(Refusal {
                    violation: "COMMENT_REQUIRED",
                    description: format!(
                        "provisioned units exceed used ones by {}%; explain why in `comment` \
                         before submitting",
                        facts.over_provisioned_percent
                    ),
                });
            }
            UsageStatus::UnderReview
        }
        UsageAction::Approve => UsageStatus::Approved,
        UsageAction::Reject => UsageStatus::Rejected,
    })
}

/// Who edits a usage report: its partner's principals, platform
/// administrators (on the partner's behalf), or the distributor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    Partner,
    Platform,
    Distributor,
}

/// What an update of a usage report changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageEdit {
    /// Only the distributor's remark: nothing of the figures or status, so
    /// at any stage ([`UsageAction::Comment`]).
    DistributorComment,
    /// The partner's used units or comment ([`UsageAction::Edit`]).
    PartnerFields,
}

/// Why an update of a usage report is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditRefusal {
    /// A field of the other side's (PERMISSION_DENIED).
    OtherSide(String),
    /// The distributor's remark mixed with the partner's fields
    /// (INVALID_ARGUMENT on `update_mask`).
    Mixed,
}

/// What an update of `paths` (among `used_units`, `comment`,
/// `distributor_comment`) by `editor` is: each side writes its own comment
/// (the partner, or the platform on its behalf, `comment`; the
/// distributor `distributor_comment`), and the distributor's remark goes
/// on its own.
pub fn usage_edit(editor: Editor, paths: &[String]) -> Result<UsageEdit, EditRefusal> {
    for path in paths {
        let refused = match path.as_str() {
            "comment" => editor == Editor::Distributor,
            "distributor_comment" => editor == Editor::Partner,
            _ => false,
        };
        if refused {
            let (other, own) = if editor == Editor::Partner {
                ("distributor", "comment")
            } else {
                ("partner", "distributor_comment")
            };
            return Err(EditRefusal::OtherSide(format!(
                "{path} is the {other} side's to write; comment on your side with {own}"
            )));
        }
    }
    if paths.iter().all(|path| path == "distributor_comment") {
        Ok(UsageEdit::DistributorComment)
    } else if paths.iter().any(|path| path == "distributor_comment") {
        Err(EditRefusal::Mixed)
    } else {
        Ok(UsageEdit::PartnerFields)
    }
}

/// Whether the platform submits a usage report of `month` on `today`
/// by itself: still preparing, of a partner that is active (a suspended
/// or canceled partner's reports could not be decided on), and at least
/// `after_days` (the distributor's setting) past the first day after its
/// month. It
/// then goes to review, flagged when `UsageFigures::flagged_on_auto_submit`.
/// `db::reports::auto_submit` is this rule in SQL; `db::rules_in_sql`
/// compares them.
pub fn auto_submit_due(
    status: UsageStatus,
    partner: PartnerState,
    month: NaiveDate,
    after_days: u64,
    today: NaiveDate,
) -> bool {
    status == UsageStatus::Preparing
        && partner == PartnerState::Active
        && month
            .checked_add_months(Months::new(1))
            .and_then(|ended| ended.checked_add_days(Days::new(after_days)))
            .is_some_and(|due| due <= today)
}

/// What can be done to a billing report: the distributor edits and
/// submits it, platform administrators review it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingAction {
    /// PO number, unit price or margin change; the status stays.
    Edit,
    Submit,
    Return,
    Reject,
    Accept,
    Complete,
}

const UNDER_REVIEW: &[BillingStatus] = &[
    BillingStatus::UnderReviewManual,
    BillingStatus::UnderReviewAutomatic,
    BillingStatus::UnderReviewAutomaticWithPenalties,
];

impl BillingAction {
    /// The statuses a report may take this action from.
    pub fn from(self) -> &'static [BillingStatus] {
        use BillingStatus::*;
        match self {
            Self::Edit | Self::Submit => &[Preparing, Returned],
            Self::Return | Self::Reject | Self::Accept => UNDER_REVIEW,
            Self::Complete => &[Submitted],
        }
    }

    /// The status it leads to (`Edit` keeps the current one).
    fn to(self, current: BillingStatus) -> BillingStatus {
        match self {
            Self::Edit => current,
            Self::Submit => BillingStatus::UnderReviewManual,
            Self::Return => BillingStatus::Returned,
            Self::Reject => BillingStatus::Rejected,
            Self::Accept => BillingStatus::Submitted,
            Self::Complete => BillingStatus::Completed,
        }
    }

    /// The platform action it is, for refusing others: `None` for the
    /// distributor's own.
    pub fn platform_action(self) -> Option<&'static str> {
        match self {
            Self::Edit | Self::Submit => None,
            Self::Return => Some("return billing reports"),
            Self::Reject => Some("reject billing reports"),
            Self::Accept => Some("accept billing reports"),
            Self::Complete => Some("complete billing reports"),
        }
    }
}

/// What a billing-report action needs to know of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingFacts {
    pub status: BillingStatus,
    pub has_po_number: bool,
    pub has_unit_price: bool,
    /// Units × unit price is known (priced, and it fits).
    pub has_amount: bool,
}

/// The status billing report `facts` moves to by `action`, or why not:
/// the status first; to submit, a PO number and a unit price; to accept
/// or complete, an amount.
pub fn billing_transition(
    action: BillingAction,
    facts: &BillingFacts,
) -> Result<BillingStatus, Refusal> {
    let to = action.to(facts.status);
    let verb = match action {
        BillingAction::Edit => "edited".to_string(),
        _ => format!("moved to {}", to.column()),
    };
    require(facts.status, action.from(), &verb)?;
    if action == BillingAction::Submit && !(facts.has_po_number && facts.has_unit_price) {
        return Err(Refusal {
            violation: "BILLING_REPORT_INCOMPLETE",
            description: "a billing report needs a PO number and a unit price to be submitted"
                .into(),
        });
    }
    if matches!(action, BillingAction::Accept | BillingAction::Complete) && !facts.has_amount {
        return Err(Refusal {
            violation: "PRICE_MISSING",
            description: "a billing report without a unit price (hence no amount) cannot be \
                          accepted or completed; return it to the distributor to price it, or \
                          give the product's plan a price"
                .into(),
        });
    }
    Ok(to)
}

/// The status a billing report opens in when its usage report is
/// approved: the distributor's to prepare, unless the platform submitted
/// the usage report, when it goes straight to review (with penalties when
/// flagged, charged on provisioned units).
pub fn opened_billing_status(auto_submitted: bool, flagged: bool) -> BillingStatus {
    match (auto_submitted, flagged) {
        (false, _) => BillingStatus::Preparing,
        (true, false) => BillingStatus::UnderReviewAutomatic,
        (true, true) => BillingStatus::UnderReviewAutomaticWithPenalties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(status: UsageStatus, over: bool, comment: &str) -> UsageFacts<'_> {
        UsageFacts {
            status,
            over_provisioned_percent: if over { 25 } else { 0 },
            over_provisioned: over,
            comment,
        }
    }

    /// A refusal because of the report's status.
    const BAD: Result<UsageStatus, &str> = Err("INVALID_REPORT_TRANSITION");
    const NO_COMMENT: Result<UsageStatus, &str> = Err("COMMENT_REQUIRED");

    /// (action, from, over-provisioned, comment, outcome: Ok(to) or the
    /// violation)
    type UsageCase = (
        UsageAction,
        UsageStatus,
        bool,
        &'static str,
        Result<UsageStatus, &'static str>,
    );

    #[test]
    fn every_usage_action_from_every_status() {
        use UsageAction::*;
        use UsageStatus::*;
        let table: &[UsageCase] = &[
            (Edit, Preparing, false, "", Ok(Preparing)),
            (Edit, Rejected, true, "", Ok(Preparing)),
            (Edit, UnderReview, false, "", BAD),
            (Edit, Approved, false, "", BAD),
            (Comment, Preparing, false, "", Ok(Preparing)),
            (Comment, UnderReview, false, "", Ok(UnderReview)),
            (Comment, Approved, false, "", Ok(Approved)),
            (Comment, Rejected, false, "", Ok(Rejected)),
            (Submit, Preparing, false, "", Ok(UnderReview)),
            (Submit, Preparing, true, "seasonal", Ok(UnderReview)),
            (Submit, Preparing, true, "", NO_COMMENT),
            (Submit, Preparing, true, " \n\t", NO_COMMENT),
            // A rejected report is edited (back to preparing) first.
            (Submit, Rejected, false, "", BAD),
            (Submit, UnderReview, false, "", BAD),
            (Submit, Approved, false, "", BAD),
            (Approve, UnderReview, true, "", Ok(Approved)),
            (Approve, Preparing, false, "", BAD),
            (Approve, Approved, false, "", BAD),
            (Approve, Rejected, false, "", BAD),
            (Reject, UnderReview, false, "", Ok(Rejected)),
            (Reject, Preparing, false, "", BAD),
            (Reject, Approved, false, "", BAD),
            (Reject, Rejected, false, "", BAD),
        ];
        for &(action, from, over, comment, expected) in table {
            let got = usage_transition(action, &usage(from, over, comment));
            assert_eq!(
                got.as_ref().map_err(|refusal| refusal.violation),
                expected.as_ref().map_err(|v| *v),
                "{action:?} from {from:?} (over {over}, comment {comment:?}): {got:?}"
            );
        }
        // Every action × status pair is in the table.
        for action in [Edit, Comment, Submit, Approve, Reject] {
            for &status in UsageStatus::ALL {
                assert!(
                    table.iter().any(|row| row.0 == action && row.1 == status),
                    "{action:?} from {status:?} untested"
                );
            }
        }
    }

    #[test]
    fn each_side_writes_its_own_comment_and_the_remark_goes_alone() {
        use Editor::*;
        let paths =
            |names: &[&str]| -> Vec<String> { names.iter().map(|name| name.to_string()).collect() };
        let other_side = |_: &EditRefusal| "other side";
        // (editor, paths, outcome)
        let table: &[(Editor, &[&str], Result<UsageEdit, &str>)] = &[
            (Partner, &["comment"], Ok(UsageEdit::PartnerFields)),
            (
                Partner,
                &["used_units", "comment"],
                Ok(UsageEdit::PartnerFields),
            ),
            (Partner, &["distributor_comment"], Err("other side")),
            (Platform, &["comment"], Ok(UsageEdit::PartnerFields)),
            (
                Platform,
                &["distributor_comment"],
                Ok(UsageEdit::DistributorComment),
            ),
            (Platform, &["comment", "distributor_comment"], Err("mixed")),
            (
                Distributor,
                &["distributor_comment"],
                Ok(UsageEdit::DistributorComment),
            ),
            (Distributor, &["comment"], Err("other side")),
            (Distributor, &["used_units"], Ok(UsageEdit::PartnerFields)),
            (
                Distributor,
                &["used_units", "distributor_comment"],
                Err("mixed"),
            ),
        ];
        for &(editor, names, expected) in table {
            let got = usage_edit(editor, &paths(names));
            let got = got.as_ref().map_err(|refusal| match refusal {
                EditRefusal::Mixed => "mixed",
                other => other_side(other),
            });
            assert_eq!(got.copied(), expected, "{editor:?} editing {names:?}");
        }
        assert_eq!(
            usage_edit(Partner, &paths(&["distributor_comment"])),
            Err(EditRefusal::OtherSide(
                "distributor_comment is the distributor side's to write; comment on your side \
                 with comment"
                    .into()
            ))
        );
    }

    #[test]
    fn the_platform_submits_a_preparing_report_of_an_active_partner_once_due() {
        use PartnerState::*;
        use UsageStatus::*;
        let day = |text: &str| text.parse::<NaiveDate>().expect("a date");
        // October's month is over on 1 November; 5 days after that, on 6
        // November, its reports are due.
        let table = [
            (Preparing, Active, 5, "2026-11-05", false),
            (Preparing, Active, 5, "2026-11-06", true),
            (Preparing, Active, 5, "2027-01-01", true),
            (Preparing, Active, 0, "2026-11-01", true),
            (Preparing, Active, 0, "2026-10-31", false),
            (Rejected, Active, 5, "2027-01-01", false),
            (UnderReview, Active, 5, "2027-01-01", false),
            (Approved, Active, 5, "2027-01-01", false),
            (Preparing, Suspended, 5, "2027-01-01", false),
            (Preparing, Canceled, 5, "2027-01-01", false),
        ];
        for (status, partner, after_days, today, due) in table {
            assert_eq!(
                auto_submit_due(status, partner, day("2026-10-01"), after_days, day(today)),
                due,
                "{status:?} of a {partner:?} partner, {after_days} days, on {today}"
            );
        }
    }

    #[test]
    fn a_refused_transition_names_the_status_and_the_allowed_ones() {
        let refusal = usage_transition(UsageAction::Edit, &usage(UsageStatus::Approved, false, ""))
            .unwrap_err();
        assert_eq!(
            refusal.description,
            "the report is approved; it can be edited only when preparing or rejected"
        );
        let refusal = billing_transition(
            BillingAction::Complete,
            &BillingFacts {
                status: BillingStatus::Returned,
                has_po_number: true,
                has_unit_price: true,
                has_amount: true,
            },
        )
        .unwrap_err();
        assert_eq!(
            refusal.description,
            "the report is returned; it can be moved to completed only when submitted"
        );
    }

    #[test]
    fn every_billing_action_from_every_status() {
        use BillingAction::*;
        use BillingStatus::*;
        let actions = [Edit, Submit, Return, Reject, Accept, Complete];
        for action in actions {
            for &status in BillingStatus::ALL {
                // Complete facts: only the status decides.
                let complete = BillingFacts {
                    status,
                    has_po_number: true,
                    has_unit_price: true,
                    has_amount: true,
                };
                let expected = match (action, status) {
                    (Edit, Preparing | Returned) => Ok(status),
                    (Submit, Preparing | Returned) => Ok(UnderReviewManual),
                    (
                        Return,
                        UnderReviewManual
                        | UnderReviewAutomatic
                        | UnderReviewAutomaticWithPenalties,
                    ) => Ok(Returned),
                    (
                        Reject,
                        UnderReviewManual
                        | UnderReviewAutomatic
                        | UnderReviewAutomaticWithPenalties,
                    ) => Ok(Rejected),
                    (
                        Accept,
                        UnderReviewManual
                        | UnderReviewAutomatic
                        | UnderReviewAutomaticWithPenalties,
                    ) => Ok(Submitted),
                    (Complete, Submitted) => Ok(Completed),
                    _ => Err("INVALID_REPORT_TRANSITION"),
                };
                let got = billing_transition(action, &complete);
                assert_eq!(
                    got.as_ref().map_err(|refusal| refusal.violation),
                    expected.as_ref().map_err(|v| *v),
                    "{action:?} from {status:?}"
                );
                // Each missing fact refuses exactly the actions that need it,
                // and only once the status allows the action.
                let allowed = expected.is_ok();
                for (missing, needed_by) in [
                    ("po", &[Submit][..]),
                    ("price", &[Submit][..]),
                    ("amount", &[Accept, Complete][..]),
                ] {
                    let facts = BillingFacts {
                        has_po_number: missing != "po",
                        has_unit_price: missing != "price",
                        has_amount: missing != "amount",
                        ..complete
                    };
                    let got = billing_transition(action, &facts).map_err(|r| r.violation);
                    let expected = if !allowed {
                        Err("INVALID_REPORT_TRANSITION")
                    } else if needed_by.contains(&action) {
                        Err(if missing == "amount" {
                            "PRICE_MISSING"
                        } else {
                            "BILLING_REPORT_INCOMPLETE"
                        })
                    } else {
                        expected.map_err(|_| "")
                    };
                    assert_eq!(
                        got, expected,
                        "{action:?} from {status:?} without {missing}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_review_actions_are_the_platforms() {
        use BillingAction::*;
        assert_eq!(Edit.platform_action(), None);
        assert_eq!(Submit.platform_action(), None);
        for action in [Return, Reject, Accept, Complete] {
            assert!(action.platform_action().is_some(), "{action:?}");
        }
    }

    #[test]
    fn a_billing_report_opens_by_how_its_usage_report_was_submitted() {
        use BillingStatus::*;
        assert_eq!(opened_billing_status(false, false), Preparing);
        // Flagged only ever comes with an automatic submission; a partner's
        // own submission clears it.
        assert_eq!(opened_billing_status(false, true), Preparing);
        assert_eq!(opened_billing_status(true, false), UnderReviewAutomatic);
        assert_eq!(
            opened_billing_status(true, true),
            UnderReviewAutomaticWithPenalties
        );
    }
}
