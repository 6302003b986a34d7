//! Reads one customer's estate for the engine, in one consistent snapshot,
//! and maps every id to a dense index (rows are read in id order, so the
//! index order is stable). Installations, the largest input by far, come
//! through a binary `COPY` in primary-key order, which walks the computers
//! in the same order as their indices: no lookup per installation for the
//! computer side.

use estate_proto::names::CustomerId;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use estate_compliance::{
    Application, Assignment, AssignmentType, Computer, Consumer, Estate, Exclusion, Installation,
    License, ManualAllocation, Metric, Node, Quantity, Target, UpgradeOf, Usage, User, Validity,
};
use estate_db::DbError;
use estate_errors::ApiError;
use futures::{StreamExt, pin_mut};
use tokio::sync::oneshot;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use super::uuid_pairs::UuidPairs;
use crate::db::settings;

/// An estate with the ids behind each index, to name results.
#[derive(Debug, Default)]
pub struct Loaded {
    pub estate: Estate,
    pub node_ids: Vec<Uuid>,
    pub family_ids: Vec<Uuid>,
    pub application_ids: Vec<Uuid>,
    pub computer_ids: Vec<Uuid>,
    pub user_ids: Vec<Uuid>,
    /// Ids of the licenses given to the engine, by index.
    pub license_ids: Vec<Uuid>,
    pub assignment_ids: Vec<Uuid>,
    /// Licenses too incomplete to give to the engine (no application or
    /// family, metric, assignment type, quantity or legal owner): reported
    /// as incomplete without calculation.
    pub unusable_licenses: Vec<Uuid>,
}

/// Dense indexes by id. Ids are uuids and the maps are internal, so a
/// fast hash suits: the installations look one up per row.
type IdIndex = HashMap<Uuid, u32, foldhash::fast::RandomState>;

fn index_of(ids: &[Uuid]) -> IdIndex {
    ids.iter()
        .enumerate()
        .map(|(index, id)| (*id, index as u32))
        .collect()
}

use crate::rules::licenses::engine_metric as metric;

fn assignment_type(name: &str) -> Option<AssignmentType> {
    Some(match name {
        "organization" => AssignmentType::Organization,
        "site" => AssignmentType::Site,
        "computer" => AssignmentType::Computer,
        "user" => AssignmentType::User,
        _ => return None,
    })
}

fn u32_of(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn u64_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The rows read on the second connection, while the first reads the
/// tree, the catalog, the computers and their installations.
struct Rest {
    users: Vec<Row>,
    usage: Vec<Row>,
    exclusions: Vec<Row>,
    licenses: Vec<Row>,
    upgrades: Vec<Row>,
    allocations: Vec<Row>,
    assignments: Vec<Row>,
}

async fn read_rest(
    transaction: &Transaction<'_>,
    customer_id: CustomerId,
) -> Result<Rest, DbError> {
    Ok(Rest {
        users: query(
            transaction,
            "SELECT id, node_id FROM users WHERE customer_id = $1 ORDER BY id",
            customer_id,
        )
        .await?,
        usage: query(
            transaction,
            "SELECT user_id, application_id, extract(epoch FROM last_used_time)::bigint
             FROM application_usage WHERE customer_id = $1",
            customer_id,
        )
        .await?,
        exclusions: query(
            transaction,
            "SELECT computer_id, user_id, application_id
             FROM compliance_exclusions WHERE customer_id = $1 ORDER BY id",
            customer_id,
        )
        .await?,
        licenses: query(
            transaction,
            "SELECT l.id, l.application_id, l.family_id, l.metric, l.assignment_type, l.quantity,
                    l.unlimited, l.legal_owner_id, l.automatic_allocation, l.downgrade_rights,
                    l.archived, l.incomplete, l.minimum_per_computer,
                    CASE WHEN ag.subscription THEN ag.start_date ELSE l.subscription_start END,
                    CASE WHEN ag.subscription THEN ag.end_date ELSE l.subscription_end END
             FROM licenses l
             LEFT JOIN agreements ag ON ag.customer_id = l.customer_id AND ag.id = l.agreement_id
             WHERE l.customer_id = $1 ORDER BY l.id",
            customer_id,
        )
        .await?,
        upgrades: query(
            transaction,
            "SELECT upgrade_id, base_id, quantity FROM license_upgrades
             WHERE customer_id = $1 ORDER BY upgrade_id, base_id",
            customer_id,
        )
        .await?,
        allocations: query(
            transaction,
            "SELECT license_id, node_id, quantity FROM license_allocations
             WHERE customer_id = $1 ORDER BY license_id, node_id",
            customer_id,
        )
        .await?,
        assignments: query(
            transaction,
            "SELECT id, license_id, computer_id, user_id, quantity FROM license_assignments
             WHERE customer_id = $1 ORDER BY id",
            customer_id,
        )
        .await?,
    })
}

/// Reads the estate of `customer_id` as of `now` on two connections at
/// once: run it inside two repeatable-read transactions that share one
/// snapshot (`SET TRANSACTION SNAPSHOT`), so every table is read at one
/// instant. `transaction` reads the tree, the catalog, the computers and
/// the installations (the largest input); `second` the rest meanwhile,
/// whose rows are then turned into the engine's on a blocking thread
/// while the installations still stream in (they need only the indexes
/// read before the installations).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT licensing.load::load", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn load(
    transaction: &Transaction<'_>,
    second: &Transaction<'_>,
    customer_id: CustomerId,
    now: DateTime<Utc>,
) -> Result<Loaded, ApiError> {
    let (indexes_sender, indexes_receiver) = oneshot::channel::<Arc<Indexes>>();
    let first = async {
        let (mut loaded, indexes) = load_computers(transaction, customer_id, now).await?;
        let indexes = Arc::new(indexes);
        // The receiver is gone only when the other side failed already.
        let _ = indexes_sender.send(indexes.clone());
        loaded.estate.installations = installations(
            transaction,
            customer_id,
            &loaded.computer_ids,
            &indexes.applications,
        )
        .await?;
        Ok::<_, ApiError>(loaded)
    };
    let rest = async {
        let rest = read_rest(second, customer_id).await?;
        // The sender goes unsent only when the first side failed, and
        // that error is the one returned.
        let indexes = indexes_receiver
            .await
            .map_err(|_| ApiError::internal("the estate's indexes were not read"))?;
        tokio::task::spawn_blocking(move || load_rest(&indexes, rest, now))
            .await
            .map_err(ApiError::internal)
    };
    let (mut loaded, rest) = tokio::try_join!(first, rest)?;
    loaded.join(rest);
    Ok(loaded)
}

