//! `update`: new resource limits for a container: in its cgroup at once while it runs, and in
//! its config for everything after (the next `exec`, another `update`, the next start).

use super::handle::{Container, CONFIG_COPY};
use crate::cgroups::Cgroup;
use crate::error::{Error, Operation, Result};
use crate::persist::{read_json, write_json_replace};
use crate::state::Status;
use anyhow::Context;
use oci_spec::runtime::{LinuxResources, Spec};
use serde_json::Value;
use std::path::Path;

/// Changes the resources of container `container` (its ID or name, for messages): writes
/// `resources` into `cgroup` (the container's cgroup while it runs; `None` for one that does
/// not), then records them in the config at `config`. Each field `resources` sets replaces
/// the old value, one level deep (`memory.limit` replaces the memory limit and keeps the
/// swap limit); the fields it leaves unset keep theirs, in the cgroup and in the config. The
/// cgroup comes first, so a limit the kernel refuses changes nothing.
pub fn update_resources(
    container: &str,
    cgroup: Option<&Cgroup>,
    config: &Path,
    resources: &LinuxResources,
) -> Result<()> {
    if let Some(cgroup) = cgroup {
        cgroup
            .update(resources)
            .with_context(|| format!("updating the cgroup of container {container}"))?;
    }
    let mut spec: Spec = read_json(config)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(Some(merge(linux.resources().clone(), resources)?));
        write_json_replace(config, &spec)?;
    }
    Ok(())
}

impl Container {
    /// `update`: [`update_resources`] on this container's cgroup and its copy of the config.
    /// [`Error::NotRunning`] once it has stopped.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(Error::NotRunning {
                id: self.id().to_string(),
                status,
                op: Operation::Update,
            });
        }
        update_resources(
            self.id(),
            Some(self.cgroup()?),
            &self.dir.join(CONFIG_COPY),
            resources,
        )
    }
}

/// `old` with every field `new` sets replaced, one level deep (memory, cpu, pids, ...).
fn merge(old: Option<LinuxResources>, new: &LinuxResources) -> anyhow::Result<LinuxResources> {
    let mut base = serde_json::to_value(old.unwrap_or_default())?;
    let update = serde_json::to_value(new)?;
    if let (Some(b), Some(u)) = (base.as_object_mut(), update.as_object()) {
        for (k, v) in u {
            match (b.get_mut(k), v) {
                (Some(Value::Object(bo)), Value::Object(uo)) => {
                    for (k2, v2) in uo {
                        bo.insert(k2.clone(), v2.clone());
                    }
                }
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
    serde_json::from_value(base).context("merging the new resources into the config")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn each_field_given_replaces_the_old_one_and_the_rest_stay() {
        let old = resources(json!({
            "memory": {"limit": 100, "swap": 200},
            "cpu": {"shares": 512, "cpus": "0-1"},
            "devices": [{"allow": false, "access": "rwm"}]
        }));
        let new = resources(json!({"memory": {"limit": 300}, "pids": {"limit": 20}}));
        let merged = serde_json::to_value(merge(Some(old), &new).unwrap()).unwrap();
        assert_eq!(merged["memory"], json!({"limit": 300, "swap": 200}));
        assert_eq!(merged["cpu"], json!({"shares": 512, "cpus": "0-1"}));
        assert_eq!(merged["pids"], json!({"limit": 20}));
        assert_eq!(merged["devices"][0]["access"], "rwm");
    }

    #[test]
    fn a_container_without_a_cgroup_gets_the_new_limits_in_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let spec = Spec::default();
        write_json_replace(&config, &spec).unwrap();
        let new = resources(json!({"memory": {"limit": 1048576}}));
        update_resources("c1", None, &config, &new).unwrap();
        let back: Spec = read_json(&config).unwrap();
        let limit = back
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit());
        assert_eq!(limit, Some(1048576));
    }
}
