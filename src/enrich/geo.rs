//! GeoIP and ASN from MaxMind-format databases.
//!
//! Records are read through one permissive shape that covers GeoIP2/GeoLite2
//! City, Country and ASN (`country.iso_code`, `city.names.en`,
//! `autonomous_system_number`) and DB-IP / ip-location-db style records
//! (`country_code`), so any of them can be given. With several databases,
//! each field comes from the first database that has it. An address a
//! database lacks gives nulls, never an error.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::Reader;
use serde::Deserialize;

use crate::error::{Error, Result};

/// What the address tells. Its texts are [`intern`]ed, so it is copied
/// and dropped without counting references: with shared `Arc`s, a miss of
/// the address cache cloned and dropped about a dozen of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<&'static str>,
    /// City name in English.
    pub city: Option<&'static str>,
    /// IANA time zone of the location.
    pub time_zone: Option<&'static str>,
    /// The time zone, when chrono-tz knows its name.
    pub tz: Option<chrono_tz::Tz>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<&'static str>,
}

/// The one copy of `s` this process keeps, made on first use and kept to
/// the end. GeoIP texts are few (countries, cities, time zones, network
/// owners: a database's distinct names, decoded once per worker), so
/// keeping them costs at most the size of the names a run meets.
pub fn intern(s: &str) -> &'static str {
    static TEXTS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match texts.get(s) {
        Some(t) => t,
        None => {
            let t: &'static str = Box::leak(s.into());
            texts.insert(t);
            t
        }
    }
}

impl GeoInfo {
    fn complete(&self) -> bool {
        self.country.is_some()
            && self.city.is_some()
            && self.time_zone.is_some()
            && self.asn.is_some()
            && self.as_org.is_some()
    }

    /// Fills what is still missing from `other`.
    fn fill_from(&mut self, other: &GeoInfo) {
        self.country = self.country.or(other.country);
        self.city = self.city.or(other.city);
        if self.time_zone.is_none() {
            self.time_zone = other.time_zone;
            self.tz = other.tz;
        }
        self.asn = self.asn.or(other.asn);
        self.as_org = self.as_org.or(other.as_org);
    }
}

/// What one database record gives: through `--geoip-map`'s paths, and
/// through the built-in shapes. Both are kept so that, across databases,
/// every mapped path still wins over every built-in shape.
#[derive(Default)]
struct Decoded {
    mapped: GeoInfo,
    builtin: GeoInfo,
}

/// A worker's decoded records, per database, keyed by the record's offset
/// in the database's data section. Many addresses share a record (every
/// address of a network, every network of a city), so an address the
/// address cache has not seen costs a walk of each database's tree, not a
/// decode of each record and its strings: on the simulated 4.3M-line send,
/// decoding on every address-cache miss added about 30% to an ingest's CPU.
pub struct GeoCache {
    per_db: Vec<crate::enrich::Slots<Decoded>>,
    /// Records decoded so far (the tests count them).
    decoded: u64,
}

#[derive(Deserialize, Default)]
struct Names {
    #[serde(default)]
    names: Option<English>,
    #[serde(default)]
    iso_code: Option<String>,
}

/// Only the English name of a place. The other languages a database
/// carries (eight in GeoLite2) are skipped, not each made into a string in
/// a map that was then cloned from: on the simulated 4.3M-line send, GeoIP
/// added 38% to an ingest's CPU with the map and about 30% without.
#[derive(Deserialize, Default)]
struct English {
    #[serde(default)]
    en: Option<String>,
}

