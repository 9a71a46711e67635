//! The logs of several containers as one stream, as `docker compose logs` shows them: each
//! line prefixed with `service-n  | ` (padded to the longest name) and, on a terminal,
//! coloured per container. Reads the engine's json-file logs, so it works for containers
//! started by any pier process.

use super::containers::short_name;
use crate::container::logs::{LogLine, LogReader};
use crate::container::record::{ContainerRecord, ContainerStatus};
use crate::container::Engine;
use anyhow::Result;
use std::io::Write;
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
    reader: LogReader,
    /// The next line, read ahead to merge the sources by time.
    next: Option<LogLine>,
}

fn print(out: &mut dyn Write, prefix: &str, l: &LogLine, timestamps: bool) -> Result<()> {
    let text = l.text.strip_suffix('\n').unwrap_or(&l.text);
    if timestamps {
        writeln!(out, "{prefix}{} {text}", l.time)?;
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
    let mut sources = Vec::new();
    for (i, r) in containers.iter().enumerate() {
        let name = format!("{:width$}  | ", short_name(r));
        let prefix = if opts.color {
            format!("\x1b[{}m{name}\x1b[0m", COLORS[i % COLORS.len()])
        } else {
            name
        };
        let mut reader = LogReader::from_tail(&engine.paths(&r.id).log(), opts.tail)?;
        let next = reader.next_line()?;
        sources.push(Source {
            id: r.id.clone(),
            prefix,
            reader,
            next,
        });
    }
    // What is there already, merged by time (a line at a time from each log: the memory used
    // does not grow with the logs).
    while let Some(s) = sources
        .iter_mut()
        .filter(|s| s.next.is_some())
        .min_by(|a, b| {
            let time = |s: &Source| s.next.as_ref().map(|l| l.time.clone());
            time(a).cmp(&time(b))
        })
    {
        if let Some(line) = s.next.take() {
            print(out, &s.prefix, &line, opts.timestamps)?;
        }
        s.next = s.reader.next_line()?;
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
            while let Some(l) = s.reader.next_line()? {
                print(out, &s.prefix, &l, opts.timestamps)?;
            }
        }
        out.flush()?;
        if !running || stopping {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
