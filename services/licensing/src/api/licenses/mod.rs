//! `estate.licensing.v1.LicensesService`. Conversions to and from the
//! contract are in `convert`.

mod convert;

use estate_auth::Access;
use std::collections::{BTreeSet, HashMap};

use estate_db::{Created, DbError, RequestKey, SortedPage, commit, transaction};
use estate_errors::{ApiError, FieldViolation, Violations};
use estate_proto::fields::{check_etag, fingerprint, request_id};
use estate_proto::licensing::licenses_service_server::LicensesService;
use estate_proto::licensing::{
    ArchiveLicenseRequest, ArchiveLicenseResponse, AssignLicenseRequest,
    Assignment as ProtoAssignment, AssignmentAlert, CreateLicenseRequest, DeleteLicenseRequest,
    DeleteLicenseResponse, GetLicenseRequest, License as ProtoLicense, ListAssignmentsRequest,
    ListAssignmentsResponse, ListLicensesRequest, ListLicensesResponse,
    SetLicenseAllocationsRequest, UnarchiveLicenseRequest, UnarchiveLicenseResponse,
    UnassignLicenseRequest, UnassignLicenseResponse, UpdateLicenseRequest,
};
use estate_proto::licensing::{
    ImportLicensesRequest, ImportLicensesResponse, ImportMode, ImportProblem,
};
use estate_proto::names::{AssignmentName, CustomerId, LicenseId};
use tokio_postgres::GenericClient;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::license_import;
use super::{
    Licenses, child_name, customer_id, mask_paths, name, not_found, optional_reference, reference,
    token,
};
use crate::db::assignments::{self as assignment_store};
use crate::db::licenses::{self, License, ListFilter};
use crate::db::{agreements, catalog, nodes, settings};
use crate::rules::archive;
use crate::rules::assignments::{Consumer, LicenseFacts, Refusal as AssignRefusal, may_assign};
use crate::rules::licenses::{self as rules, Draft, Quantity};
use crate::rules::references::{
    AgreementFacts, ApplicationFacts, BaseFacts, Found, check_references,
};

use convert::{assignment_to_proto, parse, to_proto};
pub(crate) use convert::{metric_column, metric_proto};

/// The most invalid-assignment verdicts one ListAssignments page reads.
const MAX_ALERTS: i64 = 10_000;

/// Fields an update may change.
const UPDATABLE: &[&str] = &[
    "application",
    "family",
    "metric",
    "assignment_type",
    "quantity",
    "legal_owner",
    "purchase_date",
    "price",
    "vendor",
    "invoice_reference",
    "custom_fields",
    "automatic_allocation",
    "downgrade_rights",
    "minimum_per_computer",
    "upgrade_of",
    "subscription",
    "agreement",
];

/// The customer and license of `customers/{customer}/licenses/{license}`
/// in `field`.
fn parse_license_name(field: &str, value: &str) -> Result<(CustomerId, LicenseId), ApiError> {
    let (customer_id, id) = child_name(field, value, "licenses")?;
    Ok((customer_id, LicenseId::from_uuid(id)))
}