#[derive(Deserialize, Default)]
struct Location {
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
struct AnyRecord {
    #[serde(default)]
    country: Option<Names>,
    #[serde(default)]
    city: Option<Names>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    city_name: Option<String>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
}

/// The reader's local weekday (0 = Sunday) and hour at `ts` (microseconds
/// since the epoch, UTC) in time zone `tz`.
pub fn local_time(tz: chrono_tz::Tz, ts: i64) -> Option<(u8, u8)> {
    use chrono::{Datelike, TimeZone, Timelike};
    let utc = chrono::DateTime::from_timestamp_micros(ts)?;
    let t = tz.from_utc_datetime(&utc.naive_utc());
    Some((t.weekday().num_days_from_sunday() as u8, t.hour() as u8))
}

/// Quarter hours, in microseconds: every zone's offset today is a multiple
/// of one, and so are the instants its offset changes.
const QUARTER: i64 = 15 * 60 * 1_000_000;

/// [`local_time`] remembered per zone and quarter hour of UTC: hits of a
/// log come in time order and from a few zones, and the zone's rules (a
/// search through its transitions, then the calendar) cost about 1.5% of
/// an ingest's CPU when done for every event.
pub struct LocalTimes {
    slots: Vec<Option<LocalSlot>>,
}

/// A zone, a quarter hour of UTC (its number), and the weekday and hour
/// there.
type LocalSlot = (chrono_tz::Tz, i64, (u8, u8));

impl Default for LocalTimes {
    fn default() -> Self {
        LocalTimes {
            slots: vec![None; 1024],
        }
    }
}

impl LocalTimes {
    /// The same as [`local_time`].
    pub fn get(&mut self, tz: chrono_tz::Tz, ts: i64) -> Option<(u8, u8)> {
        let quarter = ts.div_euclid(QUARTER);
        let i =
            (quarter as usize ^ (tz as usize).wrapping_mul(0x9E37_79B9)) & (self.slots.len() - 1);
        if let Some((z, q, local)) = self.slots[i] {
            if z == tz && q == quarter {
                return Some(local);
            }
        }
        let start = quarter * QUARTER;
        let local = local_time(tz, ts)?;
        // Kept only when the whole quarter hour has one local hour: the
        // offset is a whole number of quarters and the same at both ends
        // (historic offsets in seconds, or a change within it, are not).
        let offset = |t: i64| {
            use chrono::{Offset, TimeZone};
            let utc = chrono::DateTime::from_timestamp_micros(t)?;
            Some(
                tz.offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        };
        let (a, b) = (offset(start), offset(start + QUARTER - 1));
        if a == b && a.is_some_and(|s| s % (15 * 60) == 0) {
            self.slots[i] = Some((tz, quarter, local));
        }
        Some(local)
    }
}

/// One opened database.
pub struct GeoDb {
    path: PathBuf,
    reader: Reader<Arc<[u8]>>,
    /// The search tree, walked here; `None` when the metadata does not
    /// match the file (the crate's own walk is used then).
    tree: Option<Tree>,
}

impl GeoDb {
    /// Opens a database file, checking that it is a MaxMind DB.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
        Self::from_bytes(path, bytes)
    }

    /// Opens a database from memory; `path` names it in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let bytes: Arc<[u8]> = bytes.into();
        let reader = Reader::from_source(Arc::clone(&bytes)).map_err(|e| {
            Error::Config(format!("{}: not a MaxMind DB file ({e})", path.display()))
        })?;
        let meta = reader.metadata();
        let tree = Tree::new(bytes, meta.node_count, meta.record_size, meta.ip_version);
        Ok(GeoDb {
            path: path.to_path_buf(),
            reader,
            tree,
        })
    }

    /// The `database_type` from its metadata.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The file it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn text(s: Option<String>) -> Option<&'static str> {
    s.map(|s| intern(&s))
}

fn with_tz(mut g: GeoInfo) -> GeoInfo {
    g.tz = g.time_zone.and_then(|z| z.parse().ok());
    g
}

/// A database's search tree, walked here instead of by the maxminddb
/// crate. The first 16 bits of an address are one read of a table made
/// when the database is opened, so a walk takes the remaining bits only
/// (about 8 for a /24, instead of 24); and the walk gives the record's
/// place alone, which is all the record cache needs to find it: the
/// crate's lookup, with what it builds for a decode, runs only when the
/// cache has not decoded that record. On the simulated 4.3M-line send the
/// crate's walks were 5% of an ingest's CPU.
struct Tree {
    /// The search tree's nodes: the first `node_count` nodes of the file.
    nodes: Arc<[u8]>,
    node_count: usize,
    /// Bits per record: 24, 28 or 32.
    record_size: u16,
    /// The node after the first 16 bits of an IPv4 address.
    v4_top: Box<[u32]>,
    /// The same for IPv6 addresses; `None` in an IPv4-only database,
    /// which has no IPv6 address.
    v6_top: Option<Box<[u32]>>,
}

