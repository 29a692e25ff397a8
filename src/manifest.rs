//! The token manifest: who each token stands for, and where each link goes.
//!
//! A token is the first 16 bytes of HMAC-SHA256(secret, campaign_id 0x00
//! recipient_id), base64url without padding. The NUL separator keeps
//! ("ab","c") and ("a","bc") apart; ids can never contain it. Ingest accepts
//! any manifest in this format, minted here or elsewhere.

use compact_str::CompactString;
use foldhash::{HashMap, HashMapExt};
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{io_err, Error, Problem, Result};

/// Length of a token in characters (16 bytes in base64url, no padding).
pub const TOKEN_LEN: usize = 22;

/// Derives the token of one recipient of one campaign.
pub fn token_for(secret: &[u8], campaign_id: &str, recipient_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(campaign_id.as_bytes());
    mac.update(&[0]);
    mac.update(recipient_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Checks an id against `[A-Za-z0-9._-]{1,64}`, saying what is wrong.
pub fn check_id(what: &str, id: &str) -> std::result::Result<(), String> {
    if id.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if id.len() > 64 {
        return Err(format!(
            "{what} is {} characters long, at most 64 are allowed",
            id.len()
        ));
    }
    if let Some(c) = id.chars().find(|c| !is_id_char(*c)) {
        return Err(format!(
            "{what} {id:?} contains {c:?}; ids use only A-Z a-z 0-9 . _ -"
        ));
    }
    Ok(())
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// True if the bytes have the shape of a token (22 base64url characters).
pub fn is_token_shaped(b: &[u8]) -> bool {
    // Every hit asks: one table load per byte, no chain of range checks.
    b.len() == TOKEN_LEN && b.iter().all(|&c| BASE64URL[c as usize])
}

/// The bytes of the base64url alphabet.
static BASE64URL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

/// Parses an RFC 3339 time into microseconds since the epoch, UTC.
pub fn parse_rfc3339_micros(s: &str) -> std::result::Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_micros())
        .map_err(|e| format!("sent_at {s:?} is not an RFC 3339 time ({e})"))
}

/// The `recipient_id` of a token that stands for every recipient of one
/// campaign and variant (`mint --tracking aggregate`): no identity is kept.
pub const AGGREGATE_ID: &str = "*";

/// The `token` of an untracked (opted-out) row: it is in no URL.
pub const UNTRACKED_TOKEN: &str = "-";

/// One recipient of one campaign (or, in aggregate mode, all recipients of
/// one campaign and variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's token.
    pub token: CompactString,
    /// The campaign the message belongs to (shared by the campaign's rows).
    pub campaign_id: Arc<str>,
    /// The sender's id for the person; inline up to 24 bytes, so the join
    /// finds it in the row it reads anyway.
    pub recipient_id: CompactString,
    /// The A/B variant the person received (shared like the campaign).
    pub variant: Arc<str>,
    /// When the message was sent, microseconds since the epoch, UTC.
    pub sent_at: i64,
    /// False for recipients who opted out: no pixel, unwrapped links.
    pub tracked: bool,
    /// How many people the row stands for (1, or a group in aggregate mode).
    pub recipients: u32,
}

impl Recipient {
    /// True for a token shared by a whole campaign and variant.
    pub fn is_aggregate(&self) -> bool {
        self.recipient_id == AGGREGATE_ID
    }

    /// The row's identity in the manifest copy: who (or which group), not
    /// which token. Compared as a pair, it orders rows as the text
    /// `campaign\0recipient` would (no id holds a NUL), without making that
    /// text for every row of a manifest: the copy's merge sorts them all.
    pub fn key(&self) -> (&str, std::borrow::Cow<'_, str>) {
        let who = if self.is_aggregate() {
            // Rare: one row a campaign and variant in aggregate mode.
            let tracked = if self.tracked { "true" } else { "false" };
            format!("*\0{}\0{tracked}", self.variant).into()
        } else {
            self.recipient_id.as_str().into()
        };
        (&self.campaign_id, who)
    }
}

