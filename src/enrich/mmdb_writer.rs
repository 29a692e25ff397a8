//! A minimal writer for the MaxMind DB (`.mmdb`) binary format.
//!
//! Tests and the demo build their own GeoIP databases with this writer, so the
//! project never ships real personal or geolocation data (no GeoLite2 or
//! DB-IP files in the repository). It implements the format described at
//! <https://maxmind.github.io/MaxMind-DB/>: an IPv6 binary search tree
//! (IPv4 networks live at `::a.b.c.d/(96 + prefix)`, which is where readers
//! such as the `maxminddb` crate look IPv4 addresses up), the 16-byte data
//! section separator, a data section of typed values, and the metadata map
//! after the `\xAB\xCD\xEFMaxMind.com` marker. Records are 24, 28 or 32 bits
//! wide, whichever is the smallest that fits. Identical values are stored once.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

/// A value stored in the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum MmdbValue {
    /// A map with string keys, encoded in the given order.
    Map(Vec<(String, MmdbValue)>),
    /// A UTF-8 string.
    Str(String),
    /// An unsigned 16-bit integer.
    U16(u16),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// An IEEE-754 double.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// An array of values.
    Array(Vec<MmdbValue>),
}

/// Errors returned by [`MmdbWriter::insert`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MmdbWriteError {
    /// An IPv4 network had a prefix length above 32.
    #[error("invalid IPv4 network {addr}/{prefix_len}: prefix length must be at most 32")]
    V4PrefixTooLong {
        /// Address of the rejected network.
        addr: Ipv4Addr,
        /// Rejected prefix length.
        prefix_len: u8,
    },
    /// An IPv6 network had a prefix length above 128.
    #[error("invalid IPv6 network {addr}/{prefix_len}: prefix length must be at most 128")]
    V6PrefixTooLong {
        /// Address of the rejected network.
        addr: Ipv6Addr,
        /// Rejected prefix length.
        prefix_len: u8,
    },
}

/// Size in bytes of the all-zero separator between search tree and data section.
const DATA_SECTION_SEPARATOR: usize = 16;
/// Marker that precedes the metadata map.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

// Data section type numbers (spec "Output Data Types").
const TYPE_STRING: u8 = 2;
const TYPE_DOUBLE: u8 = 3;
const TYPE_UINT16: u8 = 5;
const TYPE_UINT32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_UINT64: u8 = 9;
const TYPE_ARRAY: u8 = 11;
const TYPE_BOOLEAN: u8 = 14;

/// One record of a search-tree node, before node numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// No data: encoded as `node_count`, i.e. "not found".
    Empty,
    /// Index into `MmdbWriter::values`.
    Data(usize),
    /// Index into `MmdbWriter::nodes`.
    Node(usize),
}

/// A search-tree node: left (bit 0) and right (bit 1) records.
#[derive(Debug, Clone)]
struct TreeNode {
    records: [Record; 2],
}

/// Builds a MaxMind DB file in memory.
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    description: String,
    /// Arena of tree nodes; index 0 is the root. Nodes cut off by later
    /// inserts stay in the arena but are unreachable and never serialised.
    nodes: Vec<TreeNode>,
    /// Inserted values, referenced by `Record::Data`.
    values: Vec<MmdbValue>,
}

impl MmdbWriter {
    /// `database_type` e.g. "GeoLite2-City" / "GeoLite2-ASN"; description stored in metadata under "en".
    #[must_use]
    pub fn new(database_type: &str, description: &str) -> Self {
        Self {
            database_type: database_type.to_owned(),
            description: description.to_owned(),
            nodes: vec![TreeNode {
                records: [Record::Empty; 2],
            }],
            values: Vec::new(),
        }
    }

