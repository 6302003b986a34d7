//! `estate.licensing.v1.InventoryService`.

use chrono::Duration;
use estate_auth::Access;
use estate_db::{PageRequest, SortedPage, commit, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{check_etag, revision_etag};
use estate_proto::licensing::inventory_service_server::InventoryService;
use estate_proto::licensing::{
    ApplicationUsage, Computer as ProtoComputer, ComputerKind, ComputerStatus,
    DeleteComputerRequest, DeleteComputerResponse, DeleteUserRequest, DeleteUserResponse,
    GetComputerRequest, IngestInventoryRequest, IngestInventoryResponse, IngestSaasActivityRequest,
    IngestSaasActivityResponse, Installation, InventoryRecord, ListApplicationUsageRequest,
    ListApplicationUsageResponse, ListComputersRequest, ListComputersResponse,
    ListInstallationsRequest, ListInstallationsResponse, ListSaasApplicationsRequest,
    ListSaasApplicationsResponse, ListUsersRequest, ListUsersResponse, Machine, SaasActivityRecord,
    SaasApplication, UpdateComputerRequest, User as ProtoUser,
};
use estate_proto::names::CustomerId;
use estate_proto::time::{from_timestamp, to_timestamp};
use estate_server::admission::Share;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use super::{
    Inventory, child_name, collect, customer_id, mask_paths, name, not_found, reference, token,
};
use crate::db::inventory::{self, Computer, StatusFilter, User};
use crate::db::settings;
use crate::ingest::{Counts, Facts, IngestLimits, Staged, Upload};
use crate::rules::computers::{Status as DerivedStatus, status};

/// How long a received upload waits for its turn to be written.
const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Uploads may take a while; the default statement timeout is for calls.
const INGEST_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = '15min'";

fn computer_to_proto(
    computer: Computer,
    quarantine_after_days: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> ProtoComputer {
    let derived = match status(
        computer.inactive,
        computer.last_scan_time,
        quarantine_after_days,
        now,
    ) {
        DerivedStatus::Active => ComputerStatus::Active,
        DerivedStatus::Quarantined => ComputerStatus::Quarantined,
        DerivedStatus::Inactive => ComputerStatus::Inactive,
    };
    let kind = if computer.kind == "datacenter" {
        ComputerKind::Datacenter
    } else {
        ComputerKind::Computer
    };
    ProtoComputer {
        name: name(computer.customer_id, "computers", computer.id),
        hostname: computer.hostname,
        node: name(computer.customer_id, "nodes", computer.node_id),
        kind: kind.into(),
        processors: computer.processors,
        cores: computer.cores,
        status: derived.into(),
        last_scan_time: Some(to_timestamp(computer.last_scan_time)),
        inactive: computer.inactive,
        installation_count: computer.installation_count,
        etag: revision_etag(computer.revision),
        machine: match computer.reference.machine {
            "physical" => Machine::Physical,
            "virtual" => Machine::Virtual,
            _ => Machine::Unspecified,
        }
        .into(),
        operating_system: computer.reference.operating_system,
        manufacturer: computer.reference.manufacturer,
        model: computer.reference.model,
        ip_address: computer.reference.ip_address,
    }
}

fn user_to_proto(user: User) -> ProtoUser {
    ProtoUser {
        name: name(user.customer_id, "users", user.id),
        username: user.username,
        node: name(user.customer_id, "nodes", user.node_id),
    }
}

/// The next message of an upload (inventory, a license import): within
/// the message timeout and before the upload's deadline, else
/// DEADLINE_EXCEEDED (and nothing is stored).
pub(crate) async fn next_message<T>(
    stream: &mut Streaming<T>,
    limits: &IngestLimits,
    upload_deadline: Instant,
) -> Result<Option<T>, Status> {
    let message_deadline = Instant::now() + limits.message_timeout;
    let deadline = message_deadline.min(upload_deadline);
    match tokio::time::timeout_at(deadline, stream.message()).await {
        Ok(message) => message,
        Err(_) if deadline == upload_deadline => Err(Status::deadline_exceeded(format!(
            "the upload took longer than {} s, the most one upload may take; nothing was stored",
            limits.upload_timeout.as_secs()
        ))),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no message arrived within {} s; the upload was abandoned and nothing was stored",
            limits.message_timeout.as_secs()
        ))),
    }
}

/// The most records one SaaS upload carries (also the wire limit of a
/// repeated field).
const MAX_SAAS_RECORDS: usize = 1_000;