/// Hands out one shared copy of each distinct name. A manifest repeats a
/// few campaign and variant names over every recipient: sharing them saves
/// two allocations per recipient, and the rows' names stay in cache
/// when each hit reads them.
#[derive(Default)]
pub struct Names(std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Names {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.0.insert(a.clone());
        a
    }
}

/// One wrapped link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The link's id, unique across campaigns.
    pub link_id: String,
    /// The campaign the link belongs to.
    pub campaign_id: String,
    /// Where the link redirects to.
    pub url: String,
}

/// Tokens -> manifest positions: open addressing with linear probing over
/// keys stored inline, a slot per 32 bytes, at most three quarters full.
/// A slot's address is known before the lookup, which lets it be
/// prefetched while earlier lines are joined.
#[derive(Debug, Default)]
struct TokenTable {
    slots: Vec<TokenSlot>,
    mask: usize,
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct TokenSlot {
    key: [u8; TOKEN_LEN],
    /// Position in the manifest, or `u32::MAX` for an empty slot.
    idx: u32,
}

impl TokenTable {
    fn with_capacity(n: usize) -> Self {
        let slots = (n + n / 3 + 1).next_power_of_two().max(8);
        TokenTable {
            slots: vec![
                TokenSlot {
                    key: [0; TOKEN_LEN],
                    idx: u32::MAX,
                };
                slots
            ],
            mask: slots - 1,
        }
    }

    #[inline]
    fn home(&self, key: &[u8; TOKEN_LEN]) -> usize {
        use std::hash::BuildHasher;
        // Every byte counts: a manifest written by hand may have tokens
        // that differ in a few characters only.
        foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key) as usize & self.mask
    }

