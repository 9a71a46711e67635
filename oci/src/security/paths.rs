//! Docker's default masked and read-only paths under `/proc` and `/sys`.
//!
//! These keep a container (even one running as root) from reading host secrets such as
//! `/proc/kcore` or `/proc/keys`, and from reconfiguring the host kernel through `/proc/sys` or
//! `/proc/sysrq-trigger`. They end up in the OCI config (`linux.maskedPaths`,
//! `linux.readonlyPaths`); the container init masks each with `/dev/null` (files) or an empty
//! read-only tmpfs (directories) and remounts the others read-only.

/// Docker's default `linux.maskedPaths`, in Docker's order (moby `oci/defaults.go`).
pub fn docker_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
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
        assert_eq!(masked.len(), 11);
        assert_eq!(readonly.len(), 5);
        for p in masked.iter().chain(&readonly) {
            assert!(p.starts_with("/proc/") || p.starts_with("/sys/"), "{p}");
        }
        assert!(masked.iter().all(|m| !readonly.contains(m)));
        assert!(masked.contains(&"/proc/kcore".to_string()));
        assert!(readonly.contains(&"/proc/sysrq-trigger".to_string()));
    }
}
