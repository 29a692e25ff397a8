//! Ingest: the one module that knows every stage, and wires them.
//!
//! Per input, a reader thread cuts the (decompressed) bytes into blocks of
//! whole lines; groups of blocks are parsed, tracked, enriched and classified
//! in parallel by rayon, and their batches are written in input order, so a
//! run's output does not depend on thread timing. Each worker thread keeps its
//! own caches of user agents and addresses: no lock is shared per line.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::batch::{EventBuilder, EventRow, RejectBuilder};
use crate::classify::message::{self, Change, HitKey};
use crate::classify::{Class, Classifier, Features, NetMatch, Networks, RoleSet};
use crate::commit::{Dataset, WriterLock};
use crate::dialect::{Dialect, LineError};
use crate::enrich::agent::{AgentInfo, AgentParser};
use crate::enrich::geo::{Geo, GeoCache, GeoInfo, LocalTimes};
use crate::enrich::Slots;
use crate::error::{io_err, Result};
use crate::input::Input;
use crate::lines::{lines, Block, BlockReader, Spares};
use crate::manifest::Manifest;
use crate::privacy::IpPolicy;
use crate::registry;
use crate::track::{token_hint, track, IgnoreReason, Kind, RejectReason, Tracked};

/// Everything an ingest run needs, already loaded.
pub struct IngestConfig {
    /// The manifest to join hits to.
    pub manifest: Manifest,
    /// Dataset root.
    pub data: PathBuf,
    /// GeoIP/ASN databases.
    pub geo: Geo,
    /// Classification rules.
    pub classifier: Classifier,
    /// Network and ASN lists.
    pub networks: Networks,
    /// User-agent parser.
    pub agents: AgentParser,
    /// Log format; `None` recognises it per file from its first lines.
    pub dialect: Option<Dialect>,
    /// What is kept of client addresses.
    pub ip_policy: IpPolicy,
    /// Which address is the reader's.
    pub client_ip: ClientIp,
    /// Lines longer than this are rejected (`line_too_long`).
    pub max_line_bytes: usize,
    /// On a corrupt or truncated compressed input, keep the lines read
    /// before the damage (and remember where they stopped) instead of failing.
    pub keep_partial: bool,
    /// Logs to read, in order.
    pub inputs: Vec<Input>,
    /// How much of a run is held in memory before it goes to disk.
    pub limits: Limits,
}

impl IngestConfig {
    /// A run of `inputs` against `manifest` into `data`, with the built-in
    /// rules and lists, no GeoIP, the format recognised per file, addresses
    /// truncated, lines up to 64 KiB, and the default memory limits.
    pub fn new(manifest: Manifest, data: PathBuf, inputs: Vec<Input>) -> Self {
        IngestConfig {
            manifest,
            data,
            geo: Geo::default(),
            classifier: Classifier::builtin(),
            networks: Networks::builtin(),
            agents: AgentParser::default(),
            dialect: None,
            ip_policy: IpPolicy::Truncate,
            client_ip: ClientIp::default(),
            max_line_bytes: 64 * 1024,
            keep_partial: false,
            inputs,
            limits: Limits::default(),
        }
    }
}

/// How much of a run ingest holds in memory; with the defaults a 50M-line
/// simulated send peaked at 356 MB and a 10M-line one at 348 MB, with
/// GeoIP (stop 27, `benches/scale.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Hits held for the message-level pass before they are sorted to disk.
    pub spill_hits: usize,
    /// Rows per encoded chunk of a day, and so per Parquet file.
    pub chunk_rows: u64,
    /// Bytes of encoded Parquet pages held in memory before they wait in a
    /// scratch file.
    pub page_memory: usize,
    /// Files of verdict changes the message pass keeps open at once, across
    /// its parallel ranges (others are reopened to append).
    pub change_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            spill_hits: message::SPILL_HITS,
            chunk_rows: crate::commit::CHUNK_ROWS,
            page_memory: crate::encode::PAGE_MEMORY,
            change_files: 512,
        }
    }
}

/// Which address is the reader's: the connecting one, or, behind a CDN or
/// load balancer, the right-most address of `X-Forwarded-For` that is not
/// one of the trusted proxies (the left part of that header is whatever the
/// client claimed, so it is never trusted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIp {
    /// Use `X-Forwarded-For` when the log has it.
    pub from_xff: bool,
    /// Proxies whose hops are skipped.
    pub trusted: Vec<(IpAddr, u8)>,
}

impl ClientIp {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|(net, len)| in_net(ip, *net, *len))
    }

    /// The reader's address for a line.
    pub fn pick<'a>(&self, remote: &'a [u8], xff: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if !self.from_xff || xff.is_empty() {
            return std::borrow::Cow::Borrowed(remote);
        }
        let parse = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        };
        let hops: Vec<&[u8]> = xff
            .split(|&c| c == b',')
            .map(|h| h.trim_ascii())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(r) = parse(remote) {
            if !self.trusted(r) {
                return std::borrow::Cow::Borrowed(remote);
            }
        }
        for h in hops.iter().rev() {
            match parse(h) {
                Some(ip) if self.trusted(ip) => continue,
                _ => return std::borrow::Cow::Borrowed(h),
            }
        }
        hops.first()
            .map(|h| std::borrow::Cow::Borrowed(*h))
            .unwrap_or(std::borrow::Cow::Borrowed(remote))
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len as u32)
            };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len as u32)
            };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The input's name.
    pub name: String,
    /// The dialect it was read as.
    pub dialect: &'static str,
    /// Lines read in this run.
    pub lines: u64,
    /// Lines skipped because an earlier run took them.
    pub already_taken: u64,
    /// Bytes of a trailing partial line left for a later run.
    pub held_back: u64,
}

/// Counts of one run. `lines == events + rejected + ignored` always holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    /// Lines read.
    pub lines: u64,
    /// Events written.
    pub events: u64,
    /// Lines set aside, by reason code.
    pub rejects: BTreeMap<&'static str, u64>,
    /// Lines not ours, by reason code.
    pub ignored: BTreeMap<&'static str, u64>,
    /// Events by kind and class.
    pub classes: BTreeMap<(&'static str, &'static str), u64>,
    /// Each input, in order.
    pub files: Vec<FileReport>,
    /// The commit made, if anything changed.
    pub commit: Option<u64>,
    /// Hits whose verdict the message-level pass changed.
    pub revised: u64,
    /// Opens marked as forwarded.
    pub forwarded: u64,
    /// Inputs whose reading failed part-way and were kept (`keep_partial`), with the error.
    pub partial: Vec<(String, String)>,
    /// The version of the rules and network lists the verdicts were made with.
    pub rules_version: String,
}

impl IngestSummary {
    /// Total rejects.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }

    /// Total ignored.
    pub fn ignored_total(&self) -> u64 {
        self.ignored.values().sum()
    }

