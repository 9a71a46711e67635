//! Memory of processes, read from `/proc`: proportional set size (PSS: each shared page
//! counted as its share, so the PSS of many processes adds up to what they really cost), the
//! resident set (RSS) and its peak (`VmHWM`), and a way to find processes by name and command
//! line (the per-container processes of pier, podman and Docker).

use anyhow::{Context, Result};
use std::path::Path;

/// One process's memory, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// Proportional set size (`Pss:` of `smaps_rollup`).
    pub pss_kib: u64,
    /// Resident set size (`VmRSS:` of `status`).
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM:` of `status`).
    pub peak_rss_kib: u64,
}

/// The memory of process `pid` (under `proc`, normally `/proc`).
pub fn of(proc: &Path, pid: i32) -> Result<Memory> {
    let dir = proc.join(pid.to_string());
    let rollup = std::fs::read_to_string(dir.join("smaps_rollup"))
        .with_context(|| format!("reading {}/smaps_rollup", dir.display()))?;
    let status = std::fs::read_to_string(dir.join("status"))
        .with_context(|| format!("reading {}/status", dir.display()))?;
    Ok(Memory {
        pss_kib: kib_field(&rollup, "Pss:").unwrap_or(0),
        rss_kib: kib_field(&status, "VmRSS:").unwrap_or(0),
        peak_rss_kib: kib_field(&status, "VmHWM:").unwrap_or(0),
    })
}

/// This process's memory.
pub fn own() -> Result<Memory> {
    of(Path::new("/proc"), std::process::id() as i32)
}

/// The sum of the memory of `pids` that still run (a process gone meanwhile counts nothing),
/// and how many were read.
pub fn sum(proc: &Path, pids: &[i32]) -> (Memory, usize) {
    let mut total = Memory::default();
    let mut n = 0;
    for m in pids.iter().filter_map(|&p| of(proc, p).ok()) {
        total.pss_kib += m.pss_kib;
        total.rss_kib += m.rss_kib;
        total.peak_rss_kib = total.peak_rss_kib.max(m.peak_rss_kib);
        n += 1;
    }
    (total, n)
}

/// The value in KiB of a `Name:   123 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The processes under `proc` whose name (`comm`) and command line (arguments joined by
/// spaces) satisfy `keep`.
pub fn find(proc: &Path, keep: &dyn Fn(&str, &str) -> bool) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut out: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let dir = proc.join(pid.to_string());
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let cmdline: String = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            keep(comm.trim_end(), cmdline.trim_end())
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_finds_itself() {
        let m = own().unwrap();
        assert!(m.pss_kib > 0 && m.rss_kib > 0, "{m:?}");
        assert!(m.peak_rss_kib >= m.rss_kib, "{m:?}");
        let me = std::process::id() as i32;
        let exe = std::fs::read_to_string("/proc/self/comm").unwrap();
        let found = find(Path::new("/proc"), &|comm, _| comm == exe.trim_end());
        assert!(found.contains(&me), "{found:?}");
        let (total, n) = sum(Path::new("/proc"), &[me, i32::MAX]);
        assert_eq!(n, 1, "a process that does not exist counts nothing");
        assert!(total.pss_kib > 0);
    }

    #[test]
    fn parses_kib_fields() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(1024));
        assert_eq!(kib_field(status, "VmHWM:"), Some(2048));
        assert_eq!(kib_field(status, "Pss:"), None);
    }
}
