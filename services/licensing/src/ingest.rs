//! Bulk ingestion of beacon uploads: the hot path that feeds the estate.
//!
//! An upload is validated record by record as it streams in, and written
//! per message in bulk: computers and users with one multi-row upsert each,
//! installations with binary COPY (they are ~20x more numerous), usage with
//! one multi-row upsert. Everything happens in one transaction, so an
//! upload with a malformed record stores nothing: a beacon snapshot that
//! is half stored would replace a computer's good installation list with a
//! partial one. Validation keeps going after the first bad record, so the
//! beacon learns about (up to [`MAX_REPORTED`]) bad records at once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use estate_db::DbError;
use estate_errors::{ApiError, FieldViolation};
use estate_proto::licensing::{ComputerKind, InventoryRecord, inventory_record};
use futures::pin_mut;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// At most this many bad records are named in the error.
pub const MAX_REPORTED: usize = 100;

/// What one upload stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub computers: i64,
    pub users: i64,
    pub installations: i64,
    pub usage_records: i64,
}

/// The state of one upload in progress.
pub struct Upload {
    customer_id: Uuid,
    scan_time: DateTime<Utc>,
    now: DateTime<Utc>,
    root_id: Uuid,
    nodes: HashSet<Uuid>,
    applications: HashSet<Uuid>,
    /// Computers of this upload by hostname: index into `computer_ids`.
    computers: HashMap<String, usize>,
    /// Stored id of each computer of this upload, once written.
    computer_ids: Vec<Uuid>,
    /// (computer index, application) pairs seen, to refuse duplicates.
    installed: HashSet<(usize, Uuid)>,
    /// Users of this upload or found stored, by username.
    users: HashMap<String, Uuid>,
    /// Users named by this upload's user records, to refuse duplicates.
    reported_users: HashSet<String>,
    position: usize,
    /// Whether the record being validated was refused.
    record_refused: bool,
    violations: Vec<FieldViolation>,
    bad_records: usize,
    counts: Counts,
}

