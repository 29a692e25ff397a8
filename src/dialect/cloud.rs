//! CDN and cloud logs: AWS CloudFront standard logs (W3C, columns from the
//! `#Fields:` header), S3 server access logs and ALB access logs.

use std::borrow::Cow;

use super::fields::{dash, iso8601, number, path_of, split, status};
use super::{LineError, RawHit};

/// The columns of a W3C log (CloudFront), from its `#Fields:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W3cFields {
    names: Vec<String>,
    date: usize,
    time: usize,
    ip: usize,
    method: usize,
    stem: usize,
    query: Option<usize>,
    status: usize,
    bytes: Option<usize>,
    referer: Option<usize>,
    ua: Option<usize>,
    xff: Option<usize>,
}

/// CloudFront's documented standard log fields, for files without a header.
pub const CLOUDFRONT_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

impl W3cFields {
    /// Reads the field list (the text after `#Fields:`).
    pub fn parse(list: &str) -> Result<W3cFields, String> {
        let names: Vec<String> = list.split_whitespace().map(str::to_string).collect();
        let at = |n: &str| names.iter().position(|x| x == n);
        let need = |n: &str| at(n).ok_or_else(|| format!("#Fields lacks {n}"));
        Ok(W3cFields {
            date: need("date")?,
            time: need("time")?,
            ip: need("c-ip")?,
            method: need("cs-method")?,
            stem: need("cs-uri-stem")?,
            query: at("cs-uri-query"),
            status: need("sc-status")?,
            bytes: at("sc-bytes"),
            referer: at("cs(Referer)"),
            ua: at("cs(User-Agent)"),
            xff: at("x-forwarded-for"),
            names,
        })
    }

    /// The first `#Fields:` line of a sample, if it has one. Found with
    /// memmem rather than line by line: every input's first 64 KB is
    /// sampled, and splitting it a byte at a time was 1.5% of a run of
    /// thousands of small files.
    pub fn from_sample(sample: &[u8]) -> Option<Result<W3cFields, String>> {
        let at = memchr::memmem::find_iter(sample, b"#Fields:")
            .find(|&i| i == 0 || sample[i - 1] == b'\n')?;
        let rest = &sample[at + b"#Fields:".len()..];
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        Some(W3cFields::parse(&String::from_utf8_lossy(line)))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True without columns (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Reads one tab-separated line.
    pub fn parse_line<'a>(&self, line: &'a [u8]) -> Result<RawHit<'a>, LineError> {
        let cols: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        if cols.len() < self.names.len() {
            return Err(LineError::Malformed(
                "the #Fields columns (too few tab-separated fields)",
            ));
        }
        let col = |i: usize| cols[i];
        let opt = |i: Option<usize>| i.map(|i| dash(cols[i])).unwrap_or(&[]);
        let date = col(self.date);
        let time = col(self.time);
        let ts = iso8601(&[date, b"T", time, b"Z"].concat()).ok_or(LineError::BadTime)?;
        let stem = col(self.stem);
        let query = opt(self.query);
        let target = if query.is_empty() {
            Cow::Borrowed(stem)
        } else {
            Cow::Owned([stem, b"?", query].concat())
        };
        Ok(RawHit {
            ip: Cow::Borrowed(col(self.ip)),
            ts,
            method: Cow::Borrowed(col(self.method)),
            target,
            status: status(col(self.status)).ok_or(LineError::Malformed("sc-status"))?,
            bytes: self.bytes.and_then(|i| number(cols[i])),
            // CloudFront percent-encodes these (spaces as %20), sometimes twice.
            referer: url_decode(opt(self.referer)),
            user_agent: url_decode(opt(self.ua)),
            xff: Cow::Borrowed(opt(self.xff)),
            duration_us: None,
        })
    }
}

/// Decodes `%HH`; CloudFront encodes a `%` already in the value as `%25`,
/// so such values are decoded twice.
fn url_decode(b: &[u8]) -> Cow<'_, [u8]> {
    let once = crate::track::percent_decode(b);
    if memchr::memmem::find(b, b"%25").is_some() {
        Cow::Owned(crate::track::percent_decode(&once).into_owned())
    } else {
        once
    }
}

/// Reads an S3 server access log line.
pub fn parse_s3(line: &[u8]) -> Result<RawHit<'_>, LineError> {
    let f = split(line).ok_or(LineError::Malformed("a quoted field"))?;
    if f.len() < 18 {
        return Err(LineError::Malformed("the S3 fields (too few)"));
    }
    // owner bucket [time] remote_ip requester request_id operation key "request_uri" status
    // error_code bytes_sent object_size total_time turnaround "referer" "user_agent" ...
    let ts = super::combined::parse_time_local(f[2]).ok_or(LineError::BadTime)?;
    let (method, target) = super::combined::split_request(f[8]);
    Ok(RawHit {
        ip: Cow::Borrowed(f[3]),
        ts,
        method: Cow::Borrowed(method),
        target: Cow::Borrowed(target),
        status: status(f[9]).ok_or(LineError::Malformed("HTTP status"))?,
        bytes: number(f[11]),
        referer: super::unescape(dash(f[15])),
        user_agent: super::unescape(dash(f[16])),
        xff: Cow::Borrowed(&[]),
        duration_us: None,
    })
}

