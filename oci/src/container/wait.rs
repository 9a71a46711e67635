//! Waiting for a container's init to exit, and what its exit means.

use anyhow::{Context, Result};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// How the container's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code as Docker reports it: the code, or 128 + signal number.
    pub code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Converts a wait status (exited or killed) into an exit code.
    pub fn from_status(status: WaitStatus) -> Option<ExitInfo> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitInfo { code, signal: None }),
            WaitStatus::Signaled(_, sig, _) => Some(ExitInfo {
                code: 128 + sig as i32,
                signal: Some(sig as i32),
            }),
            _ => None,
        }
    }

    /// [`ExitInfo::from_status`] of the status a watcher's wait returned (`IoLoop::run` of
    /// `pier-watch`), which is an exit or a kill: anything else is an error.
    pub fn of_ended(status: WaitStatus) -> Result<ExitInfo> {
        ExitInfo::from_status(status)
            .with_context(|| format!("the container's init stopped without exiting ({status:?})"))
    }
}

/// Blocks until `pid` (a child of this process) exits.
pub fn wait_for_exit(pid: Pid) -> Result<ExitInfo> {
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(info) = ExitInfo::from_status(status) {
                    return Ok(info);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).with_context(|| format!("waitpid({pid})")),
        }
    }
}
