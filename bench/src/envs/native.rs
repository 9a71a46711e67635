//! The baseline: the payload exec'd directly by the harness, no isolation at all.

use super::{Availability, Environment, NetMode, PayloadRun, Setup};
use anyhow::Result;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The payload run as a plain child process.
#[derive(Debug, Clone)]
pub struct Native {
    payload: PathBuf,
}

impl Native {
    /// Runs the payload of `setup`.
    pub fn new(setup: &Setup) -> Native {
        Native {
            payload: setup.payload.clone(),
        }
    }
}

impl Environment for Native {
    fn name(&self) -> String {
        crate::record::NATIVE.to_string()
    }

    fn availability(&self) -> Availability {
        if self.payload.is_file() {
            Availability::Available
        } else {
            Availability::Unavailable(format!("payload {} missing", self.payload.display()))
        }
    }

    fn run_payload(
        &mut self,
        args: &[String],
        _net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        let mut cmd = Command::new(&self.payload);
        cmd.args(args);
        super::run_timed(cmd, "native pier-payload", timeout)
    }
}
