//! Network lists: address ranges and ASNs with the role of who runs them
//! (`rules/networks.csv`, `rules/asns.csv`), each row naming its source.
//!
//! Lookups hash the address masked to each prefix length present, longest
//! first: a few hash probes per address whatever the list size, and the most
//! specific range wins where ranges overlap.

use foldhash::{HashMap, HashMapExt};
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

    /// The set as one byte, for scratch files ([`RoleSet::from_bits`]).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set [`RoleSet::bits`] gave.
    pub fn from_bits(bits: u8) -> Self {
        RoleSet(bits)
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
    /// The listed range (`40.92.0.0/15`), or `AS8075` for an ASN entry.
    pub cidr: Arc<str>,
    /// Prefix length of the range (0 for an ASN entry).
    pub len: u8,
}

impl Role {
    /// The name used in the lists, rules and the `network_roles` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Apple => "apple",
            Role::AppleMpp => "apple_mpp",
            Role::Scanner => "scanner",
            Role::Datacenter => "datacenter",
            Role::ImageProxy => "image_proxy",
        }
    }

    /// Every role, in bit order.
    pub const ALL: [Role; 5] = [
        Role::Apple,
        Role::AppleMpp,
        Role::Scanner,
        Role::Datacenter,
        Role::ImageProxy,
    ];
}

impl RoleSet {
    /// The roles as a sorted comma list (`apple,apple_mpp`), empty for none.
    pub fn names(&self) -> String {
        Role::ALL
            .iter()
            .filter(|r| self.contains(**r))
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// [`RoleSet::names`], made once per set for the whole process: ingest
    /// needs it for every address new to its cache.
    pub fn names_shared(&self) -> &'static str {
        static ALL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        &ALL.get_or_init(|| (0..=u8::MAX).map(|b| RoleSet(b).names()).collect())[self.0 as usize]
    }

    /// Parses [`RoleSet::names`]; unknown names are skipped.
    pub fn from_names(s: &str) -> RoleSet {
        s.split(',').filter_map(|r| Role::parse(r.trim())).collect()
    }
}

/// One loaded list: where it came from and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSource {
    /// The list's name (`builtin:networks.csv`, or the name given to `networks add`).
    pub name: String,
    /// Where it was read from.
    pub origin: String,
    /// Address ranges it added.
    pub ranges: usize,
    /// ASNs it added.
    pub asns: usize,
    /// SHA-256 of its text, hex (the first 16 characters).
    pub sha256: String,
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
    /// For each first 16 bits of an address, the prefix lengths of the
    /// listed networks that may hold an address starting with them ([`bit4`],
    /// [`bit6`]); empty until a network is added. Most addresses are in no
    /// listed network, and one read says so instead of a hash lookup per
    /// length (about 20 of them with the built-in lists): 2% of an ingest's
    /// CPU on the simulated 4.3M-line send, whose addresses are 1.45 M distinct.
    v4_lens: Vec<u32>,
    v6_lens: Vec<u32>,
    asns: HashMap<u32, u32>,
    sources: Vec<NetSource>,
}

/// Where `networks add` keeps lists inside a dataset.
pub const DATASET_DIR: &str = "_networks";

impl Networks {
    /// The built-in lists.
    pub fn builtin() -> Self {
        let mut n = Networks::default();
        let r = n
            .add_cidr_csv(DEFAULT_NETWORKS)
            .expect("built-in networks.csv parses");
        n.note_source(
            "builtin:networks.csv",
            "rules/networks.csv",
            r,
            0,
            DEFAULT_NETWORKS,
        );
        let a = n
            .add_asn_csv(DEFAULT_ASNS)
            .expect("built-in asns.csv parses");
        n.note_source("builtin:asns.csv", "rules/asns.csv", 0, a, DEFAULT_ASNS);
        n
    }

    /// The built-in lists and every list added to the dataset at `root`
    /// (`_networks/*.csv`, in name order).
    pub fn for_dataset(root: &std::path::Path) -> Result<Self, String> {
        let mut n = Networks::builtin();
        let dir = root.join(DATASET_DIR);
        let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        files.sort();
        for p in files {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let r = n
                .add_cidr_csv(&text)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            n.note_source(&name, &p.display().to_string(), r, 0, &text);
        }
        Ok(n)
    }

    fn note_source(&mut self, name: &str, origin: &str, ranges: usize, asns: usize, text: &str) {
        use sha2::Digest;
        let sha = crate::commit::hex(&sha2::Sha256::digest(text.as_bytes()));
        self.sources.push(NetSource {
            name: name.to_string(),
            origin: origin.to_string(),
            ranges,
            asns,
            sha256: sha[..16].to_string(),
        });
    }

