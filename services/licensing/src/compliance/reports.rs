//! Reading the latest successful run's results: sorted pages for the list
//! RPCs and whole tables for CSV export. Every read names the run it reads,
//! so a page never mixes two runs.

use estate_db::{DbError, SortColumn, SortValue, SortedPage};
use estate_proto::names::CustomerId;

use super::chunks::{Chunk, NodeFigures, unpack};
use super::rows::{
    ComplianceRow, InvalidRow, LicenseRow, TransferRow, consumer_status_codes, consumer_status_of,
};
use futures::{Stream, StreamExt, pin_mut};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// Which figures table [`compliance`] lists (node rows: [`nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Application,
    Family,
}

/// Filters of `ListCompliance`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComplianceFilter {
    pub node: Option<Uuid>,
    pub family: Option<Uuid>,
    pub application: Option<Uuid>,
    pub only_shortfalls: bool,
}

/// Application and family results are read whole and sorted here (see
/// [`compliance`]): the expressions are unused.
pub const APPLICATION_SORT: &[SortColumn] = &[
    SortColumn::new("compliance", "compliance", "bigint"),
    SortColumn::new("requirement", "requirement", "bigint"),
    SortColumn::new("coverage", "coverage", "bigint"),
    SortColumn::new("application", "application_id", "uuid"),
];

pub const FAMILY_SORT: &[SortColumn] = &[
    SortColumn::new("compliance", "compliance", "bigint"),
    SortColumn::new("requirement", "requirement", "bigint"),
    SortColumn::new("coverage", "coverage", "bigint"),
    SortColumn::new("family", "family_id", "uuid"),
];

/// Node rows sort by node, then application (see [`nodes`]); the
/// expression is unused.
pub const NODE_SORT: &[SortColumn] = &[SortColumn::new("node", "r.node_id", "uuid")];

/// The stored list of `level`'s results.
fn figures_list(level: Level, customer_id: CustomerId, run_id: Uuid) -> Positioned {
    Positioned {
        table: match level {
            Level::Application => "compliance_application_results",
            Level::Family => "compliance_family_results",
        },
        customer_id,
        run_id,
    }
}

/// Every application or family result of a run, by id.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::all_figures", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn all_figures(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    level: Level,
) -> Result<Vec<ComplianceRow>, estate_errors::ApiError> {
    figures_list(level, customer_id, run_id).all(client).await
}

/// One page of the application or family level. The run's list (one
/// result per application or family) is read whole, filtered and sorted
/// here, with the tokens a sorted SQL page would have.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::compliance", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn compliance(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    level: Level,
    filter: ComplianceFilter,
    page: &SortedPage,
) -> Result<(Vec<ComplianceRow>, String), estate_errors::ApiError> {
    if filter.node.is_some() || (level == Level::Family && filter.application.is_some()) {
        return Ok((Vec::new(), String::new()));
    }
    let rows: Vec<ComplianceRow> = all_figures(client, customer_id, run_id, level)
        .await?
        .into_iter()
        .filter(|row| {
            filter.family.is_none_or(|family| row.family == family)
                && filter
                    .application
                    .is_none_or(|application| row.application == Some(application))
                && (!filter.only_shortfalls || row.figures.compliance < 0)
        })
        .collect();
    let column = page.column_name();
    page.page_of(
        rows,
        |row| {
            let figures = &row.figures;
            match column {
                "compliance" => SortValue::Integer(figures.compliance),
                "requirement" => SortValue::Integer(figures.requirement),
                "coverage" => SortValue::Integer(figures.coverage),
                _ => SortValue::Id(row.id()),
            }
        },
        ComplianceRow::id,
    )
}

/// The ids behind a run's numbers (migrations V5 and V6), read once per
/// page and resolved here, not per element in SQL, where each subscript
/// of a large (TOASTed) array would decompress it again.
#[derive(Debug, Default)]
pub struct RunKeys {
    pub application_ids: Vec<Uuid>,
    pub license_ids: Vec<Uuid>,
    pub family_ids: Vec<Uuid>,
    /// The family number of each application number.
    pub application_families: Vec<i32>,
}