    /// Adds a key; false if it was there already.
    fn insert(&mut self, key: [u8; TOKEN_LEN], idx: u32) -> bool {
        let mut i = self.home(&key);
        loop {
            let s = &mut self.slots[i];
            if s.idx == u32::MAX {
                *s = TokenSlot { key, idx };
                return true;
            }
            if s.key == key {
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn get(&self, key: &[u8; TOKEN_LEN]) -> Option<&TokenSlot> {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.idx == u32::MAX {
                return None;
            }
            if s.key == *key {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn prefetch(&self, key: &[u8; TOKEN_LEN]) {
        crate::prefetch(&self.slots[self.home(key)]);
    }
}

/// A token found in the manifest.
#[derive(Debug, Clone, Copy)]
pub struct Joined<'m> {
    /// The recipient's position in the manifest.
    pub idx: u32,
    /// The recipient's row.
    pub recipient: &'m Recipient,
    /// The token, as kept in the join's own table: the row's copy is
    /// elsewhere in memory, and reading it would cost a cache miss a hit.
    pub token: &'m str,
}

/// The loaded manifest, indexed for the join.
#[derive(Debug, Default)]
pub struct Manifest {
    recipients: Vec<Recipient>,
    by_token: TokenTable,
    links: Vec<Link>,
    by_link: HashMap<Box<[u8]>, u32>,
    /// Some recipient id is too long to be kept in its row.
    ids_on_heap: bool,
}

impl Manifest {
    /// Builds a manifest from its rows, refusing duplicate tokens or link ids.
    pub fn new(recipients: Vec<Recipient>, links: Vec<Link>) -> std::result::Result<Self, String> {
        let mut by_token = TokenTable::with_capacity(recipients.len());
        // Slots are found a few rows ahead: each insert would otherwise
        // wait on memory for its slot in a table of megabytes.
        const AHEAD: usize = 16;
        for (i, r) in recipients.iter().enumerate() {
            if let Some(key) = recipients
                .get(i + AHEAD)
                .and_then(|a| <&[u8; TOKEN_LEN]>::try_from(a.token.as_bytes()).ok())
            {
                by_token.prefetch(key);
            }
            // Untracked rows have no token in any URL: nothing may join to them.
            if !r.tracked {
                continue;
            }
            let Ok(key) = <[u8; TOKEN_LEN]>::try_from(r.token.as_bytes()) else {
                return Err(format!("token {:?} is not {TOKEN_LEN} characters", r.token));
            };
            if !by_token.insert(key, i as u32) {
                return Err(format!("token {} appears twice", r.token));
            }
        }
        let mut by_link = HashMap::with_capacity(links.len());
        for (i, l) in links.iter().enumerate() {
            if by_link
                .insert(l.link_id.as_bytes().into(), i as u32)
                .is_some()
            {
                return Err(format!("link_id {} appears twice", l.link_id));
            }
        }
        Ok(Manifest {
            ids_on_heap: recipients
                .iter()
                .any(|r| r.recipient_id.is_heap_allocated()),
            recipients,
            by_token,
            links,
            by_link,
        })
    }

    /// Reads `DIR/manifest.csv` and `DIR/links.csv`; every bad row is reported.
    pub fn load(dir: &Path) -> Result<Self> {
        let mpath = dir.join("manifest.csv");
        let lpath = dir.join("links.csv");
        let mut problems = Vec::new();
        let recipients = read_manifest_csv(&mpath, &mut problems)?;
        let links = read_links_csv(&lpath, &mut problems)?;
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Manifest::new(recipients, links).map_err(|reason| {
            Error::Invalid(vec![Problem {
                file: dir.to_path_buf(),
                line: 0,
                reason,
            }])
        })
    }

    /// Looks a token up.
    #[inline]
    pub fn recipient(&self, token: &[u8]) -> Option<&Recipient> {
        self.recipient_at(token).map(|j| j.recipient)
    }

    /// Looks a token up, with the recipient's position in the manifest.
    #[inline]
    pub fn recipient_at(&self, token: &[u8]) -> Option<Joined<'_>> {
        let key = <&[u8; TOKEN_LEN]>::try_from(token).ok()?;
        self.by_token.get(key).map(|s| Joined {
            idx: s.idx,
            recipient: &self.recipients[s.idx as usize],
            // SAFETY: every key was copied whole from a token `String`.
            token: unsafe { std::str::from_utf8_unchecked(&s.key) },
        })
    }

    /// How many steps of [`Manifest::prefetch`] the join needs: 3, or 2 when
    /// every recipient id is kept in its row. The third step reads the row
    /// to find the id's bytes, and where they are in the row it only waits
    /// on the row (on the simulated 4.3M-line send, whose ids are short,
    /// dropping it took 4% off an ingest's CPU).
    pub fn prefetch_steps(&self) -> u8 {
        if self.ids_on_heap {
            3
        } else {
            2
        }
    }

    /// Asks the CPU to bring what the join of `token` reads into cache, one
    /// step per call (`step` 0, 1, 2: the token's slot of the join, then its
    /// manifest row, then the recipient id's bytes when they are not in the
    /// row). Called for a window of
    /// lines ahead of their join, one step over the whole window at a time,
    /// each step finds the previous one's line in cache and the join finds
    /// all three, instead of waiting on memory three times a hit in tables
    /// of hundreds of thousands of rows.
    #[inline]
    pub fn prefetch(&self, token: &[u8], step: u8) {
        let Ok(key) = <&[u8; TOKEN_LEN]>::try_from(token) else {
            return;
        };
        if step == 0 {
            return self.by_token.prefetch(key);
        }
        let Some(slot) = self.by_token.get(key) else {
            return;
        };
        let row = &self.recipients[slot.idx as usize];
        if step == 1 {
            // A row spans two cache lines at most: its first and last bytes.
            crate::prefetch(row);
            let last = std::mem::size_of::<Recipient>() - 1;
            crate::prefetch_at((row as *const Recipient).cast::<u8>().wrapping_add(last));
        } else {
            crate::prefetch(row.recipient_id.as_bytes());
        }
    }

    /// Looks a link id up, with its position in the links file.
    #[inline]
    pub fn link_at(&self, link_id: &[u8]) -> Option<(u32, &Link)> {
        self.by_link
            .get(link_id)
            .map(|&i| (i, &self.links[i as usize]))
    }

    /// Looks a link id up.
    #[inline]
    pub fn link(&self, link_id: &[u8]) -> Option<&Link> {
        self.by_link.get(link_id).map(|&i| &self.links[i as usize])
    }

    /// All recipients, in manifest order.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// All links, in file order.
    pub fn links(&self) -> &[Link] {
        &self.links
    }
}

/// Opens a CSV file with a header row; rows may have extra columns.
pub(crate) fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    // Read 64 KB at a time, not csv's 8 KB: a manifest of 300,000 rows
    // (20 MB) took 2,500 reads, and its load is what ingest waits on first.
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(f))
}

/// A problem at a line of a file.
pub(crate) fn problem(file: &Path, line: u64, reason: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Checks that a CSV header starts with the expected columns.
pub(crate) fn check_header<R: std::io::Read>(
    path: &Path,
    rdr: &mut csv::Reader<R>,
    expected: &[&str],
) -> Result<Vec<String>> {
    let headers = rdr
        .headers()
        .map_err(|e| Error::Invalid(vec![problem(path, 1, format!("unreadable header: {e}"))]))?;
    let got: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
    let ok = got.len() >= expected.len() && got.iter().zip(expected).all(|(g, e)| g == e);
    if !ok {
        return Err(Error::Invalid(vec![problem(
            path,
            1,
            format!(
                "header must start with {}, found {}",
                expected.join(","),
                got.join(",")
            ),
        )]));
    }
    Ok(got)
}

fn read_manifest_csv(path: &Path, problems: &mut Vec<Problem>) -> Result<Vec<Recipient>> {
    let mut rdr = open_csv(path)?;
    let expected = ["token", "campaign_id", "recipient_id", "variant", "sent_at"];
    let columns = ManifestColumns::of(&check_header(path, &mut rdr, &expected)?);
    let start = problems.len();
    let rows = manifest_rows(rdr, columns, path, problems);
    name_lines(path, &mut problems[start..]);
    Ok(rows)
}

/// Where a manifest's optional columns are.
#[derive(Debug, Clone, Copy)]
struct ManifestColumns {
    tracked: Option<usize>,
    count: Option<usize>,
}

impl ManifestColumns {
    fn of(header: &[String]) -> Self {
        // Found by name: manifests minted before them lack them.
        ManifestColumns {
            tracked: header.iter().position(|h| h == "tracked"),
            count: header.iter().position(|h| h == "recipients"),
        }
    }
}

/// Where a CSV record starts, as its problems carry it until
/// [`name_lines`] replaces it by the record's line: csv's own line of a
/// record is where it began looking for it, which is the blank line before
/// it, or in a file with CRLF line ends (a spreadsheet's export), the line
/// before.
pub(crate) fn record_at(pos: Option<&csv::Position>, last: u64) -> u64 {
    pos.map_or(last, |p| p.byte())
}

/// [`record_at`] of a row read or not.
pub(crate) fn row_at(row: &csv::Result<csv::StringRecord>, last: u64) -> u64 {
    match row {
        Ok(r) => record_at(r.position(), last),
        Err(e) => record_at(e.position(), last),
    }
}

/// Replaces the byte offsets that `problems` of CSV file `path` carry as
/// their lines ([`record_at`], ascending) by the lines of the records
/// there, counted in the file: one more read of it, only when something
/// is wrong.
pub(crate) fn name_lines(path: &Path, problems: &mut [Problem]) {
    if problems.is_empty() {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        // Read a moment ago: a file gone now is wrong as a whole.
        problems.iter_mut().for_each(|p| p.line = 0);
        return;
    };
    let (mut at, mut line) = (0usize, 1u64);
    for p in problems {
        let mut start = (p.line as usize).min(bytes.len());
        if start < at {
            (at, line) = (0, 1);
        }
        // The record begins past any line ends the reader skipped to it.
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        line += memchr::memchr_iter(b'\n', &bytes[at..start]).count() as u64;
        at = start;
        p.line = line;
    }
}

/// The recipients of a manifest's rows; every bad row goes to `problems`.
fn manifest_rows<R: std::io::Read>(
    mut rdr: csv::Reader<R>,
    columns: ManifestColumns,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<Recipient> {
    let mut names = Names::default();
    let (col_tracked, col_count) = (columns.tracked, columns.count);
    // Rows of a campaign share their send time: parsed once a run of them.
    let mut last_sent: Option<(String, i64)> = None;
    let mut out = Vec::new();
    // One record read into over and over: a row allocates only what it keeps.
    let mut rec = csv::StringRecord::new();
    // Problems carry their record's byte until `name_lines`.
    let mut at = 0;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                at = record_at(e.position(), at);
                problems.push(problem(path, at, format!("unreadable row: {e}")));
                // A read that failed would fail again: nothing more to take.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        at = record_at(rec.position(), at);
        if rec.len() < 5 {
            problems.push(problem(
                path,
                at,
                format!("expected 5 columns, found {}", rec.len()),
            ));
            continue;
        }
        let token = CompactString::new(&rec[0]);
        let tracked = match col_tracked.and_then(|c| rec.get(c)).map(str::trim) {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(v) => {
                problems.push(problem(
                    path,
                    at,
                    format!("tracked is {v:?}, not true or false"),
                ));
                continue;
            }
        };
        let recipients = match col_count.and_then(|c| rec.get(c)).map(str::trim) {
            None | Some("") => 1,
            Some(v) => match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    problems.push(problem(
                        path,
                        at,
                        format!("recipients is {v:?}, not a count"),
                    ));
                    continue;
                }
            },
        };
        if tracked && !is_token_shaped(token.as_bytes()) {
            problems.push(problem(
                path,
                at,
                format!("token {token:?} is not 22 base64url characters"),
            ));
            continue;
        }
        let mut bad = false;
        for (what, v) in [("campaign_id", &rec[1]), ("recipient_id", &rec[2])] {
            if what == "recipient_id" && v == AGGREGATE_ID {
                continue;
            }
            if let Err(reason) = check_id(what, v) {
                problems.push(problem(path, at, reason));
                bad = true;
            }
        }
        if !rec[3].is_empty() {
            if let Err(reason) = check_id("variant", &rec[3]) {
                problems.push(problem(path, at, reason));
                bad = true;
            }
        }
        let sent_at = match &last_sent {
            Some((text, t)) if text == &rec[4] => *t,
            _ => match parse_rfc3339_micros(&rec[4]) {
                Ok(t) => {
                    last_sent = Some((rec[4].to_string(), t));
                    t
                }
                Err(reason) => {
                    problems.push(problem(path, at, reason));
                    continue;
                }
            },
        };
        if !bad {
            out.push(Recipient {
                token,
                campaign_id: names.get(&rec[1]),
                recipient_id: CompactString::new(&rec[2]),
                variant: names.get(&rec[3]),
                sent_at,
                tracked,
                recipients,
            });
        }
    }
    out
}

