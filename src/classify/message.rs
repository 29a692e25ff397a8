//! Message-level classification: what only the hits of one message together
//! show. Runs after every hit of a run has its own verdict, grouped by token.
//!
//! - A **link burst**: a security scanner follows every link of a message
//!   within seconds. Hits of one token with at least `burst_min_links`
//!   distinct links clicked inside `burst_window_seconds` are a scanner's,
//!   and so is a pixel fetch inside that window.
//! - A **trap link** (`mint --trap-link`) is invisible to people: any hit on
//!   it is a machine, and so is everything its token did in the same window.
//! - **Forwarding**: a human open from another country and network than the
//!   message's first human open means the message was forwarded; that open
//!   and later ones get `forwarded = true`.
//!
//! Only verdicts that said `human` are changed: a message-level pattern can
//! prove a machine, never a person.
//!
//! Every hit also gets the evidence these rules looked at: the **burst** it
//! belongs to (its message's hits chained by gaps of at most the window: how
//! many, and the seconds from first to last) when that holds more than one
//! hit, and whether a trap link was hit within the window of it.

use foldhash::{HashMap, HashMapExt};

use serde::Deserialize;

use super::Class;
use crate::track::Kind;

/// Thresholds of the message-level rules (the `[message]` table of the rules file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageConfig {
    /// Window in which clicks on several links make a burst.
    pub burst_window_seconds: i64,
    /// Distinct links clicked within the window that make a burst.
    pub burst_min_links: usize,
    /// Link ids starting with this are trap links.
    pub trap_link_prefix: String,
}

impl Default for MessageConfig {
    fn default() -> Self {
        MessageConfig {
            burst_window_seconds: 10,
            burst_min_links: 2,
            trap_link_prefix: TRAP_PREFIX.to_string(),
        }
    }
}

/// Link ids of trap links start with this.
pub const TRAP_PREFIX: &str = "pixelsift-trap-";

/// The rule id of a link burst.
pub const BURST_RULE: &str = "message.link_burst";
/// The reason of a link burst.
pub const BURST_REASON: &str =
    "several links of one message followed within seconds: a link scanner";
/// The rule id of a trap link hit.
pub const TRAP_RULE: &str = "message.trap_link";
/// The reason of a trap link hit.
pub const TRAP_REASON: &str = "hit the invisible trap link, or came with a hit on it: a machine";

/// What one hit looked like, compactly, for grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitKey {
    /// Where its row is: (UTC day number, row within that day's file of this run).
    pub day: i64,
    /// Row within the day.
    pub row: u32,
    /// Manifest position of its token.
    pub token: u32,
    /// Time, UTC microseconds.
    pub ts: i64,
    /// Open or click.
    pub kind: Kind,
    /// Links-file position of the link, for clicks.
    pub link: Option<u32>,
    /// Whether the link is a trap link.
    pub trap: bool,
    /// The per-hit verdict.
    pub class: Class,
    /// Country code, when known.
    pub country: Option<[u8; 2]>,
    /// AS number, when known.
    pub asn: Option<u32>,
}

/// A changed verdict for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// New class, if it changes.
    pub class: Option<(Class, &'static str, &'static str)>,
    /// The open was forwarded.
    pub forwarded: bool,
    /// Hits and span in seconds of the burst the hit belongs to, when more than one.
    pub burst: Option<(u32, f64)>,
    /// A trap link was hit within the window of this hit.
    pub trap: bool,
}

/// Applies a change to a stored verdict: a new class only where it said
/// human, and the evidence always.
pub fn apply(c: &Change, v: &mut crate::batch::StoredVerdict) {
    if let Some((class, rule, reason)) = c.class {
        v.class = class.as_str().to_string();
        v.rule_id = rule.to_string();
        v.reason = reason.to_string();
    }
    v.forwarded = c.forwarded;
    v.burst_hits = c.burst.map(|b| b.0 as i32);
    v.burst_seconds = c.burst.map(|b| b.1);
    v.trap_hit = Some(c.trap);
}