    fn add(&mut self, c: &Counts) {
        self.lines += c.lines;
        self.events += c.events;
        for r in RejectReason::ALL {
            let n = c.rejects[r as usize];
            if n > 0 {
                *self.rejects.entry(r.code()).or_default() += n;
            }
        }
        for r in [
            IgnoreReason::OtherPath,
            IgnoreReason::BlankLine,
            IgnoreReason::Header,
        ] {
            let n = c.ignored[r as usize];
            if n > 0 {
                *self.ignored.entry(r.code()).or_default() += n;
            }
        }
        for (k, kind) in Kind::ALL.iter().enumerate() {
            for cl in Class::ALL {
                let n = c.classes[k][cl as usize];
                if n > 0 {
                    *self
                        .classes
                        .entry((kind.as_str(), cl.as_str()))
                        .or_default() += n;
                }
            }
        }
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "lines": self.lines,
            "events": self.events,
            "rules_version": self.rules_version,
            "rejects": self.rejects,
            "ignored": self.ignored,
            "files": self.files.iter().map(|f| serde_json::json!({
                "name": f.name, "dialect": f.dialect, "lines": f.lines,
                "already_taken": f.already_taken, "held_back_bytes": f.held_back,
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Default)]
struct Counts {
    lines: u64,
    events: u64,
    rejects: [u64; RejectReason::ALL.len()],
    ignored: [u64; 3],
    classes: [[u64; Class::ALL.len()]; Kind::ALL.len()],
}

struct UaInfo {
    /// Unique for the run: rows of one user agent share its columns' values.
    id: u64,
    agent: AgentInfo,
    lower: String,
    text: String,
    profile: crate::classify::UaProfile,
}

struct IpInfo<'c> {
    geo: GeoInfo,
    /// Borrowed from the run's lists, not cloned: their strings are shared
    /// `Arc`s, and counting references to them from every worker made two
    /// cores fight over one cache line per new address.
    net: Option<&'c NetMatch>,
    roles: RoleSet,
    role_names: &'static str,
    /// The address as the IP policy stores it, made once per address.
    stored: StoredIp,
    kept_bits: Option<u8>,
}

/// An address as stored, kept in its cache slot when it fits (every
/// truncated or hashed address and any IPv4 does): writing it then reads no
/// other cache line than the slot's, and replacing the slot frees nothing.
/// On the simulated log a stored address on the heap cost a cache miss a
/// hit, about 2% of ingest's CPU.
enum StoredIp {
    Inline { len: u8, bytes: [u8; 39] },
    Heap(Box<str>),
}

impl StoredIp {
    fn new(s: String) -> Self {
        let mut bytes = [0u8; 39];
        match bytes.get_mut(..s.len()) {
            Some(b) => {
                b.copy_from_slice(s.as_bytes());
                StoredIp::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            None => StoredIp::Heap(s.into_boxed_str()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // SAFETY: the bytes were copied whole from a `String` in `new`.
            StoredIp::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            StoredIp::Heap(s) => s,
        }
    }
}

struct WorkerCache<'c> {
    ua: Slots<UaInfo>,
    ip: Slots<IpInfo<'c>>,
    geo: GeoCache,
    local: LocalTimes,
}

impl WorkerCache<'_> {
    fn new(geo: &Geo) -> Self {
        WorkerCache {
            ua: Slots::new(16_384),
            ip: Slots::new(65_536),
            geo: geo.cache(),
            local: LocalTimes::default(),
        }
    }
}

struct BlockOut {
    /// Rows by day, with each row's verdict index (see [`Classifier::verdict_at`]).
    events: Vec<(i64, String, arrow::array::RecordBatch, Vec<u16>)>,
    hits: Vec<HitKey>,
    /// Tallies of the hits on shared aggregate tokens, which the message
    /// pass does not see.
    shared: Vec<Counted>,
    rejects: Option<arrow::array::RecordBatch>,
    counts: Counts,
}

/// One message's hits of one kind and class in a run, kept compactly until
/// the run's tallies file is written ([`crate::tally`]): a few per
/// message, 32 bytes each.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counted {
    first_ts: i64,
    last_ts: i64,
    token: u32,
    hits: u32,
    kind: Kind,
    class: Class,
}

impl Counted {
    /// Bytes of [`Counted::to_bytes`].
    const BYTES: usize = 26;

    /// The entry as bytes, for a scratch file.
    fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0u8; Self::BYTES];
        b[0..8].copy_from_slice(&self.first_ts.to_le_bytes());
        b[8..16].copy_from_slice(&self.last_ts.to_le_bytes());
        b[16..20].copy_from_slice(&self.token.to_le_bytes());
        b[20..24].copy_from_slice(&self.hits.to_le_bytes());
        b[24] = self.kind as u8;
        b[25] = self.class as u8;
        b
    }

    /// Reads back [`Counted::to_bytes`].
    fn from_bytes(b: &[u8; Self::BYTES]) -> Counted {
        let i64_at = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Counted {
            first_ts: i64_at(0),
            last_ts: i64_at(8),
            token: u32_at(16),
            hits: u32_at(20),
            kind: Kind::ALL[b[24] as usize],
            class: Class::ALL[b[25] as usize],
        }
    }

    /// Counts a hit into `list`, whose entries are few (a message's, or a
    /// block's aggregate tokens'): a search from the end finds its entry.
    fn count(list: &mut Vec<Counted>, h: (u32, Kind, Class, i64)) {
        let (token, kind, class, _) = h;
        let found = list
            .iter_mut()
            .rev()
            .find(|c| c.token == token && c.kind == kind && c.class == class);
        match found {
            Some(c) => c.merge(&Counted::one(h)),
            None => list.push(Counted::one(h)),
        }
    }

    fn one((token, kind, class, ts): (u32, Kind, Class, i64)) -> Counted {
        Counted {
            first_ts: ts,
            last_ts: ts,
            token,
            hits: 1,
            kind,
            class,
        }
    }

    fn merge(&mut self, o: &Counted) {
        self.hits = self.hits.saturating_add(o.hits);
        self.first_ts = self.first_ts.min(o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
    }
}

/// Where parsed blocks go, in input order: hits to the message pass,
/// events to the Parquet encoder, rejects to their Parquet file, counts to
/// the summary.
struct Sink<'a, 'l> {
    hits: &'a mut message::HitSpill,
    shared: &'a mut Vec<Counted>,
    staging: &'a mut crate::commit::Staging<'l>,
    day_rows: &'a mut BTreeMap<i64, u64>,
    today: &'a str,
}

impl Sink<'_, '_> {
    fn absorb(&mut self, outs: Vec<BlockOut>, summary: &mut IngestSummary) -> Result<()> {
        for o in outs {
            // A block's hits are of a day or two: look each day up once.
            let mut base = (i64::MIN, 0u32);
            for mut h in o.hits {
                if h.day != base.0 {
                    base = (h.day, *self.day_rows.get(&h.day).unwrap_or(&0) as u32);
                }
                h.row += base.1;
                // The scratch path is made only on an error: made eagerly,
                // it cost two path joins and their allocations per hit.
                if let Err(e) = self.hits.push(h) {
                    return Err(io_err(self.staging.scratch())(e));
                }
            }
            for (day, name, b, tags) in o.events {
                *self.day_rows.entry(day).or_default() += b.num_rows() as u64;
                self.staging.encode("events", &name, &b, &tags)?;
            }
            self.shared.extend_from_slice(&o.shared);
            if let Some(b) = &o.rejects {
                self.staging.write("rejects", Some(self.today), b)?;
            }
            summary.add(&o.counts);
        }
        Ok(())
    }
}

/// What the reader of a run's inputs hands on: blocks in input order,
/// each with its input's position in the run.
enum Feed {
    /// A block of input `n`.
    Block(usize, Block),
    /// Reading input `n` failed; nothing more comes.
    Failed(usize, std::io::Error),
    /// An input could not be opened or positioned; nothing more comes.
    Unopenable(crate::Error),
}

