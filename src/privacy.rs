//! What is kept of a reader's address: applied after the GeoIP lookup, so
//! enrichment sees the full address and the dataset only what policy allows.

use std::net::{IpAddr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How client addresses are stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IpPolicy {
    /// As logged.
    Keep,
    /// IPv4 to its /24, IPv6 to its /48: enough for network-level analysis,
    /// not enough to single out a household.
    #[default]
    Truncate,
    /// A keyed HMAC of the address with the campaign secret: stable (so
    /// repeat visits can be related) but not reversible without the secret.
    Hash(Vec<u8>),
}

impl IpPolicy {
    /// The policy's name as recorded in the dataset.
    pub fn name(&self) -> &'static str {
        match self {
            IpPolicy::Keep => "keep",
            IpPolicy::Truncate => "truncate",
            IpPolicy::Hash(_) => "hash",
        }
    }

    /// How many leading bits of `ip` its stored form keeps (none when hashed).
    pub fn kept_bits(&self, ip: Option<IpAddr>) -> Option<u8> {
        match (self, ip?) {
            (IpPolicy::Keep, IpAddr::V4(_)) => Some(32),
            (IpPolicy::Keep, IpAddr::V6(_)) => Some(128),
            (IpPolicy::Truncate, IpAddr::V4(_)) => Some(24),
            (IpPolicy::Truncate, IpAddr::V6(_)) => Some(48),
            (IpPolicy::Hash(_), _) => None,
        }
    }

    /// The stored form of an address (`raw` when it did not parse).
    pub fn apply(&self, ip: Option<IpAddr>, raw: &[u8]) -> String {
        match (self, ip) {
            (IpPolicy::Keep, Some(IpAddr::V4(a))) => v4_text(a.octets()),
            (IpPolicy::Keep, Some(a)) => a.to_string(),
            (IpPolicy::Keep, None) => String::from_utf8_lossy(raw).into_owned(),
            (IpPolicy::Truncate, Some(IpAddr::V4(a))) => {
                let o = a.octets();
                v4_text([o[0], o[1], o[2], 0])
            }
            (IpPolicy::Truncate, Some(IpAddr::V6(a))) => {
                Ipv6Addr::from(u128::from(a) & (u128::MAX << 80)).to_string()
            }
            // An address that does not parse cannot be truncated safely.
            (IpPolicy::Truncate, None) => "-".to_string(),
            (IpPolicy::Hash(secret), ip) => {
                let mut mac =
                    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
                match ip {
                    Some(a) => mac.update(a.to_string().as_bytes()),
                    None => mac.update(raw),
                }
                crate::commit::hex(&mac.finalize().into_bytes()[..16])
            }
        }
    }
}

/// Dotted-quad text of an IPv4 address, as `Ipv4Addr`'s `Display` writes
/// it, without the formatting machinery: this runs once per new address.
fn v4_text(o: [u8; 4]) -> String {
    let mut s = String::with_capacity(15);
    for (i, b) in o.into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if b >= 100 {
            s.push((b'0' + b / 100) as char);
        }
        if b >= 10 {
            s.push((b'0' + b / 10 % 10) as char);
        }
        s.push((b'0' + b % 10) as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every octet value is written as `Display` writes it.
    #[test]
    fn v4_text_matches_display() {
        for b in 0..=255u8 {
            let o = [b, 255 - b, b / 3, 0];
            assert_eq!(v4_text(o), std::net::Ipv4Addr::from(o).to_string());
        }
    }

    #[test]
    fn policies() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        let v6: IpAddr = "2001:db8:abcd:12:1:2:3:4".parse().unwrap();
        assert_eq!(IpPolicy::Keep.apply(Some(v4), b""), "203.0.113.77");
        assert_eq!(IpPolicy::Truncate.apply(Some(v4), b""), "203.0.113.0");
        assert_eq!(IpPolicy::Truncate.apply(Some(v6), b""), "2001:db8:abcd::");
        let h = IpPolicy::Hash(b"k1".to_vec());
        assert_eq!(h.apply(Some(v4), b"").len(), 32);
        assert_eq!(h.apply(Some(v4), b""), h.apply(Some(v4), b""));
        assert_ne!(
            h.apply(Some(v4), b""),
            IpPolicy::Hash(b"k2".to_vec()).apply(Some(v4), b"")
        );
    }
}
