//! `pixelsift demo`: mint, ingest and report on bundled fixtures.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::classify::{Classifier, Networks};
use pixelsift::commit::Dataset;
use pixelsift::dialect::Dialect;
use pixelsift::enrich::agent::AgentParser;
use pixelsift::enrich::geo::{Geo, GeoDb};
use pixelsift::input::Input;
use pixelsift::manifest::Manifest;
use pixelsift::mint::{mint, LogStyle, MintConfig, SecretSource};
use pixelsift::pipeline::{ingest, IngestConfig};
use pixelsift::privacy::IpPolicy;
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
    mint(&MintConfig {
        recipients: files.recipients.clone(),
        links: files.links.clone(),
        base_url: "https://t.example.com".into(),
        out: out.clone(),
        secret: SecretSource::File(files.secret.clone()),
        listen: "80".into(),
        server_name: None,
        access_log: "/var/log/nginx/pixelsift.access.log".into(),
        log_style: LogStyle::Combined,
        real_ip_from: Vec::new(),
        trap_link: false,
        opt_out: None,
        aggregate: false,
        read_time: None,
        print_pixel: false,
        assets_dir: None,
    })?;
    let data = root.join("dataset");
    let cfg = IngestConfig {
        manifest: Manifest::load(&out)?,
        data: data.clone(),
        geo: Geo::new(vec![
            GeoDb::open(&files.geoip_city)?,
            GeoDb::open(&files.geoip_asn)?,
        ]),
        classifier: Classifier::builtin(),
        networks: Networks::builtin(),
        agents: AgentParser::default(),
        dialect: Some(Dialect::Combined),
        ip_policy: IpPolicy::Truncate,
        client_ip: Default::default(),
        max_line_bytes: 64 * 1024,
        keep_partial: false,
        inputs: vec![Input::File(files.access_log.clone())],
        limits: Default::default(),
    };
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
    super::ingest::print_summary(&summary, &data);
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
