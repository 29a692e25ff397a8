//! `pixelsift ingest`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use pixelsift::classify::networks::parse_cidr;
use pixelsift::classify::Networks;
use pixelsift::commit::Dataset;
use pixelsift::dialect::json::JsonMap;
use pixelsift::dialect::log_format::{from_nginx_conf, Escape, LogFormat};
use pixelsift::dialect::Dialect;
use pixelsift::enrich::agent::AgentParser;
use pixelsift::enrich::geo::{FieldMap, Geo, GeoDb};
use pixelsift::input::Input;
use pixelsift::manifest::Manifest;
use pixelsift::mint::read_secret;
use pixelsift::pipeline::{ingest, ClientIp, IngestConfig, IngestSummary};
use pixelsift::privacy::IpPolicy;

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
    /// Directory whose *.mmdb files are all used (City, Country, ASN, DB-IP, ip-location-db...).
    #[arg(long)]
    geoip_dir: Option<PathBuf>,
    /// Where a field is in records of other shapes: field=dotted.path (repeatable;
    /// fields country, city, time_zone, asn, as_org), e.g. country=country_code.
    #[arg(long)]
    geoip_map: Vec<String>,
    /// Classification rules (TOML) instead of the built-in ones.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// What is kept of client addresses: keep, truncate (IPv4 /24, IPv6 /48) or hash (keyed with the secret).
    #[arg(long, default_value = "truncate")]
    ip_policy: String,
    /// Secret for --ip-policy hash (else PIXELSIFT_SECRET, else MANIFEST/secret.key).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Exit instead of waiting when another ingest holds the dataset.
    #[arg(long)]
    no_wait: bool,
    /// Log format: auto (recognised per file from its first lines), or one of
    /// `pixelsift formats` (combined, common, nginx-json, caddy, cloudflare, cloudfront, s3, alb).
    #[arg(long, default_value = "auto")]
    format: String,
    /// An nginx log_format string: lines are read with it.
    #[arg(long, conflicts_with_all = ["nginx_conf", "json_map"])]
    log_format: Option<String>,
    /// An nginx config to take the log_format named by --log-format-name from.
    #[arg(long, requires = "log_format_name")]
    nginx_conf: Option<PathBuf>,
    /// The log_format's name in --nginx-conf.
    #[arg(long, requires = "nginx_conf")]
    log_format_name: Option<String>,
    /// Field paths of a JSON log: ts=...,ip=...,uri=...,status=...[,method=,bytes=,referer=,ua=,xff=].
    #[arg(long)]
    json_map: Option<String>,
    /// Which address is the reader's: remote_addr, or x_forwarded_for (behind a CDN or load balancer).
    #[arg(long, default_value = "remote_addr")]
    client_ip: String,
    /// A proxy or CDN range whose X-Forwarded-For hop is skipped (repeatable).
    #[arg(long)]
    trusted_proxy: Vec<String>,
    /// Lines longer than this many bytes are rejected.
    #[arg(long, default_value_t = 64 * 1024)]
    max_line_bytes: usize,
    /// Keep the lines read from a corrupt or truncated compressed file before
    /// the damage, instead of failing the run.
    #[arg(long)]
    keep_partial: bool,
    /// With a directory among the logs: only files whose name matches (e.g. 'access.log*').
    #[arg(long, default_value = "*")]
    glob: String,
    /// Access logs: plain or gzip; `-` reads stdin.
    #[arg(required = true)]
    logs: Vec<String>,
}

/// Runs `ingest`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    one_malloc_arena();
    if pixelsift::remote::is_remote(&a.data) {
        return run_remote(a);
    }
    let cfg = config(&a, &a.data)?;
    let dataset = Dataset::create(&a.data)?;
    let lock = match dataset.lock(false)? {
        Some(l) => l,
        None if a.no_wait => anyhow::bail!(
            "another pixelsift is writing to {} (it holds {}/_lock); try again when it is done",
            a.data.display(),
            a.data.display()
        ),
        None => {
            eprintln!(
                "another pixelsift is writing to {}; waiting for it to finish",
                a.data.display()
            );
            dataset
                .lock(true)?
                .expect("a blocking lock is always taken")
        }
    };
    let started = std::time::Instant::now();
    let summary = with_progress(total_bytes(&cfg), |counter| {
        ingest(&cfg, &dataset, &lock, Some(counter))
    })?;
    print_summary(&summary, &a.data.display().to_string());
    print_speed(&summary, &cfg, started);
    Ok(ExitCode::SUCCESS)
}