/// What the reader saw of one input by its end.
struct InputEnd {
    /// Lines read in this run.
    lines: u64,
    /// Lines earlier runs took.
    already_taken: u64,
    /// Bytes of a trailing partial line left for a later run.
    held_back: u64,
    /// Why reading stopped early, for a partial input kept.
    partial: Option<String>,
    /// Its registry entry after this run, when it changed or is new.
    entry: Option<crate::commit::InputRecord>,
}

/// Reads a run's inputs in order into one stream of blocks, so the parse
/// of one input's last blocks overlaps the next one's first: with one
/// pipeline per input, each drained before the next began, 4,000 files of
/// 200 KB (a night of CDN logs) ran on about one core. Each input is found
/// in `registry`, kept up to date as inputs end, so an input met twice in
/// one run (two names of one file) continues where the first stopped.
fn read_inputs(
    cfg: &IngestConfig,
    mut registry: registry::Registry,
    names: &[String],
    run_id: &str,
    progress: Option<Arc<AtomicU64>>,
    spares: Spares,
    tx: std::sync::mpsc::SyncSender<Feed>,
) -> Vec<InputEnd> {
    let mut ends = Vec::with_capacity(cfg.inputs.len());
    for (n, input) in cfg.inputs.iter().enumerate() {
        let pos = match registry::position(input, &registry, progress.clone()) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Feed::Unopenable(e));
                return ends;
            }
        };
        let hold_partial = !pos.compressed && matches!(input, Input::File(_));
        let first_line = pos.known.as_ref().map_or(1, |k| k.lines + 1);
        let mut br = BlockReader::resume(pos.reader, first_line, pos.hasher, hold_partial)
            .with_spares(spares.clone());
        let mut partial = None;
        loop {
            match br.next_block() {
                Ok(Some(b)) => {
                    if tx.send(Feed::Block(n, b)).is_err() {
                        return ends;
                    }
                }
                Ok(None) => break,
                Err(e) if cfg.keep_partial => {
                    partial = Some(e);
                    break;
                }
                Err(e) => {
                    let _ = tx.send(Feed::Failed(n, e));
                    return ends;
                }
            }
        }
        let (consumed, held_back, next_line) = (br.consumed(), br.held_back(), br.next_line());
        let hash = br.finish_hash();
        let lines = next_line - first_line;
        let entry = (consumed > 0 || pos.known.is_none()).then(|| {
            let e = registry::updated_entry(
                pos.known.as_ref(),
                &pos.head,
                &names[n],
                &format!("{run_id}-{n}"),
                consumed,
                lines,
                hash,
            );
            registry.upsert(e.clone());
            e
        });
        ends.push(InputEnd {
            lines,
            already_taken: first_line - 1,
            held_back,
            partial: partial.map(|e| format!("{e} (after line {})", next_line - 1)),
            entry,
        });
    }
    ends
}

/// Blocks processed together between writes: enough to keep every thread
/// busy through a group's uneven blocks, few enough to bound memory (about
/// 1 MiB each, and a few MiB of rows made from each). On the 4.3M-line
/// simulated log, 8 per thread took 5.85-6.04 s and 760-830 MB, 16 took
/// 6.11-6.19 s and 850 MB, 4 took 6.06-6.38 s and 670-720 MB (release, two
/// runs each, with rows encoded as they come). Measured again in stop 34
/// (5 alternating runs each): 2, 4, 16 and 32 a thread were no faster than
/// 8, and 16 and 32 took 60 and 200 MB more.
fn group_size() -> usize {
    rayon::current_num_threads() * 8
}

