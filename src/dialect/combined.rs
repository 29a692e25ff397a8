//! nginx/Apache `combined`:
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
//!
//! Fields after the user agent (a common customisation appends
//! `"$http_x_forwarded_for"` or `$request_time`) are allowed and ignored,
//! except `rt=$request_time`, which mint's config appends on the read-time
//! location (`pixelsift_timed`) and which gives the request's duration.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take, take_till1, take_while1, take_while_m_n};
use nom::IResult;

use super::{unescape, LineError, RawHit};

type Res<'a, T> = IResult<&'a [u8], T, ()>;

/// Parses one `combined` line.
pub fn parse(line: &[u8]) -> Result<RawHit<'_>, LineError> {
    let m = LineError::Malformed;
    let (rest, ip) = token(line).map_err(|_| m("remote_addr"))?;
    let (rest, _) = sp_token(rest).map_err(|_| m("ident"))?;
    let (rest, _) = sp_token(rest).map_err(|_| m("remote_user"))?;
    let (rest, _) = tag::<_, _, ()>(&b" ["[..])(rest).map_err(|_| m("time_local"))?;
    let (rest, time) = take_till1::<_, _, ()>(|c| c == b']')(rest).map_err(|_| m("time_local"))?;
    let (rest, _) = tag::<_, _, ()>(&b"] "[..])(rest).map_err(|_| m("time_local"))?;
    let ts = parse_time_local(time).ok_or(LineError::BadTime)?;
    let (rest, request) = quoted(rest).map_err(|_| m("request"))?;
    let (rest, _) = tag::<_, _, ()>(&b" "[..])(rest).map_err(|_| m("status"))?;
    let (rest, status) = take_while_m_n::<_, _, ()>(3, 3, |c: u8| c.is_ascii_digit())(rest)
        .map_err(|_| m("status"))?;
    let (rest, bytes) = sp_token(rest).map_err(|_| m("body_bytes_sent"))?;
    let bytes = match bytes {
        b"-" => None,
        b => Some(parse_u64(b).ok_or(m("body_bytes_sent"))?),
    };
    let (rest, _) = tag::<_, _, ()>(&b" "[..])(rest).map_err(|_| m("http_referer"))?;
    let (rest, referer) = quoted(rest).map_err(|_| m("http_referer"))?;
    let (rest, _) = tag::<_, _, ()>(&b" "[..])(rest).map_err(|_| m("http_user_agent"))?;
    let (rest, ua) = quoted(rest).map_err(|_| m("http_user_agent"))?;
    if !(rest.is_empty() || rest[0] == b' ' || rest[0] == b'\t') {
        return Err(m("end of line"));
    }
    let (method, target) = split_request(request);
    let duration_us = if rest.is_empty() {
        None
    } else {
        memchr::memmem::find(rest, b" rt=").and_then(|i| {
            let v = &rest[i + 4..];
            let end = v
                .iter()
                .position(|&c| c == b' ' || c == b'\t')
                .unwrap_or(v.len());
            super::parse_seconds(&v[..end])
        })
    };
    Ok(RawHit {
        ip: Cow::Borrowed(ip),
        ts,
        method: Cow::Borrowed(method),
        target: Cow::Borrowed(target),
        status: (status[0] - b'0') as u16 * 100
            + (status[1] - b'0') as u16 * 10
            + (status[2] - b'0') as u16,
        bytes,
        referer: dash_empty(unescape(referer)),
        user_agent: dash_empty(unescape(ua)),
        xff: Cow::Borrowed(&[]),
        duration_us,
    })
}

fn dash_empty(v: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if &*v == b"-" {
        Cow::Borrowed(&[])
    } else {
        v
    }
}

fn token(i: &[u8]) -> Res<'_, &[u8]> {
    take_till1(|c| c == b' ')(i)
}

fn sp_token(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, _) = tag(&b" "[..])(i)?;
    token(i)
}

/// A double-quoted field; a backslash escapes the next byte (Apache writes
/// `\"`, nginx writes `\x22`, so both end at the first unescaped quote).
fn quoted(i: &[u8]) -> Res<'_, &[u8]> {
    let (i, _) = tag(&b"\""[..])(i)?;
    let mut pos = 0;
    loop {
        match memchr::memchr2(b'"', b'\\', &i[pos..]) {
            Some(off) if i[pos + off] == b'"' => {
                let body = &i[..pos + off];
                let (rest, _) = take(pos + off + 1)(i)?;
                return Ok((rest, body));
            }
            Some(off) => pos += off + 2,
            None => return Err(nom::Err::Error(())),
        }
        if pos > i.len() {
            return Err(nom::Err::Error(()));
        }
    }
}

