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
    #[serde(borrow, alias = "http_x_forwarded_for")]
    xff: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_time: Option<Num<'a>>,
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
    let l: Line<'_> =
        serde_json::from_slice(trimmed).map_err(|_| LineError::Malformed("a JSON object"))?;
    let ts = match (&l.msec, &l.ts) {
        (Some(m), _) => parse_msec(&m.as_str()).ok_or(LineError::BadTime)?,
        (None, Some(t)) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| LineError::BadTime)?
            .timestamp_micros(),
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
            s => Some(
                s.parse::<u64>()
                    .map_err(|_| LineError::Malformed("body_bytes_sent"))?,
            ),
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
        xff: bytes_of(dash_empty(l.xff)),
        duration_us: l
            .request_time
            .as_ref()
            .and_then(|t| super::parse_seconds(t.as_str().as_bytes())),
    })
}

/// nginx `$msec`: seconds since the epoch with milliseconds, `1763629200.123`.
pub(crate) fn parse_msec(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
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
        assert_eq!(
            h.ts,
            chrono::DateTime::parse_from_rfc3339("2026-11-20T09:02:00Z")
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(h.status, 304);
        assert_eq!(
            parse(b"{not json").unwrap_err(),
            LineError::Malformed("a JSON object")
        );
        assert_eq!(
            parse(br#"{"msec":"abc","ip":"1.2.3.4","status":"200"}"#).unwrap_err(),
            LineError::BadTime
        );
        assert_eq!(
            parse(br#"{"msec":"1.5","status":"200"}"#).unwrap_err(),
            LineError::Malformed("remote_addr")
        );
        assert_eq!(parse_msec("1763629320"), Some(1_763_629_320_000_000));
    }
}

/// Where the fields are in a JSON log line: a dotted path per field
/// (`request.headers.User-Agent.0`), for Caddy, Cloudflare Logpush, Fastly
/// JSON and any other JSON log (`--json-map`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonMap {
    /// Name shown for the dialect.
    pub name: &'static str,
    paths: Vec<(Field, Vec<String>)>,
}

/// A field of [`RawHit`] a JSON path can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Time: epoch seconds, ms, µs or ns (number or string), or RFC 3339.
    Ts,
    /// Client address.
    Ip,
    /// Method.
    Method,
    /// Request target (path and query).
    Uri,
    /// Status.
    Status,
    /// Body bytes.
    Bytes,
    /// Referer.
    Referer,
    /// User agent.
    Ua,
    /// X-Forwarded-For.
    Xff,
}

