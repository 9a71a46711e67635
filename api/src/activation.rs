//! Socket activation: under systemd's `pier.socket`, the service is started on the first
//! connection and given the listening socket as descriptor 3 (`LISTEN_FDS=1`,
//! `LISTEN_PID=` its PID), instead of binding one itself. The `listenfd` crate reads the
//! variables, checks that descriptor is a Unix stream socket and marks it close-on-exec.

use anyhow::{bail, Context, Result};
use std::os::unix::net::UnixListener;

/// The socket systemd passed, if the variables are there and meant for this process.
/// Must be called while the process has one thread (it clears the variables, so that the
/// containers started later do not see them).
pub fn take_listener() -> Result<Option<UnixListener>> {
    let Ok(count) = std::env::var("LISTEN_FDS") else {
        return Ok(None);
    };
    // Strict as systemd's sd_listen_fds: variables left by a parent for another process
    // (its PID differs) are not ours, and neither is its descriptor 3.
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !pid_matches {
        return Ok(None);
    }
    if count.trim() != "1" {
        bail!("socket activation: LISTEN_FDS={count}, but pier's service listens on exactly one socket (pier.socket has one ListenStream)");
    }
    let mut fds = listenfd::ListenFd::from_env();
    let listener = fds.take_unix_listener(0).context(
        "socket activation: descriptor 3 is not the Unix stream socket LISTEN_FDS promised",
    )?;
    Ok(listener)
}
