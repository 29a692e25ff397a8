//! Network lists: address ranges and ASNs with the role of who runs them
//! (`rules/networks.csv`, `rules/asns.csv`), each row naming its source.
//!
//! Lookups hash the address masked to each prefix length present, longest
//! first: a few hash probes per address whatever the list size, and the most
//! specific range wins where ranges overlap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Who runs a network, as far as classification cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Apple's own networks.
    Apple,
    /// iCloud Private Relay egress, used by Mail Privacy Protection.
    AppleMpp,
    /// Email security gateways and link scanners.
    Scanner,
    /// Cloud and hosting networks: no person browses from there.
    Datacenter,
    /// Webmail image proxies.
    ImageProxy,
}

impl Role {
    /// Parses a role name as used in the lists and rules.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "apple" => Role::Apple,
            "apple_mpp" => Role::AppleMpp,
            "scanner" => Role::Scanner,
            "datacenter" => Role::Datacenter,
            "image_proxy" => Role::ImageProxy,
            _ => return None,
        })
    }
}

/// A set of roles, as a bit mask: an address can sit in nested networks
/// (a gateway's range inside its cloud's), and every containing one counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    /// Adds a role.
    pub fn insert(&mut self, r: Role) {
        self.0 |= 1 << r as u8;
    }

    /// True if the role is in the set.
    pub fn contains(&self, r: Role) -> bool {
        self.0 & (1 << r as u8) != 0
    }

    /// True if any role of `other` is in the set.
    pub fn intersects(&self, other: RoleSet) -> bool {
        self.0 & other.0 != 0
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<T: IntoIterator<Item = Role>>(iter: T) -> Self {
        let mut s = RoleSet::default();
        for r in iter {
            s.insert(r);
        }
        s
    }
}

/// A matched network: its role and operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetMatch {
    /// The role of the operator.
    pub role: Role,
    /// The operator's name, e.g. "Mimecast (EU)".
    pub operator: Arc<str>,
}

/// The built-in address ranges.
pub const DEFAULT_NETWORKS: &str = include_str!("../../rules/networks.csv");
/// The built-in ASNs.
pub const DEFAULT_ASNS: &str = include_str!("../../rules/asns.csv");

/// Loaded network and ASN lists.
#[derive(Debug, Default, Clone)]
pub struct Networks {
    entries: Vec<NetMatch>,
    v4: Vec<(u8, HashMap<u32, u32>)>,
    v6: Vec<(u8, HashMap<u128, u32>)>,
    asns: HashMap<u32, u32>,
}

impl Networks {
    /// The built-in lists.
    pub fn builtin() -> Self {
        let mut n = Networks::default();
        n.add_cidr_csv(DEFAULT_NETWORKS)
            .expect("built-in networks.csv parses");
        n.add_asn_csv(DEFAULT_ASNS)
            .expect("built-in asns.csv parses");
        n
    }

