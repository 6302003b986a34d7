//! gRPC adapters of the licensing service: each handler authorizes the
//! caller for the customer (tenant) named in the request, validates,
//! calls storage and converts. Every storage call is scoped by that
//! customer, so an id guessed from another tenant is simply not found.

mod agreements;
mod catalog;
mod compliance;
mod compliance_export;
mod inventory;
mod license_import;
mod licenses;
mod nodes;
mod policy;
mod summary;

use estate_proto::names::{CustomerId, CustomerName};
use std::sync::Arc;

use estate_auth::{Access, CallerToken};
use estate_errors::ApiError;
use estate_proto::common::OrganizationKind;
use uuid::Uuid;

use crate::AppState;
pub use compliance::Compliance;

/// `LicensesService`.
#[derive(Debug, Clone)]
pub struct Licenses(pub Arc<AppState>);
/// `OrganizationStructureService`.
#[derive(Debug, Clone)]
pub struct Nodes(pub Arc<AppState>);
/// `CatalogService`.
#[derive(Debug, Clone)]
pub struct Catalog(pub Arc<AppState>);
/// `InventoryService`.
#[derive(Debug, Clone)]
pub struct Inventory(pub Arc<AppState>);
/// `AgreementsService`.
#[derive(Debug, Clone)]
pub struct Agreements(pub Arc<AppState>);
/// `LicensePolicyService`.
#[derive(Debug, Clone)]
pub struct Policy(pub Arc<AppState>);
/// `estate.internal.v1.EstateSummaryService`.
#[derive(Debug, Clone)]
pub struct Summary(pub Arc<AppState>);

/// The caller's token, to forward to the customers service.
pub(crate) fn token<T>(request: &tonic::Request<T>) -> Result<CallerToken, ApiError> {
    Ok(estate_auth::caller(request)?.1)
}

/// The capability this service is sold as.
pub(crate) const SERVICE_CAPABILITY: &str = "sam-core";

impl AppState {
    /// `Ok` when the caller may have `access` to the data of
    /// `customer_id`; `field` names the request field it came from.
    /// Changes also need the customer to hold the SAM Core capability
    /// (FAILED_PRECONDITION `CAPABILITY_MISSING` otherwise): it is what a
    /// parent sells for this service. Reads of existing data stay.
    pub(crate) async fn authorize(
        &self,
        token: &CallerToken,
        customer_id: CustomerId,
        access: Access,
        field: &str,
    ) -> Result<(), ApiError> {
        self.authorize_for(token, customer_id, access, field, SERVICE_CAPABILITY)
            .await
    }

    /// [`Self::authorize`] where changes need `capability` instead (the
    /// SaaS source is sold as SaaS Management).
    pub(crate) async fn authorize_for(
        &self,
        token: &CallerToken,
        customer_id: CustomerId,
        access: Access,
        field: &str,
        capability: &str,
    ) -> Result<(), ApiError> {
        self.access
            .require_with_capability(
                token,
                &customer_id.to_string(),
                access,
                OrganizationKind::Customer,
                field,
                capability,
            )
            .await
    }
}

/// `customers/{uuid}` in `field`.
pub(crate) fn customer_id(field: &str, value: &str) -> Result<CustomerId, ApiError> {
    Ok(CustomerName::parse(field, value)?.customer)
}

/// The ids of `customers/{customer}/{collection}/{id}` in `field`.
pub(crate) fn child_name(
    field: &str,
    value: &str,
    collection: &str,
) -> Result<(CustomerId, Uuid), ApiError> {
    let ids = estate_proto::fields::resource_name(field, value, &["customers", collection])?;
    Ok((CustomerId::from_uuid(ids[0]), ids[1]))
}

/// The id of a `{collection}` resource of `customer_id` named in `field`;
/// a resource of another customer is refused, naming the field.
pub(crate) fn reference(
    field: &str,
    value: &str,
    customer_id: CustomerId,
    collection: &str,
) -> Result<Uuid, ApiError> {
    let (owner, id) = child_name(field, value, collection)?;
    if owner != customer_id {
        return Err(ApiError::invalid(
            field,
            format!("must name a {collection} resource of customers/{customer_id}"),
        ));
    }
    Ok(id)
}

/// Like [`reference`], with the empty string meaning none.
pub(crate) fn optional_reference(
    field: &str,
    value: &str,
    customer_id: CustomerId,
    collection: &str,
) -> Result<Option<Uuid>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    reference(field, value, customer_id, collection).map(Some)
}

pub(crate) fn name(
    customer_id: CustomerId,
    collection: &str,
    id: impl std::fmt::Display,
) -> String {
    format!("customers/{customer_id}/{collection}/{id}")
}

pub(crate) fn optional_name(customer_id: CustomerId, collection: &str, id: Option<Uuid>) -> String {
    id.map(|id| name(customer_id, collection, id))
        .unwrap_or_default()
}

/// NOT_FOUND for `name`.
pub(crate) fn not_found(resource_type: &'static str, name: impl Into<String>) -> ApiError {
    ApiError::NotFound {
        resource_type,
        name: name.into(),
    }
}

pub(crate) use estate_proto::fields::{date_string, mask_paths, optional_date};

/// The value of a validation step, or `None` with its violations added to
/// `violations`, so one response names every bad field.
pub(crate) fn collect<T>(
    violations: &mut estate_errors::Violations,
    result: Result<T, ApiError>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(ApiError::InvalidArgument(found)) => {
            for violation in found {
                violations.add(violation.field, violation.description);
            }
            None
        }
        Err(other) => {
            violations.add("", other.to_string());
            None
        }
    }
}
