//! The bundled demo: fixtures compiled into the binary, so `pixelsift demo`
//! works anywhere with no network.
//!
//! The GeoIP databases are built here with [`crate::enrich::mmdb_writer`]
//! over documentation address ranges, so no real geolocation data ships.

use std::path::{Path, PathBuf};

use crate::enrich::mmdb_writer::{MmdbValue as V, MmdbWriter};
use crate::error::{io_err, Result};

/// Recipients of the demo campaigns.
pub const RECIPIENTS: &str = include_str!("../fixtures/demo/recipients.csv");
/// Links of the demo campaigns.
pub const LINKS: &str = include_str!("../fixtures/demo/links.csv");
/// The demo's public HMAC secret (never use it for real mail).
pub const SECRET: &str = include_str!("../fixtures/demo/secret.key");
/// The hand-counted access log (see `fixtures/demo/generate.py`).
pub const ACCESS_LOG: &str = include_str!("../fixtures/demo/access.log");

/// Where [`write_fixtures`] put things.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    /// recipients.csv
    pub recipients: PathBuf,
    /// links.csv
    pub links: PathBuf,
    /// secret.key
    pub secret: PathBuf,
    /// access.log
    pub access_log: PathBuf,
    /// Fixture GeoIP City database.
    pub geoip_city: PathBuf,
    /// Fixture GeoIP ASN database.
    pub geoip_asn: PathBuf,
}

fn s(x: &str) -> V {
    V::Str(x.to_string())
}

/// A City database record (GeoLite2 shape).
pub(crate) fn city(iso: &str, country: &str, city: &str, tz: &str) -> V {
    V::Map(vec![
        (
            "country".into(),
            V::Map(vec![
                ("iso_code".into(), s(iso)),
                ("names".into(), V::Map(vec![("en".into(), s(country))])),
            ]),
        ),
        (
            "city".into(),
            V::Map(vec![("names".into(), V::Map(vec![("en".into(), s(city))]))]),
        ),
        ("location".into(), V::Map(vec![("time_zone".into(), s(tz))])),
    ])
}

/// An ASN database record (GeoLite2 shape).
pub(crate) fn asn(n: u32, org: &str) -> V {
    V::Map(vec![
        ("autonomous_system_number".into(), V::U32(n)),
        ("autonomous_system_organization".into(), s(org)),
    ])
}

/// A City database over documentation ranges (and Apple's 17.0.0.0/8).
pub fn geoip_city_fixture() -> Vec<u8> {
    let mut w = MmdbWriter::new(
        "GeoLite2-City",
        "pixelsift fixture: documentation ranges only",
    );
    let rows = [
        (
            "203.0.113.0",
            24,
            city("FR", "France", "Paris", "Europe/Paris"),
        ),
        (
            "198.51.100.0",
            24,
            city("DE", "Germany", "Berlin", "Europe/Berlin"),
        ),
        (
            "192.0.2.0",
            24,
            city("US", "United States", "Ashburn", "America/New_York"),
        ),
        (
            "17.0.0.0",
            8,
            city("US", "United States", "Cupertino", "America/Los_Angeles"),
        ),
        (
            "2001:db8::",
            32,
            city("NL", "Netherlands", "Amsterdam", "Europe/Amsterdam"),
        ),
    ];
    for (ip, len, v) in rows {
        w.insert(ip.parse().expect("fixture address"), len, v)
            .expect("fixture prefix");
    }
    w.to_bytes()
}

/// An ASN database over documentation ranges (and Apple's 17.0.0.0/8).
pub fn geoip_asn_fixture() -> Vec<u8> {
    let mut w = MmdbWriter::new(
        "GeoLite2-ASN",
        "pixelsift fixture: documentation ranges only",
    );
    let rows = [
        ("203.0.113.0", 24, asn(64500, "Example Broadband")),
        ("198.51.100.0", 24, asn(64501, "Example Mobile")),
        ("192.0.2.0", 24, asn(64502, "Example Hosting")),
        ("17.0.0.0", 8, asn(714, "Apple Inc.")),
    ];
    for (ip, len, v) in rows {
        w.insert(ip.parse().expect("fixture address"), len, v)
            .expect("fixture prefix");
    }
    w.to_bytes()
}

/// Writes the demo inputs into `dir`.
pub fn write_fixtures(dir: &Path) -> Result<DemoFiles> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let f = DemoFiles {
        recipients: dir.join("recipients.csv"),
        links: dir.join("links.csv"),
        secret: dir.join("secret.key"),
        access_log: dir.join("access.log"),
        geoip_city: dir.join("fixture-city.mmdb"),
        geoip_asn: dir.join("fixture-asn.mmdb"),
    };
    for (path, bytes) in [
        (&f.recipients, RECIPIENTS.as_bytes().to_vec()),
        (&f.links, LINKS.as_bytes().to_vec()),
        (&f.secret, SECRET.as_bytes().to_vec()),
        (&f.access_log, ACCESS_LOG.as_bytes().to_vec()),
        (&f.geoip_city, geoip_city_fixture()),
        (&f.geoip_asn, geoip_asn_fixture()),
    ] {
        std::fs::write(path, bytes).map_err(io_err(path))?;
    }
    Ok(f)
}
