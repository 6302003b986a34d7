//! `estate.licensing.v1.CatalogService`.

use estate_auth::Access;
use estate_db::{RequestKey, SortedPage, commit, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{check_etag, fingerprint, request_id, revision_etag};
use estate_proto::licensing::catalog_service_server::CatalogService;
use estate_proto::licensing::{
    Application as ProtoApplication, CreateApplicationRequest, Family as ProtoFamily,
    GetApplicationRequest, ListApplicationsRequest, ListApplicationsResponse, ListFamiliesRequest,
    ListFamiliesResponse, UpdateApplicationRequest,
};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::licenses::{metric_column, metric_proto};
use super::{Catalog, child_name, customer_id, mask_paths, name, not_found, token};
use crate::db::catalog::{self, Application, Family, NewApplication};
use crate::rules::versions::version_key;

fn family_to_proto(family: Family) -> ProtoFamily {
    ProtoFamily {
        name: name(family.customer_id, "families", family.id),
        manufacturer: family.manufacturer,
        display_name: family.display_name,
    }
}

fn to_proto(application: Application) -> ProtoApplication {
    ProtoApplication {
        name: name(application.customer_id, "applications", application.id),
        manufacturer: application.family.manufacturer.clone(),
        display_name: application.display_name,
        version: application.version,
        edition: application.edition,
        family_display_name: application.family.display_name.clone(),
        family: name(application.customer_id, "families", application.family.id),
        default_metric: metric_proto(&application.default_metric).into(),
        downgrade_allowed: application.downgrade_allowed,
        denied: application.denied,
        no_license_required: application.no_license_required,
        create_time: Some(to_timestamp(application.create_time)),
        update_time: Some(to_timestamp(application.update_time)),
        etag: revision_etag(application.revision),
    }
}

fn validate(application: Option<ProtoApplication>) -> Result<NewApplication, ApiError> {
    let Some(application) = application else {
        return Err(ApiError::invalid("application", "is required"));
    };
    let mut violations = Violations::new();
    violations.check_length(
        "application.manufacturer",
        &application.manufacturer,
        1,
        200,
    );
    violations.check_length(
        "application.display_name",
        &application.display_name,
        1,
        200,
    );
    violations.check_length("application.version", &application.version, 0, 64);
    violations.check_length("application.edition", &application.edition, 0, 64);
    violations.check_length(
        "application.family_display_name",
        &application.family_display_name,
        0,
        200,
    );
    let metric = metric_column(application.default_metric);
    if metric.is_none() {
        violations.add(
            "application.default_metric",
            "must be set to one of the Metric values",
        );
    }
    violations.finish()?;
    let family_display_name = if application.family_display_name.is_empty() {
        application.display_name.clone()
    } else {
        application.family_display_name
    };
    Ok(NewApplication {
        manufacturer: application.manufacturer,
        family_display_name,
        version_key: version_key(&application.version),
        display_name: application.display_name,
        version: application.version,
        edition: application.edition,
        default_metric: metric.expect("validated above"),
        downgrade_allowed: application.downgrade_allowed,
        denied: application.denied,
        no_license_required: application.no_license_required,
    })
}

#[tonic::async_trait]
impl CatalogService for Catalog {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_application(
        &self,
        request: Request<CreateApplicationRequest>,
    ) -> Result<Response<ProtoApplication>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            customer_id,
            "CreateApplication",
            request_id,
            fingerprint(&CreateApplicationRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let new = validate(message.application)?;
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        // The family and the application are made in one transaction.
        let transaction = transaction(&mut client).await?;
        let new = &new;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { catalog::get(client, customer_id, id).await },
                || async move {
                    let family = catalog::find_or_create_family(
                        client,
                        customer_id,
                        &new.manufacturer,
                        &new.family_display_name,
                    )
                    .await?;
                    catalog::insert(client, &family, new, request_id, now).await
                },
                |application| application.id,
            )
            .await
        };
        match outcome {
            Ok(created) => {
                commit(transaction).await?;
                Ok(Response::new(to_proto(created.into_inner())))
            }
            Err(estate_db::DbError::UniqueViolation { constraint })
                if constraint == "applications_identity" =>
            {
                Err(ApiError::AlreadyExists {
                    resource_type: "application",
                    name: format!("{} {} {}", new.display_name, new.version, new.edition),
                    description: "the family already has this name, version and edition".into(),
                }
                .into())
            }
            Err(error) => Err(error.into()),
        }
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_application(
        &self,
        request: Request<GetApplicationRequest>,
    ) -> Result<Response<ProtoApplication>, Status> {
        let token = token(&request)?;
        let application_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &application_name, "applications")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let application = catalog::get(&**client, customer_id, id)
            .await?
            .ok_or_else(|| not_found("application", application_name))?;
        Ok(Response::new(to_proto(application)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_applications(
        &self,
        request: Request<ListApplicationsRequest>,
    ) -> Result<Response<ListApplicationsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let family = super::optional_reference("family", &message.family, customer_id, "families")?;
        let page = SortedPage::parse(
            &message.order_by,
            catalog::SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{family:?}"),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (rows, next_page_token) = catalog::list(&**client, customer_id, family, &page).await?;
        Ok(Response::new(ListApplicationsResponse {
            applications: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_application(
        &self,
        request: Request<UpdateApplicationRequest>,
    ) -> Result<Response<ProtoApplication>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let Some(update) = message.application else {
            return Err(ApiError::invalid("application", "is required").into());
        };
        let (customer_id, id) = child_name("application.name", &update.name, "applications")?;
        let paths = mask_paths(
            message.update_mask,
            &[
                "default_metric",
                "downgrade_allowed",
                "denied",
                "no_license_required",
            ],
        )?;
        let changes = |path: &str| paths.iter().any(|changed| changed == path);
        let metric = if changes("default_metric") {
            Some(metric_column(update.default_metric).ok_or_else(|| {
                ApiError::invalid(
                    "application.default_metric",
                    "must be set to one of the Metric values",
                )
            })?)
        } else {
            None
        };
        self.0
            .authorize(&token, customer_id, Access::Write, "application.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let mut application = catalog::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("application", update.name.clone()))?;
        check_etag(&update.etag, application.revision, update.name.clone())?;
        if let Some(metric) = metric {
            application.default_metric = metric.to_string();
        }
        if changes("downgrade_allowed") {
            application.downgrade_allowed = update.downgrade_allowed;
        }
        if changes("denied") {
            application.denied = update.denied;
        }
        if changes("no_license_required") {
            application.no_license_required = update.no_license_required;
        }
        catalog::update_flags(&transaction, &application, now).await?;
        let stored = catalog::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("application", update.name.clone()))?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_families(
        &self,
        request: Request<ListFamiliesRequest>,
    ) -> Result<Response<ListFamiliesResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page = SortedPage::parse(
            &message.order_by,
            catalog::FAMILY_SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            "",
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (rows, next_page_token) = catalog::list_families(&**client, customer_id, &page).await?;
        Ok(Response::new(ListFamiliesResponse {
            families: rows.into_iter().map(family_to_proto).collect(),
            next_page_token,
        }))
    }
}
