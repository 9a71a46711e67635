//! Container logs in the format of Docker's `json-file` driver: one JSON object per chunk of
//! output, `{"log": "...", "stream": "stdout", "time": "..."}`, so the two streams stay
//! separate yet in order, and `pier logs` can replay, tail and follow them.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    /// The text (usually one line with its newline).
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds.
    pub time: String,
}

/// Appends entries to a container's log file.
pub struct LogWriter {
    file: File,
}

impl LogWriter {
    /// Opens (creates) the log for appending.
    pub fn open(path: &Path) -> Result<LogWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening log {}", path.display()))?;
        Ok(LogWriter { file })
    }

    /// Writes `data` from `stream`, one entry per line.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> Result<()> {
        let time = pier_oci::time::now_rfc3339();
        let mut out = Vec::new();
        for line in data.split_inclusive(|b| *b == b'\n') {
            let entry = LogEntry {
                log: String::from_utf8_lossy(line).into_owned(),
                stream: stream.to_string(),
                time: time.clone(),
            };
            serde_json::to_writer(&mut out, &entry).context("encoding a log entry")?;
            out.push(b'\n');
        }
        self.file
            .write_all(&out)
            .context("writing the container log")
    }
}

/// Options of `pier logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Show only the last N entries.
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    pub timestamps: bool,
}

fn print_entry(
    entry: &LogEntry,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let target: &mut dyn Write = if entry.stream == "stderr" { err } else { out };
    if opts.timestamps {
        write!(target, "{} ", entry.time)?;
    }
    target.write_all(entry.log.as_bytes())?;
    Ok(())
}

/// Prints the log; returns the byte offset reached (to follow from).
pub fn print(
    path: &Path,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("opening log {}", path.display())),
    };
    let mut entries = Vec::new();
    let mut offset = 0u64;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        offset += line.len() as u64 + 1;
        if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
            entries.push(e);
        }
    }
    let skip = opts
        .tail
        .map(|n| entries.len().saturating_sub(n))
        .unwrap_or(0);
    for e in &entries[skip..] {
        print_entry(e, opts, out, err)?;
    }
    out.flush()?;
    err.flush()?;
    Ok(offset)
}

/// Follows the log from `offset` until `still_running` says the container stopped (then
/// prints what is left and returns).
pub fn follow(
    path: &Path,
    mut offset: u64,
    opts: &LogOptions,
    still_running: &dyn Fn() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    loop {
        let running = still_running();
        if let Ok(mut f) = File::open(path) {
            f.seek(SeekFrom::Start(offset))?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 {
                if !line.ends_with('\n') {
                    break; // a partial write; read it next time
                }
                offset += line.len() as u64;
                if let Ok(e) = serde_json::from_str::<LogEntry>(line.trim_end()) {
                    print_entry(&e, opts, out, err)?;
                }
                line.clear();
            }
            out.flush()?;
            err.flush()?;
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write("stdout", b"one\ntwo\n").unwrap();
        w.write("stderr", b"oops\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print(&p, &LogOptions::default(), &mut out, &mut err).unwrap();
        assert_eq!(out, b"one\ntwo\n");
        assert_eq!(err, b"oops\n");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        print(
            &p,
            &LogOptions {
                tail: Some(2),
                timestamps: false,
            },
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(out, b"two\n");
    }
}