/// Checks what `draft` references within the customer (application,
/// family, legal owner, agreement, bases) and applies the policy and the
/// completeness rule. Returns the missing fields to store.
async fn check_draft(
    client: &impl GenericClient,
    customer_id: CustomerId,
    license_id: LicenseId,
    draft: &Draft,
) -> Result<Vec<String>, ApiError> {
    let application = match draft.application_id {
        Some(id) => catalog::get(client, customer_id, id).await?,
        None => None,
    };
    let family = match draft.family_id {
        Some(id) => catalog::get_family(client, customer_id, id)
            .await?
            .is_some(),
        None => false,
    };
    let legal_owner = match draft.legal_owner_id {
        Some(id) => nodes::get(client, customer_id, id).await?,
        None => None,
    };
    let agreement = match draft.agreement_id {
        Some(id) => agreements::get(client, customer_id, id).await?,
        None => None,
    };
    let mut bases = HashMap::new();
    for (base_id, _) in &draft.upgrade_of {
        // Upgrade links name their bases by the UUID the rules compare.
        let base_id = LicenseId::from_uuid(*base_id);
        if base_id == license_id {
            continue;
        }
        if let Some(base) = licenses::get(client, customer_id, base_id).await? {
            let taken_by_others =
                licenses::taken_from_base(client, customer_id, base_id, license_id).await?;
            bases.insert(
                base_id.uuid(),
                BaseFacts {
                    archived: base.archived,
                    quantity: base.draft.quantity,
                    taken_by_others,
                },
            );
        }
    }
    let found = Found {
        application: application.as_ref().map(|found| ApplicationFacts {
            display_name: &found.display_name,
            default_metric: &found.default_metric,
        }),
        family,
        legal_owner: legal_owner.map(|node| node.legal),
        agreement: agreement.as_ref().map(|found| AgreementFacts {
            kind: &found.kind,
            archived: found.archived,
            period: found.period,
            offer_outside_period: found.offer_outside_period,
        }),
        bases,
    };
    let checked = check_references(draft, license_id.uuid(), &found);
    let mut violations = Violations::new();
    for (field, reason) in checked.violations {
        violations.add(field, reason);
    }
    let bases_unavailable = checked.bases_unavailable;
    violations.finish()?;
    let settings = settings::get(client, customer_id).await?;
    let policy = settings::policy(client, customer_id).await?;
    rules::check(
        draft,
        &policy,
        settings.allow_incomplete_licenses,
        bases_unavailable,
    )
    .map_err(|found| {
        ApiError::InvalidArgument(
            found
                .into_iter()
                .map(|(field, description)| FieldViolation::new(field, description))
                .collect(),
        )
    })
}

/// Overwrites the fields of `stored` named by `paths` with `update`'s.
fn merge(stored: &mut Draft, update: Draft, paths: &[String]) {
    for path in paths {
        match path.as_str() {
            "application" => stored.application_id = update.application_id,
            "family" => stored.family_id = update.family_id,
            "metric" => stored.metric = update.metric,
            "assignment_type" => stored.assignment_type = update.assignment_type,
            "quantity" => stored.quantity = update.quantity,
            "legal_owner" => stored.legal_owner_id = update.legal_owner_id,
            "purchase_date" => stored.purchase_date = update.purchase_date,
            "price" => stored.price = update.price.clone(),
            "vendor" => stored.vendor = update.vendor.clone(),
            "invoice_reference" => stored.invoice_reference = update.invoice_reference.clone(),
            "custom_fields" => stored.custom_fields = update.custom_fields.clone(),
            "automatic_allocation" => stored.automatic_allocation = update.automatic_allocation,
            "downgrade_rights" => stored.downgrade_rights = update.downgrade_rights,
            "minimum_per_computer" => stored.minimum_per_computer = update.minimum_per_computer,
            "upgrade_of" => stored.upgrade_of = update.upgrade_of.clone(),
            "subscription" => stored.subscription = update.subscription,
            "agreement" => stored.agreement_id = update.agreement_id,
            _ => {}
        }
    }
}

fn precondition(violation: &'static str, subject: String, description: String) -> ApiError {
    ApiError::FailedPrecondition {
        violation,
        subject,
        description,
    }
}

/// FAILED_PRECONDITION for license `name` refused archiving or
/// unarchiving.
fn archive_refused(refusal: archive::Refusal, customer_id: CustomerId, name: &str) -> ApiError {
    let (violation, description) = match refusal {
        archive::Refusal::Archived => {
            ("ALREADY_ARCHIVED", "the license is archived already".into())
        }
        archive::Refusal::Live => ("NOT_ARCHIVED", "the license is not archived".into()),
        archive::Refusal::ConnectedLeftOut(left_out) => (
            "CONNECTED_LICENSES_ARCHIVED",
            format!(
                "base or upgrade licenses {} are archived too; unarchive them together \
                 (include_connected_licenses)",
                names(customer_id, "licenses", &left_out).join(", ")
            ),
        ),
    };
    precondition(violation, name.to_string(), description)
}

