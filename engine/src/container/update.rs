//! `pier update`: change the limits and restart policy of a container; a running one gets
//! its new limits in its cgroup at once (v1 and v2 through [`pier_oci::cgroups`]).

use super::config::{Limits, RestartPolicy};
use super::events::{Action, Event};
use super::record::ContainerStatus;
use super::Engine;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use pier_oci::persist::{read_json, write_json_replace};

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
        if rec.status == ContainerStatus::Running {
            if let Some(cg) = &rec.cgroup {
                // Only the given limits: the cgroup keeps the others as they are.
                cg.update(&crate::container::spec::resources(&req.limits))
                    .with_context(|| format!("updating the cgroup of container {}", rec.name))?;
            }
        }
        // The next start (a restart by the monitor, `pier start`) builds the cgroup from the
        // bundle's config.json: it gets the new limits too.
        let config_json = paths.bundle().join("config.json");
        let mut spec: Spec = read_json(&config_json)?;
        if let Some(linux) = spec.linux_mut() {
            // Only the limits: the device rules in the same section stay.
            let wanted = crate::container::spec::resources(&merged);
            let mut res = linux.resources().clone().unwrap_or_default();
            res.set_memory(*wanted.memory());
            res.set_cpu(wanted.cpu().clone());
            res.set_pids(*wanted.pids());
            res.set_block_io(wanted.block_io().clone());
            linux.set_resources(Some(res));
        }
        write_json_replace(&config_json, &spec)?;
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
