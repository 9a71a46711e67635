//! The watcher's event loop: waits for the container's init to exit while forwarding signals,
//! copying a terminal, and writing containers' output to pier's own stdout/stderr and to their
//! log. One thread, one `poll(2)` over a pidfd, a signalfd, and the streams.

use crate::attach_point::AttachPoint;
use crate::log_writer::LogWriter;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{read, Pid};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Signals a foreground `pier run` passes on to the container, as `docker run` does.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Where a stream's bytes go.
pub enum Sink {
    /// Into the container log as `stdout`/`stderr`.
    Log(&'static str),
    /// To one of pier's own descriptors (a terminal session).
    Fd(RawFd),
    /// To one of pier's own descriptors and into the log (foreground `pier run`, so that
    /// `pier logs` shows it afterwards, as Docker's does).
    Tee(RawFd, &'static str),
}

/// The loop's inputs.
pub struct IoLoop<'a> {
    /// The process to wait for (a child of this process).
    pub child: Pid,
    /// Forward signals to it (foreground only).
    pub forward_signals: bool,
    /// Streams to copy: (source, sink).
    pub streams: Vec<(OwnedFd, Sink)>,
    /// Copy pier's stdin into this descriptor (the terminal master with `-it`).
    pub stdin_to: Option<BorrowedFd<'a>>,
    /// Terminal master to resize on SIGWINCH.
    pub tty_master: Option<BorrowedFd<'a>>,
    /// The container log.
    pub log: Option<LogWriter>,
    /// A detached container's attach point (stdin and resizes from other processes).
    pub attach: Option<AttachPoint>,
}

/// A descriptor that becomes readable when process `pid` exits.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("pidfd_open({pid})"));
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Copies the terminal size of pier's stdin to `master`.
pub fn copy_window_size(master: BorrowedFd) {
    // SAFETY: winsize is plain data; TIOCGWINSZ/TIOCSWINSZ read/write exactly one.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Puts pier's terminal in raw mode for `-it` and restores it when dropped.
pub struct RawTerminal {
    saved: Option<termios::Termios>,
}

impl RawTerminal {
    /// Switches fd 0 to raw mode (nothing happens when it is not a terminal).
    pub fn enable() -> RawTerminal {
        // SAFETY: fd 0 stays open for the life of pier.
        let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
        let Ok(saved) = termios::tcgetattr(stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin, termios::SetArg::TCSANOW, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: fd 0 stays open for the life of pier.
            let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
            let _ = termios::tcsetattr(stdin, termios::SetArg::TCSANOW, saved);
        }
    }
}

impl IoLoop<'_> {
    /// Runs until the child exits and its output is drained; returns how it ended (exited
    /// or killed by a signal: the wait does not report stops).
    pub fn run(mut self) -> Result<WaitStatus> {
        let pidfd = pidfd_open(self.child)?;
        let mut mask = SigSet::empty();
        if self.forward_signals {
            for s in FORWARDED {
                mask.add(*s);
            }
            mask.thread_block().context("blocking forwarded signals")?;
        }
        let sigfd = if self.forward_signals {
            Some(
                SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
                    .context("signalfd")?,
            )
        } else {
            None
        };
        // A reader of pier's output that goes away (`pier run ... | head -1`) must not kill
        // pier with SIGPIPE halfway through its bookkeeping: the write fails with EPIPE
        // instead, and the stream is closed so the container's writer sees EPIPE in turn.
        // SAFETY: SIG_IGN installs no handler; the previous action is restored below.
        let old_pipe = unsafe {
            nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn)
        };
        let result = self.event_loop(&pidfd, sigfd.as_ref());
        if let Ok(old) = old_pipe {
            // SAFETY: restores the disposition that was in place before the loop.
            let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, old) };
        }
        if self.forward_signals {
            let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
        }
        result
    }

    fn event_loop(&mut self, pidfd: &OwnedFd, sigfd: Option<&SignalFd>) -> Result<WaitStatus> {
        let mut buf = vec![0u8; 65536];
        let mut open_streams: Vec<bool> = vec![true; self.streams.len()];
        let mut stdin_open = self.stdin_to.is_some();
        loop {
            let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            if let Some(s) = sigfd {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            let stream_base = fds.len();
            for (i, (fd, _)) in self.streams.iter().enumerate() {
                // A closed stream keeps its slot (with no events) so indices stay aligned.
                let flags = if open_streams[i] {
                    PollFlags::POLLIN
                } else {
                    PollFlags::empty()
                };
                fds.push(PollFd::new(fd.as_fd(), flags));
            }
            let stdin_idx = fds.len();
            // SAFETY: fd 0 stays open for the whole life of pier.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            if stdin_open {
                fds.push(PollFd::new(stdin, PollFlags::POLLIN));
            }
            let attach_base = fds.len();
            if let Some(a) = &self.attach {
                fds.extend(a.poll_fds());
            }
            // Log output shares an entry with what is already waiting in the pipes, and is
            // written as soon as they are drained (a poll that would block): no delay a reader
            // of the log could notice.
            let timeout = match &self.log {
                Some(log) if log.pending() => PollTimeout::ZERO,
                _ => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(0) => {
                    if let Some(log) = self.log.as_mut() {
                        log.flush()?;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll in the container watcher"),
            }
            let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            let child_done = ready(0);
            if let Some(s) = sigfd {
                if ready(1) {
                    while let Ok(Some(info)) = s.read_signal() {
                        let sig = info.ssi_signo as i32;
                        if sig == Signal::SIGWINCH as i32 {
                            if let Some(m) = self.tty_master {
                                copy_window_size(m);
                            }
                        } else if let Ok(sig) = Signal::try_from(sig) {
                            let _ = kill(self.child, sig);
                        }
                    }
                }
            }
            let readable: Vec<usize> = (0..self.streams.len())
                .filter(|i| open_streams[*i] && ready(stream_base + i))
                .collect();
            let attach_ready: Vec<bool> = (attach_base..fds.len()).map(ready).collect();
            if stdin_open && ready(stdin_idx) {
                match read(stdin, &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        if let Some(to) = self.stdin_to {
                            let _ = write_all(to, &buf[..n]);
                        }
                    }
                }
            }
            drop(fds);
            if let Some(a) = self.attach.as_mut() {
                a.on_ready(&attach_ready, self.tty_master);
            }
            for i in readable {
                if !self.copy_once(i, &mut buf)? {
                    open_streams[i] = false;
                }
            }
            if child_done {
                let status = waitpid(self.child, None)
                    .with_context(|| format!("waitpid({})", self.child))?;
                // Drain what the container wrote before it ended.
                let still_open: Vec<usize> = (0..self.streams.len())
                    .filter(|i| open_streams[*i])
                    .collect();
                for i in still_open {
                    set_nonblocking(self.streams[i].0.as_raw_fd());
                    while self.copy_once(i, &mut buf)? {}
                }
                if let Some(log) = self.log.as_mut() {
                    log.flush()?;
                }
                return Ok(status);
            }
        }
    }

    /// Copies one read from stream `i`; false at end-of-file (or EIO: terminal closed).
    fn copy_once(&mut self, i: usize, buf: &mut [u8]) -> Result<bool> {
        let n = match read(self.streams[i].0.as_fd(), buf) {
            Ok(0) | Err(Errno::EIO) | Err(Errno::EAGAIN) => return Ok(false),
            Err(Errno::EINTR) => return Ok(true),
            Err(e) => return Err(e).context("reading container output"),
            Ok(n) => n,
        };
        let (fd, stream) = match &self.streams[i].1 {
            Sink::Log(stream) => (None, Some(*stream)),
            Sink::Fd(fd) => (Some(*fd), None),
            Sink::Tee(fd, stream) => (Some(*fd), Some(*stream)),
        };
        if let (Some(stream), Some(log)) = (stream, self.log.as_mut()) {
            log.write(stream, &buf[..n])?;
        }
        if let Some(fd) = fd {
            // SAFETY: the sink descriptors are pier's stdout/stderr, open for its whole life.
            let to = unsafe { BorrowedFd::borrow_raw(fd) };
            if let Err(Errno::EPIPE) = write_all(to, &buf[..n]) {
                // Nobody reads pier's output any more: close our read end, so the
                // container's next write fails as it would have in a shell pipeline.
                let devnull = nix::fcntl::open(
                    "/dev/null",
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .context("opening /dev/null")?;
                drop(std::mem::replace(&mut self.streams[i].0, devnull));
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Writes all of `data` (waiting out EINTR and EAGAIN); returns the first other error.
pub(crate) fn write_all(fd: BorrowedFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own only change its status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
