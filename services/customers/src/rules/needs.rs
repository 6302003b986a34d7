//! "Where customers need more" (seed 000): the customers of a partner
//! whose usage exceeds what they bought, or whose latest compliance
//! calculation shows a shortfall, with the product and the gap. Read from
//! the same synced figures the overview shows, so a partner sees here
//! exactly what its overview shows.
//!
//! - **Usage over purchase**: for a product, the highest usage of the last
//!   30 days above the quantity purchased; the gap is the difference.
//! - **Compliance shortfall**: coverage below requirement; the gap is the
//!   shortfall, with how many applications are short.
//!
//! Largest gap first; ties by customer name, then id, then product.

use super::overview::VisibleMetrics;

/// Why a customer needs more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NeedKind {
    UsageOverPurchase,
    ComplianceShortfall,
}

/// One thing a customer needs more of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub kind: NeedKind,
    /// The product id; empty for a compliance shortfall.
    pub product: String,
    /// What the customer has: seats purchased, or licenses' coverage.
    pub have: i64,
    /// What it needs: the highest usage, or the requirement.
    pub need: i64,
    /// Applications short (compliance only).
    pub applications_short: i64,
}

impl Need {
    pub fn gap(&self) -> i64 {
        self.need - self.have
    }
}

/// What one customer's visible figures say it needs.
pub fn needs_of(metrics: &VisibleMetrics) -> Vec<Need> {
    let mut needs: Vec<Need> = metrics
        .license_usage
        .iter()
        .flatten()
        .filter(|product| product.highest_usage_30_days > product.quantity_purchased)
        .map(|product| Need {
            kind: NeedKind::UsageOverPurchase,
            product: product.product.clone(),
            have: product.quantity_purchased,
            need: product.highest_usage_30_days,
            applications_short: 0,
        })
        .collect();
    if let Some(compliance) = metrics.compliance
        && compliance.coverage < compliance.requirement
    {
        needs.push(Need {
            kind: NeedKind::ComplianceShortfall,
            product: String::new(),
            have: compliance.coverage,
            need: compliance.requirement,
            applications_short: compliance.applications_short,
        });
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::overview::{ComplianceFigures, ProductFigures};
    use chrono::{TimeZone, Utc};

    fn product(name: &str, purchased: i64, used: i64) -> ProductFigures {
        ProductFigures {
            product: name.into(),
            quantity_purchased: purchased,
            highest_usage_30_days: used,
        }
    }

    fn compliance(requirement: i64, coverage: i64) -> ComplianceFigures {
        ComplianceFigures {
            calculated_time: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            requirement,
            coverage,
            compliance: coverage - requirement,
            applications_short: i64::from(coverage < requirement) * 2,
        }
    }

    #[test]
    fn usage_over_purchase_and_shortfalls_are_needs_and_nothing_else_is() {
        let table = [
            (
                vec![product("sam-core", 40, 46)],
                None,
                vec![(NeedKind::UsageOverPurchase, 6)],
            ),
            (vec![product("sam-core", 40, 40)], None, vec![]),
            (
                vec![product("sam-core", 40, 12)],
                Some(compliance(10, 10)),
                vec![],
            ),
            (
                vec![product("a", 1, 3), product("b", 5, 4)],
                Some(compliance(10, 7)),
                vec![
                    (NeedKind::UsageOverPurchase, 2),
                    (NeedKind::ComplianceShortfall, 3),
                ],
            ),
        ];
        for (products, compliance, expected) in table {
            let metrics = VisibleMetrics {
                license_usage: Some(products),
                compliance,
                ..VisibleMetrics::default()
            };
            let found: Vec<(NeedKind, i64)> = needs_of(&metrics)
                .iter()
                .map(|need| (need.kind, need.gap()))
                .collect();
            assert_eq!(found, expected);
        }
        // Nothing shown, nothing needed.
        assert!(needs_of(&VisibleMetrics::default()).is_empty());
    }
}