impl RunKeys {
    /// The run's keys; `None` when the run has none stored.
    pub async fn read(
        client: &impl GenericClient,
        customer_id: CustomerId,
        run_id: Uuid,
    ) -> Result<Option<Self>, DbError> {
        let row = client
            .query_opt(
                "SELECT application_ids, license_ids, family_ids, application_families
                 FROM compliance_run_keys WHERE customer_id = $1 AND run_id = $2",
                &[&customer_id, &run_id],
            )
            .await?;
        Ok(row.map(|row| Self {
            application_ids: row.get(0),
            license_ids: row.get(1),
            family_ids: row.get(2),
            application_families: row.get(3),
        }))
    }

    /// The id behind 1-based `number` of `ids` (nil when out of range).
    fn key(ids: &[Uuid], number: i32) -> Uuid {
        usize::try_from(number - 1)
            .ok()
            .and_then(|index| ids.get(index).copied())
            .unwrap_or_default()
    }

    pub fn application(&self, number: i32) -> Uuid {
        Self::key(&self.application_ids, number)
    }

    pub fn license(&self, number: i32) -> Uuid {
        Self::key(&self.license_ids, number)
    }

    /// The family of application `number`.
    pub fn family_of(&self, number: i32) -> Uuid {
        let family = usize::try_from(number - 1)
            .ok()
            .and_then(|index| self.application_families.get(index).copied())
            .unwrap_or_default();
        Self::key(&self.family_ids, family)
    }

    /// The number of application `id`, if the run has it.
    fn application_number(&self, id: Uuid) -> Option<i32> {
        let index = self.application_ids.iter().position(|known| *known == id)?;
        Some(index as i32 + 1)
    }

    /// The application numbers the application and family filters leave
    /// (`None`: every one); empty when nothing of the run matches.
    fn applications_of(&self, application: Option<Uuid>, family: Option<Uuid>) -> Option<Vec<i32>> {
        let family = family.map(|id| {
            self.family_ids
                .iter()
                .position(|known| *known == id)
                .map(|index| index as i32 + 1)
        });
        let in_family = |number: i32| match family {
            None => true,
            Some(None) => false,
            Some(Some(family)) => {
                usize::try_from(number - 1)
                    .ok()
                    .and_then(|index| self.application_families.get(index))
                    == Some(&family)
            }
        };
        match (application, family) {
            (None, None) => None,
            (Some(id), _) => Some(
                self.application_number(id)
                    .filter(|number| in_family(*number))
                    .into_iter()
                    .collect(),
            ),
            (None, Some(_)) => Some(
                (1..=self.application_ids.len() as i32)
                    .filter(|number| in_family(*number))
                    .collect(),
            ),
        }
    }
}

/// A node-level row and, with its node, where a page ends.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub row: ComplianceRow,
    /// 1-based position among the node's results.
    pub position: i64,
}

