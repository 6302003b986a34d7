//! Bulk ingestion of beacon uploads: the hot path that feeds the estate.
//!
//! An upload is validated record by record as it streams in and kept in
//! memory, compactly (an installation is two 4-byte indexes); nothing is
//! written and no database connection is held while the beacon sends.
//! Only once the stream has ended, and only if every record was valid, is
//! the upload written in one transaction: computers and users with
//! multi-row upserts, installations with binary COPY (they are ~20x more
//! numerous), usage with multi-row upserts. So an upload with a malformed
//! record stores nothing (a beacon snapshot half stored would replace a
//! computer's good installation list with a partial one), and a beacon
//! that stops sending holds nothing but its own memory until its deadline.
//! Validation keeps going after the first bad record, so the beacon learns
//! about (up to [`MAX_REPORTED`]) bad records at once.

use estate_proto::names::CustomerId;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use estate_db::DbError;
use estate_errors::{ApiError, FieldViolation};
use estate_proto::licensing::{ComputerKind, InventoryRecord, Machine, inventory_record};

pub use crate::db::inventory::Counts;
use crate::db::inventory::Reference;
use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

/// The bounds on uploads: how long a beacon may pause between messages
/// and take in all, how many records one upload may hold (they are kept
/// in memory until the stream ends), and how many uploads run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Longest wait for the next message (the first one included).
    pub message_timeout: std::time::Duration,
    /// Longest whole upload, from the call to its last message.
    pub upload_timeout: std::time::Duration,
    /// Most records in one upload.
    pub max_records: usize,
    /// Most records all uploads in progress hold in memory at once.
    pub max_buffered_records: usize,
    /// Most uploads in progress in this process.
    pub max_uploads: usize,
    /// Most uploads in progress into one customer's estate.
    pub max_uploads_per_customer: usize,
    /// Most uploads in progress by one calling organization (a partner
    /// uploading for many customers counts once).
    pub max_uploads_per_caller: usize,
}

impl Default for IngestLimits {
    /// 30 s between messages, 10 minutes in all, 1,000,000 records (an
    /// estate of 50,000 computers with 20 installations each; larger ones
    /// upload in parts), 4,000,000 records held at once (about 100 MB), 32
    /// uploads at once, 2 per customer, 4 per caller.
    fn default() -> Self {
        Self {
            message_timeout: std::time::Duration::from_secs(30),
            upload_timeout: std::time::Duration::from_secs(600),
            max_records: 1_000_000,
            max_buffered_records: 4_000_000,
            max_uploads: 32,
            max_uploads_per_customer: 2,
            max_uploads_per_caller: 4,
        }
    }
}

/// At most this many bad records are named in the error.
pub const MAX_REPORTED: usize = 100;

/// Rows written per statement when the upload is stored.
const WRITE_CHUNK: usize = 5000;

/// What records may reference, read once before the records arrive.
#[derive(Debug)]
pub struct Facts {
    root_id: Uuid,
    nodes: HashSet<Uuid>,
    applications: Vec<Uuid>,
}

