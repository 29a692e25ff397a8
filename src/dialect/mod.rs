//! Log line to [`RawHit`]: the only place that knows log formats.
//!
//! A dialect borrows from the line: fields are slices of the input, and only
//! escaped quoted strings are decoded into owned bytes.

use std::borrow::Cow;
use std::sync::Arc;

pub mod cloud;
pub mod combined;
pub mod fields;
pub mod json;
pub mod log_format;

/// The fields of one access-log line that pixelsift uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHit<'a> {
    /// Client address as logged.
    pub ip: Cow<'a, [u8]>,
    /// Request time, microseconds since the epoch, UTC.
    pub ts: i64,
    /// Request method (`GET`, `HEAD`, ...); empty for a malformed request.
    pub method: Cow<'a, [u8]>,
    /// Request target (path and query) as sent; empty for a malformed request.
    pub target: Cow<'a, [u8]>,
    /// Response status.
    pub status: u16,
    /// Body bytes sent; `None` when logged as `-`.
    pub bytes: Option<u64>,
    /// Referer, unescaped; empty when logged as `-`.
    pub referer: Cow<'a, [u8]>,
    /// User agent, unescaped; empty when logged as `-`.
    pub user_agent: Cow<'a, [u8]>,
    /// X-Forwarded-For as logged, when the format has it; else empty.
    pub xff: Cow<'a, [u8]>,
    /// How long the request took, microseconds (nginx `$request_time`),
    /// when the format has it.
    pub duration_us: Option<i64>,
}

/// Parses a duration in seconds with up to microsecond decimals (`12.345`).
pub fn parse_seconds(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?.trim();
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && (0.0..1e9).contains(&v)).then(|| (v * 1e6).round() as i64)
}

/// Why a line could not be read, naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The line does not have the dialect's shape; names the field where it broke.
    Malformed(&'static str),
    /// The timestamp field is present but not a valid time.
    BadTime,
}

impl LineError {
    /// Human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            LineError::Malformed(field) => format!("does not match the log format at {field}"),
            LineError::BadTime => "the timestamp is not a valid time".to_string(),
        }
    }
}

/// A log format ingest can read. Formats that need a definition (a
/// `log_format`, a JSON field map, W3C `#Fields`) carry it, compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Dialect {
    /// nginx `combined` (and Apache `combined`), extra trailing fields allowed.
    #[default]
    Combined,
    /// A compiled nginx `log_format` (also Apache `common`).
    LogFormat(Arc<log_format::LogFormat>, &'static str),
    /// JSON lines as nginx writes them with `escape=json` (mint's `--log-style json`).
    NginxJson,
    /// JSON lines with fields at mapped paths (Caddy, Cloudflare, `--json-map`).
    Json(Arc<json::JsonMap>),
    /// AWS CloudFront standard logs (W3C, tab-separated).
    CloudFront(Arc<cloud::W3cFields>),
    /// Amazon S3 server access logs.
    S3,
    /// AWS Application Load Balancer access logs.
    Alb,
}

