//! The resource limit flags `run`, `create` and `update` share (`--memory`, `--cpus`, ...).

use anyhow::Result;
use clap::Args;
use pier_engine::container::config::Limits;

/// The resource limit flags of `run`/`create` and `update`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Memory limit (e.g. 32m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (e.g. 0.5): a CFS quota.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on (e.g. 0-1, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10 to 1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
}

impl LimitArgs {
    /// The limits, each error naming its flag.
    pub fn parse(&self) -> Result<Limits> {
        Limits::parse(
            self.memory.as_deref(),
            self.memory_swap.as_deref(),
            self.cpus.as_deref(),
            self.cpu_shares,
            self.cpuset_cpus.as_deref(),
            self.pids_limit,
            self.blkio_weight,
        )
    }
}
