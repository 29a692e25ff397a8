//! Log line to [`RawHit`]: the only place that knows log formats.
//!
//! A dialect borrows from the line: fields are slices of the input, and only
//! escaped quoted strings are decoded into owned bytes.

use std::borrow::Cow;

pub mod combined;
pub mod json;

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

/// A log format ingest can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// nginx `combined` (and Apache `combined`), extra trailing fields allowed.
    #[default]
    Combined,
    /// JSON lines as nginx writes them with `escape=json` (mint's `--log-style json`).
    NginxJson,
}

impl Dialect {
    /// Reads one line (without its line break).
    #[inline]
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<RawHit<'a>, LineError> {
        match self {
            Dialect::Combined => combined::parse(line),
            Dialect::NginxJson => json::parse(line),
        }
    }

    /// The dialect's name, as `--format` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Combined => "combined",
            Dialect::NginxJson => "nginx-json",
        }
    }

    /// Every dialect, for `--format` and listings.
    pub const ALL: [Dialect; 2] = [Dialect::Combined, Dialect::NginxJson];

    /// Looks a dialect up by name.
    pub fn from_name(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Recognises the dialect from the first lines of a file: the first
    /// line that parses in some dialect decides. `None` if none does.
    pub fn detect(sample: &[u8]) -> Option<Dialect> {
        sample
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(64)
            .find_map(|l| Dialect::ALL.into_iter().find(|d| d.parse(l).is_ok()))
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