/// Runs an ingest as the dataset's writer: only lines no earlier commit
/// took are read, and everything is committed at once or not at all.
/// `progress` is told of bytes read.
pub fn ingest(
    cfg: &IngestConfig,
    dataset: &Dataset,
    lock: &WriterLock,
    progress: Option<Arc<AtomicU64>>,
) -> Result<IngestSummary> {
    let snapshot = dataset.snapshot()?;
    let version = cfg.classifier.version(&cfg.networks);
    let registry = registry::Registry::new(snapshot.registry.clone());
    let mut staging = dataset.begin(lock)?;
    let today = chrono::Utc::now().date_naive().to_string();
    let mut summary = IngestSummary {
        rules_version: version.clone(),
        ..Default::default()
    };
    let mut taken = Vec::new();
    // Rows written so far per day, so each hit knows its row for the message pass.
    let mut day_rows: BTreeMap<i64, u64> = BTreeMap::new();
    let mut hits = message::HitSpill::new(&staging.scratch(), cfg.limits.spill_hits);
    let mut shared: Vec<Counted> = Vec::new();
    staging.set_chunk_rows(cfg.limits.chunk_rows);
    staging.set_page_memory(cfg.limits.page_memory);
    let events = crate::batch::events_schema();
    let deferred = crate::batch::REVISABLE
        .iter()
        .map(|c| events.index_of(c).expect("an events column"))
        .collect();
    staging.declare("events", events, deferred);
    // Each made by its own worker at its first block: tens of megabytes
    // to initialise, on every core at once instead of one before the
    // start, and none for a slot no block uses.
    let caches: Vec<Mutex<Option<WorkerCache>>> = (0..rayon::current_num_threads() + 1)
        .map(|_| Mutex::new(None))
        .collect();
    let names: Vec<String> = cfg.inputs.iter().map(|i| i.name()).collect();
    let run_id = staging.run_id().to_string();
    let mut sink = Sink {
        hits: &mut hits,
        shared: &mut shared,
        staging: &mut staging,
        day_rows: &mut day_rows,
        today: &today,
    };
    // Blocks go back to the reader once parsed, to be filled again.
    let spares = Spares::default();
    let mut dialects: Vec<Option<Dialect>> = vec![None; cfg.inputs.len()];
    let ends = std::thread::scope(|s| -> Result<Vec<InputEnd>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Feed>(group_size());
        let to_fill = spares.clone();
        let (names, run_id) = (&names, &run_id);
        let producer =
            s.spawn(move || read_inputs(cfg, registry, names, run_id, progress, to_fill, tx));
        // Owned by this closure: leaving it early (on an error) drops the
        // queue, and the reader, blocked on it while full, stops instead
        // of being waited for forever.
        let rx = rx;
        let mut group: Vec<(usize, Block)> = Vec::with_capacity(group_size());
        let mut parsed: Vec<BlockOut> = Vec::new();
        let mut done = false;
        while !done {
            for (_, b) in group.drain(..) {
                spares.give(b);
            }
            while group.len() < group_size() {
                match rx.recv() {
                    Ok(Feed::Block(n, b)) => group.push((n, b)),
                    Ok(Feed::Failed(n, e)) => return Err(io_err(&names[n])(e)),
                    Ok(Feed::Unopenable(e)) => return Err(e),
                    Err(_) => {
                        done = true;
                        break;
                    }
                }
            }
            if group.is_empty() {
                break;
            }
            // An input's dialect comes from its first lines in the first
            // group that holds any of its blocks.
            for (n, _) in &group {
                if dialects[*n].is_some() {
                    continue;
                }
                let sample = group
                    .iter()
                    .filter(|(m, _)| m == n)
                    .find_map(|(_, b)| match b {
                        Block::Lines { data, .. } => Some(&data[..data.len().min(64 * 1024)]),
                        Block::Oversized { .. } => None,
                    })
                    .unwrap_or(&[]);
                dialects[*n] = Some(match &cfg.dialect {
                    Some(d) => d.clone().for_sample(sample),
                    None => Dialect::detect(sample).unwrap_or_default(),
                });
            }
            // The previous group's output is written while this one is
            // parsed, so neither side waits for the other.
            let prev = std::mem::take(&mut parsed);
            let dialects = &dialects;
            let (outs, absorbed) = rayon::join(
                || {
                    group
                        .par_iter()
                        .map(|(n, b)| {
                            let slot = rayon::current_thread_index().unwrap_or(caches.len() - 1);
                            let mut cache = caches[slot].lock().unwrap_or_else(|p| p.into_inner());
                            let cache = cache.get_or_insert_with(|| WorkerCache::new(&cfg.geo));
                            let d = dialects[*n].as_ref().expect("made for the group");
                            process_block(cfg, &version, d, &names[*n], b, cache)
                        })
                        .collect::<Vec<BlockOut>>()
                },
                || sink.absorb(prev, &mut summary),
            );
            absorbed?;
            parsed = outs;
        }
        sink.absorb(std::mem::take(&mut parsed), &mut summary)?;
        Ok(producer.join().expect("the block reader does not panic"))
    })
    .map_err(|e| match e {
        // A corrupt or truncated compressed file: say how far reading got.
        crate::Error::Io { path, source } => crate::Error::Io {
            path,
            source: std::io::Error::new(
                source.kind(),
                format!("{source} (reading stopped after {} lines of this run; nothing of it was committed)", summary.lines),
            ),
        },
        e => e,
    })?;
    debug_assert_eq!(ends.iter().map(|e| e.lines).sum::<u64>(), summary.lines);
    for ((end, name), dialect) in ends.into_iter().zip(&names).zip(&dialects) {
        summary.files.push(FileReport {
            name: name.clone(),
            dialect: dialect.clone().unwrap_or_default().name(),
            lines: end.lines,
            already_taken: end.already_taken,
            held_back: end.held_back,
        });
        if let Some(p) = end.partial {
            summary.partial.push((name.clone(), p));
        }
        taken.extend(end.entry);
    }

    // The manifest and links copies are merged and written while the
    // events are sealed: both are passes over different data.
    let files = (
        staging.whole_file("manifest")?,
        staging.whole_file("links")?,
    );
    let (revised, merged) = rayon::join(
        || revise_by_message(cfg, &mut staging, hits, shared, &mut summary),
        || -> Result<_> {
            let old_m = crate::batch::recipients_from(&read_all(&snapshot.table_paths(
                dataset.root(),
                "manifest",
                None,
            ))?);
            let old_l = crate::batch::links_from(&read_all(&snapshot.table_paths(
                dataset.root(),
                "links",
                None,
            ))?);
            // Rewritten only when this manifest adds to them.
            let m = merge_by(&old_m, cfg.manifest.recipients(), |r| r.key())
                .map(|rows| write_whole(files.0, &crate::batch::recipients_batch(&rows)))
                .transpose()?;
            let l = merge_by(&old_l, cfg.manifest.links(), |l| l.link_id.as_str())
                .map(|rows| write_whole(files.1, &crate::batch::links_batch(&rows)))
                .transpose()?;
            Ok((m, l))
        },
    );
    revised?;
    let (merged_m, merged_l) = merged?;
    let mut remove = Vec::new();
    for (table, file) in [("manifest", merged_m), ("links", merged_l)] {
        if let Some(f) = file {
            if let Some(f) = f {
                staging.adopt(f)?;
            }
            remove.extend(
                snapshot
                    .files
                    .get(table)
                    .into_iter()
                    .flat_map(|f| f.keys().cloned()),
            );
        }
    }
    let before: HashMap<&str, &crate::commit::InputRecord> = snapshot
        .registry
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let changed = summary.lines > 0
        || !remove.is_empty()
        || snapshot.files.get("manifest").is_none_or(|f| f.is_empty())
        || taken.iter().any(|t| before.get(t.id.as_str()) != Some(&t));
    if changed {
        let details = summary.details();
        let rec = staging.commit(
            "ingest",
            remove,
            taken,
            Some(cfg.ip_policy.name().to_string()),
            details,
        )?;
        summary.commit = Some(rec.seq);
    }
    debug_assert_eq!(
        summary.lines,
        summary.events + summary.rejected() + summary.ignored_total()
    );
    Ok(summary)
}

/// The message-level pass: reads the run's hits message by message, keeps
/// the changes in a file per encoded chunk, then seals the events with them
/// applied. Memory stays bounded whatever the run's size: hits beyond a cap
/// are sorted on disk, and each chunk loads only its own changes.
fn revise_by_message(
    cfg: &IngestConfig,
    staging: &mut crate::commit::Staging<'_>,
    hits: message::HitSpill,
    shared: Vec<Counted>,
    summary: &mut IngestSummary,
) -> Result<()> {
    use std::io::Write;
    let scratch = staging.scratch();
    // One file of changes per encoded chunk and range of messages: ranges
    // are analysed in parallel, each writing its own.
    let parts = rayon::current_num_threads() * 2;
    let open_per_part = (cfg.limits.change_files / parts).max(1);
    let change_file =
        |day: &str, k: usize, part: usize| scratch.join(format!("changes-{day}-{k}-{part}.bin"));
    // Each range's tallies, in a file of their own (see `write_tallies`).
    let tally_file = |part: usize| scratch.join(format!("tallies-{part}.bin"));
    let ends: std::collections::HashMap<String, Vec<u64>> = staging
        .days("events")
        .into_iter()
        .map(|d| {
            let e = staging.chunk_ends("events", &d);
            (d, e)
        })
        .collect();
    /// What one range of messages changed.
    #[derive(Default)]
    struct Part {
        part: usize,
        files: message::ChangeFiles<(i64, usize)>,
        days: std::collections::HashMap<i64, (String, Vec<u64>)>,
        classes: BTreeMap<(&'static str, &'static str), i64>,
        revised: u64,
        forwarded: u64,
        /// Kept from one message to the next.
        room: message::GroupScratch,
        /// The current message's: its hits' new classes, and its tallies.
        finals: Vec<Option<Class>>,
        one: Vec<Counted>,
    }
    let done = hits
        .par_for_each_group(
            parts,
            |part| Part {
                part,
                ..Part::default()
            },
            |p: &mut Part, group| {
                let mut failed = None;
                let mut room = std::mem::take(&mut p.room);
                let msg = cfg.classifier.message();
                p.finals.clear();
                p.finals.resize(group.len(), None);
                message::analyse_group_in(group, msg, &mut room, &mut |j, h, c| {
                    if let Some((new, _, _)) = c.class {
                        p.finals[j] = Some(new);
                        let kind = h.kind.as_str();
                        *p.classes.entry((kind, h.class.as_str())).or_default() -= 1;
                        *p.classes.entry((kind, new.as_str())).or_default() += 1;
                        p.revised += 1;
                    }
                    p.forwarded += c.forwarded as u64;
                    // Day names and chunk bounds, once per day rather than per change.
                    let (name, ends) = p.days.entry(h.day).or_insert_with(|| {
                        let name = day_name(h.day);
                        let e = ends.get(&name).cloned().unwrap_or_default();
                        (name, e)
                    });
                    let k = ends.partition_point(|&e| e <= h.row as u64);
                    if k == ends.len() || failed.is_some() {
                        return;
                    }
                    let bytes = c.to_bytes(h.row);
                    let path = || change_file(name, k, p.part);
                    if let Err(err) =
                        message::append_to(&mut p.files, open_per_part, (h.day, k), path, &bytes)
                    {
                        failed = Some(err);
                    }
                });
                p.room = room;
                // The message's tallies, with each hit's final class.
                p.one.clear();
                for (h, new) in group.iter().zip(&p.finals) {
                    let class = new.unwrap_or(h.class);
                    Counted::count(&mut p.one, (h.token, h.kind, class, h.ts));
                }
                // Kept on disk, a file per range, until the seal is done:
                // memory holds none of them at the busiest time.
                for c in &p.one {
                    if failed.is_some() {
                        break;
                    }
                    let path = || tally_file(p.part);
                    let key = (0, TALLIES);
                    if let Err(err) =
                        message::append_to(&mut p.files, open_per_part, key, path, &c.to_bytes())
                    {
                        failed = Some(err);
                    }
                }
                failed.map_or(Ok(()), Err)
            },
        )
        .map_err(io_err(&scratch))?;
    for p in done {
        for (_, mut w) in p.files {
            w.flush().map_err(io_err(&scratch))?;
        }
        for (k, d) in p.classes {
            let n = summary.classes.entry(k).or_default();
            *n = (*n as i64 + d).max(0) as u64;
        }
        summary.revised += p.revised;
        summary.forwarded += p.forwarded;
    }
    summary.classes.retain(|_, n| *n > 0);
    staging.seal(
        "events",
        |day, k| message::read_changes((0..parts).map(|part| change_file(day, k, part))),
        &|changes: &Vec<(u32, Change)>, first: u64, tags: &[u16]| {
            let (lo, hi) = (first as u32, (first + tags.len() as u64) as u32);
            let from = changes.partition_point(|(r, _)| *r < lo);
            let to = changes.partition_point(|(r, _)| *r < hi);
            let rows: Vec<(usize, &Change)> = changes[from..to]
                .iter()
                .map(|(row, c)| ((row - lo) as usize, c))
                .collect();
            crate::batch::revisable_columns(
                tags,
                |tag| {
                    let v = cfg.classifier.verdict_at(tag);
                    (v.class.as_str(), v.rule_id, v.reason)
                },
                &rows,
            )
        },
    )?;
    write_tallies(cfg, staging, &ends, parts, &tally_file, shared)
}