    /// Adds rows `cidr,operator,role[,source]` (header line required).
    pub fn add_cidr_csv(&mut self, text: &str) -> Result<usize, String> {
        let mut added = 0;
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(line.as_bytes());
            let rec = rdr
                .records()
                .next()
                .and_then(|r| r.ok())
                .ok_or(format!("networks line {}: unreadable", i + 1))?;
            let (cidr, operator, role) = (
                rec.get(0).unwrap_or(""),
                rec.get(1).unwrap_or(""),
                rec.get(2).unwrap_or(""),
            );
            let role = Role::parse(role)
                .ok_or(format!("networks line {}: unknown role {role:?}", i + 1))?;
            let (addr, len) = parse_cidr(cidr)
                .ok_or(format!("networks line {}: {cidr:?} is not a CIDR", i + 1))?;
            self.insert(
                addr,
                len,
                NetMatch {
                    role,
                    operator: operator.into(),
                },
            );
            added += 1;
        }
        Ok(added)
    }

    /// Adds rows `asn,operator,role[,source]` (header line required; `AS` prefix allowed).
    pub fn add_asn_csv(&mut self, text: &str) -> Result<usize, String> {
        let mut added = 0;
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(line.as_bytes());
            let rec = rdr
                .records()
                .next()
                .and_then(|r| r.ok())
                .ok_or(format!("asns line {}: unreadable", i + 1))?;
            let asn_s = rec.get(0).unwrap_or("");
            let asn: u32 = asn_s
                .trim_start_matches("AS")
                .parse()
                .map_err(|_| format!("asns line {}: {asn_s:?} is not an AS number", i + 1))?;
            let role_s = rec.get(2).unwrap_or("");
            let role = Role::parse(role_s)
                .ok_or(format!("asns line {}: unknown role {role_s:?}", i + 1))?;
            self.entries.push(NetMatch {
                role,
                operator: rec.get(1).unwrap_or("").into(),
            });
            self.asns.insert(asn, self.entries.len() as u32 - 1);
            added += 1;
        }
        Ok(added)
    }

    fn insert(&mut self, addr: IpAddr, len: u8, m: NetMatch) {
        self.entries.push(m);
        let idx = self.entries.len() as u32 - 1;
        match addr {
            IpAddr::V4(a) => {
                let key = mask4(u32::from(a), len);
                table(&mut self.v4, len).insert(key, idx);
            }
            IpAddr::V6(a) => {
                let key = mask6(u128::from(a), len);
                table(&mut self.v6, len).insert(key, idx);
            }
        }
    }

    /// The most specific listed network containing `ip`, and the roles of
    /// every listed network containing it.
    pub fn lookup_all(&self, ip: IpAddr) -> (Option<&NetMatch>, RoleSet) {
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let mut first = None;
        let mut roles = RoleSet::default();
        let mut visit = |idx: u32| {
            let m = &self.entries[idx as usize];
            roles.insert(m.role);
            first.get_or_insert(idx);
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .filter_map(|(len, t)| t.get(&mask4(a, *len)))
                    .for_each(|&i| visit(i));
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .filter_map(|(len, t)| t.get(&mask6(a, *len)))
                    .for_each(|&i| visit(i));
            }
        }
        (first.map(|i| &self.entries[i as usize]), roles)
    }

    /// The most specific listed network containing `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<&NetMatch> {
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let idx = match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().find_map(|(len, t)| t.get(&mask4(a, *len)))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().find_map(|(len, t)| t.get(&mask6(a, *len)))
            }
        }?;
        Some(&self.entries[*idx as usize])
    }

    /// The listed operator of an AS number.
    pub fn lookup_asn(&self, asn: u32) -> Option<&NetMatch> {
        self.asns.get(&asn).map(|&i| &self.entries[i as usize])
    }

    /// Number of ranges and ASNs loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn table<K>(tables: &mut Vec<(u8, HashMap<K, u32>)>, len: u8) -> &mut HashMap<K, u32> {
    let pos = match tables.iter().position(|(l, _)| *l <= len) {
        Some(p) if tables[p].0 == len => p,
        Some(p) => {
            tables.insert(p, (len, HashMap::new()));
            p
        }
        None => {
            tables.push((len, HashMap::new()));
            tables.len() - 1
        }
    };
    &mut tables[pos].1
}

fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - len as u32))
    }
}

fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - len as u32))
    }
}

/// Parses `a.b.c.d/len` or `x::/len` (a bare address is a host route).
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_range_wins() {
        let mut n = Networks::default();
        n.add_cidr_csv("cidr,operator,role,source\n10.0.0.0/8,Cloud,datacenter,x\n10.1.0.0/16,Gate,scanner,y\n2001:db8::/32,V6,apple_mpp,z\n")
            .unwrap();
        assert_eq!(
            n.lookup("10.1.2.3".parse().unwrap()).unwrap().role,
            Role::Scanner
        );
        assert_eq!(
            n.lookup("10.2.2.3".parse().unwrap()).unwrap().role,
            Role::Datacenter
        );
        assert_eq!(
            n.lookup("::ffff:10.2.2.3".parse().unwrap()).unwrap().role,
            Role::Datacenter
        );
        assert_eq!(
            n.lookup("2001:db8:1::5".parse().unwrap()).unwrap().role,
            Role::AppleMpp
        );
        assert!(n.lookup("11.0.0.1".parse().unwrap()).is_none());
        let (m, roles) = n.lookup_all("10.1.2.3".parse().unwrap());
        assert_eq!(m.unwrap().operator.as_ref(), "Gate");
        assert!(
            roles.contains(Role::Scanner)
                && roles.contains(Role::Datacenter)
                && !roles.contains(Role::Apple)
        );
        assert!(n.add_cidr_csv("h\n10.0.0.0/33,x,scanner\n").is_err());
        assert!(n.add_cidr_csv("h\n10.0.0.0/8,x,nobody\n").is_err());
    }

    #[test]
    fn builtin_lists_load() {
        let n = Networks::builtin();
        assert!(n.len() > 50);
    }
}
