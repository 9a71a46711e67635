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

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How big a log may grow: `max-size` and `max-file` of Docker's json-file driver (pier's
/// `LogConfig`, which parses and records them, converts into this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes in one file before it is rotated.
    pub max_size: u64,
    /// Files kept, the live one included (1: the file is emptied instead).
    pub max_file: u32,
}

/// The name of rotated file `n` of the log at `path` (`container.log.1` is the newest).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The most output one entry holds (Docker's json-file splits lines at 16 KiB too).
pub const MAX_ENTRY: usize = 16 << 10;

/// Appends entries to a container's log, rotating it.
pub struct LogWriter {
    path: PathBuf,
    config: Rotation,
    file: File,
    size: u64,
    /// Output not yet written, all from `pending_stream`, with the time it arrived.
    pending: Vec<u8>,
    pending_stream: &'static str,
    pending_time: String,
}

impl LogWriter {
    /// Opens (creates) the log at `path` for appending, bounded by `config`.
    pub fn open(path: &Path, config: impl Into<Rotation>) -> Result<LogWriter> {
        let config = config.into();
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
            self.pending_time = now_rfc3339();
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= MAX_ENTRY {
            let cut = cut_point(&self.pending[..MAX_ENTRY]);
            let rest = self.pending.split_off(cut);
            let chunk = std::mem::replace(&mut self.pending, rest);
            self.emit(&chunk)?;
            self.pending_time = now_rfc3339();
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
        let out = entry_line(chunk, self.pending_stream, &self.pending_time);
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

/// The time an entry's first byte arrived: RFC 3339, UTC, nine fractional digits (as
/// `pier_oci::time::now_rfc3339`; a clock before 1970 prints as 1970).
fn now_rfc3339() -> String {
    let now = SystemTime::now().max(SystemTime::UNIX_EPOCH);
    humantime::format_rfc3339_nanos(now).to_string()
}

/// One line of the log: `{"log":"...","stream":"stdout","time":"..."}` and a newline, the
/// fields in the order Docker's json-file driver writes them. Written by hand (pier reads it
/// back with serde_json) so that the small monitor links no JSON library; output that is not
/// UTF-8 is replaced as `String::from_utf8_lossy` does.
pub fn entry_line(output: &[u8], stream: &str, time: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(output.len() + 64);
    out.extend_from_slice(b"{\"log\":");
    json_string(&mut out, &String::from_utf8_lossy(output));
    out.extend_from_slice(b",\"stream\":");
    json_string(&mut out, stream);
    out.extend_from_slice(b",\"time\":");
    json_string(&mut out, time);
    out.extend_from_slice(b"}\n");
    out
}

/// `text` as a JSON string (RFC 8259: quote, backslash and control characters escaped).
fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_must() {
        let line = entry_line(b"a \"q\" \\ \t\x01\n\xff", "stderr", "T");
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"log\":\"a \\\"q\\\" \\\\ \\t\\u0001\\n\u{fffd}\",\"stream\":\"stderr\",\"time\":\"T\"}\n"
        );
    }
}
