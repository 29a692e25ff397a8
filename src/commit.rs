//! The dataset on disk, and how it changes: exactly once, atomically.
//!
//! ```text
//! DATASET/events/date=YYYY-MM-DD/part-<run>.parquet   events, Hive-partitioned by UTC day
//! DATASET/rejects/date=YYYY-MM-DD/part-<run>.parquet  lines set aside, by day of ingest
//! DATASET/manifest/manifest-<run>.parquet             union of every manifest ingested
//! DATASET/links/links-<run>.parquet                   union of every links file ingested
//! DATASET/_log/<seq>.json                             commit records: the truth
//! DATASET/_staging/<run>/                             files of a run not yet committed
//! DATASET/_lock                                       advisory lock held by the one writer
//! ```
//!
//! A writer stages its files, then writes one commit record to a temporary
//! name and renames it into `_log/`: that rename is the commit. The record
//! lists the files it adds (with where they are staged), the files it
//! removes, and the registry entries of the inputs it took, so data and
//! registry change together or not at all. Moving staged files into place
//! comes after, and is redone by the next writer if a crash interrupts it.
//! A run killed before its rename leaves only a staging directory, which the
//! next writer deletes.
//!
//! Readers never take the lock: they replay `_log/` to find the live files
//! of each table, so they see whole commits only. Engines that list the
//! directories (DuckDB, Spark, pyarrow) see the same files once the moves of
//! the last commit are done.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Error, Result};

/// Table directories of a dataset.
pub const TABLES: [&str; 5] = [
    "events",
    "rejects",
    "manifest",
    "links",
    crate::tally::TABLE,
];

/// One input as the registry remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Stable id of this input (its first registration).
    pub id: String,
    /// Bytes of content the head hash covers (at most [`HEAD_LEN`]).
    pub head_len: u64,
    /// SHA-256 of the first `head_len` bytes of content (decompressed).
    pub head_hash: String,
    /// Bytes of content taken so far (always whole lines).
    pub bytes: u64,
    /// Lines taken so far.
    pub lines: u64,
    /// SHA-256 of the first `bytes` bytes of content, in records made
    /// before BLAKE3 (dataset format 1); empty in newer ones. Newer records
    /// leave it out, so a pixelsift of format 1, which requires it, refuses
    /// them instead of taking their input again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix_hash: String,
    /// BLAKE3 of the first `bytes` bytes of content (dataset format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_blake3: Option<String>,
    /// Names it was seen under, most recent last.
    pub names: Vec<String>,
}

/// How much of an input's start identifies it.
pub const HEAD_LEN: u64 = 4096;

/// A file a commit adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedFile {
    /// Final path, relative to the dataset root.
    pub path: String,
    /// Where it was staged, relative to the dataset root.
    pub staged: String,
    /// Rows in it.
    pub rows: u64,
    /// For a tallies file: the events files it counts ([`crate::tally`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<String>,
}

/// The dataset format this pixelsift writes and the newest it reads.
/// Format 3 keeps [`crate::tally`] files beside events files: a pixelsift
/// of format 2 would leave them behind when it rewrites or erases events
/// (a person `forget` erased would stay in them), so it must refuse such a
/// dataset. Format 2 (stop 25) keys inputs by BLAKE3 prefix hashes; format
/// 1 (records without a `format`) by SHA-256; format 3 reads both.
pub const FORMAT: u32 = 3;

fn format_one() -> u32 {
    1
}

/// One commit: what changed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The dataset format it was written in (see [`FORMAT`]).
    #[serde(default = "format_one")]
    pub format: u32,
    /// Sequence number, from 1.
    pub seq: u64,
    /// The run that made it.
    pub run: String,
    /// `ingest`, `compact`, `forget` or `purge`.
    pub op: String,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Files added.
    pub add: Vec<AddedFile>,
    /// Files removed (relative paths).
    pub remove: Vec<String>,
    /// Registry entries written (an entry replaces the one with its id).
    pub inputs: Vec<InputRecord>,
    /// The IP policy the added events were written under, for ingests.
    pub ip_policy: Option<String>,
    /// Counts and details of the operation, for people.
    pub details: serde_json::Value,
}

/// A commit record from its JSON, refused when a newer pixelsift wrote it:
/// what it means may have changed (how inputs are known, what a column
/// holds), and reading it as if it had not could take inputs twice.
pub fn parse_record(json: &[u8]) -> std::result::Result<CommitRecord, String> {
    let rec: CommitRecord =
        serde_json::from_slice(json).map_err(|e| format!("unreadable commit record ({e})"))?;
    if rec.format > FORMAT {
        return Err(format!(
            "written in dataset format {}, and this pixelsift reads formats up to {FORMAT}: upgrade pixelsift",
            rec.format
        ));
    }
    Ok(rec)
}

/// The state of a dataset after replaying its log.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Live files per table, keyed by final relative path.
    pub files: BTreeMap<String, BTreeMap<String, AddedFile>>,
    /// The ingest registry.
    pub registry: Vec<InputRecord>,
    /// The last sequence number (0 for a new dataset).
    pub last_seq: u64,
    /// IP policies events were written under, in commit order, deduplicated.
    pub ip_policies: Vec<String>,
}