    /// The lists loaded, in load order.
    pub fn sources(&self) -> &[NetSource] {
        &self.sources
    }

    /// Says where lists loaded from a copy of a dataset really live: origins
    /// under `from` are shown under `to` (a checkout's directory and the
    /// dataset's URL).
    pub fn relocate_origins(&mut self, from: &str, to: &str) {
        for s in &mut self.sources {
            if let Some(rest) = s.origin.strip_prefix(from) {
                s.origin = format!("{to}{rest}");
            }
        }
    }

    /// A fingerprint of everything loaded: the hashes of the lists in order.
    pub fn fingerprint(&self) -> String {
        self.sources
            .iter()
            .map(|s| format!("{}={}", s.name, s.sha256))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Adds rows `cidr,operator,role[,source]` (header line required).
    pub fn add_cidr_csv(&mut self, text: &str) -> Result<usize, String> {
        let mut added = 0;
        for row in list_rows(text, "networks") {
            let (n, rec) = row?;
            let (cidr, operator, role) = (
                rec.get(0).unwrap_or(""),
                rec.get(1).unwrap_or(""),
                rec.get(2).unwrap_or(""),
            );
            let role =
                Role::parse(role).ok_or(format!("networks line {n}: unknown role {role:?}"))?;
            let (addr, len) =
                parse_cidr(cidr).ok_or(format!("networks line {n}: {cidr:?} is not a CIDR"))?;
            self.insert(
                addr,
                len,
                NetMatch {
                    role,
                    operator: operator.into(),
                    cidr: format!("{}/{len}", mask_addr(addr, len)).into(),
                    len,
                },
            );
            added += 1;
        }
        Ok(added)
    }

    /// Adds rows `asn,operator,role[,source]` (header line required; `AS` prefix allowed).
    pub fn add_asn_csv(&mut self, text: &str) -> Result<usize, String> {
        let mut added = 0;
        for row in list_rows(text, "asns") {
            let (n, rec) = row?;
            let asn_s = rec.get(0).unwrap_or("");
            let asn: u32 = asn_s
                .trim_start_matches("AS")
                .parse()
                .map_err(|_| format!("asns line {n}: {asn_s:?} is not an AS number"))?;
            let role_s = rec.get(2).unwrap_or("");
            let role =
                Role::parse(role_s).ok_or(format!("asns line {n}: unknown role {role_s:?}"))?;
            self.entries.push(NetMatch {
                role,
                operator: rec.get(1).unwrap_or("").into(),
                cidr: format!("AS{asn}").into(),
                len: 0,
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
                mark(&mut self.v4_lens, (key >> 16) as usize, len, bit4(len));
            }
            IpAddr::V6(a) => {
                let key = mask6(u128::from(a), len);
                table(&mut self.v6, len).insert(key, idx);
                mark(&mut self.v6_lens, (key >> 112) as usize, len, bit6(len));
            }
        }
    }

    /// The most specific listed network containing `ip`, and the roles of
    /// every listed network containing it.
    pub fn lookup_all(&self, ip: IpAddr) -> (Option<&NetMatch>, RoleSet) {
        self.lookup_upto(ip, 128)
    }

    /// Like [`Networks::lookup_all`] for an address of which only the first
    /// `known_bits` are known (a truncated address): only ranges no longer
    /// than that can be said to contain it.
    pub fn lookup_upto(&self, ip: IpAddr, known_bits: u8) -> (Option<&NetMatch>, RoleSet) {
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
                let lens = self.v4_lens.get((a >> 16) as usize).copied().unwrap_or(0);
                self.v4
                    .iter()
                    .filter(|(len, _)| *len <= known_bits && lens & bit4(*len) != 0)
                    .filter_map(|(len, t)| t.get(&mask4(a, *len)))
                    .for_each(|&i| visit(i));
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                let lens = self.v6_lens.get((a >> 112) as usize).copied().unwrap_or(0);
                self.v6
                    .iter()
                    .filter(|(len, _)| *len <= known_bits && lens & bit6(*len) != 0)
                    .filter_map(|(len, t)| t.get(&mask6(a, *len)))
                    .for_each(|&i| visit(i));
            }
        }
        (first.map(|i| &self.entries[i as usize]), roles)
    }