    /// Inserts a network; later inserts of overlapping networks override the covered part.
    ///
    /// Host bits beyond `prefix_len` are ignored. IPv4 networks are stored at
    /// `::a.b.c.d/(96 + prefix_len)`.
    ///
    /// # Errors
    ///
    /// [`MmdbWriteError`] if `prefix_len` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn insert(
        &mut self,
        addr: IpAddr,
        prefix_len: u8,
        value: MmdbValue,
    ) -> Result<(), MmdbWriteError> {
        let (bits, depth) = match addr {
            IpAddr::V4(v4) => {
                if prefix_len > 32 {
                    return Err(MmdbWriteError::V4PrefixTooLong {
                        addr: v4,
                        prefix_len,
                    });
                }
                (u128::from(u32::from(v4)), 96 + u32::from(prefix_len))
            }
            IpAddr::V6(v6) => {
                if prefix_len > 128 {
                    return Err(MmdbWriteError::V6PrefixTooLong {
                        addr: v6,
                        prefix_len,
                    });
                }
                (u128::from(v6), u32::from(prefix_len))
            }
        };
        let value_index = self.values.len();
        self.values.push(value);
        self.insert_bits(bits, depth, Record::Data(value_index));
        Ok(())
    }

    /// Sets every address whose first `depth` bits equal those of `bits` to `leaf`.
    fn insert_bits(&mut self, bits: u128, depth: u32, leaf: Record) {
        if depth == 0 {
            // The whole address space: the root itself cannot be a leaf, so
            // both of its records point at the value.
            self.nodes[0].records = [leaf, leaf];
            return;
        }
        let bit_at = |i: u32| ((bits >> (127 - i)) & 1) as usize;
        let mut node = 0;
        for i in 0..depth - 1 {
            let bit = bit_at(i);
            node = match self.nodes[node].records[bit] {
                Record::Node(child) => child,
                old_leaf => {
                    // Split the leaf: both halves keep the old value for now.
                    let child = self.nodes.len();
                    self.nodes.push(TreeNode {
                        records: [old_leaf, old_leaf],
                    });
                    self.nodes[node].records[bit] = Record::Node(child);
                    child
                }
            };
        }
        // Replacing a subtree here drops every older, more specific network
        // inside the new one.
        self.nodes[node].records[bit_at(depth - 1)] = leaf;
    }

    /// Serialises the database.
    ///
    /// # Panics
    ///
    /// Panics if the database cannot be represented: a string, map or array
    /// with more than 16,843,036 elements, or a tree plus data section too
    /// large for 32-bit records.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let layout = self.layout();
        let max_record =
            layout.node_count() + DATA_SECTION_SEPARATOR as u64 + layout.data.len() as u64;
        let record_size = match max_record {
            m if m < 1 << 24 => 24,
            m if m < 1 << 28 => 28,
            m if m < 1 << 32 => 32,
            _ => panic!("MaxMind DB too large for 32-bit records"),
        };
        self.serialise(&layout, record_size)
    }

    /// Serialises the database with a fixed record size (24, 28 or 32 bits).
    ///
    /// # Panics
    ///
    /// Panics on an unsupported record size or if a record value does not fit.
    #[allow(dead_code)] // Used by tests that exercise every record size.
    pub(crate) fn to_bytes_with_record_size(&self, record_size: u16) -> Vec<u8> {
        self.serialise(&self.layout(), record_size)
    }

    /// Numbers the reachable nodes (breadth-first, root = 0) and encodes the
    /// data section, storing each distinct encoded value once.
    fn layout(&self) -> Layout {
        let mut node_numbers = vec![usize::MAX; self.nodes.len()];
        let mut order = vec![0_usize];
        node_numbers[0] = 0;
        let mut data = Vec::new();
        let mut value_offsets: HashMap<usize, usize> = HashMap::new();
        let mut encoded_offsets: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut next = 0;
        while next < order.len() {
            let node = order[next];
            next += 1;
            for record in self.nodes[node].records {
                match record {
                    Record::Node(child) => {
                        node_numbers[child] = order.len();
                        order.push(child);
                    }
                    Record::Data(value) => {
                        if value_offsets.contains_key(&value) {
                            continue;
                        }
                        let mut encoded = Vec::new();
                        encode_value(&self.values[value], &mut encoded);
                        let offset = *encoded_offsets.entry(encoded).or_insert_with_key(|bytes| {
                            let offset = data.len();
                            data.extend_from_slice(bytes);
                            offset
                        });
                        value_offsets.insert(value, offset);
                    }
                    Record::Empty => {}
                }
            }
        }
        Layout {
            order,
            node_numbers,
            value_offsets,
            data,
        }
    }

    /// Writes tree, separator, data section, marker and metadata.
    fn serialise(&self, layout: &Layout, record_size: u16) -> Vec<u8> {
        let node_count = layout.node_count();
        let record_value = |record: Record| -> u64 {
            match record {
                Record::Empty => node_count,
                Record::Node(child) => layout.node_numbers[child] as u64,
                Record::Data(value) => {
                    node_count + DATA_SECTION_SEPARATOR as u64 + layout.value_offsets[&value] as u64
                }
            }
        };
        let max_record = 1_u64 << record_size.min(32);
        let mut out = Vec::with_capacity(
            layout.order.len() * usize::from(record_size) / 4
                + DATA_SECTION_SEPARATOR
                + layout.data.len()
                + 256,
        );
        for &node in &layout.order {
            let [left, right] = self.nodes[node].records.map(record_value);
            assert!(
                left < max_record && right < max_record,
                "record value does not fit in {record_size}-bit records"
            );
            // The asserts above make the `as u32` casts lossless.
            let (left, right) = (left as u32, right as u32);
            match record_size {
                24 => {
                    out.extend_from_slice(&left.to_be_bytes()[1..]);
                    out.extend_from_slice(&right.to_be_bytes()[1..]);
                }
                28 => {
                    out.extend_from_slice(&left.to_be_bytes()[1..]);
                    out.push((((left >> 24) as u8) << 4) | ((right >> 24) as u8 & 0x0F));
                    out.extend_from_slice(&right.to_be_bytes()[1..]);
                }
                32 => {
                    out.extend_from_slice(&left.to_be_bytes());
                    out.extend_from_slice(&right.to_be_bytes());
                }
                other => panic!("unsupported MaxMind DB record size {other}"),
            }
        }
        out.extend_from_slice(&[0; DATA_SECTION_SEPARATOR]);
        out.extend_from_slice(&layout.data);
        out.extend_from_slice(METADATA_MARKER);
        let node_count = u32::try_from(node_count).expect("node count fits in u32");
        encode_value(&self.metadata(node_count, record_size), &mut out);
        out
    }

    /// The metadata map required by the spec.
    fn metadata(&self, node_count: u32, record_size: u16) -> MmdbValue {
        let build_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        MmdbValue::Map(vec![
            ("binary_format_major_version".into(), MmdbValue::U16(2)),
            ("binary_format_minor_version".into(), MmdbValue::U16(0)),
            ("build_epoch".into(), MmdbValue::U64(build_epoch)),
            (
                "database_type".into(),
                MmdbValue::Str(self.database_type.clone()),
            ),
            (
                "description".into(),
                MmdbValue::Map(vec![(
                    "en".into(),
                    MmdbValue::Str(self.description.clone()),
                )]),
            ),
            ("ip_version".into(), MmdbValue::U16(6)),
            (
                "languages".into(),
                MmdbValue::Array(vec![MmdbValue::Str("en".into())]),
            ),
            ("node_count".into(), MmdbValue::U32(node_count)),
            ("record_size".into(), MmdbValue::U16(record_size)),
        ])
    }
}

