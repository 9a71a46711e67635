//! Writing a container's log: output is gathered into entries of up to [`MAX_ENTRY`] bytes
//! (whole lines where it can), and the file is rotated at its `max-size`.
//!
//! Why gather: one JSON entry per line costs about 70 bytes of framing (`{"log":...,
//! "stream":"stdout","time":"2026-...Z"}`) whatever the line's length, so a container
//! printing short lines (`yes`, `seq`) made a log some 50 times the size of its output
//! (6 MB became 296 MB). What one read brings, and what is already waiting in the pipes
//! after it, shares one entry; the watcher writes it as soon as the pipes are drained
//! ([`LogWriter::pending`] tells it there is something to write), and readers split entries
//! back into lines.

use super::config::LogConfig;
use super::files::rotated;
use super::LogEntry;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The most output one entry holds (Docker's json-file splits lines at 16 KiB too).
pub const MAX_ENTRY: usize = 16 << 10;

/// Appends entries to a container's log, rotating it.
pub struct LogWriter {
    path: PathBuf,
    config: LogConfig,
    file: File,
    size: u64,
    /// Output not yet written, all from `pending_stream`, with the time it arrived.
    pending: Vec<u8>,
    pending_stream: &'static str,
    pending_time: String,
}

impl LogWriter {
    /// Opens (creates) the log at `path` for appending, bounded by `config`.
    pub fn open(path: &Path, config: LogConfig) -> Result<LogWriter> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .with_context(|| format!("stat of log {}", path.display()))?
            .len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            config,
            file,
            size,
            pending: Vec::new(),
            pending_stream: "stdout",
            pending_time: String::new(),
        })
    }

    /// Takes `data` read from `stream`; whole entries are written once [`MAX_ENTRY`] bytes
    /// are waiting, the rest by [`LogWriter::flush`].
    pub fn write(&mut self, stream: &'static str, data: &[u8]) -> Result<()> {
        if self.pending_stream != stream {
            // Keeps the two streams in the order they came.
            self.flush()?;
            self.pending_stream = stream;
        }
        if self.pending.is_empty() {
            self.pending_time = pier_oci::time::now_rfc3339();
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= MAX_ENTRY {
            let cut = cut_point(&self.pending[..MAX_ENTRY]);
            let rest = self.pending.split_off(cut);
            let chunk = std::mem::replace(&mut self.pending, rest);
            self.emit(&chunk)?;
            self.pending_time = pier_oci::time::now_rfc3339();
        }
        Ok(())
    }

    /// Whether output is waiting to be written (the caller flushes it when idle).
    pub fn pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes what is waiting.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        self.emit(&chunk)
    }

    fn emit(&mut self, chunk: &[u8]) -> Result<()> {
        let entry = LogEntry {
            log: String::from_utf8_lossy(chunk).into_owned(),
            stream: self.pending_stream.to_string(),
            time: self.pending_time.clone(),
        };
        let mut out = serde_json::to_vec(&entry).context("encoding a log entry")?;
        out.push(b'\n');
        if self.size > 0 && self.size + out.len() as u64 > self.config.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(&out)
            .with_context(|| format!("writing log {}", self.path.display()))?;
        self.size += out.len() as u64;
        Ok(())
    }

    /// `log.N-1` is dropped, `log.K` becomes `log.K+1`, the live file `log.1`; with one file
    /// the live file is emptied (as Docker does with `max-file=1`).
    fn rotate(&mut self) -> Result<()> {
        let keep = self.config.max_file;
        if keep <= 1 {
            self.file
                .set_len(0)
                .with_context(|| format!("emptying log {}", self.path.display()))?;
        } else {
            for n in (1..keep).rev() {
                let from = if n == 1 {
                    self.path.clone()
                } else {
                    rotated(&self.path, n - 1)
                };
                match std::fs::rename(&from, rotated(&self.path, n)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("rotating log {}", from.display()))
                    }
                }
            }
            // Files past max-file, left by a container created with a larger one.
            let mut n = keep;
            while std::fs::remove_file(rotated(&self.path, n)).is_ok() {
                n += 1;
            }
            self.file = open_append(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log {}", path.display()))
}

/// Where to end an entry of at most `window.len()` bytes: after its last newline, else before
/// a UTF-8 character the window would split.
fn cut_point(window: &[u8]) -> usize {
    if let Some(i) = window.iter().rposition(|b| *b == b'\n') {
        return i + 1;
    }
    match std::str::from_utf8(window) {
        // An incomplete character at the end (no error length): it goes to the next entry.
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
        _ => window.len(),
    }
}
