//! Small scanners shared by the space-separated dialects (S3, ALB):
//! tokens, `"quoted"` strings with backslash escapes, `[bracketed]` times.

/// Splits a line into fields: runs of non-spaces, `"..."` (quotes removed,
/// escapes kept for [`super::unescape`]) and `[...]` (brackets removed).
/// Returns `None` when a quote or bracket is not closed.
pub fn split(line: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(32);
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                loop {
                    match line.get(j)? {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                out.push(&line[start..j]);
                i = j + 1;
            }
            b'[' => {
                let start = i + 1;
                let end = start + memchr::memchr(b']', &line[start..])?;
                out.push(&line[start..end]);
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < line.len() && line[i] != b' ' && line[i] != b'\t' {
                    i += 1;
                }
                out.push(&line[start..i]);
            }
        }
    }
    Some(out)
}

/// `-` means empty in most web logs.
pub fn dash(b: &[u8]) -> &[u8] {
    if b == b"-" {
        &[]
    } else {
        b
    }
}

/// Parses a decimal number.
pub fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |a, &c| {
        a.checked_mul(10)?.checked_add((c - b'0') as u64)
    })
}

/// An HTTP status, 100-599.
pub fn status(b: &[u8]) -> Option<u16> {
    number(b)
        .filter(|s| (100..600).contains(s))
        .map(|s| s as u16)
}

/// Parses an RFC 3339 / ISO 8601 time with offset or `Z` to microseconds.
pub fn iso8601(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Drops `scheme://host[:port]` from an absolute request target.
pub fn path_of(target: &[u8]) -> &[u8] {
    if let Some(i) = memchr::memmem::find(target, b"://") {
        let rest = &target[i + 3..];
        return match memchr::memchr(b'/', rest) {
            Some(j) => &rest[j..],
            None => b"/",
        };
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_and_brackets() {
        let f = split(br#"a [06/Feb/2019:00:00:38 +0000] "GET /x HTTP/1.1" "q\"uote" -"#).unwrap();
        assert_eq!(
            f,
            vec![
                &b"a"[..],
                b"06/Feb/2019:00:00:38 +0000",
                b"GET /x HTTP/1.1",
                br#"q\"uote"#,
                b"-"
            ]
        );
        assert!(split(br#"a "open"#).is_none());
        assert_eq!(
            path_of(b"https://www.example.com:443/o/x.gif?a=1"),
            b"/o/x.gif?a=1"
        );
        assert_eq!(path_of(b"http://h"), b"/");
        assert_eq!(status(b"404"), Some(404));
        assert_eq!(status(b"99"), None);
    }
}
