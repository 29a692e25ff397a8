//! Re-classification: the current rules and network lists run again over
//! stored events (message-level features included, now across every run in
//! scope) and the new verdicts are committed as one commit.
//!
//! What a stored event still tells: its user agent, method, status, kind,
//! times and AS number in full; its address only as far as the ip policy
//! kept it (`ip_prefix` bits). A truncated address is looked up again only
//! against ranges no longer than what was kept; the most specific range the
//! full address matched at ingest (`network_cidr`) still counts while it is
//! listed. A hashed address cannot be looked up again: its stored network
//! evidence stands, and the report counts such events.
//!
//! Two passes over the files keep memory from growing with the number of
//! events (it holds a number per message and a profile per user agent in
//! scope, as ingest holds the manifest). The first classifies every row,
//! reading only the columns the rules use, a batch at a time, and keeps
//! each row's verdict in a scratch file and its message key in a spill
//! sorted on disk beyond a cap (as ingest's message pass does); the message
//! pass writes its changes to a file per data file; the second pass
//! compares each file's verdict columns with what is stored, and reads and
//! rewrites a file whole only when some of its rows changed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};

use crate::batch::{verdicts_of, with_verdicts, StoredVerdict};
use crate::classify::message::{self, HitKey};
use crate::classify::{Classifier, Features, NetMatch, Networks, RoleSet, UaProfile, Verdict};
use crate::commit::{partition_day, AddedFile, Dataset, WriterLock};
use crate::error::{io_err, Error, Result};
use crate::track::Kind;

/// What to re-classify, and with what.
pub struct ReclassifyConfig {
    /// The rules to apply.
    pub classifier: Classifier,
    /// The network lists to apply.
    pub networks: Networks,
    /// First day (`YYYY-MM-DD`) in scope.
    pub since: Option<String>,
    /// Last day in scope.
    pub until: Option<String>,
    /// Report only; write nothing.
    pub dry_run: bool,
    /// How much is held in memory before it goes to scratch files (hits
    /// for the message pass, its open change files).
    pub limits: crate::pipeline::Limits,
}

/// Hits that moved from one verdict to another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    /// Class before.
    pub from: String,
    /// Class after.
    pub to: String,
    /// Rule before.
    pub from_rule: String,
    /// Rule that decided now.
    pub rule_id: String,
    /// Its reason.
    pub reason: String,
    /// How many hits.
    pub hits: u64,
}

/// What a re-classification found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReclassifyReport {
    /// Events in scope.
    pub events: u64,
    /// Hits whose class or deciding rule changed, grouped.
    pub moves: Vec<Move>,
    /// Rows with any verdict column changed (evidence and version included).
    pub rows_changed: u64,
    /// Files rewritten (or that would be, with `dry_run`).
    pub files_changed: usize,
    /// Events whose address could not be looked up again (hashed or unparsable).
    pub not_looked_up: u64,
    /// The version of the rules and lists applied.
    pub rules_version: String,
    /// The commit made, if any.
    pub commit: Option<u64>,
}

/// The first pass's verdict of one row.
struct Fresh<'c> {
    verdict: Verdict<'c>,
    /// The network match, or `None` for "keep what is stored" (address not
    /// looked up).
    net: Option<(Option<&'c NetMatch>, RoleSet)>,
}

/// Bytes of a [`Fresh`] in the first pass's scratch file of a data file:
/// the rule's index, whether the address was looked up, the roles, and
/// the match's position in the lists. Kept on disk, a row's fresh verdict
/// costs no memory between the passes, whatever the dataset's size.
const FRESH_BYTES: usize = 8;

/// No network matched.
const NO_MATCH: u32 = u32::MAX;

impl<'c> Fresh<'c> {
    fn to_bytes(&self, tag: u16, networks: &Networks) -> [u8; FRESH_BYTES] {
        let mut b = [0u8; FRESH_BYTES];
        b[0..2].copy_from_slice(&tag.to_le_bytes());
        let mut m = NO_MATCH;
        if let Some((found, roles)) = &self.net {
            b[2] = 1;
            b[3] = roles.bits();
            if let Some(f) = found {
                m = networks
                    .index_of(f)
                    .expect("a match is one of the lists' entries");
            }
        }
        b[4..8].copy_from_slice(&m.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; FRESH_BYTES], cfg: &'c ReclassifyConfig) -> Fresh<'c> {
        let tag = u16::from_le_bytes([b[0], b[1]]);
        let m = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
        Fresh {
            verdict: cfg.classifier.verdict_at(tag),
            net: (b[2] == 1).then(|| {
                let found = (m != NO_MATCH).then(|| cfg.networks.entry(m)).flatten();
                (found, RoleSet::from_bits(b[3]))
            }),
        }
    }
}

fn in_scope(since: Option<&str>, until: Option<&str>, f: &AddedFile) -> bool {
    let Some(day) = partition_day(&f.path) else {
        return true;
    };
    since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u)
}