/// Reads an ALB access log line.
pub fn parse_alb(line: &[u8]) -> Result<RawHit<'_>, LineError> {
    let f = split(line).ok_or(LineError::Malformed("a quoted field"))?;
    if f.len() < 14 || !matches!(f[0], b"http" | b"https" | b"h2" | b"grpcs" | b"ws" | b"wss") {
        return Err(LineError::Malformed("the ALB fields"));
    }
    // type time elb client:port target:port t1 t2 t3 elb_status target_status received sent "request" "user_agent" ...
    let ts = iso8601(f[1]).ok_or(LineError::BadTime)?;
    let client = f[3];
    let ip = match client.strip_prefix(b"[") {
        Some(rest) => rest.split(|&c| c == b']').next().unwrap_or(rest),
        None => match memchr::memrchr(b':', client) {
            Some(i) if !client[..i].contains(&b':') => &client[..i],
            _ => client,
        },
    };
    let (method, target) = super::combined::split_request(f[12]);
    Ok(RawHit {
        ip: Cow::Borrowed(ip),
        ts,
        method: Cow::Borrowed(method),
        target: Cow::Borrowed(path_of(target)),
        status: status(f[8]).ok_or(LineError::Malformed("elb_status_code"))?,
        bytes: number(f[11]),
        referer: Cow::Borrowed(&[]),
        user_agent: super::unescape(dash(f[13])),
        xff: Cow::Borrowed(&[]),
        duration_us: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header is the first line that begins with `#Fields:`, after other
    /// directives and with CRLF line ends; the words inside a line are not.
    #[test]
    fn fields_come_from_the_first_fields_line() {
        let fields = "date time c-ip cs-method cs-uri-stem sc-status";
        let sample = format!("#Version: 1.0\r\n#Fields: {fields}\r\nx #Fields: a b\r\n");
        let f = W3cFields::from_sample(sample.as_bytes()).unwrap().unwrap();
        assert_eq!(f.len(), 6);
        assert_eq!((f.date, f.time, f.ip, f.stem), (0, 1, 2, 4));
        assert!(W3cFields::from_sample(b"2026-01-01 x #Fields: date time\n").is_none());
        let late = format!("a line\n#Fields: {fields}");
        assert!(W3cFields::from_sample(late.as_bytes()).unwrap().is_ok());
    }

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn cloudfront_documented_line() {
        let f = W3cFields::parse(CLOUDFRONT_FIELDS).unwrap();
        let line = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/o/AAAAAAAAAAAAAAAAAAAAAA.gif\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36\ta=1\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-";
        let h = f.parse_line(line.as_bytes()).unwrap();
        assert_eq!(h.ts, at("2019-12-04T21:02:31Z"));
        assert_eq!(&*h.ip, b"192.0.2.100");
        assert_eq!(&*h.method, b"GET");
        assert_eq!(&*h.target, b"/o/AAAAAAAAAAAAAAAAAAAAAA.gif?a=1");
        assert_eq!((h.status, h.bytes), (200, Some(392)));
        assert!(h.referer.is_empty());
        assert_eq!(
            &*h.user_agent,
            b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
        );
        assert!(f.parse_line(b"2019-12-04\t21:02:31").is_err());
    }

    #[test]
    fn s3_documented_line() {
        let line = br#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.OBJECT o/x.gif "GET /o/x.gif HTTP/1.1" 200 - 43 43 7 - "https://mail.example/" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;
        let h = parse_s3(line).unwrap();
        assert_eq!(h.ts, at("2019-02-06T00:00:38Z"));
        assert_eq!(
            (&*h.ip, &*h.method, &*h.target),
            (&b"192.0.2.3"[..], &b"GET"[..], &b"/o/x.gif"[..])
        );
        assert_eq!((h.status, h.bytes), (200, Some(43)));
        assert_eq!(&*h.referer, b"https://mail.example/");
        assert_eq!(&*h.user_agent, b"S3Console/0.4");
    }

    #[test]
    fn alb_documented_line() {
        let line = br#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/c/AAAAAAAAAAAAAAAAAAAAAA/l-1 HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "-" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#;
        let h = parse_alb(line).unwrap();
        assert_eq!(h.ts, at("2018-07-02T22:23:00.186641Z"));
        assert_eq!(&*h.ip, b"192.168.131.39");
        assert_eq!(&*h.target, b"/c/AAAAAAAAAAAAAAAAAAAAAA/l-1");
        assert_eq!((h.status, h.bytes), (200, Some(57)));
        assert_eq!(&*h.user_agent, b"curl/7.46.0");
    }
}
