//! Docker in the scale suite: `docker run -d` through the bench's own dockerd, on its bridge
//! (a /22 the bench made); the per-container process is containerd's shim, the daemons are
//! that dockerd and its containerd.

use super::fleet::{Fleet, SLEEP};
use crate::envs::docker::daemon::Daemon;
use crate::envs::IMAGE;
use std::path::Path;
use std::process::Command;

/// The bench's dockerd.
pub struct DockerFleet<'a> {
    daemon: &'a Daemon,
}

impl<'a> DockerFleet<'a> {
    /// Containers of `daemon`.
    pub fn new(daemon: &'a Daemon) -> DockerFleet<'a> {
        DockerFleet { daemon }
    }

    /// Processes whose command line names the daemon's state directory and whose name
    /// satisfies `comm`.
    fn ours(&self, comm: &dyn Fn(&str) -> bool) -> Vec<i32> {
        let dir = self.daemon.dir().to_string_lossy().into_owned();
        crate::procmem::find(Path::new("/proc"), &|c, cmdline| {
            comm(c) && cmdline.contains(&dir)
        })
    }
}

impl Fleet for DockerFleet<'_> {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn prepare(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn start(&self, name: &str) -> Command {
        let mut c = self.daemon.client().command();
        c.args(["run", "-d", "--name", name, "--network", "bridge", IMAGE])
            .args(SLEEP);
        c
    }

    fn remove(&self, names: &[String]) -> Command {
        let mut c = self.daemon.client().command();
        c.args(["rm", "-f"]).args(names);
        c
    }

    fn per_container(&self) -> Vec<i32> {
        self.ours(&|c| c.starts_with("containerd-shim"))
    }

    fn daemons(&self) -> Vec<i32> {
        self.ours(&|c| c == "dockerd" || c == "containerd")
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
