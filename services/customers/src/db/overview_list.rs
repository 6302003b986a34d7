//! Paging through a partner's overview rows: sorted by any column with a
//! keyset page token, filtered, the caller's favorites first. Each sort
//! column has an index `(partner_id, column, customer_id)`, so a page
//! costs the same whatever the partner's size; favorites (a few per user)
//! are read from their own table and sorted in memory.
//!
//! A page is one round trip: statements are prepared once per connection,
//! and on a page that starts in the favorites, the favorites and the rest
//! are asked for at once (tokio-postgres pipelines them on the connection)
//! rather than one after the other.

use estate_db::DbError;
use estate_proto::names::OrganizationId;
use tokio_postgres::types::ToSql;

use super::overview::{OverviewRow, ROW_COLUMNS, row_from};

/// A sortable column: its SQL expression (as indexed) and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortColumn {
    pub name: &'static str,
    expression: &'static str,
    sql_type: &'static str,
}

impl SortColumn {
    /// The SQL type a page token's sort value is cast to.
    pub fn sql_type(&self) -> &'static str {
        self.sql_type
    }
}

pub const SORT_COLUMNS: &[SortColumn] = &[
    SortColumn {
        name: "display_name",
        expression: "r.display_name",
        sql_type: "text",
    },
    SortColumn {
        name: "customer",
        expression: "r.customer_id",
        sql_type: "uuid",
    },
    SortColumn {
        name: "external_id",
        expression: "r.external_id",
        sql_type: "text",
    },
    SortColumn {
        name: "status",
        expression: "r.status",
        sql_type: "smallint",
    },
    SortColumn {
        name: "beacon_count",
        expression: "r.beacon_count",
        sql_type: "bigint",
    },
    SortColumn {
        name: "upcoming_expiration",
        expression: "coalesce(r.upcoming_expiration_time, 'infinity')",
        sql_type: "timestamptz",
    },
    SortColumn {
        name: "expiration_status",
        expression: "r.expiration_status",
        sql_type: "smallint",
    },
    SortColumn {
        name: "computers_total",
        expression: "coalesce(r.computers_total, -1)",
        sql_type: "bigint",
    },
    SortColumn {
        name: "applications_total",
        expression: "coalesce(r.applications_total, -1)",
        sql_type: "bigint",
    },
    SortColumn {
        name: "last_successful_sync_time",
        expression: "coalesce(r.last_successful_sync_time, '-infinity')",
        sql_type: "timestamptz",
    },
];

/// What to list.
#[derive(Debug, Clone)]
pub struct OverviewQuery {
    pub partner_id: OrganizationId,
    /// Whose favorites come first.
    pub subject: String,
    pub sort: SortColumn,
    pub descending: bool,
    /// Status ranks to keep (empty: all).
    pub statuses: Vec<i16>,
    pub expiration_statuses: Vec<i16>,
    pub name_contains: String,
    /// Only customers with a beacon silent or reporting a problem.
    pub beacon_problems_only: bool,
}

/// Where a page starts: after this row of the favorites or of the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub in_favorites: bool,
    /// The last row's sort value and id; `None` at the start of a phase.
    pub after: Option<(String, OrganizationId)>,
}

/// `%`, `_` and `\` match themselves in the name filter.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// Rows of one phase (favorites or the rest), after `after`, at most
/// `limit`.
async fn phase(
    client: &estate_db::Connection,
    query: &OverviewQuery,
    favorites: bool,
    after: Option<&(String, OrganizationId)>,
    limit: i64,
) -> Result<Vec<OverviewRow>, DbError> {
    let SortColumn {
        expression,
        sql_type,
        ..
    } = query.sort;
    let (direction, comparison) = if query.descending {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    let pattern = like_pattern(&query.name_contains);
    let mut parameters: Vec<&(dyn ToSql + Sync)> = vec![&query.partner_id, &query.subject];
    let mut conditions = vec!["r.partner_id = $1".to_string()];
    if !query.statuses.is_empty() {
        parameters.push(&query.statuses);
        conditions.push(format!("r.status = ANY(${})", parameters.len()));
    }
    if !query.expiration_statuses.is_empty() {
        parameters.push(&query.expiration_statuses);
        conditions.push(format!("r.expiration_status = ANY(${})", parameters.len()));
    }
    if !query.name_contains.is_empty() {
        parameters.push(&pattern);
        conditions.push(format!("r.display_name ILIKE ${}", parameters.len()));
    }
    if query.beacon_problems_only {
        conditions.push("r.beacon_problems > 0".to_string());
    }
    if let Some((key, id)) = after {
        parameters.push(key);
        parameters.push(id);
        let key_index = parameters.len() - 1;
        conditions.push(format!(
            "({expression}, r.customer_id) {comparison} (${key_index}::text::{sql_type}, ${})",
            key_index + 1
        ));
    }
    parameters.push(&limit);
    let limit_index = parameters.len();
    let favorite_match = "f.subject = $2 AND f.partner_id = r.partner_id \
                          AND f.customer_id = r.customer_id";
    let source = if favorites {
        format!("favorites f JOIN overview_rows r ON {favorite_match}")
    } else {
        conditions.push(format!(
            "NOT EXISTS (SELECT 1 FROM favorites f WHERE {favorite_match})"
        ));
        "overview_rows r".to_string()
    };
    let statement = format!(
        "SELECT {ROW_COLUMNS}, ({expression})::text AS sort_key
         FROM {source}
         WHERE {}
         ORDER BY {expression} {direction}, r.customer_id {direction}
         LIMIT ${limit_index}",
        conditions.join(" AND ")
    );
    let prepared = client.prepare_cached(&statement).await?;
    let rows = client.query(&prepared, &parameters).await?;
    Ok(rows.iter().map(|row| row_from(row, favorites)).collect())
}

/// Up to `limit` rows from `cursor`, and the cursor after them (`None` at
/// the end).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "SELECT customers.overview_list::page", otel.kind = "client", db.system.name = "postgresql", db.operation.name = "SELECT"))]
pub async fn page(
    client: &estate_db::Connection,
    query: &OverviewQuery,
    cursor: &Cursor,
    limit: i64,
) -> Result<(Vec<OverviewRow>, Option<Cursor>), DbError> {
    let (mut rows, rest_after, mut rest) = if cursor.in_favorites {
        // Ask for a full page of both; the favorites decide how many of the
        // rest are used.
        let (favorites, rest) = tokio::join!(
            phase(client, query, true, cursor.after.as_ref(), limit + 1),
            phase(client, query, false, None, limit + 1),
        );
        (favorites?, None, rest?)
    } else {
        let rest = phase(client, query, false, cursor.after.as_ref(), limit + 1).await?;
        (Vec::new(), cursor.after.clone(), rest)
    };
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let last = rows.last().expect("limit is positive");
        let next = Cursor {
            in_favorites: true,
            after: Some((last.sort_key.clone(), last.customer_id)),
        };
        return Ok((rows, Some(next)));
    }
    let wanted = limit - rows.len() as i64;
    let more = rest.len() as i64 > wanted;
    rest.truncate(wanted as usize);
    // The rest phase resumes after its own last row, or from its start
    // when this page held favorites only.
    let next = more.then(|| Cursor {
        in_favorites: false,
        after: rest
            .last()
            .map(|last| (last.sort_key.clone(), last.customer_id))
            .or(rest_after),
    });
    rows.extend(rest);
    Ok((rows, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filter_wildcards_match_themselves() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
