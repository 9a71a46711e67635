//! Reading a log line by line across its rotated files, from the start, from the last N
//! lines, or from the end, and on as it grows (following the live file through rotations).

use super::files::{live_ino, open_all, LogFile};
use super::tail::find_start;
use super::LogEntry;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One line of output (an entry holds one or more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When its entry was written (RFC 3339).
    pub time: String,
    /// The text, with its newline if it had one.
    pub text: String,
}

/// Reads the lines of one container's log.
pub struct LogReader {
    path: PathBuf,
    /// The file being read and its inode.
    cur: Option<(BufReader<File>, u64)>,
    /// Files to read after it.
    queue: VecDeque<LogFile>,
    /// Lines of the last entry not handed out yet.
    lines: VecDeque<LogLine>,
    /// Lines to drop from the next entry (`--tail` starting inside one).
    skip: usize,
    /// An incomplete entry at the end of the current file.
    partial: Vec<u8>,
}

impl LogReader {
    fn with_files(
        path: &Path,
        mut files: Vec<LogFile>,
        first: usize,
        offset: u64,
        skip: usize,
    ) -> Result<LogReader> {
        let mut queue: VecDeque<LogFile> = files.drain(first.min(files.len())..).collect();
        let cur = match queue.pop_front() {
            Some(mut f) => {
                f.file
                    .seek(SeekFrom::Start(offset))
                    .with_context(|| format!("seeking in log {}", path.display()))?;
                Some((BufReader::new(f.file), f.ino))
            }
            None => None,
        };
        Ok(LogReader {
            path: path.to_path_buf(),
            cur,
            queue,
            lines: VecDeque::new(),
            skip,
            partial: Vec::new(),
        })
    }

    /// From the first line of the oldest file.
    pub fn from_start(path: &Path) -> Result<LogReader> {
        LogReader::with_files(path, open_all(path)?, 0, 0, 0)
    }

    /// From the start of the last `n` lines (all of them with `None`).
    pub fn from_tail(path: &Path, n: Option<usize>) -> Result<LogReader> {
        let Some(n) = n else {
            return LogReader::from_start(path);
        };
        let files = open_all(path)?;
        let start = find_start(&files, n)?;
        LogReader::with_files(path, files, start.file, start.offset, start.skip)
    }

    /// From what is written next.
    pub fn at_end(path: &Path) -> Result<LogReader> {
        LogReader::from_tail(path, Some(0))
    }

    /// The next complete line, or `None` when there is nothing more for now.
    pub fn next_line(&mut self) -> Result<Option<LogLine>> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(Some(line));
            }
            let Some((reader, ino)) = self.cur.as_mut() else {
                // No file yet: the container has not written anything.
                match LogFile::open(&self.path)? {
                    Some(f) => self.cur = Some((BufReader::new(f.file), f.ino)),
                    None => return Ok(None),
                }
                continue;
            };
            reader
                .read_until(b'\n', &mut self.partial)
                .with_context(|| format!("reading log {}", self.path.display()))?;
            if self.partial.ends_with(b"\n") {
                let entry = serde_json::from_slice::<LogEntry>(&self.partial);
                self.partial.clear();
                if let Ok(e) = entry {
                    self.split(e);
                }
                continue;
            }
            // End of this file.
            if let Some(next) = self.queue.pop_front() {
                self.partial.clear();
                self.cur = Some((BufReader::new(next.file), next.ino));
                continue;
            }
            // The live file: if it was rotated away, read what was added to it before the
            // rotation (next turn), then go on in the new one.
            let current = *ino;
            match live_ino(&self.path) {
                Some(new) if new != current => match LogFile::open(&self.path)? {
                    Some(f) if f.ino == new => self.queue.push_back(f),
                    _ => return Ok(None),
                },
                _ => {
                    // With max-file=1 the file is emptied instead: start again from its top.
                    let at = reader.stream_position().unwrap_or(0);
                    let len = reader.get_ref().metadata().map_or(at, |m| m.len());
                    if len < at {
                        reader
                            .seek(SeekFrom::Start(0))
                            .with_context(|| format!("seeking in log {}", self.path.display()))?;
                        self.partial.clear();
                        continue;
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn split(&mut self, e: LogEntry) {
        for piece in e.log.split_inclusive('\n') {
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            self.lines.push_back(LogLine {
                stream: e.stream.clone(),
                time: e.time.clone(),
                text: piece.to_string(),
            });
        }
    }
}
