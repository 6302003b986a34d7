//! Writing rows as they arrive: a page is written (and flushed) as soon as
//! it comes, so an export of many pages starts at once and holds one page
//! in memory. CSV has its header even with no rows; JSON is one array (one
//! object per line inside it), NDJSON one object per line. Only a table
//! waits for the last row, to size its columns.

use std::io::{self, Write};
use std::marker::PhantomData;

use crate::rows::Row;

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal (a subset of the fields).
    Table,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// Writes rows of `R` to `out` in one format.
pub struct RowWriter<'out, R: Row, W: Write> {
    format: Format,
    out: &'out mut W,
    written: usize,
    /// A table's cells, until [`Self::finish`].
    table: Vec<Vec<String>>,
    rows: PhantomData<R>,
}

impl<'out, R: Row, W: Write> RowWriter<'out, R, W> {
    /// Starts the output (a CSV header).
    pub fn new(format: Format, out: &'out mut W) -> io::Result<Self> {
        if format == Format::Csv {
            let mut writer = csv_writer(&mut *out);
            writer.write_record(R::FIELDS)?;
            writer.flush()?;
        }
        Ok(Self {
            format,
            out,
            written: 0,
            table: Vec::new(),
            rows: PhantomData,
        })
    }

    /// Writes one page of rows and flushes them.
    pub fn write_page(&mut self, rows: &[R]) -> io::Result<()> {
        match self.format {
            Format::Table => self.table.extend(rows.iter().map(Row::table_cells)),
            Format::Csv => {
                let mut writer = csv_writer(&mut *self.out);
                for row in rows {
                    writer.serialize(row)?;
                }
                writer.flush()?;
            }
            Format::Json => {
                for (index, row) in rows.iter().enumerate() {
                    let first = self.written + index == 0;
                    self.out.write_all(if first { b"[\n" } else { b",\n" })?;
                    serde_json::to_writer(&mut *self.out, row)?;
                }
            }
            Format::Ndjson => {
                for row in rows {
                    serde_json::to_writer(&mut *self.out, row)?;
                    self.out.write_all(b"\n")?;
                }
            }
        }
        self.written += rows.len();
        self.out.flush()
    }

    /// Ends the output (closes a JSON array, writes a table); returns how
    /// many rows were written.
    pub fn finish(self) -> io::Result<usize> {
        match self.format {
            Format::Table => write_table(self.out, R::TABLE_HEADERS, &self.table)?,
            Format::Json if self.written == 0 => self.out.write_all(b"[]\n")?,
            Format::Json => self.out.write_all(b"\n]\n")?,
            Format::Csv | Format::Ndjson => {}
        }
        self.out.flush()?;
        Ok(self.written)
    }
}

fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out)
}

/// Left-aligned columns two spaces apart, headers first; no trailing
/// spaces.
pub fn write_table(out: &mut impl Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header_cells: Vec<String> = headers.iter().map(|header| header.to_string()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            // Cells are one line each: a comment's line breaks would
            // break the table.
            let cell = cell.replace(['\n', '\r'], " ");
            line.push_str(&cell);
            let padding = width.saturating_sub(cell.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', padding));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
