//! What the scale suite needs of an engine: a network to put the containers on, the
//! commands that start and remove one, and the processes each container (and the daemon,
//! if the engine has one) costs.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The container command: busybox `sleep`, long enough to outlast the run.
pub const SLEEP: [&str; 2] = ["sleep", "86400"];

/// One engine the scale suite fills with containers.
pub trait Fleet {
    /// The environment's name in the samples (`pier`, `podman`, `docker`).
    fn name(&self) -> &'static str;
    /// Makes the bridge network the containers join (a /22: room for 1000).
    fn prepare(&mut self) -> Result<()>;
    /// The command starting detached container `name` on that network.
    fn start(&self, name: &str) -> Command;
    /// The command removing containers `names` (forcibly).
    fn remove(&self, names: &[String]) -> Command;
    /// The processes that exist once per running container besides its own (pier's
    /// monitor, podman's conmon, Docker's containerd-shim).
    fn per_container(&self) -> Vec<i32>;
    /// The engine's long-running daemons (dockerd and containerd), if it has any.
    fn daemons(&self) -> Vec<i32>;
    /// Removes the network and whatever else `prepare` made; called even after a failure.
    fn finish(&mut self) -> Result<()>;
}

/// Runs `c` to completion, failing with its stderr when it fails.
pub fn run_ok(mut c: Command, what: &str) -> Result<String> {
    let out = c.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " / ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
