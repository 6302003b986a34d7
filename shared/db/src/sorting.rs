//! Sorted keyset pagination: `order_by` names one column and a direction
//! (`"display_name desc"`), and a page token carries the last row's sort
//! value and id, so the next page is
//! `WHERE (column, id) > (last value, last id) ORDER BY column, id`:
//! stable under concurrent writes and as cheap on page 1,000 as on page 1.
//! Ids break ties, so the order is total.
//!
//! A token also carries a fingerprint of the sort, the list (its parent)
//! and the filter it was issued for; using it with another sort, parent or
//! filter is refused rather than silently skipping or repeating rows. Its
//! sort value is checked against the column's type before it reaches SQL,
//! so a tampered token is INVALID_ARGUMENT, never a failed cast.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use estate_errors::{ApiError, Violations};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::DbError;
use crate::paging::page_size_of;

/// A column a list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortColumn {
    /// The name clients put in `order_by`.
    pub name: &'static str,
    /// The SQL expression sorted on. It must never be NULL (wrap nullable
    /// columns in `coalesce`), or rows after a NULL would be skipped.
    pub expression: &'static str,
    /// The expression's SQL type, which the token's value is cast back to.
    pub sql_type: &'static str,
}

impl SortColumn {
    pub const fn new(name: &'static str, expression: &'static str, sql_type: &'static str) -> Self {
        Self {
            name,
            expression,
            sql_type,
        }
    }
}

/// A row's value of a `bigint` or `uuid` sort column, for lists sorted in
/// memory ([`SortedPage::page_of`]). It orders as PostgreSQL orders the
/// column and is written into tokens as its text, so a token means the
/// same whether the list was read sorted or sorted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortValue {
    Integer(i64),
    Id(Uuid),
}

impl std::fmt::Display for SortValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Integer(value) => value.fmt(f),
            Self::Id(id) => id.hyphenated().fmt(f),
        }
    }
}

/// A validated request for one sorted page.
#[derive(Debug, Clone)]
pub struct SortedPage {
    column: SortColumn,
    descending: bool,
    size: i64,
    /// `size + 1`, stored so [`Self::parameters`] can lend it.
    fetch_limit: i64,
    after_key: Option<String>,
    after_id: Option<Uuid>,
    fingerprint: u64,
}

/// SQL fragments for one page query; see [`SortedPage::sql`].
#[derive(Debug, Clone)]
struct PageSql {
    /// Extra select-list entries, starting with a comma.
    select: String,
    /// A condition to add with `AND`.
    after: String,
    /// `ORDER BY … LIMIT …`.
    order: String,
}

impl SortedPage {
    /// Validates `order_by` (`"column [asc|desc]"`; empty sorts by the
    /// first of `columns`, ascending), `page_size` (0 means the default;
    /// above the maximum is capped) and `page_token`. `scope` names the
    /// list (the request's parent) and `filter` describes the request's
    /// filters; a token is only accepted with the same ones.
    pub fn parse(
        order_by: &str,
        columns: &'static [SortColumn],
        page_size: i32,
        page_token: &str,
        scope: &str,
        filter: &str,
    ) -> Result<Self, ApiError> {
        let mut violations = Violations::new();
        let mut words = order_by.split_whitespace();
        let name = words.next();
        let descending = match words.next() {
            None => false,
            Some(word) if word.eq_ignore_ascii_case("asc") => false,
            Some(word) if word.eq_ignore_ascii_case("desc") => true,
            Some(other) => {
                violations.add(
                    "order_by",
                    format!(
                        "direction must be asc or desc, got {}",
                        estate_errors::quote(other)
                    ),
                );
                false
            }
        };
        if words.next().is_some() {
            violations.add("order_by", "sorts by one column: \"column [asc|desc]\"");
        }
        let column = match name {
            None => Some(columns[0]),
            Some(name) => columns.iter().copied().find(|column| column.name == name),
        };
        if column.is_none() {
            let names: Vec<&str> = columns.iter().map(|column| column.name).collect();
            violations.add(
                "order_by",
                format!(
                    "{} is not a sortable column; use one of {}",
                    estate_errors::quote(name.unwrap_or_default()),
                    names.join(", ")
                ),
            );
        }
        let size = page_size_of(page_size, &mut violations);
        violations.finish()?;
        let column = column.expect("validated above");
        let fingerprint = fingerprint(column.name, descending, &format!("{scope}\0{filter}"));
        let (after_key, after_id) = match decode(page_token, fingerprint)? {
            Some((key, id)) => {
                if !valid_value(column.sql_type, &key) {
                    return Err(ApiError::invalid(
                        "page_token",
                        "is not a token returned by a previous call",
                    ));
                }
                (Some(key), Some(id))
            }
            None => (None, None),
        };
        Ok(Self {
            column,
            descending,
            size,
            fetch_limit: size + 1,
            after_key,
            after_id,
            fingerprint,
        })
    }

