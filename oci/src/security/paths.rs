//! Docker's default masked and read-only paths under `/proc` and `/sys`.
//!
//! These keep a container (even one running as root) from reading host secrets such as
//! `/proc/kcore` or `/proc/keys`, and from reconfiguring the host kernel through `/proc/sys` or
//! `/proc/sysrq-trigger`. They end up in the OCI config (`linux.maskedPaths`,
//! `linux.readonlyPaths`); the container init masks each with `/dev/null` (files) or an empty
//! read-only tmpfs (directories) and remounts the others read-only.

/// Docker's default `linux.maskedPaths`, in Docker's order (moby `oci/defaults.go`), then,
/// as current Docker does, each CPU's `thermal_throttle` directory that this host has.
/// `/proc/interrupts` and the thermal counters were added to Docker's list after the
/// advisory GHSA-6fw5-f8r9-fgfm: per-CPU interrupt and throttle counts let one container
/// watch another's activity (a side channel).
pub fn docker_masked_paths() -> Vec<String> {
    let mut paths = docker_static_masked_paths();
    paths.extend(thermal_throttle_dirs());
    paths
}

/// The fixed part of Docker's masked paths.
fn docker_static_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// `/sys/devices/system/cpu/cpu<N>/thermal_throttle` for every CPU directory that has one
/// (listed on the host when the config is written, as Docker does).
fn thermal_throttle_dirs() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/devices/system/cpu") else {
        return Vec::new();
    };
    let mut dirs: Vec<(u32, String)> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n: u32 = name.strip_prefix("cpu")?.parse().ok()?;
            let dir = format!("/sys/devices/system/cpu/{name}/thermal_throttle");
            std::path::Path::new(&dir).is_dir().then_some((n, dir))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().map(|(_, d)| d).collect()
}

/// Docker's default `linux.readonlyPaths`, in Docker's order (moby `oci/defaults.go`).
pub fn docker_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_absolute_and_disjoint() {
        let masked = docker_masked_paths();
        let readonly = docker_readonly_paths();
        assert_eq!(docker_static_masked_paths().len(), 12);
        assert!(masked.contains(&"/proc/interrupts".to_string()));
        assert_eq!(readonly.len(), 5);
        for p in masked.iter().chain(&readonly) {
            assert!(p.starts_with("/proc/") || p.starts_with("/sys/"), "{p}");
        }
        assert!(masked.iter().all(|m| !readonly.contains(m)));
        assert!(masked.contains(&"/proc/kcore".to_string()));
        assert!(readonly.contains(&"/proc/sysrq-trigger".to_string()));
    }
}