    /// The most specific listed network containing `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<&NetMatch> {
        self.lookup_upto(ip, 128).0
    }

    /// The listed range whose text is `cidr` (as stored in `network_cidr`), if still listed.
    pub fn find_cidr(&self, cidr: &str) -> Option<&NetMatch> {
        // The most specific listed range no longer than the one asked for is
        // that very range exactly when it is listed: one probe per length.
        let (addr, len) = parse_cidr(cidr)?;
        let (m, _) = self.lookup_upto(addr, len);
        m.filter(|m| m.len == len && &*m.cidr == cidr)
    }

    /// The position of `m` among the lists' entries, if it is one of them:
    /// a match kept as a number ([`Networks::entry`]) where rows are many.
    pub fn index_of(&self, m: &NetMatch) -> Option<u32> {
        let size = std::mem::size_of::<NetMatch>();
        let start = self.entries.as_ptr() as usize;
        let at = m as *const NetMatch as usize;
        let off = at.checked_sub(start)?;
        (off % size == 0 && off / size < self.entries.len()).then_some((off / size) as u32)
    }

    /// The entry at position `i` ([`Networks::index_of`]).
    pub fn entry(&self, i: u32) -> Option<&NetMatch> {
        self.entries.get(i as usize)
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

/// The data rows of a list file (after its header; blank and `#` lines
/// skipped) with their line numbers, each read as one CSV record.
///
/// One reader serves the whole file, rewound onto each line in turn: a
/// line is still a record of its own (a stray quote cannot swallow the
/// next line), but the parser is built once, not once a line (the
/// built-in lists' 349 lines took 95 M instructions at every start).
fn list_rows<'a>(
    text: &'a str,
    what: &'a str,
) -> impl Iterator<Item = Result<(usize, csv::StringRecord), String>> + 'a {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::Cursor::new(Vec::new()));
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(move |(i, line)| {
            let unreadable = || format!("{what} line {}: unreadable", i + 1);
            let buf = rdr.get_mut().get_mut();
            buf.clear();
            buf.extend_from_slice(line.as_bytes());
            rdr.seek_raw(std::io::SeekFrom::Start(0), csv::Position::new())
                .map_err(|_| unreadable())?;
            let mut rec = csv::StringRecord::new();
            match rdr.read_record(&mut rec) {
                Ok(true) => Ok((i + 1, rec)),
                _ => Err(unreadable()),
            }
        })
}

/// The header of a list in pixelsift's own form.
pub const LIST_HEADER: &str = "cidr,operator,role,source";