fn read_links_csv(path: &Path, problems: &mut Vec<Problem>) -> Result<Vec<Link>> {
    let mut rdr = open_csv(path)?;
    check_header(path, &mut rdr, &["link_id", "campaign_id", "url"])?;
    let start = problems.len();
    let mut out = Vec::new();
    let mut at = 0;
    for rec in rdr.records() {
        at = row_at(&rec, at);
        match rec {
            Ok(rec) if rec.len() >= 3 => {
                let mut bad = false;
                for (what, v) in [("link_id", &rec[0]), ("campaign_id", &rec[1])] {
                    if let Err(reason) = check_id(what, v) {
                        problems.push(problem(path, at, reason));
                        bad = true;
                    }
                }
                if let Err(reason) = check_url(&rec[2]) {
                    problems.push(problem(path, at, reason));
                    bad = true;
                }
                if !bad {
                    out.push(Link {
                        link_id: rec[0].to_string(),
                        campaign_id: rec[1].to_string(),
                        url: rec[2].to_string(),
                    });
                }
            }
            Ok(rec) => problems.push(problem(
                path,
                at,
                format!("expected 3 columns, found {}", rec.len()),
            )),
            Err(e) => problems.push(problem(path, at, format!("unreadable row: {e}"))),
        }
    }
    name_lines(path, &mut problems[start..]);
    Ok(out)
}

