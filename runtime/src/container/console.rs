//! A container's terminal when a manager holds its other end (`--console-socket`).
//!
//! Docker, Podman and containerd do not read the container's terminal through the runtime:
//! they pass a Unix socket, and the runtime sends them the terminal's master side over it as
//! an `SCM_RIGHTS` message (runc's protocol: one descriptor, the terminal's name as payload).
//! The slave side becomes the container's stdin, stdout, stderr and `/dev/console`.

use anyhow::{Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The slave side of a terminal whose master was handed to a manager.
pub struct Console {
    /// The slave descriptor (becomes the process's stdio).
    pub slave: OwnedFd,
    /// Its path (bind-mounted over the container's `/dev/console`).
    pub path: PathBuf,
}

/// Makes a terminal of `size` (columns, rows) if given, sends its master to the Unix socket
/// at `socket`, and returns the slave side.
pub fn send_master(socket: &Path, size: Option<(u16, u16)>) -> Result<Console> {
    let pty = nix::pty::openpty(None, None).context("openpty for the container's terminal")?;
    let path = nix::unistd::ttyname(&pty.slave).context("ttyname of the new terminal")?;
    if let Some((cols, rows)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
        if unsafe { libc::ioctl(pty.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setting the terminal size");
        }
    }
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the console socket {}", socket.display()))?;
    let name = path.as_os_str().as_encoded_bytes();
    let fds = [pty.master.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .with_context(|| format!("sending the terminal to {}", socket.display()))?;
    // Our copy of the master closes here; the manager's copy keeps the terminal open.
    Ok(Console {
        slave: pty.slave,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::{IoSliceMut, Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_master_arrives_over_the_socket_and_talks_to_the_slave() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("console.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let console = send_master(&sock, Some((100, 40))).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (bytes, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
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
