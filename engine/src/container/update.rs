//! `pier update`: change the limits and restart policy of a container; a running one gets
//! its new limits in its cgroup at once, through [`pier_oci::container::update_resources`]
//! (the path `pier runtime update` takes too).

use super::config::{Limits, RestartPolicy};
use super::events::{Action, Event};
use super::record::ContainerStatus;
use super::Engine;
use anyhow::{bail, Result};
use pier_oci::container::update_resources;

/// What `pier update` changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// `--memory`, `--memory-swap`, `--cpus`, `--cpu-shares`, `--cpuset-cpus`,
    /// `--pids-limit`, `--blkio-weight`, parsed (only the set ones change).
    pub limits: Limits,
    /// `--restart`.
    pub restart: Option<RestartPolicy>,
}

impl Engine {
    /// Applies `req` to the container (its cgroup first, so a limit the kernel refuses
    /// changes nothing).
    pub fn update_container(&self, key: &str, req: &UpdateRequest) -> Result<()> {
        let (paths, rec) = self.find(key)?;
        if req.restart.is_some_and(|r| r != RestartPolicy::No) && rec.config.auto_remove {
            bail!(
                "cannot update container {}: a --rm container cannot have a restart policy",
                rec.name
            );
        }
        let merged = merge(&rec.config.limits, &req.limits);
        // Only the limits given: the device rules and the other limits stay as they are, in
        // the cgroup and in the bundle's config.json, from which the next start (a restart by
        // the monitor, `pier start`) builds the cgroup.
        let mut resources = crate::container::spec::resources(&req.limits);
        resources.set_devices(None);
        let running = match rec.status {
            ContainerStatus::Running => rec.cgroup.as_ref(),
            _ => None,
        };
        update_resources(
            &rec.name,
            running,
            &paths.bundle().join("config.json"),
            &resources,
        )?;
        let updated = self.update(&paths, |r| {
            r.config.limits = merged.clone();
            if let Some(p) = req.restart {
                r.config.restart = p;
            }
        })?;
        if let Some(r) = updated {
            self.record_event(Event::about(&r, Action::Update));
        }
        Ok(())
    }
}

/// The limits after the update: each one given replaces the old one.
fn merge(old: &Limits, new: &Limits) -> Limits {
    Limits {
        memory: new.memory.or(old.memory),
        memory_swap: new.memory_swap.or(old.memory_swap),
        cpus: new.cpus.or(old.cpus),
        cpu_shares: new.cpu_shares.or(old.cpu_shares),
        cpuset_cpus: new.cpuset_cpus.clone().or(old.cpuset_cpus.clone()),
        pids_limit: new.pids_limit.or(old.pids_limit),
        blkio_weight: new.blkio_weight.or(old.blkio_weight),
    }
}
