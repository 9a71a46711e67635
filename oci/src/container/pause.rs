//! `pause` and `resume`: freeze and thaw every process of the container (its cgroup's
//! freezer), recorded as the `paused` status.

use super::handle::Container;
use crate::state::Status;
use anyhow::{bail, Result};

impl Container {
    /// Freezes the container's processes.
    pub fn pause(&mut self) -> Result<()> {
        match self.status() {
            Status::Running => {}
            other => bail!(
                "cannot pause container {}: it is {}",
                self.id(),
                other.as_str()
            ),
        }
        self.cgroup()?.freeze()?;
        self.set_status(Status::Paused)
    }

    /// Thaws a paused container.
    pub fn resume(&mut self) -> Result<()> {
        if self.status() != Status::Paused {
            bail!("cannot resume container {}: it is not paused", self.id());
        }
        self.cgroup()?.thaw()?;
        self.set_status(Status::Running)
    }
}
