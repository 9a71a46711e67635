//! `--tail N`: where the last N lines of a log start, found by reading its files backwards
//! from the end in blocks, so the memory used does not grow with the log (`pier logs --tail
//! 1` of a big log used to load every entry: 731 MB).

use super::files::LogFile;
use super::LogEntry;
use anyhow::{Context, Result};
use std::os::unix::fs::FileExt;

/// Bytes read at a time.
const BLOCK: usize = 64 << 10;
/// An entry longer than this is not one pier wrote (they are at most 16 KiB of output, six
/// times that escaped): it is skipped rather than gathered.
const MAX_LINE: usize = 1 << 20;

/// Where reading starts to show the last lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Index of the file in the list.
    pub file: usize,
    /// Byte offset of the first entry to read in it.
    pub offset: u64,
    /// Lines of that entry to leave out.
    pub skip: usize,
}

/// Where the last `n` lines of `files` (oldest first) begin.
pub fn find_start(files: &[LogFile], n: usize) -> Result<Start> {
    if n == 0 {
        let last = files.len().saturating_sub(1);
        let offset = files.last().map_or(0, |f| f.len);
        return Ok(Start {
            file: last,
            offset,
            skip: 0,
        });
    }
    let mut found = 0usize;
    for (i, f) in files.iter().enumerate().rev() {
        let mut hit = None;
        entries_backwards(f, |offset, line| {
            let Ok(entry) = serde_json::from_slice::<LogEntry>(line) else {
                return false; // a partial last write, or not an entry
            };
            let lines = entry.log.split_inclusive('\n').count();
            found += lines;
            if found >= n {
                hit = Some(Start {
                    file: i,
                    offset,
                    skip: found - n,
                });
                return true;
            }
            false
        })?;
        if let Some(start) = hit {
            return Ok(start);
        }
    }
    Ok(Start {
        file: 0,
        offset: 0,
        skip: 0,
    })
}

/// Calls `visit(offset, line)` for each line of `f` (without its newline), last first,
/// until it returns true.
fn entries_backwards(f: &LogFile, mut visit: impl FnMut(u64, &[u8]) -> bool) -> Result<()> {
    // `buf` holds bytes [start, start + buf.len()) of the file; its end is the end of the
    // line to visit next.
    let mut start = f.len;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let body = match buf.last() {
            Some(b'\n') => &buf[..buf.len() - 1],
            _ => &buf[..],
        };
        match body.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                if visit(start + i as u64 + 1, &body[i + 1..]) {
                    return Ok(());
                }
                buf.truncate(i + 1);
            }
            None if start == 0 => {
                if !buf.is_empty() {
                    visit(0, body);
                }
                return Ok(());
            }
            None => {
                if buf.len() > MAX_LINE {
                    buf.clear(); // skip the oversized line's end; keep looking before it
                }
                let n = (start as usize).min(BLOCK);
                let mut block = vec![0u8; n];
                f.file
                    .read_exact_at(&mut block, start - n as u64)
                    .context("reading a log backwards")?;
                start -= n as u64;
                block.extend_from_slice(&buf);
                buf = block;
            }
        }
    }
}
