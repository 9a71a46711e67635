//! `pier pause`, `pier unpause`, `pier update`: change a running container in place.

use anyhow::Result;
use clap::Args;
use pier_engine::container::config::{Limits, RestartPolicy};
use pier_engine::container::update::UpdateRequest;
use pier_engine::container::Engine;

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
    #[command(flatten)]
    pub limits: super::limits::LimitArgs,
    /// Restart policy: no, on-failure[:MAX_RETRIES], always, unless-stopped.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier update`: new limits (at once, in the running container's cgroup) or restart policy.
pub fn update(engine: &Engine, args: UpdateArgs) -> Result<i32> {
    let limits = args.limits.parse()?;
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
                eprintln!("pier: {}", crate::cli::output::one_line(&e));
                failed = true;
            }
        }
    }
    Ok(i32::from(failed))
}
