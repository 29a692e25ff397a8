//! Dataset upkeep as writer operations, each one commit: `compact` merges
//! small files, `forget` erases a person, `purge` drops old partitions.
//! Each is recorded in the commit log with what it did.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use sha2::{Digest, Sha256};

use crate::commit::{hex, partition_day, Dataset, WriterLock};
use crate::error::{Error, Result};

/// What `forget` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgetReport {
    /// Tokens of the person found in the manifest copy.
    pub tokens: usize,
    /// Rows removed per table.
    pub removed: BTreeMap<String, u64>,
    /// The commit made, if anything was removed.
    pub commit: Option<u64>,
}

/// What `purge` or `compact` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesReport {
    /// Files removed.
    pub files_removed: usize,
    /// Files written.
    pub files_written: usize,
    /// Rows in the removed files.
    pub rows: u64,
    /// The commit made, if anything changed.
    pub commit: Option<u64>,
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Config(format!("dataset file lacks string column {name}")))
}

/// Who an erasure removes, and how each table's rows are matched.
struct Erasure {
    people: std::collections::HashSet<String, foldhash::fast::RandomState>,
    campaign: Option<String>,
    /// Their tokens, so rejects that carry them in their raw line go too;
    /// one automaton for all: a raw line is read once, not once a token.
    tokens: usize,
    carries_token: Option<aho_corasick::AhoCorasick>,
}

impl Erasure {
    /// The columns a look-over of `table` reads: all [`Erasure::keep`] needs.
    fn columns(table: &str) -> &'static [&'static str] {
        if table == "rejects" {
            &["raw_line"]
        } else {
            &["recipient_id", "campaign_id"]
        }
    }

    fn in_scope(&self, r: &StringArray, c: &StringArray, i: usize) -> bool {
        self.people.contains(r.value(i)) && self.campaign.as_deref().is_none_or(|w| c.value(i) == w)
    }

    /// Which rows of a batch of `table` stay.
    fn keep(&self, table: &str, b: &RecordBatch) -> Result<BooleanArray> {
        Ok(if table == "rejects" {
            let raw = col(b, "raw_line")?;
            (0..b.num_rows())
                .map(|i| {
                    Some(
                        !self
                            .carries_token
                            .as_ref()
                            .is_some_and(|a| a.is_match(raw.value(i))),
                    )
                })
                .collect()
        } else {
            let (r, c) = (col(b, "recipient_id")?, col(b, "campaign_id")?);
            (0..b.num_rows())
                .map(|i| Some(!self.in_scope(r, c, i)))
                .collect()
        })
    }
}

