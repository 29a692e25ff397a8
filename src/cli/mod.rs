//! Command-line interface: one module per subcommand, each `Args` + `run()`.
//! Only this module knows clap; it turns flags into library configs.

mod demo;
mod ingest;
mod maintain;
mod mint;
mod report;
mod sql;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Email open and click analytics from access logs, with no application server.
#[derive(Parser)]
#[command(name = "pixelsift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint tokens, pixel and click URLs, and an nginx config for recipients and links.
    Mint(mint::Args),
    /// Read access logs into the Parquet dataset.
    Ingest(ingest::Args),
    /// Run a named report from queries/.
    Report(report::Args),
    /// Run ad-hoc SQL over the dataset.
    Sql(sql::Args),
    /// Merge small files per partition, rows unchanged.
    Compact(maintain::CompactArgs),
    /// Erase a recipient from events, rejects and the manifest copy.
    Forget(maintain::ForgetArgs),
    /// Drop event and reject partitions before a date.
    Purge(maintain::PurgeArgs),
    /// Ingest bundled fixtures into a temporary dataset and print the campaign summary.
    Demo(demo::Args),
}

/// How query results are printed.
#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON array of objects.
    Json,
    /// Markdown table.
    Markdown,
}

impl From<OutputFormat> for pixelsift::output::Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Table => pixelsift::output::Format::Table,
            OutputFormat::Csv => pixelsift::output::Format::Csv,
            OutputFormat::Json => pixelsift::output::Format::Json,
            OutputFormat::Markdown => pixelsift::output::Format::Markdown,
        }
    }
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Mint(a) => mint::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Report(a) => report::run(a),
        Command::Sql(a) => sql::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Compact(a) => maintain::compact(a),
        Command::Forget(a) => maintain::forget(a),
        Command::Purge(a) => maintain::purge(a),
    }
}

/// A tokio runtime for DataFusion.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Prints a query result to stdout.
pub(crate) fn print_result(
    format: OutputFormat,
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::array::RecordBatch],
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    pixelsift::output::write(&mut out, format.into(), schema, batches)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}
