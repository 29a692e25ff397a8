//! JSON lines: nginx `escape=json` logs such as mint's `--log-style json`.
//!
//! Field names follow nginx's variables (`remote_addr`, `request_method`,
//! `request_uri`, `status`, `body_bytes_sent`, `http_referer`,
//! `http_user_agent`, and `msec` or `time_iso8601`); a few short aliases
//! (`ip`, `method`, `uri`, `ua`...) are accepted too. nginx writes every
//! variable as a string, so numbers are read from strings or numbers.

use std::borrow::Cow;

use serde::Deserialize;

use super::{LineError, RawHit};

#[derive(Deserialize)]
#[serde(untagged)]
enum Num<'a> {
    Int(u64),
    Float(f64),
    Str(#[serde(borrow)] Cow<'a, str>),
}

impl Num<'_> {
    fn as_str(&self) -> Cow<'_, str> {
        match self {
            Num::Int(i) => Cow::Owned(i.to_string()),
            Num::Float(f) => Cow::Owned(f.to_string()),
            Num::Str(s) => Cow::Borrowed(s),
        }
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, alias = "time", alias = "time_iso8601", alias = "timestamp")]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    msec: Option<Num<'a>>,
    #[serde(borrow, alias = "remote_addr", alias = "client_ip")]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "request_method")]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "request_uri")]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Num<'a>>,
    #[serde(borrow, alias = "body_bytes_sent")]
    bytes: Option<Num<'a>>,
    #[serde(borrow, alias = "http_referer")]
    referer: Option<Cow<'a, str>>,
    #[serde(borrow, alias = "http_user_agent", alias = "user_agent")]
    ua: Option<Cow<'a, str>>,
}

fn bytes_of(c: Option<Cow<'_, str>>) -> Cow<'_, [u8]> {
    match c {
        Some(Cow::Borrowed(s)) => Cow::Borrowed(s.as_bytes()),
        Some(Cow::Owned(s)) => Cow::Owned(s.into_bytes()),
        None => Cow::Borrowed(&[]),
    }
}

fn dash_empty(c: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    c.filter(|s| s != "-")
}

/// Parses one JSON log line.
pub fn parse(line: &[u8]) -> Result<RawHit<'_>, LineError> {
    let trimmed = line.trim_ascii();
    if !trimmed.starts_with(b"{") {
        return Err(LineError::Malformed("a JSON object"));
    }
    let l: Line<'_> = serde_json::from_slice(trimmed).map_err(|_| LineError::Malformed("a JSON object"))?;
    let ts = match (&l.msec, &l.ts) {
        (Some(m), _) => parse_msec(&m.as_str()).ok_or(LineError::BadTime)?,
        (None, Some(t)) => chrono::DateTime::parse_from_rfc3339(t).map_err(|_| LineError::BadTime)?.timestamp_micros(),
        (None, None) => return Err(LineError::Malformed("msec or time_iso8601")),
    };
    let ip = l.ip.ok_or(LineError::Malformed("remote_addr"))?;
    let status: u16 = l
        .status
        .as_ref()
        .and_then(|s| s.as_str().parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or(LineError::Malformed("status"))?;
    let bytes = match &l.bytes {
        None => None,
        Some(b) => match b.as_str().as_ref() {
            "-" | "" => None,
            s => Some(s.parse::<u64>().map_err(|_| LineError::Malformed("body_bytes_sent"))?),
        },
    };
    Ok(RawHit {
        ip: bytes_of(Some(ip)),
        ts,
        method: bytes_of(l.method),
        target: bytes_of(l.uri),
        status,
        bytes,
        referer: bytes_of(dash_empty(l.referer)),
        user_agent: bytes_of(dash_empty(l.ua)),
    })
}

/// nginx `$msec`: seconds since the epoch with milliseconds, `1763629200.123`.
fn parse_msec(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 6 {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nginx_escape_json_lines() {
        let line = br#"{"msec":"1763629320.250","remote_addr":"203.0.113.9","request_method":"GET","request_uri":"/o/AAAAAAAAAAAAAAAAAAAAAA.gif","status":"200","body_bytes_sent":"43","http_referer":"","http_user_agent":"Mozilla/5.0 \"q\" \u00e9"}"#;
        let h = parse(line).unwrap();
        assert_eq!(h.ts, 1_763_629_320_250_000);
        assert_eq!(&*h.ip, b"203.0.113.9");
        assert_eq!(&*h.target, b"/o/AAAAAAAAAAAAAAAAAAAAAA.gif");
        assert_eq!(h.status, 200);
        assert_eq!(h.bytes, Some(43));
        assert!(h.referer.is_empty());
        assert_eq!(&*h.user_agent, "Mozilla/5.0 \"q\" é".as_bytes());
    }

    #[test]
    fn iso_time_numbers_and_errors() {
        let h = parse(br#"{"time_iso8601":"2026-11-20T10:02:00+01:00","ip":"::1","method":"HEAD","uri":"/x","status":304,"bytes":0}"#).unwrap();
        assert_eq!(h.ts, chrono::DateTime::parse_from_rfc3339("2026-11-20T09:02:00Z").unwrap().timestamp_micros());
        assert_eq!(h.status, 304);
        assert_eq!(parse(b"{not json").unwrap_err(), LineError::Malformed("a JSON object"));
        assert_eq!(parse(br#"{"msec":"abc","ip":"1.2.3.4","status":"200"}"#).unwrap_err(), LineError::BadTime);
        assert_eq!(parse(br#"{"msec":"1.5","status":"200"}"#).unwrap_err(), LineError::Malformed("remote_addr"));
        assert_eq!(parse_msec("1763629320"), Some(1_763_629_320_000_000));
    }
}
