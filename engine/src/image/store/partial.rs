//! Partial downloads kept across runs, as containerd's `ingest/` keeps them: a layer blob
//! being downloaded lives in `images/ingest/<hex>` (its length is how far it got), so a
//! `pier pull` that was killed or lost its network resumes each blob with an HTTP `Range`
//! request the next time instead of starting over.
//!
//! A partial file is never used as a layer: once complete it is moved into a staging
//! directory and verified (size, digest, diff ID) like any other blob before anything is
//! published. The pull holding a partial has it `flock`ed, so two pulls never write the
//! same file (the second downloads privately) and a prune leaves it alone. One longer
//! than its blob (stale) is emptied before use; one whose content turns out wrong is the
//! caller's to [`PartialBlob::discard`]. `pier image prune` and `system prune` remove the
//! partials no pull is writing ([`ImageStore::prune_partials`]).

use super::ImageStore;
use crate::image::digest::digest_hex;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The directory under `images/` that holds partial downloads.
pub(super) const INGEST_DIR: &str = "ingest";

/// The partial download of one blob, locked by this process; positioned at its end.
pub struct PartialBlob {
    file: Flock<File>,
    path: PathBuf,
    /// Bytes already there when it was opened (0: a fresh download).
    resumed_from: u64,
}

impl PartialBlob {
    /// The file to append to (positioned at its end when opened).
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// How many bytes an earlier run had downloaded (what to ask a `Range` from).
    pub fn resumed_from(&self) -> u64 {
        self.resumed_from
    }

    /// Empties the file: its content was wrong (a corrupt prefix) or is not wanted.
    pub fn discard(&mut self) -> Result<()> {
        self.resumed_from = 0;
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(|_| ()))
            .with_context(|| format!("emptying {}", self.path.display()))
    }

    /// The download is complete: moves the file to `dest` (in the store's staging area,
    /// where it is verified before use). The lock goes with this value.
    pub fn finish(self, dest: &Path) -> Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("syncing {}", self.path.display()))?;
        fs::rename(&self.path, dest)
            .with_context(|| format!("moving {} to {}", self.path.display(), dest.display()))
    }
}

impl ImageStore {
    fn ingest_dir(&self) -> PathBuf {
        self.dir.join(INGEST_DIR)
    }

    /// Opens (creating it if new) the partial download of blob `digest`, `size` bytes
    /// long, locked for this process. `None` when another pull is downloading that blob
    /// right now: the caller then downloads into a private file.
    pub fn open_partial(&self, digest: &str, size: u64) -> Result<Option<PartialBlob>> {
        let dir = self.ingest_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(digest_hex(digest)?);
        let Some(file) = lock_in_place(&path, true)? else {
            return Ok(None);
        };
        let mut partial = PartialBlob {
            resumed_from: 0,
            path,
            file,
        };
        let len = partial
            .file
            .metadata()
            .with_context(|| format!("inspecting {}", partial.path.display()))?
            .len();
        if len > size {
            // Longer than the blob: not a prefix of it.
            partial.discard()?;
        } else {
            partial.resumed_from = len;
            partial
                .file
                .seek(SeekFrom::End(0))
                .with_context(|| format!("seeking in {}", partial.path.display()))?;
        }
        Ok(Some(partial))
    }

    /// Removes every partial download that no pull is writing (`pier image prune`,
    /// `pier system prune`); returns their blob digests and the bytes they held.
    pub fn prune_partials(&self) -> Result<(Vec<String>, u64)> {
        let dir = self.ingest_dir();
        let entries = match fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            r => r.with_context(|| format!("reading {}", dir.display()))?,
        };
        let (mut removed, mut bytes) = (Vec::new(), 0);
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let Some(file) = lock_in_place(&path, false)? else {
                continue;
            };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            bytes += len;
            removed.push(format!("sha256:{}", entry.file_name().to_string_lossy()));
        }
        Ok((removed, bytes))
    }
}

/// Opens `path` (creating it if `create`) and takes its `flock` without waiting. `None`
/// if another process holds it, or (not creating) the file is gone. After locking, the
/// name must still be this file: a pull that finished meanwhile renamed it away (into its
/// staging directory), and writing to that would corrupt its blob.
fn lock_in_place(path: &Path, create: bool) -> Result<Option<Flock<File>>> {
    loop {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path);
        let file = match opened {
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            r => r.with_context(|| format!("opening partial download {}", path.display()))?,
        };
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        };
        let held = file
            .metadata()
            .with_context(|| format!("inspecting {}", path.display()))?;
        match fs::symlink_metadata(path) {
            Ok(named) if named.ino() == held.ino() && named.dev() == held.dev() => {
                return Ok(Some(file))
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("inspecting {}", path.display()));
            }
            // Renamed away or replaced: open the name again.
            _ if create => continue,
            _ => return Ok(None),
        }
    }
}