impl Snapshot {
    /// The state a log leads to, applying its records in order.
    pub fn replay(log: &[CommitRecord]) -> Snapshot {
        let mut s = Snapshot::default();
        // Where each input's entry is: a dataset's registry holds every
        // file it ever took, and a nightly job over CDN logs adds
        // thousands a night.
        let mut at: std::collections::HashMap<String, usize> = Default::default();
        for rec in log {
            for r in &rec.remove {
                let table = r.split('/').next().unwrap_or("");
                if let Some(t) = s.files.get_mut(table) {
                    t.remove(r);
                }
            }
            for a in &rec.add {
                let table = a.path.split('/').next().unwrap_or("").to_string();
                s.files
                    .entry(table)
                    .or_default()
                    .insert(a.path.clone(), a.clone());
            }
            for i in &rec.inputs {
                match at.get(&i.id) {
                    Some(&k) => s.registry[k] = i.clone(),
                    None => {
                        at.insert(i.id.clone(), s.registry.len());
                        s.registry.push(i.clone());
                    }
                }
            }
            if let Some(p) = &rec.ip_policy {
                if s.ip_policies.last() != Some(p) {
                    s.ip_policies.push(p.clone());
                }
            }
            s.last_seq = rec.seq;
        }
        s
    }

    /// Live files of a table, optionally only partitions within a day range.
    pub fn table_files(&self, table: &str, days: Option<(&str, &str)>) -> Vec<&AddedFile> {
        let Some(files) = self.files.get(table) else {
            return Vec::new();
        };
        files
            .values()
            .filter(|f| match days {
                None => true,
                Some((from, to)) => match partition_day(&f.path) {
                    Some(d) => d >= from && d <= to,
                    None => true,
                },
            })
            .collect()
    }

    /// Paths of a table's live files under `root`: final paths, or staged
    /// ones whose move the last commit has not finished.
    pub fn table_paths(
        &self,
        root: &Path,
        table: &str,
        days: Option<(&str, &str)>,
    ) -> Vec<PathBuf> {
        self.table_files(table, days)
            .into_iter()
            .map(|f| located(root, f))
            .collect()
    }
}

/// Where file `f` of the dataset at `root` is on disk: its final path, or
/// its staged one while the last commit has not moved it.
pub fn located(root: &Path, f: &AddedFile) -> PathBuf {
    let fin = root.join(&f.path);
    if fin.exists() {
        fin
    } else {
        root.join(&f.staged)
    }
}

impl Snapshot {
    /// The files a rewrite that replaces `paths` reads: those, and the
    /// other event files counted by the same tallies, which its commit
    /// counts again. What a checkout of a dataset in object storage must
    /// bring for such a rewrite, rather than every file.
    pub fn rewrite_needs(&self, paths: &[String]) -> Vec<String> {
        let replaced: std::collections::HashSet<&String> = paths.iter().collect();
        let mut need: std::collections::BTreeSet<String> = paths.iter().cloned().collect();
        for t in self
            .files
            .get(crate::tally::TABLE)
            .into_iter()
            .flat_map(|m| m.values())
        {
            // Only tallies that count a replaced file are made again.
            if t.counts.iter().any(|c| replaced.contains(c)) {
                need.extend(t.counts.iter().cloned());
            }
        }
        need.into_iter().collect()
    }
}

/// Batches read from a dataset file, one at a time.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// Reads parts of a dataset's files, as a look-over does before a
/// rewrite: from disk for a local [`Dataset`], with range requests for one
/// in object storage, which then downloads those parts and not the files.
pub trait FileReader: Sync {
    /// The named columns of file `f`, a batch at a time.
    fn columns(&self, f: &AddedFile, names: &[&str]) -> Result<Batches>;

    /// Whether file `f` holds events in [`EVENTS_ORDER`] (see
    /// [`sorted_as_events`]): its footer alone says.
    fn in_events_order(&self, f: &AddedFile) -> Result<bool>;

    /// Files worth reading at once: the cores for local files; for object
    /// storage, where a read mostly waits on round trips, more.
    fn concurrency(&self) -> usize {
        rayon::current_num_threads()
    }
}

/// Runs `op`, whose rayon parallel iterators read through `read`, on
/// [`FileReader::concurrency`] threads.
pub fn with_readers<R: Send>(read: &dyn FileReader, op: impl FnOnce() -> R + Send) -> Result<R> {
    let n = read.concurrency();
    if n == rayon::current_num_threads() {
        return Ok(op());
    }
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::Config(format!("starting {n} readers: {e}")))?
        .install(op))
}

impl FileReader for Dataset {
    fn columns(&self, f: &AddedFile, names: &[&str]) -> Result<Batches> {
        Ok(Box::new(parquet_columns(&self.file_path(f), Some(names))?))
    }

    fn in_events_order(&self, f: &AddedFile) -> Result<bool> {
        in_events_order(&self.file_path(f))
    }
}

/// The `YYYY-MM-DD` of a `.../date=YYYY-MM-DD/...` path.
pub fn partition_day(path: &str) -> Option<&str> {
    let i = path.find("date=")?;
    path.get(i + 5..i + 15)
}

/// Columns with about one value per row, or per person: a dictionary
/// would cost a hash per value and save little, so they are written plain.
const HIGH_CARDINALITY: [&str; 9] = [
    "token",
    "recipient_id",
    "ip",
    "referer",
    "raw_line",
    "ts",
    "sent_at",
    "seconds_since_sent",
    "source_line",
];

/// Integer columns whose neighbouring rows differ by little: a file's
/// line numbers, and the age of each hit in log order. DELTA_BINARY_PACKED
/// stores each as its difference from the last, bit-packed, and Snappy
/// then finds little more to take, so they are not compressed. On the
/// simulated 4.3 M-line send the two took 9.2 MB instead of 24.2 MB. Times
/// and send times stay PLAIN and Snappy: whole seconds in microseconds,
/// and a day's file mixing campaigns sent at different times, made their
/// differences wide (12.2 and 16.9 MB delta-packed, against 8.0 and 4.9).
const DELTA: [&str; 2] = ["seconds_since_sent", "source_line"];

