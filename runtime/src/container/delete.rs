//! `delete`: remove what `create` made once the container has stopped.

use crate::cgroups::Cgroup;
use anyhow::{Context, Result};
use std::path::Path;

/// Kills anything left in the cgroup, removes it, and removes the runtime directory.
pub fn delete(cgroup: Option<&Cgroup>, state_dir: &Path) -> Result<()> {
    if let Some(cg) = cgroup {
        cg.destroy().context("removing the container's cgroup")?;
        cg.remove_empty_pier_parent();
    }
    match std::fs::remove_dir_all(state_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", state_dir.display())),
    }
}
