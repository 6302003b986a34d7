//! A customer's license policy: which license fields it requires, what it
//! says about each, and which values it allows ([`super::licenses`]
//! applies it to a license).

/// The rule for one license field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyField {
    pub field: String,
    pub required: bool,
    pub description: String,
    pub allowed_values: Vec<String>,
    pub custom_values_allowed: bool,
}

/// The configured policy fields in order, and the policy's revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub fields: Vec<PolicyField>,
    pub revision: i64,
}

impl Policy {
    pub fn field(&self, field: &str) -> Option<&PolicyField> {
        self.fields.iter().find(|rule| rule.field == field)
    }
}