/// One line of each dialect, for `pixelsift formats` and docs.
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    ("combined", "nginx/Apache combined", r#"203.0.113.9 - - [21/Nov/2026:10:00:05 +0100] "GET /o/AbCdEfGhIjKlMnOpQrStUv.gif HTTP/1.1" 200 43 "-" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)""#),
    ("common", "NCSA/Apache common", r#"203.0.113.9 - - [21/Nov/2026:10:00:05 +0100] "GET /o/AbCdEfGhIjKlMnOpQrStUv.gif HTTP/1.1" 200 43"#),
    ("log_format", "any nginx log_format (--log-format or --nginx-conf + --log-format-name)", r#"203.0.113.9 [2026-11-21T10:00:05+01:00] "GET /o/AbCdEfGhIjKlMnOpQrStUv.gif HTTP/1.1" 200 "Mozilla/5.0" "198.51.100.7""#),
    ("nginx-json", "nginx escape=json (mint --log-style json)", r#"{"msec":"1763715605.123","remote_addr":"203.0.113.9","request_method":"GET","request_uri":"/o/AbCdEfGhIjKlMnOpQrStUv.gif","status":"200","body_bytes_sent":"43","http_referer":"","http_user_agent":"Mozilla/5.0"}"#),
    ("caddy", "Caddy JSON access log", r#"{"level":"info","ts":1763715605.12,"logger":"http.log.access","request":{"client_ip":"203.0.113.9","method":"GET","uri":"/o/AbCdEfGhIjKlMnOpQrStUv.gif","headers":{"User-Agent":["Mozilla/5.0"]}},"size":43,"status":200}"#),
    ("cloudflare", "Cloudflare Logpush HTTP requests", r#"{"ClientIP":"203.0.113.9","ClientRequestMethod":"GET","ClientRequestURI":"/o/AbCdEfGhIjKlMnOpQrStUv.gif","EdgeResponseBytes":43,"EdgeResponseStatus":200,"EdgeStartTimestamp":1763715605123000000,"ClientRequestUserAgent":"Mozilla/5.0"}"#),
    ("json", "any JSON lines, with --json-map ts=...,ip=...,uri=...,status=...", r#"{"time":"2026-11-21T09:00:05Z","client":{"ip":"203.0.113.9"},"url":"/o/AbCdEfGhIjKlMnOpQrStUv.gif","code":200}"#),
    ("cloudfront", "AWS CloudFront standard logs (#Fields decides the columns)", "2026-11-21\t09:00:05\tLAX1\t43\t203.0.113.9\tGET\td111111abcdef8.cloudfront.net\t/o/AbCdEfGhIjKlMnOpQrStUv.gif\t200\t-\tMozilla/5.0%20(Macintosh)\t-\t..."),
    ("s3", "Amazon S3 server access logs", r#"79a59df9... bucket [21/Nov/2026:09:00:05 +0000] 203.0.113.9 - 3E57427F3EXAMPLE REST.GET.OBJECT o/x.gif "GET /o/AbCdEfGhIjKlMnOpQrStUv.gif HTTP/1.1" 200 - 43 43 7 - "-" "Mozilla/5.0" - ..."#),
    ("alb", "AWS Application Load Balancer", r#"https 2026-11-21T09:00:05.123456Z app/lb/50dc6c495c0c9188 203.0.113.9:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 43 "GET https://t.example.com:443/o/AbCdEfGhIjKlMnOpQrStUv.gif HTTP/1.1" "Mozilla/5.0" ..."#),
];

impl Dialect {
    /// Reads one line (without its line break).
    #[inline]
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<RawHit<'a>, LineError> {
        match self {
            Dialect::Combined => combined::parse(line),
            Dialect::LogFormat(f, _) => f.parse(line),
            Dialect::NginxJson => json::parse(line),
            Dialect::Json(m) => m.parse_line(line),
            Dialect::CloudFront(f) => f.parse_line(line),
            Dialect::S3 => cloud::parse_s3(line),
            Dialect::Alb => cloud::parse_alb(line),
        }
    }

    /// The dialect's name, as `--format` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Combined => "combined",
            Dialect::LogFormat(_, name) => name,
            Dialect::NginxJson => "nginx-json",
            Dialect::Json(m) => m.name,
            Dialect::CloudFront(_) => "cloudfront",
            Dialect::S3 => "s3",
            Dialect::Alb => "alb",
        }
    }

    /// True for lines that are part of the format but not records
    /// (W3C `#Version:`/`#Fields:` headers).
    pub fn is_header(&self, line: &[u8]) -> bool {
        matches!(self, Dialect::CloudFront(_)) && line.starts_with(b"#")
    }

    /// Looks a dialect up by name (those that need no definition).
    pub fn from_name(name: &str) -> Option<Dialect> {
        Some(match name {
            "combined" => Dialect::Combined,
            "common" => Dialect::common(),
            "nginx-json" => Dialect::NginxJson,
            "caddy" => Dialect::Json(Arc::new(json::JsonMap::caddy())),
            "cloudflare" => Dialect::Json(Arc::new(json::JsonMap::cloudflare())),
            "cloudfront" => Dialect::CloudFront(Arc::new(
                cloud::W3cFields::parse(cloud::CLOUDFRONT_FIELDS)
                    .expect("the documented fields parse"),
            )),
            "s3" => Dialect::S3,
            "alb" => Dialect::Alb,
            _ => return None,
        })
    }

    /// NCSA/Apache `common`.
    pub fn common() -> Dialect {
        Dialect::LogFormat(
            Arc::new(
                log_format::LogFormat::compile(log_format::COMMON, log_format::Escape::Default)
                    .expect("valid"),
            ),
            "common",
        )
    }

    /// Names `from_name` knows, for messages.
    pub const NAMES: [&'static str; 8] = [
        "combined",
        "common",
        "nginx-json",
        "caddy",
        "cloudflare",
        "cloudfront",
        "s3",
        "alb",
    ];

    /// Adapts a dialect to a file's own header (CloudFront's `#Fields:`).
    pub fn for_sample(self, sample: &[u8]) -> Dialect {
        match self {
            Dialect::CloudFront(_) => match cloud::W3cFields::from_sample(sample) {
                Some(Ok(f)) => Dialect::CloudFront(Arc::new(f)),
                _ => self,
            },
            other => other,
        }
    }

    /// Recognises the dialect from the first lines of a file: a W3C header
    /// means CloudFront; otherwise the dialect that reads most of the first
    /// lines wins, in the order of [`Dialect::NAMES`]. `None` if none reads any.
    pub fn detect(sample: &[u8]) -> Option<Dialect> {
        if let Some(Ok(f)) = cloud::W3cFields::from_sample(sample) {
            return Some(Dialect::CloudFront(Arc::new(f)));
        }
        let lines: Vec<&[u8]> = sample
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace) && !l.starts_with(b"#"))
            .take(32)
            .collect();
        let mut best: Option<(usize, Dialect)> = None;
        for name in Dialect::NAMES {
            let d = Dialect::from_name(name).expect("listed");
            let n = lines.iter().filter(|l| d.parse(l).is_ok()).count();
            if n > 0 && best.as_ref().is_none_or(|(b, _)| n > *b) {
                best = Some((n, d));
            }
        }
        best.map(|(_, d)| d)
    }
}

/// Decodes the escapes web servers write inside quoted fields: nginx's
/// `\xHH` (for `"`, `\`, control and non-ASCII bytes) and Apache's `\"`, `\\`.
pub fn unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            let n = raw[i + 1];
            if n == b'x' && i + 3 < raw.len() {
                if let (Some(h), Some(l)) = (hex(raw[i + 2]), hex(raw[i + 3])) {
                    out.push(h << 4 | l);
                    i += 4;
                    continue;
                }
            }
            if n == b'"' || n == b'\\' {
                out.push(n);
                i += 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

/// Value of one hexadecimal digit.
pub fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_nginx_and_apache_forms() {
        assert_eq!(&*unescape(b"plain"), b"plain");
        assert_eq!(&*unescape(b"a\\x22b\\xC3\\xA9"), b"a\"b\xC3\xA9");
        assert_eq!(&*unescape(b"a\\\"b\\\\c"), b"a\"b\\c");
        assert_eq!(&*unescape(b"trailing\\"), b"trailing\\");
    }
}
