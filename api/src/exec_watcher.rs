//! Exec processes for the service, started by the launcher (see [`crate::launcher`]: the
//! service never forks).
//!
//! The service makes the exec's standard streams itself (pipes, or a terminal whose master
//! it keeps) and sends their child ends, with one end of a status socket, to the launcher
//! over its socket (`SCM_RIGHTS`). The launcher forks a watcher for each exec; the watcher
//! starts the command in the container through the engine (`Engine::exec_with_stdio`, as
//! `pier exec` does), closes its copies of the streams (so the service sees end-of-file when
//! the command and its children are done), waits for it, and reports on the status socket,
//! one JSON line each: `{"pid":N}` once it runs (or `{"error":"..."}`), then `{"exit":N}`.

use anyhow::{Context, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use pier_engine::container::exec::ExecRequest;
use pier_engine::container::Engine;
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// How many descriptors an exec request carries: status, stdin, stdout, stderr.
pub const EXEC_FDS: usize = 4;

/// What the service asks the launcher to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecJob {
    /// The container (ID).
    pub container: String,
    /// Command and arguments.
    pub command: Vec<String>,
    /// `KEY=VALUE` added to the container's environment.
    pub env: Vec<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User.
    pub user: Option<String>,
    /// The streams are one terminal (its slave): it becomes the controlling terminal.
    pub tty: bool,
}

/// A status line from the watcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The command runs with this PID (host namespace).
    #[serde(default)]
    pub pid: Option<i32>,
    /// It ended with this code (128+N for signal N).
    #[serde(default)]
    pub exit: Option<i32>,
    /// It could not be started.
    #[serde(default)]
    pub error: Option<String>,
    /// With `error`: the command could not be run at all (126: not executable, 127: not
    /// found), rather than the container refusing an exec.
    #[serde(default)]
    pub code: Option<i32>,
}

/// In the launcher: forks the watcher of `job` and returns (the watcher is reaped with the
/// monitors). `fds` are [status, stdin, stdout, stderr]; the launcher's copies are closed.
pub fn spawn(engine: &Engine, job: ExecJob, fds: Vec<OwnedFd>) -> Result<()> {
    // SAFETY: the launcher is single-threaded for its whole life.
    match unsafe { fork() }.context("fork of an exec watcher")? {
        ForkResult::Parent { .. } => Ok(()),
        ForkResult::Child => {
            watch(engine, job, fds);
            std::process::exit(0)
        }
    }
}

fn report(status: &mut std::fs::File, s: &Status) {
    if let Ok(mut line) = serde_json::to_vec(s) {
        line.push(b'\n');
        let _ = status.write_all(&line);
    }
}

fn watch(engine: &Engine, job: ExecJob, mut fds: Vec<OwnedFd>) {
    if fds.len() != EXEC_FDS {
        return;
    }
    let streams: Vec<OwnedFd> = fds.drain(1..).collect();
    let mut status = std::fs::File::from(fds.remove(0));
    let req = ExecRequest {
        command: job.command,
        interactive: true,
        tty: job.tty,
        env: job.env,
        workdir: job.workdir,
        user: job.user,
    };
    let stdio = [0, 1, 2].map(|i| Some(streams[i].as_raw_fd()));
    let console = job.tty.then(|| streams[1].as_raw_fd());
    let started = engine.exec_with_stdio(&job.container, &req, stdio, console);
    // From here only the command holds its streams: their end is its end.
    drop(streams);
    let pid = match started {
        Ok(pid) => pid,
        Err(e) => {
            let code = match e.downcast_ref::<pier_oci::Error>() {
                Some(pier_oci::Error::Start { code, .. }) => Some(*code),
                _ => None,
            };
            let error = Some(format!("{e:#}"));
            report(
                &mut status,
                &Status {
                    pid: None,
                    exit: None,
                    error,
                    code,
                },
            );
            return;
        }
    };
    report(
        &mut status,
        &Status {
            pid: Some(pid.as_raw()),
            exit: None,
            error: None,
            code: None,
        },
    );
    let exit = match waitpid(pid, None) {
        Ok(s) => pier_oci::container::wait::ExitInfo::from_status(s).map(|e| e.code),
        Err(_) => None,
    };
    let error = exit
        .is_none()
        .then(|| "the exec process could not be waited for".to_string());
    report(
        &mut status,
        &Status {
            pid: None,
            exit,
            error,
            code: None,
        },
    );
}

/// Sends `data` with the descriptors `fds` on the Unix socket `sock`.
pub fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> Result<()> {
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let sent = sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)
        .context("sending descriptors to the launcher")?;
    if sent != data.len() {
        // The request line is far smaller than a socket buffer; this does not happen.
        anyhow::bail!("the launcher's socket took part of a request");
    }
    Ok(())
}

/// Reads from `sock`, appending to `buf` and to `fds` the descriptors that came with it
/// (close-on-exec); returns how many bytes were read (0 at end-of-file).
pub fn recv_with_fds(sock: RawFd, buf: &mut Vec<u8>, fds: &mut Vec<OwnedFd>) -> Result<usize> {
    let mut chunk = [0u8; 4096];
    let mut space = nix::cmsg_space!([RawFd; EXEC_FDS]);
    let mut iov = [IoSliceMut::new(&mut chunk)];
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .context("reading the launcher's socket")?;
    let n = msg.bytes;
    for c in msg.cmsgs().context("descriptors sent to the launcher")? {
        if let ControlMessageOwned::ScmRights(received) = c {
            for fd in received {
                // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}