/// Bits of an address resolved by a table read.
const TOP_BITS: u32 = 16;

impl Tree {
    /// The tree of a database with this metadata, or `None` when the file
    /// is too short for it or its record size is not one the format has.
    fn new(bytes: Arc<[u8]>, node_count: u32, record_size: u16, ip_version: u16) -> Option<Tree> {
        let node_count = usize::try_from(node_count).ok()?;
        let node_bytes = match record_size {
            24 => 6,
            28 => 7,
            32 => 8,
            _ => return None,
        };
        if node_count.checked_mul(node_bytes)? > bytes.len() || node_count >= u32::MAX as usize {
            return None;
        }
        let mut tree = Tree {
            nodes: bytes,
            node_count,
            record_size,
            v4_top: Box::default(),
            v6_top: None,
        };
        // As the crate does: IPv4 addresses are looked up at ::a.b.c.d in
        // an IPv6 tree, whose first 96 bits are all zero.
        let mut v4_start = 0;
        if ip_version == 6 {
            for _ in 0..96 {
                if v4_start >= node_count {
                    break;
                }
                v4_start = tree.record(v4_start, 0);
            }
            tree.v6_top = Some(tree.top(0));
        }
        tree.v4_top = tree.top(v4_start);
        Some(tree)
    }

    /// Record `bit` (0 left, 1 right) of node `node`, which is below
    /// `node_count`.
    #[inline(always)]
    fn record(&self, node: usize, bit: usize) -> usize {
        let t = &self.nodes[..];
        match self.record_size {
            24 => {
                let o = node * 6 + bit * 3;
                let b = &t[o..o + 3];
                (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize
            }
            28 => {
                let o = node * 7;
                let b = &t[o..o + 7];
                if bit == 0 {
                    (b[3] as usize & 0xF0) << 20
                        | (b[0] as usize) << 16
                        | (b[1] as usize) << 8
                        | b[2] as usize
                } else {
                    (b[3] as usize & 0x0F) << 24
                        | (b[4] as usize) << 16
                        | (b[5] as usize) << 8
                        | b[6] as usize
                }
            }
            _ => {
                let o = node * 8 + bit * 4;
                u32::from_be_bytes([t[o], t[o + 1], t[o + 2], t[o + 3]]) as usize
            }
        }
    }

    /// The node reached from `start` by each 16-bit prefix, or the
    /// record met before the 16th bit.
    fn top(&self, start: usize) -> Box<[u32]> {
        let mut out = vec![0u32; 1 << TOP_BITS].into_boxed_slice();
        self.fill(&mut out, start, 0, 0);
        out
    }

    fn fill(&self, out: &mut [u32], node: usize, depth: u32, prefix: usize) {
        if depth == TOP_BITS || node >= self.node_count {
            let span = TOP_BITS - depth;
            out[prefix << span..(prefix + 1) << span].fill(node as u32);
            return;
        }
        for bit in 0..2 {
            self.fill(out, self.record(node, bit), depth + 1, prefix << 1 | bit);
        }
    }

    /// Where `ip`'s record is (a pointer past the tree, the same for every
    /// address of the record), or `None` when the database has none.
    #[inline]
    fn find(&self, ip: IpAddr) -> Option<u64> {
        let (top, mut bits, rest) = match ip {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                (self.v4_top[(v >> 16) as usize], u128::from(v) << 112, 16)
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (self.v6_top.as_ref()?[(v >> 112) as usize], v << 16, 112)
            }
        };
        let mut node = top as usize;
        for _ in 0..rest {
            if node >= self.node_count {
                break;
            }
            node = self.record(node, (bits >> 127) as usize);
            bits <<= 1;
        }
        // The node count itself marks "no record", and a walk that ran out
        // of bits inside the tree found none either.
        (node > self.node_count).then_some(node as u64)
    }
}