/// Checks a link destination: absolute http(s), and safe to place in an nginx
/// config (no whitespace, quotes, backslashes, `$` or braces, which nginx would
/// interpret; such characters must be percent-encoded).
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("url {url:?} must start with http:// or https://"))?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_end == 0 {
        return Err(format!("url {url:?} has no host"));
    }
    if let Some(c) = url.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '"' | '\'' | '\\' | '$' | '{' | '}' | ';')
    }) {
        return Err(format!(
            "url {url:?} contains {c:?}, which must be percent-encoded"
        ));
    }
    if !url.is_ascii() {
        return Err(format!(
            "url {url:?} contains non-ASCII characters, which must be percent-encoded"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table agrees with the alphabet's definition on every byte.
    #[test]
    fn token_shape_is_base64url_of_22() {
        for c in 0..=255u8 {
            let mut t = *b"AAAAAAAAAAAAAAAAAAAAAA";
            t[7] = c;
            let want = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            assert_eq!(is_token_shaped(&t), want, "byte {c}");
        }
        assert!(!is_token_shaped(b"AAAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_token_shaped(b"AAAAAAAAAAAAAAAAAAAAAAA"));
    }

    /// Tokens that differ in one character only, past the table's load
    /// and wrapping around its end, are all found; others and duplicates
    /// are not taken for them.
    #[test]
    fn token_table_finds_every_token_and_no_other() {
        let key = |i: usize| -> [u8; TOKEN_LEN] {
            let mut k = *b"AAAAAAAAAAAAAAAAAAAAAA";
            let s = format!("{i:06}");
            k[8..14].copy_from_slice(s.as_bytes());
            k
        };
        let n = 5000;
        let mut t = TokenTable::with_capacity(n);
        for i in 0..n {
            assert!(t.insert(key(i), i as u32));
        }
        assert!(!t.insert(key(17), 99), "a duplicate is refused");
        for i in 0..n {
            assert_eq!(t.get(&key(i)).map(|s| s.idx), Some(i as u32));
            t.prefetch(&key(i));
        }
        for i in n..2 * n {
            assert!(t.get(&key(i)).is_none());
        }
    }

    #[test]
    fn tokens_are_22_chars_and_keyed() {
        let a = token_for(b"s1", "c1", "r1");
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(is_token_shaped(a.as_bytes()));
        assert_eq!(a, token_for(b"s1", "c1", "r1"));
        assert_ne!(a, token_for(b"s2", "c1", "r1"));
        assert_ne!(token_for(b"s1", "ab", "c"), token_for(b"s1", "a", "bc"));
    }

    /// Each bad row is named by its own line, blank lines counted (also
    /// right before it, where csv's own count names the blank line) and
    /// with CRLF line ends alike; rows of one campaign share its name; a
    /// send time is each row's own when rows of different times alternate.
    #[test]
    fn manifest_rows_are_read_with_their_lines() {
        for end in ["\n", "\r\n"] {
            manifest_rows_with_line_ends(end);
        }
    }

    fn manifest_rows_with_line_ends(end: &str) {
        let tmp = tempfile::tempdir().unwrap();
        let t = |r: &str| token_for(b"s", "c1", r);
        let csv = format!(
            "token,campaign_id,recipient_id,variant,sent_at\n\
             {},c1,r1,A,2026-09-21T09:00:00Z\n\
             \n\
             {},c1,r2,A,2026-09-21T09:00:00Z\n\
             {},c1,r3,A,not-a-time\n\
             {},c2,r4-at-24-characters-xxxx,,2026-09-22T10:30:00Z\n\
             {},c1,r5.a-recipient-id-longer-than-24-characters,B,2026-09-21T09:00:00Z\n\
             \n\
             \n\
             short,c1\n\
             {},c1 x,r7,A,2026-09-21T09:00:00Z\n",
            t("r1"),
            t("r2"),
            t("r3"),
            t("r4"),
            t("r5"),
            t("r7")
        );
        let path = tmp.path().join("manifest.csv");
        std::fs::write(&path, csv.replace('\n', end)).unwrap();
        let mut problems = Vec::new();
        let rows = read_manifest_csv(&path, &mut problems).unwrap();
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![5, 10, 11], "{end:?}: {problems:?}");
        assert!(problems[0].reason.contains("not-a-time"));
        assert!(problems[1].reason.contains("expected 5 columns"));
        assert!(problems[2].reason.contains("campaign_id"));
        let ids: Vec<&str> = rows.iter().map(|r| r.recipient_id.as_str()).collect();
        // Ids kept inline (24 bytes) and on the heap alike.
        assert_eq!(
            ids,
            [
                "r1",
                "r2",
                "r4-at-24-characters-xxxx",
                "r5.a-recipient-id-longer-than-24-characters"
            ]
        );
        let sent: Vec<i64> = rows.iter().map(|r| r.sent_at).collect();
        let at = |s| parse_rfc3339_micros(s).unwrap();
        assert_eq!(
            sent,
            [
                at("2026-09-21T09:00:00Z"),
                at("2026-09-21T09:00:00Z"),
                at("2026-09-22T10:30:00Z"),
                at("2026-09-21T09:00:00Z")
            ]
        );
        assert!(Arc::ptr_eq(&rows[0].campaign_id, &rows[3].campaign_id));
        assert_eq!(&*rows[2].campaign_id, "c2");
        assert_eq!(&*rows[2].variant, "");
    }

    /// A row's key is who it stands for: campaign and recipient, or for an
    /// aggregate token, campaign, variant and whether it is tracked.
    #[test]
    fn keys_name_who_a_row_stands_for() {
        let mut r = Recipient {
            token: token_for(b"s", "c1", "r1").into(),
            campaign_id: "c1".into(),
            recipient_id: "r1".into(),
            variant: "B".into(),
            sent_at: 0,
            tracked: true,
            recipients: 1,
        };
        assert_eq!(r.key(), ("c1", "r1".into()));
        r.recipient_id = AGGREGATE_ID.into();
        assert_eq!(r.key(), ("c1", "*\0B\0true".into()));
        r.tracked = false;
        assert_eq!(r.key(), ("c1", "*\0B\0false".into()));
    }

    /// The join's prefetch takes a third step, to the id's bytes, only
    /// when some id is too long for its row; either way a token joins to
    /// its row and id.
    #[test]
    fn the_join_prefetches_ids_only_when_they_are_apart() {
        let row = |id: &str| Recipient {
            token: token_for(b"s", "c1", id).into(),
            campaign_id: "c1".into(),
            recipient_id: id.into(),
            variant: "".into(),
            sent_at: 0,
            tracked: true,
            recipients: 1,
        };
        let short = "r".repeat(24);
        let long = format!("{short}-and-more");
        let m = Manifest::new(vec![row("r1"), row(&short)], Vec::new()).unwrap();
        assert_eq!(m.prefetch_steps(), 2);
        let m = Manifest::new(vec![row("r1"), row(&long)], Vec::new()).unwrap();
        assert_eq!(m.prefetch_steps(), 3);
        for id in ["r1", long.as_str()] {
            let t = token_for(b"s", "c1", id);
            for step in 0..m.prefetch_steps() {
                m.prefetch(t.as_bytes(), step);
            }
            assert_eq!(m.recipient(t.as_bytes()).unwrap().recipient_id, id);
        }
    }

    #[test]
    fn ids_and_urls_are_checked() {
        assert!(check_id("x", "abc-1.2_3").is_ok());
        assert!(check_id("x", "").is_err());
        assert!(check_id("x", "a b").is_err());
        assert!(check_id("x", &"a".repeat(65)).is_err());
        assert!(check_url("https://example.com/a?b=1").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("https://example.com/$uri").is_err());
        assert!(check_url("https:///path").is_err());
    }
}
