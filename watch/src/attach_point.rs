//! A detached container's attach point: a Unix socket its monitor listens on, through which
//! another process (the Engine API service's `docker attach`, `docker run -i`) writes the
//! container's stdin and resizes its terminal. The role of conmon's attach socket and
//! control FIFO.
//!
//! The socket is `attach.sock` in the container's directory (mode 0600, in a root-only
//! directory), there from the start of a run to its end. A connection starts with one header line:
//! - `stdin\n`: every following byte goes to the container's stdin; at end-of-file the
//!   container's stdin is closed if it was created with `StdinOnce` (`docker run -i`), as
//!   Docker does, so `echo hi | docker run -i busybox cat` ends;
//! - `resize H W\n`: sets the terminal's size (rows, columns) and closes.
//!
//! Output does not travel here: the monitor writes it to the container's log, which the
//! attaching side follows. Paths are reached through `/proc/self/fd/N/attach.sock` on a
//! descriptor of the directory, because a socket path is limited to 108 bytes and a state
//! directory's may be longer.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{PollFd, PollFlags};
use nix::sys::stat::Mode;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket's name in the container's runtime directory.
const SOCKET: &str = "attach.sock";
/// A header line longer than this is not one of ours.
const MAX_HEADER: usize = 64;

/// The monitor's side: the listening socket, its connections, and the container's stdin.
pub struct AttachPoint {
    listener: UnixListener,
    path: PathBuf,
    /// The write end of the container's stdin pipe (none with a terminal: the master is).
    stdin_pipe: Option<OwnedFd>,
    stdin_once: bool,
    /// `OpenStdin`: without it, what clients send is dropped (Docker's behaviour).
    open_stdin: bool,
    conns: Vec<Conn>,
    /// Bytes read from a client and not yet taken by a full stdin pipe.
    pending: Vec<u8>,
}

struct Conn {
    stream: UnixStream,
    /// The header, until its newline has arrived.
    header: Option<Vec<u8>>,
}

/// What a connection does after its header.
enum Header {
    Stdin,
    Resize(u16, u16),
}

fn parse_header(line: &[u8]) -> Option<Header> {
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    match (words.next()?, words.next(), words.next(), words.next()) {
        ("stdin", None, _, _) => Some(Header::Stdin),
        ("resize", Some(h), Some(w), None) => {
            Some(Header::Resize(h.parse().ok()?, w.parse().ok()?))
        }
        _ => None,
    }
}

/// `dir`'s descriptor and the short path of the socket through it.
fn via_proc(dir: &Path) -> Result<(OwnedFd, String)> {
    let fd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", dir.display()))?;
    let path = format!("/proc/self/fd/{}/{SOCKET}", fd.as_raw_fd());
    Ok((fd, path))
}

/// Sets the size of the terminal `fd` (a master or a slave).
pub fn set_window_size(fd: BorrowedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(std::io::Error::last_os_error()).context("TIOCSWINSZ");
    }
    Ok(())
}

impl AttachPoint {
    /// Listens in the container's directory `dir`. `open_stdin`: the container takes stdin (`-i`);
    /// `stdin_pipe` is the write end of its stdin (without a terminal: with one, the master
    /// is); `stdin_once` closes it when the first client ends.
    pub fn bind(
        dir: &Path,
        open_stdin: bool,
        stdin_pipe: Option<OwnedFd>,
        stdin_once: bool,
    ) -> Result<AttachPoint> {
        let path = dir.join(SOCKET);
        // A monitor that died left its socket: nobody listens on it any more.
        let _ = std::fs::remove_file(&path);
        let (_dir, short) = via_proc(dir)?;
        let listener = UnixListener::bind(&short)
            .with_context(|| format!("binding the attach socket {}", path.display()))?;
        listener
            .set_nonblocking(true)
            .context("non-blocking attach socket")?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(|| format!("chmod of {}", path.display()))?;
        if let Some(p) = &stdin_pipe {
            set_nonblocking(p.as_fd())?;
        }
        Ok(AttachPoint::adopt(
            listener.into(),
            path,
            open_stdin,
            stdin_pipe,
            stdin_once,
        ))
    }