/// One page of a run's node results, by node id and then application id
/// (both descending when `descending`), after `after` (a node and
/// position) when given; at most `limit` rows. Node rows are read in
/// growing [`Batches`] and their figures filtered here (a node's row in
/// `compliance_node_results` holds every application's figures).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::nodes", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn nodes(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    filter: ComplianceFilter,
    descending: bool,
    after: Option<(Uuid, i64)>,
    limit: i64,
) -> Result<Vec<NodeRow>, estate_errors::ApiError> {
    let Some(keys) = RunKeys::read(client, customer_id, run_id).await? else {
        return Ok(Vec::new());
    };
    let applications = keys.applications_of(filter.application, filter.family);
    if applications.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let limit = usize::try_from(limit).unwrap_or(0);
    let (direction, beyond) = if descending {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    let (mut next, mut inclusive) = match after {
        Some((node, _)) => (Some(node), true),
        None => (None, false),
    };
    let mut batches = Batches::default();
    let mut rows = Vec::new();
    loop {
        let batch = batches.next_size();
        let nodes = client
            .query(
                &format!(
                    "SELECT node_id, data FROM compliance_node_results
                     WHERE customer_id = $1 AND run_id = $2
                       AND ($3::uuid IS NULL OR node_id = $3)
                       AND ($4::uuid IS NULL OR node_id {beyond} $4 OR ($5 AND node_id = $4))
                     ORDER BY node_id {direction} LIMIT $6"
                ),
                &[
                    &customer_id,
                    &run_id,
                    &filter.node,
                    &next,
                    &inclusive,
                    &batch,
                ],
            )
            .await
            .map_err(DbError::from)?;
        for node in &nodes {
            let node_id: Uuid = node.get(0);
            let figures: Vec<NodeFigures> =
                unpack(node.get(1)).map_err(estate_errors::ApiError::internal)?;
            let mut positioned: Vec<(i64, &NodeFigures)> = (1..).zip(&figures).collect();
            if descending {
                positioned.reverse();
            }
            for (position, stored) in positioned {
                let passed = match after {
                    Some((after_node, after_position)) if after_node == node_id => {
                        if descending {
                            position >= after_position
                        } else {
                            position <= after_position
                        }
                    }
                    _ => false,
                };
                if passed
                    || (filter.only_shortfalls && stored.compliance >= 0)
                    || applications
                        .as_ref()
                        .is_some_and(|numbers| !numbers.contains(&(stored.application as i32)))
                {
                    continue;
                }
                let application = stored.application as i32;
                rows.push(NodeRow {
                    row: ComplianceRow {
                        node: Some(node_id),
                        application: Some(keys.application(application)),
                        family: keys.family_of(application),
                        figures: stored.into(),
                    },
                    position,
                });
                if rows.len() >= limit {
                    return Ok(rows);
                }
            }
        }
        match nodes.last() {
            Some(last) if nodes.len() as i64 == batch => {
                next = Some(last.get(0));
                inclusive = false;
            }
            _ => return Ok(rows),
        }
    }
}

/// The license results of a run, stored in license id order (migration
/// V9).
pub(crate) fn license_list(customer_id: CustomerId, run_id: Uuid) -> Positioned {
    Positioned {
        table: "compliance_license_results",
        customer_id,
        run_id,
    }
}

/// One page of license results in license id order, with their positions
/// in it: those after position `after` (-1 for the first page), only
/// those with unassigned units or invalid assignments when asked.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::licenses", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn licenses(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    only_unassigned: bool,
    only_invalid: bool,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, LicenseRow)>, estate_errors::ApiError> {
    license_list(customer_id, run_id)
        .page(client, after, limit, |row: &LicenseRow| {
            (!only_unassigned || row.has_unassigned())
                && (!only_invalid || row.invalid_assignments > 0)
        })
        .await
}

/// One page of invalid assignments, by assignment and then reason (an
/// assignment can be invalid in part for one reason and in part for
/// another), with their positions in that order: those after position
/// `after` (-1 for the first page), of `license` when given.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::invalid_assignments", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn invalid_assignments(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    license: Option<Uuid>,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, InvalidRow)>, estate_errors::ApiError> {
    invalid_list(customer_id, run_id)
        .page(client, after, limit, |row: &InvalidRow| {
            license.is_none_or(|license| row.license_id == license)
        })
        .await
}

/// The invalid assignments of a run, by assignment and reason (migration
/// V8).
pub(crate) fn invalid_list(customer_id: CustomerId, run_id: Uuid) -> Positioned {
    Positioned {
        table: "compliance_invalid_assignments",
        customer_id,
        run_id,
    }
}

/// A list stored in chunks of consecutive entries (migrations V8, V9).
pub(crate) struct Positioned {
    table: &'static str,
    customer_id: CustomerId,
    run_id: Uuid,
}

impl Positioned {
    /// Every chunk's entries, in list order, decoded as they arrive (a
    /// large list is never held whole).
    pub(crate) async fn chunks<T: serde::de::DeserializeOwned>(
        &self,
        client: &impl GenericClient,
    ) -> Result<impl Stream<Item = Result<Vec<T>, estate_errors::ApiError>>, DbError> {
        let parameters: [&(dyn ToSql + Sync); 2] = [&self.customer_id, &self.run_id];
        let rows = client
            .query_raw(
                &format!(
                    "SELECT data FROM {} WHERE customer_id = $1 AND run_id = $2
                     ORDER BY first_position",
                    self.table
                ),
                parameters,
            )
            .await?;
        Ok(rows.map(|row| {
            let row = row.map_err(DbError::from)?;
            unpack(row.get(0)).map_err(estate_errors::ApiError::internal)
        }))
    }