/// Columns without min/max statistics: they would cost a string comparison
/// per value (for the page and for the chunk) and prune next to nothing,
/// since their values are spread over every row group. Statistics stay on
/// times and numbers, and on `kind` and `campaign_id`, which do prune (a
/// page of opens and clicks has nothing for `kind = 'read'`; a day's file
/// often holds one send). Over the simulated 4.3 M-line log the comparisons
/// on the columns added here took about 3% of ingest's CPU.
const NO_STATISTICS: [&str; 26] = [
    "token",
    "recipient_id",
    "ip",
    "referer",
    "raw_line",
    "user_agent",
    "url",
    "reason",
    "detail",
    "variant",
    "link_id",
    "method",
    "ua_name",
    "ua_category",
    "os",
    "country",
    "city",
    "time_zone",
    "as_org",
    "network",
    "class",
    "rule_id",
    "source_file",
    "rules_version",
    "network_cidr",
    "network_roles",
];

/// The Parquet writer properties of every dataset file.
pub fn writer_properties() -> WriterProperties {
    props(None)
}

/// The order `compact` leaves events in: each person's hits together, in
/// time order. Queries that group by campaign and recipient (most reports)
/// then meet each group's rows one after another, and the files compress
/// better: over 42M simulated events, `campaign-summary` took 1.98-2.21 s
/// after `compact` instead of 3.05-3.42 s, and the files 1.3 GB instead
/// of 1.7 GB.
pub const EVENTS_ORDER: [&str; 3] = ["campaign_id", "recipient_id", "ts"];

/// The `sorting_columns` a file of `schema` in [`EVENTS_ORDER`] declares in
/// each row group, or `None` when the schema lacks one of its columns.
pub fn events_sorting(
    schema: &arrow::datatypes::Schema,
) -> Option<Vec<parquet::file::metadata::SortingColumn>> {
    EVENTS_ORDER
        .iter()
        .map(|c| {
            schema
                .index_of(c)
                .ok()
                .map(|i| parquet::file::metadata::SortingColumn {
                    column_idx: i as i32,
                    descending: false,
                    nulls_first: false,
                })
        })
        .collect()
}

fn props(sorting: Option<Vec<parquet::file::metadata::SortingColumn>>) -> WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    // Snappy writes as fast as no compression at half the size, and reads
    // about as fast as LZ4; zstd(1) is 36% smaller but costs 18% more to
    // write and 17% more to read (benches/codecs, README: Performance).
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_sorting_columns(sorting);
    for c in HIGH_CARDINALITY {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    for c in DELTA {
        b = b
            .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED)
            .set_column_compression(ColumnPath::from(c), Compression::UNCOMPRESSED);
    }
    for c in NO_STATISTICS {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    b.build()
}

/// Syncs each directory (its entries: files created, moved in or out).
fn sync_dirs(dirs: impl IntoIterator<Item = PathBuf>) -> Result<()> {
    let dirs: Vec<PathBuf> = dirs.into_iter().collect();
    crate::encode::wait_on_each(&dirs, |d| {
        File::open(d).and_then(|f| f.sync_all()).map_err(io_err(d))
    })
}

/// A dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
}

/// Proof of being the one writer; released on drop.
pub struct WriterLock {
    _file: File,
}

