//! nginx `log_format`, compiled once into a program of literals and
//! variables, then run against each line.
//!
//! A variable's value ends where the literal after it begins (nginx escapes
//! `"` inside values in `default` and `json` escaping, so a quoted value
//! ends at the first quote); `$time_local` has a fixed width. Two
//! variables with nothing between them cannot be told apart, except the
//! common `$uri$is_args$args`, read as the request URI.

use std::borrow::Cow;

use super::{unescape, LineError, RawHit};

/// How nginx escaped variable values (`escape=` of `log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// `"`, `\`, control and non-ASCII bytes as `\xHH`.
    #[default]
    Default,
    /// JSON string escapes.
    Json,
    /// Nothing escaped.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    RemoteAddr,
    TimeLocal,
    TimeIso8601,
    Msec,
    Request,
    RequestMethod,
    RequestUri,
    Uri,
    Args,
    Status,
    BodyBytesSent,
    BytesSent,
    Referer,
    UserAgent,
    XForwardedFor,
    RequestTime,
    Other(String),
}

impl Var {
    fn from_name(n: &str) -> Var {
        match n {
            "remote_addr" => Var::RemoteAddr,
            "time_local" => Var::TimeLocal,
            "time_iso8601" => Var::TimeIso8601,
            "msec" => Var::Msec,
            "request" => Var::Request,
            "request_method" => Var::RequestMethod,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "status" => Var::Status,
            "body_bytes_sent" => Var::BodyBytesSent,
            "bytes_sent" => Var::BytesSent,
            "http_referer" => Var::Referer,
            "http_user_agent" => Var::UserAgent,
            "http_x_forwarded_for" => Var::XForwardedFor,
            "request_time" => Var::RequestTime,
            other => Var::Other(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(Vec<u8>),
    Var(Var),
}

/// A compiled `log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    segs: Vec<Seg>,
    escape: Escape,
    /// The format string as given, for messages.
    pub source: String,
}

/// nginx's predefined `combined`.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// NCSA/Apache `common`: `combined` without referer and user agent.
pub const COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;

impl LogFormat {
    /// Compiles a `log_format` string.
    pub fn compile(format: &str, escape: Escape) -> Result<LogFormat, String> {
        let b = format.as_bytes();
        let mut segs: Vec<Seg> = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                let (name, next) = if b.get(i + 1) == Some(&b'{') {
                    let end = format[i + 2..]
                        .find('}')
                        .ok_or_else(|| format!("unclosed ${{ at byte {i}"))?
                        + i
                        + 2;
                    (&format[i + 2..end], end + 1)
                } else {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    (&format[i + 1..j], j)
                };
                if name.is_empty() {
                    lit.push(b'$');
                    i += 1;
                    continue;
                }
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                segs.push(Seg::Var(Var::from_name(name)));
                i = next;
            } else {
                lit.push(b[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit));
        }
        // $uri$is_args$args is how configs spell the request URI.
        let mut merged: Vec<Seg> = Vec::new();
        let mut k = 0;
        while k < segs.len() {
            if k + 2 < segs.len()
                && segs[k] == Seg::Var(Var::Uri)
                && segs[k + 1] == Seg::Var(Var::Other("is_args".into()))
                && segs[k + 2] == Seg::Var(Var::Args)
            {
                merged.push(Seg::Var(Var::RequestUri));
                k += 3;
            } else {
                merged.push(segs[k].clone());
                k += 1;
            }
        }
        for w in merged.windows(2) {
            if let [Seg::Var(a), Seg::Var(b)] = w {
                if *a != Var::TimeLocal {
                    return Err(format!("variables {a:?} and {b:?} follow each other with nothing between: their values cannot be told apart"));
                }
            }
        }
        let has = |v: &[Var]| {
            merged
                .iter()
                .any(|s| matches!(s, Seg::Var(x) if v.contains(x)))
        };
        let mut missing = Vec::new();
        if !has(&[Var::TimeLocal, Var::TimeIso8601, Var::Msec]) {
            missing.push("a time ($time_local, $time_iso8601 or $msec)");
        }
        if !has(&[Var::RemoteAddr, Var::XForwardedFor]) {
            missing.push("the client address ($remote_addr or $http_x_forwarded_for)");
        }
        if !has(&[Var::Request, Var::RequestUri, Var::Uri]) {
            missing.push("the request ($request, $request_uri or $uri)");
        }
        if !has(&[Var::Status]) {
            missing.push("$status");
        }
        if !missing.is_empty() {
            return Err(format!("the format lacks {}", missing.join(", ")));
        }
        Ok(LogFormat {
            segs: merged,
            escape,
            source: format.to_string(),
        })
    }

    /// Reads one line.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<RawHit<'a>, LineError> {
        let mut pos = 0;
        let mut hit = RawHit {
            ip: Cow::Borrowed(&[]),
            ts: i64::MIN,
            method: Cow::Borrowed(&[]),
            target: Cow::Borrowed(&[]),
            status: 0,
            bytes: None,
            referer: Cow::Borrowed(&[]),
            user_agent: Cow::Borrowed(&[]),
            xff: Cow::Borrowed(&[]),
            duration_us: None,
        };
        let mut uri: &[u8] = &[];
        let mut args: &[u8] = &[];
        for (k, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Lit(l) => {
                    if !line[pos..].starts_with(l) {
                        return Err(LineError::Malformed(self.field_after(k)));
                    }
                    pos += l.len();
                }
                Seg::Var(v) => {
                    let end = if *v == Var::TimeLocal {
                        pos + 26
                    } else {
                        match self.segs.get(k + 1) {
                            Some(Seg::Lit(l)) => {
                                pos + memchr::memmem::find(&line[pos..], l)
                                    .ok_or(LineError::Malformed(var_name(v)))?
                            }
                            _ => line.len(),
                        }
                    };
                    if end > line.len() {
                        return Err(LineError::Malformed(var_name(v)));
                    }
                    let raw = &line[pos..end];
                    pos = end;
                    let val = || self.unescape(raw);
                    match v {
                        Var::RemoteAddr => hit.ip = Cow::Borrowed(raw),
                        Var::TimeLocal => {
                            hit.ts =
                                super::combined::parse_time_local(raw).ok_or(LineError::BadTime)?
                        }
                        Var::TimeIso8601 => {
                            hit.ts = super::fields::iso8601(raw).ok_or(LineError::BadTime)?
                        }
                        Var::Msec => {
                            hit.ts = super::json::parse_msec(
                                std::str::from_utf8(raw).map_err(|_| LineError::BadTime)?,
                            )
                            .ok_or(LineError::BadTime)?
                        }
                        Var::Request => {
                            let (m, t) = super::combined::split_request(raw);
                            hit.method = Cow::Borrowed(m);
                            hit.target = Cow::Borrowed(t);
                        }
                        Var::RequestMethod => hit.method = Cow::Borrowed(raw),
                        Var::RequestUri => hit.target = Cow::Borrowed(raw),
                        Var::Uri => uri = raw,
                        Var::Args => args = raw,
                        Var::Status => {
                            hit.status =
                                super::fields::status(raw).ok_or(LineError::Malformed("status"))?
                        }
                        Var::BodyBytesSent | Var::BytesSent => {
                            if hit.bytes.is_none() || *v == Var::BodyBytesSent {
                                hit.bytes = match raw {
                                    b"-" => None,
                                    b => Some(
                                        super::fields::number(b)
                                            .ok_or(LineError::Malformed(var_name(v)))?,
                                    ),
                                };
                            }
                        }
                        Var::Referer => hit.referer = dash(val()),
                        Var::UserAgent => hit.user_agent = dash(val()),
                        Var::XForwardedFor => hit.xff = dash(val()),
                        Var::RequestTime => hit.duration_us = super::parse_seconds(raw),
                        Var::Other(_) => {}
                    }
                }
            }
        }
        if pos != line.len() {
            return Err(LineError::Malformed("end of line"));
        }
        if hit.ts == i64::MIN {
            return Err(LineError::BadTime);
        }
        if hit.target.is_empty() && !uri.is_empty() {
            hit.target = if args.is_empty() || args == b"-" {
                Cow::Borrowed(uri)
            } else {
                Cow::Owned([uri, b"?", args].concat())
            };
        }
        if hit.ip.is_empty() {
            hit.ip = Cow::Owned(
                hit.xff
                    .split(|&c| c == b',')
                    .next()
                    .unwrap_or(&[])
                    .trim_ascii()
                    .to_vec(),
            );
        }
        Ok(hit)
    }

    fn unescape<'a>(&self, raw: &'a [u8]) -> Cow<'a, [u8]> {
        match self.escape {
            Escape::Default => unescape(raw),
            Escape::None => Cow::Borrowed(raw),
            Escape::Json => json_unescape(raw),
        }
    }

    fn field_after(&self, k: usize) -> &'static str {
        match self.segs.get(k + 1) {
            Some(Seg::Var(v)) => var_name(v),
            _ => "a literal of the format",
        }
    }
}