/// The SaaS records of an upload, validated; every bad value named.
fn saas_records(
    records: &[SaasActivityRecord],
) -> Result<Vec<crate::db::saas::Activity>, ApiError> {
    let mut violations = Violations::new();
    if records.len() > MAX_SAAS_RECORDS {
        violations.add(
            "records",
            format!(
                "at most {MAX_SAAS_RECORDS} records a call, got {}",
                records.len()
            ),
        );
    }
    let mut parsed = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let field = |name: &str| format!("records[{index}].{name}");
        violations.check_length(&field("application"), &record.application, 1, 255);
        violations.check_length(&field("vendor"), &record.vendor, 0, 255);
        violations.check_length(&field("username"), &record.username, 1, 255);
        let time = record
            .last_active_time
            .as_ref()
            .and_then(estate_proto::time::from_timestamp);
        match time {
            Some(last_active) => parsed.push(crate::db::saas::Activity {
                application: record.application.clone(),
                vendor: record.vendor.clone(),
                username: record.username.clone(),
                last_active,
            }),
            None => violations.add(field("last_active_time"), "is required"),
        }
    }
    violations.finish()?;
    Ok(parsed)
}

fn response(upload_id: String, replayed: bool, counts: Counts) -> IngestInventoryResponse {
    IngestInventoryResponse {
        upload_id,
        replayed,
        computers: counts.computers,
        users: counts.users,
        installations: counts.installations,
        usage_records: counts.usage_records,
    }
}