impl Dataset {
    /// Opens a dataset, creating its directories if needed.
    pub fn create(root: &Path) -> Result<Self> {
        for t in TABLES.iter().chain(["_log", "_staging"].iter()) {
            let d = root.join(t);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(Dataset {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing dataset.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("_log").is_dir() {
            return Err(Error::Config(format!(
                "{}: no pixelsift dataset here (run `pixelsift ingest --data {}` first)",
                root.display(),
                root.display()
            )));
        }
        Ok(Dataset {
            root: root.to_path_buf(),
        })
    }

    /// The dataset root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where file `f` of this dataset is on disk: its final path, or its
    /// staged one while the last commit has not moved it.
    pub fn file_path(&self, f: &AddedFile) -> PathBuf {
        located(&self.root, f)
    }

    /// Takes the writer lock: `Ok(None)` if another writer holds it and
    /// `wait` is false. Once held, finishes or discards what a crashed
    /// writer left.
    pub fn lock(&self, wait: bool) -> Result<Option<WriterLock>> {
        let path = self.root.join("_lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if wait {
            file.lock().map_err(io_err(&path))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
            }
        }
        let lock = WriterLock { _file: file };
        self.recover(&lock)?;
        Ok(Some(lock))
    }

    /// Redoes the moves and deletions of every commit (idempotent), then
    /// deletes staging directories, which no commit needs any more.
    fn recover(&self, _lock: &WriterLock) -> Result<()> {
        for rec in self.log()? {
            self.apply(&rec)?;
        }
        let staging = self.root.join("_staging");
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }

    fn apply(&self, rec: &CommitRecord) -> Result<()> {
        let mut dirs = std::collections::BTreeSet::new();
        for a in &rec.add {
            let fin = self.root.join(&a.path);
            let staged = self.root.join(&a.staged);
            if !fin.exists() && staged.exists() {
                if let Some(dir) = fin.parent() {
                    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                    dirs.insert(dir.to_path_buf());
                }
                std::fs::rename(&staged, &fin).map_err(io_err(&fin))?;
            }
        }
        for r in &rec.remove {
            let p = self.root.join(r);
            match std::fs::remove_file(&p) {
                Ok(()) => {
                    if let Some(dir) = p.parent() {
                        dirs.insert(dir.to_path_buf());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        // The moves must be on disk before their source, the staging
        // directory, is removed: a file system without a journal to order
        // metadata (ext4 without one, for one) could otherwise keep the
        // removal and lose the moves in a crash. Only what this call
        // changed is synced: recovery replays every record at each lock.
        sync_dirs(dirs)
    }

    /// Every commit record, in order.
    pub fn log(&self) -> Result<Vec<CommitRecord>> {
        let dir = self.root.join("_log");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let p = dir.join(&n);
            let text = std::fs::read(&p).map_err(io_err(&p))?;
            let rec =
                parse_record(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Replays the log.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot::replay(&self.log()?))
    }

    /// Writes a commit record made elsewhere (a remote dataset's log) into
    /// this dataset's log, atomically, so local commands see its state.
    pub fn import_record(&self, rec: &CommitRecord) -> Result<()> {
        let dir = self.root.join("_log");
        let fin = dir.join(format!("{:020}.json", rec.seq));
        let tmp = dir.join(format!(".{:020}.json.tmp", rec.seq));
        let body = serde_json::to_vec_pretty(rec)
            .map_err(|e| Error::Config(format!("encoding commit record: {e}")))?;
        std::fs::write(&tmp, body).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &fin).map_err(io_err(&fin))
    }

    /// Starts staging a change; only the lock holder may.
    pub fn begin<'l>(&self, lock: &'l WriterLock) -> Result<Staging<'l>> {
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%6fZ");
        let run = format!("{now}-{}", std::process::id());
        let dir = self.root.join("_staging").join(&run);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Staging {
            _lock: lock,
            root: self.root.clone(),
            run: run.clone(),
            writers: BTreeMap::new(),
            closed: BTreeMap::new(),
            encoder: crate::encode::Encoder::new(&self.root, &run),
            sealed: Vec::new(),
            done: false,
        })
    }
}

struct OpenFile {
    staged: String,
    /// What sets the file's name apart from earlier ones of its table and
    /// day in this run ([`Staging::close`]): empty for the first.
    tail: String,
    writer: ArrowWriter<File>,
    rows: u64,
    /// The tallies of an events file's rows, written beside it at the commit.
    tallies: Option<crate::tally::Counter>,
}

pub use crate::encode::CHUNK_ROWS;

/// Bytes of encoded pages a file written row by row ([`Staging::write`])
/// holds in memory before its row group is closed.
pub const ROW_GROUP_BYTES: usize = 64 << 20;

/// Files of a change in the making.
pub struct Staging<'l> {
    _lock: &'l WriterLock,
    root: PathBuf,
    run: String,
    writers: BTreeMap<String, OpenFile>,
    /// Files of a table and day finished before the commit, by table and day.
    closed: BTreeMap<String, u32>,
    encoder: crate::encode::Encoder,
    sealed: Vec<AddedFile>,
    done: bool,
}

impl Staging<'_> {
    /// The run id, part of every file name it writes.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Appends rows to the run's file for `table` (and `date=` partition).
    pub fn write(&mut self, table: &str, day: Option<&str>, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.append(table, day, batch, false).map(drop)
    }

    /// Appends rows to the run's file for `table` and `day`, made on first
    /// use (declaring [`EVENTS_ORDER`] when `in_order`); gives the file's key.
    fn append(
        &mut self,
        table: &str,
        day: Option<&str>,
        batch: &RecordBatch,
        in_order: bool,
    ) -> Result<String> {
        let (path, staged, tail) = self.names(table, day);
        if !self.writers.contains_key(&path) {
            let sorting = if in_order {
                events_sorting(&batch.schema())
            } else {
                None
            };
            let w = writer(&self.root.join(&staged), batch.schema(), sorting)?;
            self.writers.insert(
                path.clone(),
                OpenFile {
                    staged: staged.clone(),
                    tail,
                    writer: w,
                    rows: 0,
                    tallies: (table == "events").then(crate::tally::Counter::default),
                },
            );
        }
        let f = self.writers.get_mut(&path).expect("just inserted");
        f.rows += batch.num_rows() as u64;
        if let Some(t) = &mut f.tallies {
            t.add(batch);
        }
        let perr = |source| Error::Parquet {
            path: self.root.join(&f.staged),
            source,
        };
        f.writer.write(batch).map_err(perr)?;
        // A row group's pages wait in memory until it is closed: rejects keep
        // whole lines (up to 64 KiB each), so a log that is mostly junk would
        // hold up to a million of them (a 640 MB file of junk lines peaked at
        // 832 MB). Closed by size as well as by rows, memory stays bounded.
        if f.writer.memory_size() >= ROW_GROUP_BYTES {
            f.writer.flush().map_err(perr)?;
        }
        Ok(path)
    }

    /// The dataset path, staged path and name tail of the run's current
    /// file for `table` and `day`.
    fn names(&self, table: &str, day: Option<&str>) -> (String, String, String) {
        let key = format!("{table}/{}", day.unwrap_or(""));
        // `-w`: apart from the encoder's chunks (`part-RUN-K`).
        let tail = match self.closed.get(&key) {
            Some(n) => format!("-w{n}"),
            None => String::new(),
        };
        let run = &self.run;
        match day {
            Some(d) => (
                format!("{table}/date={d}/part-{run}{tail}.parquet"),
                format!("_staging/{run}/{table}-{d}{tail}.parquet"),
                tail,
            ),
            None => (
                format!("{table}/{table}-{run}{tail}.parquet"),
                format!("_staging/{run}/{table}{tail}.parquet"),
                tail,
            ),
        }
    }