/// Groups hits by token and returns the rows whose verdict changes.
pub fn analyse(hits: &mut [HitKey], cfg: &MessageConfig) -> HashMap<(i64, u32), Change> {
    let mut out: HashMap<(i64, u32), Change> = HashMap::new();
    let mut scratch = GroupScratch::default();
    hits.sort_unstable_by_key(sort_key);
    for group in hits.chunk_by(|a, b| a.token == b.token) {
        analyse_group_in(group, cfg, &mut scratch, &mut |_, h, c| {
            out.insert((h.day, h.row), c);
        });
    }
    out
}

/// The order the message pass reads hits in: by message, then time.
pub fn sort_key(h: &HitKey) -> (u32, i64, i64, u32) {
    (h.token, h.ts, h.day, h.row)
}

/// What the analysis of one message keeps per hit, kept from one message
/// to the next: a message is a handful of hits, and making these afresh
/// for each of them was five allocations a message (on the simulated
/// 4.3M-line send, 300,000 messages).
#[derive(Default)]
pub struct GroupScratch {
    machine: Vec<Option<(&'static str, &'static str)>>,
    trap_near: Vec<bool>,
    traps: Vec<i64>,
    burst: Vec<Option<(u32, f64)>>,
    forwarded: Vec<bool>,
    in_window: HashMap<u32, usize>,
}

impl GroupScratch {
    /// Empties every list and sizes the per-hit ones for `n` hits.
    fn reset(&mut self, n: usize) {
        fn fresh<T: Clone>(v: &mut Vec<T>, n: usize, value: T) {
            v.clear();
            v.resize(n, value);
        }
        fresh(&mut self.machine, n, None);
        fresh(&mut self.trap_near, n, false);
        fresh(&mut self.burst, n, None);
        fresh(&mut self.forwarded, n, false);
        self.traps.clear();
        self.in_window.clear();
    }
}

/// The changes for the hits of one message (one token), in time order;
/// `out` is told of each hit that changes.
pub fn analyse_group(group: &[HitKey], cfg: &MessageConfig, out: &mut impl FnMut(&HitKey, Change)) {
    analyse_group_in(group, cfg, &mut GroupScratch::default(), &mut |_, h, c| {
        out(h, c)
    })
}

