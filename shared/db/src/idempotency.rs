//! Idempotent creates (AIP-155), claim first.
//!
//! A create carrying a request id first claims the key (scope, method,
//! request id) in its service's `idempotency_keys` table, as the first
//! write of its transaction, with a fingerprint of the request. The
//! claim is a unique insert, so a concurrent call with the same key waits
//! there until the first one's transaction ends, before it checks any
//! precondition or name: it then finds the key taken and answers with
//! what the first call created. A key taken by a *different* request (its
//! fingerprint differs) is refused (`DbError::RequestIdReused`). If the
//! first call failed and rolled back, the key is free and the waiting
//! call creates.
//!
//! Each service's migrations create the table:
//!
//! ```sql
//! CREATE TABLE idempotency_keys (
//!     scope uuid NOT NULL, method text NOT NULL, request_id text NOT NULL,
//!     fingerprint bytea, resource_id uuid, create_time timestamptz NOT NULL,
//!     PRIMARY KEY (scope, method, request_id));
//! ```
//!
//! A key whose resource has been deleted since is taken afresh by the next
//! call with it, which creates again, as deleting used to free a request
//! id. Keys of rows created before the table have no fingerprint and
//! replay for any request.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::{FromSql, ToSql};
use uuid::Uuid;

use crate::DbError;

/// What an idempotent create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// This call stored the row.
    New(T),
    /// An earlier (or concurrent) call with the same request id stored it.
    Replayed(T),
}

impl<T> Created<T> {
    /// The row, whoever stored it.
    pub fn into_inner(self) -> T {
        match self {
            Self::New(row) | Self::Replayed(row) => row,
        }
    }
}

/// The identity of one create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The parent the request id is unique under (a customer, a
    /// distributor, an organization's parent; nil for the top level).
    pub scope: Uuid,
    /// The RPC, e.g. `CreateOrgNode`.
    pub method: &'static str,
    pub request_id: String,
    /// A digest of the request without its request id
    /// (`estate_proto::fields::fingerprint`).
    pub fingerprint: Vec<u8>,
}

impl RequestKey {
    /// The key of a request whose `request_id` may be empty (no key).
    pub fn of(
        scope: impl Into<Uuid>,
        method: &'static str,
        request_id: Option<&str>,
        fingerprint: Vec<u8>,
    ) -> Option<Self> {
        let scope = scope.into();
        request_id.map(|request_id| Self {
            scope,
            method,
            request_id: request_id.to_owned(),
            fingerprint,
        })
    }
}

/// The id of a resource an idempotent create makes: a `uuid` column
/// (a `Uuid`, or one of the services' typed ids).
pub trait ResourceId: ToSql + for<'a> FromSql<'a> + Copy + Sync {}

impl<T: ToSql + for<'a> FromSql<'a> + Copy + Sync> ResourceId for T {}

/// What claiming a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim<I> {
    /// This transaction holds the key now.
    New,
    /// An earlier request with the same fingerprint made this resource.
    Replay(I),
}

