//! Reading and writing cgroup control files: the one I/O path both drivers share.
//!
//! Every cgroup knob is a small text file; a limit is "applied" by writing its value. Errors
//! name the file and the value because the kernel's own message ("Invalid argument") says
//! neither.

use std::fs;
use std::io;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use nix::errno::Errno;

/// Text of an I/O error without the "(os error N)" suffix, e.g. "Invalid argument".
fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// Writes `value` to the control file `path`, one `write(2)` as the kernel expects.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value)
        .map_err(|e| anyhow!("writing {} to {}: {}", value, path.display(), describe(&e)))
}

/// Writes `value` to `path` only if the file exists (a knob this kernel or layout may lack).
/// Returns whether it was written.
pub(crate) fn write_if_exists(path: &Path, value: &str) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    write(path, value)?;
    Ok(true)
}

/// Reads a control file as trimmed text.
pub(crate) fn read(path: &Path) -> Result<String> {
    let text = fs::read_to_string(path)
        .map_err(|e| anyhow!("reading {}: {}", path.display(), describe(&e)))?;
    Ok(text.trim().to_string())
}

/// Reads a single-number file; "max" (v2's unlimited) reads as `None`.
pub(crate) fn read_u64_or_max(path: &Path) -> Result<Option<u64>> {
    let text = read(path)?;
    parse_u64_or_max(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads a single-number file.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    read_u64_or_max(path)?
        .ok_or_else(|| anyhow!("{} holds \"max\", expected a number", path.display()))
}

/// Parses a number or "max" (unlimited -> `None`).
pub(crate) fn parse_u64_or_max(text: &str) -> Result<Option<u64>> {
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(Some)
        .with_context(|| format!("expected a number or \"max\", found {text:?}"))
}

/// Looks up `key` in a flat-keyed file's text ("key value" per line: cpu.stat, memory.events,
/// memory.oom_control, pids.events...).
pub(crate) fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next() == Some(key))
            .then(|| fields.next()?.parse().ok())
            .flatten()
    })
}

/// Reads `key` from the flat-keyed file `path`; a missing key reads as 0 (older kernels omit
/// counters that never moved).
pub(crate) fn read_flat_keyed(path: &Path, key: &str) -> Result<u64> {
    Ok(flat_keyed(&read(path)?, key).unwrap_or(0))
}

/// Lists the process ids in a `cgroup.procs` file.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<i32>> {
    // A cgroup directory removed meanwhile (by a concurrent clean-up) holds no process.
    if !path.exists() {
        return Ok(Vec::new());
    }
    read(path)?
        .lines()
        .map(|line| {
            line.trim()
                .parse::<i32>()
                .with_context(|| format!("parsing pid {line:?} in {}", path.display()))
        })
        .collect()
}

/// Removes a cgroup directory. cgroup directories cannot be removed with `remove_dir_all`
/// (their files are not deletable), only with a bare `rmdir`. EBUSY right after the last
/// process died is normal (the kernel frees the cgroup asynchronously), so retry briefly.
/// A directory that is already gone counts as removed.
pub(crate) fn remove_dir(path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => {
                return Err(anyhow!("rmdir {}: {}", path.display(), describe(&e)));
            }
        }
    }
}

/// Creates `dir` and any missing parents, returning the directories it created, outermost
/// first (callers initialise them in that order, e.g. v1 cpuset).
///
/// A shared parent such as "pier" is removed by whichever pier process removes its last
/// child ([`remove_if_empty`]), so it can vanish between our `mkdir` of it and of the child:
/// that ENOENT is retried from the top.
pub(crate) fn create_dirs(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    const ATTEMPTS: usize = 20;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut missing = Vec::new();
        let mut cursor = Some(dir);
        while let Some(path) = cursor {
            if path.exists() {
                break;
            }
            missing.push(path.to_path_buf());
            cursor = path.parent();
        }
        missing.reverse();
        let mut lost_parent = false;
        for path in &missing {
            match fs::create_dir(path) {
                Ok(()) => {}
                // Another pier process may create the shared parent at the same time.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < ATTEMPTS => {
                    lost_parent = true;
                    break;
                }
                Err(e) => return Err(anyhow!("mkdir {}: {}", path.display(), describe(&e))),
            }
        }
        if !lost_parent {
            return Ok(missing);
        }
    }
}

/// Removes a cgroup directory if it has no children and no processes (one `rmdir`, no
/// retry: EBUSY here means somebody uses it). Returns whether it is gone.
pub(crate) fn remove_if_empty(path: &Path) -> bool {
    match fs::remove_dir(path) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_finds_exact_keys() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(flat_keyed(text, "oom_kill"), Some(3));
        assert_eq!(flat_keyed(text, "oom"), None);
    }

    #[test]
    fn max_parses_as_unlimited() {
        assert_eq!(parse_u64_or_max("max\n").unwrap(), None);
        assert_eq!(parse_u64_or_max("42").unwrap(), Some(42));
        assert!(parse_u64_or_max("lots").is_err());
    }
}
