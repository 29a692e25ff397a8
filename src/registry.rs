//! Which part of an input is new: the ingest registry.
//!
//! An input is known by its content, not its name: the hash of its first
//! [`HEAD_LEN`] bytes (decompressed) finds candidates, and the hash of the
//! whole prefix taken before confirms one. So `access.log` renamed to
//! `access.log.1` and then gzipped is the same input, a grown `access.log`
//! continues where it stopped, and a second run over the same file adds
//! nothing.
//!
//! The prefix hash is BLAKE3 (dataset format 2): the reader thread hashes
//! every byte of every log, and BLAKE3 does it 3-4x as fast as SHA-256
//! with the CPU's SHA instructions. Records of format 1 carry SHA-256; such
//! an input is checked with SHA-256 once more and continues in BLAKE3, so a
//! dataset moves to the new hash input by input, as its logs come back.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};

use sha2::{Digest, Sha256};

use crate::commit::{hex, InputRecord, HEAD_LEN};
use crate::error::{io_err, Error, Result};
use crate::input::Input;

/// An input opened and positioned after what was already taken.
pub struct Positioned {
    /// The content not yet taken.
    pub reader: Box<dyn Read + Send>,
    /// The registry entry it continues, if any.
    pub known: Option<InputRecord>,
    /// BLAKE3 state over the content already taken.
    pub hasher: blake3::Hasher,
    /// The first up to [`HEAD_LEN`] bytes of the whole content.
    pub head: Vec<u8>,
    /// Whether the input was compressed (so it is complete).
    pub compressed: bool,
}

fn read_up_to(r: &mut dyn Read, n: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    r.take(n).read_to_end(out).map(|_| ())
}

/// The registry during a run, its entries indexed by id and by the hash of
/// their head. A night of CDN logs is thousands of small files, and the
/// registry keeps every file a dataset ever took: comparing each new file
/// with every entry hashed its head once per entry, and 4,000 files of 200
/// KB took 37 s to ingest instead of 3.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<InputRecord>,
    by_id: HashMap<String, usize>,
    /// Entries by the length of the head they hashed, and that hash.
    by_head: HashMap<(u64, String), Vec<usize>>,
    /// How many entries hashed a head of each length.
    lens: BTreeMap<u64, usize>,
}

impl Registry {
    /// The registry of `entries` (ids unique, as a snapshot's are).
    pub fn new(entries: Vec<InputRecord>) -> Self {
        let mut r = Registry::default();
        for e in entries {
            r.upsert(e);
        }
        r
    }

    /// The entries, in the order they were first added.
    pub fn entries(&self) -> &[InputRecord] {
        &self.entries
    }

    /// Adds an entry, or replaces the one with its id.
    pub fn upsert(&mut self, e: InputRecord) {
        let i = match self.by_id.get(&e.id) {
            Some(&i) => {
                let old = &self.entries[i];
                let key = (old.head_len, old.head_hash.clone());
                if let Some(v) = self.by_head.get_mut(&key) {
                    v.retain(|&j| j != i);
                    if v.is_empty() {
                        self.by_head.remove(&key);
                    }
                }
                if let Some(n) = self.lens.get_mut(&old.head_len) {
                    *n -= 1;
                    if *n == 0 {
                        self.lens.remove(&old.head_len);
                    }
                }
                self.entries[i] = e;
                i
            }
            None => {
                self.by_id.insert(e.id.clone(), self.entries.len());
                self.entries.push(e);
                self.entries.len() - 1
            }
        };
        let e = &self.entries[i];
        *self.lens.entry(e.head_len).or_default() += 1;
        self.by_head
            .entry((e.head_len, e.head_hash.clone()))
            .or_default()
            .push(i);
    }