/// Has glibc's malloc serve every thread of this ingest from one arena,
/// unless the user tuned malloc already (`MALLOC_ARENA_MAX`,
/// `GLIBC_TUNABLES`). With an arena per thread, memory freed by one stage
/// stayed with its arena, and the resident size crept up with the input:
/// on the simulated 50 M-line send, 624-649 MB with the default and 551-553
/// MB with one arena, in the same time; 1-2% more CPU on 4.3 M lines (5
/// alternating runs). Queries keep the default: `report campaign-summary`
/// over 42 M events took up to 25% more CPU on one arena (3 runs each).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: mallopt only changes allocator settings; it runs before
        // this command starts any thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

fn total_bytes(cfg: &IngestConfig) -> u64 {
    cfg.inputs.iter().filter_map(Input::size_on_disk).sum()
}

fn print_speed(summary: &IngestSummary, cfg: &IngestConfig, started: std::time::Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "took {secs:.2} s: {:.0} lines/s, {:.1} MB/s read",
        summary.lines as f64 / secs.max(1e-9),
        total_bytes(cfg) as f64 / 1e6 / secs.max(1e-9)
    );
}

/// Ingest into a dataset in object storage, through a checkout of its log
/// (see `super::on_dataset`). Ingest merges the manifest and links it is
/// given into the stored copies, so those come along.
fn run_remote(a: Args) -> anyhow::Result<ExitCode> {
    let url = a.data.to_string_lossy().to_string();
    let (summary, cfg, started) = super::on_dataset(&a.data, &["manifest", "links"], |dir| {
        let cfg = config(&a, dir)?;
        let dataset = Dataset::open(dir)?;
        let lock = dataset
            .lock(true)?
            .expect("a blocking lock is always taken");
        let started = std::time::Instant::now();
        let summary = with_progress(total_bytes(&cfg), |counter| {
            ingest(&cfg, &dataset, &lock, Some(counter))
        })?;
        Ok((summary, cfg, started))
    })?;
    print_summary(&summary, &url);
    print_speed(&summary, &cfg, started);
    Ok(ExitCode::SUCCESS)
}

/// Turns the flags into an ingest configuration for the dataset at `data`
/// (a local directory: the dataset itself, or a checkout of a remote one).
fn config(a: &Args, data: &std::path::Path) -> anyhow::Result<IngestConfig> {
    // The manifest loads on a thread of its own while the rest is set up
    // (GeoIP trees, rules, network lists): it is most of the start, about
    // 0.1 s for 300,000 rows, and the other core would wait. Its error
    // still comes first.
    std::thread::scope(|s| {
        let manifest = s.spawn(|| Manifest::load(&a.manifest));
        let rest = config_without_manifest(a, data);
        let manifest = manifest
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .context("loading the manifest")?;
        Ok(IngestConfig { manifest, ..rest? })
    })
}