    /// Finishes the run's file for `table` and `day` now rather than at the
    /// commit: its last row group and footer are written, and nothing of it
    /// stays in memory. Rewrites call it once they are done with a day: a
    /// file held open keeps its last row group's pages (up to
    /// [`ROW_GROUP_BYTES`]), and a year of days held that much each. Rows
    /// written later to the same table and day go to another file.
    pub fn close(&mut self, table: &str, day: Option<&str>) -> Result<()> {
        let (path, _, _) = self.names(table, day);
        let Some(f) = self.writers.remove(&path) else {
            return Ok(());
        };
        *self
            .closed
            .entry(format!("{table}/{}", day.unwrap_or("")))
            .or_default() += 1;
        self.finish(path, f)
    }

    /// Writes the footer of file `path`, hands it to be synced before the
    /// commit, and adds it (with its tallies, for events) to the files the
    /// commit adds.
    fn finish(&mut self, path: String, f: OpenFile) -> Result<()> {
        let staged_abs = self.root.join(&f.staged);
        let file = f.writer.into_inner().map_err(|source| Error::Parquet {
            path: staged_abs.clone(),
            source,
        })?;
        self.encoder.sync_later(&staged_abs, file)?;
        if let (Some(counter), Some(day)) = (f.tallies, partition_day(&path)) {
            if let Some(rows) = counter.finish()? {
                let name = format!("{}-{day}{}", self.run, f.tail);
                let t = self.write_tallies(&name, vec![path.clone()], &rows)?;
                self.sealed.push(t);
            }
        }
        self.sealed.push(AddedFile {
            path,
            staged: f.staged,
            rows: f.rows,
            counts: Vec::new(),
        });
        Ok(())
    }