/// The dense index of each id read before the installations, and the
/// computer ids (indexed by [`load_rest`], off the installations' path).
struct Indexes {
    nodes: IdIndex,
    families: IdIndex,
    applications: IdIndex,
    computer_ids: Vec<Uuid>,
}

/// What [`load_rest`] makes of the second connection's rows.
#[derive(Default)]
struct LoadedRest {
    users: Vec<User>,
    usage: Vec<Usage>,
    exclusions: Vec<Exclusion>,
    licenses: Vec<License>,
    assignments: Vec<Assignment>,
    user_ids: Vec<Uuid>,
    license_ids: Vec<Uuid>,
    assignment_ids: Vec<Uuid>,
    unusable_licenses: Vec<Uuid>,
}

impl Loaded {
    /// Takes in everything [`load_rest`] made (every field is named, so a
    /// new one cannot be left behind).
    fn join(&mut self, rest: LoadedRest) {
        let LoadedRest {
            users,
            usage,
            exclusions,
            licenses,
            assignments,
            user_ids,
            license_ids,
            assignment_ids,
            unusable_licenses,
        } = rest;
        self.estate.users = users;
        self.estate.usage = usage;
        self.estate.exclusions = exclusions;
        self.estate.licenses = licenses;
        self.estate.assignments = assignments;
        self.user_ids = user_ids;
        self.license_ids = license_ids;
        self.assignment_ids = assignment_ids;
        self.unusable_licenses = unusable_licenses;
    }
}

