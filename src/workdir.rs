//! Working directories in the system's temporary directory that a killed
//! process does not leave behind for good.
//!
//! A command on a dataset in object storage works in a local checkout of
//! it, and a Ballista executor keeps its shuffle files in a work directory;
//! both are removed when the process ends normally. A nightly job killed by
//! the out-of-memory killer, a timeout or SIGKILL never gets there, and its
//! checkout (the live files of a table, possibly gigabytes) would stay in
//! `/tmp` until the machine is rebooted. So each directory holds a lock
//! file that its process keeps locked while it lives (the kernel drops the
//! lock when the process dies, however it dies), and the next pixelsift to
//! make a directory of the same kind removes those whose lock is free.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{io_err, Result};

/// The lock file inside each directory.
const LOCK: &str = ".pixelsift-owner";

/// A directory without its lock file is left alone for this long: it may
/// be one another process is making right now. Older ones were left by a
/// process killed between making the directory and locking it. Where the
/// system lists its processes (`/proc`), the process id in the
/// directory's name tells sooner: one whose process is gone is removed at
/// once (CI's kill test hit that window of a few system calls).
const UNLOCKED_GRACE: Duration = Duration::from_secs(3600);

/// A temporary directory, removed when dropped, or by a later [`sweep`]
/// if its process dies first.
#[derive(Debug)]
pub struct WorkDir {
    dir: tempfile::TempDir,
    /// Held for the directory's life; its lock is what tells a sweep that
    /// the directory is in use.
    _lock: File,
}

/// What a [`sweep`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Directories removed.
    pub dirs: usize,
    /// Bytes of the files in them.
    pub bytes: u64,
}

impl WorkDir {
    /// Makes `<temp dir>/<prefix>XXXXXX`, after sweeping away the
    /// directories of that prefix whose processes are gone.
    pub fn new(prefix: &str) -> Result<(Self, Swept)> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// Makes `<parent>/<prefix><pid>-XXXXXX`, after sweeping `parent`.
    pub fn new_in(parent: &Path, prefix: &str) -> Result<(Self, Swept)> {
        let swept = sweep(parent, prefix);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(io_err(parent))?;
        // Locked under another name and then renamed into place, so that a
        // sweep never finds the lock file before it is locked.
        let fresh = dir.path().join(format!("{LOCK}.new"));
        let lock = File::create(&fresh).map_err(io_err(&fresh))?;
        lock.lock().map_err(io_err(&fresh))?;
        let path = dir.path().join(LOCK);
        std::fs::rename(&fresh, &path).map_err(io_err(&path))?;
        Ok((WorkDir { dir, _lock: lock }, swept))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the directories `<parent>/<prefix>*` whose lock is free: their
/// processes are gone. Best effort: a directory that cannot be read or
/// removed (another user's, say) is left as it is.
pub fn sweep(parent: &Path, prefix: &str) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return swept;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(prefix) {
            continue;
        }
        // Not following a link: only directories pixelsift made are removed.
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = e.path();
        // Holding the lock while removing: a second sweep at the same time
        // finds it taken and moves on.
        let _held = match File::open(dir.join(LOCK)) {
            Ok(f) => match f.try_lock() {
                Ok(()) => Some(f),
                Err(_) => continue,
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > UNLOCKED_GRACE);
                let pid = name.to_string_lossy()[prefix.len()..]
                    .split_once('-')
                    .and_then(|(p, _)| p.parse::<u32>().ok());
                if !old && !pid.is_some_and(gone) {
                    continue;
                }
                None
            }
            Err(_) => continue,
        };
        let bytes = size_of_tree(&dir);
        if std::fs::remove_dir_all(&dir).is_ok() {
            swept.dirs += 1;
            swept.bytes += bytes;
        }
    }
    swept
}

/// True when process `pid` is known to have ended: the system lists its
/// processes under `/proc` and this one is not there.
fn gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Bytes of the files under `dir`, not following links.
fn size_of_tree(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "pixelsift-test-";

    fn names(parent: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_dead_process_dir_is_swept_and_a_live_one_kept() {
        let parent = tempfile::tempdir().unwrap();
        let (live, swept) = WorkDir::new_in(parent.path(), PREFIX).unwrap();
        assert_eq!(swept, Swept::default());
        assert!(live.path().join(LOCK).exists());
        // A directory whose process died: its lock file is there, unlocked.
        let dead = parent.path().join(format!("{PREFIX}dead"));
        std::fs::create_dir_all(dead.join("events")).unwrap();
        std::fs::write(dead.join(LOCK), b"").unwrap();
        std::fs::write(dead.join("events/part.parquet"), vec![7u8; 1000]).unwrap();
        // Another kind of directory, and a plain file, are never touched.
        let other = parent.path().join("pixelsift-executor-x");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(LOCK), b"").unwrap();
        std::fs::write(parent.path().join(format!("{PREFIX}file")), b"x").unwrap();

        let (second, swept) = WorkDir::new_in(parent.path(), PREFIX).unwrap();
        assert_eq!(
            swept,
            Swept {
                dirs: 1,
                bytes: 1000
            }
        );
        assert!(!dead.exists());
        assert!(
            live.path().exists(),
            "a live process's directory was removed"
        );
        assert!(other.exists());
        let live_path = live.path().to_path_buf();
        let second_path = second.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists(), "dropped, the directory goes");
        assert_eq!(names(parent.path()).len(), 3);
        // The one still held survives another sweep; once released, it goes.
        assert_eq!(sweep(parent.path(), PREFIX), Swept::default());
        let WorkDir { dir, _lock } = second;
        let _ = dir.keep();
        drop(_lock);
        assert_eq!(sweep(parent.path(), PREFIX).dirs, 1);
        assert!(!second_path.exists());
    }

    #[test]
    fn a_dir_without_its_lock_file_is_kept_while_young() {
        let parent = tempfile::tempdir().unwrap();
        let young = parent.path().join(format!("{PREFIX}young"));
        std::fs::create_dir(&young).unwrap();
        assert_eq!(sweep(parent.path(), PREFIX), Swept::default());
        assert!(young.exists());
        let old = std::time::SystemTime::now() - UNLOCKED_GRACE - Duration::from_secs(60);
        File::open(&young).unwrap().set_modified(old).unwrap();
        assert_eq!(sweep(parent.path(), PREFIX).dirs, 1);
        assert!(!young.exists());
    }

    /// A process killed between making its directory and locking it left
    /// the directory without a lock file: the process id in its name says
    /// that it is gone, and the directory goes without waiting an hour. One
    /// whose process lives stays.
    #[test]
    fn a_dir_without_its_lock_file_goes_once_its_process_is_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let orphan = parent.path().join(format!("{PREFIX}{dead}-abc123"));
        let mine = parent
            .path()
            .join(format!("{PREFIX}{}-def456", std::process::id()));
        std::fs::create_dir(&orphan).unwrap();
        std::fs::create_dir(&mine).unwrap();
        assert_eq!(sweep(parent.path(), PREFIX).dirs, 1);
        assert!(!orphan.exists());
        assert!(mine.exists());
        let (made, _) = WorkDir::new_in(parent.path(), PREFIX).unwrap();
        let name = made
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(
            name.starts_with(&format!("{PREFIX}{}-", std::process::id())),
            "{name}"
        );
    }
}