    /// The name of the column sorted by.
    pub fn column_name(&self) -> &'static str {
        self.column.name
    }

    /// Pages `rows` held in memory the way [`Self::query`] pages a table,
    /// with the same tokens: by `key` (each row's value of the sort
    /// column, [`Self::column_name`]) and then `id`, in the sort's
    /// direction, from after the token's row. Returns the page and the
    /// next page's token (empty on the last page). Only `bigint` and
    /// `uuid` columns sort in memory.
    pub fn page_of<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> SortValue,
        id: impl Fn(&T) -> Uuid,
    ) -> Result<(Vec<T>, String), ApiError> {
        let after = match (&self.after_key, self.after_id) {
            (Some(text), Some(after_id)) => Some((self.sort_value(text)?, after_id)),
            _ => None,
        };
        let in_order = |a: &(SortValue, Uuid), b: &(SortValue, Uuid)| {
            let order = a.cmp(b);
            if self.descending {
                order.reverse()
            } else {
                order
            }
        };
        let mut keyed: Vec<((SortValue, Uuid), T)> = rows
            .into_iter()
            .map(|row| ((key(&row), id(&row)), row))
            .filter(|(sort, _)| after.is_none_or(|after| in_order(sort, &after).is_gt()))
            .collect();
        keyed.sort_unstable_by(|a, b| in_order(&a.0, &b.0));
        let page_size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let token = match keyed.get(page_size.wrapping_sub(1)) {
            Some(((value, last_id), _)) if keyed.len() > page_size => {
                encode(self.fingerprint, &value.to_string(), *last_id)
            }
            _ => String::new(),
        };
        keyed.truncate(page_size);
        Ok((keyed.into_iter().map(|(_, row)| row).collect(), token))
    }

    /// The sort value a token carries, as the column's type.
    fn sort_value(&self, text: &str) -> Result<SortValue, ApiError> {
        let invalid =
            || ApiError::invalid("page_token", "is not a token returned by a previous call");
        match self.column.sql_type {
            "bigint" => text.parse().map(SortValue::Integer).map_err(|_| invalid()),
            "uuid" => text.parse().map(SortValue::Id).map_err(|_| invalid()),
            other => Err(ApiError::internal(format!(
                "column {} of type {other} cannot be sorted in memory",
                self.column.name
            ))),
        }
    }

    /// Whether the sort is descending: for lists that page by tokens of
    /// their own (parse those with an empty `page_token`).
    pub fn descending(&self) -> bool {
        self.descending
    }

    /// The page's size, for lists that page by tokens of their own.
    pub fn page_request(&self) -> crate::PageRequest {
        crate::PageRequest {
            after: None,
            size: self.size,
            scope: self.fingerprint,
        }
    }

    /// Reads one page: `{select} {from_where} AND <after the token> ORDER
    /// BY … LIMIT …`, where `select` is the select list (`SELECT …`),
    /// `from_where` ends in a condition, `parameters` are the ones it
    /// refers to (`$1…`) and `id` is the SQL expression of a row's unique
    /// id. Returns the mapped page and the next page's token.
    pub async fn query<T>(
        &self,
        client: &impl GenericClient,
        select: &str,
        from_where: &str,
        id: &str,
        parameters: &[&(dyn ToSql + Sync)],
        map: impl Fn(&Row) -> T,
    ) -> Result<(Vec<T>, String), DbError> {
        let sql = self.sql(id, parameters.len() + 1);
        let statement = format!(
            "{select}{} {from_where} AND {} {}",
            sql.select, sql.after, sql.order
        );
        let mut all = parameters.to_vec();
        all.extend(self.parameters());
        let rows = client.query(&statement, &all).await?;
        Ok(self.finish(rows, map))
    }

    /// The fragments of a page query over rows whose unique id is the SQL
    /// expression `id`. The query binds [`Self::parameters`] as parameters
    /// `$first`, `$first + 1` and `$first + 2`.
    fn sql(&self, id: &str, first: usize) -> PageSql {
        let SortColumn {
            expression,
            sql_type,
            ..
        } = self.column;
        let (key, last_id, limit) = (first, first + 1, first + 2);
        let (direction, comparison) = if self.descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        let after = if self.after_id.is_some() {
            format!(
                "({expression}, {id}) {comparison} (${key}::text::{sql_type}, ${last_id}::uuid)"
            )
        } else {
            // Binds the same parameters so every page has one statement shape.
            format!("(${key}::text IS NULL AND ${last_id}::uuid IS NULL)")
        };
        PageSql {
            select: format!(", ({expression})::text AS sort_key, {id} AS sort_id"),
            after,
            order: format!("ORDER BY {expression} {direction}, {id} {direction} LIMIT ${limit}"),
        }
    }

    /// The parameters [`Self::sql`] refers to: the last sort value, the last
    /// id and the row limit (one more than the page, to learn whether a
    /// next page exists without counting).
    fn parameters(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.after_key, &self.after_id, &self.fetch_limit]
    }

    /// Maps the over-fetched rows to the page and returns the next token
    /// (empty on the last page).
    fn finish<T>(&self, rows: Vec<Row>, map: impl Fn(&Row) -> T) -> (Vec<T>, String) {
        let page_size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let token = if rows.len() > page_size {
            let last = &rows[page_size - 1];
            encode(self.fingerprint, last.get("sort_key"), last.get("sort_id"))
        } else {
            String::new()
        };
        let items = rows.iter().take(page_size).map(map).collect();
        (items, token)
    }
}

