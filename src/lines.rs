//! Bytes to blocks of whole lines: the unit of parallel work.
//!
//! Blocks are about 1 MiB, end on a line break, and carry the number of their
//! first line, so workers can parse them in any order and still name lines.
//! A line longer than a block cannot be held whole: it becomes an
//! [`Block::Oversized`] marker (with its start kept for the reject record)
//! instead of growing the buffer without bound.

use std::io::Read;
use std::sync::{Arc, Mutex};

/// Block size, and so the longest line kept whole.
pub const BLOCK_SIZE: usize = 1 << 20;
/// How much of an over-long line is kept in its reject record.
pub const OVERSIZED_KEEP: usize = 1024;

/// A piece of input handed to a worker.
#[derive(Debug)]
pub enum Block {
    /// Whole lines; the last may lack its line break at end of input.
    Lines {
        /// The bytes.
        data: Vec<u8>,
        /// 1-based number of the first line.
        first_line: u64,
    },
    /// One line longer than [`BLOCK_SIZE`].
    Oversized {
        /// Its first [`OVERSIZED_KEEP`] bytes.
        head: Vec<u8>,
        /// Its 1-based line number.
        line: u64,
    },
}

/// Block buffers the consumer is done with, for the reader to fill again.
///
/// A fresh buffer costs a zero fill of [`BLOCK_SIZE`] bytes and, from the
/// allocator, fresh pages (a page fault and the kernel's own zeroing per
/// 4 KiB): about 2% of an ingest's CPU when every block had a new one.
#[derive(Debug, Clone, Default)]
pub struct Spares(Arc<Mutex<Vec<Vec<u8>>>>);

/// Spare buffers kept at most (64 MiB): more than the blocks ingest holds
/// at once on two cores (8 a thread queued and 8 a thread being parsed),
/// and a bound on what spares keep whatever the number of cores.
const MAX_SPARES: usize = 64;

impl Spares {
    /// Hands back a block's buffer once its lines are processed.
    pub fn give(&self, block: Block) {
        if let Block::Lines { data, .. } = block {
            self.keep(data);
        }
    }

    fn keep(&self, buf: Vec<u8>) {
        if buf.capacity() >= BLOCK_SIZE {
            let mut spares = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if spares.len() < MAX_SPARES {
                spares.push(buf);
            }
        }
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

/// Reads blocks of whole lines from any reader.
///
/// Every byte it hands out (or skips as part of an over-long line) is
/// counted and hashed, so the registry can later recognise exactly the
/// content that was taken.
pub struct BlockReader<R> {
    inner: R,
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
    skipping: bool,
    hold_partial: bool,
    held: u64,
    consumed: u64,
    hasher: blake3::Hasher,
    pending_err: Option<std::io::Error>,
    spares: Spares,
}

impl<R: Read> BlockReader<R> {
    /// Wraps a reader; line numbers start at 1.
    pub fn new(inner: R) -> Self {
        Self::resume(inner, 1, blake3::Hasher::new(), false)
    }

    /// Wraps a reader whose content continues an input: numbering starts at
    /// `first_line`, hashing continues `hasher`. With `hold_partial`, a last
    /// line without its line break is left for a later run (a log still
    /// being written), instead of being taken half.
    pub fn resume(inner: R, first_line: u64, hasher: blake3::Hasher, hold_partial: bool) -> Self {
        BlockReader {
            inner,
            carry: Vec::new(),
            next_line: first_line,
            eof: false,
            skipping: false,
            hold_partial,
            held: 0,
            consumed: 0,
            hasher,
            pending_err: None,
            spares: Spares::default(),
        }
    }

    /// Fills the buffers handed back to `spares` before allocating new ones.
    pub fn with_spares(mut self, spares: Spares) -> Self {
        self.spares = spares;
        self
    }

    /// Bytes handed out or skipped so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes of a trailing partial line left for later (known at the end).
    pub fn held_back(&self) -> u64 {
        self.held
    }

    /// The number the next line would get.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// The BLAKE3 hash of everything consumed, including what came before a resume.
    pub fn finish_hash(self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }

    fn take(&mut self, bytes: &[u8]) {
        self.consumed += bytes.len() as u64;
        self.hasher.update(bytes);
    }

    /// The next block, `None` at the end of input. A read error is reported
    /// after the whole lines read before it have been handed out.
    pub fn next_block(&mut self) -> std::io::Result<Option<Block>> {
        let r = self.next_block_inner();
        match r {
            Ok(None) => match self.pending_err.take() {
                Some(e) => Err(e),
                None => Ok(None),
            },
            other => other,
        }
    }

    fn next_block_inner(&mut self) -> std::io::Result<Option<Block>> {
        loop {
            // A spare buffer is initialised up to its length already, and
            // grows (zeroed) only as far as reading needs: a buffer back
            // from a small input is not zeroed to a whole block for the
            // next one (a run of thousands of 200 KB files zeroed 800 KB
            // each), and one back from a big input is filled as it is.
            let mut buf = self
                .spares
                .take()
                .unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
            let mut filled = self.carry.len();
            if buf.len() < filled {
                buf.resize(filled, 0);
            }
            buf[..filled].copy_from_slice(&self.carry);
            self.carry.clear();
            while filled < BLOCK_SIZE && !self.eof {
                if filled == buf.len() {
                    buf.resize((filled * 2).clamp(64 * 1024, BLOCK_SIZE), 0);
                }
                let end = buf.len().min(BLOCK_SIZE);
                match self.inner.read(&mut buf[filled..end]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Hand out the whole lines read so far first; a
                        // line cut by the damage is not taken.
                        self.pending_err = Some(e);
                        self.hold_partial = true;
                        self.eof = true;
                    }
                }
            }
            buf.truncate(filled);
            if self.skipping {
                // Discard the rest of an over-long line.
                match memchr::memchr(b'\n', &buf) {
                    Some(i) => {
                        self.skipping = false;
                        self.carry.extend_from_slice(&buf[i + 1..]);
                        buf.truncate(i + 1);
                        self.take(&buf);
                        self.spares.keep(buf);
                        continue;
                    }
                    None if self.eof => {
                        self.take(&buf);
                        self.spares.keep(buf);
                        return Ok(None);
                    }
                    None => {
                        self.take(&buf);
                        self.spares.keep(buf);
                        continue;
                    }
                }
            }
            // The last call of an input finds nothing more: its buffer goes
            // back (dropped, each of a run's thousands of small inputs cost
            // a fresh buffer, zeroed whole and faulted in).
            if buf.is_empty() {
                self.spares.keep(buf);
                return Ok(None);
            }
            if self.eof {
                if self.hold_partial && buf.last() != Some(&b'\n') {
                    let keep = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                    self.held = (buf.len() - keep) as u64;
                    buf.truncate(keep);
                    if buf.is_empty() {
                        self.spares.keep(buf);
                        return Ok(None);
                    }
                }
                self.take(&buf);
                let first_line = self.next_line;
                self.next_line += count_lines(&buf);
                return Ok(Some(Block::Lines {
                    data: buf,
                    first_line,
                }));
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => {
                    self.carry.extend_from_slice(&buf[i + 1..]);
                    buf.truncate(i + 1);
                    self.take(&buf);
                    let first_line = self.next_line;
                    self.next_line += count_lines(&buf);
                    return Ok(Some(Block::Lines {
                        data: buf,
                        first_line,
                    }));
                }
                None => {
                    self.take(&buf);
                    let head = buf[..OVERSIZED_KEEP].to_vec();
                    self.spares.keep(buf);
                    let line = self.next_line;
                    self.next_line += 1;
                    self.skipping = true;
                    return Ok(Some(Block::Oversized { head, line }));
                }
            }
        }
    }
}

/// Lines in a block: line breaks, plus one for a last line without one.
pub fn count_lines(data: &[u8]) -> u64 {
    let n = memchr::memchr_iter(b'\n', data).count() as u64;
    if data.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// Iterates the lines of a block with their numbers, without line breaks
/// (and without a `\r` before them).
pub fn lines(data: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut rest = data;
    let mut n = first_line;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let out = (n, line);
        n += 1;
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut r = BlockReader::new(input);
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            match b {
                Block::Lines { data, first_line } => {
                    out.extend(lines(&data, first_line).map(|(n, l)| (n, l.to_vec())))
                }
                Block::Oversized { head, line } => out.push((line, head)),
            }
        }
        out
    }

