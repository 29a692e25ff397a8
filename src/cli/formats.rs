//! `pixelsift formats`: the log dialects ingest reads, with a line of each.

use std::process::ExitCode;

/// Flags of `formats` (none).
#[derive(clap::Args)]
pub struct Args {}

/// Runs `formats`.
pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!("ingest recognises the format of each file from its first lines (--format auto);");
    println!(
        "--format NAME, --log-format, --nginx-conf/--log-format-name or --json-map choose one.\n"
    );
    for (name, what, example) in pixelsift::dialect::EXAMPLES {
        println!("{name:<11} {what}\n            {example}\n");
    }
    println!("Inputs may be plain, gzip or zstd (recognised by content), directories (--glob) or - for stdin.");
    Ok(ExitCode::SUCCESS)
}