/// Where to find each field in records of other shapes: a dotted path
/// (`location.country_code`, `names.0`) per field, tried before the
/// built-in shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    paths: Vec<(GeoField, Vec<String>)>,
}

/// A field GeoIP enrichment fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoField {
    /// Country code.
    Country,
    /// City name.
    City,
    /// Time zone.
    TimeZone,
    /// AS number.
    Asn,
    /// AS organisation.
    AsOrg,
}

impl FieldMap {
    /// Parses `field=dotted.path` items (fields: country, city, time_zone, asn, as_org).
    pub fn parse(items: &[String]) -> Result<Self> {
        let mut paths = Vec::new();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "--geoip-map {item:?}: expected field=path.in.record"
                ))
            })?;
            let field = match k.trim() {
                "country" => GeoField::Country,
                "city" => GeoField::City,
                "time_zone" => GeoField::TimeZone,
                "asn" => GeoField::Asn,
                "as_org" => GeoField::AsOrg,
                other => {
                    return Err(Error::Config(format!(
                        "--geoip-map: unknown field {other:?}; use country, city, time_zone, asn or as_org"
                    )))
                }
            };
            paths.push((field, v.trim().split('.').map(str::to_string).collect()));
        }
        Ok(FieldMap { paths })
    }

    fn path(&self, f: GeoField) -> Option<&[String]> {
        self.paths
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, p)| p.as_slice())
    }
}

/// Several databases queried together.
#[derive(Clone, Default)]
pub struct Geo {
    dbs: Vec<Arc<GeoDb>>,
    map: FieldMap,
}

impl Geo {
    /// Combines databases; earlier ones win per field.
    pub fn new(dbs: Vec<GeoDb>) -> Self {
        Geo {
            dbs: dbs.into_iter().map(Arc::new).collect(),
            map: FieldMap::default(),
        }
    }

    /// Reads fields from these record paths first.
    pub fn with_map(mut self, map: FieldMap) -> Self {
        self.map = map;
        self
    }

