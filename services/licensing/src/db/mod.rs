//! Storage of the licensing service, one module per aggregate.

pub mod agreements;
pub mod assignments;
pub mod catalog;
pub mod exclusions;
pub mod inventory;
pub mod licenses;
pub mod nodes;
pub mod saas;
pub mod settings;
pub mod summary;

use estate_db::DbError;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The ids a single-column query returns.
pub(crate) async fn ids(
    client: &impl GenericClient,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Uuid>, DbError> {
    let rows = client.query(statement, params).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