    #[test]
    fn numbers_lines_across_blocks() {
        let mut input = Vec::new();
        for i in 0..200_000 {
            input.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        input.extend_from_slice(b"last without newline");
        let got = collect(&input);
        assert_eq!(got.len(), 200_001);
        assert_eq!(got[123_456], (123_457, b"line 123456".to_vec()));
        assert_eq!(got[200_000], (200_001, b"last without newline".to_vec()));
    }

    /// Buffers handed back are filled again, and what they held before
    /// never shows through: every line comes out whole and numbered.
    #[test]
    fn spare_buffers_are_filled_again_without_stale_bytes() {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..400_000u64 {
            // Lines of varying length, so blocks end at varying offsets
            // and a reused buffer's old tail differs from the new content.
            let line = format!("{i}:{}", "y".repeat((i % 37) as usize));
            input.extend_from_slice(line.as_bytes());
            input.push(b'\n');
            expected.push((i + 1, line.into_bytes()));
        }
        let spares = Spares::default();
        let mut r = BlockReader::new(&input[..]).with_spares(spares.clone());
        let (mut got, mut seen, mut reused) = (Vec::new(), Vec::new(), 0);
        while let Some(b) = r.next_block().unwrap() {
            let Block::Lines { data, first_line } = &b else {
                panic!("no line is over-long")
            };
            if seen.contains(&data.as_ptr()) {
                reused += 1;
            }
            seen.push(data.as_ptr());
            got.extend(lines(data, *first_line).map(|(n, l)| (n, l.to_vec())));
            spares.give(b);
        }
        assert!(seen.len() >= 4, "{} blocks", seen.len());
        assert_eq!(
            reused,
            seen.len() - 1,
            "every block after the first reuses a buffer"
        );
        assert_eq!(got, expected);
        assert_eq!(r.finish_hash(), *blake3::hash(&input).as_bytes());
    }

    #[test]
    fn holds_back_a_partial_last_line_and_hashes_what_it_takes() {
        let input = b"a\nb\npart";
        let mut r = BlockReader::resume(&input[..], 1, blake3::Hasher::new(), true);
        let Some(Block::Lines { data, .. }) = r.next_block().unwrap() else {
            panic!()
        };
        assert_eq!(data, b"a\nb\n");
        assert!(r.next_block().unwrap().is_none());
        assert_eq!((r.consumed(), r.held_back(), r.next_line()), (4, 4, 3));
        assert_eq!(r.finish_hash(), *blake3::hash(b"a\nb\n").as_bytes());
    }

    #[test]
    fn oversized_line_is_marked_and_skipped() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', BLOCK_SIZE * 2 + 5));
        input.extend_from_slice(b"\r\nb\n");
        let got = collect(&input);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, b"a".to_vec()));
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.len(), OVERSIZED_KEEP);
        assert_eq!(got[2], (3, b"b".to_vec()));
    }
}
