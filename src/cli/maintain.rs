//! `pixelsift compact`, `forget` and `purge`.

use std::path::PathBuf;
use std::process::ExitCode;

use pixelsift::maintain;

pub(crate) fn open(
    data: &std::path::Path,
) -> anyhow::Result<(pixelsift::commit::Dataset, pixelsift::commit::WriterLock)> {
    Ok(maintain::writer(data, true, || {
        eprintln!(
            "another pixelsift is writing to {}; waiting for it to finish",
            data.display()
        )
    })?)
}

/// Flags of `compact`.
#[derive(clap::Args)]
pub struct CompactArgs {
    /// Dataset directory, or its URL in object storage.
    #[arg(long)]
    data: PathBuf,
}

/// Runs `compact`.
pub fn compact(a: CompactArgs) -> anyhow::Result<ExitCode> {
    // Only the partitions to merge or sort are read: on a bucket, only
    // those are downloaded (single files' footers say if they are sorted).
    let r = super::on_dataset_planned(
        &a.data,
        |snap, read| {
            let plan = maintain::plan_compact(snap, read)?;
            let files = plan.files(snap);
            Ok((plan, files))
        },
        |ds, lock, plan| Ok(maintain::compact_planned(ds, lock, &plan)?),
    )?;
    match r.commit {
        Some(seq) => println!(
            "compacted {} files into {} ({} rows unchanged; events in campaign, recipient and time order); commit {seq}",
            r.files_removed, r.files_written, r.rows
        ),
        None => println!("nothing to compact: every partition has one file, events in order"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Flags of `forget`.
#[derive(clap::Args)]
pub struct ForgetArgs {
    /// Dataset directory, or its URL in object storage.
    #[arg(long)]
    data: PathBuf,
    /// A recipient to erase; may be given more than once.
    #[arg(long, required_unless_present = "recipients_file")]
    recipient: Vec<String>,
    /// A file of recipients to erase, one id a line (an erasure queue): all
    /// go in one pass, each affected file rewritten once.
    #[arg(long, value_name = "FILE")]
    recipients_file: Option<PathBuf>,
    /// Only in this campaign.
    #[arg(long)]
    campaign: Option<String>,
}

/// Runs `forget`.
pub fn forget(a: ForgetArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let mut people = a.recipient.clone();
    if let Some(p) = &a.recipients_file {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading the recipients to erase from {}", p.display()))?;
        people.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    people.sort();
    people.dedup();
    if people.is_empty() {
        anyhow::bail!("no recipient to erase: the file of recipients is empty");
    }
    let ids: Vec<&str> = people.iter().map(String::as_str).collect();
    // Only the files that name someone (and what their commit recounts)
    // are read whole: on a bucket, only those are downloaded.
    let r = super::on_dataset_planned(
        &a.data,
        |snap, read| {
            let plan = maintain::plan_forget(snap, &ids, a.campaign.as_deref(), read)?;
            let files = plan.files(snap);
            Ok((plan, files))
        },
        |ds, lock, plan| Ok(maintain::forget_planned(ds, lock, &plan)?),
    )?;
    match ids.as_slice() {
        [one] => println!(
            "recipient {one}: {} token(s) in the manifest copy",
            r.tokens
        ),
        many => println!(
            "{} recipients: {} token(s) in the manifest copy",
            many.len(),
            r.tokens
        ),
    }
    for table in ["events", "rejects", "manifest"] {
        println!(
            "  removed from {table:<9} {}",
            r.removed.get(table).copied().unwrap_or(0)
        );
    }
    match r.commit {
        Some(seq) => println!("committed as commit {seq}; the files that held them are deleted"),
        None => println!("nothing to remove"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Flags of `purge`.
#[derive(clap::Args)]
pub struct PurgeArgs {
    /// Dataset directory, or its URL in object storage.
    #[arg(long)]
    data: PathBuf,
    /// Drop events and rejects of days before this date (YYYY-MM-DD).
    #[arg(long)]
    before: String,
}

/// Runs `purge`.
pub fn purge(a: PurgeArgs) -> anyhow::Result<ExitCode> {
    // Purge drops whole files: only the events counted with them by the
    // same tallies come along, to be counted again.
    let r = super::on_dataset_planned(
        &a.data,
        |snap, _| Ok(((), maintain::purge_needs(snap, &a.before))),
        |ds, lock, ()| Ok(maintain::purge(ds, lock, &a.before)?),
    )?;
    match r.commit {
        Some(seq) => println!(
            "dropped {} files ({} rows) before {}; commit {seq}",
            r.files_removed, r.rows, a.before
        ),
        None => println!("nothing before {}", a.before),
    }
    Ok(ExitCode::SUCCESS)
}
