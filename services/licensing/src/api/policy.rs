//! `estate.licensing.v1.LicensePolicyService`.

use estate_auth::Access;
use estate_proto::names::{CustomerId, CustomerName};
use std::collections::BTreeSet;

use estate_db::{commit, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{etag_mismatch, revision_etag, revision_from_etag};
use estate_proto::licensing::license_policy_service_server::LicensePolicyService;
use estate_proto::licensing::{
    GetLicensePolicyRequest, GetLicensingSettingsRequest, LicensePolicy, LicensingSettings,
    PolicyField as ProtoPolicyField, UpdateLicensePolicyRequest, UpdateLicensingSettingsRequest,
};
use tonic::{Request, Response, Status};

use super::{Policy as PolicyApi, token};
use crate::db::settings::{self, Policy, PolicyField, Settings};
use crate::rules::licenses::{POLICY_FIELDS, is_text_field};

/// `customers/{uuid}/{singleton}` in `field`.
fn singleton(field: &str, value: &str, singleton: &str) -> Result<CustomerId, ApiError> {
    let customer = value
        .strip_suffix(&format!("/{singleton}"))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("must be a resource name like customers/{{uuid}}/{singleton}"),
            )
        })?;
    Ok(CustomerName::parse(field, customer)?.customer)
}

/// The policy with an entry for every standard field (configured or not)
/// followed by the configured custom fields.
fn policy_to_proto(customer_id: CustomerId, policy: Policy) -> LicensePolicy {
    let rule_to_proto = |rule: &PolicyField| ProtoPolicyField {
        field: rule.field.clone(),
        required: rule.required,
        description: rule.description.clone(),
        allowed_values: rule.allowed_values.clone(),
        custom_values_allowed: rule.custom_values_allowed,
    };
    let mut fields: Vec<ProtoPolicyField> = POLICY_FIELDS
        .iter()
        .map(|field| {
            policy.field(field).map_or_else(
                || ProtoPolicyField {
                    field: (*field).to_string(),
                    ..ProtoPolicyField::default()
                },
                rule_to_proto,
            )
        })
        .collect();
    fields.extend(
        policy
            .fields
            .iter()
            .filter(|rule| rule.field.starts_with("custom_fields."))
            .map(rule_to_proto),
    );
    LicensePolicy {
        name: format!("customers/{customer_id}/licensePolicy"),
        fields,
        etag: revision_etag(policy.revision),
    }
}

/// Most allowed values one policy field may list: a choice a person makes
/// from a list, not a lookup table.
const MAX_ALLOWED_VALUES: usize = 200;

fn validate_policy(fields: Vec<ProtoPolicyField>) -> Result<Vec<PolicyField>, ApiError> {
    let mut violations = Violations::new();
    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    for (index, field) in fields.into_iter().enumerate() {
        let path = format!("policy.fields[{index}]");
        let known = POLICY_FIELDS.contains(&field.field.as_str())
            || field
                .field
                .strip_prefix("custom_fields.")
                .is_some_and(|key| (1..=64).contains(&key.chars().count()));
        if !known {
            violations.add(
                format!("{path}.field"),
                format!(
                    "must be one of {POLICY_FIELDS:?} or custom_fields.{{key}} (key 1..64 characters), got {}",
                    estate_errors::quote(&field.field)
                ),
            );
        }
        if !seen.insert(field.field.clone()) {
            violations.add(format!("{path}.field"), "appears more than once");
        }
        violations.check_length(&format!("{path}.description"), &field.description, 0, 1024);
        if !field.allowed_values.is_empty() && !is_text_field(&field.field) {
            violations.add(
                format!("{path}.allowed_values"),
                "only text fields (vendor, invoice_reference, custom_fields.*) take allowed values",
            );
        }
        if field.allowed_values.len() > MAX_ALLOWED_VALUES {
            violations.add(
                format!("{path}.allowed_values"),
                format!(
                    "must have at most {MAX_ALLOWED_VALUES} values, got {}",
                    field.allowed_values.len()
                ),
            );
        }
        let mut values = BTreeSet::new();
        for (position, value) in field.allowed_values.iter().enumerate() {
            violations.check_length(&format!("{path}.allowed_values[{position}]"), value, 1, 200);
            if !values.insert(value) {
                violations.add(
                    format!("{path}.allowed_values[{position}]"),
                    "appears more than once",
                );
            }
        }
        rules.push(PolicyField {
            field: field.field,
            required: field.required,
            description: field.description,
            allowed_values: field.allowed_values,
            custom_values_allowed: field.custom_values_allowed,
        });
    }
    violations.finish()?;
    // Entries that say nothing are not stored.
    rules.retain(|rule| {
        *rule
            != PolicyField {
                field: rule.field.clone(),
                ..PolicyField::default()
            }
    });
    Ok(rules)
}

