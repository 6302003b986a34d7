//! What a compliance run stores and reports read back, in one place: the
//! row types both the writer (`store`) and the reader (`reports`) use, the
//! figures as stored, and the codes consumer statuses are stored as.

use estate_compliance::{ConsumerStatus, NoRequirementReason};
use uuid::Uuid;

use super::chunks::NodeFigures;

/// A compliance row: (node, application, family) ids and the figures.
/// Application and family results are stored as these, in chunks
/// (`compliance_application_results`, `compliance_family_results`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComplianceRow {
    pub node: Option<Uuid>,
    pub application: Option<Uuid>,
    pub family: Uuid,
    pub figures: Figures,
}

impl ComplianceRow {
    /// The application's id at the application level, the family's at
    /// the family level.
    pub(crate) fn id(&self) -> Uuid {
        self.application.unwrap_or(self.family)
    }
}

/// A license's stored result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LicenseRow {
    pub license_id: Uuid,
    pub status: String,
    pub effective_quantity: Option<i64>,
    pub taken_by_upgrades: i64,
    pub used: i64,
    pub surplus: i64,
    pub assigned: i64,
    pub unassigned: Option<i64>,
    pub invalid_assignments: i64,
    pub invalid_units: i64,
}

impl LicenseRow {
    /// Whether units of a computer or user license are left unassigned.
    pub fn has_unassigned(&self) -> bool {
        self.unassigned.is_some_and(|units| units > 0)
    }
}

/// An invalid assignment as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvalidRow {
    pub assignment_id: Uuid,
    pub license_id: Uuid,
    pub computer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub reason: String,
    pub units: i64,
}

/// A stored transfer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferRow {
    pub kind: String,
    pub license_id: Uuid,
    pub base_id: Option<Uuid>,
    pub node_id: Option<Uuid>,
    pub from_application_id: Option<Uuid>,
    pub to_application_id: Option<Uuid>,
    pub units: i64,
}

/// Compliance figures as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub initial_requirement: i64,
    pub adjustments: i64,
    pub requirement: i64,
    pub coverage: i64,
    pub compliance: i64,
    pub unlimited: bool,
}

impl From<&NodeFigures> for Figures {
    fn from(stored: &NodeFigures) -> Self {
        Self {
            initial_requirement: i64_of(stored.initial_requirement),
            adjustments: stored.adjustments,
            requirement: i64_of(stored.requirement),
            coverage: i64_of(stored.coverage),
            compliance: stored.compliance,
            unlimited: stored.unlimited,
        }
    }
}

pub(crate) fn i64_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The stored codes of consumer statuses (in consumer result chunks), in code
/// order from 1.
const CONSUMER_STATUSES: [ConsumerStatus; 6] = [
    ConsumerStatus::Covered,
    ConsumerStatus::NotCovered,
    ConsumerStatus::NoRequirement(NoRequirementReason::NoLicenseRequired),
    ConsumerStatus::NoRequirement(NoRequirementReason::Inactive),
    ConsumerStatus::NoRequirement(NoRequirementReason::NotUsed),
    ConsumerStatus::NoRequirement(NoRequirementReason::Excluded),
];

pub(crate) fn consumer_status_code(status: ConsumerStatus) -> i16 {
    let index = CONSUMER_STATUSES
        .iter()
        .position(|known| *known == status)
        .expect("every consumer status has a code");
    index as i16 + 1
}

/// The consumer status stored as `code`.
pub(crate) fn consumer_status_of(code: i16) -> Option<ConsumerStatus> {
    let index = usize::try_from(code).ok()?.checked_sub(1)?;
    CONSUMER_STATUSES.get(index).copied()
}

/// The codes of the statuses `keep` selects.
pub(crate) fn consumer_status_codes(keep: impl Fn(ConsumerStatus) -> bool) -> Vec<i16> {
    CONSUMER_STATUSES
        .iter()
        .filter(|status| keep(**status))
        .map(|status| consumer_status_code(*status))
        .collect()
}
