//! `pixelsift simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::simulate::{simulate, SimConfig};

/// Flags of `simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// Campaigns, sent one a day.
    #[arg(long, default_value_t = 3)]
    campaigns: u32,
    /// Recipients per campaign.
    #[arg(long, default_value_t = 10_000)]
    recipients: u32,
    /// Log lines to write (about).
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Lines per log file before it is rotated (older files are gzipped).
    #[arg(long, default_value_t = 1_000_000)]
    rotate_lines: u64,
    /// Seed of the random choices: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `simulate`.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let s = simulate(&SimConfig {
        campaigns: a.campaigns,
        recipients: a.recipients,
        lines: a.lines,
        rotate_lines: a.rotate_lines,
        seed: a.seed,
        out: a.out.clone(),
    })?;
    println!(
        "wrote {} lines in {} files under {}:",
        s.lines,
        s.files.len(),
        a.out.join("logs").display()
    );
    for (k, n) in &s.truth {
        println!("  {k:<14} {n}");
    }
    println!(
        "ingest it with: pixelsift ingest --manifest {} --data DATASET --geoip-dir {} {}",
        a.out.join("minted").display(),
        a.out.join("geoip").display(),
        a.out.join("logs").display()
    );
    Ok(ExitCode::SUCCESS)
}
