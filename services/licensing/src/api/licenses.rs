//! `estate.licensing.v1.LicensesService`.

use estate_auth::caller;
use estate_db::{Created, PageRequest};
use estate_errors::{ApiError, Violations};
use estate_proto::common::OrganizationKind;
use estate_proto::fields::{request_id, resource_id, resource_name};
use estate_proto::licensing::licenses_service_server::LicensesService;
use estate_proto::licensing::{
    CreateLicenseRequest, GetLicenseRequest, License as ProtoLicense, ListLicensesRequest,
    ListLicensesResponse, Metric, Quantity as ProtoQuantity, Unlimited, quantity,
};
use estate_proto::time::{etag, to_timestamp};
use tonic::{Request, Response, Status};

use super::Licenses;
use crate::db::licenses::{self as store, License, NewLicense, Quantity};

const METRICS: &[(Metric, &str)] = &[
    (Metric::Installations, "installations"),
    (Metric::Processors, "processors"),
    (Metric::Cores, "cores"),
    (Metric::Users, "users"),
    (Metric::Devices, "devices"),
    (Metric::ConcurrentUsers, "concurrent_users"),
    (Metric::Site, "site"),
];

fn metric_column(metric: i32) -> Option<&'static str> {
    let metric = Metric::try_from(metric).ok()?;
    METRICS
        .iter()
        .find(|(known, _)| *known == metric)
        .map(|(_, column)| *column)
}

fn metric_proto(column: &str) -> Metric {
    METRICS
        .iter()
        .find(|(_, known)| *known == column)
        .map_or(Metric::Unspecified, |(metric, _)| *metric)
}

fn to_proto(license: License) -> ProtoLicense {
    let kind = match license.quantity {
        Quantity::Count(count) => quantity::Kind::Count(count),
        Quantity::Unlimited => quantity::Kind::Unlimited(Unlimited {}),
    };
    ProtoLicense {
        name: format!("customers/{}/licenses/{}", license.customer_id, license.id),
        application: license.application,
        metric: metric_proto(&license.metric).into(),
        quantity: Some(ProtoQuantity { kind: Some(kind) }),
        create_time: Some(to_timestamp(license.create_time)),
        update_time: Some(to_timestamp(license.update_time)),
        etag: etag(license.update_time),
    }
}

fn validate(license: Option<ProtoLicense>) -> Result<NewLicense, ApiError> {
    let Some(license) = license else {
        return Err(ApiError::invalid("license", "is required"));
    };
    let mut violations = Violations::new();
    violations.check_length("license.application", &license.application, 1, 512);
    let metric = metric_column(license.metric);
    if metric.is_none() {
        violations.add("license.metric", "must be set to one of the Metric values");
    }
    let quantity = match license.quantity.and_then(|quantity| quantity.kind) {
        Some(quantity::Kind::Count(count)) if count >= 1 => Some(Quantity::Count(count)),
        Some(quantity::Kind::Count(count)) => {
            violations.add(
                "license.quantity.count",
                format!("must be at least 1, got {count}; use `unlimited` for no limit"),
            );
            None
        }
        Some(quantity::Kind::Unlimited(_)) => Some(Quantity::Unlimited),
        None => {
            violations.add("license.quantity", "must be a count or unlimited");
            None
        }
    };
    violations.finish()?;
    Ok(NewLicense {
        application: license.application,
        metric: metric.expect("validated above"),
        quantity: quantity.expect("validated above"),
    })
}

#[tonic::async_trait]
impl LicensesService for Licenses {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_license(
        &self,
        request: Request<CreateLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let customer_id = resource_id("parent", &message.parent, "customers")?;
        let request_id = request_id(&message.request_id)?;
        let new = validate(message.license)?;
        self.0
            .access
            .require(
                &token,
                &customer_id.to_string(),
                true,
                OrganizationKind::Customer,
                "parent",
            )
            .await?;

        let client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let client: &tokio_postgres::Client = &client;
        let outcome = estate_db::create_once(
            request_id,
            "licenses_request_id_unique",
            |id| async move { store::find_by_request_id(client, customer_id, &id).await },
            || store::insert(client, customer_id, &new, request_id, now),
        )
        .await;
        let created = match outcome {
            Ok(Created::New(created)) => created,
            Ok(Created::Replayed(existing)) => return Ok(Response::new(to_proto(existing))),
            Err(error) => return Err(ApiError::from(error).into()),
        };
        tracing::info!(license = %created.id, customer = %customer_id, "license created");
        Ok(Response::new(to_proto(created)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_license(
        &self,
        request: Request<GetLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let (_, token) = caller(&request)?;
        let name = request.into_inner().name;
        let ids = resource_name("name", &name, &["customers", "licenses"])?;
        self.0
            .access
            .require(
                &token,
                &ids[0].to_string(),
                false,
                OrganizationKind::Customer,
                "name",
            )
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let license = store::get(&**client, ids[0], ids[1])
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound {
                resource_type: "license",
                name,
            })?;
        Ok(Response::new(to_proto(license)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_licenses(
        &self,
        request: Request<ListLicensesRequest>,
    ) -> Result<Response<ListLicensesResponse>, Status> {
        let (_, token) = caller(&request)?;
        let message = request.into_inner();
        let customer_id = resource_id("parent", &message.parent, "customers")?;
        let page = PageRequest::parse(message.page_size, &message.page_token)?;
        self.0
            .access
            .require(
                &token,
                &customer_id.to_string(),
                false,
                OrganizationKind::Customer,
                "parent",
            )
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let mut rows = store::list(&**client, customer_id, &page)
            .await
            .map_err(ApiError::from)?;
        let next_page_token = page.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListLicensesResponse {
            licenses: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
