//! Connecting containers to networks (the glue between the engine and [`crate::network`]).

use super::config::NetworkMode;
use super::record::{ContainerPaths, ContainerRecord};
use super::Engine;
use anyhow::{bail, Result};

impl Engine {
    /// Gives a bridged container its network namespace and endpoint before it starts.
    pub(crate) fn attach_network(
        &self,
        _paths: &ContainerPaths,
        record: &ContainerRecord,
    ) -> Result<()> {
        if let Some(NetworkMode::Bridge(name)) = &record.config.network {
            bail!("network {name:?}: bridge networking is not available in this build; use --network none or host");
        }
        Ok(())
    }

    /// Releases the container's network endpoint and namespace. Idempotent.
    pub(crate) fn detach_network(
        &self,
        _paths: &ContainerPaths,
        _record: &ContainerRecord,
    ) -> Result<()> {
        Ok(())
    }

    /// Network leftovers of containers that no longer exist.
    pub(crate) fn prune_networks(&self, _live: &[String]) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