/// Claims `key` for the current transaction (see the module docs).
async fn claim<I: ResourceId>(
    client: &impl GenericClient,
    key: &RequestKey,
    now: DateTime<Utc>,
) -> Result<Claim<I>, DbError> {
    let inserted = client
        .execute(
            "INSERT INTO idempotency_keys
                 (scope, method, request_id, fingerprint, resource_id, create_time)
             VALUES ($1, $2, $3, $4, NULL, $5)
             ON CONFLICT DO NOTHING",
            &[
                &key.scope,
                &key.method,
                &key.request_id,
                &key.fingerprint,
                &now,
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    // A new statement: it sees the call that held the key, committed.
    let row = client
        .query_opt(
            "SELECT fingerprint, resource_id FROM idempotency_keys
             WHERE scope = $1 AND method = $2 AND request_id = $3",
            &[&key.scope, &key.method, &key.request_id],
        )
        .await?
        .ok_or(DbError::Conflict)?;
    let fingerprint: Option<Vec<u8>> = row.get(0);
    if fingerprint.is_some_and(|stored| stored != key.fingerprint) {
        return Err(DbError::RequestIdReused {
            request_id: key.request_id.clone(),
        });
    }
    let resource: Option<I> = row.get(1);
    resource.map(Claim::Replay).ok_or(DbError::Conflict)
}

/// Takes over a key whose resource `gone` no longer exists; false when a
/// concurrent call took it over first (claim again to see what it made).
async fn reclaim(
    client: &impl GenericClient,
    key: &RequestKey,
    gone: impl ResourceId,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let updated = client
        .execute(
            "UPDATE idempotency_keys
             SET fingerprint = $4, resource_id = NULL, create_time = $6
             WHERE scope = $1 AND method = $2 AND request_id = $3 AND resource_id = $5",
            &[
                &key.scope,
                &key.method,
                &key.request_id,
                &key.fingerprint,
                &gone,
                &now,
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// Records what the create holding `key` made.
async fn complete(
    client: &impl GenericClient,
    key: &RequestKey,
    resource: impl ResourceId,
) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE idempotency_keys SET resource_id = $4
             WHERE scope = $1 AND method = $2 AND request_id = $3",
            &[&key.scope, &key.method, &key.request_id, &resource],
        )
        .await?;
    Ok(())
}

/// The resource an earlier call with `key` made, if one did: for a
/// replay before preconditions that need no transaction (a call to
/// another service). A key taken by a different request is refused.
pub async fn replayed<I: ResourceId>(
    client: &impl GenericClient,
    key: Option<&RequestKey>,
) -> Result<Option<I>, DbError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let row = client
        .query_opt(
            "SELECT fingerprint, resource_id FROM idempotency_keys
             WHERE scope = $1 AND method = $2 AND request_id = $3",
            &[&key.scope, &key.method, &key.request_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let fingerprint: Option<Vec<u8>> = row.get(0);
    if fingerprint.is_some_and(|stored| stored != key.fingerprint) {
        return Err(DbError::RequestIdReused {
            request_id: key.request_id.clone(),
        });
    }
    Ok(row.get(1))
}

/// How often a create retries a key that concurrent calls keep taking
/// over, before answering ABORTED.
const CLAIM_ATTEMPTS: usize = 3;

/// Runs `insert` in the transaction `client` is in, once per `key`: a
/// key an earlier or concurrent call with the same request holds answers
/// with what `find` reads of its resource; without a key, `insert` just
/// runs. `client` must be inside a READ COMMITTED transaction, and this
/// must be its first write, so a concurrent duplicate waits before doing
/// anything. `id_of` gives the id of what `insert` made.
///
/// `find` takes the id by value: async closures borrowing it would make
/// the handler futures lose `Send` (a current compiler limitation).
pub async fn create_once<I, T, E, Find, Found, Insert, Inserted>(
    client: &impl GenericClient,
    key: Option<&RequestKey>,
    now: DateTime<Utc>,
    find: Find,
    insert: Insert,
    id_of: impl Fn(&T) -> I,
) -> Result<Created<T>, E>
where
    I: ResourceId,
    E: From<DbError>,
    Find: Fn(I) -> Found,
    Found: Future<Output = Result<Option<T>, E>>,
    Insert: FnOnce() -> Inserted,
    Inserted: Future<Output = Result<T, E>>,
{
    let Some(key) = key else {
        return insert().await.map(Created::New);
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        match claim(client, key, now).await? {
            Claim::New => break,
            Claim::Replay(resource) => {
                if let Some(found) = find(resource).await? {
                    return Ok(Created::Replayed(found));
                }
                if reclaim(client, key, resource, now).await? {
                    break;
                }
                if attempts >= CLAIM_ATTEMPTS {
                    return Err(DbError::Conflict.into());
                }
            }
        }
    }
    let created = insert().await?;
    complete(client, key, id_of(&created)).await?;
    Ok(Created::New(created))
}
