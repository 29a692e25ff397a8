//! GeoIP and ASN from MaxMind-format databases.
//!
//! Records are read through one permissive shape that covers GeoIP2/GeoLite2
//! City, Country and ASN (`country.iso_code`, `city.names.en`,
//! `autonomous_system_number`) and DB-IP / ip-location-db style records
//! (`country_code`), so any of them can be given. With several databases,
//! each field comes from the first database that has it. An address a
//! database lacks gives nulls, never an error.

use std::collections::BTreeMap;
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
    names: BTreeMap<String, String>,
    #[serde(default)]
    iso_code: Option<String>,
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
        let reader = Reader::from_source(bytes)
            .map_err(|e| Error::Config(format!("{}: not a MaxMind DB file ({e})", path.display())))?;
        Ok(GeoDb { path: path.to_path_buf(), reader })
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
        self.reader.lookup(ip).ok()?.decode::<AnyRecord>().ok().flatten()
    }
}

/// Several databases queried together.
#[derive(Clone, Default)]
pub struct Geo {
    dbs: Vec<Arc<GeoDb>>,
}

impl Geo {
    /// Combines databases; earlier ones win per field.
    pub fn new(dbs: Vec<GeoDb>) -> Self {
        Geo { dbs: dbs.into_iter().map(Arc::new).collect() }
    }

    /// True when no database is loaded.
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Looks an address up in every database.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut out = GeoInfo::default();
        for db in &self.dbs {
            let Some(r) = db.lookup(ip) else { continue };
            let country = r.country.as_ref().and_then(|c| c.iso_code.clone()).or(r.country_code);
            let city = r.city.as_ref().and_then(|c| c.names.get("en").cloned()).or(r.city_name);
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
        city.insert("203.0.113.0".parse().unwrap(), 24, V::Map(vec![
            ("country".into(), V::Map(vec![("iso_code".into(), s("FR"))])),
            ("city".into(), V::Map(vec![("names".into(), V::Map(vec![("en".into(), s("Paris"))]))])),
            ("location".into(), V::Map(vec![("time_zone".into(), s("Europe/Paris"))])),
        ])).unwrap();
        let mut asn = MmdbWriter::new("GeoLite2-ASN", "test");
        asn.insert("203.0.113.0".parse().unwrap(), 16, V::Map(vec![
            ("autonomous_system_number".into(), V::U32(64500)),
            ("autonomous_system_organization".into(), s("Example Net")),
        ])).unwrap();
        let mut dbip = MmdbWriter::new("dbip-country-lite", "test");
        dbip.insert("198.51.100.0".parse().unwrap(), 24, V::Map(vec![("country_code".into(), s("DE"))])).unwrap();
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
        assert_eq!(geo.lookup("198.51.100.1".parse().unwrap()).country.as_deref(), Some("DE"));
        assert_eq!(geo.lookup("192.0.2.1".parse().unwrap()), GeoInfo::default());
        assert!(GeoDb::from_bytes(Path::new("junk"), b"not a db".to_vec()).is_err());
    }
}