    /// Every chunk as stored (compressed), in list order.
    pub(crate) async fn stored(
        &self,
        client: &impl GenericClient,
    ) -> Result<Vec<Vec<u8>>, DbError> {
        let rows = client
            .query(
                &format!(
                    "SELECT data FROM {} WHERE customer_id = $1 AND run_id = $2
                     ORDER BY first_position",
                    self.table
                ),
                &[&self.customer_id, &self.run_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Every entry, in list order.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        client: &impl GenericClient,
    ) -> Result<Vec<T>, estate_errors::ApiError> {
        let chunks = self.chunks::<T>(client).await?;
        pin_mut!(chunks);
        let mut entries = Vec::new();
        while let Some(chunk) = chunks.next().await {
            entries.extend(chunk?);
        }
        Ok(entries)
    }

    /// The entries `keep` keeps after position `after`, with their
    /// positions, at most `limit`: from the chunk holding the next
    /// position on, in growing [`Batches`], until the page is full.
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        client: &impl GenericClient,
        after: i64,
        limit: i64,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<(i64, T)>, estate_errors::ApiError> {
        let Self {
            table,
            customer_id,
            run_id,
        } = self;
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut batches = Batches::default();
        let mut read_past: Option<i64> = None;
        let mut entries = Vec::new();
        loop {
            let batch = batches.next_size();
            // From the chunk holding position `after + 1` on.
            let chunks = client
                .query(
                    &format!(
                        "SELECT first_position, data FROM {table}
                         WHERE customer_id = $1 AND run_id = $2
                           AND first_position + entries > $3::int8 + 1
                           AND ($4::int8 IS NULL OR first_position > $4)
                         ORDER BY first_position LIMIT $5"
                    ),
                    &[customer_id, run_id, &after, &read_past, &batch],
                )
                .await
                .map_err(DbError::from)?;
            for chunk in &chunks {
                let first: i64 = chunk.get(0);
                let stored: Vec<T> =
                    unpack(chunk.get(1)).map_err(estate_errors::ApiError::internal)?;
                for (position, entry) in (first..).zip(stored) {
                    if position > after && keep(&entry) {
                        entries.push((position, entry));
                        if entries.len() >= limit {
                            return Ok(entries);
                        }
                    }
                }
            }
            match chunks.last() {
                Some(last) if chunks.len() as i64 == batch => read_past = Some(last.get(0)),
                _ => return Ok(entries),
            }
        }
    }
}

/// A consumer's stored result for one application.
#[derive(Debug, Clone)]
pub struct ConsumerRow {
    pub consumer_id: Uuid,
    /// 1-based position among the consumer's results: with the consumer,
    /// where a page ends.
    pub position: i64,
    pub application_id: Uuid,
    pub is_user: bool,
    pub requirement: i64,
    pub covered: i64,
    pub status: estate_compliance::ConsumerStatus,
    pub license_ids: Vec<Uuid>,
}

/// Filters of `ListConsumerCompliance`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumerFilter {
    /// A computer's or (`true`) a user's id.
    pub consumer: Option<(Uuid, bool)>,
    pub application: Option<Uuid>,
    /// Only covered, not covered, or no-requirement results.
    pub status: Option<ConsumerStatusFilter>,
}

/// The statuses `ListConsumerCompliance` filters on: no requirement
/// stands for every reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStatusFilter {
    Covered,
    NotCovered,
    NoRequirement,
}

impl ConsumerStatusFilter {
    fn selects(self, status: estate_compliance::ConsumerStatus) -> bool {
        use estate_compliance::ConsumerStatus::{Covered, NoRequirement, NotCovered};
        matches!(
            (self, status),
            (Self::Covered, Covered)
                | (Self::NotCovered, NotCovered)
                | (Self::NoRequirement, NoRequirement(_))
        )
    }
}

