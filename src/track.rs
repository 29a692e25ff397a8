//! [`RawHit`] + manifest -> a tracking [`Hit`], a [`Tracked::Reject`] with its reason,
//! or a line that is not ours (favicon, scanners probing `/wp-login.php`).
//!
//! Paths are fixed: opens `/o/{token}.gif`, clicks `/c/{token}/{link_id}`.
//! Percent-encoding is decoded first, as nginx does before matching a location.

use std::borrow::Cow;

use crate::dialect::{hex, RawHit};
use crate::manifest::{is_token_shaped, Link, Manifest, Recipient};

/// What a tracking hit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The pixel was fetched.
    Open,
    /// A wrapped link was followed.
    Click,
    /// The read-time image was fetched (`/t/`); the request's duration is the read time.
    Read,
    /// The print pixel was fetched (`/p/`): the message was printed.
    Print,
}

impl Kind {
    /// The value stored in the `kind` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Click => "click",
            Kind::Read => "read",
            Kind::Print => "print",
        }
    }

    /// Every kind, in index order.
    pub const ALL: [Kind; 4] = [Kind::Open, Kind::Click, Kind::Read, Kind::Print];

    /// Parses a stored `kind`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// True for the kinds that are an image fetched by the mail client.
    pub fn is_image(&self) -> bool {
        !matches!(self, Kind::Click)
    }
}

/// A hit joined to the manifest.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'m> {
    /// Open or click.
    pub kind: Kind,
    /// Whose token it carried.
    pub recipient: &'m Recipient,
    /// The token (the manifest's copy, equal to the line's).
    pub token: &'m str,
    /// The recipient's position in the manifest (a compact key for grouping by message).
    pub recipient_idx: u32,
    /// The link followed, for clicks.
    pub link: Option<&'m Link>,
    /// The link's position in the links file.
    pub link_idx: Option<u32>,
}

/// Why a line was set aside. The codes are stable: reports group by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The line does not have the log format's shape.
    MalformedLine,
    /// The timestamp is not a valid time.
    BadTimestamp,
    /// The line is longer than a block and was not read whole.
    LineTooLong,
    /// A `/o/` or `/c/` path whose token or link id has the wrong shape.
    MalformedTrackingPath,
    /// A well-formed token that the manifest does not know.
    UnknownToken,
    /// A click on a link id that links.csv does not know.
    UnknownLink,
    /// A click whose link belongs to another campaign than its token.
    LinkCampaignMismatch,
    /// A tracking request with a method other than GET or HEAD.
    UnexpectedMethod,
    /// The server answered the tracking request with an error status.
    ErrorStatus,
}

impl RejectReason {
    /// Every reason, in report order.
    pub const ALL: [RejectReason; 9] = [
        RejectReason::MalformedLine,
        RejectReason::BadTimestamp,
        RejectReason::LineTooLong,
        RejectReason::MalformedTrackingPath,
        RejectReason::UnknownToken,
        RejectReason::UnknownLink,
        RejectReason::LinkCampaignMismatch,
        RejectReason::UnexpectedMethod,
        RejectReason::ErrorStatus,
    ];

    /// The stable code stored in the `reason` column.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::MalformedLine => "malformed_line",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::MalformedTrackingPath => "malformed_tracking_path",
            RejectReason::UnknownToken => "unknown_token",
            RejectReason::UnknownLink => "unknown_link",
            RejectReason::LinkCampaignMismatch => "link_campaign_mismatch",
            RejectReason::UnexpectedMethod => "unexpected_method",
            RejectReason::ErrorStatus => "error_status",
        }
    }
}

/// Why a line was counted as not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IgnoreReason {
    /// A request for a path that is neither a pixel nor a click.
    OtherPath,
    /// An empty line.
    BlankLine,
    /// A header or comment line of the format (W3C `#Fields:`).
    Header,
}

impl IgnoreReason {
    /// The stable code used in summaries.
    pub fn code(&self) -> &'static str {
        match self {
            IgnoreReason::OtherPath => "other_path",
            IgnoreReason::BlankLine => "blank_line",
            IgnoreReason::Header => "format_header",
        }
    }
}

