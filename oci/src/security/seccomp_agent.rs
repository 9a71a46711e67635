//! Seccomp user notification: a profile may send syscalls to a *seccomp agent*
//! (`SCMP_ACT_NOTIFY`), a program on the host that decides, for instance, to perform a
//! `mount` on the container's behalf. The container's init installs the filter with a
//! listener descriptor; the parent takes a copy of it ([`fetch`]) and sends it to the agent's
//! Unix socket (`linux.seccomp.listenerPath`) with the "container process state" the
//! runtime specification defines ([`hand_over`]).

use crate::state::OciState;
use anyhow::{Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::LinuxSeccomp;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// A copy of descriptor `fd` of process `pid` (pidfd_open + pidfd_getfd, Linux 5.6).
pub(crate) fn fetch(pid: i32, fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a PID and flags, and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error()).context("pidfd_open of the container's init");
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: pidfd_getfd takes a pidfd, a descriptor number in that process and flags.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error()).context("pidfd_getfd of the seccomp listener");
    }
    // SAFETY: pidfd_getfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as RawFd) })
}

/// Sends `listener` to the agent at `seccomp.listenerPath`, with the container process state:
/// `{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}`.
pub(crate) fn hand_over(
    seccomp: Option<&LinuxSeccomp>,
    listener: &OwnedFd,
    state: &OciState,
) -> Result<()> {
    let seccomp = seccomp.context("a seccomp listener without a seccomp profile")?;
    let path = seccomp
        .listener_path()
        .as_ref()
        .context("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")?;
    let message = serde_json::json!({
        "ociVersion": state.oci_version,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    let data = serde_json::to_vec(&message).context("serializing the container process state")?;
    let stream = UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to the seccomp agent at {} (linux.seccomp.listenerPath)",
            path.display()
        )
    })?;
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(&data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .with_context(|| format!("sending the seccomp listener to {}", path.display()))?;
    Ok(())
}
