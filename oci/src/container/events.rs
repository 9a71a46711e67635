//! Resource usage in the shape of runc's `events` JSON (`{"type":"stats","id":...,
//! "data":{"cpu":...,"memory":...,"pids":...}}`), which container managers parse.

use super::handle::Container;
use crate::cgroups::CgroupStats;
use anyhow::Result;
use serde::Serialize;

/// One event line.
#[derive(Debug, Serialize)]
pub struct Event {
    /// `stats` (pier reports no `oom` events yet).
    #[serde(rename = "type")]
    pub typ: &'static str,
    /// Container ID.
    pub id: String,
    /// The usage.
    pub data: Stats,
}

/// runc's `types.Stats`, the fields pier fills.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// Memory use and limit.
    pub memory: Memory,
    /// Task count and limit.
    pub pids: Pids,
}

/// runc's `types.Cpu`.
#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    /// Usage (nanoseconds).
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// runc's `types.CpuUsage`.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    /// Total CPU time (ns).
    pub total: u64,
    /// In kernel mode (ns; 0 when unknown).
    pub kernel: u64,
    /// In user mode (ns; 0 when unknown).
    pub user: u64,
}

/// runc's `types.Throttling`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods.
    pub periods: u64,
    /// Periods in which the group was throttled.
    pub throttled_periods: u64,
    /// Total throttled time (ns).
    pub throttled_time: u64,
}

/// runc's `types.Memory`.
#[derive(Debug, Default, Serialize)]
pub struct Memory {
    /// Current use, limit, peak.
    pub usage: MemoryEntry,
}

/// runc's `types.MemoryEntry`.
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    /// Limit (bytes; the largest 64-bit value when unlimited, as runc).
    pub limit: u64,
    /// Use now (bytes).
    pub usage: u64,
    /// Peak use (bytes).
    pub max: u64,
    /// Times the limit was hit (pier does not count them: 0).
    pub failcnt: u64,
}

/// runc's `types.Pids`.
#[derive(Debug, Default, Serialize)]
pub struct Pids {
    /// Tasks now.
    pub current: u64,
    /// Limit (0: none).
    pub limit: u64,
}

impl From<&CgroupStats> for Stats {
    fn from(s: &CgroupStats) -> Stats {
        Stats {
            cpu: Cpu {
                usage: CpuUsage {
                    total: s.cpu_usage_ns,
                    kernel: 0,
                    user: 0,
                },
                throttling: Throttling {
                    periods: s.cpu_nr_periods,
                    throttled_periods: s.cpu_throttled_periods,
                    throttled_time: s.cpu_throttled_ns,
                },
            },
            memory: Memory {
                usage: MemoryEntry {
                    limit: s.memory_limit.unwrap_or(u64::MAX),
                    usage: s.memory_usage,
                    max: s.memory_max_usage.unwrap_or(0),
                    failcnt: 0,
                },
            },
            pids: Pids {
                current: s.pids_current,
                limit: s.pids_limit.unwrap_or(0),
            },
        }
    }
}

impl Container {
    /// A stats event for the container now.
    pub fn stats_event(&self) -> Result<Event> {
        let stats = self.cgroup()?.stats()?;
        Ok(Event {
            typ: "stats",
            id: self.id().to_string(),
            data: Stats::from(&stats),
        })
    }
}
