//! `pixelsift report`.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::query;

use super::OutputFormat;

/// Flags of `report`.
#[derive(clap::Args)]
pub struct Args {
    /// Report name (see --list), or `nightly` for all of them as CSV plus an HTML page.
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the reports with their descriptions.
    #[arg(long)]
    list: bool,
    /// Dataset directory, or its URL in object storage (s3://bucket/prefix).
    #[arg(long, required_unless_present = "list")]
    data: Option<PathBuf>,
    /// Run on an Apache DataFusion Ballista cluster: its scheduler, df://HOST:PORT.
    #[arg(long)]
    cluster: Option<String>,
    /// Extra report directory; its .sql files add to or replace the built-in ones.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
    /// A report parameter, name=value (repeatable): campaign, since, until, n... (see the report's .sql).
    #[arg(long = "param", value_parser = super::parse_param)]
    params: Vec<(String, String)>,
    /// Write to this file (atomically) instead of stdout; for `nightly`, the directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `report`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.list {
        for r in query::reports(a.queries.as_deref())? {
            println!("{:<18} {}", r.name, r.description);
            if !r.params.is_empty() {
                let ps: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{:<18}   params: {}", "", ps.join(" "));
            }
        }
        println!(
            "{:<18} every report as CSV and an HTML page with charts (--out DIR)",
            "nightly"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let name = a.name.expect("clap requires it");
    let data = a.data.expect("clap requires it");
    if name == "nightly" {
        anyhow::ensure!(
            a.cluster.is_none(),
            "report nightly runs locally; run single reports with --cluster"
        );
        let out = a.out.ok_or_else(|| {
            anyhow::anyhow!("report nightly writes a directory: give it with --out DIR")
        })?;
        let n = super::runtime()?.block_on(pixelsift::nightly::nightly(
            &data,
            &out,
            a.queries.as_deref(),
            &a.params,
        ))?;
        println!("wrote {} and {} CSV files", n.index.display(), n.csvs.len());
        return Ok(ExitCode::SUCCESS);
    }
    let report = query::find_report(a.queries.as_deref(), &name)?;
    let params = report.bind(&a.params)?;
    let (schema, batches) = super::runtime()?.block_on(async {
        let ctx = super::session(&data, &params.days, a.cluster.as_deref()).await?;
        super::run_sql(&ctx, &report.sql, &params, a.cluster.is_some()).await
    })?;
    super::print_result(a.format, &schema, &batches, a.out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
