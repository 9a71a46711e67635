//! Container logs in the format of Docker's `json-file` driver: JSON objects, one per line of
//! the file, `{"log": "...", "stream": "stdout", "time": "..."}`, so the two streams stay
//! separate yet in order, and `pier logs` can replay, tail and follow them. An entry holds one
//! or more lines of output ([`pier_watch::log_writer`] says why); the files are bounded and rotated
//! ([`config`], [`files`]); [`reader`] reads them back line by line, [`tail`] from the end.

pub mod config;
pub mod files;
pub mod reader;
pub mod tail;

pub use config::LogConfig;
/// The writer lives in `pier-watch`, which the small monitor shares ([`pier_watch::log_writer`]).
pub use pier_watch::log_writer::LogWriter;
pub use reader::{LogLine, LogReader};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    /// The text: one or more lines, the last one possibly without its newline.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds (when the first of its bytes arrived).
    pub time: String,
}

/// Options of `pier logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Show only the last N lines.
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    pub timestamps: bool,
}

fn print_line(
    line: &LogLine,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let target: &mut dyn Write = if line.stream == "stderr" { err } else { out };
    if opts.timestamps {
        write!(target, "{} ", line.time)?;
    }
    target.write_all(line.text.as_bytes())?;
    Ok(())
}

/// Prints the log (its last `opts.tail` lines); returns the reader, to follow from.
pub fn print(
    path: &Path,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<LogReader> {
    let mut reader = LogReader::from_tail(path, opts.tail)?;
    while let Some(line) = reader.next_line()? {
        print_line(&line, opts, out, err)?;
    }
    out.flush()?;
    err.flush()?;
    Ok(reader)
}

/// Follows the log with `reader` until `still_running` says the container stopped (then
/// prints what is left and returns).
pub fn follow(
    reader: &mut LogReader,
    opts: &LogOptions,
    still_running: &dyn Fn() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    loop {
        let running = still_running();
        while let Some(line) = reader.next_line()? {
            print_line(&line, opts, out, err)?;
        }
        out.flush()?;
        err.flush()?;
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests;
