//! `pixelsift ingest`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use pixelsift::classify::{Classifier, Networks};
use pixelsift::dialect::Dialect;
use pixelsift::enrich::agent::AgentParser;
use pixelsift::enrich::geo::{Geo, GeoDb};
use pixelsift::input::Input;
use pixelsift::manifest::Manifest;
use pixelsift::pipeline::{ingest, IngestConfig, IngestSummary};

/// Flags of `ingest`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory holding manifest.csv and links.csv.
    #[arg(long)]
    manifest: PathBuf,
    /// Dataset directory (created if missing).
    #[arg(long)]
    data: PathBuf,
    /// GeoIP City (or Country) database in MaxMind format.
    #[arg(long)]
    geoip_city: Option<PathBuf>,
    /// GeoIP ASN database in MaxMind format.
    #[arg(long)]
    geoip_asn: Option<PathBuf>,
    /// Classification rules (TOML) instead of the built-in ones.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Log format: auto (recognised per file from its first lines), combined or nginx-json.
    #[arg(long, default_value = "auto")]
    format: String,
    /// Access logs: plain or gzip; `-` reads stdin.
    #[arg(required = true)]
    logs: Vec<String>,
}

/// Runs `ingest`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&a.manifest).context("loading the manifest")?;
    let mut dbs = Vec::new();
    for p in a.geoip_city.iter().chain(a.geoip_asn.iter()) {
        dbs.push(GeoDb::open(p)?);
    }
    let classifier = match &a.rules {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Classifier::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Classifier::builtin(),
    };
    let dialect = match a.format.as_str() {
        "auto" => None,
        name => Some(Dialect::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.name()).collect();
            anyhow::anyhow!("--format {name}: unknown; use auto, {}", names.join(", "))
        })?),
    };
    let inputs: Vec<Input> = a.logs.iter().map(|s| Input::from_arg(s)).collect();
    let total: u64 = inputs.iter().filter_map(Input::len).sum();
    let cfg = IngestConfig {
        manifest,
        data: a.data.clone(),
        geo: Geo::new(dbs),
        classifier,
        networks: Networks::builtin(),
        agents: AgentParser::default(),
        dialect,
        inputs,
    };
    let summary = with_progress(total, |counter| ingest(&cfg, Some(counter)))?;
    print_summary(&summary, &a.data);
    Ok(ExitCode::SUCCESS)
}

/// Runs `f`, showing a progress bar on stderr when it is a terminal.
pub(crate) fn with_progress<T>(total: u64, f: impl FnOnce(Arc<AtomicU64>) -> T) -> T {
    let counter = Arc::new(AtomicU64::new(0));
    if !std::io::stderr().is_terminal() {
        return f(counter);
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template"),
    );
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (bar, counter, done) = (bar.clone(), counter.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(counter.load(Ordering::Relaxed));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let out = f(counter);
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    bar.finish_and_clear();
    out
}

/// Prints the accounting of a run: every line is an event, a reject or ignored.
pub(crate) fn print_summary(s: &IngestSummary, data: &std::path::Path) {
    for (file, dialect, lines) in &s.files {
        println!("read {file} as {dialect}: {lines} lines");
    }
    println!("lines read: {}", s.lines);
    println!("  events:   {}", s.events);
    for ((kind, class), n) in &s.classes {
        println!("    {kind:<5} {class:<12} {n}");
    }
    println!("  rejects:  {} (kept in {}/rejects)", s.rejected(), data.display());
    for (reason, n) in &s.rejects {
        println!("    {reason:<24} {n}");
    }
    println!("  ignored:  {}", s.ignored_total());
    for (reason, n) in &s.ignored {
        println!("    {reason:<24} {n}");
    }
}