impl Facts {
    /// The customer's root node (created on first use), nodes and catalog.
    pub async fn load(
        client: &impl GenericClient,
        customer_id: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<Self, DbError> {
        let root = crate::db::nodes::ensure_root(client, customer_id, now).await?;
        let nodes = crate::db::nodes::ids(client, customer_id).await?;
        let applications = crate::db::catalog::ids(client, customer_id).await?;
        Ok(Self {
            root_id: root.id,
            nodes: nodes.into_iter().collect(),
            applications,
        })
    }
}

/// A computer record, validated.
struct ComputerRow {
    hostname: String,
    node_id: Uuid,
    kind: &'static str,
    processors: i32,
    cores: i32,
    reference: Reference,
}

/// A usage record, validated.
struct UsageRow {
    username: String,
    application: u32,
    last_used: DateTime<Utc>,
}

/// The state of one upload while it arrives.
pub struct Upload {
    customer_id: CustomerId,
    scan_time: DateTime<Utc>,
    now: DateTime<Utc>,
    root_id: Uuid,
    nodes: HashSet<Uuid>,
    /// The catalog: application id → its index in `application_ids`.
    applications: HashMap<Uuid, u32>,
    application_ids: Vec<Uuid>,
    /// Computers of this upload by hostname: index into `computer_rows`.
    computers: HashMap<String, u32>,
    computer_rows: Vec<ComputerRow>,
    /// (computer, application) index pairs, in arrival order.
    installations: Vec<(u32, u32)>,
    /// The same pairs, to refuse duplicates.
    installed: HashSet<u64>,
    /// Users of this upload (no id yet) or found stored (their id).
    users: HashMap<String, Option<Uuid>>,
    /// This upload's user records: username and node.
    user_rows: Vec<(String, Uuid)>,
    /// Usernames of `user_rows`, to refuse duplicates.
    reported_users: HashSet<String>,
    usage: Vec<UsageRow>,
    position: usize,
    /// Whether the record being validated was refused.
    record_refused: bool,
    violations: Vec<FieldViolation>,
    bad_records: usize,
}

/// The id in `customers/{customer}/{collection}/{id}`, when the name is
/// well formed and of `customer`.
fn parse_reference(value: &str, customer_id: CustomerId, collection: &str) -> Option<Uuid> {
    let ids = estate_proto::names::parse(value, &["customers", collection])?;
    (ids[0] == customer_id.uuid()).then_some(ids[1])
}

impl Upload {
    /// Starts an upload of `customer_id` scanned at `scan_time`.
    pub fn new(
        facts: Facts,
        customer_id: CustomerId,
        scan_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let applications = facts
            .applications
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, u32::try_from(index).unwrap_or(u32::MAX)))
            .collect();
        Self {
            customer_id,
            scan_time,
            now,
            root_id: facts.root_id,
            nodes: facts.nodes,
            applications,
            application_ids: facts.applications,
            computers: HashMap::new(),
            computer_rows: Vec::new(),
            installations: Vec::new(),
            installed: HashSet::new(),
            users: HashMap::new(),
            user_rows: Vec::new(),
            reported_users: HashSet::new(),
            usage: Vec::new(),
            position: 0,
            record_refused: false,
            violations: Vec::new(),
            bad_records: 0,
        }
    }

    /// How many records arrived so far.
    pub fn records(&self) -> usize {
        self.position
    }

    /// The customer the upload is for.
    pub fn customer_id(&self) -> CustomerId {
        self.customer_id
    }

    /// The usernames `records`' usage records name that this upload does
    /// not know yet: they may be stored users, to look up before
    /// [`Self::add`].
    pub fn unknown_users(&self, records: &[InventoryRecord]) -> Vec<String> {
        let mut unknown: Vec<String> = records
            .iter()
            .filter_map(|record| match &record.kind {
                Some(inventory_record::Kind::Usage(usage))
                    if !self.users.contains_key(&usage.username) =>
                {
                    Some(usage.username.clone())
                }
                _ => None,
            })
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        unknown
    }

    /// Learns stored users (username, id) found for [`Self::unknown_users`].
    pub fn learn_users(&mut self, found: impl IntoIterator<Item = (String, Uuid)>) {
        for (username, id) in found {
            self.users.entry(username).or_insert(Some(id));
        }
    }

    /// Validates one message's records and keeps the good ones.
    pub fn add(&mut self, records: Vec<InventoryRecord>) {
        for record in records {
            self.validate(record);
        }
    }

    /// What to write, or the error naming the bad records.
    pub fn finish(self) -> Result<Staged, ApiError> {
        if self.bad_records == 0 {
            return Ok(Staged(self));
        }
        let mut violations = self.violations;
        if self.bad_records > violations.len() {
            violations.push(FieldViolation::new(
                "records",
                format!(
                    "{} bad records in all; the first {} are named; nothing was stored",
                    self.bad_records, MAX_REPORTED
                ),
            ));
        }
        Err(ApiError::InvalidArgument(violations))
    }

    fn refuse(&mut self, position: usize, field: &str, description: impl Into<String>) {
        self.record_refused = true;
        if self.violations.len() < MAX_REPORTED {
            self.violations.push(FieldViolation::new(
                format!("records[{position}]{field}"),
                description,
            ));
        }
    }

    fn node(&mut self, position: usize, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            return Some(self.root_id);
        }
        let node = parse_reference(value, self.customer_id, "nodes")
            .filter(|node| self.nodes.contains(node));
        if node.is_none() {
            self.refuse(
                position,
                field,
                format!(
                    "names no node of this customer: {}",
                    estate_errors::quote(value)
                ),
            );
        }
        node
    }

    fn application(&mut self, position: usize, field: &str, value: &str) -> Option<u32> {
        let application = parse_reference(value, self.customer_id, "applications")
            .and_then(|application| self.applications.get(&application).copied());
        if application.is_none() {
            self.refuse(
                position,
                field,
                format!(
                    "names no application of this customer's catalog: {}",
                    estate_errors::quote(value)
                ),
            );
        }
        application
    }

    /// Validates one record and keeps it, or counts it as bad.
    fn validate(&mut self, record: InventoryRecord) {
        let position = self.position;
        self.position += 1;
        self.record_refused = false;
        match record.kind {
            None => {
                self.refuse(
                    position,
                    "",
                    "is empty: set computer, user, installation or usage",
                );
            }
            Some(inventory_record::Kind::Computer(computer)) => {
                let length = computer.hostname.chars().count();
                if !(1..=255).contains(&length) {
                    self.refuse(position, ".computer.hostname", "must be 1..255 characters");
                } else if self.computers.contains_key(&computer.hostname) {
                    self.refuse(
                        position,
                        ".computer.hostname",
                        "appears in an earlier computer record of this upload",
                    );
                }
                if computer.processors < 1 {
                    self.refuse(position, ".computer.processors", "must be at least 1");
                }
                if computer.cores < computer.processors.max(1) {
                    self.refuse(position, ".computer.cores", "must be at least `processors`");
                }
                let kind = match ComputerKind::try_from(computer.kind) {
                    Ok(ComputerKind::Datacenter) => "datacenter",
                    Ok(ComputerKind::Computer | ComputerKind::Unspecified) => "computer",
                    Err(_) => {
                        self.refuse(position, ".computer.kind", "is not a ComputerKind");
                        "computer"
                    }
                };
                for (field, value) in [
                    (".computer.operating_system", &computer.operating_system),
                    (".computer.manufacturer", &computer.manufacturer),
                    (".computer.model", &computer.model),
                ] {
                    if value.chars().count() > 255 {
                        self.refuse(position, field, "must be at most 255 characters");
                    }
                }
                if !computer.ip_address.is_empty()
                    && computer.ip_address.parse::<std::net::IpAddr>().is_err()
                {
                    self.refuse(
                        position,
                        ".computer.ip_address",
                        "must be an IPv4 or IPv6 address",
                    );
                }
                let machine = match Machine::try_from(computer.machine) {
                    Ok(Machine::Physical) => "physical",
                    Ok(Machine::Virtual) => "virtual",
                    Ok(Machine::Unspecified) => "unknown",
                    Err(_) => {
                        self.refuse(position, ".computer.machine", "is not a Machine");
                        "unknown"
                    }
                };
                let node = self.node(position, ".computer.node", &computer.node);
                if let (false, Some(node_id)) = (self.record_refused, node) {
                    let index = u32::try_from(self.computer_rows.len()).unwrap_or(u32::MAX);
                    self.computers.insert(computer.hostname.clone(), index);
                    self.computer_rows.push(ComputerRow {
                        hostname: computer.hostname,
                        node_id,
                        kind,
                        processors: computer.processors,
                        cores: computer.cores,
                        reference: Reference {
                            operating_system: computer.operating_system,
                            manufacturer: computer.manufacturer,
                            model: computer.model,
                            machine,
                            ip_address: computer.ip_address,
                        },
                    });
                }
            }
            Some(inventory_record::Kind::User(user)) => {
                let length = user.username.chars().count();
                if !(1..=255).contains(&length) {
                    self.refuse(position, ".user.username", "must be 1..255 characters");
                } else if !self.reported_users.insert(user.username.clone()) {
                    self.refuse(
                        position,
                        ".user.username",
                        "appears in an earlier user record of this upload",
                    );
                }
                let node = self.node(position, ".user.node", &user.node);
                if let (false, Some(node_id)) = (self.record_refused, node) {
                    // The stored id is learned when the upload is written.
                    self.users.insert(user.username.clone(), None);
                    self.user_rows.push((user.username, node_id));
                }
            }
            Some(inventory_record::Kind::Installation(installation)) => {
                let computer = self.computers.get(&installation.hostname).copied();
                if computer.is_none() {
                    self.refuse(
                        position,
                        ".installation.hostname",
                        "names no computer reported earlier in this upload; \
                         installations follow their computer's record",
                    );
                }
                let application = self.application(
                    position,
                    ".installation.application",
                    &installation.application,
                );
                if let (Some(computer), Some(application)) = (computer, application) {
                    let pair = (u64::from(computer) << 32) | u64::from(application);
                    if self.installed.insert(pair) {
                        self.installations.push((computer, application));
                    } else {
                        self.refuse(
                            position,
                            ".installation.application",
                            "is already installed on this computer in this upload",
                        );
                    }
                }
            }
            Some(inventory_record::Kind::Usage(usage)) => {
                if !self.users.contains_key(&usage.username) {
                    self.refuse(
                        position,
                        ".usage.username",
                        "names no user of this upload or stored before",
                    );
                }
                let application =
                    self.application(position, ".usage.application", &usage.application);
                let last_used = usage
                    .last_used_time
                    .as_ref()
                    .and_then(estate_proto::time::from_timestamp);
                if last_used.is_none() {
                    self.refuse(position, ".usage.last_used_time", "is required");
                }
                if let (false, Some(application), Some(last_used)) =
                    (self.record_refused, application, last_used)
                {
                    self.usage.push(UsageRow {
                        username: usage.username,
                        application,
                        last_used,
                    });
                }
            }
        }
        if self.record_refused {
            self.bad_records += 1;
        }
    }
}

