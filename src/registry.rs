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

/// Opens `input` and skips the content the registry says was taken.
pub fn position(
    input: &Input,
    registry: &[InputRecord],
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
) -> Result<Positioned> {
    let name = input.name();
    let (mut reader, compressed) = input.open_detailed(counter.clone())?;
    let mut head = Vec::with_capacity(HEAD_LEN as usize);
    read_up_to(&mut reader, HEAD_LEN, &mut head).map_err(io_err(&name))?;
    let mut candidates: Vec<&InputRecord> = registry
        .iter()
        .filter(|e| {
            e.head_len <= head.len() as u64
                && hex(&Sha256::digest(&head[..e.head_len as usize])) == e.head_hash
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.bytes));
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
