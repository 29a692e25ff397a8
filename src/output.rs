//! Printing query results: table, CSV, JSON or Markdown, always exactly the
//! query's rows (an empty result still prints its header).

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// Output formats for query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A Markdown table.
    Markdown,
}

fn cells(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, arrow::error::ArrowError> {
    let opts = FormatOptions::default().with_null("");
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    let _ = schema;
    Ok(rows)
}

/// Writes a result in the chosen format.
pub fn write<W: Write>(w: &mut W, format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> anyhow_free::Result {
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    match format {
        Format::Table => {
            let rows = cells(schema, batches)?;
            let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
            let sep: String = widths.iter().map(|w| format!("+{}", "-".repeat(w + 2))).collect::<String>() + "+";
            writeln!(w, "{sep}")?;
            write_row(w, &header, &widths, "|")?;
            writeln!(w, "{sep}")?;
            for r in &rows {
                write_row(w, r, &widths, "|")?;
            }
            writeln!(w, "{sep}")?;
        }
        Format::Markdown => {
            let rows = cells(schema, batches)?;
            let esc = |s: &str| s.replace('|', "\\|");
            writeln!(w, "| {} |", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "))?;
            writeln!(w, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
            for r in &rows {
                writeln!(w, "| {} |", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "))?;
            }
        }
        Format::Csv => {
            let rows = cells(schema, batches)?;
            let mut c = csv::Writer::from_writer(w);
            c.write_record(&header)?;
            for r in &rows {
                c.write_record(r)?;
            }
            c.flush()?;
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut jw = arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                jw.write_batches(&refs)?;
                jw.finish()?;
            }
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
            w.write_all(&buf)?;
            writeln!(w)?;
        }
    }
    Ok(())
}

fn write_row<W: Write>(w: &mut W, cells: &[String], widths: &[usize], bar: &str) -> std::io::Result<()> {
    let mut line = String::new();
    for (c, width) in cells.iter().zip(widths) {
        let pad = width - c.chars().count();
        line.push_str(&format!("{bar} {c}{} ", " ".repeat(pad)));
    }
    writeln!(w, "{line}{bar}")
}

/// Result type of the writers: I/O, CSV and Arrow errors.
pub mod anyhow_free {
    /// Error of an output writer.
    #[derive(Debug, thiserror::Error)]
    pub enum OutputError {
        /// Writing failed (a closed pipe is one).
        #[error(transparent)]
        Io(#[from] std::io::Error),
        /// CSV encoding failed.
        #[error(transparent)]
        Csv(#[from] csv::Error),
        /// Formatting a value failed.
        #[error(transparent)]
        Arrow(#[from] arrow::error::ArrowError),
    }
    /// `Ok(())` or the error.
    pub type Result = std::result::Result<(), OutputError>;
}