/// A whole valid upload, ready to be written.
pub struct Staged(Upload);

impl Staged {
    /// Writes the upload in `transaction`.
    pub async fn write(self, transaction: &Transaction<'_>) -> Result<Counts, DbError> {
        let mut upload = self.0;
        let computer_ids = write_computers(&upload, transaction).await?;
        write_users(&mut upload, transaction).await?;
        copy_installations(&upload, &computer_ids, transaction).await?;
        write_usage(&upload, transaction).await?;
        let count = |rows: usize| i64::try_from(rows).unwrap_or(i64::MAX);
        Ok(Counts {
            computers: count(upload.computer_rows.len()),
            users: count(upload.user_rows.len()),
            installations: count(upload.installations.len()),
            usage_records: count(upload.usage.len()),
        })
    }
}

/// Upserts the upload's computers and removes the earlier installations
/// of those already stored (a computer record is a snapshot); returns
/// each computer's stored id, in record order.
async fn write_computers(
    upload: &Upload,
    transaction: &Transaction<'_>,
) -> Result<Vec<Uuid>, DbError> {
    let mut stored = Vec::with_capacity(upload.computer_rows.len());
    for rows in upload.computer_rows.chunks(WRITE_CHUNK) {
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        let hostnames: Vec<&str> = rows.iter().map(|row| row.hostname.as_str()).collect();
        let nodes: Vec<Uuid> = rows.iter().map(|row| row.node_id).collect();
        let kinds: Vec<&str> = rows.iter().map(|row| row.kind).collect();
        let processors: Vec<i32> = rows.iter().map(|row| row.processors).collect();
        let cores: Vec<i32> = rows.iter().map(|row| row.cores).collect();
        let reference = |field: fn(&Reference) -> &str| -> Vec<&str> {
            rows.iter().map(|row| field(&row.reference)).collect()
        };
        let systems = reference(|r| &r.operating_system);
        let manufacturers = reference(|r| &r.manufacturer);
        let models = reference(|r| &r.model);
        let machines = reference(|r| r.machine);
        let addresses = reference(|r| &r.ip_address);
        let returned = transaction
            .query(
                include_str!("../sql/upsert_computers.sql"),
                &[
                    &upload.customer_id,
                    &upload.scan_time,
                    &upload.now,
                    &ids,
                    &hostnames,
                    &nodes,
                    &kinds,
                    &processors,
                    &cores,
                    &systems,
                    &manufacturers,
                    &models,
                    &machines,
                    &addresses,
                ],
            )
            .await?;
        let mut by_hostname: HashMap<&str, Uuid> = HashMap::with_capacity(returned.len());
        let mut rescanned = Vec::new();
        for row in &returned {
            let id: Uuid = row.get(1);
            by_hostname.insert(row.get(0), id);
            if !row.get::<_, bool>(2) {
                rescanned.push(id);
            }
        }
        for row in rows {
            let id = by_hostname
                .get(row.hostname.as_str())
                .copied()
                .ok_or(DbError::Conflict)?;
            stored.push(id);
        }
        if !rescanned.is_empty() {
            transaction
                .execute(
                    "DELETE FROM installations WHERE customer_id = $1 AND computer_id = ANY($2)",
                    &[&upload.customer_id, &rescanned],
                )
                .await?;
        }
    }
    Ok(stored)
}

