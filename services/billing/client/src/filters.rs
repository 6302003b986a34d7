//! What a list call selects, as typed values: a month that is always
//! `YYYY-MM`, statuses that are always the API's enums, partners by id.
//! Statuses read from text accept what a person types (`under-review`,
//! `UNDER_REVIEW`, the full enum name) and print as the services write them
//! in messages (`under_review`).

use std::fmt;
use std::str::FromStr;

use estate_proto::billing::{
    BillingReportStatus, PartnerStatus, PartnerType, ProductLicenseStatus, UsageReportStatus,
};

use crate::Error;
use crate::names::PartnerId;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: u16,
    month: u8,
}

impl Month {
    /// `None` unless `month` is 1..=12 and `year` has four digits.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1000..=9999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }
}

impl FromStr for Month {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let parsed = match text.as_bytes() {
            [y1, y2, y3, y4, b'-', m1, m2]
                if [y1, y2, y3, y4, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
            {
                let year = text[0..4].parse().ok();
                let month = text[5..7].parse().ok();
                year.zip(month)
                    .and_then(|(year, month)| Self::new(year, month))
            }
            _ => None,
        };
        parsed.ok_or_else(|| Error::InvalidInput {
            what: "month",
            message: format!("expected YYYY-MM, got {text:?}"),
        })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-{:02}", self.year, self.month)
    }
}

/// Which usage reports to list; empty selects every report of the
/// distributor. Every criterion is applied by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReportFilter {
    /// One partner's reports only.
    pub partner: Option<PartnerId>,
    pub month: Option<Month>,
    /// Any of these statuses; empty: any status.
    pub statuses: Vec<UsageReportStatus>,
    /// The product, as the service plans name it.
    pub product: Option<String>,
}

/// Which billing reports to list. `month` and `statuses` are applied by the
/// service; `partner` and `product` by this client, because
/// `ListBillingReports` has no such filters: the service still sends every
/// report of the month and statuses, and pages may come back shorter than
/// the page size (even empty) while more follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingReportFilter {
    pub partner: Option<PartnerId>,
    pub month: Option<Month>,
    pub statuses: Vec<BillingReportStatus>,
    pub product: Option<String>,
}

/// Which partners to list; every criterion is applied by the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerFilter {
    /// Any of these statuses; empty: any status.
    pub statuses: Vec<PartnerStatus>,
    /// `None`: both types.
    pub partner_type: Option<PartnerType>,
    pub region: Option<String>,
    /// Acquired on or after this day (inclusive).
    pub acquired_on_or_after: Option<chrono::NaiveDate>,
    /// Acquired on or before this day (inclusive).
    pub acquired_on_or_before: Option<chrono::NaiveDate>,
    /// `acquisition_date` (the default), `region`, `status` or `type`,
    /// then `asc` or `desc`.
    pub order_by: Option<String>,
}

/// A status enum of the API, named `PREFIX_VALUE` in the contract.
pub trait StatusName: Sized + Copy + TryFrom<i32> {
    /// `USAGE_REPORT_STATUS_`.
    const PREFIX: &'static str;
    fn full_name(self) -> &'static str;
    fn from_full_name(name: &str) -> Option<Self>;
    fn is_unspecified(self) -> bool;
}

macro_rules! status_names {
    ($($enum:ty => $prefix:literal),* $(,)?) => {
        $(impl StatusName for $enum {
            const PREFIX: &'static str = $prefix;
            fn full_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_full_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
            fn is_unspecified(self) -> bool {
                self == Self::Unspecified
            }
        })*
    };
}

status_names!(
    UsageReportStatus => "USAGE_REPORT_STATUS_",
    BillingReportStatus => "BILLING_REPORT_STATUS_",
    PartnerStatus => "PARTNER_STATUS_",
    PartnerType => "PARTNER_TYPE_",
    ProductLicenseStatus => "PRODUCT_LICENSE_STATUS_",
    estate_proto::billing::Granularity => "GRANULARITY_",
);

/// `under_review` for `USAGE_REPORT_STATUS_UNDER_REVIEW`.
pub fn label<S: StatusName>(status: S) -> String {
    let full = status.full_name();
    full.strip_prefix(S::PREFIX)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// The label of a raw enum value as a message carries it; an unknown
/// value (from a newer server) prints as its number.
pub fn label_of<S: StatusName>(value: i32) -> String {
    S::try_from(value).map_or_else(|_| value.to_string(), label)
}

/// Reads `under-review`, `Under Review`, `UNDER_REVIEW` or
/// `USAGE_REPORT_STATUS_UNDER_REVIEW`; `UNSPECIFIED` is refused.
pub fn parse_status<S: StatusName>(text: &str) -> Result<S, Error> {
    let normalized = text.trim().to_ascii_uppercase().replace(['-', ' '], "_");
    let full = if normalized.starts_with(S::PREFIX) {
        normalized
    } else {
        format!("{}{normalized}", S::PREFIX)
    };
    S::from_full_name(&full)
        .filter(|status| !status.is_unspecified())
        .ok_or_else(|| Error::InvalidInput {
            what: "status",
            message: format!("{text:?} is not one of {}", known::<S>().join(", ")),
        })
}

/// Every value's label, for error messages and help.
fn known<S: StatusName>() -> Vec<String> {
    (1..)
        .map_while(|value| S::try_from(value).ok())
        .map(label)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_exactly_four_digits_a_dash_and_a_month_number() {
        let month: Month = "2026-10".parse().unwrap();
        assert_eq!(month.to_string(), "2026-10");
        assert!("2026-09".parse::<Month>().unwrap() < month);
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026/10",
            "2026-10-01",
            "",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_are_read_as_people_type_them_and_printed_as_services_write_them() {
        for text in [
            "under-review",
            "under_review",
            "Under Review",
            "USAGE_REPORT_STATUS_UNDER_REVIEW",
        ] {
            assert_eq!(
                parse_status::<UsageReportStatus>(text).unwrap(),
                UsageReportStatus::UnderReview
            );
        }
        assert_eq!(label(UsageReportStatus::UnderReview), "under_review");
        assert_eq!(
            label(BillingReportStatus::UnderReviewAutomaticWithPenalties),
            "under_review_automatic_with_penalties"
        );
        assert_eq!(label_of::<PartnerType>(1), "msp");
        assert_eq!(label_of::<PartnerType>(99), "99");
        let error = parse_status::<UsageReportStatus>("unspecified").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid status: \"unspecified\" is not one of preparing, under_review, approved, rejected"
        );
        assert!(parse_status::<BillingReportStatus>("approved").is_err());
    }
}
