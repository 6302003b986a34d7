//! Idempotent creates (AIP-155): a create carrying a request id stores at
//! most one row per (parent, request id). A retry finds the row the first
//! call stored; two concurrent first calls race on the request-id unique
//! index, and the loser returns the winner's row.

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

/// Runs `insert` unless `find` already knows `request_id`. A violation of
/// `request_id_constraint` (a concurrent retry won) becomes that retry's
/// row; every other failure is returned as is, for the call site to say
/// what it means.
///
/// `find` takes the request id by value: async closures borrowing it would
/// make the handler futures lose `Send` (a current compiler limitation).
pub async fn create_once<T, Find, Found, Insert, Inserted>(
    request_id: Option<&str>,
    request_id_constraint: &str,
    find: Find,
    insert: Insert,
) -> Result<Created<T>, DbError>
where
    Find: Fn(String) -> Found,
    Found: Future<Output = Result<Option<T>, DbError>>,
    Insert: FnOnce() -> Inserted,
    Inserted: Future<Output = Result<T, DbError>>,
{
    if let Some(request_id) = request_id
        && let Some(existing) = find(request_id.to_owned()).await?
    {
        return Ok(Created::Replayed(existing));
    }
    match (insert().await, request_id) {
        (Ok(row), _) => Ok(Created::New(row)),
        (Err(DbError::UniqueViolation { constraint }), Some(request_id))
            if constraint == request_id_constraint =>
        {
            // The winner committed before our insert failed, so it is
            // visible now; if it was deleted meanwhile, a retry is right.
            find(request_id.to_owned())
                .await?
                .map(Created::Replayed)
                .ok_or(DbError::Conflict)
        }
        (Err(error), _) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn violation(constraint: &str) -> DbError {
        DbError::UniqueViolation {
            constraint: constraint.into(),
        }
    }

    #[tokio::test]
    async fn a_known_request_id_replays_without_inserting() {
        let inserted = Cell::new(false);
        let outcome = create_once(
            Some("r1"),
            "x_request_id_unique",
            |id| async move { Ok(Some(format!("row of {id}"))) },
            || async {
                inserted.set(true);
                Ok("new row".to_string())
            },
        )
        .await;
        assert_eq!(outcome.unwrap(), Created::Replayed("row of r1".to_string()));
        assert!(!inserted.get());
    }

    #[tokio::test]
    async fn losing_the_race_on_the_request_id_returns_the_winners_row() {
        let lookups = Cell::new(0);
        let outcome = create_once(
            Some("r1"),
            "x_request_id_unique",
            |_| {
                lookups.set(lookups.get() + 1);
                let found = (lookups.get() > 1).then(|| "winner".to_string());
                async move { Ok(found) }
            },
            || async { Err(violation("x_request_id_unique")) },
        )
        .await;
        assert_eq!(outcome.unwrap(), Created::Replayed("winner".to_string()));
    }

    #[tokio::test]
    async fn other_failures_are_left_to_the_call_site() {
        let other = create_once::<String, _, _, _, _>(
            Some("r1"),
            "x_request_id_unique",
            |_| async { Ok(None) },
            || async { Err(violation("x_name_unique")) },
        )
        .await;
        assert!(
            matches!(other, Err(DbError::UniqueViolation { constraint }) if constraint == "x_name_unique")
        );
        let stored = create_once(
            None,
            "x_request_id_unique",
            |_| async { Ok(None) },
            || async { Ok("new".to_string()) },
        )
        .await;
        assert_eq!(stored.unwrap(), Created::New("new".to_string()));
    }
}
