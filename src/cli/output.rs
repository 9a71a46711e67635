//! Human output: tables, sizes, "5 minutes ago", errors on one line.

/// Prints rows as left-aligned columns separated by three spaces, as Docker does.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{:<w$}   ", c, w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// `1.5MB`, `3.2kB` (decimal units, as Docker).
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// `1.5MiB` (binary units, for memory).
pub fn mem(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

/// Age of an RFC 3339 time as Docker words it (in the engine: the API service says it too).
pub use pier_engine::container::status_words::since;

/// An RFC 3339 UTC time as Docker's listings print `CreatedAt`: `2024-05-07 20:33:45 +0000 UTC`
/// (other forms are returned as they are).
pub fn docker_time(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return rfc3339.to_string();
    };
    match rest.strip_suffix('Z') {
        Some(time) => format!(
            "{date} {} +0000 UTC",
            time.split('.').next().unwrap_or(time)
        ),
        None => rfc3339.to_string(),
    }
}

/// Truncates a command for `ps`.
pub fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// `-f/--force` of a destructive command (the prunes): without it, Docker's question
/// `WARNING! <what>` / "Are you sure you want to continue? [y/N]" is asked first.
#[derive(Debug, clap::Args)]
pub struct Force {
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
}

impl Force {
    /// Whether to go ahead: `-f` given, or the user said yes. Asked only when stdin is a
    /// terminal: a script (stdin a pipe or /dev/null) proceeds, as every `pier ... prune` did
    /// before `-f` existed.
    pub fn confirmed(&self, what: &str) -> std::io::Result<bool> {
        use std::io::{IsTerminal, Write};
        if self.force || !std::io::stdin().is_terminal() {
            return Ok(true);
        }
        eprint!("WARNING! {what}\nAre you sure you want to continue? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
    }
}

/// What a prune removed, as Docker prints it: `Deleted <kind>:` and the names, then the space
/// reclaimed (when `reclaimed` is known).
pub fn pruned(kind: &str, names: &[String], reclaimed: Option<u64>) {
    if !names.is_empty() {
        println!("Deleted {kind}:");
        for n in names {
            println!("{n}");
        }
        println!();
    }
    if let Some(bytes) = reclaimed {
        println!("Total reclaimed space: {}", size(bytes));
    }
}

pub(crate) use pier_oci::error::one_line;

/// The code a failed command exits with: Docker's (127 not found, 126 not executable, 125)
/// when a container's command could not start ([`pier_oci::Error::Start`], whatever context
/// the engine, compose or the builder added to it), else `default`. The engine's errors are
/// `anyhow` chains, so this is the one place the runtime's typed error is looked for in a
/// chain; below the command line, callers match it by kind.
pub(crate) fn exit_code(e: &anyhow::Error, default: i32) -> i32 {
    match e.downcast_ref::<pier_oci::Error>() {
        Some(pier_oci::Error::Start { code, .. }) => *code,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_times() {
        assert_eq!(
            docker_time("2026-11-27T17:10:40.915817105Z"),
            "2026-11-27 17:10:40 +0000 UTC"
        );
        assert_eq!(
            docker_time("2026-05-07T20:33:45Z"),
            "2026-05-07 20:33:45 +0000 UTC"
        );
        assert_eq!(docker_time("yesterday"), "yesterday");
    }
}