async fn locked(
    client: &impl GenericClient,
    customer_id: CustomerId,
    id: LicenseId,
    license_name: &str,
) -> Result<License, ApiError> {
    licenses::lock(client, customer_id, id)
        .await?
        .ok_or_else(|| not_found("license", license_name))
}

fn names(customer_id: CustomerId, collection: &str, ids: &[Uuid]) -> Vec<String> {
    let mut names: Vec<String> = ids
        .iter()
        .map(|id| name(customer_id, collection, *id))
        .collect();
    names.sort();
    names
}

/// Stores a license from `draft` once per request key (a retry gets what
/// the first call stored): the same checks for CreateLicense and every row
/// of ImportLicenses.
async fn store_license_once(
    client: &impl GenericClient,
    customer_id: CustomerId,
    key: Option<&RequestKey>,
    draft: &Draft,
    request_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Created<License>, ApiError> {
    let id = LicenseId::from_uuid(Uuid::now_v7());
    estate_db::create_once(
        client,
        key,
        now,
        |id| async move { Ok::<_, ApiError>(licenses::get(client, customer_id, id).await?) },
        || async move {
            let missing = check_draft(client, customer_id, id, draft).await?;
            licenses::save(client, customer_id, id, draft, &missing, request_id, now).await?;
            Ok(licenses::get(client, customer_id, id)
                .await?
                .ok_or(DbError::Conflict)?)
        },
        |license| license.id,
    )
    .await
}

/// A row's field violations, with `license.` left off the field.
fn row_problems(
    line: u64,
    violations: Vec<estate_errors::FieldViolation>,
) -> impl Iterator<Item = license_import::Problem> {
    violations.into_iter().map(move |violation| {
        let field = violation
            .field
            .strip_prefix("license.")
            .unwrap_or(&violation.field)
            .to_string();
        (line, field, violation.description)
    })
}

fn import_response(
    rows: i64,
    licenses: Vec<String>,
    problems: Vec<license_import::Problem>,
) -> ImportLicensesResponse {
    ImportLicensesResponse {
        rows,
        licenses,
        problems: problems
            .into_iter()
            .map(|(line, field, description)| ImportProblem {
                line: line as i64,
                field,
                description,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl LicensesService for Licenses {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_license(
        &self,
        request: Request<CreateLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            customer_id,
            "CreateLicense",
            request_id,
            fingerprint(&CreateLicenseRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let Some(license) = message.license else {
            return Err(ApiError::invalid("license", "is required").into());
        };
        let (draft, violations) = parse(&license, customer_id);
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations).into());
        }
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;

        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let outcome = store_license_once(
            &transaction,
            customer_id,
            key.as_ref(),
            &draft,
            request_id,
            now,
        )
        .await?;
        let created = match outcome {
            Created::New(created) => created,
            Created::Replayed(existing) => return Ok(Response::new(to_proto(existing))),
        };
        commit(transaction).await?;
        tracing::info!(license = %created.id, %customer_id, incomplete = created.incomplete, "license created");
        Ok(Response::new(to_proto(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn import_licenses(
        &self,
        request: Request<tonic::Streaming<ImportLicensesRequest>>,
    ) -> Result<Response<ImportLicensesResponse>, Status> {
        let token = token(&request)?;
        let mut stream = request.into_inner();
        // An import is an upload: the ingest bounds on waiting apply.
        let limits = &self.0.ingest;
        let deadline = tokio::time::Instant::now() + limits.upload_timeout;
        let first = super::inventory::next_message(&mut stream, limits, deadline)
            .await?
            .ok_or_else(|| Status::from(ApiError::invalid("parent", "is required")))?;
        let customer_id = customer_id("parent", &first.parent)?;
        let import_id = request_id(&first.import_id)?
            .map(str::to_owned)
            .filter(|id| id.chars().count() <= 100)
            .ok_or_else(|| ApiError::invalid("import_id", "is required, 1..100 characters"))?;
        let good_rows = first.mode() == ImportMode::GoodRows;
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        // The file arrives whole before any connection is taken.
        let mut csv = first.csv;
        while let Some(message) =
            super::inventory::next_message(&mut stream, limits, deadline).await?
        {
            csv.extend(message.csv);
            if csv.len() > license_import::MAX_BYTES {
                return Err(ApiError::invalid(
                    "csv",
                    format!("the file exceeds {} bytes", license_import::MAX_BYTES),
                )
                .into());
            }
        }
        let (rows, mut problems, total) = match license_import::read(&csv)? {
            license_import::Read::Header(problems) => {
                return Ok(Response::new(import_response(0, Vec::new(), problems)));
            }
            license_import::Read::Rows {
                rows,
                problems,
                total,
            } => (rows, problems, total),
        };
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let mut transaction = transaction(&mut client).await?;
        let mut stored = Vec::new();
        for (line, license) in rows {
            let (draft, violations) = parse(&license, customer_id);
            if !violations.is_empty() {
                problems.extend(row_problems(line, violations));
                continue;
            }
            let key = RequestKey::of(
                customer_id,
                "ImportLicenses",
                Some(&format!("{import_id}:{line}")),
                fingerprint(&license),
            );
            // Each row in its own savepoint: a refused row leaves the
            // others as they were.
            let savepoint = transaction
                .savepoint(format!("row_{line}"))
                .await
                .map_err(estate_db::DbError::from)
                .map_err(ApiError::from)?;
            let outcome =
                store_license_once(&savepoint, customer_id, key.as_ref(), &draft, None, now).await;
            match outcome {
                Ok(created) => {
                    savepoint
                        .commit()
                        .await
                        .map_err(estate_db::DbError::from)
                        .map_err(ApiError::from)?;
                    stored.push(created.into_inner().id);
                }
                Err(ApiError::InvalidArgument(violations)) => {
                    problems.extend(row_problems(line, violations));
                    savepoint
                        .rollback()
                        .await
                        .map_err(estate_db::DbError::from)
                        .map_err(ApiError::from)?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        problems.sort_by_key(|problem| problem.0);
        if !problems.is_empty() && !good_rows {
            // All or nothing: the transaction is dropped, nothing stored.
            return Ok(Response::new(import_response(total, Vec::new(), problems)));
        }
        commit(transaction).await?;
        tracing::info!(%customer_id, import = %import_id, stored = stored.len(), bad = problems.len(), "licenses imported");
        let names = stored
            .iter()
            .map(|id| name(customer_id, "licenses", id))
            .collect();
        Ok(Response::new(import_response(total, names, problems)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_license(
        &self,
        request: Request<GetLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let token = token(&request)?;
        let license_name = request.into_inner().name;
        let (customer_id, id) = parse_license_name("name", &license_name)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let license = licenses::get(&**client, customer_id, id)
            .await?
            .ok_or_else(|| not_found("license", license_name))?;
        Ok(Response::new(to_proto(license)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_licenses(
        &self,
        request: Request<ListLicensesRequest>,
    ) -> Result<Response<ListLicensesResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let application = optional_reference(
            "application",
            &message.application,
            customer_id,
            "applications",
        )?;
        let filter = ListFilter {
            include_archived: message.include_archived,
            only_incomplete: message.only_incomplete,
            application_id: application,
        };
        let page = SortedPage::parse(
            &message.order_by,
            licenses::SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{filter:?}"),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (rows, next_page_token) = licenses::list(&**client, customer_id, filter, &page).await?;
        Ok(Response::new(ListLicensesResponse {
            licenses: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_license(
        &self,
        request: Request<UpdateLicenseRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let Some(update) = message.license else {
            return Err(ApiError::invalid("license", "is required").into());
        };
        let (customer_id, id) = parse_license_name("license.name", &update.name)?;
        let paths = mask_paths(message.update_mask, UPDATABLE)?;
        let (draft, violations) = parse(&update, customer_id);
        let relevant: Vec<FieldViolation> = violations
            .into_iter()
            .filter(|violation| {
                paths.iter().any(|path| {
                    violation.field == format!("license.{path}")
                        || violation.field.starts_with(&format!("license.{path}."))
                        || violation.field.starts_with(&format!("license.{path}["))
                })
            })
            .collect();
        if !relevant.is_empty() {
            return Err(ApiError::InvalidArgument(relevant).into());
        }
        self.0
            .authorize(&token, customer_id, Access::Write, "license.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let stored = locked(&transaction, customer_id, id, &update.name).await?;
        check_etag(&update.etag, stored.revision, update.name.clone())?;
        if stored.archived {
            return Err(precondition(
                "ARCHIVED",
                update.name,
                "an archived license is read-only; unarchive it first".into(),
            )
            .into());
        }
        let mut merged = stored.draft.clone();
        merge(&mut merged, draft, &paths);
        if let Some(Quantity::Count(count)) = merged.quantity {
            let allocated: i64 = stored
                .allocations
                .iter()
                .map(|(_, quantity)| quantity)
                .sum();
            if count < stored.assigned || count < allocated {
                return Err(precondition(
                    "QUANTITY_IN_USE",
                    update.name,
                    format!(
                        "{} are assigned and {allocated} manually allocated; \
                         the quantity cannot drop below that",
                        stored.assigned
                    ),
                )
                .into());
            }
        }
        let missing = check_draft(&transaction, customer_id, id, &merged).await?;
        licenses::save(&transaction, customer_id, id, &merged, &missing, None, now).await?;
        let saved = licenses::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("license", update.name.clone()))?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_license(
        &self,
        request: Request<DeleteLicenseRequest>,
    ) -> Result<Response<DeleteLicenseResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = parse_license_name("name", &message.name)?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let stored = locked(&transaction, customer_id, id, &message.name).await?;
        check_etag(&message.etag, stored.revision, message.name.clone())?;
        let upgrades = licenses::upgrades_of(&transaction, customer_id, &[id.uuid()]).await?;
        licenses::mark_base_missing(&transaction, customer_id, &upgrades, now).await?;
        licenses::delete(&transaction, customer_id, id).await?;
        commit(transaction).await?;
        tracing::info!(license = %id, %customer_id, "license deleted");
        Ok(Response::new(DeleteLicenseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn archive_license(
        &self,
        request: Request<ArchiveLicenseRequest>,
    ) -> Result<Response<ArchiveLicenseResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = parse_license_name("name", &message.name)?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        locked(&transaction, customer_id, id, &message.name).await?;
        let graph = licenses::graph(&transaction, customer_id).await?;
        let plan = archive::archive(
            &graph,
            id.uuid(),
            message.include_connected_licenses,
            message.include_agreement,
        )
        .map_err(|refusal| archive_refused(refusal, customer_id, &message.name))?;
        let group = Uuid::now_v7();
        licenses::archive(&transaction, customer_id, &plan.licenses, group, now).await?;
        agreements::set_archived(
            &transaction,
            customer_id,
            &plan.agreements,
            true,
            Some(group),
            now,
        )
        .await?;
        licenses::refresh_upgrade_completeness(&transaction, customer_id, &plan.licenses, now)
            .await?;
        commit(transaction).await?;
        Ok(Response::new(ArchiveLicenseResponse {
            archived_licenses: names(customer_id, "licenses", &plan.licenses),
            archived_agreements: names(customer_id, "agreements", &plan.agreements),
            incomplete_licenses: names(customer_id, "licenses", &plan.left_incomplete),
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn unarchive_license(
        &self,
        request: Request<UnarchiveLicenseRequest>,
    ) -> Result<Response<UnarchiveLicenseResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = parse_license_name("name", &message.name)?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        locked(&transaction, customer_id, id, &message.name).await?;
        let graph = licenses::graph(&transaction, customer_id).await?;
        let plan = archive::unarchive(
            &graph,
            id.uuid(),
            message.include_archived_together,
            message.include_connected_licenses,
        )
        .map_err(|refusal| archive_refused(refusal, customer_id, &message.name))?;
        let ids = plan.licenses;
        let reconnected = licenses::unarchive(&transaction, customer_id, &ids, now).await?;
        // A license comes back to its agreement, so that agreement comes
        // back too.
        let mut restore_agreements: BTreeSet<Uuid> = plan.group_agreements.into_iter().collect();
        restore_agreements.extend(reconnected);
        let restore_agreements: Vec<Uuid> = restore_agreements.into_iter().collect();
        let unarchived_agreements = agreements::set_archived(
            &transaction,
            customer_id,
            &restore_agreements,
            false,
            None,
            now,
        )
        .await?;
        licenses::refresh_upgrade_completeness(&transaction, customer_id, &ids, now).await?;
        commit(transaction).await?;
        Ok(Response::new(UnarchiveLicenseResponse {
            unarchived_licenses: names(customer_id, "licenses", &ids),
            unarchived_agreements: names(customer_id, "agreements", &unarchived_agreements),
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn set_license_allocations(
        &self,
        request: Request<SetLicenseAllocationsRequest>,
    ) -> Result<Response<ProtoLicense>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = parse_license_name("name", &message.name)?;
        let mut violations = Violations::new();
        let mut allocations: HashMap<Uuid, i64> = HashMap::new();
        for (index, allocation) in message.allocations.iter().enumerate() {
            let field = format!("allocations[{index}]");
            let node = super::collect(
                &mut violations,
                reference(
                    &format!("{field}.node"),
                    &allocation.node,
                    customer_id,
                    "nodes",
                ),
            );
            if allocation.quantity < 1 {
                violations.add(format!("{field}.quantity"), "must be at least 1");
            }
            if let Some(node) = node
                && allocations.insert(node, allocation.quantity).is_some()
            {
                violations.add(format!("{field}.node"), "appears more than once");
            }
        }
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let license = locked(&transaction, customer_id, id, &message.name).await?;
        check_etag(&message.etag, license.revision, message.name.clone())?;
        let Some(owner) = license.draft.legal_owner_id else {
            return Err(precondition(
                "NO_LEGAL_OWNER",
                message.name,
                "set the license's legal owner before allocating it".into(),
            )
            .into());
        };
        let mut violations = Violations::new();
        for (index, allocation) in message.allocations.iter().enumerate() {
            let Some(node) = reference("node", &allocation.node, customer_id, "nodes").ok() else {
                continue;
            };
            let below =
                node != owner && nodes::is_within(&transaction, customer_id, owner, node).await?;
            if !below {
                violations.add(
                    format!("allocations[{index}].node"),
                    "must lie below the license's legal owner",
                );
            }
        }
        let total: i64 = allocations.values().sum();
        if let Some(Quantity::Count(count)) = license.draft.quantity
            && total > count
        {
            violations.add(
                "allocations",
                format!("allocate {total} in all, more than the license's {count}"),
            );
        }
        violations.finish()?;
        let mut sorted: Vec<(Uuid, i64)> = allocations.into_iter().collect();
        sorted.sort();
        licenses::replace_allocations(&transaction, customer_id, id, &sorted, now).await?;
        let saved = licenses::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("license", message.name.clone()))?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(saved)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn assign_license(
        &self,
        request: Request<AssignLicenseRequest>,
    ) -> Result<Response<ProtoAssignment>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, license_id) = parse_license_name("parent", &message.parent)?;
        let Some(assignment) = message.assignment else {
            return Err(ApiError::invalid("assignment", "is required").into());
        };
        let mut violations = Violations::new();
        let computer = super::collect(
            &mut violations,
            optional_reference(
                "assignment.computer",
                &assignment.computer,
                customer_id,
                "computers",
            ),
        )
        .flatten();
        let user = super::collect(
            &mut violations,
            optional_reference("assignment.user", &assignment.user, customer_id, "users"),
        )
        .flatten();
        if assignment.computer.is_empty() == assignment.user.is_empty() {
            violations.add("assignment", "name exactly one of computer and user");
        }
        if assignment.quantity < 1 {
            violations.add("assignment.quantity", "must be at least 1");
        }
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let license = locked(&transaction, customer_id, license_id, &message.parent).await?;
        let consumer = if computer.is_some() {
            Consumer::Computer
        } else {
            Consumer::User
        };
        let facts = LicenseFacts {
            assignment_type: license.draft.assignment_type,
            archived: license.archived,
            quantity: license.draft.quantity,
            assigned: license.assigned,
        };
        may_assign(&facts, consumer, assignment.quantity).map_err(|refusal| match refusal {
            AssignRefusal::Precondition {
                violation,
                description,
            } => precondition(violation, message.parent.clone(), description),
            AssignRefusal::Invalid { field, description } => ApiError::invalid(field, description),
        })?;
        if let Some(computer) = computer
            && crate::db::inventory::get_computer(&transaction, customer_id, computer)
                .await?
                .is_none()
        {
            return Err(ApiError::invalid(
                "assignment.computer",
                "names no computer of this customer",
            )
            .into());
        }
        if let Some(user) = user
            && crate::db::inventory::get_user(&transaction, customer_id, user)
                .await?
                .is_none()
        {
            return Err(
                ApiError::invalid("assignment.user", "names no user of this customer").into(),
            );
        }
        let stored = match assignment_store::insert(
            &transaction,
            customer_id,
            license_id,
            computer,
            user,
            assignment.quantity,
            now,
        )
        .await
        {
            Ok(stored) => stored,
            Err(DbError::UniqueViolation { .. }) => {
                return Err(ApiError::AlreadyExists {
                    resource_type: "assignment",
                    name: format!("{}{}", assignment.computer, assignment.user),
                    description: "the license is assigned to this consumer already; \
                                  unassign it to change the quantity"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(error.into()),
        };
        commit(transaction).await?;
        Ok(Response::new(assignment_to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn unassign_license(
        &self,
        request: Request<UnassignLicenseRequest>,
    ) -> Result<Response<UnassignLicenseResponse>, Status> {
        let token = token(&request)?;
        let assignment_name = request.into_inner().name;
        let target = AssignmentName::parse("name", &assignment_name)?;
        self.0
            .authorize(&token, target.customer, Access::Write, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if !assignment_store::delete(
            &**client,
            target.customer,
            target.license,
            target.assignment,
        )
        .await?
        {
            return Err(not_found("assignment", assignment_name).into());
        }
        Ok(Response::new(UnassignLicenseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, license_id) = parse_license_name("parent", &message.parent)?;
        let page = SortedPage::parse(
            &message.order_by,
            assignment_store::SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &license_id.to_string(),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if licenses::get(&**client, customer_id, license_id)
            .await?
            .is_none()
        {
            return Err(not_found("license", message.parent).into());
        }
        let (rows, next_page_token) =
            assignment_store::list(&**client, customer_id, license_id, &page).await?;
        // The latest successful run's verdicts on this license's
        // assignments, as alerts on each.
        let mut alerts: std::collections::HashMap<Uuid, Vec<AssignmentAlert>> =
            std::collections::HashMap::new();
        if let Some(run) = crate::compliance::store::latest(&**client, customer_id).await? {
            let invalid = crate::compliance::reports::invalid_assignments(
                &**client,
                customer_id,
                run.id,
                Some(license_id.uuid()),
                -1,
                MAX_ALERTS,
            )
            .await?;
            for (_, row) in invalid {
                alerts
                    .entry(row.assignment_id)
                    .or_default()
                    .push(AssignmentAlert {
                        reason: super::compliance::invalid_reason(&row.reason).into(),
                        units: row.units,
                        message: crate::rules::alerts::describe(&row.reason, row.units),
                    });
            }
        }
        Ok(Response::new(ListAssignmentsResponse {
            assignments: rows
                .into_iter()
                .map(|row| {
                    let id = row.id;
                    let mut assignment = assignment_to_proto(row);
                    assignment.alerts = alerts.remove(&id.uuid()).unwrap_or_default();
                    assignment
                })
                .collect(),
            next_page_token,
        }))
    }
}