/// Settings, the tree, the catalog and the computers, with the indexes
/// of their ids.
async fn load_computers(
    transaction: &Transaction<'_>,
    customer_id: CustomerId,
    now: DateTime<Utc>,
) -> Result<(Loaded, Indexes), DbError> {
    let settings = settings::get(transaction, customer_id).await?;
    let mut loaded = Loaded::default();
    let estate = &mut loaded.estate;
    estate.metering_start =
        (now - Duration::days(i64::from(settings.metering_period_days))).timestamp();

    // Parents before children: depth order.
    let rows = query(
        transaction,
        "SELECT id, parent_id FROM org_nodes WHERE customer_id = $1 ORDER BY depth, id",
        customer_id,
    )
    .await?;
    loaded.node_ids = rows.iter().map(|row| row.get(0)).collect();
    let nodes = index_of(&loaded.node_ids);
    estate.nodes = rows
        .iter()
        .map(|row| Node {
            parent: row
                .get::<_, Option<Uuid>>(1)
                .and_then(|parent| nodes.get(&parent).copied()),
        })
        .collect();

    let rows = query(
        transaction,
        "SELECT id FROM families WHERE customer_id = $1 ORDER BY id",
        customer_id,
    )
    .await?;
    loaded.family_ids = rows.iter().map(|row| row.get(0)).collect();
    let families = index_of(&loaded.family_ids);
    estate.family_count = loaded.family_ids.len() as u32;

    let rows = query(
        transaction,
        "SELECT id, family_id, default_metric, downgrade_allowed, no_license_required,
                dense_rank() OVER (PARTITION BY family_id ORDER BY version_key)::integer
         FROM applications WHERE customer_id = $1 ORDER BY id",
        customer_id,
    )
    .await?;
    loaded.application_ids = rows.iter().map(|row| row.get(0)).collect();
    let applications = index_of(&loaded.application_ids);
    estate.applications = rows
        .iter()
        .map(|row| Application {
            family: families[&row.get::<_, Uuid>(1)],
            version_rank: u32_of(row.get(5)),
            metric: metric(row.get(2)).unwrap_or(Metric::Installations),
            downgrade_allowed: row.get(3),
            no_license_required: row.get(4),
        })
        .collect();

    let rows = query(
        transaction,
        "SELECT id, node_id, processors, cores, inactive
         FROM computers WHERE customer_id = $1 ORDER BY id",
        customer_id,
    )
    .await?;
    loaded.computer_ids = rows.iter().map(|row| row.get(0)).collect();
    // Active and quarantined computers count; only inactive ones do not.
    estate.computers = rows
        .iter()
        .map(|row| Computer {
            node: nodes[&row.get::<_, Uuid>(1)],
            processors: u32_of(row.get(2)),
            cores: u32_of(row.get(3)),
            counted: !row.get::<_, bool>(4),
        })
        .collect();

    let indexes = Indexes {
        nodes,
        families,
        applications,
        computer_ids: loaded.computer_ids.clone(),
    };
    Ok((loaded, indexes))
}

/// Users, usage, exclusions, licenses and assignments, indexed by
/// `indexes` (see [`Loaded::join`]).
fn load_rest(indexes: &Indexes, rest: Rest, now: DateTime<Utc>) -> LoadedRest {
    let today = now.date_naive();
    let Indexes {
        nodes,
        families,
        applications,
        computer_ids,
    } = indexes;
    let computers = index_of(computer_ids);
    let mut loaded = LoadedRest::default();
    let rows = rest.users;
    loaded.user_ids = rows.iter().map(|row| row.get(0)).collect();
    loaded.users = rows
        .iter()
        .map(|row| User {
            node: nodes[&row.get::<_, Uuid>(1)],
        })
        .collect();
    let users = index_of(&loaded.user_ids);

    let rows = rest.usage;
    loaded.usage = rows
        .iter()
        .map(|row| Usage {
            user: users[&row.get::<_, Uuid>(0)],
            application: applications[&row.get::<_, Uuid>(1)],
            last_used: row.get(2),
        })
        .collect();

    let rows = rest.exclusions;
    loaded.exclusions = rows
        .iter()
        .enumerate()
        .map(|(position, row)| Exclusion {
            consumer: match row.get::<_, Option<Uuid>>(0) {
                Some(computer) => Consumer::Computer(computers[&computer]),
                None => Consumer::User(users[&row.get::<_, Uuid>(1)]),
            },
            application: row
                .get::<_, Option<Uuid>>(2)
                .map(|application| applications[&application]),
            reason: position as u32,
        })
        .collect();

    let rows = rest.licenses;
    let mut licenses = IdIndex::default();
    for row in &rows {
        let id: Uuid = row.get(0);
        let Some(license) = license(row, today, applications, families, nodes) else {
            loaded.unusable_licenses.push(id);
            continue;
        };
        licenses.insert(id, loaded.license_ids.len() as u32);
        loaded.license_ids.push(id);
        loaded.licenses.push(license);
    }

    for row in rest.upgrades {
        let (Some(upgrade), Some(base)) = (
            licenses.get(&row.get::<_, Uuid>(0)),
            licenses.get(&row.get::<_, Uuid>(1)),
        ) else {
            continue;
        };
        loaded.licenses[*upgrade as usize]
            .upgrade_of
            .push(UpgradeOf {
                base: *base,
                quantity: u64_of(row.get(2)),
            });
    }
    for row in rest.allocations {
        let Some(license) = licenses.get(&row.get::<_, Uuid>(0)) else {
            continue;
        };
        loaded.licenses[*license as usize]
            .manual_allocations
            .push(ManualAllocation {
                node: nodes[&row.get::<_, Uuid>(1)],
                quantity: u64_of(row.get(2)),
            });
    }

    for row in rest.assignments {
        let Some(license) = licenses.get(&row.get::<_, Uuid>(1)) else {
            continue;
        };
        let consumer = match row.get::<_, Option<Uuid>>(2) {
            Some(computer) => Consumer::Computer(computers[&computer]),
            None => Consumer::User(users[&row.get::<_, Uuid>(3)]),
        };
        let id: Uuid = row.get(0);
        loaded.assignments.push(Assignment {
            key: id.as_u128(),
            license: *license,
            consumer,
            quantity: u64_of(row.get(4)),
        });
        loaded.assignment_ids.push(id);
    }
    loaded
}

