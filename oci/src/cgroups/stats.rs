//! Resource usage of a cgroup, in one version-independent shape, and the arithmetic `pier stats`
//! does on it.
//!
//! The kernel reports cumulative CPU time, not a percentage: a percentage is the growth of that
//! counter between two samples divided by the wall time between them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One sample of a cgroup's counters. Both drivers fill the same fields (v2 reports
/// microseconds where v1 reports nanoseconds; drivers convert to nanoseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupStats {
    /// Total CPU time consumed by all processes, ever (v1 cpuacct.usage, v2 cpu.stat usage_usec).
    pub cpu_usage_ns: u64,
    /// Memory charged now, page cache included (v1 memory.usage_in_bytes, v2 memory.current).
    pub memory_usage: u64,
    /// Memory limit; `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Highest memory usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak when present).
    pub memory_max_usage: Option<u64>,
    /// Number of tasks now (pids.current).
    pub pids_current: u64,
    /// Task limit (pids.max); `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// Scheduler periods in which the group hit its CPU quota (cpu.stat nr_throttled).
    pub cpu_throttled_periods: u64,
    /// Scheduler periods in which the group was runnable (cpu.stat nr_periods).
    pub cpu_nr_periods: u64,
    /// Total time the group was throttled (v1 throttled_time, v2 throttled_usec).
    pub cpu_throttled_ns: u64,
}

/// CPU use between two samples taken `elapsed` apart, as `docker stats` shows it: 100% is one
/// core fully busy, so a 2-core machine tops out at 200%.
pub fn cpu_percent(previous: &CgroupStats, current: &CgroupStats, elapsed: Duration) -> f64 {
    let wall_ns = elapsed.as_nanos() as f64;
    if wall_ns <= 0.0 {
        return 0.0;
    }
    // A counter that went backwards means the cgroup was recreated; report nothing rather
    // than a huge number.
    let used_ns = current.cpu_usage_ns.saturating_sub(previous.cpu_usage_ns) as f64;
    used_ns / wall_ns * 100.0
}

/// Memory use as a percentage of the limit; `None` when there is no limit.
pub fn memory_percent(stats: &CgroupStats) -> Option<f64> {
    match stats.memory_limit {
        Some(limit) if limit > 0 => Some(stats.memory_usage as f64 / limit as f64 * 100.0),
        _ => None,
    }
}

/// Fraction of scheduler periods in which the cgroup was throttled, in percent: how often
/// the CPU quota, rather than the work, set the pace.
pub fn throttled_percent(stats: &CgroupStats) -> f64 {
    if stats.cpu_nr_periods == 0 {
        return 0.0;
    }
    stats.cpu_throttled_periods as f64 / stats.cpu_nr_periods as f64 * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_full_core_is_100_percent() {
        let a = CgroupStats {
            cpu_usage_ns: 1_000_000_000,
            ..Default::default()
        };
        let b = CgroupStats {
            cpu_usage_ns: 3_000_000_000,
            ..Default::default()
        };
        let pct = cpu_percent(&a, &b, Duration::from_secs(2));
        assert!((pct - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&b, &a, Duration::from_secs(1)), 0.0);
        assert_eq!(cpu_percent(&a, &b, Duration::ZERO), 0.0);
    }

    #[test]
    fn memory_and_throttle_percentages() {
        let s = CgroupStats {
            memory_usage: 25,
            memory_limit: Some(100),
            cpu_nr_periods: 10,
            cpu_throttled_periods: 5,
            ..Default::default()
        };
        assert_eq!(memory_percent(&s), Some(25.0));
        assert_eq!(memory_percent(&CgroupStats::default()), None);
        assert_eq!(throttled_percent(&s), 50.0);
    }
}