fn settings_to_proto(customer_id: CustomerId, settings: &Settings) -> LicensingSettings {
    LicensingSettings {
        name: format!("customers/{customer_id}/licensingSettings"),
        quarantine_after_days: settings.quarantine_after_days,
        metering_period_days: settings.metering_period_days,
        allow_incomplete_licenses: settings.allow_incomplete_licenses,
        etag: revision_etag(settings.revision),
    }
}

#[tonic::async_trait]
impl LicensePolicyService for PolicyApi {
    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_license_policy(
        &self,
        request: Request<GetLicensePolicyRequest>,
    ) -> Result<Response<LicensePolicy>, Status> {
        let token = token(&request)?;
        let customer_id = singleton("name", &request.get_ref().name, "licensePolicy")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let policy = settings::policy(&**client, customer_id).await?;
        Ok(Response::new(policy_to_proto(customer_id, policy)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_license_policy(
        &self,
        request: Request<UpdateLicensePolicyRequest>,
    ) -> Result<Response<LicensePolicy>, Status> {
        let token = token(&request)?;
        let Some(policy) = request.into_inner().policy else {
            return Err(ApiError::invalid("policy", "is required").into());
        };
        let customer_id = singleton("policy.name", &policy.name, "licensePolicy")?;
        let expected = revision_from_etag("policy.etag", &policy.etag)?;
        let rules = validate_policy(policy.fields)?;
        self.0
            .authorize(&token, customer_id, Access::Write, "policy.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        settings::put_policy(&transaction, customer_id, &rules, expected)
            .await?
            .ok_or_else(|| etag_mismatch(policy.name.clone()))?;
        let stored = settings::policy(&transaction, customer_id).await?;
        commit(transaction).await?;
        Ok(Response::new(policy_to_proto(customer_id, stored)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_licensing_settings(
        &self,
        request: Request<GetLicensingSettingsRequest>,
    ) -> Result<Response<LicensingSettings>, Status> {
        let token = token(&request)?;
        let customer_id = singleton("name", &request.get_ref().name, "licensingSettings")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = settings::get(&**client, customer_id).await?;
        Ok(Response::new(settings_to_proto(customer_id, &settings)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_licensing_settings(
        &self,
        request: Request<UpdateLicensingSettingsRequest>,
    ) -> Result<Response<LicensingSettings>, Status> {
        let token = token(&request)?;
        let Some(settings) = request.into_inner().settings else {
            return Err(ApiError::invalid("settings", "is required").into());
        };
        let customer_id = singleton("settings.name", &settings.name, "licensingSettings")?;
        let expected = revision_from_etag("settings.etag", &settings.etag)?;
        let mut violations = Violations::new();
        for (field, value) in [
            (
                "settings.quarantine_after_days",
                settings.quarantine_after_days,
            ),
            (
                "settings.metering_period_days",
                settings.metering_period_days,
            ),
        ] {
            if !(1..=3650).contains(&value) {
                violations.add(field, format!("must be 1..3650 days, got {value}"));
            }
        }
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "settings.name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let wanted = Settings {
            quarantine_after_days: settings.quarantine_after_days,
            metering_period_days: settings.metering_period_days,
            allow_incomplete_licenses: settings.allow_incomplete_licenses,
            revision: 0,
        };
        // Revision 0 (never stored) matches only while no row exists.
        let stored = settings::put(
            &**client,
            customer_id,
            &wanted,
            expected,
            self.0.clock.now(),
        )
        .await?
        .ok_or_else(|| etag_mismatch(settings.name.clone()))?;
        Ok(Response::new(settings_to_proto(customer_id, &stored)))
    }
}