    /// Appends `events` rows of `day` as row groups in [`EVENTS_ORDER`],
    /// declared in the file: the rows are sorted here, a row group at a
    /// time (at most [`CHUNK_ROWS`] rows). Only the sort keys are copied
    /// whole; the rows are taken in slices, so memory holds the rows given
    /// and little more.
    pub fn write_in_order(&mut self, day: &str, batches: &[RecordBatch]) -> Result<()> {
        use arrow::array::Array;
        use arrow::compute::interleave;
        use arrow::row::{RowConverter, SortField};
        use rayon::prelude::*;
        let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(());
        };
        let schema = first.schema();
        let keys = EVENTS_ORDER
            .iter()
            .map(|c| schema.index_of(c))
            .collect::<std::result::Result<Vec<usize>, _>>()?;
        // The sort keys in arrow's row format, where comparing two rows is
        // one comparison of bytes: sorting by the columns instead (string
        // comparisons through a closure per column) took about a quarter
        // of compact's time.
        let converter = RowConverter::new(
            keys.iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        let mut rows = converter.empty_rows(n, n * 48);
        for b in batches {
            let cols: Vec<_> = keys.iter().map(|&i| b.column(i).clone()).collect();
            converter.append(&mut rows, &cols)?;
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        // Ties keep their order: the output is the same from run to run.
        order.par_sort_unstable_by(|&a, &b| {
            rows.row(a as usize)
                .cmp(&rows.row(b as usize))
                .then(a.cmp(&b))
        });
        drop(rows);
        // Row `n` of the whole is row `n - starts[b]` of batch `b`.
        let mut starts = Vec::with_capacity(batches.len());
        let mut at = 0usize;
        for b in batches {
            starts.push(at);
            at += b.num_rows();
        }
        for group in order.chunks(CHUNK_ROWS as usize) {
            let mut path = String::new();
            for slice in group.chunks(65_536) {
                let at: Vec<(usize, usize)> = slice
                    .iter()
                    .map(|&n| {
                        let b = starts.partition_point(|&s| s <= n as usize) - 1;
                        (b, n as usize - starts[b])
                    })
                    .collect();
                // Column by column, in parallel: gathering rows from many
                // batches is a copy per value.
                let columns = (0..schema.fields().len())
                    .into_par_iter()
                    .map(|c| {
                        let parts: Vec<&dyn Array> =
                            batches.iter().map(|b| b.column(c).as_ref()).collect();
                        interleave(&parts, &at)
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let rows = RecordBatch::try_new(schema.clone(), columns)?;
                path = self.append("events", Some(day), &rows, true)?;
            }
            let f = self.writers.get_mut(&path).expect("written above");
            f.writer.flush().map_err(|source| Error::Parquet {
                path: self.root.join(&f.staged),
                source,
            })?;
        }
        Ok(())
    }

    /// Appends rows to `table` and `day`, encoded into Parquet pages at
    /// once (see [`crate::encode`]); [`Staging::seal`] writes the files
    /// when the whole run is known. `tags` has a row's tag for the
    /// table's deferred columns ([`Staging::declare`]).
    pub fn encode(
        &mut self,
        table: &str,
        day: &str,
        batch: &RecordBatch,
        tags: &[u16],
    ) -> Result<()> {
        self.encoder.write(table, day, batch, tags)
    }

    /// The schema `table`'s files have (rows may come with some columns as
    /// dictionaries of the same values), and the columns (by position) that
    /// [`Staging::seal`] writes from the rows' tags, because a later pass
    /// may still change them.
    pub fn declare(&mut self, table: &str, schema: SchemaRef, deferred: Vec<usize>) {
        self.encoder.declare(table, schema, deferred);
    }

    /// Rows per encoded chunk from now on (default [`CHUNK_ROWS`]).
    pub fn set_chunk_rows(&mut self, rows: u64) {
        self.encoder.set_chunk_rows(rows);
    }

    /// Bytes of encoded pages held in memory before they go to a scratch
    /// file (default [`crate::encode::PAGE_MEMORY`]).
    pub fn set_page_memory(&mut self, bytes: usize) {
        self.encoder.set_page_memory(bytes);
    }

    /// This run's scratch directory, removed with the staging.
    pub fn scratch(&self) -> PathBuf {
        self.root.join("_staging").join(&self.run)
    }

    /// A file for the whole of `table` (see [`crate::encode::WholeFile`]):
    /// written while the events are sealed, then handed to [`Self::adopt`].
    pub fn whole_file(&mut self, table: &str) -> Result<crate::encode::WholeFile> {
        self.encoder.whole_file(table)
    }

    /// Takes a file written apart (a [`crate::encode::WholeFile`]) into
    /// the commit.
    pub fn adopt(&mut self, file: AddedFile) -> Result<()> {
        if self.writers.contains_key(&file.path) || self.sealed.iter().any(|f| f.path == file.path)
        {
            return Err(Error::Config(format!(
                "bug: {} written twice in a run",
                file.path
            )));
        }
        self.sealed.push(file);
        Ok(())
    }

    /// The dataset path of encoded chunk `k` of `table` and `day`, once sealed.
    pub fn chunk_path(&self, table: &str, day: &str, k: usize) -> String {
        self.encoder.chunk_path(table, day, k)
    }

    /// The days `table` has encoded chunks for.
    pub fn days(&self, table: &str) -> Vec<String> {
        self.encoder.days(table)
    }

    /// Where each encoded chunk of `table` and `day` ends (exclusive row
    /// numbers within the day): row `r` is in the first chunk ending after it.
    pub fn chunk_ends(&self, table: &str, day: &str) -> Vec<u64> {
        self.encoder.chunk_ends(table, day)
    }

    /// Writes the encoded chunks of `table` as staged Parquet files, one per
    /// chunk, in parallel. For each chunk `prepare(day, k)` is called once,
    /// then `revise(prepared, first_row, tags)` makes the deferred columns
    /// (the message-level pass's verdicts) of each slice of its rows in
    /// turn; `first_row` is the slice's first row, counted within the day
    /// across the run.
    pub fn seal<T>(
        &mut self,
        table: &str,
        prepare: impl Fn(&str, usize) -> Result<T> + Sync,
        revise: &crate::encode::Revise<'_, T>,
    ) -> Result<()> {
        let sealed = self.encoder.seal(table, prepare, revise)?;
        self.sealed.extend(sealed);
        Ok(())
    }

    /// Adds `rows`, the tallies of the events files `counts` of this
    /// commit, as the run's tallies file ([`crate::tally`]).
    pub fn tallies(&mut self, counts: Vec<String>, rows: &RecordBatch) -> Result<()> {
        let name = self.run.clone();
        let file = self.write_tallies(&name, counts, rows)?;
        self.adopt(file)
    }

    /// Writes `rows`, the tallies of `counts`, as `tallies/part-NAME.parquet`.
    fn write_tallies(
        &mut self,
        name: &str,
        counts: Vec<String>,
        rows: &RecordBatch,
    ) -> Result<AddedFile> {
        let path = crate::tally::path(name);
        let staged = format!(
            "_staging/{}/{}-{name}.parquet",
            self.run,
            crate::tally::TABLE
        );
        // Encoded like the manifest copy, each column on a core of its own:
        // through parquet's writer, a 4.3 M-line send's tallies took about
        // 5% of its ingest, on one core at the end of the run.
        let mut added = self.encoder.whole_file_at(path, staged)?.write(rows)?;
        added.counts = counts;
        Ok(added)
    }

    /// The tallies of the live events files `paths` (final or staged),
    /// read from their rows; `None` when one is missing or lacks a column.
    fn recount(&self, snap: &Snapshot, paths: &[String]) -> Result<Option<RecordBatch>> {
        const COLUMNS: [&str; 6] = [
            "campaign_id",
            "recipient_id",
            "kind",
            "class",
            "ts",
            "seconds_since_sent",
        ];
        let mut counter = crate::tally::Counter::default();
        for p in paths {
            let Some(f) = snap.files.get("events").and_then(|l| l.get(p)) else {
                return Ok(None);
            };
            let at = located(&self.root, f);
            if !at.exists() {
                return Ok(None);
            }
            for b in parquet_columns(&at, Some(&COLUMNS))? {
                counter.add(&b?);
            }
        }
        counter.finish()
    }

    /// Commits: finishes the files, writes the commit record (the atomic
    /// step), then moves the files into place. Returns the record.
    ///
    /// Tallies follow their events files: each events file written row by
    /// row gets a tallies file, and a tallies file goes as soon as one of
    /// the files it counts does (those of its files that stay are counted
    /// again, into a tallies file of their own).
    pub fn commit(
        mut self,
        op: &str,
        remove: Vec<String>,
        inputs: Vec<InputRecord>,
        ip_policy: Option<String>,
        details: serde_json::Value,
    ) -> Result<CommitRecord> {
        if let Some(t) = self.encoder.pending() {
            return Err(Error::Config(format!(
                "bug: {t} was encoded but not sealed before the commit"
            )));
        }
        let dataset = Dataset {
            root: self.root.clone(),
        };
        let snap = dataset.snapshot()?;
        for (path, f) in std::mem::take(&mut self.writers) {
            self.finish(path, f)?;
        }
        let mut add = std::mem::take(&mut self.sealed);
        let mut remove = remove;
        if let Some(tallies) = snap.files.get(crate::tally::TABLE) {
            let events = snap.files.get("events");
            let gone: std::collections::HashSet<String> = remove.iter().cloned().collect();
            let stays = |e: &String| events.is_some_and(|l| l.contains_key(e)) && !gone.contains(e);
            let mut recount = Vec::new();
            for (path, t) in tallies {
                if !t.counts.is_empty() && t.counts.iter().all(stays) {
                    continue;
                }
                if !gone.contains(path) {
                    remove.push(path.clone());
                }
                // The files it counted that stay (the other chunks of a run
                // that `forget` or `reclassify` rewrote one of, or whose day
                // `purge` dropped) are counted again, so reports go on
                // reading tallies for them.
                let left: Vec<String> = t.counts.iter().filter(|e| stays(e)).cloned().collect();
                if !left.is_empty() {
                    recount.push(left);
                }
            }
            for (n, left) in recount.into_iter().enumerate() {
                if let Some(rows) = self.recount(&snap, &left)? {
                    let name = format!("{}-r{n}", self.run);
                    add.push(self.write_tallies(&name, left, &rows)?);
                }
            }
        }
        // Every file the record names is on disk before the record is, and
        // so are their names in the staging directory.
        self.encoder.durable()?;
        sync_dirs([self.root.join("_staging").join(&self.run)])?;
        let seq = snap.last_seq + 1;
        let rec = CommitRecord {
            format: FORMAT,
            seq,
            run: self.run.clone(),
            op: op.to_string(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            add,
            remove,
            inputs,
            ip_policy,
            details,
        };
        let dir = self.root.join("_log");
        let fin = dir.join(format!("{seq:020}.json"));
        let tmp = dir.join(format!(".{seq:020}.json.tmp"));
        let body = serde_json::to_vec_pretty(&rec)
            .map_err(|e| Error::Config(format!("encoding commit record: {e}")))?;
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&body)
                .and_then(|_| f.sync_all())
                .map_err(io_err(&tmp))?;
        }
        // The commit point.
        std::fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        dataset.apply(&rec)?;
        self.done = true;
        let _ = std::fs::remove_dir_all(self.root.join("_staging").join(&self.run));
        Ok(rec)
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(self.root.join("_staging").join(&self.run));
        }
    }
}

fn writer(
    path: &Path,
    schema: SchemaRef,
    sorting: Option<Vec<parquet::file::metadata::SortingColumn>>,
) -> Result<ArrowWriter<File>> {
    let f = File::create(path).map_err(io_err(path))?;
    ArrowWriter::try_new(f, schema, Some(props(sorting))).map_err(|source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    })
}