/// The key of a range's tallies file among its change files.
const TALLIES: usize = usize::MAX;

/// Writes the run's tallies file ([`crate::tally`]), counting every chunk
/// of events: the message pass's counts, read back from each range's file
/// (`tally_file(range)`), then those of aggregate tokens. A run without
/// events (every line set aside) gets none.
fn write_tallies(
    cfg: &IngestConfig,
    staging: &mut crate::commit::Staging<'_>,
    ends: &std::collections::HashMap<String, Vec<u64>>,
    parts: usize,
    tally_file: &dyn Fn(usize) -> PathBuf,
    mut shared: Vec<Counted>,
) -> Result<()> {
    let recipients = cfg.manifest.recipients();
    let mut rows = crate::tally::Rows::default();
    let mut push = |c: &Counted| {
        let r = &recipients[c.token as usize];
        let t = crate::tally::Tally {
            hits: c.hits as i64,
            first_seconds: (c.first_ts - r.sent_at).div_euclid(1_000_000),
            first_ts: c.first_ts,
            last_ts: c.last_ts,
        };
        rows.push(
            &r.campaign_id,
            &r.recipient_id,
            c.kind.as_str(),
            c.class.as_str(),
            &t,
        );
    };
    for part in 0..parts {
        let p = tally_file(part);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&p)(e)),
        };
        for b in bytes.chunks_exact(Counted::BYTES) {
            push(&Counted::from_bytes(b.try_into().expect("exact chunks")));
        }
    }
    // Each block counted its aggregate tokens: one row each for the run.
    shared.sort_by_key(|c| (c.token, c.kind as u8, c.class as u8));
    for same in shared.chunk_by(|a, b| (a.token, a.kind, a.class) == (b.token, b.kind, b.class)) {
        let mut c = same[0];
        same[1..].iter().for_each(|o| c.merge(o));
        push(&c);
    }
    // In day order (the names sort as the days do), so a run's record is
    // the same from one run to the next.
    let mut days: Vec<(&String, &Vec<u64>)> = ends.iter().collect();
    days.sort();
    let counts: Vec<String> = days
        .iter()
        .flat_map(|(name, ends)| (0..ends.len()).map(|k| staging.chunk_path("events", name, k)))
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    staging.tallies(counts, &rows.finish()?)
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.date_naive().to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// Writes a table's new copy whole; an empty one is no file.
fn write_whole(
    file: crate::encode::WholeFile,
    batch: &arrow::array::RecordBatch,
) -> Result<Option<crate::commit::AddedFile>> {
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    file.write(batch).map(Some)
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<arrow::array::RecordBatch>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(crate::commit::read_parquet(p)?);
    }
    Ok(out)
}

/// The union of `old` and `new` by key, in key order (new rows win, and
/// the last of a key), or `None` when it equals `old` and nothing needs
/// rewriting. Rows are borrowed and sorted by key once, not cloned into a
/// map: a manifest copy has a row per recipient.
fn merge_by<'a, T: PartialEq + Sync, K: Ord + Send>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&'a T) -> K + Sync,
) -> Option<Vec<&'a T>> {
    let n_old = old.len();
    let mut all: Vec<(K, usize, &T)> = old
        .par_iter()
        .chain(new.par_iter())
        .enumerate()
        .map(|(i, r)| (key(r), i, r))
        .collect();
    all.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::with_capacity(all.len());
    let mut changed = false;
    for group in all.chunk_by(|a, b| a.0 == b.0) {
        // Two old rows with one key, a key only new rows have, or a new
        // row unlike the one before it: the union differs from `old`.
        changed |= group.iter().filter(|e| e.1 < n_old).count() != 1
            || group
                .windows(2)
                .any(|w| w[1].1 >= n_old && w[0].2 != w[1].2);
        out.push(group.last().expect("groups are not empty").2);
    }
    changed.then_some(out)
}