/// One page of a run's consumer results, by consumer id and then the
/// run's application order, after `after` (a consumer and position) when
/// given; at most `limit` rows.
///
/// Results are stored in chunks of consecutive consumers (see
/// [`super::chunks`]): the page starts in the chunk that holds the
/// consumer asked for, or the one the previous page ended in, and reads
/// chunks in order, in growing [`Batches`], until the page is full. Numbers are
/// resolved by [`RunKeys`].
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::consumers", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn consumers(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    filter: ConsumerFilter,
    after: Option<(Uuid, i64)>,
    limit: i64,
) -> Result<Vec<ConsumerRow>, estate_errors::ApiError> {
    let Some(keys) = RunKeys::read(client, customer_id, run_id).await? else {
        return Ok(Vec::new());
    };
    let application = match filter.application {
        None => None,
        Some(id) => match keys.application_number(id) {
            Some(number) => Some(number as u32),
            // Not in the run: no results.
            None => return Ok(Vec::new()),
        },
    };
    let statuses: Option<Vec<u8>> = filter.status.map(|keep| {
        consumer_status_codes(|status| keep.selects(status))
            .into_iter()
            .map(|code| code as u8)
            .collect()
    });
    let limit = usize::try_from(limit).unwrap_or(0);
    let (after_consumer, after_position) = match after {
        Some((consumer, position)) => (Some(consumer), position),
        None => (None, 0),
    };
    let wanted = filter.consumer.map(|(id, _)| id);
    // Chunks in order from the one holding the consumer the list starts
    // from (the first chunk when none): those that end at or after it.
    let from = wanted.max(after_consumer).unwrap_or_default();
    let mut batches = Batches::default();
    let mut read_past: Option<Uuid> = None;
    let mut rows = Vec::new();
    loop {
        let batch = batches.next_size();
        let chunks = client
            .query(
                "SELECT first_consumer, data FROM compliance_consumer_results
                 WHERE customer_id = $1 AND run_id = $2 AND last_consumer >= $3
                   AND ($4::uuid IS NULL OR first_consumer > $4)
                   AND ($5::uuid IS NULL OR first_consumer <= $5)
                 ORDER BY first_consumer LIMIT $6",
                &[&customer_id, &run_id, &from, &read_past, &wanted, &batch],
            )
            .await
            .map_err(DbError::from)?;
        for chunk in &chunks {
            let chunk = Chunk::decode(chunk.get(1)).map_err(estate_errors::ApiError::internal)?;
            for (consumer, is_user, results) in chunk.consumers() {
                if filter
                    .consumer
                    .is_some_and(|wanted| wanted != (consumer, is_user))
                    || after_consumer.is_some_and(|after| consumer < after)
                {
                    continue;
                }
                for (index, result) in results.enumerate() {
                    let position = index as i64 + 1;
                    if after_consumer == Some(consumer) && position <= after_position {
                        continue;
                    }
                    if application.is_some_and(|wanted| wanted != result.application)
                        || statuses
                            .as_ref()
                            .is_some_and(|codes| !codes.contains(&result.status))
                    {
                        continue;
                    }
                    let status = consumer_status_of(i16::from(result.status)).ok_or_else(|| {
                        estate_errors::ApiError::internal(format!(
                            "unknown consumer status code {}",
                            result.status
                        ))
                    })?;
                    rows.push(ConsumerRow {
                        consumer_id: consumer,
                        position,
                        application_id: keys.application(result.application as i32),
                        is_user,
                        requirement: i64::from(result.requirement),
                        covered: i64::from(result.covered),
                        status,
                        license_ids: result
                            .licenses
                            .iter()
                            .map(|&number| keys.license(number as i32))
                            .collect(),
                    });
                    if rows.len() >= limit {
                        return Ok(rows);
                    }
                }
            }
        }
        match chunks.last() {
            Some(last) if chunks.len() as i64 == batch && wanted.is_none() => {
                read_past = Some(last.get(0));
            }
            _ => return Ok(rows),
        }
    }
}

/// How many chunks (or node rows) each query of a page reads: two at
/// first (two consumer chunks hold a full page), then four times as many
/// each time, so a filter that matches rarely walks a large run in a few
/// queries.
struct Batches(i64);

impl Default for Batches {
    fn default() -> Self {
        Self(2)
    }
}

impl Batches {
    fn next_size(&mut self) -> i64 {
        let size = self.0;
        self.0 = (size * 4).min(128);
        size
    }
}

/// Transfers keep the engine's order (upgrades, then coverage in
/// tie-break order), with their positions in it: those after position
/// `after` (-1 for the first page) of `license` (as the license or the
/// base it upgrades) when given.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.reports::transfers", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn transfers(
    client: &impl GenericClient,
    customer_id: CustomerId,
    run_id: Uuid,
    license: Option<Uuid>,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, TransferRow)>, estate_errors::ApiError> {
    let list = Positioned {
        table: "compliance_transfers",
        customer_id,
        run_id,
    };
    list.page(client, after, limit, |row: &TransferRow| {
        license.is_none_or(|license| row.license_id == license || row.base_id == Some(license))
    })
    .await
}
