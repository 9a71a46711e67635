//! The launcher: a small process, forked while the service still has one thread, that starts
//! containers for it.
//!
//! Starting a container forks its monitor (the engine's `start_detached`, as `pier start`
//! does), and the monitor goes on running engine code. Forking the multi-threaded service
//! would copy it with one thread and whatever locks its other threads held (the allocator's,
//! the runtime's), so the service never forks: it asks the launcher, which is single-threaded
//! for its whole life, over a socket pair, one start at a time. The monitors are the
//! launcher's children, so they do not inherit the service's listening socket either.
//!
//! It also starts exec processes ([`crate::exec_watcher`]): an `exec` request line carries
//! the exec's streams as descriptors (`SCM_RIGHTS`).

use crate::exec_watcher::{self, recv_with_fds, send_with_fds, ExecJob, EXEC_FDS};
use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{fork, ForkResult, Pid};
use pier_engine::container::Engine;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;

/// The service's end of the launcher.
pub struct Launcher {
    conn: Mutex<BufReader<UnixStream>>,
    pid: Pid,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Reply {
    error: Option<String>,
}

impl Launcher {
    /// Forks the launcher for the state directory `root`. Call it before any thread starts.
    /// `close_in_child`: descriptors of the service the launcher (and so the container
    /// monitors it forks) must not keep, such as a listening socket systemd passed.
    pub fn spawn(root: &Path, close_in_child: &[RawFd]) -> Result<Launcher> {
        let (service_end, launcher_end) =
            UnixStream::pair().context("socket pair for the launcher")?;
        // SAFETY: the service calls this before it starts its runtime or any thread, so the
        // child is a complete copy of a single-threaded process.
        match unsafe { fork() }.context("fork of the launcher")? {
            ForkResult::Parent { child } => {
                drop(launcher_end);
                Ok(Launcher {
                    conn: Mutex::new(BufReader::new(service_end)),
                    pid: child,
                })
            }
            ForkResult::Child => {
                drop(service_end);
                for fd in close_in_child {
                    let _ = nix::unistd::close(*fd);
                }
                let code = match launch_loop(root, launcher_end) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("pier system service: launcher: {e:#}");
                        1
                    }
                };
                std::process::exit(code)
            }
        }
    }

    /// Starts the container `id` (blocking until its command has started or failed to).
    pub fn start(&self, id: &str) -> Result<()> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| anyhow::anyhow!("the launcher connection is poisoned"))?;
        writeln!(conn.get_mut(), "{id}").context("asking the launcher to start a container")?;
        read_reply(&mut *conn)
    }

    /// Starts an exec watcher for `job` (returns once it is forked: the watcher reports on
    /// the status descriptor). `fds` are [status, stdin, stdout, stderr], the child ends.
    pub fn exec(&self, job: &ExecJob, fds: [BorrowedFd; EXEC_FDS]) -> Result<()> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| anyhow::anyhow!("the launcher connection is poisoned"))?;
        let mut request = b"exec ".to_vec();
        request.extend(serde_json::to_vec(job).context("exec request")?);
        request.push(b'\n');
        let raw = fds.map(|f| f.as_raw_fd());
        send_with_fds(conn.get_ref().as_raw_fd(), &request, &raw)?;
        read_reply(&mut *conn)
    }

    /// Ends the launcher (it exits when its socket closes) and reaps it.
    pub fn stop(self) {
        let pid = self.pid;
        drop(self.conn);
        let _ = waitpid(pid, None);
    }
}

/// The launcher's life: one container ID a line in, one JSON reply a line out, until the
/// service closes its end. The monitors it forks are its children: it reaps them as they end.
fn launch_loop(root: &Path, conn: UnixStream) -> Result<()> {
    let engine = Engine::open(root)?;
    let mut writer = conn.try_clone().context("launcher socket")?;
    // Read with recvmsg: an exec request brings descriptors along.
    let (mut buf, mut fds) = (Vec::new(), Vec::new());
    loop {
        reap_monitors();
        let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
            let ready = {
                let mut pfd = [PollFd::new(conn.as_fd(), PollFlags::POLLIN)];
                poll(&mut pfd, PollTimeout::from(1000u16)).context("poll in the launcher")?
            };
            if ready > 0 && recv_with_fds(conn.as_raw_fd(), &mut buf, &mut fds)? == 0 {
                return Ok(());
            }
            continue;
        };
        let line: Vec<u8> = buf.drain(..=nl).collect();
        let line = String::from_utf8_lossy(&line);
        let line = line.trim();
        let result = match line.strip_prefix("exec ") {
            Some(job) => serde_json::from_str::<ExecJob>(job)
                .context("exec request")
                .and_then(|job| {
                    if fds.len() < EXEC_FDS {
                        bail!("an exec request came without its {EXEC_FDS} descriptors");
                    }
                    let streams = fds.drain(..EXEC_FDS).collect();
                    exec_watcher::spawn(&engine, job, streams)
                }),
            None => engine.start_detached(line),
        };
        // Descriptors that came with no request (or a refused one) are not kept.
        fds.clear();
        let error = result.err().map(|e| format!("{e:#}"));
        let mut reply = serde_json::to_vec(&Reply { error }).context("launcher reply")?;
        reply.push(b'\n');
        writer.write_all(&reply).context("launcher reply")?;
    }
}

fn reap_monitors() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

/// The launcher's one-line JSON answer to a request: `Ok` or its error.
fn read_reply(conn: &mut impl BufRead) -> Result<()> {
    let mut line = String::new();
    if conn
        .read_line(&mut line)
        .context("reading the launcher's reply")?
        == 0
    {
        bail!("the launcher exited");
    }
    let reply: Reply = serde_json::from_str(&line).context("the launcher's reply")?;
    match reply.error {
        None => Ok(()),
        Some(e) => bail!("{e}"),
    }
}
