//! The logs of several containers as one stream, as `docker compose logs` shows them: each
//! line prefixed with `service-n  | ` (padded to the longest name) and, on a terminal,
//! coloured per container. Reads the engine's json-file logs, so it works for containers
//! started by any pier process.

use super::containers::short_name;
use crate::container::logs::LogEntry;
use crate::container::record::{ContainerRecord, ContainerStatus};
use crate::container::Engine;
use anyhow::Result;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `logs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsOptions {
    /// Keep printing until the containers stop (or `stop` says so).
    pub follow: bool,
    /// Colour the prefixes (ANSI), for a terminal.
    pub color: bool,
    /// Show each entry's time.
    pub timestamps: bool,
    /// Only the last N lines of each container.
    pub tail: Option<usize>,
}

/// Docker Compose's colours, in its order (cyan, yellow, green, magenta, blue, then bright).
const COLORS: [u8; 10] = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

struct Source {
    id: String,
    prefix: String,
    path: PathBuf,
    offset: u64,
}

/// Reads complete new lines of a log from `offset` on.
fn read_new(path: &PathBuf, offset: &mut u64) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    let Ok(mut f) = File::open(path) else {
        return Ok(out);
    };
    f.seek(SeekFrom::Start(*offset))?;
    let mut reader = BufReader::new(f);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        if !line.ends_with('\n') {
            break; // a partial write: the rest comes next time
        }
        *offset += line.len() as u64;
        if let Ok(e) = serde_json::from_str::<LogEntry>(line.trim_end()) {
            out.push(e);
        }
        line.clear();
    }
    Ok(out)
}

fn print(out: &mut dyn Write, prefix: &str, e: &LogEntry, timestamps: bool) -> Result<()> {
    let text = e.log.strip_suffix('\n').unwrap_or(&e.log);
    if timestamps {
        writeln!(out, "{prefix}{} {text}", e.time)?;
    } else {
        writeln!(out, "{prefix}{text}")?;
    }
    Ok(())
}

/// Prints the logs of `containers`; with `follow`, keeps going until none of them runs or
/// `stop()` is true.
pub fn show(
    engine: &Engine,
    containers: &[ContainerRecord],
    opts: LogsOptions,
    stop: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> Result<()> {
    let width = containers
        .iter()
        .map(|r| short_name(r).len())
        .max()
        .unwrap_or(0);
    let mut sources: Vec<Source> = containers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let name = format!("{:width$}  | ", short_name(r));
            let prefix = if opts.color {
                format!("\x1b[{}m{name}\x1b[0m", COLORS[i % COLORS.len()])
            } else {
                name
            };
            Source {
                id: r.id.clone(),
                prefix,
                path: engine.paths(&r.id).log(),
                offset: 0,
            }
        })
        .collect();
    // What is there already, merged by time.
    let mut first: Vec<(String, usize, LogEntry)> = Vec::new();
    for (i, s) in sources.iter_mut().enumerate() {
        let mut entries = read_new(&s.path, &mut s.offset)?;
        if let Some(n) = opts.tail {
            entries.drain(..entries.len().saturating_sub(n));
        }
        first.extend(entries.into_iter().map(|e| (e.time.clone(), i, e)));
    }
    first.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    for (_, i, e) in &first {
        print(out, &sources[*i].prefix, e, opts.timestamps)?;
    }
    out.flush()?;
    if !opts.follow {
        return Ok(());
    }
    loop {
        // Asked before reading, so the lines written before a stop are still printed.
        let stopping = stop();
        let running = sources.iter().any(|s| {
            engine
                .find(&s.id)
                .is_ok_and(|(_, r)| r.status == ContainerStatus::Running)
        });
        for s in sources.iter_mut() {
            for e in read_new(&s.path, &mut s.offset)? {
                print(out, &s.prefix, &e, opts.timestamps)?;
            }
        }
        out.flush()?;
        if !running || stopping {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