/// True when the events file at `path` has today's columns and every row
/// group declares [`EVENTS_ORDER`]: what `compact` leaves.
pub fn in_events_order(path: &Path) -> Result<bool> {
    let f = match File::open(path) {
        Ok(f) => f,
        // Like `read_parquet`: a missing file has no rows, and compacting
        // its partition drops it from the log.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(path)(e)),
    };
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(sorted_as_events(b.metadata()))
}

/// Whether a file whose footer is `meta` has the current events columns
/// and declares [`EVENTS_ORDER`] in every row group: what `compact` leaves.
pub fn sorted_as_events(meta: &parquet::file::metadata::ParquetMetaData) -> bool {
    let current = crate::batch::events_schema();
    let same_columns = meta
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name())
        .eq(current.fields().iter().map(|f| f.name().as_str()));
    let want = events_sorting(&current);
    let groups = meta.row_groups();
    same_columns
        && !groups.is_empty()
        && groups.iter().all(|g| g.sorting_columns() == want.as_ref())
}

/// Reads every batch of a Parquet file; a missing file reads as empty.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    parquet_batches(path)?.collect()
}

/// The batches of a Parquet file one at a time, for a pass that need not
/// hold the whole file; a missing file has none.
pub fn parquet_batches(path: &Path) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    parquet_columns(path, None)
}

