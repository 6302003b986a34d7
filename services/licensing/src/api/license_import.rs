//! `ImportLicenses`: licenses from a CSV file. Each row becomes the
//! `License` a CreateLicense call would carry, so it meets exactly the same
//! rules; this module only reads the file into those messages, naming the
//! line and column of every value it cannot read.

use estate_errors::ApiError;
use estate_proto::licensing::{
    AssignmentType, License, Metric, Period, Price, Quantity, Unlimited, quantity,
};

/// The columns a file may have.
pub const COLUMNS: &[&str] = &[
    "application",
    "family",
    "metric",
    "assignment_type",
    "quantity",
    "legal_owner",
    "purchase_date",
    "price_currency",
    "price_amount_minor",
    "vendor",
    "invoice_reference",
    "agreement",
    "automatic_allocation",
    "downgrade_rights",
    "subscription_start",
    "subscription_end",
    "minimum_per_computer",
];

/// The most rows and bytes one import takes.
pub const MAX_ROWS: usize = 10_000;
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A value that could not be read: (line, column, why).
pub type Problem = (u64, String, String);

/// The header's columns, checked: every one known, none twice.
pub fn read_header(header: &csv::StringRecord) -> Result<Vec<String>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for name in header {
        let name = name.trim().to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            problems.push((
                1,
                name.clone(),
                format!("is not a column; use any of {}", COLUMNS.join(", ")),
            ));
        } else if columns.contains(&name) {
            problems.push((1, name.clone(), "appears twice".into()));
        }
        columns.push(name);
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

/// What a file reads as.
pub enum Read {
    /// Its header names columns it cannot take: nothing else is read.
    Header(Vec<Problem>),
    /// Its data rows: each readable one as a License, at its line, the
    /// problems of the others, and how many data rows there were.
    Rows {
        rows: Vec<(u64, License)>,
        problems: Vec<Problem>,
        total: i64,
    },
}

/// Reads a whole CSV file: INVALID_ARGUMENT on `csv` for a file without
/// a readable header or with more than [`MAX_ROWS`] rows.
pub fn read(csv: &[u8]) -> Result<Read, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(csv);
    let header = reader
        .headers()
        .map_err(|error| ApiError::invalid("csv", format!("no readable header: {error}")))?
        .clone();
    let columns = match read_header(&header) {
        Ok(columns) => columns,
        Err(problems) => return Ok(Read::Header(problems)),
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    // Data rows seen, read or refused.
    let mut total: i64 = 0;
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        total += 1;
        if index >= MAX_ROWS {
            return Err(ApiError::invalid(
                "csv",
                format!("the file has more than {MAX_ROWS} rows"),
            ));
        }
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                problems.push((line, "csv".to_string(), error.to_string()));
                continue;
            }
        };
        match row_to_license(&columns, &record, line) {
            Ok(license) => rows.push((line, license)),
            Err(found) => problems.extend(found),
        }
    }
    Ok(Read::Rows {
        rows,
        problems,
        total,
    })
}

/// One data row (at `line`) as the License a CreateLicense call carries.
pub fn row_to_license(
    columns: &[String],
    record: &csv::StringRecord,
    line: u64,
) -> Result<License, Vec<Problem>> {
    let mut license = License::default();
    let mut problems = Vec::new();
    let mut problem = |column: &str, why: String| problems.push((line, column.to_string(), why));
    let mut price = Price::default();
    let mut period = Period::default();
    for (column, value) in columns.iter().zip(record.iter()) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match column.as_str() {
            "application" => license.application = value.into(),
            "family" => license.family = value.into(),
            "metric" => match Metric::from_str_name(&format!("METRIC_{}", value.to_uppercase())) {
                Some(metric) if metric != Metric::Unspecified => license.metric = metric.into(),
                _ => problem(
                    column,
                    format!("{value:?} is not a metric, e.g. installations"),
                ),
            },
            "assignment_type" => match AssignmentType::from_str_name(&format!(
                "ASSIGNMENT_TYPE_{}",
                value.to_uppercase()
            )) {
                Some(kind) if kind != AssignmentType::Unspecified => {
                    license.assignment_type = kind.into();
                }
                _ => problem(
                    column,
                    format!("{value:?} is not an assignment type, e.g. organization"),
                ),
            },
            "quantity" => {
                let kind = if value.eq_ignore_ascii_case("unlimited") {
                    Some(quantity::Kind::Unlimited(Unlimited {}))
                } else {
                    match value.parse::<i64>() {
                        Ok(count) => Some(quantity::Kind::Count(count)),
                        Err(_) => {
                            problem(column, format!("{value:?} is not a count nor unlimited"));
                            None
                        }
                    }
                };
                license.quantity = kind.map(|kind| Quantity { kind: Some(kind) });
            }
            "legal_owner" => license.legal_owner = value.into(),
            "purchase_date" => license.purchase_date = value.into(),
            "price_currency" => price.currency_code = value.into(),
            "price_amount_minor" => match value.parse::<i64>() {
                Ok(amount) => price.amount_minor = amount,
                Err(_) => problem(column, format!("{value:?} is not a whole number")),
            },
            "vendor" => license.vendor = value.into(),
            "invoice_reference" => license.invoice_reference = value.into(),
            "agreement" => license.agreement = value.into(),
            "automatic_allocation" | "downgrade_rights" => match boolean(value) {
                Some(flag) if column == "automatic_allocation" => {
                    license.automatic_allocation = flag;
                }
                Some(flag) => license.downgrade_rights = flag,
                None => problem(column, format!("{value:?} is not true or false")),
            },
            "subscription_start" => period.start_date = value.into(),
            "subscription_end" => period.end_date = value.into(),
            "minimum_per_computer" => match value.parse::<i32>() {
                Ok(minimum) => license.minimum_per_computer = minimum,
                Err(_) => problem(column, format!("{value:?} is not a whole number")),
            },
            _ => {}
        }
    }
    if !price.currency_code.is_empty() || price.amount_minor != 0 {
        license.price = Some(price);
    }
    if !period.start_date.is_empty() || !period.end_date.is_empty() {
        license.subscription = Some(period);
    }
    if problems.is_empty() {
        Ok(license)
    } else {
        Err(problems)
    }
}

fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(values: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(values.to_vec())
    }

    #[test]
    fn a_file_reads_into_rows_and_the_problems_of_the_rest() {
        let Ok(Read::Header(problems)) = read(b"application,colour\n1,2\n") else {
            panic!("a header problem");
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].1, "colour");
        // A row with too many fields is a problem on its line; the others
        // are read.
        let Ok(Read::Rows {
            rows,
            problems,
            total,
        }) = read(b"vendor\nContoso\nFabrikam,extra\nLitware\n")
        else {
            panic!("rows");
        };
        assert_eq!(total, 3);
        assert_eq!(
            rows.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(
            problems
                .iter()
                .map(|p| (p.0, p.1.as_str()))
                .collect::<Vec<_>>(),
            [(3, "csv")]
        );
        assert!(read(b"").is_ok_and(|read| matches!(read, Read::Rows { total: 0, .. })));
        let mut big = b"vendor\n".to_vec();
        for _ in 0..=MAX_ROWS {
            big.extend(b"Contoso\n");
        }
        assert!(read(&big).is_err(), "more than MAX_ROWS rows");
    }

    #[test]
    fn a_header_names_known_columns_once() {
        assert!(read_header(&record(&["application", "Metric", "quantity"])).is_ok());
        let problems = read_header(&record(&["application", "colour", "application"])).unwrap_err();
        let columns: Vec<&str> = problems.iter().map(|(_, c, _)| c.as_str()).collect();
        assert_eq!(columns, ["colour", "application"]);
    }

    #[test]
    fn a_row_reads_into_the_license_a_create_call_carries() {
        let columns = read_header(&record(&[
            "application",
            "metric",
            "assignment_type",
            "quantity",
            "price_currency",
            "price_amount_minor",
            "downgrade_rights",
            "subscription_start",
        ]))
        .unwrap();
        let license = row_to_license(
            &columns,
            &record(&[
                "customers/c/applications/a",
                "installations",
                "Organization",
                "unlimited",
                "EUR",
                "1999",
                "yes",
                "2026-01-01",
            ]),
            2,
        )
        .unwrap();
        assert_eq!(license.metric(), Metric::Installations);
        assert_eq!(license.assignment_type(), AssignmentType::Organization);
        assert!(matches!(
            license.quantity.unwrap().kind,
            Some(quantity::Kind::Unlimited(_))
        ));
        assert_eq!(license.price.unwrap().amount_minor, 1999);
        assert!(license.downgrade_rights);
        assert_eq!(license.subscription.unwrap().start_date, "2026-01-01");
    }

    #[test]
    fn every_unreadable_value_is_named_by_line_and_column() {
        let columns = read_header(&record(&["metric", "quantity", "downgrade_rights"])).unwrap();
        let problems =
            row_to_license(&columns, &record(&["litres", "ten", "maybe"]), 7).unwrap_err();
        let named: Vec<(u64, &str)> = problems.iter().map(|(l, c, _)| (*l, c.as_str())).collect();
        assert_eq!(
            named,
            [(7, "metric"), (7, "quantity"), (7, "downgrade_rights")]
        );
    }
}