/// Everything of [`config`] but the manifest (left empty).
fn config_without_manifest(a: &Args, data: &std::path::Path) -> anyhow::Result<IngestConfig> {
    let mut dbs = Vec::new();
    for p in a.geoip_city.iter().chain(a.geoip_asn.iter()) {
        dbs.push(GeoDb::open(p)?);
    }
    if let Some(dir) = &a.geoip_dir {
        dbs.extend(Geo::open_dir(dir)?);
    }
    for db in &dbs {
        eprintln!("GeoIP: {} ({})", db.path().display(), db.database_type());
    }
    let geo = Geo::new(dbs).with_map(FieldMap::parse(&a.geoip_map)?);
    let classifier = super::load_rules(a.rules.as_deref())?;
    let dialect = if let Some(fmt) = &a.log_format {
        let f = LogFormat::compile(fmt, Escape::Default)
            .map_err(|e| anyhow::anyhow!("--log-format: {e}"))?;
        Some(Dialect::LogFormat(Arc::new(f), "log_format"))
    } else if let (Some(conf), Some(name)) = (&a.nginx_conf, &a.log_format_name) {
        let text =
            std::fs::read_to_string(conf).with_context(|| format!("reading {}", conf.display()))?;
        let (fmt, esc) =
            from_nginx_conf(&text, name).map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
        let f = LogFormat::compile(&fmt, esc)
            .map_err(|e| anyhow::anyhow!("{}: log_format {name}: {e}", conf.display()))?;
        Some(Dialect::LogFormat(Arc::new(f), "log_format"))
    } else if let Some(spec) = &a.json_map {
        Some(Dialect::Json(Arc::new(
            JsonMap::parse("json", spec).map_err(|e| anyhow::anyhow!(e))?,
        )))
    } else {
        match a.format.as_str() {
            "auto" => None,
            name => Some(Dialect::from_name(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "--format {name}: unknown; use auto, {} (see `pixelsift formats`)",
                    Dialect::NAMES.join(", ")
                )
            })?),
        }
    };
    let client_ip = ClientIp {
        from_xff: match a.client_ip.as_str() {
            "remote_addr" => false,
            "x_forwarded_for" => true,
            other => anyhow::bail!("--client-ip {other}: use remote_addr or x_forwarded_for"),
        },
        trusted: a
            .trusted_proxy
            .iter()
            .map(|c| {
                parse_cidr(c).ok_or_else(|| {
                    anyhow::anyhow!("--trusted-proxy {c:?} is not an address or CIDR")
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let inputs: Vec<Input> = Input::expand(&a.logs, &a.glob)?;
    let ip_policy = match a.ip_policy.as_str() {
        "keep" => IpPolicy::Keep,
        "truncate" => IpPolicy::Truncate,
        "hash" => {
            let secret = match (&a.secret_file, std::env::var_os("PIXELSIFT_SECRET")) {
                (Some(f), _) => read_secret(f)?,
                (None, Some(v)) => v.into_encoded_bytes(),
                (None, None) => read_secret(&a.manifest.join("secret.key")).context(
                    "--ip-policy hash needs the secret: --secret-file, PIXELSIFT_SECRET or MANIFEST/secret.key",
                )?,
            };
            IpPolicy::Hash(secret)
        }
        other => anyhow::bail!("--ip-policy {other}: use keep, truncate or hash"),
    };
    Ok(IngestConfig {
        manifest: Manifest::default(),
        data: data.to_path_buf(),
        geo,
        classifier,
        networks: Networks::for_dataset(data).map_err(|e| anyhow::anyhow!(e))?,
        agents: AgentParser::default(),
        dialect,
        ip_policy,
        client_ip,
        max_line_bytes: a.max_line_bytes,
        keep_partial: a.keep_partial,
        inputs,
        limits: Default::default(),
    })
}

/// Runs `f`, showing a progress bar on stderr when it is a terminal.
pub(crate) fn with_progress<T>(total: u64, f: impl FnOnce(Arc<AtomicU64>) -> T) -> T {
    let counter = Arc::new(AtomicU64::new(0));
    if !std::io::stderr().is_terminal() {
        return f(counter);
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
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

/// Inputs a summary names one by one at most: a night of CDN logs is
/// thousands of files, and a line each buried the rest. Beyond it, files
/// are counted by dialect and by what earlier runs took, and only those
/// with an unfinished last line are named.
const FILES_LISTED: usize = 20;

/// One input's line of a summary.
fn print_file(f: &pixelsift::pipeline::FileReport) {
    print!("read {} as {}: {} lines", f.name, f.dialect, f.lines);
    if f.already_taken > 0 {
        print!(" (after {} lines taken by earlier runs)", f.already_taken);
    }
    if f.held_back > 0 {
        print!(
            " ({} bytes of an unfinished last line left for the next run)",
            f.held_back
        );
    }
    println!();
}

/// Prints the accounting of a run: every line is an event, a reject or ignored.
pub(crate) fn print_summary(s: &IngestSummary, data: &str) {
    for (file, err) in &s.partial {
        println!(
            "warning: {file} is damaged: {err}; the lines before it were kept (--keep-partial)"
        );
    }
    if s.files.len() <= FILES_LISTED {
        s.files.iter().for_each(print_file);
    } else {
        let mut dialects: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &s.files {
            *dialects.entry(f.dialect).or_default() += 1;
        }
        let dialects: Vec<String> = dialects
            .iter()
            .map(|(d, n)| format!("{n} as {d}"))
            .collect();
        let lines: u64 = s.files.iter().map(|f| f.lines).sum();
        println!(
            "read {} files ({}): {lines} lines",
            s.files.len(),
            dialects.join(", ")
        );
        let whole = s
            .files
            .iter()
            .filter(|f| f.already_taken > 0 && f.lines == 0)
            .count();
        let continued = s
            .files
            .iter()
            .filter(|f| f.already_taken > 0 && f.lines > 0)
            .count();
        if whole + continued > 0 {
            println!("  {whole} of them taken whole by earlier runs, {continued} continued after the lines earlier runs took");
        }
        s.files
            .iter()
            .filter(|f| f.held_back > 0)
            .for_each(print_file);
    }
    println!("lines read: {}", s.lines);
    println!("  events:   {}", s.events);
    for ((kind, class), n) in &s.classes {
        println!("    {kind:<5} {class:<12} {n}");
    }
    println!("  rejects:  {} (kept in {}/rejects)", s.rejected(), data);
    for (reason, n) in &s.rejects {
        println!("    {reason:<24} {n}");
    }
    println!("  ignored:  {}", s.ignored_total());
    for (reason, n) in &s.ignored {
        println!("    {reason:<24} {n}");
    }
    if s.revised > 0 || s.forwarded > 0 {
        println!("  message-level pass: {} hits reclassed (link bursts, trap links), {} opens marked forwarded", s.revised, s.forwarded);
    }
    match s.commit {
        Some(seq) => println!(
            "committed as {}/_log/{seq:020}.json (rules version {})",
            data, s.rules_version
        ),
        None => println!("nothing new: the dataset is unchanged"),
    }
}
