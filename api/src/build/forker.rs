//! The build forker: a small process, forked while the service still has one thread, that
//! forks one child per build.
//!
//! A build runs `RUN` steps in containers, and starting a container forks and goes on running
//! engine code in the child. The service is multi-threaded and must never fork (see
//! [`crate::launcher`] for why), so it hands each build to this single-threaded process: one
//! datagram on a `SOCK_SEQPACKET` pair carries the [`BuildJob`] as JSON and, as `SCM_RIGHTS`,
//! the write end of the pipe the build's JSON progress stream goes to. The forker forks a
//! child for the job and goes back to waiting; the child runs the build (see
//! [`super::worker`]) and exits, and the service reads the pipe until its end.

use super::worker::{self, BuildJob};
use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The largest job message (a job is a few paths and the build's parameters).
const JOB_LIMIT: usize = 256 << 10;

/// The service's end of the forker.
pub struct BuildForker {
    conn: OwnedFd,
    pid: Pid,
}

impl BuildForker {
    /// Forks the forker for the state directory `root`. Call it before any thread starts.
    pub fn spawn(root: &Path) -> Result<BuildForker> {
        let (service_end, forker_end) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("socket pair for the build forker")?;
        // SAFETY: the service calls this before it starts its runtime or any thread, so the
        // child is a complete copy of a single-threaded process.
        match unsafe { fork() }.context("fork of the build forker")? {
            ForkResult::Parent { child } => {
                drop(forker_end);
                Ok(BuildForker {
                    conn: service_end,
                    pid: child,
                })
            }
            ForkResult::Child => {
                drop(service_end);
                // Keep only the forker's socket: a descriptor of the service's kept open here
                // (the launcher's socket end) would keep the launcher from ever seeing the
                // service close it, and the service's shutdown waits for that.
                close_other_fds(forker_end.as_raw_fd());
                let code = match fork_loop(root, forker_end) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("pier system service: build forker: {e:#}");
                        1
                    }
                };
                std::process::exit(code)
            }
        }
    }

    /// Hands `job` to a new build process that writes its progress stream to `out`.
    pub fn submit(&self, job: &BuildJob, out: &OwnedFd) -> Result<()> {
        let text = serde_json::to_vec(job).context("encoding the build job")?;
        if text.len() > JOB_LIMIT {
            bail!("the build's parameters are larger than {JOB_LIMIT} bytes");
        }
        let fds = [out.as_raw_fd()];
        sendmsg::<()>(
            self.conn.as_raw_fd(),
            &[IoSlice::new(&text)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .context("handing the build to the build forker")?;
        Ok(())
    }

    /// Ends the forker (it exits when its socket closes) and reaps it.
    pub fn stop(self) {
        let pid = self.pid;
        drop(self.conn);
        let _ = waitpid(pid, None);
    }
}

/// The forker's life: one job a datagram, one child a job, until the service closes its end.
fn fork_loop(root: &Path, conn: OwnedFd) -> Result<()> {
    let mut buf = vec![0u8; JOB_LIMIT];
    loop {
        reap_builds();
        let ready = {
            let mut fds = [PollFd::new(conn.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(1000u16)).context("poll in the build forker")?
        };
        if ready == 0 {
            continue;
        }
        let (len, out) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .context("reading a build job")?;
            let mut out = None;
            for c in msg.cmsgs().context("reading a build job's descriptor")? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for fd in fds {
                        // SAFETY: SCM_RIGHTS just gave this process the descriptor; nothing
                        // else owns it.
                        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                        out.get_or_insert(owned);
                    }
                }
            }
            (msg.bytes, out)
        };
        if len == 0 {
            // The service closed its end.
            return Ok(());
        }
        let Some(out) = out else {
            eprintln!("pier system service: build forker: a job came without its stream");
            continue;
        };
        let job: BuildJob = match serde_json::from_slice(&buf[..len]) {
            Ok(j) => j,
            Err(e) => {
                worker::fail(&out, &format!("the build job could not be read: {e}"));
                continue;
            }
        };
        // SAFETY: this process has one thread for its whole life.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(conn);
                let code = worker::run(root, job, out);
                std::process::exit(code)
            }
            Ok(ForkResult::Parent { .. }) => drop(out),
            Err(e) => worker::fail(&out, &format!("fork of the build process: {e}")),
        }
    }
}

/// Closes every descriptor above stderr except `keep`.
fn close_other_fds(keep: RawFd) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: this process owns nothing else that uses these descriptors: it is a fresh
        // single-threaded child that goes on to use only `keep` (the directory's own
        // descriptor is among them but already closed when `dir` was consumed; closing a
        // closed one fails harmlessly with EBADF).
        unsafe { libc::close(fd) };
    }
}

/// Reaps finished builds.
fn reap_builds() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