impl JsonMap {
    /// Builds a map from `field=path` items (fields: ts, ip, method, uri, status, bytes, referer, ua, xff).
    pub fn parse(name: &'static str, spec: &str) -> Result<JsonMap, String> {
        let mut paths = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("--json-map {item:?}: expected field=path"))?;
            let f = match k.trim() {
                "ts" | "time" => Field::Ts,
                "ip" => Field::Ip,
                "method" => Field::Method,
                "uri" | "path" => Field::Uri,
                "status" => Field::Status,
                "bytes" => Field::Bytes,
                "referer" => Field::Referer,
                "ua" | "user_agent" => Field::Ua,
                "xff" => Field::Xff,
                other => return Err(format!("--json-map: unknown field {other:?}; use ts, ip, method, uri, status, bytes, referer, ua, xff")),
            };
            paths.push((f, v.trim().split('.').map(str::to_string).collect()));
        }
        for need in [Field::Ts, Field::Ip, Field::Uri, Field::Status] {
            if !paths.iter().any(|(f, _)| *f == need) {
                return Err(format!("--json-map needs a path for {need:?}"));
            }
        }
        Ok(JsonMap { name, paths })
    }

    /// Caddy's JSON access log.
    pub fn caddy() -> JsonMap {
        Self::parse(
            "caddy",
            "ts=ts,ip=request.client_ip,method=request.method,uri=request.uri,status=status,bytes=size,\
             referer=request.headers.Referer.0,ua=request.headers.User-Agent.0,xff=request.headers.X-Forwarded-For.0",
        )
        .expect("valid preset")
    }

    /// Cloudflare Logpush HTTP requests.
    pub fn cloudflare() -> JsonMap {
        Self::parse(
            "cloudflare",
            "ts=EdgeStartTimestamp,ip=ClientIP,method=ClientRequestMethod,uri=ClientRequestURI,status=EdgeResponseStatus,\
             bytes=EdgeResponseBytes,referer=ClientRequestReferer,ua=ClientRequestUserAgent",
        )
        .expect("valid preset")
    }

    fn get<'v>(&self, v: &'v serde_json::Value, f: Field) -> Option<&'v serde_json::Value> {
        let path = &self.paths.iter().find(|(g, _)| *g == f)?.1;
        let mut cur = v;
        for seg in path {
            cur = match (cur, seg.parse::<usize>()) {
                (serde_json::Value::Array(a), Ok(i)) => a.get(i)?,
                (serde_json::Value::Object(o), _) => o.get(seg.as_str())?,
                _ => return None,
            };
        }
        (!cur.is_null()).then_some(cur)
    }

    /// Reads one line. Text before the first `{` (Caddy's console encoder
    /// writes `time<TAB>level<TAB>logger<TAB>message<TAB>{json}`) is skipped,
    /// and its time used when the JSON has none.
    pub fn parse_line<'a>(&self, line: &'a [u8]) -> Result<RawHit<'a>, LineError> {
        let start = memchr::memchr(b'{', line).ok_or(LineError::Malformed("a JSON object"))?;
        let v: serde_json::Value = serde_json::from_slice(&line[start..])
            .map_err(|_| LineError::Malformed("a JSON object"))?;
        if !v.is_object() {
            return Err(LineError::Malformed("a JSON object"));
        }
        let text = |f: Field| -> Cow<'a, [u8]> {
            match self.get(&v, f) {
                Some(serde_json::Value::String(s)) if s != "-" => {
                    Cow::Owned(s.clone().into_bytes())
                }
                Some(serde_json::Value::Number(n)) => Cow::Owned(n.to_string().into_bytes()),
                _ => Cow::Borrowed(&[]),
            }
        };
        let ts = match self.get(&v, Field::Ts) {
            Some(t) => json_time(t).ok_or(LineError::BadTime)?,
            None if start > 0 => console_time(&line[..start]).ok_or(LineError::BadTime)?,
            None => return Err(LineError::Malformed("the time field")),
        };
        let ip = text(Field::Ip);
        if ip.is_empty() {
            return Err(LineError::Malformed("the client address field"));
        }
        let status = text(Field::Status);
        let status = std::str::from_utf8(&status)
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..600).contains(s));
        let bytes = text(Field::Bytes);
        Ok(RawHit {
            ip,
            ts,
            method: text(Field::Method),
            target: Cow::Owned(super::fields::path_of(&text(Field::Uri)).to_vec()),
            status: status.ok_or(LineError::Malformed("the status field"))?,
            bytes: std::str::from_utf8(&bytes)
                .ok()
                .and_then(|b| b.parse().ok()),
            referer: text(Field::Referer),
            user_agent: text(Field::Ua),
            duration_us: None,
            xff: text(Field::Xff),
        })
    }
}

/// A JSON time: a number (or numeric string) of epoch seconds, ms, µs or ns
/// told apart by size, or an RFC 3339 string. Decimals are read as text,
/// not through a float, so microseconds are exact.
fn json_time(v: &serde_json::Value) -> Option<i64> {
    let text = match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return None,
    };
    epoch_decimal(&text).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|t| t.timestamp_micros())
    })
}

