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

/// What the address tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// City name in English.
    pub city: Option<String>,
    /// IANA time zone of the location.
    pub time_zone: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<String>,
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

/// One opened database.
pub struct GeoDb {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

impl GeoDb {
    /// Opens a database file, checking that it is a MaxMind DB.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(crate::error::io_err(path))?;
        Self::from_bytes(path, bytes)
    }

    /// Opens a database from memory; `path` names it in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let reader = Reader::from_source(bytes).map_err(|e| {
            Error::Config(format!("{}: not a MaxMind DB file ({e})", path.display()))
        })?;
        Ok(GeoDb {
            path: path.to_path_buf(),
            reader,
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

    fn lookup(&self, ip: IpAddr) -> Option<AnyRecord> {
        // A corrupt record is treated like a missing one: enrichment is
        // best effort and must never stop an ingest.
        self.reader
            .lookup(ip)
            .ok()?
            .decode::<AnyRecord>()
            .ok()
            .flatten()
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

    /// Looks an address up in every database.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut out = GeoInfo::default();
        for db in &self.dbs {
            let Ok(res) = db.reader.lookup(ip) else {
                continue;
            };
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
            let text =
                |f: GeoField| path_of(f).and_then(|p| res.decode_path::<String>(&p).ok().flatten());
            out.country = out.country.take().or_else(|| text(GeoField::Country));
            out.city = out.city.take().or_else(|| text(GeoField::City));
            out.time_zone = out.time_zone.take().or_else(|| text(GeoField::TimeZone));
            out.as_org = out.as_org.take().or_else(|| text(GeoField::AsOrg));
            if out.asn.is_none() {
                out.asn =
                    path_of(GeoField::Asn).and_then(|p| res.decode_path::<u32>(&p).ok().flatten());
            }
        }
        for db in &self.dbs {
            // The whole-record decode below only fills what is still
            // missing: once the paths of --geoip-map or earlier databases
            // found every field, later databases need not be read.
            if out.country.is_some()
                && out.city.is_some()
                && out.time_zone.is_some()
                && out.asn.is_some()
                && out.as_org.is_some()
            {
                break;
            }
            let Some(r) = db.lookup(ip) else { continue };
            let country = r.country.and_then(|c| c.iso_code).or(r.country_code);
            let city = r
                .city
                .and_then(|c| c.names)
                .and_then(|n| n.en)
                .or(r.city_name);
            out.country = out.country.or(country);
            out.city = out.city.or(city);
            out.time_zone = out.time_zone.or(r.location.and_then(|l| l.time_zone));
            out.asn = out.asn.or(r.autonomous_system_number);
            out.as_org = out.as_org.or(r.autonomous_system_organization);
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(g.country.as_deref(), Some("FR"));
        assert_eq!(g.city.as_deref(), Some("Paris"));
        assert_eq!(g.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(g.asn, Some(64500));
        assert_eq!(g.as_org.as_deref(), Some("Example Net"));
        assert_eq!(
            geo.lookup("198.51.100.1".parse().unwrap())
                .country
                .as_deref(),
            Some("DE")
        );
        assert_eq!(geo.lookup("192.0.2.1".parse().unwrap()), GeoInfo::default());
        assert!(GeoDb::from_bytes(Path::new("junk"), b"not a db".to_vec()).is_err());
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
        assert_eq!(g.country.as_deref(), Some("NL"));
        assert_eq!(g.time_zone.as_deref(), Some("Europe/Amsterdam"));
        assert_eq!(g.asn, Some(64999));
        assert_eq!(g.as_org.as_deref(), Some("Some ISP"));
        assert!(FieldMap::parse(&["planet=x".into()]).is_err());
    }
}
