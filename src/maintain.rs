//! Dataset upkeep as writer operations, each one commit: `compact` merges
//! small files, `forget` erases a person, `purge` drops old partitions.
//! Each is recorded in the commit log with what it did.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use sha2::{Digest, Sha256};

use crate::commit::{hex, partition_day, read_parquet, Dataset, WriterLock};
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
    use rayon::prelude::*;
    let snap = dataset.snapshot()?;
    let root = dataset.root();
    let people: std::collections::HashSet<&str, foldhash::fast::RandomState> =
        recipients.iter().copied().collect();
    let in_scope = |r: &StringArray, c: &StringArray, i: usize| {
        people.contains(r.value(i)) && campaign.is_none_or(|want| c.value(i) == want)
    };
    // The people's tokens, so rejects that carry them in their raw line go too.
    let mut tokens = Vec::new();
    for p in snap.table_paths(root, "manifest", None) {
        for b in read_parquet(&p)? {
            let (t, r, c) = (
                col(&b, "token")?,
                col(&b, "recipient_id")?,
                col(&b, "campaign_id")?,
            );
            // Untracked rows carry no real token ("-"): matching it against
            // raw lines would erase unrelated rejects.
            tokens.extend(
                (0..b.num_rows())
                    .filter(|&i| in_scope(r, c, i))
                    .filter(|&i| crate::manifest::is_token_shaped(t.value(i).as_bytes()))
                    .map(|i| t.value(i).to_string()),
            );
        }
    }
    // One automaton for all the tokens: a raw line is read once, not once a token.
    let carries_token = aho_corasick::AhoCorasick::new(&tokens)
        .map_err(|e| Error::Config(format!("matching {} tokens: {e}", tokens.len())))?;
    // Which rows of a batch stay; `columns` of it are all there is to read.
    let keep = |table: &str, b: &RecordBatch| -> Result<BooleanArray> {
        Ok(if table == "rejects" {
            let raw = col(b, "raw_line")?;
            (0..b.num_rows())
                .map(|i| Some(tokens.is_empty() || !carries_token.is_match(raw.value(i))))
                .collect()
        } else {
            let (r, c) = (col(b, "recipient_id")?, col(b, "campaign_id")?);
            (0..b.num_rows())
                .map(|i| Some(!in_scope(r, c, i)))
                .collect()
        })
    };
    let columns = |table: &str| -> &'static [&'static str] {
        if table == "rejects" {
            &["raw_line"]
        } else {
            &["recipient_id", "campaign_id"]
        }
    };
    let path_of = |f: &crate::commit::AddedFile| {
        if root.join(&f.path).exists() {
            root.join(&f.path)
        } else {
            root.join(&f.staged)
        }
    };
    let candidates: Vec<(&str, &crate::commit::AddedFile)> = ["events", "rejects", "manifest"]
        .into_iter()
        .flat_map(|t| {
            snap.files
                .get(t)
                .into_iter()
                .flat_map(move |m| m.values().map(move |f| (t, f)))
        })
        .collect();
    let affected: Vec<(&str, &crate::commit::AddedFile, u64)> = candidates
        .par_iter()
        .map(|&(table, f)| -> Result<_> {
            let mut dropped = 0u64;
            for b in crate::commit::parquet_columns(&path_of(f), Some(columns(table)))? {
                let b = b?;
                dropped += (b.num_rows() - keep(table, &b)?.true_count()) as u64;
            }
            Ok((table, f, dropped))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|a| a.2 > 0)
        .collect();

    let mut staging = dataset.begin(lock)?;
    let mut report = ForgetReport {
        tokens: tokens.len(),
        ..Default::default()
    };
    let mut remove = Vec::new();
    // Files come by table and path, so a day's files one after another: a
    // day's rewritten file is finished when the next one begins.
    let mut open: Option<(&str, Option<&str>)> = None;
    for (table, f, dropped) in affected {
        let day = partition_day(&f.path);
        if let Some((t, d)) = open.filter(|&o| o != (table, day)) {
            staging.close(t, d)?;
        }
        open = Some((table, day));
        let mut removed = 0u64;
        for b in crate::commit::parquet_batches(&path_of(f))? {
            let mut b = b?;
            if table == "events" {
                b = crate::batch::conform(&b);
            }
            let k = filter_record_batch(&b, &keep(table, &b)?)?;
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
            "campaign": campaign,
            "removed": report.removed,
        });
        match recipients {
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
    for table in ["events", "rejects"] {
        for f in snap.files.get(table).into_iter().flat_map(|m| m.values()) {
            if partition_day(&f.path).is_some_and(|d| d < before) {
                remove.push(f.path.clone());
                report.rows += f.rows;
            }
        }
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

/// Merges the files of each partition into one, rows unchanged, and leaves
/// events in [`crate::commit::EVENTS_ORDER`] (a partition of one file is
/// rewritten only if its rows are not yet in that order).
pub fn compact(dataset: &Dataset, lock: &WriterLock) -> Result<FilesReport> {
    let snap = dataset.snapshot()?;
    let root = dataset.root();
    let mut staging = dataset.begin(lock)?;
    let mut report = FilesReport::default();
    let mut remove = Vec::new();
    for (table, files) in &snap.files {
        // Tallies follow their events files (the commit writes and removes
        // them): merged here, they would count files that are gone.
        if table == crate::tally::TABLE {
            continue;
        }
        let mut groups: BTreeMap<Option<&str>, Vec<&crate::commit::AddedFile>> = BTreeMap::new();
        for f in files.values() {
            groups.entry(partition_day(&f.path)).or_default().push(f);
        }
        let path_of = |f: &crate::commit::AddedFile| {
            if root.join(&f.path).exists() {
                root.join(&f.path)
            } else {
                root.join(&f.staged)
            }
        };
        for (day, group) in groups {
            let ordered = table == "events" && day.is_some();
            let in_order = || -> Result<bool> {
                for f in &group {
                    if !crate::commit::in_events_order(&path_of(f))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            };
            if group.len() < 2 && (!ordered || in_order()?) {
                continue;
            }
            // Events are sorted a chunk of rows at a time, so compacting
            // holds at most that many rows however big the partition.
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut rows = 0usize;
            for f in &group {
                for b in crate::commit::parquet_batches(&path_of(f))? {
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
            // Done with the day: its file is finished now, not held open
            // (its last row group in memory) until the commit.
            staging.close(table, day)?;
            report.files_written += 1;
        }
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
