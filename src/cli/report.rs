//! `pixelsift report`.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::query;

use super::OutputFormat;

/// Flags of `report`.
#[derive(clap::Args)]
pub struct Args {
    /// Report name (see --list).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the reports with their descriptions.
    #[arg(long)]
    list: bool,
    /// Dataset directory.
    #[arg(long, required_unless_present = "list")]
    data: Option<PathBuf>,
    /// Extra report directory; its .sql files add to or replace the built-in ones.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

/// Runs `report`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.list {
        for r in query::reports(a.queries.as_deref())? {
            println!("{:<20} {}", r.name, r.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = a.name.expect("clap requires it");
    let data = a.data.expect("clap requires it");
    let report = query::find_report(a.queries.as_deref(), &name)?;
    let (schema, batches) = super::runtime()?.block_on(async {
        let ctx = query::context(&data).await?;
        query::run_sql(&ctx, &report.sql).await
    })?;
    super::print_result(a.format, &schema, &batches)?;
    Ok(ExitCode::SUCCESS)
}