    /// Opens every `*.mmdb` file in a directory, in name order.
    pub fn open_dir(dir: &Path) -> Result<Vec<GeoDb>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(crate::error::io_err(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "mmdb"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Config(format!(
                "{}: no .mmdb files here",
                dir.display()
            )));
        }
        paths.iter().map(|p| GeoDb::open(p)).collect()
    }

    /// The databases, in the order they are asked.
    pub fn databases(&self) -> impl Iterator<Item = &GeoDb> {
        self.dbs.iter().map(|d| d.as_ref())
    }

    /// True when no database is loaded.
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// An empty record cache for one worker.
    pub fn cache(&self) -> GeoCache {
        self.cache_of(RECORDS_PER_DB)
    }

    fn cache_of(&self, records: usize) -> GeoCache {
        GeoCache {
            per_db: self
                .dbs
                .iter()
                .map(|_| crate::enrich::Slots::new(records))
                .collect(),
            decoded: 0,
        }
    }

    /// Looks one address up in every database, without keeping what it
    /// decodes (ingest keeps it: [`Geo::lookup_cached`]).
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        self.lookup_cached(ip, &mut self.cache_of(1))
    }

    /// Looks an address up in every database, decoding each record once
    /// per cache.
    pub fn lookup_cached(&self, ip: IpAddr, cache: &mut GeoCache) -> GeoInfo {
        let mut out = GeoInfo::default();
        let mut builtin = GeoInfo::default();
        for (db, slots) in self.dbs.iter().zip(cache.per_db.iter_mut()) {
            // A corrupt record is treated like a missing one: enrichment is
            // best effort and must never stop an ingest.
            let d = match &db.tree {
                Some(tree) => {
                    let Some(at) = tree.find(ip) else { continue };
                    slots.get_or(&at.to_le_bytes(), || {
                        cache.decoded += 1;
                        match db.reader.lookup(ip) {
                            Ok(res) if res.has_data() => self.decode(&res),
                            _ => Decoded::default(),
                        }
                    })
                }
                None => {
                    let Ok(res) = db.reader.lookup(ip) else {
                        continue;
                    };
                    let Some(offset) = res.offset() else { continue };
                    slots.get_or(&(offset as u64).to_le_bytes(), || {
                        cache.decoded += 1;
                        self.decode(&res)
                    })
                }
            };
            out.fill_from(&d.mapped);
            builtin.fill_from(&d.builtin);
        }
        out.fill_from(&builtin);
        out
    }

    fn decode<S: AsRef<[u8]>>(&self, res: &maxminddb::LookupResult<'_, S>) -> Decoded {
        let mut mapped = GeoInfo::default();
        if !self.map.paths.is_empty() {
            let path_of = |f: GeoField| -> Option<Vec<maxminddb::PathElement<'_>>> {
                self.map.path(f).map(|p| {
                    p.iter()
                        .map(|seg| match seg.parse::<usize>() {
                            Ok(i) => maxminddb::PathElement::Index(i),
                            Err(_) => maxminddb::PathElement::Key(seg.as_str()),
                        })
                        .collect()
                })
            };
            let string = |f: GeoField| {
                path_of(f).and_then(|p| text(res.decode_path::<String>(&p).ok().flatten()))
            };
            mapped = with_tz(GeoInfo {
                country: string(GeoField::Country),
                city: string(GeoField::City),
                time_zone: string(GeoField::TimeZone),
                as_org: string(GeoField::AsOrg),
                asn: path_of(GeoField::Asn).and_then(|p| res.decode_path::<u32>(&p).ok().flatten()),
                tz: None,
            });
        }
        // The whole record is read only for what the paths did not find.
        let builtin = if mapped.complete() {
            GeoInfo::default()
        } else {
            match res.decode::<AnyRecord>() {
                Ok(Some(r)) => with_tz(GeoInfo {
                    country: text(r.country.and_then(|c| c.iso_code).or(r.country_code)),
                    city: text(
                        r.city
                            .and_then(|c| c.names)
                            .and_then(|n| n.en)
                            .or(r.city_name),
                    ),
                    time_zone: text(r.location.and_then(|l| l.time_zone)),
                    asn: r.autonomous_system_number,
                    as_org: text(r.autonomous_system_organization),
                    tz: None,
                }),
                _ => GeoInfo::default(),
            }
        };
        Decoded { mapped, builtin }
    }
}

