//! The parent <-> child protocol during container setup, over two pipes.
//!
//! parent -> child: one byte `G` ("go") once the child is in its cgroup, followed, when the
//! child runs hooks itself, by the state document (a length-prefixed blob); another `G` after
//! the runtime-namespace hooks.
//! child -> parent: `H` ("hooks": mounts made, run the prestart and createRuntime hooks now),
//! `S<fd>` (the seccomp listener is descriptor `fd`: hand it to the agent, then say `G`),
//! `R` ("ready": set up, now waiting for `start` on the exec FIFO), or an error message
//! `E<code> <text>` followed by the child's exit. The child's end is
//! close-on-exec, so when `execve` succeeds the parent reads end-of-file: that is how the
//! parent learns the command really started, without a race.

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, read, write};
use std::os::fd::{AsFd, OwnedFd};

/// What the child reported.
#[derive(Debug, PartialEq, Eq)]
pub enum ChildMessage {
    /// Setup done; waiting on the exec FIFO.
    Ready,
    /// Mounts made, `pivot_root` not yet: the parent runs the runtime-namespace hooks.
    Hooks,
    /// The seccomp filter is in, and its listener is this descriptor number in the child:
    /// the parent takes a copy (pidfd_getfd) for the seccomp agent.
    Seccomp(i32),
    /// Setup or exec failed; `code` is the exit code Docker gives that failure (127: command
    /// not found, 126: not executable, 125: any other setup error).
    Failed {
        /// The exit code to report.
        code: i32,
        /// What failed, one line.
        message: String,
    },
    /// The pipe was closed without a message: the command was executed.
    Closed,
}

/// A one-way pipe (both ends close-on-exec).
pub struct Channel {
    /// The reading end.
    pub rx: OwnedFd,
    /// The writing end.
    pub tx: OwnedFd,
}

impl Channel {
    /// Makes a new pipe.
    pub fn new() -> Result<Channel> {
        let (rx, tx) = pipe2(OFlag::O_CLOEXEC).context("pipe2 for parent/child sync")?;
        Ok(Channel { rx, tx })
    }
}

/// Writes all of `data`, retrying on short writes and EINTR.
pub fn write_all(fd: impl AsFd, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        match write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("writing to the sync pipe"),
        }
    }
    Ok(())
}

/// Reads until end-of-file (bounded to 64 KiB).
pub(crate) fn read_to_end(fd: impl AsFd) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read(fd.as_fd(), &mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > 65536 {
                    return Ok(out);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("reading the sync pipe"),
        }
    }
}

/// Reads exactly one byte; `None` at end-of-file.
pub(crate) fn read_byte(fd: impl AsFd) -> Result<Option<u8>> {
    let mut b = [0u8; 1];
    loop {
        match read(fd.as_fd(), &mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("reading the sync pipe"),
        }
    }
}

/// Child side: report an error (best effort: the parent may be gone).
pub fn send_failure(fd: impl AsFd, code: i32, message: &str) {
    let _ = write_all(fd, format!("E{code} {message}").as_bytes());
}

/// Parent side: read the child's next message. A `Ready` is one byte; anything else is read
/// to end-of-file.
pub fn receive(fd: impl AsFd) -> Result<ChildMessage> {
    let fd = fd.as_fd();
    match read_byte(fd)? {
        None => Ok(ChildMessage::Closed),
        Some(b'R') => Ok(ChildMessage::Ready),
        Some(b'H') => Ok(ChildMessage::Hooks),
        Some(b'S') => {
            let mut n = [0u8; 4];
            read_exact(fd, &mut n)?;
            Ok(ChildMessage::Seccomp(i32::from_le_bytes(n)))
        }
        Some(b'E') => {
            let rest = read_to_end(fd)?;
            let text = String::from_utf8_lossy(&rest);
            let (code, message) = text.split_once(' ').unwrap_or(("125", &text));
            Ok(ChildMessage::Failed {
                code: code.parse().unwrap_or(125),
                message: message.to_string(),
            })
        }
        Some(other) => bail!("unexpected byte {other:#x} from the container's init"),
    }
}

/// Sends `data` as one blob: its length (4 bytes, little-endian), then the bytes.
pub(crate) fn send_blob(fd: impl AsFd, data: &[u8]) -> Result<()> {
    let len = u32::try_from(data.len()).context("blob too large for the sync pipe")?;
    write_all(fd.as_fd(), &len.to_le_bytes())?;
    write_all(fd.as_fd(), data)
}

/// Reads a blob sent by [`send_blob`] (at most 1 MiB).
pub(crate) fn receive_blob(fd: impl AsFd) -> Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut len = [0u8; 4];
    read_exact(fd, &mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        bail!("blob of {len} bytes on the sync pipe is too large");
    }
    let mut data = vec![0u8; len];
    read_exact(fd, &mut data)?;
    Ok(data)
}

fn read_exact(fd: std::os::fd::BorrowedFd, mut buf: &mut [u8]) -> Result<()> {
    while !buf.is_empty() {
        match read(fd, buf) {
            Ok(0) => bail!("the sync pipe closed in the middle of a message"),
            Ok(n) => buf = &mut buf[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("reading the sync pipe"),
        }
    }
    Ok(())
}

/// `dup2(old, new)` on raw descriptor numbers (installing stdio as 0, 1, 2 is inherently
/// about numbers, which nix's owned-descriptor `dup2` cannot express).
pub fn dup_onto(old: std::os::fd::RawFd, new: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 only manipulates the descriptor table; `new` is closed first if open.
    if unsafe { libc::dup2(old, new) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