/// Whether `text` is a value PostgreSQL casts to `sql_type` (as the
/// column's own text output is): a token's sort value is checked before
/// SQL casts it, so a tampered token cannot fail a statement.
pub fn valid_value(sql_type: &str, text: &str) -> bool {
    // Dates and times as PostgreSQL writes them: digits first (chrono
    // would also take a sign or a longer year, which PostgreSQL writes
    // otherwise), or the infinities that empty values sort as.
    let written_date = |text: &str| {
        matches!(text, "infinity" | "-infinity")
            || text.as_bytes().first().is_some_and(u8::is_ascii_digit)
    };
    match sql_type {
        // Only the canonical form PostgreSQL writes (it refuses some forms
        // the uuid crate reads, such as `urn:uuid:`).
        "uuid" => Uuid::parse_str(text).is_ok_and(|id| id.hyphenated().to_string() == text),
        "bigint" => text.parse::<i64>().is_ok(),
        "integer" => text.parse::<i32>().is_ok(),
        "smallint" => text.parse::<i16>().is_ok(),
        "date" => {
            written_date(text)
                && (text.ends_with("infinity")
                    || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok())
        }
        "timestamptz" => {
            written_date(text)
                && (text.ends_with("infinity")
                    || chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok())
        }
        // Text takes anything but NUL, which PostgreSQL cannot hold.
        "text" => !text.contains('\0'),
        _ => false,
    }
}

/// A stable fingerprint of a list's filter, for page tokens a list builds
/// itself: a token made under one filter is refused under another.
pub fn filter_fingerprint(filter: &str) -> u64 {
    fingerprint("", false, filter)
}