    /// The entries whose head `head` starts with, the longest taken first
    /// (then in the order they were added): one SHA-256 pass over the
    /// head, finished at each head length entries use.
    pub fn candidates(&self, head: &[u8]) -> Vec<&InputRecord> {
        let mut found = Vec::new();
        let mut sha = Sha256::new();
        let mut at = 0;
        for &len in self.lens.keys().take_while(|&&l| l <= head.len() as u64) {
            sha.update(&head[at..len as usize]);
            at = len as usize;
            if let Some(ix) = self.by_head.get(&(len, hex(&sha.clone().finalize()))) {
                found.extend_from_slice(ix);
            }
        }
        found.sort_by_key(|&i| (std::cmp::Reverse(self.entries[i].bytes), i));
        found.into_iter().map(|i| &self.entries[i]).collect()
    }
}

/// Opens `input` and skips the content the registry says was taken.
pub fn position(
    input: &Input,
    registry: &Registry,
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> Result<Positioned> {
    let name = input.name();
    let (mut reader, compressed) = input.open_detailed(counter.clone())?;
    let mut head = Vec::with_capacity(HEAD_LEN as usize);
    read_up_to(&mut reader, HEAD_LEN, &mut head).map_err(io_err(&name))?;
    let candidates = registry.candidates(&head);
    let mut tried = false;
    for (attempt, c) in candidates.into_iter().enumerate() {
        tried = true;
        if attempt > 0 {
            // The previous attempt read past the head: start again.
            if matches!(input, Input::Stdin) {
                return Err(Error::Config(
                    "stdin starts like a registered input but differs later; pass the file by path"
                        .into(),
                ));
            }
            let (r, _) = input.open_detailed(None)?;
            reader = r;
            head.clear();
            read_up_to(&mut reader, HEAD_LEN, &mut head).map_err(io_err(&name))?;
        }
        let mut hasher = PrefixCheck::for_record(c);
        let in_head = c.bytes.min(head.len() as u64) as usize;
        hasher.update(&head[..in_head]);
        let mut rest = Vec::new();
        if c.bytes > head.len() as u64 {
            let want = c.bytes - head.len() as u64;
            let mut taken = 0u64;
            let mut buf = vec![0u8; 1 << 20];
            while taken < want {
                let n = reader
                    .read(&mut buf[..(want - taken).min(1 << 20) as usize])
                    .map_err(io_err(&name))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                taken += n as u64;
            }
            if taken < want {
                continue; // shorter than what was taken: not this input
            }
        } else {
            rest.extend_from_slice(&head[in_head..]);
        }
        if let Some(hasher) = hasher.matches(c) {
            return Ok(Positioned {
                reader: Box::new(Cursor::new(rest).chain(reader)),
                known: Some(c.clone()),
                hasher,
                head,
                compressed,
            });
        }
    }
    let (reader, compressed) = if tried {
        // Checking candidates read past the head: start again.
        if matches!(input, Input::Stdin) {
            return Err(Error::Config(
                "stdin starts like a registered input but differs later; pass the file by path"
                    .into(),
            ));
        }
        let (mut r, c) = input.open_detailed(None)?;
        head.clear();
        read_up_to(&mut r, HEAD_LEN, &mut head).map_err(io_err(&name))?;
        (r, c)
    } else {
        (reader, compressed)
    };
    Ok(Positioned {
        reader: Box::new(Cursor::new(head.clone()).chain(reader)),
        known: None,
        hasher: blake3::Hasher::new(),
        head,
        compressed,
    })
}

/// The registry entry after taking `new_bytes` bytes and `new_lines` lines more.
pub fn updated_entry(
    p_known: Option<&InputRecord>,
    head: &[u8],
    name: &str,
    new_id: &str,
    new_bytes: u64,
    new_lines: u64,
    prefix_hash: [u8; 32],
) -> InputRecord {
    let (id, bytes0, lines0, mut names) = match p_known {
        Some(k) => (k.id.clone(), k.bytes, k.lines, k.names.clone()),
        None => (new_id.to_string(), 0, 0, Vec::new()),
    };
    let bytes = bytes0 + new_bytes;
    let head_len = bytes.min(HEAD_LEN).min(head.len() as u64);
    if names.last().map(String::as_str) != Some(name) {
        names.push(name.to_string());
    }
    InputRecord {
        id,
        head_len,
        head_hash: hex(&Sha256::digest(&head[..head_len as usize])),
        bytes,
        lines: lines0 + new_lines,
        prefix_hash: String::new(),
        prefix_blake3: Some(hex(&prefix_hash)),
        names,
    }
}

/// Hashes a candidate's prefix the way its record did, and in BLAKE3 for
/// what follows.
enum PrefixCheck {
    Blake3(blake3::Hasher),
    /// A format 1 record: SHA-256 to check it, BLAKE3 to go on with.
    Sha256(Sha256, blake3::Hasher),
}

impl PrefixCheck {
    fn for_record(r: &InputRecord) -> Self {
        match r.prefix_blake3 {
            Some(_) => PrefixCheck::Blake3(blake3::Hasher::new()),
            None => PrefixCheck::Sha256(Sha256::new(), blake3::Hasher::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            PrefixCheck::Blake3(b) => {
                b.update(bytes);
            }
            PrefixCheck::Sha256(s, b) => {
                s.update(bytes);
                b.update(bytes);
            }
        }
    }

    /// The BLAKE3 state to go on with, when the prefix is the record's.
    fn matches(self, r: &InputRecord) -> Option<blake3::Hasher> {
        let (ok, b) = match self {
            PrefixCheck::Blake3(b) => (
                r.prefix_blake3.as_deref() == Some(&hex(b.finalize().as_bytes())),
                b,
            ),
            PrefixCheck::Sha256(s, b) => (hex(&s.finalize()) == r.prefix_hash, b),
        };
        ok.then_some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, content: &[u8], bytes: u64) -> InputRecord {
        let head_len = bytes.min(HEAD_LEN).min(content.len() as u64);
        InputRecord {
            id: id.into(),
            head_len,
            head_hash: hex(&Sha256::digest(&content[..head_len as usize])),
            bytes,
            lines: 1,
            prefix_hash: String::new(),
            prefix_blake3: None,
            names: vec![id.into()],
        }
    }

    /// The index finds what comparing the head with every entry finds, in
    /// the same order, across head lengths, and follows entries replaced.
    #[test]
    fn candidates_are_every_entry_the_head_starts_with() {
        let big: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let other: Vec<u8> = (0..10_000u32).map(|i| ((i * 11 + 1) % 253) as u8).collect();
        let entries = vec![
            record("whole", &big, 9_000),
            record("short", &big, 100),
            record("tiny", &big, 1),
            record("other", &other, 9_000),
            record("other-short", &other, 100),
            record("same-len", &big, 100),
            record("empty", &big, 0),
        ];
        let naive = |reg: &[InputRecord], head: &[u8]| {
            let mut c: Vec<&InputRecord> = reg
                .iter()
                .filter(|e| {
                    e.head_len <= head.len() as u64
                        && hex(&Sha256::digest(&head[..e.head_len as usize])) == e.head_hash
                })
                .collect();
            c.sort_by_key(|c| std::cmp::Reverse(c.bytes));
            c.into_iter().map(|c| c.id.clone()).collect::<Vec<_>>()
        };
        let mut reg = Registry::new(entries.clone());
        let ids = |reg: &Registry, head: &[u8]| {
            reg.candidates(head)
                .into_iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
        };
        for head in [&big[..4096], &big[..50], &other[..4096], &big[..0]] {
            assert_eq!(ids(&reg, head), naive(reg.entries(), head));
        }
        assert_eq!(
            ids(&reg, &big[..4096]),
            ["whole", "short", "same-len", "tiny", "empty"]
        );
        // "short" grew: found by its new head only, once.
        reg.upsert(record("short", &other, 5_000));
        assert_eq!(reg.entries().len(), entries.len());
        assert_eq!(
            ids(&reg, &big[..4096]),
            ["whole", "same-len", "tiny", "empty"]
        );
        assert_eq!(
            ids(&reg, &other[..4096]),
            ["other", "short", "other-short", "empty"]
        );
        for head in [&big[..4096], &other[..4096], &other[..100]] {
            assert_eq!(ids(&reg, head), naive(reg.entries(), head));
        }
    }
}
