//! Bytes to blocks of whole lines: the unit of parallel work.
//!
//! Blocks are about 1 MiB, end on a line break, and carry the number of their
//! first line, so workers can parse them in any order and still name lines.
//! A line longer than a block cannot be held whole: it becomes an
//! [`Block::Oversized`] marker (with its start kept for the reject record)
//! instead of growing the buffer without bound.

use std::io::Read;

use sha2::{Digest, Sha256};

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
    hasher: Sha256,
    pending_err: Option<std::io::Error>,
}

impl<R: Read> BlockReader<R> {
    /// Wraps a reader; line numbers start at 1.
    pub fn new(inner: R) -> Self {
        Self::resume(inner, 1, Sha256::new(), false)
    }

    /// Wraps a reader whose content continues an input: numbering starts at
    /// `first_line`, hashing continues `hasher`. With `hold_partial`, a last
    /// line without its line break is left for a later run (a log still
    /// being written), instead of being taken half.
    pub fn resume(inner: R, first_line: u64, hasher: Sha256, hold_partial: bool) -> Self {
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
        }
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

    /// The hash of everything consumed, including what came before a resume.
    pub fn finish_hash(self) -> [u8; 32] {
        self.hasher.finalize().into()
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
            let mut buf = std::mem::take(&mut self.carry);
            buf.reserve(BLOCK_SIZE.saturating_sub(buf.len()));
            while buf.len() < BLOCK_SIZE && !self.eof {
                let start = buf.len();
                buf.resize(BLOCK_SIZE, 0);
                match self.inner.read(&mut buf[start..]) {
                    Ok(0) => {
                        buf.truncate(start);
                        self.eof = true;
                    }
                    Ok(n) => buf.truncate(start + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
                    Err(e) => {
                        // Hand out the whole lines read so far first; a
                        // line cut by the damage is not taken.
                        buf.truncate(start);
                        self.pending_err = Some(e);
                        self.hold_partial = true;
                        self.eof = true;
                    }
                }
            }
            if self.skipping {
                // Discard the rest of an over-long line.
                match memchr::memchr(b'\n', &buf) {
                    Some(i) => {
                        self.skipping = false;
                        self.carry = buf.split_off(i + 1);
                        self.take(&buf);
                        continue;
                    }
                    None if self.eof => {
                        self.take(&buf);
                        return Ok(None);
                    }
                    None => {
                        self.take(&buf);
                        continue;
                    }
                }
            }
            if buf.is_empty() {
                return Ok(None);
            }
            if self.eof {
                if self.hold_partial && buf.last() != Some(&b'\n') {
                    let keep = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                    self.held = (buf.len() - keep) as u64;
                    buf.truncate(keep);
                    if buf.is_empty() {
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
                    self.carry = buf.split_off(i + 1);
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
                    buf.truncate(OVERSIZED_KEEP);
                    let line = self.next_line;
                    self.next_line += 1;
                    self.skipping = true;
                    return Ok(Some(Block::Oversized { head: buf, line }));
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

    #[test]
    fn holds_back_a_partial_last_line_and_hashes_what_it_takes() {
        let input = b"a\nb\npart";
        let mut r = BlockReader::resume(&input[..], 1, Sha256::new(), true);
        let Some(Block::Lines { data, .. }) = r.next_block().unwrap() else {
            panic!()
        };
        assert_eq!(data, b"a\nb\n");
        assert!(r.next_block().unwrap().is_none());
        assert_eq!((r.consumed(), r.held_back(), r.next_line()), (4, 4, 3));
        assert_eq!(r.finish_hash(), <[u8; 32]>::from(Sha256::digest(b"a\nb\n")));
    }

    #[test]
    fn oversized_line_is_marked_and_skipped() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat(b'x').take(BLOCK_SIZE * 2 + 5));
        input.extend_from_slice(b"\r\nb\n");
        let got = collect(&input);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, b"a".to_vec()));
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.len(), OVERSIZED_KEEP);
        assert_eq!(got[2], (3, b"b".to_vec()));
    }
}