/// Reachable tree nodes in output order plus the encoded data section.
struct Layout {
    /// Arena indices of reachable nodes; position = node number.
    order: Vec<usize>,
    /// Node number per arena index (`usize::MAX` if unreachable).
    node_numbers: Vec<usize>,
    /// Data-section offset per referenced value index.
    value_offsets: HashMap<usize, usize>,
    /// The data section.
    data: Vec<u8>,
}

impl Layout {
    /// Number of nodes in the serialised tree.
    fn node_count(&self) -> u64 {
        self.order.len() as u64
    }
}

/// Appends the encoding of `value` to `out`.
fn encode_value(value: &MmdbValue, out: &mut Vec<u8>) {
    match value {
        MmdbValue::Map(entries) => {
            write_control(out, TYPE_MAP, entries.len());
            for (key, value) in entries {
                encode_str(key, out);
                encode_value(value, out);
            }
        }
        MmdbValue::Str(s) => encode_str(s, out),
        MmdbValue::U16(n) => encode_uint(out, TYPE_UINT16, u64::from(*n)),
        MmdbValue::U32(n) => encode_uint(out, TYPE_UINT32, u64::from(*n)),
        MmdbValue::U64(n) => encode_uint(out, TYPE_UINT64, *n),
        MmdbValue::Double(d) => {
            write_control(out, TYPE_DOUBLE, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        // A boolean's value is its size field; it has no payload.
        MmdbValue::Bool(b) => write_control(out, TYPE_BOOLEAN, usize::from(*b)),
        MmdbValue::Array(items) => {
            write_control(out, TYPE_ARRAY, items.len());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

/// Appends a UTF-8 string.
fn encode_str(s: &str, out: &mut Vec<u8>) {
    write_control(out, TYPE_STRING, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Appends an unsigned integer as its minimal big-endian bytes (0 has none).
fn encode_uint(out: &mut Vec<u8>, type_number: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = (n.leading_zeros() / 8) as usize;
    write_control(out, type_number, bytes.len() - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a control byte, the extended-type byte if `type_number > 7`, and
/// any size extension bytes.
fn write_control(out: &mut Vec<u8>, type_number: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else if size < 65_821 + (1 << 24) {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    } else {
        panic!("MaxMind DB value of size {size} is too large to encode");
    };
    if type_number <= 7 {
        out.push((type_number << 5) | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_number - 7);
    }
    out.extend_from_slice(&extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &MmdbValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, &mut out);
        out
    }

    fn s(text: &str) -> MmdbValue {
        MmdbValue::Str(text.to_owned())
    }

    /// Reads `node_count` and `record_size` (both small) from the tail of `db`
    /// by finding their keys; enough for these tests.
    fn read_tree_header(db: &[u8]) -> (u64, u16) {
        let find_uint_after = |key: &str| -> u64 {
            let mut needle = vec![0x40 | key.len() as u8];
            needle.extend_from_slice(key.as_bytes());
            let at = db.windows(needle.len()).rposition(|w| w == needle).unwrap() + needle.len();
            let size = usize::from(db[at] & 0x1F);
            db[at + 1..at + 1 + size]
                .iter()
                .fold(0, |acc, &b| (acc << 8) | u64::from(b))
        };
        (
            find_uint_after("node_count"),
            find_uint_after("record_size") as u16,
        )
    }

    fn read_record(db: &[u8], record_size: u16, node: u64, bit: usize) -> u64 {
        let node = node as usize;
        match record_size {
            24 => {
                let b = &db[node * 6 + bit * 3..node * 6 + bit * 3 + 3];
                b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
            }
            28 => {
                let b = &db[node * 7..node * 7 + 7];
                if bit == 0 {
                    (u64::from(b[3] >> 4) << 24)
                        | b[..3].iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
                } else {
                    (u64::from(b[3] & 0x0F) << 24)
                        | b[4..].iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
                }
            }
            32 => {
                let b = &db[node * 8 + bit * 4..node * 8 + bit * 4 + 4];
                b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
            }
            _ => unreachable!(),
        }
    }

    /// Walks the tree like a reader; returns the data offset or `None`.
    fn lookup(db: &[u8], ip: IpAddr) -> Option<u64> {
        let (node_count, record_size) = read_tree_header(db);
        let bits = match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let mut node = 0;
        for i in 0..128 {
            if node >= node_count {
                break;
            }
            node = read_record(db, record_size, node, ((bits >> (127 - i)) & 1) as usize);
        }
        assert!(
            node >= node_count,
            "ran out of address bits inside the tree"
        );
        (node > node_count).then(|| node - node_count - DATA_SECTION_SEPARATOR as u64)
    }

    #[test]
    fn short_string_control_byte() {
        assert_eq!(encoded(&s("abc")), vec![0x43, b'a', b'b', b'c']);
        assert_eq!(encoded(&s("")), vec![0x40]);
    }

    #[test]
    fn long_string_size_extensions() {
        let bytes = encoded(&s(&"x".repeat(29)));
        assert_eq!(&bytes[..2], &[0x5D, 0x00]);
        assert_eq!(bytes.len(), 2 + 29);
        let bytes = encoded(&s(&"x".repeat(300)));
        assert_eq!(&bytes[..3], &[0x5E, 0x00, 0x0F]);
        let bytes = encoded(&s(&"x".repeat(70_000)));
        // 70,000 - 65,821 = 4,179 = 0x001053
        assert_eq!(&bytes[..4], &[0x5F, 0x00, 0x10, 0x53]);
        assert_eq!(bytes.len(), 4 + 70_000);
    }

    #[test]
    fn unsigned_integers_use_minimal_bytes() {
        assert_eq!(encoded(&MmdbValue::U32(500)), vec![0xC2, 0x01, 0xF4]);
        assert_eq!(encoded(&MmdbValue::U32(0)), vec![0xC0]);
        assert_eq!(
            encoded(&MmdbValue::U32(u32::MAX)),
            vec![0xC4, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(encoded(&MmdbValue::U16(2)), vec![0xA1, 0x02]);
    }

    #[test]
    fn extended_types() {
        // uint64: control byte holds size, next byte is type 9 - 7 = 2.
        assert_eq!(encoded(&MmdbValue::U64(1)), vec![0x01, 0x02, 0x01]);
        assert_eq!(encoded(&MmdbValue::U64(0)), vec![0x00, 0x02]);
        // boolean: type 14 - 7 = 7, value in the size bits.
        assert_eq!(encoded(&MmdbValue::Bool(true)), vec![0x01, 0x07]);
        assert_eq!(encoded(&MmdbValue::Bool(false)), vec![0x00, 0x07]);
        // array: type 11 - 7 = 4.
        assert_eq!(
            encoded(&MmdbValue::Array(vec![s("en"), s("de")])),
            vec![0x02, 0x04, 0x42, b'e', b'n', 0x42, b'd', b'e']
        );
        // Size extension bytes come after the extended-type byte.
        let big = encoded(&MmdbValue::Array(vec![MmdbValue::Bool(true); 30]));
        assert_eq!(&big[..3], &[0x1D, 0x04, 0x01]);
    }

    #[test]
    fn map_and_double() {
        let map = MmdbValue::Map(vec![("en".into(), s("x"))]);
        assert_eq!(encoded(&map), vec![0xE1, 0x42, b'e', b'n', 0x41, b'x']);
        assert_eq!(
            encoded(&MmdbValue::Double(1.0)),
            vec![0x68, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn single_v4_slash_24_tree() {
        let mut w = MmdbWriter::new("Test", "test");
        w.insert("203.0.113.0".parse().unwrap(), 24, s("a"))
            .unwrap();
        let db = w.to_bytes();
        let (node_count, record_size) = read_tree_header(&db);
        // One node per bit of ::203.0.113.0/120 above the leaf.
        assert_eq!(node_count, 96 + 24);
        assert_eq!(record_size, 24);
        let tree_len = node_count as usize * 6;
        assert_eq!(&db[tree_len..tree_len + 16], &[0; 16]);
        assert_eq!(&db[tree_len + 16..tree_len + 18], &[0x41, b'a']);
        assert!(db
            .windows(METADATA_MARKER.len())
            .any(|w| w == METADATA_MARKER));
        assert_eq!(lookup(&db, "203.0.113.77".parse().unwrap()), Some(0));
        assert_eq!(lookup(&db, "203.0.112.255".parse().unwrap()), None);
        assert_eq!(lookup(&db, "10.0.0.1".parse().unwrap()), None);
        assert_eq!(lookup(&db, "2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn later_inserts_override_and_prune() {
        let mut w = MmdbWriter::new("Test", "test");
        w.insert("10.0.0.0".parse().unwrap(), 24, s("inner"))
            .unwrap();
        w.insert("10.0.0.0".parse().unwrap(), 16, s("outer"))
            .unwrap();
        let db = w.to_bytes();
        assert_eq!(read_tree_header(&db).0, 96 + 16);
        assert_eq!(lookup(&db, "10.0.0.1".parse().unwrap()), Some(0));

        let mut w = MmdbWriter::new("Test", "test");
        w.insert("10.0.0.0".parse().unwrap(), 16, s("outer"))
            .unwrap();
        w.insert("10.0.1.0".parse().unwrap(), 24, s("inner"))
            .unwrap();
        let db = w.to_bytes();
        assert_eq!(read_tree_header(&db).0, 96 + 24);
        let outer = lookup(&db, "10.0.200.1".parse().unwrap()).unwrap();
        let inner = lookup(&db, "10.0.1.9".parse().unwrap()).unwrap();
        assert_ne!(outer, inner);
        assert_eq!(lookup(&db, "10.0.0.1".parse().unwrap()), Some(outer));
    }

    #[test]
    fn identical_values_are_stored_once() {
        let mut w = MmdbWriter::new("Test", "test");
        w.insert("10.0.0.0".parse().unwrap(), 8, s("same")).unwrap();
        w.insert("2001:db8::".parse().unwrap(), 32, s("same"))
            .unwrap();
        let db = w.to_bytes();
        let a = lookup(&db, "10.1.2.3".parse().unwrap());
        assert_eq!(a, Some(0));
        assert_eq!(lookup(&db, "2001:db8::5".parse().unwrap()), a);
    }

    #[test]
    fn every_record_size_walks_the_same() {
        let mut w = MmdbWriter::new("Test", "test");
        w.insert("198.51.100.0".parse().unwrap(), 24, s("v4"))
            .unwrap();
        w.insert("2001:db8::".parse().unwrap(), 32, s("v6"))
            .unwrap();
        for record_size in [24, 28, 32] {
            let db = w.to_bytes_with_record_size(record_size);
            assert_eq!(read_tree_header(&db).1, record_size);
            assert!(lookup(&db, "198.51.100.1".parse().unwrap()).is_some());
            assert!(lookup(&db, "2001:db8:1::1".parse().unwrap()).is_some());
            assert_eq!(lookup(&db, "192.0.2.1".parse().unwrap()), None);
        }
    }

    #[test]
    fn whole_space_and_empty_database() {
        let db = MmdbWriter::new("Test", "test").to_bytes();
        assert_eq!(read_tree_header(&db).0, 1);
        assert_eq!(lookup(&db, "10.0.0.1".parse().unwrap()), None);

        let mut w = MmdbWriter::new("Test", "test");
        w.insert("::".parse().unwrap(), 0, s("all")).unwrap();
        let db = w.to_bytes();
        assert_eq!(lookup(&db, "ffff::1".parse().unwrap()), Some(0));
        assert_eq!(lookup(&db, "10.0.0.1".parse().unwrap()), Some(0));
    }

    #[test]
    fn rejects_overlong_prefixes() {
        let mut w = MmdbWriter::new("Test", "test");
        assert_eq!(
            w.insert("10.0.0.0".parse().unwrap(), 33, s("x")),
            Err(MmdbWriteError::V4PrefixTooLong {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                prefix_len: 33
            })
        );
        assert!(matches!(
            w.insert("::1".parse().unwrap(), 129, s("x")),
            Err(MmdbWriteError::V6PrefixTooLong {
                prefix_len: 129,
                ..
            })
        ));
        assert!(w.insert("10.0.0.1".parse().unwrap(), 32, s("x")).is_ok());
        assert!(w.insert("::1".parse().unwrap(), 128, s("x")).is_ok());
    }
}
