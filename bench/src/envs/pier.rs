//! pier itself, run as users run it: the `pier` binary as a subprocess, with `--root`
//! pointing at the bench's private state directory so the user's containers and images
//! are untouched.
//!
//! * [`PierRun`]: `pier run --rm IMAGE /pier-payload ...` (the Docker-like whole path:
//!   image store, overlay, network, cgroups, the low-level runtime, clean-up).
//! * [`PierRuntime`]: `pier runtime run -b BUNDLE ID` on the bundle runc and crun also run
//!   (the low-level OCI runtime alone).

use super::bundle::Bundle;
use super::{Availability, Environment, NetMode, PayloadRun, Setup, IMAGE, PAYLOAD_IN_CONTAINER};
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

/// `pier run` of the bench image.
#[derive(Debug, Clone)]
pub struct PierRun {
    pier: PathBuf,
    root: PathBuf,
    ready: Availability,
}

impl PierRun {
    /// `pier run` with the binary and bench root of `setup`; `ready` is the outcome of
    /// preparing the image (an error there makes this environment unavailable).
    pub fn new(setup: &Setup, ready: Availability) -> PierRun {
        PierRun {
            pier: setup.pier.clone(),
            root: setup.pier_root(),
            ready,
        }
    }

    /// The bench's pier state root.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// `pier --root <bench root>` as a command to add arguments to.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.pier);
        c.arg("--root").arg(&self.root);
        c
    }

    /// The `run` arguments before the image: `--rm`, the network mode, extra flags.
    pub fn run_command(&self, net: NetMode, extra: &[String], args: &[String]) -> Command {
        let mut c = self.command();
        c.args(["run", "--rm", "--network"]);
        c.arg(match net {
            NetMode::Host => "host",
            NetMode::Private => "bridge",
        });
        c.args(extra)
            .arg(IMAGE)
            .arg(PAYLOAD_IN_CONTAINER)
            .args(args);
        c
    }
}

fn pier_available(pier: &std::path::Path, ready: &Availability) -> Availability {
    if !pier.is_file() {
        return Availability::Unavailable(format!("pier binary {} not found", pier.display()));
    }
    ready.clone()
}

impl Environment for PierRun {
    fn name(&self) -> String {
        "pier".into()
    }

    fn variant(&self) -> String {
        "run".into()
    }

    fn availability(&self) -> Availability {
        pier_available(&self.pier, &self.ready)
    }

    fn run_payload(
        &mut self,
        args: &[String],
        net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        super::run_timed(self.run_command(net, &[], args), "pier run", timeout)
    }
}

/// `pier runtime run` on the shared OCI bundle.
#[derive(Debug, Clone)]
pub struct PierRuntime {
    pier: PathBuf,
    root: PathBuf,
    bundle: Option<Rc<Bundle>>,
    ready: Availability,
    seq: u32,
    /// Whether the bundle keeps its seccomp filter (see `set_seccomp`).
    seccomp: bool,
}

impl PierRuntime {
    /// The low-level runtime of `setup`'s pier binary on `bundle` (`None` if it could not
    /// be prepared; `ready` then says why).
    pub fn new(setup: &Setup, bundle: Option<Rc<Bundle>>, ready: Availability) -> PierRuntime {
        PierRuntime {
            pier: setup.pier.clone(),
            root: setup.pier_root(),
            bundle,
            ready,
            seq: 0,
            seccomp: true,
        }
    }
}

impl Environment for PierRuntime {
    fn name(&self) -> String {
        "pier".into()
    }

    fn variant(&self) -> String {
        "runtime".into()
    }

    fn set_seccomp(&mut self, on: bool) -> bool {
        self.seccomp = on;
        true
    }

    fn availability(&self) -> Availability {
        pier_available(&self.pier, &self.ready)
    }

    fn run_payload(
        &mut self,
        args: &[String],
        net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        let bundle = super::oci_peer::require(&self.bundle, &self.ready)?;
        bundle.configure(args, net == NetMode::Host, self.seccomp)?;
        self.seq += 1;
        let id = format!("pier-bench-{}-{}", std::process::id(), self.seq);
        let mut c = Command::new(&self.pier);
        c.arg("--root")
            .arg(&self.root)
            .args(["runtime", "run", "-b"])
            .arg(&bundle.dir)
            .arg(&id);
        super::run_timed(c, "pier runtime run", timeout)
    }
}

/// Removes the network world of a bench-private pier root: the default bridge and the
/// firewall table that `pier run` created for it (each state root has its own, named after
/// a hash of its path). Call once the root's containers are gone; safe if none exists.
pub fn teardown_network(root: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    let default_root = std::path::Path::new(pier_engine::DEFAULT_ROOT);
    let options = pier_engine::network::Options::for_root(root, default_root);
    let nm = pier_engine::network::NetworkManager::open(root, default_root)
        .with_context(|| format!("opening pier's networks in {}", root.display()))?;
    nm.firewall()
        .destroy()
        .with_context(|| format!("removing firewall table {}", options.firewall_table))?;
    // The bridge may never have been created (no bridged container ran): ignore "absent".
    let _ = Command::new("ip")
        .args(["link", "del", &options.default_bridge])
        .stderr(std::process::Stdio::null())
        .status();
    Ok(())
}