fn epoch_decimal(t: &str) -> Option<i64> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 19
    {
        return None;
    }
    let i: i64 = int.parse().ok()?;
    let frac_digits = |n: usize| -> i64 {
        format!("{:0<n$}", &frac[..frac.len().min(n)])
            .parse()
            .unwrap_or(0)
    };
    Some(match i {
        i if i >= 100_000_000_000_000_000 => i / 1000,
        i if i >= 100_000_000_000_000 => i,
        i if i >= 100_000_000_000 => i * 1000 + frac_digits(3),
        i => i * 1_000_000 + frac_digits(6),
    })
}

/// `2023/12/08 20:24:51.157` (Caddy console encoder; UTC assumed).
fn console_time(prefix: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(prefix).ok()?;
    let t = s.split('\t').next()?.trim();
    chrono::NaiveDateTime::parse_from_str(t, "%Y/%m/%d %H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc().timestamp_micros())
}

#[cfg(test)]
mod map_tests {
    use super::*;

    #[test]
    fn caddy_json_and_console_lines() {
        let m = JsonMap::caddy();
        let line = br#"{"level":"info","ts":1646861401.5241024,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41342","client_ip":"203.0.113.5","proto":"HTTP/2.0","method":"GET","host":"localhost","uri":"/o/AAAAAAAAAAAAAAAAAAAAAA.gif","headers":{"User-Agent":["curl/7.82.0"],"Accept":["*/*"]}},"bytes_read":0,"duration":0.000929675,"size":43,"status":200}"#;
        let h = m.parse_line(line).unwrap();
        assert_eq!(h.ts, 1_646_861_401_524_102);
        assert_eq!(&*h.ip, b"203.0.113.5");
        assert_eq!(&*h.target, b"/o/AAAAAAAAAAAAAAAAAAAAAA.gif");
        assert_eq!((h.status, h.bytes), (200, Some(43)));
        assert_eq!(&*h.user_agent, b"curl/7.82.0");
        let console = "2023/12/08 20:24:51.157\tINFO\thttp.log.access\thandled request\t{\"request\": {\"client_ip\": \"127.0.0.1\", \"method\": \"GET\", \"uri\": \"/\", \"headers\": {\"User-Agent\": [\"curl/8.4.0\"]}}, \"size\": 0, \"status\": 308}";
        let h = m.parse_line(console.as_bytes()).unwrap();
        assert_eq!(
            h.ts,
            chrono::DateTime::parse_from_rfc3339("2023-12-08T20:24:51.157Z")
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(h.status, 308);
    }

    #[test]
    fn cloudflare_nanoseconds_and_rfc3339() {
        let m = JsonMap::cloudflare();
        let a = br#"{"ClientIP":"89.163.242.206","ClientRequestHost":"www.theburritobot.com","ClientRequestMethod":"GET","ClientRequestURI":"/static/img/testimonial-hipster.png","EdgeEndTimestamp":1506702504461999900,"EdgeResponseBytes":69045,"EdgeResponseStatus":200,"EdgeStartTimestamp":1506702504433000200,"RayID":"3a6050bcbe121a87"}"#;
        let h = m.parse_line(a).unwrap();
        assert_eq!(h.ts, 1_506_702_504_433_000);
        assert_eq!(
            (&*h.ip, h.status, h.bytes),
            (&b"89.163.242.206"[..], 200, Some(69045))
        );
        let b = br#"{ "ClientIP": "89.163.253.200", "ClientRequestMethod": "GET", "ClientRequestURI": "/x", "EdgeResponseBytes": 69045, "EdgeResponseStatus": 200, "EdgeStartTimestamp": "2023-03-03T05:29:05Z" }"#;
        assert_eq!(
            m.parse_line(b).unwrap().ts,
            chrono::DateTime::parse_from_rfc3339("2023-03-03T05:29:05Z")
                .unwrap()
                .timestamp_micros()
        );
        assert!(JsonMap::parse("json", "ip=a").is_err());
    }
}
