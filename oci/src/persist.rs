//! On-disk state helpers: atomic writes and advisory locks.
//!
//! Every state file pier writes goes through [`write_atomic`] or [`write_replace`] (both
//! [`crate::atomic_file`]: a temporary file in the same directory, renamed over the old one),
//! so a reader never sees half a file, and a `pier` killed mid-write leaves the old file as it
//! was. Mutations of shared state are guarded by [`Lock`] (an `flock` on a lock file), so
//! several `pier` commands at once never corrupt it.

use crate::atomic_file::{self, Options};
use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File, OpenOptions};
use std::path::Path;

/// Writes `data` to `path` atomically (temporary file + fsync + rename): readers see the old
/// or the new file, never a mix, even after a power cut. For the image store.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    atomic_file::write(path, data, Options::durable())
}

/// Like [`write_atomic`] without the fsync: still all-or-nothing for readers (rename), but
/// not forced to disk. For container and runtime state, rewritten several times per container
/// start, where an fsync each time would cost more than the whole start (tens of ms on a busy
/// disk) and a power cut ends the containers anyway.
pub fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    atomic_file::write(path, data, Options::replace())
}

/// Serializes `value` as pretty JSON and writes it with [`write_replace`].
pub fn write_json_replace<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .with_context(|| format!("serializing {}", path.display()))?;
    write_replace(path, &data)
}

/// Serializes `value` as pretty JSON and writes it atomically to `path`.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value)
        .with_context(|| format!("serializing {}", path.display()))?;
    write_atomic(path, &data)
}

/// Reads and parses a JSON file, naming the file in any error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
}

/// An exclusive advisory lock on a file, released when dropped.
pub struct Lock {
    _flock: Flock<File>,
}

impl Lock {
    /// Blocks until the exclusive lock on `path` (created if missing) is held.
    pub fn exclusive(path: &Path) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("flock {}", path.display()))?;
        Ok(Lock { _flock: flock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_json_atomic(&p, &vec![1, 2, 3]).unwrap();
        write_json_atomic(&p, &vec![4]).unwrap();
        let v: Vec<i32> = read_json(&p).unwrap();
        assert_eq!(v, vec![4]);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn read_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing.json");
        let err = read_json::<Vec<i32>>(&p).unwrap_err();
        assert!(format!("{err:#}").contains("missing.json"));
    }
}