/// What a `forget` rewrites: found by [`plan_forget`], done by
/// [`forget_planned`].
pub struct ForgetPlan {
    erasure: Erasure,
    /// The ids as given, for the log's hashes.
    recipients: Vec<String>,
    /// Files that name someone: table, file, rows that go.
    affected: Vec<(&'static str, crate::commit::AddedFile, u64)>,
}

impl ForgetPlan {
    /// The dataset files the rewrite reads (see
    /// [`crate::commit::Snapshot::rewrite_needs`]).
    pub fn files(&self, snap: &crate::commit::Snapshot) -> Vec<String> {
        let paths: Vec<String> = self.affected.iter().map(|a| a.1.path.clone()).collect();
        snap.rewrite_needs(&paths)
    }
}

/// Looks over the dataset whose state is `snap` for people to erase
/// (optionally in one campaign only): their tokens in the manifest copy,
/// then, in parallel, the columns of every file of events, rejects and the
/// manifest copy that can name them (the recipient and campaign, or a
/// reject's raw line), read through `read`.
pub fn plan_forget(
    snap: &crate::commit::Snapshot,
    recipients: &[&str],
    campaign: Option<&str>,
    read: &dyn crate::commit::FileReader,
) -> Result<ForgetPlan> {
    use rayon::prelude::*;
    let mut erasure = Erasure {
        people: recipients.iter().map(|r| r.to_string()).collect(),
        campaign: campaign.map(String::from),
        tokens: 0,
        carries_token: None,
    };
    let mut tokens = Vec::new();
    for f in snap.table_files("manifest", None) {
        for b in read.columns(f, &["token", "recipient_id", "campaign_id"])? {
            let b = b?;
            let (t, r, c) = (
                col(&b, "token")?,
                col(&b, "recipient_id")?,
                col(&b, "campaign_id")?,
            );
            // Untracked rows carry no real token ("-"): matching it against
            // raw lines would erase unrelated rejects.
            tokens.extend(
                (0..b.num_rows())
                    .filter(|&i| erasure.in_scope(r, c, i))
                    .filter(|&i| crate::manifest::is_token_shaped(t.value(i).as_bytes()))
                    .map(|i| t.value(i).to_string()),
            );
        }
    }
    erasure.tokens = tokens.len();
    if !tokens.is_empty() {
        erasure.carries_token = Some(
            aho_corasick::AhoCorasick::new(&tokens)
                .map_err(|e| Error::Config(format!("matching {} tokens: {e}", tokens.len())))?,
        );
    }
    let candidates: Vec<(&'static str, &crate::commit::AddedFile)> =
        ["events", "rejects", "manifest"]
            .into_iter()
            .flat_map(|t| snap.table_files(t, None).into_iter().map(move |f| (t, f)))
            .collect();
    let affected = crate::commit::with_readers(read, || {
        candidates
            .par_iter()
            .map(|&(table, f)| -> Result<_> {
                let mut dropped = 0u64;
                for b in read.columns(f, Erasure::columns(table))? {
                    let b = b?;
                    dropped += (b.num_rows() - erasure.keep(table, &b)?.true_count()) as u64;
                }
                Ok((table, f.clone(), dropped))
            })
            .collect::<Result<Vec<_>>>()
    })??
    .into_iter()
    .filter(|a| a.2 > 0)
    .collect();
    Ok(ForgetPlan {
        erasure,
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        affected,
    })
}

/// Erases people (optionally in one campaign only) from events, rejects
/// and the manifest copy, rewriting the affected files in one commit.
///
/// Erasure requests come in queues, so any number of people go in one
/// pass: each file is rewritten once whatever their number. Files are
/// first looked over in parallel reading only the columns that can name a
/// person (the recipient and campaign, or a reject's raw line); only
/// those that do are read whole, a batch at a time, and rewritten, so
/// memory holds a batch and not a file, and the days a person never
/// appeared on are not touched.
pub fn forget(
    dataset: &Dataset,
    lock: &WriterLock,
    recipients: &[&str],
    campaign: Option<&str>,
) -> Result<ForgetReport> {
    let snap = dataset.snapshot()?;
    let plan = plan_forget(&snap, recipients, campaign, dataset)?;
    forget_planned(dataset, lock, &plan)
}

/// Does what [`plan_forget`] found on `dataset`, which holds at least the
/// plan's [`ForgetPlan::files`] (all of them, or a checkout of a dataset in
/// object storage with only those).
pub fn forget_planned(
    dataset: &Dataset,
    lock: &WriterLock,
    plan: &ForgetPlan,
) -> Result<ForgetReport> {
    let mut staging = dataset.begin(lock)?;
    let mut report = ForgetReport {
        tokens: plan.erasure.tokens,
        ..Default::default()
    };
    let mut remove = Vec::new();
    // Files come by table and path, so a day's files one after another: a
    // day's rewritten file is finished when the next one begins.
    let mut open: Option<(&str, Option<&str>)> = None;
    for (table, f, dropped) in &plan.affected {
        let (table, dropped) = (*table, *dropped);
        let day = partition_day(&f.path);
        if let Some((t, d)) = open.filter(|&o| o != (table, day)) {
            staging.close(t, d)?;
        }
        open = Some((table, day));
        let path = dataset.file_path(f);
        if !path.exists() {
            return Err(Error::Config(format!(
                "{}: not found, though the look-over read it",
                path.display()
            )));
        }
        let mut removed = 0u64;
        for b in crate::commit::parquet_batches(&path)? {
            let mut b = b?;
            if table == "events" {
                b = crate::batch::conform(&b);
            }
            let k = filter_record_batch(&b, &plan.erasure.keep(table, &b)?)?;
            removed += (b.num_rows() - k.num_rows()) as u64;
            staging.write(table, day, &k)?;
        }
        // The file was looked over and then read again: had it changed in
        // between, the rows written would not be the ones counted.
        if removed != dropped {
            return Err(Error::Config(format!(
                "{}: changed while it was read ({dropped} rows to erase, then {removed})",
                f.path
            )));
        }
        *report.removed.entry(table.to_string()).or_default() += removed;
        remove.push(f.path.clone());
    }
    if !remove.is_empty() {
        // The log keeps hashes, not ids: the erasure itself must not leave
        // the people's ids behind.
        let hash = |r: &str| hex(&Sha256::digest(r.as_bytes()));
        let mut details = serde_json::json!({
            "campaign": plan.erasure.campaign,
            "removed": report.removed,
        });
        match plan.recipients.as_slice() {
            [one] => details["recipient_sha256"] = hash(one).into(),
            many => {
                details["recipients_sha256"] =
                    many.iter().map(|r| hash(r)).collect::<Vec<_>>().into()
            }
        }
        report.commit = Some(
            staging
                .commit("forget", remove, Vec::new(), None, details)?
                .seq,
        );
    }
    Ok(report)
}

/// The files of `events` and `rejects` of days before `before`.
fn purged<'s>(
    snap: &'s crate::commit::Snapshot,
    before: &'s str,
) -> impl Iterator<Item = &'s crate::commit::AddedFile> {
    ["events", "rejects"]
        .into_iter()
        .flat_map(|t| snap.table_files(t, None))
        .filter(move |f| partition_day(&f.path).is_some_and(|d| d < before))
}