/// Like [`parquet_batches`], reading only the named columns when given.
pub fn parquet_columns(
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None.into_iter().flatten())
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let perr = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr)?;
    if let Some(names) = columns {
        let mask = parquet::arrow::ProjectionMask::columns(
            builder.parquet_schema(),
            names.iter().copied(),
        );
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(perr)?;
    Ok(Some(reader.map(|b| b.map_err(Error::Arrow)))
        .into_iter()
        .flatten())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
    use std::sync::Arc;

    /// Commits `staging` and gives the one file it put in `dir`.
    fn commit_and_find(staging: Staging<'_>, dir: &Path) -> PathBuf {
        staging
            .commit("test", Vec::new(), Vec::new(), None, serde_json::json!({}))
            .unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.pop().unwrap()
    }

    /// Column `i` (an Int64 column) of every row of `file`, in order.
    fn ints(file: &Path, i: usize) -> Vec<i64> {
        read_parquet(file)
            .unwrap()
            .iter()
            .flat_map(|b| b.column(i).as_primitive::<Int64Type>().values().to_vec())
            .collect()
    }

    /// A file written row by row closes its row group once the group's
    /// pages pass [`ROW_GROUP_BYTES`], not only at a million rows: long
    /// rejected lines do not pile up in memory. Every row comes back.
    #[test]
    fn row_groups_close_by_size_and_keep_every_row() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = Dataset::create(tmp.path()).unwrap();
        let lock = ds.lock(true).unwrap().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("raw_line", DataType::Utf8, false),
        ]));
        // Text Snappy cannot shrink: 16 KiB a row, 1,000 rows a batch, 12
        // batches (about 190 MiB).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut noise = |len: usize| -> String {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'!' + (state % 90) as u8)
                })
                .collect()
        };
        let mut staging = ds.begin(&lock).unwrap();
        let (batches, per_batch) = (12i64, 1_000i64);
        for b in 0..batches {
            let n = Int64Array::from_iter_values(b * per_batch..(b + 1) * per_batch);
            let lines: Vec<String> = (0..per_batch).map(|_| noise(16 << 10)).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(n), Arc::new(StringArray::from(lines))],
            )
            .unwrap();
            staging
                .write("rejects", Some("2026-11-20"), &batch)
                .unwrap();
        }
        let file = commit_and_find(staging, &tmp.path().join("rejects/date=2026-11-20"));
        let reader =
            parquet::file::reader::SerializedFileReader::new(File::open(&file).unwrap()).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        assert!(
            meta.num_row_groups() >= 2,
            "{} row groups",
            meta.num_row_groups()
        );
        for rg in meta.row_groups() {
            assert!(
                (rg.compressed_size() as usize) < 2 * ROW_GROUP_BYTES,
                "a row group of {} bytes",
                rg.compressed_size()
            );
        }
        assert_eq!(ints(&file, 0), (0..batches * per_batch).collect::<Vec<_>>());
    }

    /// A rewrite of `a` needs `a` and the files counted with it (`b`),
    /// not the files counted with those (`c`): only tallies that count a
    /// replaced file are made again.
    #[test]
    fn a_rewrite_needs_the_files_counted_with_it_and_no_more() {
        let file = |path: &str, counts: &[&str]| AddedFile {
            path: path.to_string(),
            staged: path.to_string(),
            rows: 1,
            counts: counts.iter().map(|c| c.to_string()).collect(),
        };
        let mut snap = Snapshot::default();
        for (path, counts) in [
            ("tallies/part-1.parquet", &["a", "b"][..]),
            ("tallies/part-2.parquet", &["b", "c"][..]),
        ] {
            snap.files
                .entry(crate::tally::TABLE.to_string())
                .or_default()
                .insert(path.to_string(), file(path, counts));
        }
        assert_eq!(snap.rewrite_needs(&["a".to_string()]), vec!["a", "b"]);
        assert_eq!(snap.rewrite_needs(&["c".to_string()]), vec!["b", "c"]);
        assert_eq!(snap.rewrite_needs(&["d".to_string()]), vec!["d"]);
    }

    /// A file closed before the commit is written out then and committed
    /// with the rest; rows written to its table and day afterwards go to a
    /// file of their own, and every row is in the dataset once.
    #[test]
    fn a_file_closed_early_is_committed_and_a_later_one_takes_a_new_name() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = Dataset::create(tmp.path()).unwrap();
        let lock = ds.lock(true).unwrap().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = |r: std::ops::Range<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(r))],
            )
            .unwrap()
        };
        let day = Some("2026-11-20");
        let mut staging = ds.begin(&lock).unwrap();
        staging.write("rejects", day, &batch(0..3)).unwrap();
        staging
            .write("rejects", Some("2026-11-21"), &batch(3..5))
            .unwrap();
        let (first, _, _) = staging.names("rejects", day);
        staging.close("rejects", day).unwrap();
        let staged = tmp.path().join("_staging").join(staging.run_id());
        // Finished: a reader can open it before the commit.
        assert_eq!(
            ints(&staged.join("rejects-2026-11-20.parquet"), 0),
            vec![0, 1, 2]
        );
        staging.close("rejects", day).unwrap(); // nothing open: nothing done
        staging.write("rejects", day, &batch(5..7)).unwrap();
        let (second, _, _) = staging.names("rejects", day);
        assert_ne!(first, second);
        staging
            .commit("test", Vec::new(), Vec::new(), None, serde_json::json!({}))
            .unwrap();
        let snap = ds.snapshot().unwrap();
        let files = &snap.files["rejects"];
        assert_eq!(files.len(), 3, "{:?}", files.keys());
        assert!(files.contains_key(&first) && files.contains_key(&second));
        let mut all: Vec<i64> = snap
            .table_paths(ds.root(), "rejects", None)
            .iter()
            .flat_map(|p| ints(p, 0))
            .collect();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }

    /// Rows in [`EVENTS_ORDER`], from batches given in any order; rows with
    /// the same campaign, recipient and time keep the order they came in.
    #[test]
    fn in_order_sorts_by_person_and_time_and_keeps_ties_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let ds = Dataset::create(tmp.path()).unwrap();
        let lock = ds.lock(true).unwrap().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("campaign_id", DataType::Utf8, false),
            Field::new("recipient_id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        // (ts, campaign, recipient) for rows n = 0, 1, 2...; rows 1, 3 and
        // 6 tie, and so do rows 2 and 5.
        let rows = [
            (9, "c2", "a"),
            (5, "c1", "b"),
            (7, "c1", "a"),
            (5, "c1", "b"),
            (1, "c1", "b"),
            (7, "c1", "a"),
            (5, "c1", "b"),
        ];
        let batch = |from: usize, to: usize| {
            let part = &rows[from..to];
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(
                        TimestampMicrosecondArray::from(
                            part.iter().map(|r| r.0).collect::<Vec<i64>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from_iter_values(part.iter().map(|r| r.1))),
                    Arc::new(StringArray::from_iter_values(part.iter().map(|r| r.2))),
                    Arc::new(Int64Array::from_iter_values(from as i64..to as i64)),
                ],
            )
            .unwrap()
        };
        let mut staging = ds.begin(&lock).unwrap();
        staging
            .write_in_order("2026-11-20", &[batch(0, 2), batch(2, 5), batch(5, 7)])
            .unwrap();
        let file = commit_and_find(staging, &tmp.path().join("events/date=2026-11-20"));
        assert_eq!(ints(&file, 3), vec![2, 5, 4, 1, 3, 6, 0]);
    }
}
