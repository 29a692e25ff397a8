//! Command-line interface: one module per subcommand, each `Args` + `run()`.
//! Only this module knows clap; it turns flags into library configs.

#[cfg(feature = "ballista")]
mod cluster;
mod demo;
mod explain;
mod formats;
mod ingest;
mod maintain;
mod mint;
mod report;
mod simulate;
mod sql;
mod verdicts;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Email open and click analytics from access logs, with no application server.
#[derive(Parser)]
#[command(name = "pixelsift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint tokens, pixel and click URLs, and an nginx config for recipients and links.
    Mint(mint::Args),
    /// Read access logs into the Parquet dataset.
    Ingest(ingest::Args),
    /// Run a named report from queries/.
    Report(report::Args),
    /// Run ad-hoc SQL over the dataset.
    Sql(sql::Args),
    /// List the log formats ingest reads, with an example line each.
    Formats(formats::Args),
    /// Show every hit of one message in time order, with its verdict and why.
    Explain(explain::Args),
    /// Merge small files per partition and sort events by person, rows unchanged.
    Compact(maintain::CompactArgs),
    /// Erase a recipient from events, rejects and the manifest copy.
    Forget(maintain::ForgetArgs),
    /// Drop event and reject partitions before a date.
    Purge(maintain::PurgeArgs),
    /// Show the network lists verdicts rest on; add, remove or look up in them.
    Networks(verdicts::NetworksArgs),
    /// Apply the current rules and network lists to stored events again.
    Reclassify(verdicts::ReclassifyArgs),
    /// Write a realistic synthetic send (manifest, links, rotated access logs) for load tests.
    Simulate(simulate::Args),
    /// Ingest bundled fixtures into a temporary dataset and print the campaign summary.
    Demo(demo::Args),
    /// Run a Ballista scheduler or executor, for `report|sql --cluster`.
    #[cfg(feature = "ballista")]
    #[command(subcommand)]
    Cluster(cluster::Command),
}

/// How query results are printed.
#[derive(Clone, Copy, Debug, ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON array of objects.
    Json,
    /// Markdown table.
    Markdown,
    /// One JSON object per line.
    Ndjson,
    /// Self-contained HTML table.
    Html,
    /// Parquet (needs --out).
    Parquet,
}

impl From<OutputFormat> for pixelsift::output::Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Table => pixelsift::output::Format::Table,
            OutputFormat::Csv => pixelsift::output::Format::Csv,
            OutputFormat::Json => pixelsift::output::Format::Json,
            OutputFormat::Markdown => pixelsift::output::Format::Markdown,
            OutputFormat::Ndjson => pixelsift::output::Format::Ndjson,
            OutputFormat::Html => pixelsift::output::Format::Html,
            OutputFormat::Parquet => pixelsift::output::Format::Parquet,
        }
    }
}

/// An error and its causes as one line, `outer: cause: ...`, each cause
/// once: the library's errors already spell out their source in their
/// message (`path: No such file or directory`), and printing the chain as
/// is (`{:#}`) said it twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !last.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        last = text;
    }
    out
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Mint(a) => mint::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Report(a) => report::run(a),
        Command::Sql(a) => sql::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Formats(a) => formats::run(a),
        Command::Compact(a) => maintain::compact(a),
        Command::Forget(a) => maintain::forget(a),
        Command::Purge(a) => maintain::purge(a),
        Command::Networks(a) => verdicts::networks(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Reclassify(a) => verdicts::reclassify_cmd(a),
        #[cfg(feature = "ballista")]
        Command::Cluster(c) => cluster::run(c),
    }
}

/// The rules in `path`, or the built-in ones.
pub(crate) fn load_rules(
    path: Option<&std::path::Path>,
) -> anyhow::Result<pixelsift::classify::Classifier> {
    use anyhow::Context;
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            pixelsift::classify::Classifier::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
        None => Ok(pixelsift::classify::Classifier::builtin()),
    }
}