/// The files a `purge` reads: none of those it drops, but the events files
/// counted with them by the same tallies, which its commit counts again.
pub fn purge_needs(snap: &crate::commit::Snapshot, before: &str) -> Vec<String> {
    let dropped: Vec<String> = purged(snap, before).map(|f| f.path.clone()).collect();
    let mut need = snap.rewrite_needs(&dropped);
    need.retain(|p| !dropped.contains(p));
    need
}

/// Drops `events` and `rejects` partitions of days before `before` (`YYYY-MM-DD`).
pub fn purge(dataset: &Dataset, lock: &WriterLock, before: &str) -> Result<FilesReport> {
    if chrono::NaiveDate::parse_from_str(before, "%Y-%m-%d").is_err() {
        return Err(Error::Config(format!(
            "--before {before:?} is not a date (YYYY-MM-DD)"
        )));
    }
    let snap = dataset.snapshot()?;
    let mut report = FilesReport::default();
    let mut remove = Vec::new();
    for f in purged(&snap, before) {
        remove.push(f.path.clone());
        report.rows += f.rows;
    }
    report.files_removed = remove.len();
    if !remove.is_empty() {
        let staging = dataset.begin(lock)?;
        let details =
            serde_json::json!({ "before": before, "files": remove.len(), "rows": report.rows });
        report.commit = Some(
            staging
                .commit("purge", remove, Vec::new(), None, details)?
                .seq,
        );
    }
    Ok(report)
}

/// The partitions `compact` rewrites: found by [`plan_compact`], done by
/// [`compact_planned`].
pub struct CompactPlan {
    /// Table, day, and the partition's files.
    groups: Vec<(String, Option<String>, Vec<crate::commit::AddedFile>)>,
}

impl CompactPlan {
    /// The dataset files the rewrite reads (see
    /// [`crate::commit::Snapshot::rewrite_needs`]).
    pub fn files(&self, snap: &crate::commit::Snapshot) -> Vec<String> {
        let paths: Vec<String> = self
            .groups
            .iter()
            .flat_map(|g| g.2.iter().map(|f| f.path.clone()))
            .collect();
        snap.rewrite_needs(&paths)
    }
}

