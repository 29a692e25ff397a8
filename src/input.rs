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
    /// An object in object storage (`s3://bucket/key`), streamed.
    #[cfg(feature = "cloud")]
    Object(crate::remote::ObjectInput),
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

    /// Turns arguments into inputs: `-` is stdin, a directory is every file
    /// under it (recursively, in name order) whose name matches `glob`, a
    /// URL (`s3://bucket/prefix/`) the object it names or every object
    /// under it whose name matches `glob`.
    pub fn expand(args: &[String], glob: &str) -> Result<Vec<Input>> {
        let mut out = Vec::new();
        for a in args {
            let p = PathBuf::from(a);
            if crate::remote::is_url(a) {
                #[cfg(feature = "cloud")]
                out.extend(
                    crate::remote::list_inputs(a, glob)?
                        .into_iter()
                        .map(Input::Object),
                );
                #[cfg(not(feature = "cloud"))]
                return Err(crate::remote::not_built(a));
            } else if a != "-" && p.is_dir() {
                let mut files = Vec::new();
                walk(&p, glob, &mut files)?;
                files.sort();
                out.extend(files.into_iter().map(Input::File));
            } else {
                out.push(Input::from_arg(a));
            }
        }
        Ok(out)
    }

    /// The name recorded in `source_file`.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
            #[cfg(feature = "cloud")]
            Input::Object(o) => o.url.clone(),
        }
    }

    /// Opens the input, decompressing gzip transparently.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        self.open_counted(None)
    }

    /// Size on disk, when known (for progress).
    pub fn size_on_disk(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
            #[cfg(feature = "cloud")]
            Input::Object(o) => Some(o.size),
        }
    }

    /// Opens the input; `counter` receives the bytes read before decompression.
    pub fn open_counted(&self, counter: Option<Arc<AtomicU64>>) -> Result<Box<dyn Read + Send>> {
        Ok(self.open_detailed(counter)?.0)
    }

    /// Opens the input, also telling whether it was compressed (a compressed
    /// file is complete; a plain one may still be growing).
    pub fn open_detailed(
        &self,
        counter: Option<Arc<AtomicU64>>,
    ) -> Result<(Box<dyn Read + Send>, bool)> {
        match self {
            Input::File(p) => {
                let f = std::fs::File::open(p).map_err(io_err(p))?;
                // Smaller than the blocks the line reader asks for: once the
                // buffer is empty, a plain file is read straight into the
                // block instead of through the buffer (a copy of every byte).
                decompress(
                    BufReader::with_capacity(FILE_BUFFER, Counted { inner: f, counter }),
                    p,
                )
            }
            Input::Stdin => decompress(
                BufReader::with_capacity(
                    1 << 20,
                    Counted {
                        inner: std::io::stdin(),
                        counter,
                    },
                ),
                Path::new("-"),
            ),
            #[cfg(feature = "cloud")]
            Input::Object(o) => decompress(
                BufReader::with_capacity(
                    1 << 20,
                    Counted {
                        inner: o.open()?,
                        counter,
                    },
                ),
                Path::new(&o.url),
            ),
        }
    }
}

/// The read buffer of a local file: what the format sniff and the
/// decompressors read through.
const FILE_BUFFER: usize = 64 << 10;

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

fn decompress<R: BufRead + Send + 'static>(
    mut r: R,
    path: &Path,
) -> Result<(Box<dyn Read + Send>, bool)> {
    let head = r.fill_buf().map_err(io_err(path))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // Multi-member: `cat a.gz b.gz` and some rotators produce several members.
        Ok((Box::new(flate2::bufread::MultiGzDecoder::new(r)), true))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(r).map_err(io_err(path))?;
        Ok((Box::new(d), true))
    } else {
        Ok((Box::new(r), false))
    }
}

fn walk(dir: &Path, glob: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let p = e.map_err(io_err(dir))?.path();
        if p.is_dir() {
            walk(&p, glob, out)?;
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| glob_match(glob.as_bytes(), n.as_bytes()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Matches a file name against a glob with `*` and `?`.
pub fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pat[1..], name) || (!name.is_empty() && glob_match(pat, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &name[1..]),
        (Some(a), Some(b)) if a == b => glob_match(&pat[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_zstd() {
        assert!(glob_match(b"access.log*", b"access.log.2.gz"));
        assert!(glob_match(b"*.gz", b"a.gz"));
        assert!(!glob_match(b"*.gz", b"a.zst"));
        assert!(glob_match(b"a?c", b"abc"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log.zst");
        std::fs::write(
            &p,
            zstd::encode_all(&b"line one\nline two\n"[..], 3).unwrap(),
        )
        .unwrap();
        let mut s = String::new();
        Input::File(p)
            .open()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "line one\nline two\n");
    }
}