fn dash(v: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if &*v == b"-" {
        Cow::Borrowed(&[])
    } else {
        v
    }
}

fn var_name(v: &Var) -> &'static str {
    match v {
        Var::RemoteAddr => "$remote_addr",
        Var::TimeLocal => "$time_local",
        Var::TimeIso8601 => "$time_iso8601",
        Var::Msec => "$msec",
        Var::Request => "$request",
        Var::RequestMethod => "$request_method",
        Var::RequestUri => "$request_uri",
        Var::Uri => "$uri",
        Var::Args => "$args",
        Var::Status => "$status",
        Var::BodyBytesSent => "$body_bytes_sent",
        Var::BytesSent => "$bytes_sent",
        Var::Referer => "$http_referer",
        Var::UserAgent => "$http_user_agent",
        Var::XForwardedFor => "$http_x_forwarded_for",
        Var::RequestTime => "$request_time",
        Var::Other(_) => "a variable",
    }
}

/// Decodes JSON string escapes (`escape=json`).
pub fn json_unescape(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    match serde_json::from_slice::<String>(&quoted) {
        Ok(s) => Cow::Owned(s.into_bytes()),
        Err(_) => Cow::Borrowed(raw),
    }
}

/// Finds `log_format NAME ...;` in an nginx config and returns its format
/// string (quoted parts concatenated) and escaping.
pub fn from_nginx_conf(conf: &str, name: &str) -> Result<(String, Escape), String> {
    let b = conf.as_bytes();
    let mut i = 0;
    let mut directive: Vec<String> = Vec::new();
    let mut found = Vec::new();
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'\'' | b'"' => {
                let q = b[i];
                let mut s = Vec::new();
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        // nginx keeps backslashes except before the quote itself.
                        if b[i + 1] == q {
                            s.push(q);
                            i += 2;
                            continue;
                        }
                    }
                    s.push(b[i]);
                    i += 1;
                }
                i += 1;
                directive.push(String::from_utf8_lossy(&s).into_owned());
            }
            b';' | b'{' | b'}' => {
                if directive.first().map(String::as_str) == Some("log_format")
                    && directive.get(1).map(String::as_str) == Some(name)
                {
                    found = directive.clone();
                }
                directive.clear();
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len()
                    && !b[i].is_ascii_whitespace()
                    && !matches!(b[i], b';' | b'{' | b'}' | b'\'' | b'"')
                {
                    i += 1;
                }
                directive.push(conf[start..i].to_string());
            }
        }
    }
    if found.is_empty() {
        return Err(format!("no `log_format {name}` in the config"));
    }
    let mut escape = Escape::Default;
    let mut parts = Vec::new();
    for t in &found[2..] {
        match t.strip_prefix("escape=") {
            Some("json") => escape = Escape::Json,
            Some("none") => escape = Escape::None,
            Some("default") => escape = Escape::Default,
            Some(other) => return Err(format!("log_format {name}: unknown escape={other}")),
            None => parts.push(t.as_str()),
        }
    }
    Ok((parts.concat(), escape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_format_with_iso_time_and_xff() {
        let f = LogFormat::compile(
            r#"$remote_addr [$time_iso8601] "$request_method $uri$is_args$args" $status $bytes_sent "$http_user_agent" "$http_x_forwarded_for" $request_time"#,
            Escape::Default,
        )
        .unwrap();
        let h = f.parse(br#"10.0.0.1 [2026-11-20T10:02:00+01:00] "GET /o/x.gif?a=1" 200 312 "UA \x22q\x22" "203.0.113.9, 10.0.0.1" 0.001"#).unwrap();
        assert_eq!(&*h.ip, b"10.0.0.1");
        assert_eq!(
            h.ts,
            chrono::DateTime::parse_from_rfc3339("2026-11-20T09:02:00Z")
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(&*h.method, b"GET");
        assert_eq!(&*h.target, b"/o/x.gif?a=1");
        assert_eq!((h.status, h.bytes), (200, Some(312)));
        assert_eq!(&*h.user_agent, b"UA \"q\"");
        assert_eq!(&*h.xff, b"203.0.113.9, 10.0.0.1");
    }

    #[test]
    fn combined_and_common_as_formats() {
        let f = LogFormat::compile(COMBINED, Escape::Default).unwrap();
        let line = br#"203.0.113.9 - - [21/Nov/2026:10:00:05 +0100] "GET /o/AAAAAAAAAAAAAAAAAAAAAA.gif HTTP/1.1" 200 43 "-" "Mozilla/5.0 (x)""#;
        assert_eq!(
            f.parse(line).unwrap(),
            super::super::combined::parse(line).unwrap()
        );
        let c = LogFormat::compile(COMMON, Escape::Default).unwrap();
        let h = c.parse(br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#).unwrap();
        assert_eq!(&*h.target, b"/apache_pb.gif");
        assert!(h.user_agent.is_empty());
        assert_eq!(
            c.parse(b"127.0.0.1 - frank [bad").unwrap_err(),
            LineError::Malformed("$time_local")
        );
    }

    #[test]
    fn refuses_formats_it_cannot_read() {
        assert!(LogFormat::compile("$remote_addr $status", Escape::Default)
            .unwrap_err()
            .contains("a time"));
        assert!(LogFormat::compile(
            "$remote_addr$status [$time_local] $request",
            Escape::Default
        )
        .unwrap_err()
        .contains("nothing between"));
    }

    #[test]
    fn reads_log_format_from_a_config() {
        let conf = r#"
            http {
                # a comment with log_format main 'x';
                log_format  main  escape=json '{"t":"$msec","ip":"$remote_addr",'
                                  '"r":"$request","s":$status,"ua":"$http_user_agent"}';
                access_log /var/log/nginx/access.log main;
            }"#;
        let (fmt, esc) = from_nginx_conf(conf, "main").unwrap();
        assert_eq!(esc, Escape::Json);
        assert_eq!(
            fmt,
            r#"{"t":"$msec","ip":"$remote_addr","r":"$request","s":$status,"ua":"$http_user_agent"}"#
        );
        let f = LogFormat::compile(&fmt, esc).unwrap();
        let h = f.parse(br#"{"t":"1763629320.250","ip":"203.0.113.9","r":"GET /c/x/y HTTP/1.1","s":302,"ua":"A \"b\" \u00e9"}"#).unwrap();
        assert_eq!(&*h.user_agent, "A \"b\" é".as_bytes());
        assert_eq!(h.status, 302);
        assert!(from_nginx_conf(conf, "other").is_err());
    }
}