/// The partitions of the dataset whose state is `snap` that `compact`
/// rewrites: those of several files, and events of one file whose footer
/// (read through `read`) does not declare [`crate::commit::EVENTS_ORDER`].
pub fn plan_compact(
    snap: &crate::commit::Snapshot,
    read: &dyn crate::commit::FileReader,
) -> Result<CompactPlan> {
    use rayon::prelude::*;
    let mut groups: Vec<(&String, Option<&str>, Vec<&crate::commit::AddedFile>)> = Vec::new();
    for (table, files) in &snap.files {
        // Tallies follow their events files (the commit writes and removes
        // them): merged here, they would count files that are gone.
        if table == crate::tally::TABLE {
            continue;
        }
        let mut by_day: BTreeMap<Option<&str>, Vec<&crate::commit::AddedFile>> = BTreeMap::new();
        for f in files.values() {
            by_day.entry(partition_day(&f.path)).or_default().push(f);
        }
        groups.extend(by_day.into_iter().map(|(day, g)| (table, day, g)));
    }
    // A partition of one events file is looked at through its footer: in
    // a bucket, one request a day, made many at once.
    let rewrite = crate::commit::with_readers(read, || {
        groups
            .par_iter()
            .map(|(table, day, group)| -> Result<bool> {
                let ordered = *table == "events" && day.is_some();
                Ok(group.len() >= 2 || (ordered && !read.in_events_order(group[0])?))
            })
            .collect::<Result<Vec<bool>>>()
    })??;
    Ok(CompactPlan {
        groups: groups
            .into_iter()
            .zip(rewrite)
            .filter(|(_, r)| *r)
            .map(|((table, day, group), _)| {
                (
                    table.clone(),
                    day.map(String::from),
                    group.into_iter().cloned().collect(),
                )
            })
            .collect(),
    })
}

/// Merges the files of each partition into one, rows unchanged, and leaves
/// events in [`crate::commit::EVENTS_ORDER`] (a partition of one file is
/// rewritten only if its rows are not yet in that order).
pub fn compact(dataset: &Dataset, lock: &WriterLock) -> Result<FilesReport> {
    let plan = plan_compact(&dataset.snapshot()?, dataset)?;
    compact_planned(dataset, lock, &plan)
}

/// Does what [`plan_compact`] found on `dataset`, which holds at least the
/// plan's [`CompactPlan::files`].
pub fn compact_planned(
    dataset: &Dataset,
    lock: &WriterLock,
    plan: &CompactPlan,
) -> Result<FilesReport> {
    let mut staging = dataset.begin(lock)?;
    let mut report = FilesReport::default();
    let mut remove = Vec::new();
    for (table, day, group) in &plan.groups {
        let (table, day) = (table.as_str(), day.as_deref());
        let ordered = table == "events" && day.is_some();
        // Events are sorted a chunk of rows at a time, so compacting
        // holds at most that many rows however big the partition.
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut rows = 0usize;
        for f in group {
            for b in crate::commit::parquet_batches(&dataset.file_path(f))? {
                let b = b?;
                // Files written before columns were added get them as nulls.
                let b = if table == "events" {
                    crate::batch::conform(&b)
                } else {
                    b
                };
                if !ordered {
                    staging.write(table, day, &b)?;
                    continue;
                }
                rows += b.num_rows();
                pending.push(b);
                if rows >= crate::commit::CHUNK_ROWS as usize {
                    staging.write_in_order(day.expect("events are by day"), &pending)?;
                    pending.clear();
                    rows = 0;
                }
            }
            remove.push(f.path.clone());
            report.rows += f.rows;
        }
        if !pending.is_empty() {
            staging.write_in_order(day.expect("events are by day"), &pending)?;
        }
        // Done with the day: its file is finished now, not held open (its
        // last row group in memory) until the commit.
        staging.close(table, day)?;
        report.files_written += 1;
    }
    report.files_removed = remove.len();
    if !remove.is_empty() {
        let details = serde_json::json!({ "files_removed": remove.len(), "files_written": report.files_written, "rows": report.rows });
        report.commit = Some(
            staging
                .commit("compact", remove, Vec::new(), None, details)?
                .seq,
        );
    }
    Ok(report)
}

/// Opens a dataset and takes the writer lock, telling `waiting` if it has to wait.
pub fn writer(data: &Path, wait: bool, waiting: impl FnOnce()) -> Result<(Dataset, WriterLock)> {
    let ds = Dataset::open(data)?;
    if let Some(l) = ds.lock(false)? {
        return Ok((ds, l));
    }
    if !wait {
        return Err(Error::Config(format!(
            "another pixelsift is writing to {}; try again when it is done",
            data.display()
        )));
    }
    waiting();
    let l = ds.lock(true)?.expect("a blocking lock is always taken");
    Ok((ds, l))
}
