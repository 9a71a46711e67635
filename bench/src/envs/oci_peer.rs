//! The OCI peers: `runc run` and `crun run` on the same bundle `pier runtime run` uses.
//!
//! Each peer keeps its state under the bench cache (`--root`), so the user's runc/crun
//! containers are untouched. crun needs the hybrid-cgroup workaround of
//! [`super::cgroup_workaround`], applied once for the whole bench process.

use super::bundle::Bundle;
use super::{find_tool, Availability, Environment, NetMode, PayloadRun, Setup};
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

/// runc or crun on the shared bundle.
#[derive(Debug, Clone)]
pub struct OciPeer {
    tool: String,
    binary: Option<PathBuf>,
    state: PathBuf,
    bundle: Option<Rc<Bundle>>,
    ready: Availability,
    seq: u32,
    /// Whether the bundle keeps its seccomp filter (see `set_seccomp`).
    seccomp: bool,
}

/// The bundle, or why there is none.
pub fn require<'a>(bundle: &'a Option<Rc<Bundle>>, ready: &Availability) -> Result<&'a Bundle> {
    match (bundle, ready) {
        (Some(b), _) => Ok(b),
        (None, Availability::Unavailable(r)) => bail!("no bundle: {r}"),
        (None, Availability::Available) => bail!("no bundle was prepared"),
    }
}

impl OciPeer {
    /// `tool` (`runc` or `crun`) found on PATH, with state under `<cache>/<tool>-state`.
    pub fn new(
        tool: &str,
        setup: &Setup,
        bundle: Option<Rc<Bundle>>,
        ready: Availability,
    ) -> OciPeer {
        OciPeer {
            tool: tool.to_string(),
            binary: find_tool(tool),
            state: setup.cache.join(format!("{tool}-state")),
            bundle,
            ready,
            seq: 0,
            seccomp: true,
        }
    }
}

impl Environment for OciPeer {
    fn name(&self) -> String {
        self.tool.clone()
    }

    fn variant(&self) -> String {
        "runtime".into()
    }

    fn set_seccomp(&mut self, on: bool) -> bool {
        self.seccomp = on;
        true
    }

    fn availability(&self) -> Availability {
        if self.binary.is_none() {
            return Availability::Unavailable(format!(
                "{} is not installed (scripts/setup.sh bench installs it)",
                self.tool
            ));
        }
        self.ready.clone()
    }

    fn run_payload(
        &mut self,
        args: &[String],
        net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        let Some(binary) = &self.binary else {
            bail!("{} is not installed", self.tool);
        };
        let bundle = require(&self.bundle, &self.ready)?;
        bundle.configure(args, net == NetMode::Host, self.seccomp)?;
        self.seq += 1;
        let id = format!("pier-bench-{}-{}", std::process::id(), self.seq);
        let mut c = Command::new(binary);
        c.arg("--root")
            .arg(&self.state)
            .args(["run", "--bundle"])
            .arg(&bundle.dir)
            .arg(&id);
        super::run_timed(c, &format!("{} run", self.tool), timeout)
    }
}