    /// The listening descriptor (for the list a container's processes must not inherit).
    pub fn listener_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }

    /// The write end of the container's stdin pipe, if it has one (handed to the small
    /// monitor with the listener).
    pub fn stdin_fd(&self) -> Option<std::os::fd::RawFd> {
        self.stdin_pipe.as_ref().map(|p| p.as_raw_fd())
    }

    /// The socket's path (the one [`Drop`] removes).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The attach point another process bound ([`AttachPoint::bind`]) and handed over:
    /// `listener` listens on `path`, `stdin_pipe` and the flags as `bind` took them. Both
    /// descriptors are already non-blocking (the flag belongs to the open file, which the
    /// handover shares).
    pub fn adopt(
        listener: OwnedFd,
        path: PathBuf,
        open_stdin: bool,
        stdin_pipe: Option<OwnedFd>,
        stdin_once: bool,
    ) -> AttachPoint {
        AttachPoint {
            listener: UnixListener::from(listener),
            path,
            stdin_pipe,
            stdin_once,
            open_stdin,
            conns: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The descriptors to poll, in the order [`Self::on_ready`] expects their events.
    pub(crate) fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut fds = vec![PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        // While the pipe is full, clients are not read: back-pressure reaches them.
        let reading = if self.pending.is_empty() {
            PollFlags::POLLIN
        } else {
            PollFlags::empty()
        };
        for c in &self.conns {
            fds.push(PollFd::new(c.stream.as_fd(), reading));
        }
        if let (Some(p), false) = (&self.stdin_pipe, self.pending.is_empty()) {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLOUT));
        }
        fds
    }

    /// Handles the events of [`Self::poll_fds`]'s descriptors (`ready[i]`: descriptor `i`
    /// had an event). `master` is the container's terminal, if it has one.
    pub(crate) fn on_ready(&mut self, ready: &[bool], master: Option<BorrowedFd>) {
        if ready.first() == Some(&true) {
            while let Ok((stream, _)) = self.listener.accept() {
                if stream.set_nonblocking(true).is_ok() {
                    self.conns.push(Conn {
                        stream,
                        header: Some(Vec::new()),
                    });
                }
            }
        }
        if !self.pending.is_empty() {
            self.flush_pending();
        }
        let n = self.conns.len();
        let mut done = Vec::new();
        for i in 0..n {
            if ready.get(1 + i) == Some(&true) && self.pending.is_empty() && !self.serve(i, master)
            {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            self.conns.remove(i);
        }
    }

    /// One read from connection `i`; false when it is finished.
    fn serve(&mut self, i: usize, master: Option<BorrowedFd>) -> bool {
        let mut buf = [0u8; 16384];
        let n = match self.conns[i].stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
            Err(_) => 0,
        };
        let mut data = &buf[..n];
        if let Some(header) = &mut self.conns[i].header {
            let Some(nl) = data.iter().position(|b| *b == b'\n') else {
                header.extend_from_slice(data);
                return n > 0 && header.len() <= MAX_HEADER;
            };
            header.extend_from_slice(&data[..nl]);
            data = &data[nl + 1..];
            match parse_header(header) {
                Some(Header::Stdin) => self.conns[i].header = None,
                Some(Header::Resize(rows, cols)) => {
                    if let Some(m) = master {
                        let _ = set_window_size(m, rows, cols);
                    }
                    let _ = self.conns[i].stream.write_all(b"ok\n");
                    return false;
                }
                None => return false,
            }
        }
        if n == 0 {
            // The client's stdin ended.
            if self.stdin_once {
                self.stdin_pipe = None;
            }
            return false;
        }
        if !self.open_stdin {
            // Read and dropped, as Docker does for a container without `-i`.
        } else if let Some(m) = master {
            // As `pier run -it` does: a terminal takes what a person types at once.
            let _ = crate::io_loop::write_all(m, data);
        } else if self.stdin_pipe.is_some() {
            self.pending.extend_from_slice(data);
            self.flush_pending();
        }
        true
    }

    /// Writes what the stdin pipe takes now.
    fn flush_pending(&mut self) {
        while !self.pending.is_empty() {
            let Some(pipe) = &self.stdin_pipe else {
                self.pending.clear();
                return;
            };
            match nix::unistd::write(pipe, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The container closed its stdin: nothing will read it again.
                    self.pending.clear();
                    self.stdin_pipe = None;
                }
            }
        }
    }
}

impl Drop for AttachPoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn set_nonblocking(fd: BorrowedFd) -> Result<()> {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).context("F_GETFL")?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags)).context("F_SETFL")?;
    Ok(())
}

/// Connects to the attach point of the container whose runtime directory is `dir`
/// and asks for its stdin: what is written to the returned stream reaches the container.
pub fn connect_stdin(dir: &Path) -> Result<UnixStream> {
    let mut s = connect(dir)?;
    s.write_all(b"stdin\n")
        .context("writing to the attach socket")?;
    Ok(s)
}

/// Whether the container's monitor listens (it does from its start to its end).
pub fn is_listening(dir: &Path) -> bool {
    dir.join(SOCKET).exists()
}

/// Sets the container's terminal size through its monitor.
pub fn resize(dir: &Path, rows: u16, cols: u16) -> Result<()> {
    let mut s = connect(dir)?;
    s.write_all(format!("resize {rows} {cols}\n").as_bytes())
        .context("writing to the attach socket")?;
    s.shutdown(std::net::Shutdown::Write)
        .context("closing the attach request")?;
    let mut reply = String::new();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .context("attach socket time-out")?;
    s.read_to_string(&mut reply)
        .context("reading the monitor's reply")?;
    if reply != "ok\n" {
        bail!("the container's monitor refused the resize");
    }
    Ok(())
}

fn connect(dir: &Path) -> Result<UnixStream> {
    let (_dir, short) = via_proc(dir)?;
    UnixStream::connect(&short).with_context(|| {
        format!(
            "connecting to the attach socket in {} (is the container running?)",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(matches!(parse_header(b"stdin"), Some(Header::Stdin)));
        assert!(matches!(
            parse_header(b"resize 24 80"),
            Some(Header::Resize(24, 80))
        ));
        assert!(parse_header(b"resize 24").is_none());
        assert!(parse_header(b"resize 99999 80").is_none());
        assert!(parse_header(b"stdout").is_none());
    }
}
