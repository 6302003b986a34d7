//! Whether a product license may be sold: to an enabled customer, of a
//! plan that still takes licenses, and not already over when it is sold.

use chrono::{Months, NaiveDate};

use super::reports::Refusal;

/// The terms of the plan a license is sold from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanTerms {
    pub enabled: bool,
    /// Its end of sale has been set.
    pub end_of_sale: bool,
    pub initial_period_months: u32,
    pub auto_renewal: bool,
}

/// What a sale is refused over: which part of the request it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The customer account (the request's parent).
    Customer,
    /// The service plan (the license's `service_plan`).
    Plan,
    /// The license's `start_date`.
    StartDate,
}

/// Why a sale is refused, and over what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRefusal {
    pub subject: Subject,
    pub refusal: Refusal,
}

fn refuse(subject: Subject, violation: &'static str, description: String) -> SaleRefusal {
    SaleRefusal {
        subject,
        refusal: Refusal {
            violation,
            description,
        },
    }
}

/// Whether a customer that is `enabled` may buy: a disabled one buys
/// nothing (asked before its plan is even looked up).
pub fn customer_may_buy(enabled: bool) -> Result<(), SaleRefusal> {
    if enabled {
        return Ok(());
    }
    Err(refuse(
        Subject::Customer,
        "CUSTOMER_DISABLED",
        "a disabled customer cannot be sold new licenses".into(),
    ))
}

/// Whether a license of `plan` starting `start_date` may be sold on
/// `today`: a disabled plan or one at its end of sale sells nothing, and
/// a license that does not renew must not have ended already.
pub fn may_sell(
    plan: &PlanTerms,
    start_date: NaiveDate,
    today: NaiveDate,
) -> Result<(), SaleRefusal> {
    if plan.end_of_sale || !plan.enabled {
        return Err(refuse(
            Subject::Plan,
            if plan.enabled {
                "END_OF_SALE"
            } else {
                "PLAN_DISABLED"
            },
            "the plan takes no new licenses".into(),
        ));
    }
    let months = plan.initial_period_months;
    let end = start_date.checked_add_months(Months::new(months));
    if !plan.auto_renewal && end.is_none_or(|end| end <= today) {
        return Err(refuse(
            Subject::StartDate,
            "LICENSE_ALREADY_EXPIRED",
            format!(
                "a license of this plan starting {start_date} runs {months} months without \
                 renewal and would have ended {} (today is {today}); sell it from a later \
                 start date",
                end.map_or_else(|| "long ago".into(), |end| end.to_string())
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: PlanTerms = PlanTerms {
        enabled: true,
        end_of_sale: false,
        initial_period_months: 12,
        auto_renewal: false,
    };

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn only_an_enabled_customer_buys() {
        assert_eq!(customer_may_buy(true), Ok(()));
        let refusal = customer_may_buy(false).unwrap_err();
        assert_eq!(
            (refusal.subject, refusal.refusal.violation),
            (Subject::Customer, "CUSTOMER_DISABLED")
        );
    }

    #[test]
    fn a_plan_sells_while_enabled_and_before_its_end_of_sale_what_is_not_over() {
        let today = day("2026-06-15");
        // (plan, start date, refusal)
        let table = [
            (PLAN, today, None),
            (
                PlanTerms {
                    enabled: false,
                    end_of_sale: true,
                    ..PLAN
                },
                today,
                Some("PLAN_DISABLED"),
            ),
            (
                PlanTerms {
                    end_of_sale: true,
                    ..PLAN
                },
                today,
                Some("END_OF_SALE"),
            ),
            // Twelve months from 2025-06-15 end on today: already over.
            (PLAN, day("2025-06-15"), Some("LICENSE_ALREADY_EXPIRED")),
            (PLAN, day("2025-06-16"), None),
            // A renewing license is never over.
            (
                PlanTerms {
                    auto_renewal: true,
                    ..PLAN
                },
                day("2000-01-01"),
                None,
            ),
            // Starting later is fine.
            (PLAN, day("2027-01-01"), None),
        ];
        for (plan, start, expected) in table {
            let got = may_sell(&plan, start, today);
            assert_eq!(
                got.as_ref().err().map(|refusal| refusal.refusal.violation),
                expected,
                "{plan:?}, from {start}"
            );
        }
    }

    #[test]
    fn an_expired_sale_says_when_it_would_have_ended() {
        let refusal = may_sell(&PLAN, day("2025-01-10"), day("2026-06-15")).unwrap_err();
        assert_eq!(refusal.subject, Subject::StartDate);
        assert_eq!(
            refusal.refusal.description,
            "a license of this plan starting 2025-01-10 runs 12 months without renewal and \
             would have ended 2026-01-10 (today is 2026-06-15); sell it from a later start date"
        );
    }
}