/// Records kept per database per worker. A GeoLite2 City database has a
/// few hundred thousand distinct records, but a log's addresses cluster in
/// far fewer (the networks of its senders' audiences and of the proxies).
const RECORDS_PER_DB: usize = 4_096;

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    /// One copy of each text: equal texts get one address (which the
    /// events' place columns key rows by), different texts their own.
    #[test]
    fn interned_texts_are_one_copy_each() {
        let a = super::intern(&String::from("Lyon"));
        let b = super::intern(&format!("Ly{}", "on"));
        assert_eq!(a, "Lyon");
        assert!(std::ptr::eq(a, b));
        let c = super::intern("Lyons");
        assert_eq!(c, "Lyons");
        assert!(!std::ptr::eq(a, c));
        assert_eq!(super::intern(""), "");
    }

    /// Local weekday and hour across daylight-saving changes and in zones a
    /// quarter or half an hour off the hour.
    #[test]
    fn local_times_follow_each_zones_rules() {
        let at = |s: &str| crate::manifest::parse_rfc3339_micros(s).unwrap();
        let cases = [
            // 2026-03-08: New York springs forward at 02:00 EST (07:00 UTC).
            (Tz::America__New_York, "2026-03-08T06:59:59Z", (0, 1)),
            (Tz::America__New_York, "2026-03-08T07:00:00Z", (0, 3)),
            // Kolkata is UTC+5:30: a Friday evening in UTC is Saturday there.
            (Tz::Asia__Kolkata, "2026-11-20T18:29:59Z", (5, 23)),
            (Tz::Asia__Kolkata, "2026-11-20T18:30:00Z", (6, 0)),
            // Kathmandu is UTC+5:45.
            (Tz::Asia__Kathmandu, "2026-11-20T18:14:59Z", (5, 23)),
            (Tz::Asia__Kathmandu, "2026-11-20T18:15:00Z", (6, 0)),
            // Lord Howe moves by half an hour: +11 until 2026-04-05 02:00.
            (Tz::Australia__Lord_Howe, "2026-04-04T14:59:59Z", (0, 1)),
            (Tz::Australia__Lord_Howe, "2026-04-04T15:00:00Z", (0, 1)),
            (Tz::Australia__Lord_Howe, "2026-04-04T15:30:00Z", (0, 2)),
        ];
        let mut cache = LocalTimes::default();
        for (tz, t, want) in cases {
            assert_eq!(local_time(tz, at(t)), Some(want), "{tz} at {t}");
            assert_eq!(cache.get(tz, at(t)), Some(want), "{tz} at {t}, cached");
        }
    }

    /// The cache answers as the zone's rules do, minute by minute over two
    /// years in zones with odd offsets and changes (and one still in local
    /// mean time, whose offset is in seconds).
    #[test]
    fn cached_local_times_are_the_zones_own() {
        let zones = [
            Tz::America__New_York,
            Tz::Europe__London,
            Tz::Asia__Kolkata,
            Tz::Asia__Kathmandu,
            Tz::Australia__Lord_Howe,
            Tz::Pacific__Chatham,
            Tz::America__St_Johns,
            Tz::UTC,
        ];
        let mut cache = LocalTimes::default();
        let start = crate::manifest::parse_rfc3339_micros("2025-01-01T00:00:00Z").unwrap();
        let minute = 60 * 1_000_000;
        for k in 0..(2 * 366 * 24 * 60) {
            let ts = start + k * minute + (k % 60) * 1_000_000;
            let tz = zones[(k % zones.len() as i64) as usize];
            assert_eq!(cache.get(tz, ts), local_time(tz, ts), "{tz} at {ts}");
        }
        let lmt = crate::manifest::parse_rfc3339_micros("1880-06-01T00:00:00Z").unwrap();
        for k in 0..(3 * 24 * 60) {
            let ts = lmt + k * minute;
            let tz = Tz::America__New_York;
            assert_eq!(cache.get(tz, ts), local_time(tz, ts), "{tz} at {ts}");
        }
    }

    use super::*;
    use crate::enrich::mmdb_writer::{MmdbValue as V, MmdbWriter};

    fn s(x: &str) -> V {
        V::Str(x.to_string())
    }

    #[test]
    fn reads_city_asn_and_dbip_shapes() {
        let mut city = MmdbWriter::new("GeoLite2-City", "test");
        city.insert(
            "203.0.113.0".parse().unwrap(),
            24,
            V::Map(vec![
                ("country".into(), V::Map(vec![("iso_code".into(), s("FR"))])),
                (
                    "city".into(),
                    V::Map(vec![(
                        "names".into(),
                        // Other languages around the English name, as in
                        // GeoLite2: only "en" is taken.
                        V::Map(vec![
                            ("de".into(), s("Paris (de)")),
                            ("en".into(), s("Paris")),
                            ("zh-CN".into(), s("巴黎")),
                        ]),
                    )]),
                ),
                (
                    "location".into(),
                    V::Map(vec![("time_zone".into(), s("Europe/Paris"))]),
                ),
            ]),
        )
        .unwrap();
        let mut asn = MmdbWriter::new("GeoLite2-ASN", "test");
        asn.insert(
            "203.0.113.0".parse().unwrap(),
            16,
            V::Map(vec![
                ("autonomous_system_number".into(), V::U32(64500)),
                ("autonomous_system_organization".into(), s("Example Net")),
            ]),
        )
        .unwrap();
        let mut dbip = MmdbWriter::new("dbip-country-lite", "test");
        dbip.insert(
            "198.51.100.0".parse().unwrap(),
            24,
            V::Map(vec![("country_code".into(), s("DE"))]),
        )
        .unwrap();
        let geo = Geo::new(vec![
            GeoDb::from_bytes(Path::new("city"), city.to_bytes()).unwrap(),
            GeoDb::from_bytes(Path::new("asn"), asn.to_bytes()).unwrap(),
            GeoDb::from_bytes(Path::new("dbip"), dbip.to_bytes()).unwrap(),
        ]);
        let g = geo.lookup("203.0.113.5".parse().unwrap());
        assert_eq!(g.country, Some("FR"));
        assert_eq!(g.city, Some("Paris"));
        assert_eq!(g.time_zone, Some("Europe/Paris"));
        assert_eq!(g.asn, Some(64500));
        assert_eq!(g.as_org, Some("Example Net"));
        assert_eq!(
            geo.lookup("198.51.100.1".parse().unwrap()).country,
            Some("DE")
        );
        assert_eq!(geo.lookup("192.0.2.1".parse().unwrap()), GeoInfo::default());
        assert!(GeoDb::from_bytes(Path::new("junk"), b"not a db".to_vec()).is_err());
    }

    /// Addresses sharing a record decode it once per cache, and what the
    /// cache gives is what a fresh lookup gives.
    /// The tree walk with its 16-bit table finds, for every address, the
    /// record the crate's own walk finds, at every record size, for
    /// networks shorter and longer than 16 bits, nested ones, and IPv6.
    #[test]
    fn the_tree_walk_finds_the_crates_records() {
        let nets = [
            ("10.0.0.0", 8),
            ("10.1.0.0", 16),
            ("10.1.2.0", 24),
            ("10.1.2.128", 25),
            ("10.1.2.200", 32),
            ("100.64.0.0", 10),
            ("172.16.0.0", 12),
            ("172.16.0.0", 17),
            ("192.0.2.0", 23),
            ("198.51.100.7", 31),
            ("203.0.113.0", 24),
            ("2001:db8::", 32),
            ("2001:db8:1::", 48),
            ("2001:db8:1:2::", 64),
            ("2001:db8:1:2::99", 128),
            ("2a00::", 12),
            ("2a02:26f0::", 29),
        ];
        let mut w = MmdbWriter::new("GeoLite2-City", "test");
        for (i, (net, len)) in nets.iter().enumerate() {
            let at: IpAddr = net.parse().unwrap();
            let label = V::Map(vec![("city_name".into(), s(&format!("place {i}")))]);
            w.insert(at, *len, label).unwrap();
        }
        // Each network's edges and the addresses just past them, then a
        // spread of others (a fixed sequence, so a failure repeats).
        let mut ips: Vec<IpAddr> = Vec::new();
        for (net, len) in nets {
            ips.extend(crate::testing::edges(net.parse().unwrap(), len));
        }
        let mut next = crate::testing::xorshift(0x9e37_79b9_7f4a_7c15);
        for i in 0..40_000u32 {
            let x = next();
            ips.push(match i % 4 {
                0 => IpAddr::V4((x as u32).into()),
                // Near the networks: 10/8, 172.16/12 and 2001:db8::/32.
                1 => IpAddr::V4((0x0a00_0000 | (x as u32 & 0x00ff_ffff)).into()),
                2 => IpAddr::V4((0xac10_0000 | (x as u32 & 0x000f_ffff)).into()),
                _ => IpAddr::V6(
                    ((0x2001_0db8_u128 << 96) | u128::from(x as u32) << 64 | u128::from(x)).into(),
                ),
            });
        }
        for record_size in [24, 28, 32] {
            let bytes = w.to_bytes_with_record_size(record_size);
            let db = GeoDb::from_bytes(Path::new("t"), bytes).unwrap();
            let tree = db.tree.as_ref().expect("a well-formed tree");
            let mut found = 0;
            for &ip in &ips {
                let ours = tree.find(ip).map(|p| p as usize - tree.node_count - 16);
                let theirs = db.reader.lookup(ip).unwrap().offset();
                assert_eq!(ours, theirs, "{ip}, {record_size}-bit records");
                found += usize::from(ours.is_some());
            }
            assert!(
                found > ips.len() / 2,
                "most addresses have a record: {found}"
            );
        }
        // Records too large for a test database, read as the format says:
        // a 28-bit record's top nibble is in the node's middle byte, the
        // left record's in its high half.
        let node = |bytes: &[u8], size| Tree {
            nodes: bytes.into(),
            node_count: 1,
            record_size: size,
            v4_top: Box::default(),
            v6_top: None,
        };
        let t = node(&[0x12, 0x34, 0x56, 0xab, 0x78, 0x9a, 0xbc], 28);
        assert_eq!((t.record(0, 0), t.record(0, 1)), (0x0a12_3456, 0x0b78_9abc));
        let t = node(&[0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54], 24);
        assert_eq!((t.record(0, 0), t.record(0, 1)), (0xfe_dcba, 0x98_7654));
        let t = node(&[0xf1, 2, 3, 4, 0xe5, 6, 7, 8], 32);
        assert_eq!((t.record(0, 0), t.record(0, 1)), (0xf102_0304, 0xe506_0708));
    }

    #[test]
    fn a_record_is_decoded_once_per_cache() {
        let mut city = MmdbWriter::new("GeoLite2-City", "test");
        for (net, cc, tz) in [
            ("203.0.113.0", "FR", "Europe/Paris"),
            ("198.51.100.0", "JP", "Asia/Tokyo"),
        ] {
            city.insert(
                net.parse().unwrap(),
                24,
                V::Map(vec![
                    ("country".into(), V::Map(vec![("iso_code".into(), s(cc))])),
                    ("location".into(), V::Map(vec![("time_zone".into(), s(tz))])),
                ]),
            )
            .unwrap();
        }
        let geo = Geo::new(vec![
            GeoDb::from_bytes(Path::new("city"), city.to_bytes()).unwrap()
        ]);
        let mut cache = geo.cache();
        for round in 0..2 {
            for last in 1..=20u8 {
                for net in ["203.0.113", "198.51.100"] {
                    let ip: IpAddr = format!("{net}.{last}").parse().unwrap();
                    let g = geo.lookup_cached(ip, &mut cache);
                    assert_eq!(g, geo.lookup(ip), "round {round}, {ip}");
                }
            }
        }
        assert_eq!(cache.decoded, 2, "one decode per record");
        let g = geo.lookup_cached("198.51.100.7".parse().unwrap(), &mut cache);
        assert_eq!(g.country, Some("JP"));
        assert_eq!(g.tz, Some(chrono_tz::Asia::Tokyo));
        assert_eq!(
            geo.lookup_cached("192.0.2.1".parse().unwrap(), &mut cache),
            GeoInfo::default()
        );
        assert_eq!(
            cache.decoded, 2,
            "an address without a record decodes nothing"
        );
    }

    #[test]
    fn field_map_reads_other_record_shapes() {
        let mut w = MmdbWriter::new("ip-location-db", "test");
        w.insert(
            "203.0.113.0".parse().unwrap(),
            24,
            V::Map(vec![
                (
                    "loc".into(),
                    V::Map(vec![
                        ("cc".into(), s("NL")),
                        ("tz".into(), s("Europe/Amsterdam")),
                    ]),
                ),
                ("net".into(), V::Array(vec![V::U32(64999), s("Some ISP")])),
            ]),
        )
        .unwrap();
        let map = FieldMap::parse(&[
            "country=loc.cc".into(),
            "time_zone=loc.tz".into(),
            "asn=net.0".into(),
            "as_org=net.1".into(),
        ])
        .unwrap();
        let geo = Geo::new(vec![
            GeoDb::from_bytes(Path::new("x"), w.to_bytes()).unwrap()
        ])
        .with_map(map);
        let g = geo.lookup("203.0.113.9".parse().unwrap());
        assert_eq!(g.country, Some("NL"));
        assert_eq!(g.time_zone, Some("Europe/Amsterdam"));
        assert_eq!(g.asn, Some(64999));
        assert_eq!(g.as_org, Some("Some ISP"));
        assert!(FieldMap::parse(&["planet=x".into()]).is_err());
    }
}