/// The files a re-classification of the days from `since` to `until` reads
/// (see [`crate::commit::Snapshot::rewrite_needs`]): what a checkout of a
/// dataset in object storage brings for it.
pub fn files_needed(
    snap: &crate::commit::Snapshot,
    since: Option<&str>,
    until: Option<&str>,
) -> Vec<String> {
    let events: Vec<String> = snap
        .table_files("events", None)
        .into_iter()
        .filter(|f| in_scope(since, until, f))
        .map(|f| f.path.clone())
        .collect();
    snap.rewrite_needs(&events)
}

/// A small number for each message (token) in scope, the same each time
/// it is seen: the one thing `reclassify` holds per message. Tokens have
/// [`crate::manifest::TOKEN_LEN`] characters and are kept as arrays of
/// them, without an allocation each: on 300,000 messages, 7 MB less than a
/// map of strings, and the run 10% faster.
#[derive(Default)]
struct Messages {
    tokens: foldhash::HashMap<[u8; crate::manifest::TOKEN_LEN], u32>,
    /// Anything else a file may hold (none that pixelsift wrote).
    other: HashMap<String, u32>,
}

impl Messages {
    fn key(&mut self, token: &str) -> u32 {
        let next = (self.tokens.len() + self.other.len()) as u32;
        match <[u8; crate::manifest::TOKEN_LEN]>::try_from(token.as_bytes()) {
            Ok(t) => *self.tokens.entry(t).or_insert(next),
            Err(_) => intern_from(&mut self.other, token, next),
        }
    }
}

/// A small number for a string, the same each time it is seen.
fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    intern_from(map, s, map.len() as u32)
}

/// [`intern`], numbering a new string `n`.
fn intern_from(map: &mut HashMap<String, u32>, s: &str, n: u32) -> u32 {
    if let Some(&n) = map.get(s) {
        return n;
    }
    map.insert(s.to_string(), n);
    n
}

/// The columns the first pass reads.
const PASS_ONE: &[&str] = &[
    "kind",
    "token",
    "link_id",
    "method",
    "user_agent",
    "ip",
    "network_cidr",
    "network_roles",
    "country",
    "recipient_id",
    "ts",
    "seconds_since_sent",
    "status",
    "asn",
    "ip_prefix",
];

/// The [`PASS_ONE`] columns of a batch read back, those a file of an
/// earlier version lacks as nulls.
fn pass_one_columns(b: &RecordBatch) -> Result<RecordBatch> {
    let schema = crate::batch::events_schema();
    let mut fields = Vec::with_capacity(PASS_ONE.len());
    let mut cols = Vec::with_capacity(PASS_ONE.len());
    for name in PASS_ONE {
        let f = schema.field_with_name(name)?;
        fields.push(f.clone().with_nullable(true));
        cols.push(match b.column_by_name(name) {
            Some(c) => c.clone(),
            None => arrow::array::new_null_array(f.data_type(), b.num_rows()),
        });
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        cols,
    )?)
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| Error::Config(format!("events file lacks string column {name}")))
}

/// The verdict a stored row gets now: the fresh per-hit verdict, the
/// network evidence looked up again (or the stored one, where the address
/// could not be), then the message-level change, if any.
fn revised(
    fr: &Fresh<'_>,
    o: &StoredVerdict,
    change: Option<&message::Change>,
    version: &str,
) -> StoredVerdict {
    let (network, network_cidr, network_roles) = match &fr.net {
        Some((m, roles)) => (
            m.as_ref().map(|m| m.operator.to_string()),
            m.as_ref().map(|m| m.cidr.to_string()),
            Some(roles.names()).filter(|s| !s.is_empty()),
        ),
        None => (
            o.network.clone(),
            o.network_cidr.clone(),
            o.network_roles.clone(),
        ),
    };
    let mut v = StoredVerdict {
        class: fr.verdict.class.as_str().to_string(),
        rule_id: fr.verdict.rule_id.to_string(),
        reason: fr.verdict.reason.to_string(),
        forwarded: false,
        rules_version: Some(version.to_string()),
        network,
        network_cidr,
        network_roles,
        burst_hits: None,
        burst_seconds: None,
        trap_hit: Some(false),
    };
    if let Some(c) = change {
        message::apply(c, &mut v);
    }
    v
}

