//! `pause` and `resume`: freeze and thaw every process of the container (its cgroup's
//! freezer), recorded as the `paused` status.

use super::handle::Container;
use crate::error::{Error, Operation, Result};
use crate::state::Status;

impl Container {
    /// Freezes the container's processes; [`Error::NotRunning`] unless it runs.
    pub fn pause(&mut self) -> Result<()> {
        match self.status() {
            Status::Running => {}
            status => {
                return Err(Error::NotRunning {
                    id: self.id().to_string(),
                    status,
                    op: Operation::Pause,
                })
            }
        }
        self.cgroup()?.freeze()?;
        self.set_status(Status::Paused)
    }

    /// Thaws a paused container; [`Error::NotPaused`] if it is not.
    pub fn resume(&mut self) -> Result<()> {
        if self.status() != Status::Paused {
            return Err(Error::NotPaused {
                id: self.id().to_string(),
            });
        }
        self.cgroup()?.thaw()?;
        self.set_status(Status::Running)
    }
}
