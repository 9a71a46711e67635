//! `kill`: send a signal to the container's init, or to every process in its cgroup.

use super::handle::Container;
use crate::error::{Error, Operation};
use crate::state::Status;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::str::FromStr;

/// Parses a signal as Docker accepts it: `TERM`, `SIGTERM`, `sigterm` or a number (`15`).
pub fn parse_signal(text: &str) -> Result<Signal> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("invalid signal number {n}"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    match Signal::from_str(&name) {
        Ok(s) => Ok(s),
        Err(_) => bail!("invalid signal {text:?}: use a name such as TERM, KILL, HUP or a number"),
    }
}

/// Signals the container's init (as the host sees its PID).
pub fn signal(pid: i32, sig: Signal) -> Result<()> {
    kill(Pid::from_raw(pid), sig).with_context(|| format!("kill({pid}, {sig})"))
}

impl Container {
    /// Sends `sig` to the init, or with `all` to every process of the cgroup (frozen
    /// meanwhile, so none forks past the list). A stopped container is
    /// [`Error::NotRunning`] ("not running", the words containerd looks for), except with
    /// `all`, which then has nothing to do (runc).
    pub fn kill(&self, sig: Signal, all: bool) -> crate::Result<()> {
        let Some(pid) = self.running_pid() else {
            if all {
                return Ok(());
            }
            return Err(Error::NotRunning {
                id: self.id().to_string(),
                status: Status::Stopped,
                op: Operation::Kill,
            });
        };
        if !all {
            return Ok(signal(pid, sig)?);
        }
        // A paused container stays paused; a running one is frozen for the duration.
        let paused = self.status() == Status::Paused;
        Ok(self.cgroup()?.signal_all(sig, !paused)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