/// [`analyse_group`], in room kept from earlier messages; `out` is also
/// told each changing hit's position in the group.
pub fn analyse_group_in(
    group: &[HitKey],
    cfg: &MessageConfig,
    scratch: &mut GroupScratch,
    out: &mut impl FnMut(usize, &HitKey, Change),
) {
    let window = cfg.burst_window_seconds.max(0) * 1_000_000;
    scratch.reset(group.len());
    let GroupScratch {
        machine,
        trap_near,
        traps,
        burst,
        forwarded,
        in_window,
    } = scratch;
    // Trap links: the hit, and everything within the window around it.
    traps.extend(group.iter().filter(|h| h.trap).map(|h| h.ts));
    if !traps.is_empty() {
        for (j, o) in group.iter().enumerate() {
            let i = traps.partition_point(|&t| t < o.ts - window);
            if traps.get(i).is_some_and(|&t| t <= o.ts + window) {
                machine[j] = Some((TRAP_RULE, TRAP_REASON));
                trap_near[j] = true;
            }
        }
    }
    // Burst evidence: hits chained by gaps no longer than the window.
    let mut from = 0;
    for j in 1..=group.len() {
        if j == group.len() || group[j].ts - group[j - 1].ts > window {
            if j - from > 1 {
                let span = (group[j - 1].ts - group[from].ts) as f64 / 1e6;
                burst[from..j].fill(Some(((j - from) as u32, span)));
            }
            from = j;
        }
    }
    // Bursts: a sliding window over the hits in time order, counting
    // the distinct links in it; linear in the group's size, however
    // many hits share a second.
    let mut start = 0;
    let mut marked = 0; // hits before this index are already marked
    for end in 0..group.len() {
        if let Some(l) = group[end].link {
            *in_window.entry(l).or_default() += 1;
        }
        while group[end].ts - group[start].ts > window {
            if let Some(l) = group[start].link {
                if let Some(n) = in_window.get_mut(&l) {
                    *n -= 1;
                    if *n == 0 {
                        in_window.remove(&l);
                    }
                }
            }
            start += 1;
        }
        if in_window.len() >= cfg.burst_min_links.max(2) {
            for m in machine.iter_mut().take(end + 1).skip(marked.max(start)) {
                m.get_or_insert((BURST_RULE, BURST_REASON));
            }
            marked = end + 1;
        }
    }
    // Forwarding: a human open from another country and network than the first.
    let first = group
        .iter()
        .enumerate()
        .find(|(j, h)| h.kind == Kind::Open && h.class == Class::Human && machine[*j].is_none());
    if let Some((f, first)) = first {
        let mut seen = false;
        for (j, h) in group.iter().enumerate().skip(f + 1) {
            let human_open =
                h.kind == Kind::Open && h.class == Class::Human && machine[j].is_none();
            if human_open
                && h.country.is_some()
                && first.country.is_some()
                && h.country != first.country
                && h.asn != first.asn
            {
                seen = true;
            }
            forwarded[j] = seen && human_open;
        }
    }
    for (j, h) in group.iter().enumerate() {
        let class = match machine[j] {
            Some((rule, reason)) if h.class == Class::Human => Some((Class::Scanner, rule, reason)),
            _ => None,
        };
        if class.is_some() || forwarded[j] || burst[j].is_some() || trap_near[j] {
            out(
                j,
                h,
                Change {
                    class,
                    forwarded: forwarded[j],
                    burst: burst[j],
                    trap: trap_near[j],
                },
            );
        }
    }
}

/// Hits held in memory before they are sorted into a run file on disk,
/// the sorted copy included: about 48 MB. A run of any size keeps at most
/// this many.
pub const SPILL_HITS: usize = 1 << 20;

const HIT_BYTES: usize = 40;

impl HitKey {
    fn to_bytes(self) -> [u8; HIT_BYTES] {
        let mut b = [0u8; HIT_BYTES];
        b[0..8].copy_from_slice(&self.day.to_le_bytes());
        b[8..12].copy_from_slice(&self.row.to_le_bytes());
        b[12..16].copy_from_slice(&self.token.to_le_bytes());
        b[16..24].copy_from_slice(&self.ts.to_le_bytes());
        b[24] = self.kind as u8;
        b[25..29].copy_from_slice(&self.link.unwrap_or(u32::MAX).to_le_bytes());
        b[29] = self.trap as u8;
        b[30] = self.class as u8;
        if let Some(c) = self.country {
            b[31] = 1;
            b[32..34].copy_from_slice(&c);
        }
        if let Some(a) = self.asn {
            b[34] = 1;
            b[35..39].copy_from_slice(&a.to_le_bytes());
        }
        b
    }

    fn from_bytes(b: &[u8; HIT_BYTES]) -> HitKey {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        HitKey {
            day: i64_at(0),
            row: u32_at(8),
            token: u32_at(12),
            ts: i64_at(16),
            kind: Kind::ALL[b[24] as usize],
            link: Some(u32_at(25)).filter(|&l| l != u32::MAX),
            trap: b[29] != 0,
            class: Class::ALL[b[30] as usize],
            country: (b[31] != 0).then(|| [b[32], b[33]]),
            asn: (b[34] != 0).then(|| u32_at(35)),
        }
    }
}

/// The hits of a run for the message pass, in bounded memory: up to a cap
/// in memory, beyond it sorted runs on disk, merged back in message order.
pub struct HitSpill {
    dir: std::path::PathBuf,
    buf: Vec<HitKey>,
    /// `buf` in message order, made at each spill: kept, so a spill does
    /// not allocate.
    sorted: Vec<HitKey>,
    runs: Vec<std::path::PathBuf>,
    cap: usize,
    len: u64,
}