/// One license for the engine, or `None` when it lacks what the engine
/// needs to place it (it is incomplete then, and reported so).
fn license(
    row: &Row,
    today: NaiveDate,
    applications: &IdIndex,
    families: &IdIndex,
    nodes: &IdIndex,
) -> Option<License> {
    let target = match (row.get::<_, Option<Uuid>>(1), row.get::<_, Option<Uuid>>(2)) {
        (Some(application), _) => Target::Application(*applications.get(&application)?),
        (None, Some(family)) => Target::Family(*families.get(&family)?),
        (None, None) => return None,
    };
    let quantity = match (row.get::<_, Option<i64>>(5), row.get::<_, bool>(6)) {
        (_, true) => Quantity::Unlimited,
        (Some(count), false) => Quantity::Count(u64_of(count)),
        (None, false) => return None,
    };
    let start: Option<NaiveDate> = row.get(13);
    let end: Option<NaiveDate> = row.get(14);
    let outside_subscription =
        start.is_some_and(|start| today < start) || end.is_some_and(|end| today > end);
    let validity = if row.get::<_, bool>(10) {
        Validity::Archived
    } else if row.get::<_, bool>(11) {
        Validity::Incomplete
    } else if outside_subscription {
        Validity::ExpiredSubscription
    } else {
        Validity::Valid
    };
    Some(License {
        key: row.get::<_, Uuid>(0).as_u128(),
        target,
        metric: metric(row.get::<_, Option<&str>>(3)?)?,
        assignment: assignment_type(row.get::<_, Option<&str>>(4)?)?,
        quantity,
        legal_owner: *nodes.get(&row.get::<_, Option<Uuid>>(7)?)?,
        automatic_allocation: row.get(8),
        downgrade_rights: row.get(9),
        manual_allocations: Vec::new(),
        upgrade_of: Vec::new(),
        validity,
        minimum_per_computer: u32_of(row.get(12)),
    })
}

async fn query(
    client: &impl GenericClient,
    statement: &str,
    customer_id: CustomerId,
) -> Result<Vec<Row>, DbError> {
    Ok(client.query(statement, &[&customer_id]).await?)
}

/// Installations through binary COPY in (computer, application) order.
/// `computer_ids` is sorted, so the computer index only ever moves forward.
async fn installations(
    transaction: &Transaction<'_>,
    customer_id: CustomerId,
    computer_ids: &[Uuid],
    applications: &IdIndex,
) -> Result<Vec<Installation>, ApiError> {
    let statement = format!(
        "COPY (SELECT computer_id, application_id FROM installations
               WHERE customer_id = '{customer_id}' ORDER BY computer_id, application_id)
         TO STDOUT (FORMAT binary)"
    );
    let stream = transaction
        .copy_out(&statement)
        .await
        .map_err(DbError::from)?;
    pin_mut!(stream);
    let mut reader = UuidPairs::default();
    let mut installations = Vec::new();
    let mut computer = 0usize;
    let mut row = |computer_id: Uuid, application: Uuid| {
        while computer_ids
            .get(computer)
            .is_some_and(|id| *id < computer_id)
        {
            computer += 1;
        }
        // The snapshot guarantees both exist; skip rather than panic if not.
        let (true, Some(application)) = (
            computer_ids.get(computer) == Some(&computer_id),
            applications.get(&application),
        ) else {
            return;
        };
        installations.push(Installation {
            computer: computer as u32,
            application: *application,
        });
    };
    let malformed = |error| ApiError::internal(format!("reading the installations: {error}"));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(DbError::from)?;
        reader.feed(&chunk, &mut row).map_err(malformed)?;
    }
    reader.finish().map_err(malformed)?;
    Ok(installations)
}
