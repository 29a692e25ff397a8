//! `pixelsift demo`: mint, ingest and report on bundled fixtures.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::commit::Dataset;
use pixelsift::dialect::Dialect;
use pixelsift::enrich::geo::{Geo, GeoDb};
use pixelsift::input::Input;
use pixelsift::manifest::Manifest;
use pixelsift::mint::{mint, MintConfig, SecretSource};
use pixelsift::pipeline::{ingest, IngestConfig};
use pixelsift::query;

use super::OutputFormat;

/// Flags of `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the demo's files and dataset in this directory (default: a temporary one, removed after).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
}

/// Runs `demo`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir()?;
    let root = a.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let files = pixelsift::demo::write_fixtures(&root.join("inputs"))?;
    let out = root.join("minted");
    mint(&MintConfig::new(
        files.recipients.clone(),
        files.links.clone(),
        "https://t.example.com",
        out.clone(),
        SecretSource::File(files.secret.clone()),
    ))?;
    let data = root.join("dataset");
    let mut cfg = IngestConfig::new(
        Manifest::load(&out)?,
        data.clone(),
        vec![Input::File(files.access_log.clone())],
    );
    cfg.geo = Geo::new(vec![
        GeoDb::open(&files.geoip_city)?,
        GeoDb::open(&files.geoip_asn)?,
    ]);
    cfg.dialect = Some(Dialect::Combined);
    let dataset = Dataset::create(&data)?;
    let lock = dataset
        .lock(true)?
        .expect("a blocking lock is always taken");
    let summary = ingest(&cfg, &dataset, &lock, None)?;
    drop(lock);
    println!(
        "pixelsift demo: minted {} and ingested {}",
        out.display(),
        files.access_log.display()
    );
    super::ingest::print_summary(&summary, &data.display().to_string());
    println!();
    println!("campaign-summary:");
    let report = query::find_report(None, "campaign-summary")?;
    let params = report.bind(&[])?;
    let (schema, batches) = super::runtime()?.block_on(async {
        let ctx = query::context(&data).await?;
        query::run_sql_with(&ctx, &report.sql, &params).await
    })?;
    super::print_result(a.format, &schema, &batches, None)?;
    if a.keep.is_some() {
        println!("\ndataset kept in {}; try: pixelsift sql --data {} \"SELECT class, rule_id, count(*) FROM events GROUP BY 1, 2\"", data.display(), data.display());
    }
    Ok(ExitCode::SUCCESS)
}
