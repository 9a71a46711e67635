//! podman in the scale suite: `podman run -d` (runc, as in the start-up suite) on a CNI
//! bridge network the bench defines in its own network directory, with host-local leases
//! under the bench's podman state and no firewall plugin (as the bench's dockerd runs
//! without iptables); the per-container process is conmon.

use super::fleet::{run_ok, Fleet, SLEEP};
use crate::envs::podman::{podman, NETWORKS};
use crate::envs::{find_tool, Setup, IMAGE};
use anyhow::{Context, Result};
use pier_engine::network::ipam::Subnet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The network's name.
const NETWORK: &str = "pbscale";

/// podman with the bench's private storage, run root and configuration.
pub struct PodmanFleet {
    binary: PathBuf,
    runc: PathBuf,
    state: PathBuf,
    subnet: Subnet,
    bridge: String,
}

impl PodmanFleet {
    /// podman and runc from `PATH`, state under `<cache>/podman` (the podman environment
    /// made it and imported the image), containers on `subnet`.
    pub fn new(setup: &Setup, subnet: Subnet) -> Result<PodmanFleet> {
        Ok(PodmanFleet {
            binary: find_tool("podman").context("podman is not installed")?,
            runc: find_tool("runc").context("runc is not installed")?,
            state: setup.cache.join("podman"),
            subnet,
            bridge: format!("pbpm{}", std::process::id()),
        })
    }

    fn conflist(&self) -> PathBuf {
        self.state
            .join(NETWORKS)
            .join(format!("{NETWORK}.conflist"))
    }

    fn leases(&self) -> PathBuf {
        self.state.join("cni-leases")
    }
}

/// The CNI definition of the bench's network: a bridge with host-local addresses, nothing
/// else (no masquerade, port map or firewall plugin: no host rule).
fn conflist(bridge: &str, subnet: &Subnet, leases: &Path) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": NETWORK,
        "plugins": [{
            "type": "bridge",
            "bridge": bridge,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "routes": [{"dst": "0.0.0.0/0"}],
                "ranges": [[{
                    "subnet": subnet.to_string(),
                    "gateway": subnet.first_host().to_string(),
                }]],
                "dataDir": leases,
            },
        }],
    })
}

impl Fleet for PodmanFleet {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn prepare(&mut self) -> Result<()> {
        let def = conflist(&self.bridge, &self.subnet, &self.leases());
        let path = self.conflist();
        let text = serde_json::to_string_pretty(&def).context("writing the CNI definition")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    fn start(&self, name: &str) -> Command {
        let mut c = podman(&self.binary, &self.state);
        c.args(["run", "-d", "--name", name, "--runtime"])
            .arg(&self.runc)
            .args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
                "--network",
                NETWORK,
                IMAGE,
            ])
            .args(SLEEP);
        c
    }

    fn remove(&self, names: &[String]) -> Command {
        let mut c = podman(&self.binary, &self.state);
        c.args(["rm", "-f", "-t", "0"]).args(names);
        c
    }

    fn per_container(&self) -> Vec<i32> {
        let state = self.state.to_string_lossy().into_owned();
        crate::procmem::find(Path::new("/proc"), &|comm, cmdline| {
            comm == "conmon" && cmdline.contains(&state)
        })
    }

    fn daemons(&self) -> Vec<i32> {
        Vec::new()
    }

    fn finish(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(self.conflist());
        let _ = std::fs::remove_dir_all(self.leases());
        // The bridge plugin leaves its bridge when the last container goes.
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let mut c = Command::new("ip");
            c.args(["link", "del", &self.bridge]);
            run_ok(c, "ip link del (podman's bench bridge)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_has_no_firewall_plugin_and_private_leases() {
        let subnet: Subnet = "10.252.4.0/22".parse().unwrap();
        let def = conflist("pbpm1", &subnet, Path::new("/cache/podman/cni-leases"));
        let plugins = def["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 1, "bridge only: {def}");
        assert_eq!(plugins[0]["ipMasq"], false);
        assert_eq!(plugins[0]["ipam"]["dataDir"], "/cache/podman/cni-leases");
        assert_eq!(plugins[0]["ipam"]["ranges"][0][0]["gateway"], "10.252.4.1");
    }
}
