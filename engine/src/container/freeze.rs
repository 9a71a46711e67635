//! `pier pause` / `pier unpause`: freeze and thaw every process of a running container with
//! its cgroup's freezer (v1 `freezer.state`, v2 `cgroup.freeze`, see [`pier_oci::cgroups`]).

use super::events::{Action, Event};
use super::record::ContainerStatus;
use super::Engine;
use anyhow::{bail, Context, Result};

impl Engine {
    /// Freezes the container; `pier ps` then shows `(Paused)`.
    pub fn pause(&self, key: &str) -> Result<()> {
        let (paths, rec) = self.find(key)?;
        let cgroup = match (&rec.cgroup, rec.status) {
            (Some(cg), ContainerStatus::Running) => cg,
            _ => bail!("cannot pause container {}: it is not running", rec.name),
        };
        if rec.paused {
            bail!("cannot pause container {}: it is already paused", rec.name);
        }
        cgroup
            .freeze()
            .with_context(|| format!("freezing container {}", rec.name))?;
        if let Some(r) = self.update(&paths, |r| r.paused = true)? {
            self.record_event(Event::about(&r, Action::Pause));
        }
        Ok(())
    }

    /// Thaws a paused container.
    pub fn unpause(&self, key: &str) -> Result<()> {
        let (paths, rec) = self.find(key)?;
        let (Some(cgroup), true) = (&rec.cgroup, rec.paused) else {
            bail!("cannot unpause container {}: it is not paused", rec.name);
        };
        cgroup
            .thaw()
            .with_context(|| format!("thawing container {}", rec.name))?;
        if let Some(r) = self.update(&paths, |r| r.paused = false)? {
            self.record_event(Event::about(&r, Action::Unpause));
        }
        Ok(())
    }

    /// After pier signalled a paused container (stop, kill, rm -f): thaw it so the signal is
    /// delivered, as Docker does.
    pub(crate) fn thaw_after_signal(&self, key: &str) {
        if let Ok((paths, rec)) = self.find(key) {
            if let (Some(cg), true) = (&rec.cgroup, rec.paused) {
                if cg.thaw().is_ok() {
                    let _ = self.update(&paths, |r| r.paused = false);
                }
            }
        }
    }
}
