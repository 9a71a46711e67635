//! pier in the scale suite: `pier run -d` on a network of the bench root; the per-container
//! process is the monitor each detached container's record names.

use super::fleet::{run_ok, Fleet, SLEEP};
use crate::envs::{Setup, IMAGE};
use pier_engine::network::ipam::Subnet;
use std::path::PathBuf;
use std::process::Command;

/// The network the scale suite makes in pier's bench root.
pub const NETWORK: &str = "pbscale";

/// pier with the bench root.
pub struct PierFleet {
    pier: PathBuf,
    root: PathBuf,
    subnet: Subnet,
}

impl PierFleet {
    /// pier of `setup`, its containers on `subnet`.
    pub fn new(setup: &Setup, subnet: Subnet) -> PierFleet {
        PierFleet {
            pier: setup.pier.clone(),
            root: setup.pier_root(),
            subnet,
        }
    }

    fn pier(&self) -> Command {
        let mut c = Command::new(&self.pier);
        c.arg("--root").arg(&self.root);
        c
    }
}

impl Fleet for PierFleet {
    fn name(&self) -> &'static str {
        "pier"
    }

    fn prepare(&mut self) -> anyhow::Result<()> {
        // A network left by an interrupted run would hold the name.
        let mut rm = self.pier();
        rm.args(["network", "rm", NETWORK]);
        let _ = rm.output();
        let mut c = self.pier();
        c.args(["network", "create", "--subnet"])
            .arg(self.subnet.to_string())
            .arg(NETWORK);
        run_ok(c, "pier network create").map(|_| ())
    }

    fn start(&self, name: &str) -> Command {
        let mut c = self.pier();
        c.args(["run", "-d", "--name", name, "--network", NETWORK, IMAGE])
            .args(SLEEP);
        c
    }

    fn remove(&self, names: &[String]) -> Command {
        let mut c = self.pier();
        c.args(["rm", "-f"]).args(names);
        c
    }

    fn per_container(&self) -> Vec<i32> {
        let Ok(engine) = pier_engine::Engine::open(&self.root) else {
            return Vec::new();
        };
        engine
            .containers()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.monitor.filter(|m| m.is_alive()).map(|m| m.pid))
            .collect()
    }

    fn daemons(&self) -> Vec<i32> {
        Vec::new()
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let mut c = self.pier();
        c.args(["network", "rm", NETWORK]);
        run_ok(c, "pier network rm").map(|_| ())
    }
}