fn process_block<'c>(
    cfg: &'c IngestConfig,
    version: &str,
    dialect: &Dialect,
    file: &str,
    block: &Block,
    cache: &mut WorkerCache<'c>,
) -> BlockOut {
    let mut counts = Counts::default();
    let mut rejects = RejectBuilder::default();
    let (data, first_line) = match block {
        Block::Lines { data, first_line } => (data, *first_line),
        Block::Oversized { head, line } => {
            counts.lines = 1;
            counts.rejects[RejectReason::LineTooLong as usize] += 1;
            rejects.append(
                file,
                *line,
                RejectReason::LineTooLong.code(),
                &format!(
                    "line is longer than {} bytes; its first {} are kept",
                    crate::lines::BLOCK_SIZE,
                    head.len()
                ),
                head,
            );
            return BlockOut {
                events: Vec::new(),
                hits: Vec::new(),
                shared: Vec::new(),
                rejects: Some(rejects.finish()),
                counts,
            };
        }
    };
    // One builder per UTC day: events are partitioned by day.
    let mut by_day: BTreeMap<i64, (EventBuilder, Vec<u16>)> = BTreeMap::new();
    // Sized like the day builders below, so it does not grow by doubling.
    let mut hits = Vec::with_capacity(data.len() / 120 + 16);
    let mut shared = Vec::new();
    // Lines are parsed a window ahead of their join, and meanwhile what the
    // join of each hit reads is prefetched, one step over the whole window
    // at a time (see `Manifest::prefetch`): the join then finds its token's
    // slot, manifest row and recipient id in cache instead of waiting on
    // memory three times a line. The address cache's slot is prefetched
    // with the rows.
    const WINDOW: usize = 64;
    let skipped = |line: &[u8]| {
        line.iter().all(|b| b.is_ascii_whitespace())
            || dialect.is_header(line)
            || line.len() > cfg.max_line_bytes
    };
    let mut window = Vec::with_capacity(WINDOW);
    let mut all = lines(data, first_line);
    loop {
        window.clear();
        for (n, line) in all.by_ref().take(WINDOW) {
            let parsed = (!skipped(line)).then(|| dialect.parse(line));
            if let Some(t) = parsed
                .as_ref()
                .and_then(|p| p.as_ref().ok())
                .and_then(token_hint)
            {
                cfg.manifest.prefetch(t, 0);
            }
            window.push((n, line, parsed));
        }
        if window.is_empty() {
            break;
        }
        for step in 1..cfg.manifest.prefetch_steps() {
            for (_, _, parsed) in &window {
                let Some(raw) = parsed.as_ref().and_then(|p| p.as_ref().ok()) else {
                    continue;
                };
                if let Some(t) = token_hint(raw) {
                    cfg.manifest.prefetch(t, step);
                    if step == 1 {
                        cache.ip.prefetch(&cfg.client_ip.pick(&raw.ip, &raw.xff));
                    }
                }
            }
        }
        // By reference: a parsed line is a few hundred bytes, and moving
        // each out of the window cost a copy a line.
        for &(n, line, ref parsed) in &window {
            counts.lines += 1;
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                counts.ignored[IgnoreReason::BlankLine as usize] += 1;
                continue;
            }
            if dialect.is_header(line) {
                counts.ignored[IgnoreReason::Header as usize] += 1;
                continue;
            }
            if line.len() > cfg.max_line_bytes {
                counts.rejects[RejectReason::LineTooLong as usize] += 1;
                let head = &line[..crate::lines::OVERSIZED_KEEP.min(line.len())];
                let detail = format!(
                    "line is {} bytes, over the limit of {}; its first {} are kept",
                    line.len(),
                    cfg.max_line_bytes,
                    head.len()
                );
                rejects.append(file, n, RejectReason::LineTooLong.code(), &detail, head);
                continue;
            }
            let raw = match parsed.as_ref().expect("parsed unless skipped above") {
                Ok(r) => r,
                Err(e) => {
                    let reason = match e {
                        LineError::BadTime => RejectReason::BadTimestamp,
                        LineError::Malformed(_) => RejectReason::MalformedLine,
                    };
                    counts.rejects[reason as usize] += 1;
                    rejects.append(
                        file,
                        n,
                        reason.code(),
                        &format!("{} line {}", dialect.name(), e.detail()),
                        line,
                    );
                    continue;
                }
            };
            let hit = match track(raw, &cfg.manifest) {
                Tracked::Hit(h) => h,
                Tracked::Reject(reason, detail) => {
                    counts.rejects[reason as usize] += 1;
                    rejects.append(file, n, reason.code(), &detail, line);
                    continue;
                }
                Tracked::Ignored(why) => {
                    counts.ignored[why as usize] += 1;
                    continue;
                }
            };
            let ua = cache.ua.get_or(raw.user_agent.as_ref(), || {
                let text = String::from_utf8_lossy(&raw.user_agent).trim().to_string();
                let lower = text.to_lowercase();
                let profile = cfg.classifier.ua_profile(&text, &lower);
                static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                UaInfo {
                    id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    agent: cfg.agents.parse(&text),
                    lower,
                    text,
                    profile,
                }
            });
            let client = cfg.client_ip.pick(&raw.ip, &raw.xff);
            let geo_cache = &mut cache.geo;
            let ip = cache.ip.get_or(client.as_ref(), || {
                let parsed = std::str::from_utf8(&client)
                    .ok()
                    .and_then(|s| s.parse::<IpAddr>().ok());
                let geo = parsed
                    .map(|a| cfg.geo.lookup_cached(a, geo_cache))
                    .unwrap_or_default();
                let (mut net, mut roles) = match parsed {
                    Some(a) => {
                        let (m, r) = cfg.networks.lookup_all(a);
                        (m, r)
                    }
                    None => (None, RoleSet::default()),
                };
                if let Some(m) = geo.asn.and_then(|asn| cfg.networks.lookup_asn(asn)) {
                    roles.insert(m.role);
                    net.get_or_insert(m);
                }
                IpInfo {
                    stored: StoredIp::new(cfg.ip_policy.apply(parsed, &client)),
                    kept_bits: cfg.ip_policy.kept_bits(parsed),
                    geo,
                    net,
                    role_names: roles.names_shared(),
                    roles,
                }
            });
            // nginx logs when a request ended; a read-time request began its
            // duration earlier, when the message was opened.
            let ts = match (hit.kind, raw.duration_us) {
                (Kind::Read, Some(d)) => raw.ts - d,
                _ => raw.ts,
            };
            let secs = (ts - hit.recipient.sent_at).div_euclid(1_000_000);
            let (verdict_tag, verdict) = cfg.classifier.classify_indexed(&Features {
                kind: hit.kind,
                method: &raw.method,
                ua_lower: &ua.lower,
                ua: &ua.text,
                ua_profile: Some(&ua.profile),
                network_roles: ip.roles,
                seconds_since_sent: Some(secs),
                status: raw.status,
            });
            counts.events += 1;
            counts.classes[hit.kind as usize][verdict.class as usize] += 1;
            let local = ip.geo.tz.and_then(|tz| cache.local.get(tz, ts));
            let day = ts.div_euclid(86_400_000_000);
            let (events, tags) = by_day.entry(day).or_insert_with(|| {
                // Sized for the whole block (a line is rarely under 120 bytes).
                let rows = data.len() / 120 + 16;
                (
                    EventBuilder::with_capacity(rows).without_verdicts(),
                    Vec::with_capacity(rows),
                )
            });
            tags.push(verdict_tag);
            // A shared aggregate token is many people: message-level patterns
            // (bursts, traps, forwarding) would mistake them for one machine.
            if hit.recipient.is_aggregate() {
                Counted::count(
                    &mut shared,
                    (hit.recipient_idx, hit.kind, verdict.class, ts),
                );
            } else {
                hits.push(HitKey {
                    day,
                    row: events.len() as u32,
                    token: hit.recipient_idx,
                    ts,
                    kind: hit.kind,
                    link: hit.link_idx,
                    trap: hit.link.is_some_and(|l| {
                        l.link_id
                            .starts_with(&cfg.classifier.message().trap_link_prefix)
                    }),
                    class: verdict.class,
                    country: ip
                        .geo
                        .country
                        .and_then(|c| <[u8; 2]>::try_from(c.as_bytes()).ok()),
                    asn: ip.geo.asn,
                });
            }
            events.append(&EventRow {
                ts,
                kind: hit.kind.as_str(),
                token: hit.token,
                campaign_id: &hit.recipient.campaign_id,
                recipient_id: &hit.recipient.recipient_id,
                variant: &hit.recipient.variant,
                link_id: hit.link.map(|l| l.link_id.as_str()),
                link_key: hit.link_idx,
                url: hit.link.map(|l| l.url.as_str()),
                sent_at: hit.recipient.sent_at,
                ip: ip.stored.as_str(),
                method: std::str::from_utf8(&raw.method).unwrap_or("?"),
                status: raw.status,
                bytes: raw.bytes,
                referer: &String::from_utf8_lossy(&raw.referer),
                user_agent: &ua.text,
                ua_key: ua.id,
                ua_name: ua.agent.ua_name.as_deref(),
                ua_category: ua.agent.ua_category.as_deref(),
                os: ua.agent.os.as_deref(),
                country: ip.geo.country,
                city: ip.geo.city,
                time_zone: ip.geo.time_zone,
                asn: ip.geo.asn,
                as_org: ip.geo.as_org,
                network: ip.net.map(|n| &n.operator),
                class: verdict.class.as_str(),
                rule_id: verdict.rule_id,
                reason: verdict.reason,
                source_file: file,
                source_line: n,
                local_weekday: local.map(|l| l.0),
                local_hour: local.map(|l| l.1),
                rules_version: version,
                network_cidr: ip.net.map(|n| &n.cidr),
                network_roles: ip.role_names,
                ip_prefix: ip.kept_bits,
                read_seconds: (hit.kind == Kind::Read)
                    .then(|| {
                        crate::readtime::read_seconds(verdict.class, raw.duration_us, raw.bytes)
                    })
                    .flatten(),
            });
        }
    }
    BlockOut {
        events: by_day
            .into_iter()
            .map(|(day, (mut b, tags))| (day, day_name(day), b.finish(), tags))
            .collect(),
        hits,
        shared,
        rejects: (!rejects.is_empty()).then(|| rejects.finish()),
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(dir: &std::path::Path, log: &std::path::Path) -> IngestConfig {
        let secret = crate::demo::SECRET.trim().as_bytes();
        let recipients: Vec<_> = ["r01", "r02"]
            .iter()
            .map(|r| crate::manifest::Recipient {
                token: crate::manifest::token_for(secret, "spring-sale", r).into(),
                campaign_id: "spring-sale".into(),
                recipient_id: (*r).into(),
                variant: "A".into(),
                sent_at: 1_790_000_000_000_000,
                tracked: true,
                recipients: 1,
            })
            .collect();
        let links = vec![crate::manifest::Link {
            link_id: "l-shop".into(),
            campaign_id: "spring-sale".into(),
            url: "https://shop.example.com/".into(),
        }];
        IngestConfig::new(
            Manifest::new(recipients, links).unwrap(),
            dir.join("data"),
            vec![Input::File(log.to_path_buf())],
        )
    }

    /// Writing that fails mid-run (here the run's scratch directory is
    /// removed under it, as a full or failing disk would refuse its files)
    /// ends the ingest with the error, and commits nothing. The reader is
    /// then well ahead, blocked on a full queue: it ran on until the end of
    /// the run, which never came, as the queue outlived the error.
    #[test]
    fn a_write_failing_mid_run_ends_the_ingest_with_its_error() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("access.log");
        // About 190 MB: the reader fills its queue and waits long before
        // the end, once writing has failed.
        {
            use std::io::Write;
            let mut w = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
            for _ in 0..40_000 {
                w.write_all(crate::demo::ACCESS_LOG.as_bytes()).unwrap();
            }
            w.flush().unwrap();
        }
        let mut cfg = config(tmp.path(), &log);
        // Files written all along: hits spilled every 50, pages on disk.
        cfg.limits = Limits {
            spill_hits: 50,
            chunk_rows: 100,
            page_memory: 0,
            ..Limits::default()
        };
        let ds = Dataset::create(&cfg.data).unwrap();
        let staging = ds.root().join("_staging");
        let remover = std::thread::spawn(move || loop {
            let runs = std::fs::read_dir(&staging).into_iter().flatten().flatten();
            for run in runs {
                // Once the first hits are spilled: rows are being written.
                if run.path().join("hits-0.bin").exists() {
                    // Files keep coming while it is removed: until it is gone.
                    while run.path().exists() {
                        let _ = std::fs::remove_dir_all(run.path());
                    }
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let data = cfg.data.clone();
        std::thread::spawn(move || {
            let ds = Dataset::create(&data).unwrap();
            let lock = ds.lock(false).unwrap().unwrap();
            let _ = tx.send(ingest(&cfg, &ds, &lock, None).map(|s| s.lines));
        });
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the ingest ends instead of waiting on its reader");
        remover.join().unwrap();
        let err = result
            .expect_err("the run cannot write its files")
            .to_string();
        assert!(err.contains("_staging"), "the error names the file: {err}");
        let snap = ds.snapshot().unwrap();
        assert!(snap.table_paths(ds.root(), "events", None).is_empty());
        assert!(snap.registry.is_empty(), "no input recorded as taken");
    }

    /// Real lines with bytes flipped, cut, or spliced in: the inputs most
    /// likely to reach deep into the parser before failing.
    fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
        let lines: Vec<Vec<u8>> = crate::demo::ACCESS_LOG
            .lines()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        (
            0..lines.len(),
            proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
        )
            .prop_map(move |(i, edits)| {
                let mut l = lines[i].clone();
                for (pos, byte, op) in edits {
                    if l.is_empty() {
                        break;
                    }
                    let p = pos % l.len();
                    match op {
                        0 => l[p] = byte,
                        1 => l.truncate(p),
                        _ => l.insert(p, byte),
                    }
                }
                l
            })
    }

    /// Every length round the inline limit comes back as it went in.
    #[test]
    fn stored_addresses_inline_and_on_the_heap() {
        for s in [
            "",
            "192.0.2.0",
            "2001:db8:1::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff0",
            "not an address, kept as logged, however long it is",
        ] {
            let st = StoredIp::new(s.to_string());
            assert_eq!(st.as_str(), s);
            assert_eq!(matches!(st, StoredIp::Inline { .. }), s.len() <= 39, "{s}");
        }
    }

    /// The manifest copy is rewritten only when a row is new or differs,
    /// comes out in key order, and the last row of a key wins.
    #[test]
    fn merge_by_rewrites_only_what_changes() {
        let key = |r: &(&str, u32)| r.0.to_string();
        let old = [("b", 1), ("a", 1)];
        assert_eq!(merge_by(&old, &[("a", 1)], key), None);
        assert_eq!(merge_by(&old, &[], key), None);
        let m = merge_by(&old, &[("a", 2), ("c", 1)], key).unwrap();
        assert_eq!(m, vec![&("a", 2), &("b", 1), &("c", 1)]);
        assert_eq!(
            merge_by(&[], &[("x", 1), ("x", 2)], key).unwrap(),
            vec![&("x", 2)]
        );
        // Two old rows of one key are merged into one: a rewrite.
        assert_eq!(
            merge_by(&[("a", 1), ("a", 1)], &[], key).unwrap(),
            vec![&("a", 1)]
        );
    }

    /// Spilling hits and encoded pages to disk and cutting days into many
    /// chunks change nothing: the same rows, verdicts and evidence as all in memory.
    /// Tallies rows summed per campaign, person, kind and class.
    fn tallied(
        batches: &[arrow::array::RecordBatch],
    ) -> BTreeMap<[String; 4], crate::tally::Tally> {
        use arrow::array::{Array, Int64Array, StringArray, TimestampMicrosecondArray};
        let mut out: BTreeMap<[String; 4], crate::tally::Tally> = BTreeMap::new();
        for b in batches {
            let s = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().unwrap();
            let n = |i: usize| b.column(i).as_any().downcast_ref::<Int64Array>().unwrap();
            let t = |i: usize| {
                b.column(i)
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .unwrap()
            };
            for i in 0..b.num_rows() {
                let key = [0, 1, 2, 3].map(|c| s(c).value(i).to_string());
                let v = crate::tally::Tally {
                    hits: n(4).value(i),
                    first_seconds: n(5).value(i),
                    first_ts: t(6).value(i),
                    last_ts: t(7).value(i),
                };
                out.entry(key).and_modify(|x| x.merge(&v)).or_insert(v);
            }
        }
        out
    }

    /// Every live events file is counted by one live tallies file, whose
    /// rows are exactly the counts of the rows of the files it counts.
    fn assert_tallies_count_their_files(ds: &Dataset) {
        let snap = ds.snapshot().unwrap();
        let mut counted: Vec<String> = Vec::new();
        for t in snap.table_files("tallies", None) {
            let mut c = crate::tally::Counter::default();
            for e in &t.counts {
                for b in crate::commit::read_parquet(&ds.root().join(e)).unwrap() {
                    c.add(&b);
                }
            }
            counted.extend(t.counts.iter().cloned());
            let kept = crate::commit::read_parquet(&ds.root().join(&t.path)).unwrap();
            assert_eq!(
                tallied(&kept),
                tallied(&[c.finish().unwrap().unwrap()]),
                "{}",
                t.path
            );
        }
        counted.sort();
        let all: Vec<String> = snap
            .table_files("events", None)
            .iter()
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(counted, all);
    }

    #[test]
    fn counts_kept_on_disk_read_back_the_same() {
        for (i, &kind) in Kind::ALL.iter().enumerate() {
            for (j, &class) in Class::ALL.iter().enumerate() {
                let c = Counted {
                    first_ts: -1_000_000 * j as i64,
                    last_ts: i64::MAX - j as i64,
                    token: u32::MAX - i as u32,
                    hits: u32::MAX - j as u32,
                    kind,
                    class,
                };
                assert_eq!(Counted::from_bytes(&c.to_bytes()), c);
            }
        }
    }

    #[test]
    fn spilled_and_chunked_runs_equal_in_memory_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("access.log");
        // About ten 1 MiB blocks, so a day's rows arrive in several batches.
        std::fs::write(&log, crate::demo::ACCESS_LOG.repeat(2000)).unwrap();
        let secret = crate::demo::SECRET.trim().as_bytes();
        let m = crate::demo::write_fixtures(&tmp.path().join("in")).unwrap();
        let minted = tmp.path().join("minted");
        crate::mint::mint(&crate::mint::MintConfig::new(
            m.recipients.clone(),
            m.links.clone(),
            "https://t.example.com",
            minted.clone(),
            crate::mint::SecretSource::Value(secret.to_vec()),
        ))
        .unwrap();
        let run = |name: &str, limits: Limits| {
            let mut cfg = config(tmp.path(), &log);
            cfg.manifest = Manifest::load(&minted).unwrap();
            cfg.data = tmp.path().join(name);
            cfg.limits = limits;
            let ds = Dataset::create(&cfg.data).unwrap();
            let lock = ds.lock(false).unwrap().unwrap();
            let s = ingest(&cfg, &ds, &lock, None).unwrap();
            let snap = ds.snapshot().unwrap();
            let files = snap.table_paths(ds.root(), "events", None);
            let mut rows = Vec::new();
            let mut evidence = 0;
            for f in &files {
                for b in crate::commit::read_parquet(f).unwrap() {
                    use arrow::array::Array;
                    let bh = b.column_by_name("burst_hits").unwrap();
                    evidence += bh.len() - bh.null_count();
                    let text = arrow::util::pretty::pretty_format_batches(&[b
                        .project(
                            &(0..b.num_columns())
                                .filter(|&i| b.schema().field(i).name() != "source_file")
                                .collect::<Vec<_>>(),
                        )
                        .unwrap()])
                    .unwrap()
                    .to_string();
                    rows.extend(
                        text.lines()
                            .filter(|l| l.starts_with("| 20"))
                            .map(str::to_string),
                    );
                }
            }
            rows.sort();
            assert_tallies_count_their_files(&ds);
            (s.revised + evidence as u64, s.forwarded, files.len(), rows)
        };
        let whole = run("whole", Limits::default());
        let small = run(
            "small",
            Limits {
                spill_hits: 50,
                chunk_rows: 100,
                // Every encoded page waits on disk.
                page_memory: 0,
                // Change files are closed and reopened over and over.
                change_files: 4,
            },
        );
        assert!(
            whole.0 > 1000,
            "the repeated demo log has message-level evidence: {}",
            whole.0
        );
        assert!(
            small.2 > whole.2 * 3,
            "several chunks a day: {} files vs {}",
            small.2,
            whole.2
        );
        assert_eq!((whole.0, whole.1), (small.0, small.1));
        assert_eq!(whole.3.len(), small.3.len());
        assert!(whole.3 == small.3, "rows differ");

        // A commit removing one chunk (as `forget` or `reclassify` do when
        // they rewrite it) counts the run's other chunks again.
        let ds = Dataset::open(&tmp.path().join("small")).unwrap();
        let lock = ds.lock(false).unwrap().unwrap();
        let snap = ds.snapshot().unwrap();
        let run = snap
            .table_files("tallies", None)
            .into_iter()
            .max_by_key(|t| t.counts.len())
            .unwrap()
            .clone();
        assert!(run.counts.len() > 2, "{run:?}");
        let rec = ds
            .begin(&lock)
            .unwrap()
            .commit(
                "test",
                vec![run.counts[1].clone()],
                Vec::new(),
                None,
                serde_json::json!({}),
            )
            .unwrap();
        assert!(rec.remove.contains(&run.path), "{rec:?}");
        let left: Vec<String> = run
            .counts
            .iter()
            .filter(|&e| *e != run.counts[1])
            .cloned()
            .collect();
        assert!(rec.add.iter().any(|a| a.counts == left), "{:?}", rec.add);
        assert_tallies_count_their_files(&ds);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_are_accounted_for_and_never_panic(
            lines in proptest::collection::vec(
                prop_oneof![proptest::collection::vec(any::<u8>(), 0..200), mutated_line()],
                1..40,
            )
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let log = tmp.path().join("fuzz.log");
            let mut bytes = Vec::new();
            for l in &lines {
                bytes.extend(l.iter().copied().filter(|&b| b != b'\n'));
                bytes.push(b'\n');
            }
            std::fs::write(&log, &bytes).unwrap();
            let cfg = config(tmp.path(), &log);
            let ds = Dataset::create(&cfg.data).unwrap();
            let lock = ds.lock(false).unwrap().unwrap();
            let s = ingest(&cfg, &ds, &lock, None).unwrap();
            prop_assert_eq!(s.lines, lines.len() as u64);
            prop_assert_eq!(s.lines, s.events + s.rejected() + s.ignored_total());
        }
    }
}