/// One message's records, validated and ready to write.
#[derive(Default)]
struct Batch {
    computers: Vec<(usize, String, Uuid, &'static str, i32, i32)>,
    users: Vec<(String, Uuid)>,
    installations: Vec<(usize, Uuid)>,
    usage: Vec<(String, Uuid, DateTime<Utc>)>,
}

/// The id in `customers/{customer}/{collection}/{id}`, when the name is
/// well formed and of `customer`.
fn parse_reference(value: &str, customer_id: Uuid, collection: &str) -> Option<Uuid> {
    let ids = estate_proto::names::parse(value, &["customers", collection])?;
    (ids[0] == customer_id).then_some(ids[1])
}

impl Upload {
    /// Starts an upload: loads what records may reference.
    pub async fn start(
        transaction: &Transaction<'_>,
        customer_id: Uuid,
        scan_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, DbError> {
        let root = crate::db::nodes::ensure_root(transaction, customer_id, now).await?;
        let nodes = crate::db::nodes::ids(transaction, customer_id).await?;
        let applications = crate::db::catalog::ids(transaction, customer_id).await?;
        Ok(Self {
            customer_id,
            scan_time,
            now,
            root_id: root.id,
            nodes: nodes.into_iter().collect(),
            applications: applications.into_iter().collect(),
            computers: HashMap::new(),
            computer_ids: Vec::new(),
            installed: HashSet::new(),
            users: HashMap::new(),
            reported_users: HashSet::new(),
            position: 0,
            record_refused: false,
            violations: Vec::new(),
            bad_records: 0,
            counts: Counts::default(),
        })
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

    fn application(&mut self, position: usize, field: &str, value: &str) -> Option<Uuid> {
        let application = parse_reference(value, self.customer_id, "applications")
            .filter(|application| self.applications.contains(application));
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

    /// Validates one record into `batch`, or counts it as bad.
    fn validate(&mut self, record: InventoryRecord, batch: &mut Batch) {
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
                let node = self.node(position, ".computer.node", &computer.node);
                if let (false, Some(node)) = (self.record_refused, node) {
                    let index = self.computer_ids.len();
                    self.computer_ids.push(Uuid::nil());
                    self.computers.insert(computer.hostname.clone(), index);
                    batch.computers.push((
                        index,
                        computer.hostname,
                        node,
                        kind,
                        computer.processors,
                        computer.cores,
                    ));
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
                if let (false, Some(node)) = (self.record_refused, node) {
                    // The stored id is learned when the batch is written.
                    self.users.insert(user.username.clone(), Uuid::nil());
                    batch.users.push((user.username, node));
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
                    if self.installed.insert((computer, application)) {
                        batch.installations.push((computer, application));
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
                    batch.usage.push((usage.username, application, last_used));
                }
            }
        }
        if self.record_refused {
            self.bad_records += 1;
        }
    }

    /// Validates and writes one message's records. Writing stops at the
    /// first bad record; validation does not.
    pub async fn add(
        &mut self,
        transaction: &Transaction<'_>,
        records: Vec<InventoryRecord>,
    ) -> Result<(), DbError> {
        self.learn_stored_users(transaction, &records).await?;
        let mut batch = Batch::default();
        for record in records {
            self.validate(record, &mut batch);
        }
        if self.bad_records > 0 {
            return Ok(());
        }
        self.write_computers(transaction, &batch).await?;
        self.write_users(transaction, &batch).await?;
        self.copy_installations(transaction, &batch).await?;
        self.write_usage(transaction, &batch).await?;
        Ok(())
    }

    /// The counts, or the error naming the bad records.
    pub fn finish(self) -> Result<Counts, ApiError> {
        if self.bad_records == 0 {
            return Ok(self.counts);
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

    /// Adds the stored users that this message's usage records name but
    /// this upload has not reported.
    async fn learn_stored_users(
        &mut self,
        transaction: &Transaction<'_>,
        records: &[InventoryRecord],
    ) -> Result<(), DbError> {
        let unknown: Vec<&str> = records
            .iter()
            .filter_map(|record| match &record.kind {
                Some(inventory_record::Kind::Usage(usage))
                    if !self.users.contains_key(&usage.username) =>
                {
                    Some(usage.username.as_str())
                }
                _ => None,
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let rows = transaction
            .query(
                "SELECT username, id FROM users WHERE customer_id = $1 AND username = ANY($2)",
                &[&self.customer_id, &unknown],
            )
            .await?;
        for row in rows {
            self.users.insert(row.get(0), row.get(1));
        }
        Ok(())
    }

    async fn write_computers(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &Batch,
    ) -> Result<(), DbError> {
        if batch.computers.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = batch.computers.iter().map(|_| Uuid::now_v7()).collect();
        let hostnames: Vec<&str> = batch.computers.iter().map(|c| c.1.as_str()).collect();
        let nodes: Vec<Uuid> = batch.computers.iter().map(|c| c.2).collect();
        let kinds: Vec<&str> = batch.computers.iter().map(|c| c.3).collect();
        let processors: Vec<i32> = batch.computers.iter().map(|c| c.4).collect();
        let cores: Vec<i32> = batch.computers.iter().map(|c| c.5).collect();
        let rows = transaction
            .query(
                "INSERT INTO computers AS c
                     (customer_id, id, hostname, node_id, kind, processors, cores,
                      last_scan_time, inactive, revision, create_time, update_time)
                 SELECT $1, t.id, t.hostname, t.node_id, t.kind, t.processors, t.cores,
                        $2, false, 1, $3, $3
                 FROM unnest($4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::int[])
                      AS t(id, hostname, node_id, kind, processors, cores)
                 ON CONFLICT (customer_id, hostname) DO UPDATE
                 SET node_id = excluded.node_id, kind = excluded.kind,
                     processors = excluded.processors, cores = excluded.cores,
                     last_scan_time = greatest(c.last_scan_time, excluded.last_scan_time),
                     revision = c.revision + 1, update_time = excluded.update_time
                 RETURNING hostname, id, (xmax = 0) AS inserted",
                &[
                    &self.customer_id,
                    &self.scan_time,
                    &self.now,
                    &ids,
                    &hostnames,
                    &nodes,
                    &kinds,
                    &processors,
                    &cores,
                ],
            )
            .await?;
        let mut rescanned = Vec::new();
        for row in rows {
            let hostname: &str = row.get(0);
            let id: Uuid = row.get(1);
            if let Some(&index) = self.computers.get(hostname) {
                self.computer_ids[index] = id;
            }
            if !row.get::<_, bool>(2) {
                rescanned.push(id);
            }
        }
        // A computer record is a snapshot: its earlier installations go.
        if !rescanned.is_empty() {
            transaction
                .execute(
                    "DELETE FROM installations WHERE customer_id = $1 AND computer_id = ANY($2)",
                    &[&self.customer_id, &rescanned],
                )
                .await?;
        }
        self.counts.computers += i64::try_from(batch.computers.len()).unwrap_or(i64::MAX);
        Ok(())
    }

    async fn write_users(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &Batch,
    ) -> Result<(), DbError> {
        if batch.users.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = batch.users.iter().map(|_| Uuid::now_v7()).collect();
        let usernames: Vec<&str> = batch.users.iter().map(|u| u.0.as_str()).collect();
        let nodes: Vec<Uuid> = batch.users.iter().map(|u| u.1).collect();
        let rows = transaction
            .query(
                "INSERT INTO users AS u (customer_id, id, username, node_id, create_time, update_time)
                 SELECT $1, t.id, t.username, t.node_id, $2, $2
                 FROM unnest($3::uuid[], $4::text[], $5::uuid[]) AS t(id, username, node_id)
                 ON CONFLICT (customer_id, username) DO UPDATE
                 SET node_id = excluded.node_id, update_time = excluded.update_time
                 RETURNING username, id",
                &[&self.customer_id, &self.now, &ids, &usernames, &nodes],
            )
            .await?;
        for row in rows {
            self.users.insert(row.get(0), row.get(1));
        }
        self.counts.users += i64::try_from(batch.users.len()).unwrap_or(i64::MAX);
        Ok(())
    }

    async fn copy_installations(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &Batch,
    ) -> Result<(), DbError> {
        if batch.installations.is_empty() {
            return Ok(());
        }
        let sink = transaction
            .copy_in(
                "COPY installations (customer_id, computer_id, application_id) FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::UUID, Type::UUID, Type::UUID]);
        pin_mut!(writer);
        for (computer, application) in &batch.installations {
            let computer_id = self.computer_ids[*computer];
            writer
                .as_mut()
                .write(&[&self.customer_id, &computer_id, application])
                .await?;
        }
        writer.finish().await?;
        self.counts.installations += i64::try_from(batch.installations.len()).unwrap_or(i64::MAX);
        Ok(())
    }

    async fn write_usage(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &Batch,
    ) -> Result<(), DbError> {
        if batch.usage.is_empty() {
            return Ok(());
        }
        // The last record of a (user, application) pair in the batch wins
        // within one statement; ON CONFLICT cannot touch a row twice.
        let mut latest: HashMap<(Uuid, Uuid), DateTime<Utc>> = HashMap::new();
        for (username, application, last_used) in &batch.usage {
            let user = self.users[username];
            let entry = latest.entry((user, *application)).or_insert(*last_used);
            *entry = (*entry).max(*last_used);
        }
        let users: Vec<Uuid> = latest.keys().map(|key| key.0).collect();
        let applications: Vec<Uuid> = latest.keys().map(|key| key.1).collect();
        let times: Vec<DateTime<Utc>> = latest.values().copied().collect();
        transaction
            .execute(
                "INSERT INTO application_usage AS u (customer_id, user_id, application_id, last_used_time)
                 SELECT $1, t.user_id, t.application_id, t.last_used_time
                 FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[])
                      AS t(user_id, application_id, last_used_time)
                 ON CONFLICT (customer_id, user_id, application_id) DO UPDATE
                 SET last_used_time = greatest(u.last_used_time, excluded.last_used_time)",
                &[&self.customer_id, &users, &applications, &times],
            )
            .await?;
        self.counts.usage_records += i64::try_from(batch.usage.len()).unwrap_or(i64::MAX);
        Ok(())
    }
}