/// What the rows of one data file get now: their fresh verdicts, read back
/// in row order from the first pass's scratch file, with the message
/// pass's changes (sorted by row).
struct Revision<'a> {
    cfg: &'a ReclassifyConfig,
    fresh: BufReader<File>,
    path: PathBuf,
    changes: &'a [(u32, message::Change)],
    version: &'a str,
}

impl<'a> Revision<'a> {
    fn open(
        cfg: &'a ReclassifyConfig,
        path: &std::path::Path,
        changes: &'a [(u32, message::Change)],
        version: &'a str,
    ) -> Result<Self> {
        Ok(Revision {
            cfg,
            fresh: BufReader::new(File::open(path).map_err(io_err(path))?),
            path: path.to_path_buf(),
            changes,
            version,
        })
    }

    /// Calls `f` with each of the file's `batches` (read from its first
    /// row), their rows' stored verdicts, and the verdicts they get now.
    fn each(
        mut self,
        batches: impl Iterator<Item = Result<RecordBatch>>,
        mut f: impl FnMut(&RecordBatch, &[StoredVerdict], &[StoredVerdict]) -> Result<()>,
    ) -> Result<()> {
        let (mut row, mut next) = (0u32, 0usize);
        let mut bytes = [0u8; FRESH_BYTES];
        for b in batches {
            let b = b?;
            let old = verdicts_of(&b);
            let mut new = Vec::with_capacity(old.len());
            for o in &old {
                self.fresh
                    .read_exact(&mut bytes)
                    .map_err(io_err(&self.path))?;
                let fresh = Fresh::from_bytes(&bytes, self.cfg);
                while self.changes.get(next).is_some_and(|(r, _)| *r < row) {
                    next += 1;
                }
                let change = self.changes.get(next).filter(|(r, _)| *r == row);
                new.push(revised(&fresh, o, change.map(|(_, c)| c), self.version));
                row += 1;
            }
            f(&b, &old, &new)?;
        }
        Ok(())
    }
}

