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
    /// One JSON object per line.
    Ndjson,
    /// A self-contained HTML page with the table.
    Html,
    /// Parquet (binary: for files, not terminals).
    Parquet,
}

impl Format {
    /// True for formats that are bytes, not text.
    pub fn is_binary(&self) -> bool {
        matches!(self, Format::Parquet)
    }
}

/// Makes a text cell safe to open in a spreadsheet: a cell starting with
/// `=`, `+`, `-`, `@`, tab or carriage return would be taken as a formula
/// (CSV injection), so it gets a leading `'`, which spreadsheets hide.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            std::borrow::Cow::Owned(format!("'{cell}"))
        }
        _ => std::borrow::Cow::Borrowed(cell),
    }
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn cells(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<Vec<String>>, arrow::error::ArrowError> {
    let opts = FormatOptions::default().with_null("");
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    let _ = schema;
    Ok(rows)
}

/// Writes a result in the chosen format.
pub fn write<W: Write>(
    w: &mut W,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow_free::Result {
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
            let sep: String = widths
                .iter()
                .map(|w| format!("+{}", "-".repeat(w + 2)))
                .collect::<String>()
                + "+";
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
            writeln!(
                w,
                "| {} |",
                header
                    .iter()
                    .map(|h| esc(h))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
            writeln!(w, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
            for r in &rows {
                writeln!(
                    w,
                    "| {} |",
                    r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
                )?;
            }
        }
        Format::Csv => {
            let rows = cells(schema, batches)?;
            let text: Vec<bool> = schema
                .fields()
                .iter()
                .map(|f| {
                    matches!(
                        f.data_type(),
                        arrow::datatypes::DataType::Utf8
                            | arrow::datatypes::DataType::LargeUtf8
                            | arrow::datatypes::DataType::Utf8View
                    )
                })
                .collect();
            let mut c = csv::Writer::from_writer(w);
            c.write_record(header.iter().map(|h| neutralize(h).into_owned()))?;
            for r in &rows {
                c.write_record(r.iter().zip(&text).map(|(v, t)| {
                    if *t {
                        neutralize(v).into_owned()
                    } else {
                        v.clone()
                    }
                }))?;
            }
            c.flush()?;
        }
        Format::Ndjson => {
            let mut buf = Vec::new();
            {
                let mut jw = arrow::json::LineDelimitedWriter::new(&mut buf);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                jw.write_batches(&refs)?;
                jw.finish()?;
            }
            w.write_all(&buf)?;
        }
        Format::Html => {
            let rows = cells(schema, batches)?;
            writeln!(
                w,
                "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>pixelsift</title>"
            )?;
            writeln!(w, "<style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>")?;
            write!(w, "{}", html_table(&header, &rows))?;
            writeln!(w, "</body></html>")?;
        }
        Format::Parquet => {
            let mut buf = Vec::new();
            {
                let mut pw = parquet::arrow::ArrowWriter::try_new(&mut buf, schema.clone(), None)
                    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
                for b in batches {
                    pw.write(b)
                        .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
                }
                pw.close()
                    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            }
            w.write_all(&buf)?;
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

/// An HTML `<table>` of text cells, numbers right-aligned.
pub fn html_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>\n<thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", html_escape(h)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let num = !c.is_empty() && c.parse::<f64>().is_ok();
            let style = if num {
                " style=\"text-align:right\""
            } else {
                ""
            };
            s.push_str(&format!("<td{style}>{}</td>", html_escape(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

/// Formats every value of a result as text (nulls empty).
pub fn text_cells(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<Vec<String>>, arrow::error::ArrowError> {
    cells(schema, batches)
}

fn write_row<W: Write>(
    w: &mut W,
    cells: &[String],
    widths: &[usize],
    bar: &str,
) -> std::io::Result<()> {
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