impl Inventory {
    /// Stores a received upload (`staged`), once: an upload stored before
    /// (concurrently, too) is replayed, returning `true` and what it
    /// stored. The beacon has sent everything: only now is a connection
    /// taken, by at most a quarter of the pool's worth of uploads at once.
    async fn store(
        &self,
        staged: Staged,
        customer_id: CustomerId,
        upload_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(bool, Counts), ApiError> {
        let _writing = tokio::time::timeout(WRITE_WAIT, self.0.upload_writes.acquire())
            .await
            .map_err(|_| {
                ApiError::ResourceExhausted(
                    "too many uploads are being written; nothing was stored, send it again".into(),
                )
            })?
            .map_err(ApiError::internal)?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        transaction
            .batch_execute(INGEST_STATEMENT_TIMEOUT)
            .await
            .map_err(estate_db::DbError::from)?;
        if !inventory::claim_upload(&transaction, customer_id, upload_id, now).await? {
            // The same upload, sent concurrently, was stored first.
            drop(transaction);
            let counts = inventory::find_upload(&**client, customer_id, upload_id)
                .await?
                .unwrap_or_default();
            tracing::info!(%customer_id, %upload_id, "upload replayed");
            return Ok((true, counts));
        }
        let counts = match staged.write(&transaction).await {
            Ok(counts) => counts,
            // Read when the upload began, gone by the time it is written.
            Err(estate_db::DbError::ForeignKeyViolation) => {
                return Err(ApiError::FailedPrecondition {
                    violation: "REFERENCE_DELETED",
                    subject: format!("customers/{customer_id}"),
                    description: "a node, application or user the upload names was deleted \
                                  while the upload arrived; nothing was stored, send it again"
                        .into(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        inventory::record_upload(&transaction, customer_id, upload_id, &counts).await?;
        commit(transaction).await?;
        tracing::info!(
            %customer_id,
            %upload_id,
            computers = counts.computers,
            installations = counts.installations,
            "upload ingested"
        );
        for (kind, rows) in [
            ("computers", counts.computers),
            ("users", counts.users),
            ("installations", counts.installations),
            ("usage_records", counts.usage_records),
        ] {
            metrics::counter!("estate_ingest_rows_total", "kind" => kind)
                .increment(u64::try_from(rows).unwrap_or(0));
        }
        Ok((false, counts))
    }

    /// Takes the rest of an upload whose first message brought `records`:
    /// validated into memory (whose share of the server's record budget is
    /// held until the returned permit drops), each message within its
    /// deadline; stored users the usage records name are looked up on the
    /// way, each on a connection given back at once.
    async fn receive(
        &self,
        mut upload: Upload,
        mut records: Vec<InventoryRecord>,
        stream: &mut Streaming<IngestInventoryRequest>,
        upload_deadline: Instant,
    ) -> Result<(Staged, Option<OwnedSemaphorePermit>), Status> {
        let limits = self.0.ingest;
        let customer_id = upload.customer_id();
        let mut buffered: Option<OwnedSemaphorePermit> = None;
        loop {
            if upload.records() + records.len() > limits.max_records {
                return Err(ApiError::ResourceExhausted(format!(
                    "the upload has more than {} records, the most one upload takes; \
                     send the estate in several uploads (each computer with its installations)",
                    estate_errors::thousands(limits.max_records)
                ))
                .into());
            }
            let held = u32::try_from(records.len())
                .ok()
                .and_then(|count| {
                    self.0
                        .buffered_records
                        .clone()
                        .try_acquire_many_owned(count)
                        .ok()
                })
                .ok_or_else(|| {
                    ApiError::ResourceExhausted(format!(
                        "uploads in progress hold {} records, the most this server keeps at \
                         once; nothing was stored, retry later",
                        estate_errors::thousands(limits.max_buffered_records)
                    ))
                })?;
            match &mut buffered {
                Some(permit) => permit.merge(held),
                None => buffered = Some(held),
            }
            let unknown = upload.unknown_users(&records);
            if !unknown.is_empty() {
                let client = estate_db::connection(&self.0.pool).await?;
                upload.learn_users(inventory::user_ids(&**client, customer_id, &unknown).await?);
            }
            upload.add(records);
            let Some(message) = next_message(stream, &limits, upload_deadline).await? else {
                break;
            };
            if !message.parent.is_empty() || !message.upload_id.is_empty() {
                return Err(ApiError::invalid(
                    "parent",
                    "only the first message of an upload names the customer and upload",
                )
                .into());
            }
            records = message.records;
        }
        Ok((upload.finish()?, buffered))
    }
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    /// Receives the whole upload into memory within its deadlines, holding
    /// no database connection while the beacon sends, then writes it in
    /// one transaction (see `crate::ingest`).
    #[tracing::instrument(skip_all)]
    async fn ingest_inventory(
        &self,
        request: Request<Streaming<IngestInventoryRequest>>,
    ) -> Result<Response<IngestInventoryResponse>, Status> {
        let (principal, token) = estate_auth::caller(&request)?;
        let limits = self.0.ingest;
        let upload_deadline = Instant::now() + limits.upload_timeout;
        let mut stream = request.into_inner();
        let first = next_message(&mut stream, &limits, upload_deadline)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "parent",
                    "the upload is empty; the first message names the customer",
                )
            })?;
        let customer_id = customer_id("parent", &first.parent)?;
        let mut violations = Violations::new();
        violations.check_length("upload_id", &first.upload_id, 1, 128);
        let scan_time = first.scan_time.as_ref().and_then(from_timestamp);
        if scan_time.is_none() {
            violations.add("scan_time", "is required");
        }
        violations.finish()?;
        let scan_time = scan_time.expect("validated above");
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        let caller = principal
            .organization_id
            .clone()
            .unwrap_or_else(|| principal.subject.clone());
        let _admitted = self.0.uploads.try_admit(&[
            Share {
                key: format!("customer {customer_id}"),
                max: limits.max_uploads_per_customer,
                describes: format!("into customers/{customer_id}"),
            },
            Share {
                key: format!("caller {caller}"),
                max: limits.max_uploads_per_caller,
                describes: "by the calling organization".into(),
            },
        ])?;
        let upload_id = first.upload_id;
        let now = self.0.clock.now();
        let facts = {
            let client = estate_db::connection(&self.0.pool).await?;
            if let Some(counts) = inventory::find_upload(&**client, customer_id, &upload_id).await?
            {
                tracing::info!(%customer_id, %upload_id, "upload replayed");
                return Ok(Response::new(response(upload_id, true, counts)));
            }
            Facts::load(&**client, customer_id, now).await?
        };
        let upload = Upload::new(facts, customer_id, scan_time, now);
        let (staged, _buffered) = self
            .receive(upload, first.records, &mut stream, upload_deadline)
            .await?;

        let (replayed, counts) = self.store(staged, customer_id, &upload_id, now).await?;
        Ok(Response::new(response(upload_id, replayed, counts)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_computer(
        &self,
        request: Request<GetComputerRequest>,
    ) -> Result<Response<ProtoComputer>, Status> {
        let token = token(&request)?;
        let computer_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &computer_name, "computers")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = settings::get(&**client, customer_id).await?;
        let computer = inventory::get_computer(&**client, customer_id, id)
            .await?
            .ok_or_else(|| not_found("computer", computer_name))?;
        Ok(Response::new(computer_to_proto(
            computer,
            settings.quarantine_after_days,
            self.0.clock.now(),
        )))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_computers(
        &self,
        request: Request<ListComputersRequest>,
    ) -> Result<Response<ListComputersResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let node = super::optional_reference("node", &message.node, customer_id, "nodes")?;
        let filter = match ComputerStatus::try_from(message.status) {
            Ok(ComputerStatus::Unspecified) => StatusFilter::Any,
            Ok(ComputerStatus::Active) => StatusFilter::Active,
            Ok(ComputerStatus::Quarantined) => StatusFilter::Quarantined,
            Ok(ComputerStatus::Inactive) => StatusFilter::Inactive,
            Err(_) => return Err(ApiError::invalid("status", "is not a ComputerStatus").into()),
        };
        let page = SortedPage::parse(
            &message.order_by,
            inventory::COMPUTER_SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{node:?} {filter:?}"),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let settings = settings::get(&**client, customer_id).await?;
        let now = self.0.clock.now();
        let quarantined_before = now - Duration::days(i64::from(settings.quarantine_after_days));
        let (rows, next_page_token) = inventory::list_computers(
            &**client,
            customer_id,
            filter,
            quarantined_before,
            node,
            &page,
        )
        .await?;
        Ok(Response::new(ListComputersResponse {
            computers: rows
                .into_iter()
                .map(|computer| computer_to_proto(computer, settings.quarantine_after_days, now))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_computer(
        &self,
        request: Request<UpdateComputerRequest>,
    ) -> Result<Response<ProtoComputer>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let Some(update) = message.computer else {
            return Err(ApiError::invalid("computer", "is required").into());
        };
        let (customer_id, id) = child_name("computer.name", &update.name, "computers")?;
        let paths = mask_paths(
            message.update_mask,
            &["node", "inactive", "processors", "cores", "kind"],
        )?;
        let changes = |path: &str| paths.iter().any(|changed| changed == path);
        let mut violations = Violations::new();
        let node = if changes("node") {
            collect(
                &mut violations,
                reference("computer.node", &update.node, customer_id, "nodes"),
            )
        } else {
            None
        };
        let kind = match ComputerKind::try_from(update.kind) {
            Ok(ComputerKind::Datacenter) => "datacenter",
            Ok(ComputerKind::Computer) => "computer",
            _ => {
                if changes("kind") {
                    violations.add("computer.kind", "must be COMPUTER or DATACENTER");
                }
                "computer"
            }
        };
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "computer.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let mut computer = inventory::get_computer(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("computer", update.name.clone()))?;
        check_etag(&update.etag, computer.revision, update.name.clone())?;
        if let Some(node) = node {
            super::nodes::referenced_node(&transaction, customer_id, node, "computer.node").await?;
            computer.node_id = node;
        }
        if changes("inactive") {
            computer.inactive = update.inactive;
        }
        if changes("processors") {
            computer.processors = update.processors;
        }
        if changes("cores") {
            computer.cores = update.cores;
        }
        if changes("kind") {
            computer.kind = kind.to_string();
        }
        let mut violations = Violations::new();
        if computer.processors < 1 {
            violations.add("computer.processors", "must be at least 1");
        }
        if computer.cores < computer.processors {
            violations.add("computer.cores", "must be at least `processors`");
        }
        violations.finish()?;
        inventory::update_computer(&transaction, &computer, now).await?;
        let settings = settings::get(&transaction, customer_id).await?;
        let stored = inventory::get_computer(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("computer", update.name.clone()))?;
        commit(transaction).await?;
        Ok(Response::new(computer_to_proto(
            stored,
            settings.quarantine_after_days,
            now,
        )))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_computer(
        &self,
        request: Request<DeleteComputerRequest>,
    ) -> Result<Response<DeleteComputerResponse>, Status> {
        let token = token(&request)?;
        let computer_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &computer_name, "computers")?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if !inventory::delete_computer(&**client, customer_id, id).await? {
            return Err(not_found("computer", computer_name).into());
        }
        Ok(Response::new(DeleteComputerResponse {}))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn ingest_saas_activity(
        &self,
        request: Request<IngestSaasActivityRequest>,
    ) -> Result<Response<IngestSaasActivityResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let upload_id = estate_proto::fields::request_id(&message.upload_id)?
            .map(str::to_owned)
            .ok_or_else(|| ApiError::invalid("upload_id", "is required"))?;
        let records = saas_records(&message.records)?;
        self.0
            .authorize_for(
                &token,
                customer_id,
                Access::Write,
                "parent",
                "saas-management",
            )
            .await?;
        let digest = estate_proto::fields::fingerprint(&IngestSaasActivityRequest {
            parent: String::new(),
            upload_id: String::new(),
            records: message.records.clone(),
        });
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = estate_db::transaction(&mut client).await?;
        if let Some(stored) =
            crate::db::saas::claim(&transaction, customer_id, &upload_id, &digest, now).await?
        {
            if stored.digest != digest {
                return Err(ApiError::FailedPrecondition {
                    violation: "REQUEST_ID_REUSED",
                    subject: upload_id,
                    description: "this upload id was used for other records".into(),
                }
                .into());
            }
            return Ok(Response::new(IngestSaasActivityResponse {
                upload_id,
                replayed: true,
                applications: stored.applications,
                records: stored.records,
            }));
        }
        let applications =
            crate::db::saas::store(&transaction, customer_id, &upload_id, &records, now).await?;
        estate_db::commit(transaction).await?;
        Ok(Response::new(IngestSaasActivityResponse {
            upload_id,
            replayed: false,
            applications,
            records: records.len() as i64,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_saas_applications(
        &self,
        request: Request<ListSaasApplicationsRequest>,
    ) -> Result<Response<ListSaasApplicationsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page =
            estate_db::PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let since = self.0.clock.now() - chrono::Duration::days(30);
        let mut rows = crate::db::saas::list(&**client, customer_id, since, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListSaasApplicationsResponse {
            saas_applications: rows
                .into_iter()
                .map(|row| SaasApplication {
                    name: name(customer_id, "saasApplications", row.id),
                    display_name: row.display_name,
                    vendor: row.vendor,
                    users: row.users,
                    active_users_30_days: row.active_users,
                    last_active_time: row.last_active.map(to_timestamp),
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page = SortedPage::parse(
            &message.order_by,
            inventory::USER_SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            "",
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (rows, next_page_token) = inventory::list_users(&**client, customer_id, &page).await?;
        Ok(Response::new(ListUsersResponse {
            users: rows.into_iter().map(user_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        let token = token(&request)?;
        let user_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &user_name, "users")?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if !inventory::delete_user(&**client, customer_id, id).await? {
            return Err(not_found("user", user_name).into());
        }
        Ok(Response::new(DeleteUserResponse {}))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_installations(
        &self,
        request: Request<ListInstallationsRequest>,
    ) -> Result<Response<ListInstallationsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, computer_id) = child_name("parent", &message.parent, "computers")?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if inventory::get_computer(&**client, customer_id, computer_id)
            .await?
            .is_none()
        {
            return Err(not_found("computer", message.parent).into());
        }
        let mut rows =
            inventory::list_installations(&**client, customer_id, computer_id, &page).await?;
        let next_page_token = page.finish(&mut rows, |id| *id);
        Ok(Response::new(ListInstallationsResponse {
            installations: rows
                .into_iter()
                .map(|application| Installation {
                    computer: message.parent.clone(),
                    application: name(customer_id, "applications", application),
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_application_usage(
        &self,
        request: Request<ListApplicationUsageRequest>,
    ) -> Result<Response<ListApplicationUsageResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, user_id) = child_name("parent", &message.parent, "users")?;
        let since = match &message.used_since {
            None => None,
            Some(since) => Some(
                from_timestamp(since)
                    .ok_or_else(|| ApiError::invalid("used_since", "is not a valid timestamp"))?,
            ),
        };
        let page = SortedPage::parse(
            &message.order_by,
            inventory::USAGE_SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{user_id} {since:?}"),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if inventory::get_user(&**client, customer_id, user_id)
            .await?
            .is_none()
        {
            return Err(not_found("user", message.parent).into());
        }
        let (rows, next_page_token) =
            inventory::list_usage(&**client, customer_id, user_id, since, &page).await?;
        Ok(Response::new(ListApplicationUsageResponse {
            usage: rows
                .into_iter()
                .map(|(application, last_used)| ApplicationUsage {
                    user: message.parent.clone(),
                    application: name(customer_id, "applications", application),
                    last_used_time: Some(to_timestamp(last_used)),
                })
                .collect(),
            next_page_token,
        }))
    }
}