/// The outcome of tracking one parsed line.
#[derive(Debug)]
pub enum Tracked<'m> {
    /// A tracking hit for a known recipient.
    Hit(Hit<'m>),
    /// Set aside, with a reason and a detail for the user.
    Reject(RejectReason, String),
    /// Not a tracking request.
    Ignored(IgnoreReason),
}

/// Where a tracking path's token would be, for [`Manifest::prefetch`]: a
/// hint only ([`track`] decides what the line is).
#[inline]
pub fn token_hint<'r>(raw: &'r RawHit<'_>) -> Option<&'r [u8]> {
    let t: &[u8] = &raw.target;
    let rest = match t.get(..3)? {
        b"/o/" | b"/c/" | b"/t/" | b"/p/" => &t[3..],
        _ => return None,
    };
    rest.get(..crate::manifest::TOKEN_LEN)
}

/// Joins one parsed line to the manifest.
pub fn track<'m>(raw: &RawHit<'_>, manifest: &'m Manifest) -> Tracked<'m> {
    let target: &[u8] = &raw.target;
    let path = match memchr::memchr2(b'?', b'#', target) {
        Some(i) => &target[..i],
        None => target,
    };
    let path = percent_decode(path);
    let image = [
        (&b"/o/"[..], Kind::Open, "open"),
        (&b"/t/"[..], Kind::Read, "read-time"),
        (&b"/p/"[..], Kind::Print, "print"),
    ]
    .into_iter()
    .find_map(|(prefix, kind, what)| {
        path.strip_prefix(prefix)
            .map(|rest| (rest, kind, what, prefix))
    });
    let (kind, recipient, link) = if let Some((rest, kind, what, prefix)) = image {
        let Some(token) = rest.strip_suffix(b".gif").filter(|t| is_token_shaped(t)) else {
            return reject(
                RejectReason::MalformedTrackingPath,
                format!(
                    "{what} path {:?} is not {}{{token}}.gif",
                    lossy(&path),
                    lossy(prefix)
                ),
            );
        };
        let Some(r) = manifest.recipient_at(token) else {
            return reject(
                RejectReason::UnknownToken,
                format!("token {} is not in the manifest", lossy(token)),
            );
        };
        (kind, r, None)
    } else if let Some(rest) = path.strip_prefix(b"/c/") {
        let mut parts = rest.splitn(2, |&c| c == b'/');
        let (Some(token), Some(link_id)) = (parts.next(), parts.next()) else {
            return reject(
                RejectReason::MalformedTrackingPath,
                format!(
                    "click path {:?} is not /c/{{token}}/{{link_id}}",
                    lossy(&path)
                ),
            );
        };
        if !is_token_shaped(token) || crate::manifest::check_id("link_id", &lossy(link_id)).is_err()
        {
            return reject(
                RejectReason::MalformedTrackingPath,
                format!(
                    "click path {:?} is not /c/{{token}}/{{link_id}}",
                    lossy(&path)
                ),
            );
        }
        let Some(r) = manifest.recipient_at(token) else {
            return reject(
                RejectReason::UnknownToken,
                format!("token {} is not in the manifest", lossy(token)),
            );
        };
        let Some(l) = manifest.link_at(link_id) else {
            return reject(
                RejectReason::UnknownLink,
                format!("link_id {} is not in links.csv", lossy(link_id)),
            );
        };
        if *l.1.campaign_id != *r.recipient.campaign_id {
            return reject(
                RejectReason::LinkCampaignMismatch,
                format!(
                    "link {} belongs to campaign {}, the token to campaign {}",
                    l.1.link_id, l.1.campaign_id, r.recipient.campaign_id
                ),
            );
        }
        (Kind::Click, r, Some(l))
    } else {
        return Tracked::Ignored(IgnoreReason::OtherPath);
    };
    if &*raw.method != b"GET" && &*raw.method != b"HEAD" {
        return reject(
            RejectReason::UnexpectedMethod,
            format!("method {} on a tracking path", lossy(&raw.method)),
        );
    }
    // 304 is a cached pixel revalidated: still an open. 4xx/5xx means the
    // reader got no pixel or no redirect, except 499 on the read-time image:
    // the reader closed the message while it was still arriving, which is
    // how a read ends (nginx logs 499 when that happens before the headers).
    let read_ended = kind == Kind::Read && raw.status == 499;
    if !(200..400).contains(&raw.status) && !read_ended {
        return reject(
            RejectReason::ErrorStatus,
            format!("the server answered {}", raw.status),
        );
    }
    Tracked::Hit(Hit {
        kind,
        recipient: recipient.recipient,
        token: recipient.token,
        recipient_idx: recipient.idx,
        link: link.map(|l| l.1),
        link_idx: link.map(|l| l.0),
    })
}