impl HitSpill {
    /// A spill writing its run files into `dir`, keeping at most `cap` hits in memory.
    pub fn new(dir: &std::path::Path, cap: usize) -> Self {
        HitSpill {
            dir: dir.to_path_buf(),
            buf: Vec::new(),
            sorted: Vec::new(),
            runs: Vec::new(),
            // Half for the hits as they come, half for their sorted copy.
            cap: (cap / 2).max(1),
            len: 0,
        }
    }

    /// Hits pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no hit was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a hit.
    pub fn push(&mut self, h: HitKey) -> std::io::Result<()> {
        if self.buf.capacity() == 0 {
            // All at once: growing by doubling would copy the hits over and over.
            self.buf.reserve_exact(self.cap);
        }
        self.buf.push(h);
        self.len += 1;
        if self.buf.len() >= self.cap {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        let path = self.dir.join(format!("hits-{}.bin", self.runs.len()));
        let mut w = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
        let mut sorted = std::mem::take(&mut self.sorted);
        sort_into(&self.buf, &mut sorted);
        for h in &sorted {
            w.write_all(&h.to_bytes())?;
        }
        self.sorted = sorted;
        self.buf.clear();
        w.flush()?;
        self.runs.push(path);
        Ok(())
    }

    /// Calls `f` with the hits of each message in turn, in time order.
    pub fn for_each_group(
        self,
        mut f: impl FnMut(&[HitKey]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let runs = self.finish()?;
        let r = runs.groups(0, u64::MAX, &mut f);
        runs.remove();
        r
    }

    /// Calls `f` with the hits of each message, in time order, over `parts`
    /// ranges of messages in parallel: each range's messages come in order
    /// to one call of `init` and its state, and the states come back in
    /// range order. The message pass over tens of millions of hits is then
    /// no longer one core's merge while the other waits.
    pub fn par_for_each_group<S: Send>(
        self,
        parts: usize,
        init: impl Fn(usize) -> S + Sync,
        f: impl Fn(&mut S, &[HitKey]) -> std::io::Result<()> + Sync,
    ) -> std::io::Result<Vec<S>> {
        use rayon::prelude::*;
        let runs = self.finish()?;
        let end = runs.max_token()? + 1;
        let parts = parts.max(1) as u64;
        let step = end.div_ceil(parts).max(1);
        let r = (0..parts)
            .into_par_iter()
            .map(|i| {
                let mut state = init(i as usize);
                runs.groups(i * step, ((i + 1) * step).min(end), &mut |g| {
                    f(&mut state, g)
                })?;
                Ok(state)
            })
            .collect();
        runs.remove();
        r
    }

    /// The hits, sorted: in memory when they fit, else all in sorted runs on disk.
    fn finish(mut self) -> std::io::Result<SortedHits> {
        if self.runs.is_empty() {
            let mut sorted = std::mem::take(&mut self.sorted);
            sort_into(&self.buf, &mut sorted);
            return Ok(SortedHits::Memory(sorted));
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        Ok(SortedHits::Runs(self.runs))
    }
}

/// Puts `hits` into `out` in `sort_key` order. Tokens are manifest
/// positions, so a counting sort puts the hits in message order in one
/// pass, each read once in push order and written once to its place, and
/// only each message's handful of hits is compared, most often found in
/// order already. The comparison sort this replaced moved each hit about
/// log2(n) times: 4-5% of ingest's CPU on a simulated send. Sparse tokens
/// (a manifest far larger than the hits) take the comparison sort.
fn sort_into(hits: &[HitKey], out: &mut Vec<HitKey>) {
    use rayon::slice::ParallelSliceMut;
    out.clear();
    let Some(max) = hits.iter().map(|h| h.token).max() else {
        return;
    };
    out.extend_from_slice(hits);
    if max as usize / 4 > hits.len().max(1 << 16) {
        out.par_sort_unstable_by_key(sort_key);
        return;
    }
    // Where each message's hits start, then how far each is filled.
    let mut next = vec![0usize; max as usize + 2];
    for h in hits {
        next[h.token as usize + 1] += 1;
    }
    for t in 1..next.len() {
        next[t] += next[t - 1];
    }
    for h in hits {
        let at = &mut next[h.token as usize];
        out[*at] = *h;
        *at += 1;
    }
    for g in out.chunk_by_mut(|a, b| a.token == b.token) {
        if !g.is_sorted_by_key(sort_key) {
            g.sort_unstable_by_key(sort_key);
        }
    }
}

/// A run's hits in message order: in memory, or in sorted run files.
enum SortedHits {
    Memory(Vec<HitKey>),
    Runs(Vec<std::path::PathBuf>),
}

impl SortedHits {
    /// The highest message (token) of any hit, 0 for none.
    fn max_token(&self) -> std::io::Result<u64> {
        use std::os::unix::fs::FileExt;
        match self {
            SortedHits::Memory(v) => Ok(v.last().map_or(0, |h| h.token as u64)),
            SortedHits::Runs(runs) => {
                let mut max = 0;
                for p in runs {
                    let f = std::fs::File::open(p)?;
                    let n = f.metadata()?.len() / HIT_BYTES as u64;
                    if n > 0 {
                        let mut b = [0u8; HIT_BYTES];
                        f.read_exact_at(&mut b, (n - 1) * HIT_BYTES as u64)?;
                        max = max.max(HitKey::from_bytes(&b).token as u64);
                    }
                }
                Ok(max)
            }
        }
    }

    /// Calls `f` with the hits of each message whose token is in `lo..hi`,
    /// in message order.
    fn groups(
        &self,
        lo: u64,
        hi: u64,
        f: &mut dyn FnMut(&[HitKey]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        use std::os::unix::fs::FileExt;
        let runs = match self {
            SortedHits::Memory(v) => {
                let a = v.partition_point(|h| (h.token as u64) < lo);
                let b = v.partition_point(|h| (h.token as u64) < hi);
                for g in v[a..b].chunk_by(|a, b| a.token == b.token) {
                    f(g)?;
                }
                return Ok(());
            }
            SortedHits::Runs(runs) => runs,
        };
        // Each run from its first hit of the range on (found by bisecting
        // its fixed-size records), merged a message at a time: the runs
        // whose next hit has the lowest token give all their hits of it,
        // and a message met in more than one run is sorted (a handful of
        // hits). A heap of every run's next hit cost a push and a pop per
        // hit, most of the merge's time.
        struct Cursor {
            reader: std::io::BufReader<std::fs::File>,
            next: Option<HitKey>,
        }
        let read = |r: &mut std::io::BufReader<std::fs::File>| -> std::io::Result<Option<HitKey>> {
            let mut b = [0u8; HIT_BYTES];
            match r.read_exact(&mut b) {
                Ok(()) => Ok(Some(HitKey::from_bytes(&b)).filter(|h| (h.token as u64) < hi)),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                Err(e) => Err(e),
            }
        };
        let mut cursors = Vec::with_capacity(runs.len());
        for p in runs {
            let file = std::fs::File::open(p)?;
            let n = file.metadata()?.len() / HIT_BYTES as u64;
            let (mut a, mut b) = (0u64, n);
            let mut rec = [0u8; HIT_BYTES];
            while a < b {
                let mid = a + (b - a) / 2;
                file.read_exact_at(&mut rec, mid * HIT_BYTES as u64)?;
                if (HitKey::from_bytes(&rec).token as u64) < lo {
                    a = mid + 1;
                } else {
                    b = mid;
                }
            }
            let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
            reader.seek(std::io::SeekFrom::Start(a * HIT_BYTES as u64))?;
            let next = read(&mut reader)?;
            cursors.push(Cursor { reader, next });
        }
        let mut group: Vec<HitKey> = Vec::new();
        while let Some(token) = cursors.iter().filter_map(|c| c.next.map(|h| h.token)).min() {
            group.clear();
            let mut from = 0;
            for c in &mut cursors {
                if c.next.is_some_and(|h| h.token == token) {
                    from += 1;
                }
                while let Some(h) = c.next.filter(|h| h.token == token) {
                    group.push(h);
                    c.next = read(&mut c.reader)?;
                }
            }
            if from > 1 {
                group.sort_unstable_by_key(sort_key);
            }
            f(&group)?;
        }
        Ok(())
    }

    fn remove(self) {
        if let SortedHits::Runs(runs) = self {
            for p in &runs {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Bytes of one change on disk, with its row.
pub const CHANGE_BYTES: usize = 20;

impl Change {
    /// The change of `row`, as stored between the message pass and sealing.
    pub fn to_bytes(&self, row: u32) -> [u8; CHANGE_BYTES] {
        let mut b = [0u8; CHANGE_BYTES];
        b[0..4].copy_from_slice(&row.to_le_bytes());
        b[4] = match self.class {
            None => 0,
            Some((_, rule, _)) if rule == BURST_RULE => 1,
            Some(_) => 2,
        };
        b[5] = self.forwarded as u8 | (self.trap as u8) << 1;
        if let Some((n, secs)) = self.burst {
            b[6..10].copy_from_slice(&n.to_le_bytes());
            b[10..18].copy_from_slice(&secs.to_le_bytes());
        }
        b
    }

    /// Reads back [`Change::to_bytes`].
    pub fn from_bytes(b: &[u8; CHANGE_BYTES]) -> (u32, Change) {
        let row = u32::from_le_bytes(b[0..4].try_into().expect("4 bytes"));
        let n = u32::from_le_bytes(b[6..10].try_into().expect("4 bytes"));
        let secs = f64::from_le_bytes(b[10..18].try_into().expect("8 bytes"));
        (
            row,
            Change {
                class: match b[4] {
                    0 => None,
                    1 => Some((Class::Scanner, BURST_RULE, BURST_REASON)),
                    _ => Some((Class::Scanner, TRAP_RULE, TRAP_REASON)),
                },
                forwarded: b[5] & 1 != 0,
                trap: b[5] & 2 != 0,
                burst: (n > 0).then_some((n, secs)),
            },
        )
    }
}

/// Files of changes a message pass keeps open, by key, across its ranges.
pub type ChangeFiles<K> = std::collections::HashMap<K, std::io::BufWriter<std::fs::File>>;

/// Appends `bytes` to the scratch file `key` of one range of messages,
/// opening it (`path`) to append if need be. A log spanning years touches
/// thousands of chunks: each range keeps at most `open` files open (ingest
/// gives the ranges half the common limit of 1,024 descriptors) and
/// reopens the others to append.
pub fn append_to<K: std::hash::Hash + Eq>(
    files: &mut ChangeFiles<K>,
    open: usize,
    key: K,
    path: impl FnOnce() -> std::path::PathBuf,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    if files.len() >= open && !files.contains_key(&key) {
        for (_, mut w) in files.drain() {
            w.flush()?;
        }
    }
    let w = match files.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let f = std::fs::File::options()
                .create(true)
                .append(true)
                .open(path())?;
            e.insert(std::io::BufWriter::new(f))
        }
    };
    w.write_all(bytes)
}

/// The changes kept in `paths` (those that exist), by row: what one chunk
/// or file gets from every range of the message pass.
pub fn read_changes(
    paths: impl IntoIterator<Item = std::path::PathBuf>,
) -> crate::error::Result<Vec<(u32, Change)>> {
    let mut v: Vec<(u32, Change)> = Vec::new();
    for p in paths {
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::error::io_err(&p)(e)),
        };
        v.extend(
            bytes
                .chunks_exact(CHANGE_BYTES)
                .map(|b| Change::from_bytes(b.try_into().expect("exact chunks"))),
        );
    }
    v.sort_unstable_by_key(|(row, _)| *row);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(row: u32, token: u32, secs: i64, kind: Kind, link: Option<u32>, class: Class) -> HitKey {
        HitKey {
            day: 0,
            row,
            token,
            ts: secs * 1_000_000,
            kind,
            link,
            trap: false,
            class,
            country: None,
            asn: None,
        }
    }

    #[test]
    fn bursts_traps_and_forwarding() {
        let cfg = MessageConfig::default();
        let mut hits = vec![
            // token 1: a scanner clicks both links and fetches the pixel within 3 s.
            hit(0, 1, 100, Kind::Click, Some(1), Class::Human),
            hit(1, 1, 101, Kind::Open, None, Class::Human),
            hit(2, 1, 103, Kind::Click, Some(2), Class::Human),
            // ... and the person clicks one link an hour later: untouched.
            hit(3, 1, 3700, Kind::Click, Some(1), Class::Human),
            // token 2: one person clicks two links a minute apart: no burst.
            hit(4, 2, 100, Kind::Click, Some(1), Class::Human),
            hit(5, 2, 160, Kind::Click, Some(2), Class::Human),
            // token 3: the same link twice in a second is not several links.
            hit(6, 3, 100, Kind::Click, Some(1), Class::Human),
            hit(7, 3, 100, Kind::Click, Some(1), Class::Human),
        ];
        let mut trap = hit(8, 4, 50, Kind::Click, Some(9), Class::Human);
        trap.trap = true;
        hits.push(trap);
        hits.push(hit(9, 4, 52, Kind::Open, None, Class::AppleMpp));
        let mut fwd1 = hit(10, 5, 10, Kind::Open, None, Class::Human);
        fwd1.country = Some(*b"FR");
        fwd1.asn = Some(1);
        let mut fwd2 = hit(11, 5, 9000, Kind::Open, None, Class::Human);
        fwd2.country = Some(*b"DE");
        fwd2.asn = Some(2);
        hits.extend([fwd1, fwd2]);
        let ch = analyse(&mut hits, &cfg);
        let class_of = |row: u32| ch.get(&(0, row)).and_then(|c| c.class).map(|c| c.1);
        assert_eq!(
            [class_of(0), class_of(1), class_of(2)],
            [Some(BURST_RULE); 3]
        );
        assert_eq!(class_of(3), None);
        assert_eq!(
            (class_of(4), class_of(5), class_of(6), class_of(7)),
            (None, None, None, None)
        );
        assert_eq!(class_of(8), Some(TRAP_RULE));
        assert_eq!(class_of(9), None, "only human verdicts change");
        assert!(ch[&(0, 9)].trap, "the evidence is kept whatever the class");
        assert_eq!(ch[&(0, 0)].burst, Some((3, 3.0)));
        assert_eq!(ch[&(0, 6)].burst, Some((2, 0.0)));
        assert!(!ch.contains_key(&(0, 3)) && !ch.contains_key(&(0, 4)));
        assert!(!ch.contains_key(&(0, 10)));
        // Many hits in one second: still linear, still a burst.
        let mut many: Vec<HitKey> = (0..200_000u32)
            .map(|i| hit(i, 9, 5, Kind::Click, Some(i % 2), Class::Human))
            .collect();
        assert_eq!(analyse(&mut many, &cfg).len(), 200_000);
        assert_eq!(
            ch.get(&(0, 11)).map(|c| (c.class, c.forwarded)),
            Some((None, true))
        );
        for c in ch.values() {
            assert_eq!(Change::from_bytes(&c.to_bytes(7)), (7, *c));
        }
    }

    #[test]
    fn counting_order_is_the_sort_order() {
        // Dense tokens take the counting sort, sparse ones the comparison
        // sort; ties on token and time fall to day and row.
        for spread in [1u32, 10_000] {
            let hits: Vec<HitKey> = (0..20_000u32)
                .map(|i| {
                    let mut h = hit(
                        i % 7_001,
                        (i * 7919 % 1_013) * spread,
                        ((i * 31) % 5) as i64,
                        Kind::Open,
                        None,
                        Class::Human,
                    );
                    h.day = (i % 3) as i64;
                    h
                })
                .collect();
            let mut want = hits.clone();
            want.sort_unstable_by_key(sort_key);
            let mut got = vec![hits[0]];
            sort_into(&hits, &mut got);
            assert_eq!(got, want, "spread {spread}");
        }
        let mut got = vec![hit(0, 0, 0, Kind::Open, None, Class::Human)];
        sort_into(&[], &mut got);
        assert!(got.is_empty());
    }

    #[test]
    fn spilled_hits_come_back_in_message_order() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = MessageConfig::default();
        // Scanner bursts and people across many tokens, pushed out of order.
        let mut all = Vec::new();
        for i in 0..5_000u32 {
            let token = (i * 7919) % 613;
            let mut h = hit(
                i,
                token,
                (i % 97) as i64,
                Kind::Click,
                Some(i % 3),
                Class::Human,
            );
            h.country = (i % 5 == 0).then_some(*b"DE");
            h.asn = (i % 3 == 0).then_some(i);
            all.push(h);
        }
        let mut spill = HitSpill::new(tmp.path(), 300);
        for h in &all {
            spill.push(*h).unwrap();
        }
        assert!(
            std::fs::read_dir(tmp.path()).unwrap().count() >= 16,
            "it spilled"
        );
        let mut from_disk = std::collections::HashMap::new();
        let mut seen = 0;
        let mut last_token = None;
        spill
            .for_each_group(|g| {
                assert!(g
                    .windows(2)
                    .all(|w| w[0].token == w[1].token && sort_key(&w[0]) <= sort_key(&w[1])));
                // Each message once, whole, in message order.
                assert!(
                    last_token < Some(g[0].token),
                    "{last_token:?} then {}",
                    g[0].token
                );
                last_token = Some(g[0].token);
                seen += g.len();
                analyse_group(g, &cfg, &mut |h, c| {
                    from_disk.insert((h.day, h.row), c);
                });
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, all.len());
        let in_memory = analyse(&mut all, &cfg);
        assert!(!in_memory.is_empty());
        assert_eq!(from_disk.len(), in_memory.len());
        for (k, v) in &in_memory {
            assert_eq!(from_disk.get(k), Some(v));
        }
    }

    /// Ranges of messages analysed in parallel, from memory and from runs
    /// on disk, in 1 to 7 ranges: each message comes whole to exactly one
    /// range, ranges hold ascending messages, and the groups are those of
    /// one pass over all hits.
    #[test]
    fn ranges_of_messages_split_the_groups_exactly() {
        let mut all = Vec::new();
        for i in 0..3_000u32 {
            all.push(hit(
                i,
                (i * 7919) % 401,
                (i % 89) as i64,
                Kind::Open,
                None,
                Class::Human,
            ));
        }
        let whole = |spill: HitSpill| {
            let mut groups = Vec::new();
            spill
                .for_each_group(|g| {
                    groups.push(g.to_vec());
                    Ok(())
                })
                .unwrap();
            groups
        };
        for cap in [10_000, 250] {
            let tmp = tempfile::tempdir().unwrap();
            let fill = || {
                let mut s = HitSpill::new(tmp.path(), cap);
                for h in &all {
                    s.push(*h).unwrap();
                }
                s
            };
            let expected = whole(fill());
            assert_eq!(expected.len(), 401);
            for parts in 1..=7 {
                let ranges = fill()
                    .par_for_each_group(
                        parts,
                        |_| Vec::new(),
                        |v: &mut Vec<Vec<HitKey>>, g| {
                            v.push(g.to_vec());
                            Ok(())
                        },
                    )
                    .unwrap();
                assert_eq!(ranges.len(), parts);
                let joined: Vec<Vec<HitKey>> = ranges.into_iter().flatten().collect();
                assert_eq!(joined, expected, "cap {cap}, {parts} ranges");
            }
            assert_eq!(
                std::fs::read_dir(tmp.path()).unwrap().count(),
                0,
                "runs removed"
            );
        }
    }
}