/// Runs a command that may change the dataset at `data`. A local dataset
/// is used in place. A dataset in object storage is checked out into a
/// temporary directory (its log, network lists and the live files of
/// `tables`), the command runs there, and what it committed is published
/// with a conditional write; when another writer committed first, the
/// command runs again on the new log.
pub(crate) fn on_dataset<T>(
    data: &std::path::Path,
    tables: &[&str],
    mut f: impl FnMut(&std::path::Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !pixelsift::remote::is_remote(data) {
        return f(data);
    }
    #[cfg(feature = "cloud")]
    {
        use pixelsift::remote::runtime;
        in_checkouts(data, |remote, dir| {
            let base = runtime().block_on(remote.checkout(dir, tables))?;
            Ok((base, f(dir)?))
        })
    }
    #[cfg(not(feature = "cloud"))]
    {
        let _ = (tables, &mut f);
        Err(pixelsift::remote::not_built(&data.to_string_lossy()).into())
    }
}

/// Runs a rewrite of the dataset at `data` in two steps: `plan` looks it
/// over (its state, and columns of its files through the reader it is
/// given) and names the files the rewrite reads; `f` then does it on a
/// dataset that holds them. A local dataset is used in place. One in object
/// storage is looked over with range requests and checked out with only
/// the files named, so a rewrite that touches a few files of a large
/// bucket downloads those few; then it is published as [`on_dataset`]
/// does, planned again on the new log when another writer came first.
pub(crate) fn on_dataset_planned<P, T>(
    data: &std::path::Path,
    mut plan: impl FnMut(
        &pixelsift::commit::Snapshot,
        &dyn pixelsift::commit::FileReader,
    ) -> anyhow::Result<(P, Vec<String>)>,
    mut f: impl FnMut(
        &pixelsift::commit::Dataset,
        &pixelsift::commit::WriterLock,
        P,
    ) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !pixelsift::remote::is_remote(data) {
        // Locked before the look-over: no other writer can change what it found.
        let (ds, lock) = maintain::open(data)?;
        let (p, _) = plan(&ds.snapshot()?, &ds)?;
        return f(&ds, &lock, p);
    }
    #[cfg(feature = "cloud")]
    {
        use pixelsift::remote::runtime;
        in_checkouts(data, |remote, dir| {
            let log = runtime().block_on(remote.log())?;
            let snap = pixelsift::commit::Snapshot::replay(&log);
            let (p, files) = plan(&snap, remote)?;
            let all: usize = snap.files.values().map(|t| t.len()).sum();
            eprintln!(
                "checking out {} of the dataset's {all} files: those the command reads",
                files.len()
            );
            let base = runtime().block_on(remote.checkout_files(dir, &log, &files))?;
            let (ds, lock) = maintain::open(dir)?;
            Ok((base, f(&ds, &lock, p)?))
        })
    }
    #[cfg(not(feature = "cloud"))]
    {
        let _ = (&mut plan, &mut f);
        Err(pixelsift::remote::not_built(&data.to_string_lossy()).into())
    }
}

/// The writer's loop on a dataset in object storage: `attempt` checks it
/// out into a fresh local directory and runs the command there, giving the
/// sequence number it started from; what it committed is then published
/// with a conditional write, and when another writer committed first, it
/// all starts again on the new log.
#[cfg(feature = "cloud")]
fn in_checkouts<T>(
    data: &std::path::Path,
    mut attempt: impl FnMut(
        &pixelsift::remote::RemoteDataset,
        &std::path::Path,
    ) -> anyhow::Result<(u64, T)>,
) -> anyhow::Result<T> {
    use anyhow::Context;
    use pixelsift::remote::{runtime, Published, RemoteDataset};
    const ATTEMPTS: usize = 8;
    let url = data.to_string_lossy().to_string();
    let remote = RemoteDataset::open(&url)?;
    for n in 1..=ATTEMPTS {
        let (tmp, swept) = pixelsift::workdir::WorkDir::new("pixelsift-checkout-")
            .context("creating a local checkout directory")?;
        report_swept("checkout", swept);
        let (base, out) = attempt(&remote, tmp.path())?;
        match runtime().block_on(remote.publish(tmp.path(), base))? {
            Published::Conflict(seq) => eprintln!(
                "another writer committed {url}/_log/{seq:020}.json first; starting again on the new log (attempt {} of {ATTEMPTS})",
                n + 1
            ),
            Published::Committed(_) | Published::Nothing => return Ok(out),
        }
    }
    anyhow::bail!("{url}: other writers committed first {ATTEMPTS} times in a row; nothing of this run was committed, run it again")
}

/// Says what a [`pixelsift::workdir::sweep`] removed: directories of
/// `kind` left in the temporary directory by runs that were killed.
#[cfg(feature = "cloud")]
pub(crate) fn report_swept(kind: &str, swept: pixelsift::workdir::Swept) {
    if swept.dirs > 0 {
        eprintln!(
            "removed {} {kind} director{} ({:.1} MB) left in {} by pixelsift runs that were killed",
            swept.dirs,
            if swept.dirs == 1 { "y" } else { "ies" },
            swept.bytes as f64 / 1e6,
            std::env::temp_dir().display()
        );
    }
}

/// A query session on the dataset at `data`: local, or on the Ballista
/// cluster whose scheduler is `cluster`.
pub(crate) async fn session(
    data: &std::path::Path,
    days: &pixelsift::query::DayRange,
    cluster: Option<&str>,
) -> pixelsift::Result<datafusion::prelude::SessionContext> {
    match cluster {
        None => pixelsift::query::context_for(data, days).await,
        #[cfg(feature = "ballista")]
        Some(c) => pixelsift::cluster::context_for(c, data, days).await,
        #[cfg(not(feature = "ballista"))]
        Some(c) => Err(pixelsift::Error::Config(format!(
            "--cluster {c}: this pixelsift was built without Ballista; build it with `--features ballista`"
        ))),
    }
}

/// Runs one statement in a session from [`session`]: on the cluster with
/// the final ordering applied on the collected rows, or locally.
pub(crate) async fn run_sql(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    params: &pixelsift::query::Params,
    cluster: bool,
) -> pixelsift::Result<(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>)> {
    #[cfg(feature = "ballista")]
    if cluster {
        return pixelsift::cluster::run_sql_with(ctx, sql, params).await;
    }
    let _ = cluster;
    pixelsift::query::run_sql_with(ctx, sql, params).await
}

/// A tokio runtime for DataFusion.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints a query result to stdout, or writes it atomically to `out`.
pub(crate) fn print_result(
    format: OutputFormat,
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::array::RecordBatch],
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let format: pixelsift::output::Format = format.into();
    match out {
        Some(path) => {
            let mut buf = Vec::new();
            pixelsift::output::write(&mut buf, format, schema, batches)?;
            pixelsift::mint::write_atomic(path, &buf)?;
        }
        None => {
            anyhow::ensure!(
                !format.is_binary(),
                "this format is binary: write it to a file with --out FILE"
            );
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            pixelsift::output::write(&mut w, format, schema, batches)?;
            std::io::Write::flush(&mut w)?;
        }
    }
    Ok(())
}

/// Parses `name=value` for `--param`.
pub(crate) fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}