/// FNV-1a: stable across builds and Rust versions, unlike `DefaultHasher`,
/// so a token survives a redeploy.
fn fingerprint(column: &str, descending: bool, filter: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = column
        .bytes()
        .chain([0, u8::from(descending), 0])
        .chain(filter.bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Token bytes: fingerprint (8), last id (16), last sort value (UTF-8).
fn encode(fingerprint: u64, key: &str, id: Uuid) -> String {
    let mut bytes = Vec::with_capacity(24 + key.len());
    bytes.extend_from_slice(&fingerprint.to_be_bytes());
    bytes.extend_from_slice(id.as_bytes());
    bytes.extend_from_slice(key.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(token: &str, expected: u64) -> Result<Option<(String, Uuid)>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || ApiError::invalid("page_token", "is not a token returned by a previous call");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if bytes.len() < 24 {
        return Err(invalid());
    }
    let (fingerprint, rest) = bytes.split_at(8);
    let (id, key) = rest.split_at(16);
    if u64::from_be_bytes(fingerprint.try_into().expect("8 bytes")) != expected {
        return Err(ApiError::invalid(
            "page_token",
            "was issued for a different order_by or filter",
        ));
    }
    let id = Uuid::from_slice(id).map_err(|_| invalid())?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| invalid())?;
    Ok(Some((key, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[SortColumn] = &[
        SortColumn::new("create_time", "t.id", "uuid"),
        SortColumn::new("display_name", "t.display_name", "text"),
    ];

    #[test]
    fn order_by_defaults_to_the_first_column_ascending() {
        let page = SortedPage::parse("", COLUMNS, 0, "", "p", "").unwrap();
        assert_eq!(page.column.name, "create_time");
        assert!(!page.descending);
        assert_eq!(page.size, 50);
        let page = SortedPage::parse("display_name DESC", COLUMNS, 5000, "", "p", "").unwrap();
        assert_eq!(page.column.name, "display_name");
        assert!(page.descending);
        assert_eq!(page.size, 1000);
    }

    #[test]
    fn bad_order_by_names_the_field_and_the_columns() {
        for bad in ["price", "display_name sideways", "display_name asc id"] {
            let error = SortedPage::parse(bad, COLUMNS, 0, "", "p", "").unwrap_err();
            let text = format!("{error:?}");
            assert!(text.contains("order_by"), "{bad}: {text}");
        }
        let error = SortedPage::parse("price", COLUMNS, 0, "", "p", "").unwrap_err();
        assert!(format!("{error:?}").contains("create_time, display_name"));
        assert!(SortedPage::parse("", COLUMNS, -1, "", "p", "").is_err());
    }

    #[test]
    fn a_token_resumes_only_the_sort_and_filter_it_was_issued_for() {
        let id = Uuid::now_v7();
        let token = encode(fingerprint("display_name", true, "p\0f"), "Zoë, \"x\"", id);
        let page = SortedPage::parse("display_name desc", COLUMNS, 10, &token, "p", "f").unwrap();
        assert_eq!(page.after_key.as_deref(), Some("Zoë, \"x\""));
        assert_eq!(page.after_id, Some(id));
        assert!(SortedPage::parse("display_name asc", COLUMNS, 10, &token, "p", "f").is_err());
        assert!(SortedPage::parse("display_name desc", COLUMNS, 10, &token, "p", "g").is_err());
        assert!(SortedPage::parse("", COLUMNS, 10, "AAAA", "p", "").is_err());
        assert!(SortedPage::parse("", COLUMNS, 10, "not a token!", "p", "").is_err());
    }

    const IN_MEMORY: &[SortColumn] = &[
        SortColumn::new("id", "t.id", "uuid"),
        SortColumn::new("count", "t.count", "bigint"),
    ];

    /// Every page of `rows` under `order_by`, `size` at a time, following
    /// the tokens.
    fn pages(rows: &[(i64, Uuid)], order_by: &str, size: i32) -> Vec<Vec<(i64, Uuid)>> {
        let key = |row: &(i64, Uuid)| match order_by.split(' ').next() {
            Some("count") => SortValue::Integer(row.0),
            _ => SortValue::Id(row.1),
        };
        let mut pages = Vec::new();
        let mut token = String::new();
        loop {
            let page = SortedPage::parse(order_by, IN_MEMORY, size, &token, "p", "f").unwrap();
            let (rows, next) = page.page_of(rows.to_vec(), key, |row| row.1).unwrap();
            pages.push(rows);
            if next.is_empty() {
                return pages;
            }
            token = next;
        }
    }

    #[test]
    fn pages_sorted_in_memory_follow_the_sort_value_then_the_id() {
        let id = |n: u128| Uuid::from_u128(n);
        // Counts repeat, so the id breaks ties; ids out of order.
        let rows = vec![(5, id(3)), (-2, id(9)), (5, id(1)), (7, id(4)), (-2, id(2))];
        assert_eq!(
            pages(&rows, "count", 2),
            vec![
                vec![(-2, id(2)), (-2, id(9))],
                vec![(5, id(1)), (5, id(3))],
                vec![(7, id(4))],
            ]
        );
        assert_eq!(
            pages(&rows, "count desc", 3),
            vec![
                vec![(7, id(4)), (5, id(3)), (5, id(1))],
                vec![(-2, id(9)), (-2, id(2))],
            ]
        );
        let by_id: Vec<Uuid> = pages(&rows, "", 4).concat().iter().map(|r| r.1).collect();
        assert_eq!(by_id, [1, 2, 3, 4, 9].map(id));
        // A full last page has no next token.
        assert_eq!(pages(&rows, "count", 5).len(), 1);
    }

    #[test]
    fn an_in_memory_page_reads_the_same_tokens_as_a_query() {
        // The token a SQL page of `count` makes: the value's text.
        let page = SortedPage::parse("count", IN_MEMORY, 1, "", "p", "f").unwrap();
        let token = encode(page.fingerprint, "5", Uuid::from_u128(1));
        let page = SortedPage::parse("count", IN_MEMORY, 1, &token, "p", "f").unwrap();
        let rows = vec![(5, Uuid::from_u128(1)), (5, Uuid::from_u128(2))];
        let (rows, _) = page
            .page_of(rows, |row| SortValue::Integer(row.0), |row| row.1)
            .unwrap();
        assert_eq!(rows, vec![(5, Uuid::from_u128(2))]);
        // A value that is not the column's type is refused.
        let token = encode(page.fingerprint, "five", Uuid::nil());
        let error = SortedPage::parse("count", IN_MEMORY, 1, &token, "p", "f").unwrap_err();
        assert!(format!("{error:?}").contains("page_token"));
    }

    #[test]
    fn a_tampered_sort_value_is_refused_before_it_reaches_sql() {
        const TYPED: &[SortColumn] = &[
            SortColumn::new("id", "t.id", "uuid"),
            SortColumn::new("count", "t.count", "bigint"),
            SortColumn::new("depth", "t.depth", "integer"),
            SortColumn::new("day", "t.day", "date"),
            SortColumn::new("time", "t.time", "timestamptz"),
            SortColumn::new("name", "t.name", "text"),
        ];
        // (column, a value PostgreSQL writes, a tampered value)
        for (column, good, bad) in [
            ("id", "0190b7d4-0000-7000-8000-000000000000", "0190b7d4"),
            (
                "id",
                "0190b7d4-0000-7000-8000-000000000000",
                "urn:uuid:0190b7d4-0000-7000-8000-000000000000",
            ),
            ("count", "-42", "42.5"),
            ("depth", "7", "99999999999"),
            ("day", "2026-11-23", "2026-13-01"),
            ("day", "infinity", "+2026-11-23"),
            ("day", "-infinity", "infinite"),
            ("time", "2026-11-23 12:00:00.123456+00", "yesterday"),
            ("time", "infinity", "-2026-11-23 12:00:00+00"),
            ("name", "Zoë", "a\0b"),
        ] {
            let fingerprint = SortedPage::parse(column, TYPED, 1, "", "p", "")
                .unwrap()
                .fingerprint;
            let token = encode(fingerprint, good, Uuid::nil());
            assert!(
                SortedPage::parse(column, TYPED, 1, &token, "p", "").is_ok(),
                "{column} {good}"
            );
            let token = encode(fingerprint, bad, Uuid::nil());
            assert!(
                SortedPage::parse(column, TYPED, 1, &token, "p", "").is_err(),
                "{column} {bad}"
            );
        }
        assert!(valid_value("timestamptz", "2026-11-23 12:00:00+00"));
    }

    #[test]
    fn a_token_is_refused_on_another_parents_list() {
        let page = SortedPage::parse("", COLUMNS, 1, "", "customers/a", "").unwrap();
        let token = encode(page.fingerprint, &Uuid::nil().to_string(), Uuid::nil());
        assert!(SortedPage::parse("", COLUMNS, 1, &token, "customers/a", "").is_ok());
        assert!(SortedPage::parse("", COLUMNS, 1, &token, "customers/b", "").is_err());
    }

    #[test]
    fn the_sql_compares_the_sort_value_then_the_id_in_the_sort_direction() {
        let page = SortedPage::parse("display_name desc", COLUMNS, 10, "", "p", "").unwrap();
        let sql = page.sql("t.id", 4);
        assert_eq!(sql.after, "($4::text IS NULL AND $5::uuid IS NULL)");
        assert_eq!(
            sql.order,
            "ORDER BY t.display_name DESC, t.id DESC LIMIT $6"
        );
        let token = encode(page.fingerprint, "m", Uuid::nil());
        let page = SortedPage::parse("display_name desc", COLUMNS, 10, &token, "p", "").unwrap();
        assert_eq!(
            page.sql("t.id", 4).after,
            "(t.display_name, t.id) < ($4::text::text, $5::uuid)"
        );
    }
}