/// Turns a list file into pixelsift's form (`cidr,operator,role,source`),
/// checking every line. Accepted: that form itself (header first); Apple's
/// iCloud Private Relay egress file (`prefix,country,region,city,`, role
/// `apple_mpp` unless `role` says otherwise); or any file whose lines start
/// with a CIDR (one per line, or CSV with the CIDR first), which needs `role`.
/// Returns the text and the number of ranges.
pub fn normalise_list(
    text: &str,
    role: Option<Role>,
    operator: Option<&str>,
    source: &str,
) -> Result<(String, usize), String> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.to_ascii_lowercase().starts_with("cidr,") {
        let n = Networks::default().add_cidr_csv(text)?;
        return Ok((text.to_string(), n));
    }
    let clean = |s: &str| s.replace([',', '\n', '\r', '"'], " ").trim().to_string();
    let source = clean(source);
    let mut out = String::with_capacity(text.len() * 2);
    out.push_str(LIST_HEADER);
    out.push('\n');
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let cidr = fields[0].split_whitespace().next().unwrap_or("");
        let (addr, len) = parse_cidr(cidr)
            .ok_or_else(|| format!("line {}: {cidr:?} is not an address range (CIDR)", i + 1))?;
        // Apple's egress file: prefix, country code, region, city.
        let egress = fields.len() >= 4
            && (fields[1].is_empty()
                || (fields[1].len() == 2 && fields[1].bytes().all(|b| b.is_ascii_uppercase())));
        let (r, op) = match (role, egress) {
            (Some(r), _) => (r, operator.map(clean).unwrap_or_else(|| "listed".into())),
            (None, true) => (
                Role::AppleMpp,
                operator
                    .map(clean)
                    .unwrap_or_else(|| "iCloud Private Relay egress".into()),
            ),
            (None, false) => {
                return Err(format!(
                    "line {}: a plain list of ranges needs a role (--role scanner, datacenter, image_proxy, apple or apple_mpp)",
                    i + 1
                ))
            }
        };
        let place = if egress && fields[1..].iter().any(|f| !f.is_empty()) {
            format!(
                " ({})",
                clean(
                    &fields[1..4]
                        .iter()
                        .filter(|f| !f.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{}/{len},{op}{place},{},{source}\n",
            mask_addr(addr, len),
            r.as_str()
        ));
        n += 1;
    }
    if n == 0 {
        return Err("the list holds no address ranges".into());
    }
    Ok((out, n))
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

/// An IPv4 prefix length's bit in [`Networks::v4_lens`]: its own, but /0
/// shares /1's.
fn bit4(len: u8) -> u32 {
    1 << (len.max(1) - 1)
}

/// An IPv6 prefix length's bit in [`Networks::v6_lens`]: one for every
/// four lengths (/124 and longer share the last), so a bit may send a
/// lookup to a length with no network there, never past one.
fn bit6(len: u8) -> u32 {
    1 << (len / 4).min(31)
}

/// Marks `bit` for the 16-bit prefixes a network of length `len` whose
/// first 16 bits are `first16` may hold addresses of.
fn mark(lens: &mut Vec<u32>, first16: usize, len: u8, bit: u32) {
    if lens.is_empty() {
        *lens = vec![0; 1 << 16];
    }
    let span = 1usize << 16u8.saturating_sub(len);
    let start = first16 & !(span - 1);
    for l in &mut lens[start..start + span] {
        *l |= bit;
    }
}

fn mask_addr(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(mask4(u32::from(a), len).into()),
        IpAddr::V6(a) => IpAddr::V6(mask6(u128::from(a), len).into()),
    }
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

    /// The one reader rewound onto each line reads every line as a
    /// parser of its own would: quoted commas, a line whose quote never
    /// closes (which must not swallow the next line), blank and comment
    /// lines skipped, line numbers kept.
    #[test]
    fn list_rows_reads_each_line_as_its_own_record() {
        let text = "cidr,operator,role,source\n\
                    10.0.0.0/8,\"Example, Inc\",scanner,s\n\
                    \n\
                    # a comment\n\
                    10.1.0.0/16,\"unterminated,scanner,s\n\
                    10.2.0.0/16,Plain,cloud,s\n";
        let rows: Vec<(usize, csv::StringRecord)> =
            list_rows(text, "t").map(|r| r.unwrap()).collect();
        let lines: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, vec![2, 5, 6]);
        for (n, rec) in &rows {
            let line = text.lines().nth(n - 1).unwrap();
            let alone = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(line.as_bytes())
                .records()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(rec, &alone, "line {n}");
        }
        assert_eq!(&rows[0].1[1], "Example, Inc");
        assert_eq!(&rows[2].1[1], "Plain");
    }

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
    fn lists_of_every_shape_normalise() {
        let (t, n) = normalise_list(
            "172.224.226.0/27,GB,GB-EN,London,\n2a02:26f7:b3c0:4000::/64,FR,FR-75,Paris,\n",
            None,
            None,
            "mask-api.icloud.com egress-ip-ranges.csv",
        )
        .unwrap();
        assert_eq!(n, 2);
        let mut net = Networks::default();
        assert_eq!(net.add_cidr_csv(&t).unwrap(), 2);
        let m = net.lookup("172.224.226.9".parse().unwrap()).unwrap();
        assert_eq!((m.role, &*m.cidr), (Role::AppleMpp, "172.224.226.0/27"));
        assert!(m.operator.contains("London"));
        let e = normalise_list("10.0.0.0/8\n", None, None, "x").unwrap_err();
        assert!(e.contains("line 1") && e.contains("role"), "{e}");
        let e = normalise_list("10.0.0.0/8\nnot-a-range\n", Some(Role::Scanner), None, "x")
            .unwrap_err();
        assert!(e.contains("line 2") && e.contains("not-a-range"), "{e}");
        let (t, n) = normalise_list(
            "# mine\n10.9.0.0/16\n",
            Some(Role::Scanner),
            Some("Acme, Inc."),
            "x",
        )
        .unwrap();
        assert_eq!(n, 1);
        assert!(t.contains("10.9.0.0/16,Acme  Inc.,scanner,x"), "{t}");
        // A range with host bits set is stored as its network.
        let (t, _) = normalise_list("10.9.1.7/16\n", Some(Role::Scanner), None, "x").unwrap();
        assert!(t.contains("10.9.0.0/16,"), "{t}");
    }

    #[test]
    fn truncated_addresses_match_only_coarser_ranges() {
        let mut n = Networks::default();
        n.add_cidr_csv("h\n10.1.2.128/25,Fine,scanner\n10.0.0.0/8,Coarse,datacenter\n")
            .unwrap();
        let (m, roles) = n.lookup_upto("10.1.2.0".parse().unwrap(), 24);
        assert_eq!(m.unwrap().operator.as_ref(), "Coarse");
        assert!(!roles.contains(Role::Scanner));
        assert_eq!(
            n.find_cidr("10.1.2.128/25").unwrap().operator.as_ref(),
            "Fine"
        );
        assert_eq!(RoleSet::from_names(&roles.names()), roles);
        assert_eq!(roles.names_shared(), roles.names());
    }

    /// The index of prefix lengths by first 16 bits finds what a lookup
    /// of every length finds: IPv4 and IPv6 ranges shorter and longer than
    /// 16 bits, /0 and /1, host routes, IPv4-mapped addresses, and
    /// addresses of which only some bits are known.
    #[test]
    fn the_length_index_finds_what_every_length_finds() {
        let roles = ["scanner", "datacenter", "apple_mpp", "image_proxy", "apple"];
        let ranges = [
            "10.0.0.0/8",
            "10.1.0.0/15",
            "10.2.0.0/16",
            "10.3.4.0/17",
            "10.3.4.5/32",
            "172.16.0.0/12",
            "192.0.2.0/24",
            "128.0.0.0/1",
            "198.51.100.0/31",
            "2001:db8::/32",
            "2001:db8:8000::/33",
            "2a00::/12",
            "2a02:26f0::/29",
            "2001:db8::1/128",
            "2400::/6",
            "2001:db8:1:2::/64",
            "2001:db8:1:2::/125",
        ];
        let csv = |extra: &str| {
            let mut t = String::from("cidr,operator,role\n");
            for (i, r) in ranges
                .iter()
                .chain([extra].iter().filter(|e| !e.is_empty()))
                .enumerate()
            {
                t += &format!("{r},op{i},{}\n", roles[i % roles.len()]);
            }
            t
        };
        // Every table, most specific first: what the index must agree with.
        let every_length = |n: &Networks, ip: IpAddr, known: u8| {
            let ip = match ip {
                IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
                v4 => v4,
            };
            let found: Vec<u32> = match ip {
                IpAddr::V4(a) => {
                    n.v4.iter()
                        .filter(|(l, _)| *l <= known)
                        .filter_map(|(l, t)| t.get(&mask4(a.into(), *l)).copied())
                        .collect()
                }
                IpAddr::V6(a) => {
                    n.v6.iter()
                        .filter(|(l, _)| *l <= known)
                        .filter_map(|(l, t)| t.get(&mask6(a.into(), *l)).copied())
                        .collect()
                }
            };
            let mut set = RoleSet::default();
            found
                .iter()
                .for_each(|&i| set.insert(n.entries[i as usize].role));
            (
                found
                    .first()
                    .map(|&i| n.entries[i as usize].cidr.to_string()),
                set,
            )
        };
        let mut ips: Vec<IpAddr> = Vec::new();
        for r in ranges {
            let (a, len) = parse_cidr(r).unwrap();
            for ip in crate::testing::edges(a, len) {
                ips.push(ip);
                if let IpAddr::V4(v4) = ip {
                    ips.push(IpAddr::V6(v4.to_ipv6_mapped()));
                }
            }
        }
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        for i in 0..20_000u32 {
            let x = next();
            ips.push(match i % 3 {
                0 => IpAddr::V4((x as u32).into()),
                1 => IpAddr::V4((0x0a00_0000 | (x as u32 & 0x03ff_ffff)).into()),
                _ => IpAddr::V6(((0x2001_0db8_u128 << 96) | u128::from(x) << 32).into()),
            });
        }
        for extra in ["", "0.0.0.0/0", "::/0"] {
            let mut n = Networks::default();
            n.add_cidr_csv(&csv(extra)).unwrap();
            let mut matched = 0;
            for &ip in &ips {
                for known in [128, 24, 12] {
                    let (m, set) = n.lookup_upto(ip, known);
                    let got = (m.map(|m| m.cidr.to_string()), set);
                    assert_eq!(
                        got,
                        every_length(&n, ip, known),
                        "{ip}/{known} with {extra:?}"
                    );
                    matched += usize::from(got.0.is_some());
                }
                assert_eq!(
                    n.lookup(ip).map(|m| m.cidr.to_string()),
                    every_length(&n, ip, 128).0
                );
            }
            assert!(matched > ips.len() / 2, "{matched} of {}", ips.len() * 3);
        }
    }

    #[test]
    fn builtin_lists_load() {
        let n = Networks::builtin();
        assert!(n.len() > 50);
    }
}
