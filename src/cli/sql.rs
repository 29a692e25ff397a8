//! `pixelsift sql`.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::query;

use super::OutputFormat;

/// Flags of `sql`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset directory.
    #[arg(long)]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
    /// The query, over tables events, rejects, manifest and links.
    query: String,
}

/// Runs `sql`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let (schema, batches) = super::runtime()?.block_on(async {
        let ctx = query::context(&a.data).await?;
        query::run_sql(&ctx, &a.query).await
    })?;
    super::print_result(a.format, &schema, &batches)?;
    Ok(ExitCode::SUCCESS)
}