/// Upserts the upload's users and learns their stored ids.
async fn write_users(upload: &mut Upload, transaction: &Transaction<'_>) -> Result<(), DbError> {
    for rows in upload.user_rows.chunks(WRITE_CHUNK) {
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        let usernames: Vec<&str> = rows.iter().map(|row| row.0.as_str()).collect();
        let nodes: Vec<Uuid> = rows.iter().map(|row| row.1).collect();
        let returned = transaction
            .query(
                "INSERT INTO users AS u (customer_id, id, username, node_id, create_time, update_time)
                 SELECT $1, t.id, t.username, t.node_id, $2, $2
                 FROM unnest($3::uuid[], $4::text[], $5::uuid[]) AS t(id, username, node_id)
                 ON CONFLICT (customer_id, username) DO UPDATE
                 SET node_id = excluded.node_id, update_time = excluded.update_time
                 RETURNING username, id",
                &[&upload.customer_id, &upload.now, &ids, &usernames, &nodes],
            )
            .await?;
        for row in returned {
            upload.users.insert(row.get(0), Some(row.get(1)));
        }
    }
    Ok(())
}

async fn copy_installations(
    upload: &Upload,
    computer_ids: &[Uuid],
    transaction: &Transaction<'_>,
) -> Result<(), DbError> {
    if upload.installations.is_empty() {
        return Ok(());
    }
    let sink = transaction
        .copy_in("COPY installations (customer_id, computer_id, application_id) FROM STDIN BINARY")
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::UUID, Type::UUID, Type::UUID]);
    pin_mut!(writer);
    for (computer, application) in &upload.installations {
        let computer_id = computer_ids[*computer as usize];
        let application_id = upload.application_ids[*application as usize];
        writer
            .as_mut()
            .write(&[&upload.customer_id, &computer_id, &application_id])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

async fn write_usage(upload: &Upload, transaction: &Transaction<'_>) -> Result<(), DbError> {
    // The latest record of a (user, application) pair wins: ON CONFLICT
    // cannot touch a row twice in one statement.
    let mut latest: HashMap<(Uuid, u32), DateTime<Utc>> = HashMap::new();
    for row in &upload.usage {
        let user = upload
            .users
            .get(&row.username)
            .copied()
            .flatten()
            .ok_or(DbError::Conflict)?;
        let entry = latest
            .entry((user, row.application))
            .or_insert(row.last_used);
        *entry = (*entry).max(row.last_used);
    }
    let latest: Vec<((Uuid, u32), DateTime<Utc>)> = latest.into_iter().collect();
    for rows in latest.chunks(WRITE_CHUNK) {
        let users: Vec<Uuid> = rows.iter().map(|((user, _), _)| *user).collect();
        let applications: Vec<Uuid> = rows
            .iter()
            .map(|((_, application), _)| upload.application_ids[*application as usize])
            .collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|(_, time)| *time).collect();
        transaction
            .execute(
                "INSERT INTO application_usage AS u (customer_id, user_id, application_id, last_used_time)
                 SELECT $1, t.user_id, t.application_id, t.last_used_time
                 FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[])
                      AS t(user_id, application_id, last_used_time)
                 ON CONFLICT (customer_id, user_id, application_id) DO UPDATE
                 SET last_used_time = greatest(u.last_used_time, excluded.last_used_time)",
                &[&upload.customer_id, &users, &applications, &times],
            )
            .await?;
    }
    Ok(())
}
