//! `pixelsift mint`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pixelsift::mint::{mint, LogStyle, MintConfig, SecretSource};

/// Flags of `mint`.
#[derive(clap::Args)]
pub struct Args {
    /// Recipients CSV: campaign_id,recipient_id,variant,sent_at[,more columns kept].
    #[arg(long)]
    recipients: PathBuf,
    /// Links CSV: campaign_id,link_id,url.
    #[arg(long)]
    links: PathBuf,
    /// Public base URL of the tracking host, e.g. https://t.example.com.
    #[arg(long)]
    base_url: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// File holding the HMAC secret (else PIXELSIFT_SECRET, else OUT/secret.key, created if missing).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// nginx `listen` value.
    #[arg(long, default_value = "80")]
    listen: String,
    /// nginx `server_name` (default: the base URL's host).
    #[arg(long)]
    server_name: Option<String>,
    /// nginx `access_log` path.
    #[arg(long, default_value = "/var/log/nginx/pixelsift.access.log")]
    access_log: String,
    /// Access log format nginx writes: combined or json.
    #[arg(long, default_value = "combined")]
    log_style: String,
    /// Trust X-Forwarded-For from this proxy or CDN address range (repeatable).
    #[arg(long)]
    real_ip_from: Vec<String>,
    /// Add an invisible trap link per campaign (urls.csv column trap_url): any hit on it is a machine.
    #[arg(long)]
    trap_link: bool,
    /// Recipients who opted out of tracking (one recipient_id per line, or
    /// campaign_id,recipient_id): no pixel, unwrapped links, counted as untracked.
    #[arg(long)]
    opt_out: Option<PathBuf>,
    /// per-recipient (a token per recipient), or aggregate (a token per
    /// campaign and variant: the dataset holds no recipient identity).
    #[arg(long, default_value = "per-recipient")]
    tracking: String,
    /// Add a read-time image per recipient (urls.csv column read_time_url), sent
    /// slowly for at most this many seconds (default 60); see README "Read time".
    #[arg(long, num_args = 0..=1, default_missing_value = "60", value_name = "SECONDS")]
    read_time: Option<u32>,
    /// Add a print pixel per recipient (urls.csv columns print_url and print_css).
    #[arg(long)]
    print_pixel: bool,
    /// Directory nginx will read mint's files from (the read-time image); default: OUT.
    #[arg(long)]
    assets_dir: Option<String>,
}

/// Runs `mint`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let secret = match (a.secret_file, std::env::var_os("PIXELSIFT_SECRET")) {
        (Some(f), _) => SecretSource::File(f),
        (None, Some(v)) => SecretSource::Value(v.into_encoded_bytes()),
        (None, None) => SecretSource::OutDir,
    };
    let cfg = MintConfig {
        recipients: a.recipients,
        links: a.links,
        base_url: a.base_url,
        out: a.out.clone(),
        secret,
        listen: a.listen,
        server_name: a.server_name,
        access_log: a.access_log,
        log_style: LogStyle::from_name(&a.log_style)
            .ok_or_else(|| anyhow::anyhow!("--log-style {}: use combined or json", a.log_style))?,
        real_ip_from: a.real_ip_from,
        trap_link: a.trap_link,
        opt_out: a.opt_out,
        aggregate: match a.tracking.as_str() {
            "per-recipient" => false,
            "aggregate" => true,
            other => anyhow::bail!("--tracking {other}: use per-recipient or aggregate"),
        },
        read_time: a.read_time,
        print_pixel: a.print_pixel,
        assets_dir: a.assets_dir.clone(),
    };
    if let Some(max) = a.read_time {
        anyhow::ensure!(
            (5..=600).contains(&max),
            "--read-time {max}: use 5 to 600 seconds"
        );
    }
    let s = mint(&cfg).context("mint refused its input; nothing was written")?;
    if let Some(p) = &s.created_secret {
        eprintln!(
            "created a new secret in {} (mode 0600): keep it to mint the same tokens again",
            p.display()
        );
    }
    if let Some(p) = &s.reused_secret {
        eprintln!("using the secret in {}", p.display());
    }
    println!(
        "minted {} recipients in {} campaigns with {} links into {} (manifest.csv, links.csv, urls.csv, nginx.conf)",
        s.recipients,
        s.campaigns,
        s.links,
        a.out.display()
    );
    if s.untracked > 0 {
        println!(
            "{} recipients opted out: no pixel, unwrapped links, counted as untracked",
            s.untracked
        );
    }
    if let Some(p) = &s.read_image {
        println!(
            "read-time image: {} (nginx.conf serves it from {}); put its <img> last in the message",
            p.display(),
            a.assets_dir.as_deref().unwrap_or("there")
        );
    }
    if a.tracking == "aggregate" {
        println!("aggregate tracking: {} tokens, one per campaign and variant; reports give totals, not unique counts", s.tokens);
    }
    Ok(ExitCode::SUCCESS)
}
