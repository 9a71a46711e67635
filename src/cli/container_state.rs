//! `pier pause`, `pier unpause`, `pier update`: change a running container in place.

use anyhow::Result;
use clap::Args;
use pier_runtime::engine::config::{Limits, RestartPolicy};
use pier_runtime::engine::update::UpdateRequest;
use pier_runtime::engine::Engine;

/// `pier pause` / `pier unpause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier pause`: freeze every process of the containers (the cgroup freezer).
pub fn pause(engine: &Engine, args: PauseArgs) -> Result<i32> {
    each(&args.containers, |c| engine.pause(c))
}

/// `pier unpause`.
pub fn unpause(engine: &Engine, args: PauseArgs) -> Result<i32> {
    each(&args.containers, |c| engine.unpause(c))
}

/// `pier update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 32m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight.
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on (e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10 to 1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Restart policy: no, on-failure[:MAX_RETRIES], always, unless-stopped.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier update`: new limits (at once, in the running container's cgroup) or restart policy.
pub fn update(engine: &Engine, args: UpdateArgs) -> Result<i32> {
    let limits = Limits::parse(
        args.memory.as_deref(),
        args.memory_swap.as_deref(),
        args.cpus.as_deref(),
        args.cpu_shares,
        args.cpuset_cpus.as_deref(),
        args.pids_limit,
        args.blkio_weight,
    )?;
    let req = UpdateRequest {
        limits,
        restart: args
            .restart
            .as_deref()
            .map(RestartPolicy::parse)
            .transpose()?,
    };
    if req.restart.is_none() && req.limits == Limits::default() {
        anyhow::bail!(
            "pier update needs at least one option: --memory, --cpus, --pids-limit, --restart, ..."
        );
    }
    each(&args.containers, |c| engine.update_container(c, &req))
}

/// Applies `op` to each container, printing its name as Docker does; a failure is reported
/// and the others still get their turn.
fn each(containers: &[String], op: impl Fn(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for c in containers {
        match op(c) {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("pier: {}", super::one_line(&e));
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}