fn reject<'m>(reason: RejectReason, detail: String) -> Tracked<'m> {
    Tracked::Reject(reason, detail)
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Decodes `%HH` in a path; invalid escapes are kept as they are.
pub fn percent_decode(p: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'%', p).is_none() {
        return Cow::Borrowed(p);
    }
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'%' && i + 2 < p.len() {
            if let (Some(h), Some(l)) = (hex(p[i + 1]), hex(p[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(p[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(&*percent_decode(b"/o/a%41b.gif"), b"/o/aAb.gif");
        assert_eq!(&*percent_decode(b"/x%4"), b"/x%4");
        assert_eq!(&*percent_decode(b"/x%zz"), b"/x%zz");
        assert_eq!(&*percent_decode(b"%41"), b"A");
    }

    #[test]
    fn a_read_ended_by_the_reader_is_a_hit_and_other_errors_are_not() {
        let r = Recipient {
            token: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            campaign_id: "c".into(),
            recipient_id: "r".into(),
            variant: "".into(),
            sent_at: 0,
            tracked: true,
            recipients: 1,
        };
        let m = Manifest::new(vec![r], vec![]).unwrap();
        let hit = |path: &'static str, status: u16| RawHit {
            ip: Cow::Borrowed(b"203.0.113.1"),
            ts: 1,
            method: Cow::Borrowed(b"GET"),
            target: Cow::Borrowed(path.as_bytes()),
            status,
            bytes: Some(0),
            referer: Cow::Borrowed(b""),
            user_agent: Cow::Borrowed(b""),
            xff: Cow::Borrowed(b""),
            duration_us: Some(4_000_000),
        };
        let kind = |t: Tracked<'_>| match t {
            Tracked::Hit(h) => Ok(h.kind),
            Tracked::Reject(r, _) => Err(r),
            Tracked::Ignored(_) => panic!("ignored"),
        };
        assert_eq!(
            kind(track(&hit("/t/AAAAAAAAAAAAAAAAAAAAAA.gif", 499), &m)),
            Ok(Kind::Read)
        );
        assert_eq!(
            kind(track(&hit("/p/AAAAAAAAAAAAAAAAAAAAAA.gif", 200), &m)),
            Ok(Kind::Print)
        );
        assert_eq!(
            kind(track(&hit("/o/AAAAAAAAAAAAAAAAAAAAAA.gif", 499), &m)),
            Err(RejectReason::ErrorStatus)
        );
        assert_eq!(
            kind(track(&hit("/t/AAAAAAAAAAAAAAAAAAAAAA.gif", 500), &m)),
            Err(RejectReason::ErrorStatus)
        );
        assert_eq!(
            kind(track(&hit("/t/short.gif", 200), &m)),
            Err(RejectReason::MalformedTrackingPath)
        );
        // The path ends at a query or a fragment, whichever comes first.
        for target in [
            "/o/AAAAAAAAAAAAAAAAAAAAAA.gif?utm=x#y",
            "/o/AAAAAAAAAAAAAAAAAAAAAA.gif#y?utm=x",
            "/o/AAAAAAAAAAAAAAAAAAAAAA.gif?",
        ] {
            assert_eq!(
                kind(track(&hit(target, 200), &m)),
                Ok(Kind::Open),
                "{target}"
            );
        }
        assert_eq!(
            kind(track(&hit("/o/AAAAAAAAAAAAAAAAAAAAAA.gifx?a", 200), &m)),
            Err(RejectReason::MalformedTrackingPath)
        );
    }
}
