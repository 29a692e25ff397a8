//! Opening inputs: files, gzip by its magic bytes (not its name), or stdin.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{io_err, Result};

/// One log input as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file on disk.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl Input {
    /// Interprets a command-line argument: `-` is stdin.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(arg))
        }
    }

    /// The name recorded in `source_file`.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }

    /// Opens the input, decompressing gzip transparently.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        self.open_counted(None)
    }

    /// Size on disk, when known (for progress).
    pub fn len(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        }
    }

    /// Opens the input; `counter` receives the bytes read before decompression.
    pub fn open_counted(&self, counter: Option<Arc<AtomicU64>>) -> Result<Box<dyn Read + Send>> {
        Ok(self.open_detailed(counter)?.0)
    }

    /// Opens the input, also telling whether it was compressed (a compressed
    /// file is complete; a plain one may still be growing).
    pub fn open_detailed(&self, counter: Option<Arc<AtomicU64>>) -> Result<(Box<dyn Read + Send>, bool)> {
        match self {
            Input::File(p) => {
                let f = std::fs::File::open(p).map_err(io_err(p))?;
                decompress(BufReader::with_capacity(1 << 20, Counted { inner: f, counter }), p)
            }
            Input::Stdin => decompress(
                BufReader::with_capacity(1 << 20, Counted { inner: std::io::stdin(), counter }),
                Path::new("-"),
            ),
        }
    }
}

struct Counted<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

fn decompress<R: BufRead + Send + 'static>(mut r: R, path: &Path) -> Result<(Box<dyn Read + Send>, bool)> {
    let head = r.fill_buf().map_err(io_err(path))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // Multi-member: `cat a.gz b.gz` and some rotators produce several members.
        Ok((Box::new(flate2::bufread::MultiGzDecoder::new(r)), true))
    } else {
        Ok((Box::new(r), false))
    }
}