/// Splits `METHOD TARGET [PROTOCOL]`; anything else gives empty method and
/// target, which the tracker counts as not ours.
pub(crate) fn split_request(req: &[u8]) -> (&[u8], &[u8]) {
    let parsed: Res<'_, (&[u8], &[u8])> = (|i| {
        let (i, method) = take_while1(|c: u8| c.is_ascii_uppercase())(i)?;
        let (i, _) = tag(&b" "[..])(i)?;
        let (i, target) = take_till1(|c| c == b' ')(i)?;
        Ok((i, (method, target)))
    })(req);
    match parsed {
        Ok((rest, mt)) if rest.is_empty() || rest.starts_with(b" HTTP/") => mt,
        _ => (&[], &[]),
    }
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u64)
    })
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as i64)
    })
}

/// `10/Oct/2000:13:55:36 -0700` to microseconds UTC (nginx `$time_local`).
pub fn parse_time_local(t: &[u8]) -> Option<i64> {
    if t.len() != 26
        || t[2] != b'/'
        || t[6] != b'/'
        || t[11] != b':'
        || t[14] != b':'
        || t[17] != b':'
        || t[20] != b' '
    {
        return None;
    }
    let day = num(&t[0..2])?;
    let month = match &t[3..6] {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    let year = num(&t[7..11])?;
    let (h, mi, s) = (num(&t[12..14])?, num(&t[15..17])?, num(&t[18..20])?);
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(&t[22..24])?, num(&t[24..26])?);
    if day == 0
        || day > days_in_month(year, month)
        || h > 23
        || mi > 59
        || s > 60
        || oh > 23
        || om > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let local = days * 86_400 + h * 3600 + mi * 60 + s;
    Some((local - sign * (oh * 3600 + om * 60)) * 1_000_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_pixel_hit() {
        let line = br#"203.0.113.9 - - [21/Nov/2026:10:00:05 +0100] "GET /o/AAAAAAAAAAAAAAAAAAAAAA.gif HTTP/1.1" 200 43 "-" "Mozilla/5.0 (x)""#;
        let h = parse(line).unwrap();
        assert_eq!(&*h.ip, b"203.0.113.9");
        assert_eq!(&*h.method, b"GET");
        assert_eq!(&*h.target, b"/o/AAAAAAAAAAAAAAAAAAAAAA.gif");
        assert_eq!(h.status, 200);
        assert_eq!(h.bytes, Some(43));
        assert!(h.referer.is_empty());
        assert_eq!(&*h.user_agent, b"Mozilla/5.0 (x)");
        let utc = chrono::DateTime::parse_from_rfc3339("2026-11-21T09:00:05Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(h.ts, utc);
    }

    #[test]
    fn escaped_quotes_and_trailing_fields() {
        let line = br#"::1 - bob [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/1.1" 304 - "http://x/\x22q\x22" "UA \"quoted\"" "10.0.0.1""#;
        let h = parse(line).unwrap();
        assert_eq!(h.bytes, None);
        assert_eq!(&*h.referer, b"http://x/\"q\"");
        assert_eq!(&*h.user_agent, b"UA \"quoted\"");
    }

    #[test]
    fn names_the_broken_field() {
        assert_eq!(parse(b"").unwrap_err(), LineError::Malformed("remote_addr"));
        assert_eq!(
            parse(b"1.2.3.4 - - [bad] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"").unwrap_err(),
            LineError::BadTime
        );
        let trunc = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (compatible; Googlebot/2.1"#;
        assert_eq!(
            parse(trunc).unwrap_err(),
            LineError::Malformed("http_user_agent")
        );
        assert_eq!(parse_time_local(b"31/Feb/2024:00:00:00 +0000"), None);
    }

    #[test]
    fn odd_requests_parse_with_empty_target() {
        let line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "\x16\x03\x01" 400 150 "-" "-""#;
        let h = parse(line).unwrap();
        assert!(h.target.is_empty());
    }
}
