//! `delete`: remove what `create` made once the container has stopped, then run the
//! `poststop` hooks.

use super::handle::Container;
use crate::cgroups::Cgroup;
use crate::error::{Error, Operation};
use crate::hooks::{self, HookPoint};
use crate::state::{OciState, Status};
use anyhow::Context;
use oci_spec::runtime::Hooks;
use std::path::Path;

/// Kills anything left in the cgroup, removes it, and removes the runtime directory.
pub fn delete(cgroup: Option<&Cgroup>, state_dir: &Path) -> crate::Result<()> {
    if let Some(cg) = cgroup {
        cg.destroy().context("removing the container's cgroup")?;
        cg.remove_empty_pier_parent();
    }
    match std::fs::remove_dir_all(state_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Ok(Err(e).with_context(|| format!("removing {}", state_dir.display()))?),
    }
}

/// A deleted container: what its `poststop` hooks need.
pub struct Deleted {
    /// Its last state (status `stopped`).
    pub state: OciState,
    /// The hooks of its config.
    pub hooks: Option<Hooks>,
}

impl Deleted {
    /// Runs the `poststop` hooks. A failing one undoes nothing (the specification asks the
    /// runtime to warn and go on): the caller logs the error.
    pub fn run_poststop(&self) -> crate::Result<()> {
        Ok(hooks::run(
            self.hooks.as_ref(),
            HookPoint::Poststop,
            &self.state,
        )?)
    }
}

impl Container {
    /// Deletes the container: a stopped or created one always, a running or paused one only
    /// with `force` (its processes are killed; else [`Error::Running`]). The caller then runs
    /// the `poststop` hooks.
    pub fn delete(self, force: bool) -> crate::Result<Deleted> {
        let status = self.status();
        if matches!(status, Status::Running | Status::Paused) && !force {
            return Err(Error::Running {
                id: self.id().to_string(),
                status,
                op: Operation::Delete,
            });
        }
        // A created container's init waits on the exec FIFO: killing the cgroup ends it.
        let spec = self.spec().ok();
        let mut oci = self.state.oci.clone();
        let cgroup = self.state.cgroup.clone();
        if cgroup.is_none() {
            if let Some(pid) = self.running_pid() {
                let _ = super::kill::signal(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        delete(cgroup.as_ref(), &self.dir)?;
        // Devices handed to a namespace that outlives the container go back to the host.
        if let Some(spec) = &spec {
            let joined = spec
                .linux()
                .as_ref()
                .and_then(|l| l.namespaces().as_ref())
                .and_then(|n| {
                    n.iter()
                        .find(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
                        .and_then(|ns| ns.path().clone())
                });
            if let Some(path) = joined {
                super::net_devices::move_out(spec, &path)
                    .context("moving linux.netDevices back to the host")?;
            }
        }
        oci.status = Status::Stopped;
        Ok(Deleted {
            state: oci,
            hooks: spec.and_then(|s| s.hooks().clone()),
        })
    }
}
