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
    /// A parameter, name=value (repeatable), used in the query as $name.
    #[arg(long = "param", value_parser = super::parse_param)]
    params: Vec<(String, String)>,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The query, over tables events, rejects, manifest and links.
    query: String,
}

/// Runs `sql`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let params = query::Params::new(a.params.clone())?;
    let (schema, batches) = super::runtime()?.block_on(async {
        let ctx = query::context_for(&a.data, &params.days).await?;
        query::run_sql_with(&ctx, &a.query, &params).await
    })?;
    super::print_result(a.format, &schema, &batches, a.out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
