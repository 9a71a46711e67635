//! A container's terminal when a manager holds its other end (`--console-socket`).
//!
//! Docker, Podman and containerd do not read the container's terminal through the runtime:
//! they pass a Unix socket, and the runtime sends them the terminal's master side over it as
//! an `SCM_RIGHTS` message (runc's protocol: one descriptor, the terminal's name as payload).
//! The slave side becomes the container's stdin, stdout, stderr and `/dev/console`.
//!
//! As runc does, the terminal is made *inside* the container ([`open_inside_and_send`]), from
//! the container's own devpts once its root is in place: the container then sees it as
//! `/dev/pts/0` (`tty` works, and in a user namespace it belongs to the container's root),
//! not as a terminal of the host's devpts.

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The slave side of a terminal whose master was handed to a manager.
pub(crate) struct Console {
    /// The slave descriptor (becomes the process's stdio).
    pub slave: OwnedFd,
    /// Its path (bind-mounted over the container's `/dev/console`).
    pub path: PathBuf,
}

/// In the container's mount namespace, with its root in place: a new terminal from the
/// container's `/dev/ptmx`, of `size` if given; its master is sent over the connected Unix
/// socket `socket`, its slave is returned with its path in the container (`/dev/pts/N`).
pub(crate) fn open_inside_and_send(socket: RawFd, size: Option<(u16, u16)>) -> Result<Console> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("opening the container's /dev/ptmx")?;
    nix::pty::grantpt(&master).context("grantpt on the container's terminal")?;
    nix::pty::unlockpt(&master).context("unlockpt on the container's terminal")?;
    let path = PathBuf::from(nix::pty::ptsname_r(&master).context("ptsname of the terminal")?);
    let slave = nix::fcntl::open(
        &path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening {}", path.display()))?;
    if let Some(size) = size {
        set_size(master.as_raw_fd(), size)?;
    }
    send(socket, master.as_raw_fd(), &path)?;
    Ok(Console { slave, path })
}

/// Makes `slave` the calling process's controlling terminal and its stdin, stdout, stderr
/// (the process must lead its session).
pub(crate) fn attach(slave: RawFd) -> Result<()> {
    // SAFETY: TIOCSCTTY on a terminal descriptor we own; makes it our controlling tty.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("ioctl(TIOCSCTTY) on the container's terminal");
    }
    for target in 0..3 {
        crate::process::sync::dup_onto(slave, target)
            .with_context(|| format!("dup2 terminal onto fd {target}"))?;
    }
    Ok(())
}

fn set_size(master: RawFd, (cols, rows): (u16, u16)) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    if unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setting the terminal size");
    }
    Ok(())
}

/// Sends `master` (with `path` as the payload) over the connected socket `socket`.
fn send(socket: RawFd, master: RawFd, path: &Path) -> Result<()> {
    let name = path.as_os_str().as_encoded_bytes();
    let fds = [master];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("sending the terminal over the console socket")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::{IoSliceMut, Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_master_arrives_over_the_socket_and_talks_to_the_slave() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let console = open_inside_and_send(theirs.as_raw_fd(), Some((100, 40))).unwrap();
        let mut buf = [0u8; 256];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (bytes, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                ours.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            )
            .unwrap();
            let fd = msg
                .cmsgs()
                .unwrap()
                .find_map(|c| match c {
                    ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                    _ => None,
                })
                .expect("a descriptor");
            (msg.bytes, fd)
        };
        let name = String::from_utf8_lossy(&buf[..bytes]).to_string();
        assert_eq!(Path::new(&name), console.path);
        assert!(name.starts_with("/dev/pts/"), "{name}");
        // SAFETY: the descriptor just arrived with the message; nothing else owns it.
        let mut master = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: winsize is plain data; all-zero is a valid value.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize.
        assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) }, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (100, 40));
        let mut slave = std::fs::File::from(console.slave);
        slave.write_all(b"hello\n").unwrap();
        let mut got = [0u8; 5];
        master.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }
}
