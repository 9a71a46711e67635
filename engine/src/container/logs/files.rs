//! The files of one log: the live `container.log` and the rotated `container.log.1` (newest)
//! to `container.log.N` (oldest), as Docker names them.

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub use pier_watch::log_writer::rotated;

/// One file of a log, opened.
pub struct LogFile {
    /// The open file (kept open: a rotation renames it, the content stays readable).
    pub file: File,
    /// Its inode, to tell the live file from the one that replaced it.
    pub ino: u64,
    /// Its size when it was opened.
    pub len: u64,
}

impl LogFile {
    /// Opens `path`; `None` if there is no such file.
    pub fn open(path: &Path) -> Result<Option<LogFile>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening log {}", path.display())),
        };
        let meta = file
            .metadata()
            .with_context(|| format!("stat of log {}", path.display()))?;
        Ok(Some(LogFile {
            file,
            ino: meta.ino(),
            len: meta.len(),
        }))
    }
}

/// Opens every file of the log at `path`, oldest first, the live file last (if it exists).
/// Opened at once, so a rotation while they are read loses nothing.
pub fn open_all(path: &Path) -> Result<Vec<LogFile>> {
    let mut newest_first = Vec::new();
    let mut n = 1;
    while let Some(f) = LogFile::open(&rotated(path, n))? {
        newest_first.push(f);
        n += 1;
    }
    newest_first.reverse();
    if let Some(live) = LogFile::open(path)? {
        newest_first.push(live);
    }
    Ok(newest_first)
}

/// The inode of the live file at `path`, if there is one.
pub fn live_ino(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}