/// Runs the current rules over the stored events in scope; commits the
/// changed files as one commit unless `dry_run`.
pub fn reclassify(
    dataset: &Dataset,
    lock: &WriterLock,
    cfg: &ReclassifyConfig,
) -> Result<ReclassifyReport> {
    for d in [&cfg.since, &cfg.until].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(Error::Config(format!("{d:?} is not a date (YYYY-MM-DD)")));
        }
    }
    let snap = dataset.snapshot()?;
    let files: Vec<(&AddedFile, PathBuf)> = snap
        .files
        .get("events")
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|f| in_scope(cfg.since.as_deref(), cfg.until.as_deref(), f))
        .map(|f| (f, dataset.file_path(f)))
        .collect();
    let version = cfg.classifier.version(&cfg.networks);
    let trap_prefix = cfg.classifier.message().trap_link_prefix.clone();
    let mut report = ReclassifyReport {
        rules_version: version.clone(),
        ..Default::default()
    };

    // Scratch files live in the run's staging directory, on the dataset's
    // disk; a dry run's goes with it, unused for a commit.
    let mut staging = dataset.begin(lock)?;
    let scratch = staging.scratch();
    let fresh_file = |n_file: usize| scratch.join(format!("fresh-{n_file}.bin"));
    let parts = rayon::current_num_threads() * 2;
    let change_file =
        |n_file: usize, part: usize| scratch.join(format!("changes-{n_file}-{part}.bin"));

    // Pass 1: every row's own verdict (to its file's scratch file), and its
    // key for the message pass (to a spill, sorted on disk beyond a cap).
    let mut profiles: HashMap<String, (String, UaProfile)> = HashMap::new();
    let mut messages = Messages::default();
    let mut links: HashMap<String, u32> = HashMap::new();
    let mut hits = message::HitSpill::new(&scratch, cfg.limits.spill_hits);
    for (n_file, (_, path)) in files.iter().enumerate() {
        let out = fresh_file(n_file);
        let mut w = BufWriter::new(File::create(&out).map_err(io_err(&out))?);
        let mut rows = 0u32;
        // A batch at a time, and only the columns the rules and the
        // message pass read: a day's file read whole was most of the
        // memory of a `reclassify`.
        for b in crate::commit::parquet_columns(path, Some(PASS_ONE))? {
            let b = pass_one_columns(&b?)?;
            let (kind, token, link, method, ua, ip, cidr, roles_s, country) = (
                strs(&b, "kind")?,
                strs(&b, "token")?,
                strs(&b, "link_id")?,
                strs(&b, "method")?,
                strs(&b, "user_agent")?,
                strs(&b, "ip")?,
                strs(&b, "network_cidr")?,
                strs(&b, "network_roles")?,
                strs(&b, "country")?,
            );
            let recipient = strs(&b, "recipient_id")?;
            let col = |n: &str| b.column_by_name(n).expect("conformed");
            let ts = col("ts").as_primitive::<TimestampMicrosecondType>();
            let secs = col("seconds_since_sent").as_primitive::<Int64Type>();
            let status = col("status").as_primitive::<Int32Type>();
            let asn = col("asn").as_primitive::<Int64Type>();
            let prefix = col("ip_prefix").as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let k = Kind::parse(kind.value(i)).unwrap_or(Kind::Open);
                let ua_text = if ua.is_null(i) { "" } else { ua.value(i) };
                // Rules read the per-agent profile, made once per distinct agent.
                if !profiles.contains_key(ua_text) {
                    let lower = ua_text.to_lowercase();
                    let p = cfg.classifier.ua_profile(ua_text, &lower);
                    profiles.insert(ua_text.to_string(), (lower, p));
                }
                let (lower, profile) = &profiles[ua_text];
                let asn_v = (!asn.is_null(i)).then(|| asn.value(i) as u32);
                let addr = ip.value(i).parse::<IpAddr>().ok();
                let known = (!prefix.is_null(i)).then(|| prefix.value(i).clamp(0, 128) as u8);
                let net = match (addr, known) {
                    (Some(a), Some(bits)) => {
                        let (mut m, mut roles) = cfg.networks.lookup_upto(a, bits);
                        // The finer range the full address matched, while still listed.
                        if !cidr.is_null(i) {
                            if let Some(fine) = cfg.networks.find_cidr(cidr.value(i)) {
                                if fine.len > bits {
                                    roles.insert(fine.role);
                                    if m.is_none_or(|c| fine.len > c.len) {
                                        m = Some(fine);
                                    }
                                }
                            }
                        }
                        if let Some(am) = asn_v.and_then(|a| cfg.networks.lookup_asn(a)) {
                            roles.insert(am.role);
                            m.get_or_insert(am);
                        }
                        Some((m, roles))
                    }
                    _ => {
                        report.not_looked_up += 1;
                        None
                    }
                };
                let roles = match &net {
                    Some((_, r)) => *r,
                    None if roles_s.is_null(i) => RoleSet::default(),
                    None => RoleSet::from_names(roles_s.value(i)),
                };
                let (tag, verdict) = cfg.classifier.classify_indexed(&Features {
                    kind: k,
                    method: method.value(i).as_bytes(),
                    ua_lower: lower,
                    ua: ua_text,
                    ua_profile: Some(profile),
                    network_roles: roles,
                    seconds_since_sent: Some(secs.value(i)),
                    status: status.value(i).clamp(0, u16::MAX as i32) as u16,
                });
                let tok = messages.key(token.value(i));
                let link_idx = (!link.is_null(i)).then(|| intern(&mut links, link.value(i)));
                // A shared aggregate token is many people, not one message.
                let aggregate = recipient.value(i) == crate::manifest::AGGREGATE_ID;
                if !aggregate {
                    hits.push(HitKey {
                        day: n_file as i64,
                        row: rows,
                        token: tok,
                        ts: ts.value(i),
                        kind: k,
                        link: link_idx,
                        trap: !link.is_null(i) && link.value(i).starts_with(&trap_prefix),
                        class: verdict.class,
                        country: (!country.is_null(i))
                            .then(|| <[u8; 2]>::try_from(country.value(i).as_bytes()).ok())
                            .flatten(),
                        asn: asn_v,
                    })
                    .map_err(io_err(&scratch))?;
                }
                let fresh = Fresh { verdict, net };
                w.write_all(&fresh.to_bytes(tag, &cfg.networks))
                    .map_err(io_err(&out))?;
                rows += 1;
            }
        }
        w.flush().map_err(io_err(&out))?;
        report.events += u64::from(rows);
    }
    drop((profiles, messages, links));

    // The message pass, over ranges of messages in parallel: each range
    // writes the changes it finds to a file per data file.
    let open_per_part = (cfg.limits.change_files / parts).max(1);
    let msg = cfg.classifier.message();
    let done = hits
        .par_for_each_group(
            parts,
            |part| {
                (
                    part,
                    message::ChangeFiles::default(),
                    message::GroupScratch::default(),
                )
            },
            |(part, files, room), group| {
                let mut failed = None;
                message::analyse_group_in(group, msg, room, &mut |_, h, c| {
                    if failed.is_none() {
                        let path = || change_file(h.day as usize, *part);
                        let bytes = c.to_bytes(h.row);
                        if let Err(e) =
                            message::append_to(files, open_per_part, h.day, path, &bytes)
                        {
                            failed = Some(e);
                        }
                    }
                });
                failed.map_or(Ok(()), Err)
            },
        )
        .map_err(io_err(&scratch))?;
    for (_, files, _) in done {
        for (_, mut w) in files {
            w.flush().map_err(io_err(&scratch))?;
        }
    }

    // Pass 2: compare with what is stored, reading only the verdict
    // columns; rewrite the files that differ. A file is compared first and
    // read again to be rewritten only if some row changed: holding a file's
    // rewritten batches until it was known whether they were needed took
    // 1 GB for 3.6 M events that did not change.
    let mut moves: BTreeMap<(String, String, String, String, String), u64> = BTreeMap::new();
    let mut remove = Vec::new();
    // Files come by path, so a day's files one after another: a day's
    // rewritten file is finished when the next day's begins.
    let mut open_day: Option<Option<&str>> = None;
    for (n_file, (f, path)) in files.iter().enumerate() {
        let changes = message::read_changes((0..parts).map(|part| change_file(n_file, part)))?;
        let now = Revision::open(cfg, &fresh_file(n_file), &changes, &version)?;
        let mut changed = false;
        let verdicts = crate::commit::parquet_columns(path, Some(&crate::batch::VERDICT_COLUMNS))?;
        now.each(verdicts, |_, old, new| {
            for (o, v) in old.iter().zip(new) {
                if *v != *o {
                    report.rows_changed += 1;
                    changed = true;
                    if v.class != o.class || v.rule_id != o.rule_id {
                        *moves
                            .entry((
                                o.class.clone(),
                                v.class.clone(),
                                o.rule_id.clone(),
                                v.rule_id.clone(),
                                v.reason.clone(),
                            ))
                            .or_default() += 1;
                    }
                }
            }
            Ok(())
        })?;
        if !changed {
            continue;
        }
        report.files_changed += 1;
        if cfg.dry_run {
            continue;
        }
        let day = partition_day(&f.path);
        if let Some(open) = open_day.filter(|&d| d != day) {
            staging.close("events", open)?;
        }
        open_day = Some(day);
        let now = Revision::open(cfg, &fresh_file(n_file), &changes, &version)?;
        now.each(crate::commit::parquet_batches(path)?, |b, _, new| {
            staging.write("events", day, &with_verdicts(b, new))
        })?;
        remove.push(f.path.clone());
    }
    report.moves = moves
        .into_iter()
        .map(|((from, to, from_rule, rule_id, reason), hits)| Move {
            from,
            to,
            from_rule,
            rule_id,
            reason,
            hits,
        })
        .collect();
    report
        .moves
        .sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.cmp(b)));
    if !cfg.dry_run && !remove.is_empty() {
        let details = serde_json::json!({
            "rules_version": version,
            "since": cfg.since,
            "until": cfg.until,
            "events": report.events,
            "rows_changed": report.rows_changed,
            "moved": report.moves.iter().map(|m| serde_json::json!({
                "from": m.from, "to": m.to, "from_rule": m.from_rule, "rule_id": m.rule_id, "hits": m.hits,
            })).collect::<Vec<_>>(),
        });
        report.commit = Some(
            staging
                .commit("reclassify", remove, Vec::new(), None, details)?
                .seq,
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::classify::DEFAULT_RULES;
    use crate::input::Input;
    use crate::pipeline::{ingest, IngestConfig, Limits};

    /// A simulated send (proxies, Apple's prefetch, scanners, bursts and
    /// trap links among people), ingested into `dir/data` in files of at
    /// most 500 rows: many files a day, as a long history has.
    fn ingested(dir: &Path) -> PathBuf {
        let sim = crate::simulate::simulate(&crate::simulate::SimConfig {
            campaigns: 2,
            recipients: 150,
            lines: 6_000,
            rotate_lines: 2_500,
            seed: 11,
            out: dir.join("sim"),
        })
        .unwrap();
        let manifest = crate::manifest::Manifest::load(&dir.join("sim/minted")).unwrap();
        let inputs = sim.files.iter().cloned().map(Input::File).collect();
        let mut cfg = IngestConfig::new(manifest, dir.join("data"), inputs);
        cfg.limits.chunk_rows = 500;
        let ds = Dataset::create(&cfg.data).unwrap();
        let lock = ds.lock(false).unwrap().unwrap();
        ingest(&cfg, &ds, &lock, None).unwrap();
        cfg.data
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    /// Every event's place in its log and its verdict, in log order.
    fn events(data: &Path) -> Vec<(String, i64, StoredVerdict)> {
        let ds = Dataset::open(data).unwrap();
        let mut out = Vec::new();
        for p in ds.snapshot().unwrap().table_paths(data, "events", None) {
            for b in crate::commit::parquet_batches(&p).unwrap() {
                let b = b.unwrap();
                let file = strs(&b, "source_file").unwrap();
                let line = b.column_by_name("source_line").unwrap();
                let line = line.as_primitive::<Int64Type>();
                for (i, v) in verdicts_of(&b).into_iter().enumerate() {
                    out.push((file.value(i).to_string(), line.value(i), v));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    fn run(data: &Path, rules: &str, limits: Limits) -> ReclassifyReport {
        let ds = Dataset::open(data).unwrap();
        let lock = ds.lock(false).unwrap().unwrap();
        let cfg = ReclassifyConfig {
            classifier: Classifier::from_toml(rules).unwrap(),
            networks: Networks::builtin(),
            since: None,
            until: None,
            dry_run: false,
            limits,
        };
        reclassify(&ds, &lock, &cfg).unwrap()
    }

    /// With hits spilled every 7 and one change file open at a time, the
    /// message pass meets its messages across many sorted runs and reopens
    /// its files over and over: the verdicts must be those of a run that
    /// holds everything in memory. The ingest's own rules move nothing;
    /// webmail proxies' opens made crawlers move exactly those (and what
    /// the message pass then decides differently), both ways alike.
    #[test]
    fn scratch_files_and_spilled_hits_give_what_memory_gives() {
        let tmp = tempfile::tempdir().unwrap();
        let data = ingested(tmp.path());
        let stored = events(&data);
        let proxy_opens = stored
            .iter()
            .filter(|(_, _, v)| v.rule_id == "image_proxy.ua")
            .count() as u64;
        assert!(proxy_opens > 20, "the send has proxy opens: {proxy_opens}");
        let tiny = Limits {
            spill_hits: 7,
            change_files: 1,
            ..Limits::default()
        };
        for (name, limits) in [("same", Limits::default()), ("same-tiny", tiny)] {
            let d = tmp.path().join(name);
            copy_dir(&data, &d);
            let r = run(&d, DEFAULT_RULES, limits);
            assert_eq!((r.rows_changed, r.commit), (0, None), "{name}");
            assert_eq!(r.events, stored.len() as u64);
            assert_eq!(events(&d), stored, "{name}");
        }
        let rules = DEFAULT_RULES.replace(
            "class = \"image_proxy\"\nreason = \"opened through",
            "class = \"crawler\"\nreason = \"opened through",
        );
        assert_ne!(rules, DEFAULT_RULES);
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        copy_dir(&data, &a);
        copy_dir(&data, &b);
        let (ra, rb) = (run(&a, &rules, Limits::default()), run(&b, &rules, tiny));
        let moved = |r: &ReclassifyReport| {
            r.moves
                .iter()
                .filter(|m| m.from == "image_proxy" && m.to == "crawler")
                .map(|m| m.hits)
                .sum::<u64>()
        };
        assert_eq!(moved(&ra), proxy_opens);
        let key =
            |r: &ReclassifyReport| (r.events, r.rows_changed, r.files_changed, r.moves.clone());
        assert_eq!(key(&ra), key(&rb));
        assert!(ra.commit.is_some() && rb.commit.is_some());
        let (ea, eb) = (events(&a), events(&b));
        assert_eq!(ea, eb);
        assert_eq!(ea.len(), stored.len());
        for ((_, _, before), (_, _, after)) in stored.iter().zip(&ea) {
            if before.rule_id == "image_proxy.ua" {
                assert_eq!(after.class, "crawler");
            }
        }
    }
}
