//! `start`: let a created container run its command.

use super::Created;
use crate::error::{Error, Operation};
use crate::hooks::{self, HookPoint};
use crate::process::sync::{self, ChildMessage};
use crate::state::{OciState, StateFile, Status};
use anyhow::{anyhow, Context};
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use oci_spec::runtime::Hooks;
use std::os::fd::AsFd;

impl Created {
    /// Starts the command: opens the exec FIFO (which releases the init), then waits until the
    /// init has executed the command (end-of-file on the sync pipe) or reported why it could not.
    /// The caller runs the `poststart` hooks ([`run_poststart`]). A command that cannot run
    /// is [`Error::Start`] with Docker's exit code for it.
    pub fn start(mut self) -> crate::Result<Created> {
        let fifo_path = self.state_dir.join("exec.fifo");
        let fifo = open(
            &fifo_path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| {
            format!(
                "opening {}: is container {} created?",
                fifo_path.display(),
                self.id
            )
        })?;
        let mut released = false;
        for _ in 0..600 {
            let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
            let n = poll(&mut fds, PollTimeout::from(50u8)).context("poll on the exec fifo")?;
            if n > 0
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                let mut b = [0u8; 1];
                let _ = nix::unistd::read(fifo.as_fd(), &mut b);
                released = true;
                break;
            }
            // The init may have died before reaching the FIFO.
            // (WNOWAIT: only look, the caller reaps it.)
            match waitid(
                Id::Pid(self.pid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            ) {
                Ok(WaitStatus::StillAlive) => {}
                _ => break,
            }
        }
        let _ = std::fs::remove_file(&fifo_path);
        if !released {
            if let Ok(ChildMessage::Failed { code, message }) = sync::receive(&self.from_child) {
                return Err(Error::Start { code, message });
            }
            return Err(anyhow!("container {} init exited before start", self.id).into());
        }
        match sync::receive(&self.from_child)? {
            ChildMessage::Closed => {}
            ChildMessage::Failed { code, message } => return Err(Error::Start { code, message }),
            ChildMessage::Ready | ChildMessage::Hooks | ChildMessage::Seccomp(_) => {
                return Err(
                    anyhow!("container {}: unexpected message from its init", self.id).into(),
                )
            }
        }
        self.state.oci.status = Status::Running;
        self.state.save(&self.state_dir)?;
        Ok(self)
    }
}

/// The `poststart` hooks, once the command runs. A failing one does not stop the container:
/// the specification asks the runtime to warn and go on, so the caller logs the error.
pub fn run_poststart(hooks: Option<&Hooks>, state: &OciState) -> crate::Result<()> {
    Ok(hooks::run(hooks, HookPoint::Poststart, state)?)
}

/// `start` from another process than the one that created the container (the OCI CLI's
/// `create` then `start`): release the init through the exec FIFO. Whether `execve` then
/// succeeded is not visible from here (as with runc); `state` shows it. The caller runs the
/// `poststart` hooks ([`run_poststart`]). [`Error::NotRunning`] for a container that has
/// stopped, [`Error::Running`] for one already started.
pub fn start_from_state_dir(state_dir: &std::path::Path) -> crate::Result<StateFile> {
    let mut state = StateFile::load(state_dir)?;
    let id = state.oci.id.clone();
    match state.live_status() {
        Status::Created => {}
        status @ Status::Stopped => {
            return Err(Error::NotRunning {
                id,
                status,
                op: Operation::Start,
            })
        }
        status => {
            return Err(Error::Running {
                id,
                status,
                op: Operation::Start,
            })
        }
    }
    let fifo_path = state_dir.join("exec.fifo");
    let fifo = open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", fifo_path.display()))?;
    let pid = state.oci.pid.context("state.json has no pid")?;
    for _ in 0..200 {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(50u8)).context("poll on the exec fifo")? > 0 {
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(fifo.as_fd(), &mut b);
            let _ = std::fs::remove_file(&fifo_path);
            state.oci.status = Status::Running;
            state.save(state_dir)?;
            if let Some((code, message)) = failure_after_release(&fifo)? {
                return Err(Error::Start { code, message });
            }
            return Ok(state);
        }
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            break;
        }
    }
    Err(anyhow!("container {id}: its init (pid {pid}) did not wait for start").into())
}

/// After the release: reads the exec FIFO until its end, which comes when the command's
/// `execve` closes the init's end (close-on-exec), or when the init exits after writing why it
/// could not get there (a `startContainer` hook failed, the `execve` did): `code message`.
/// Waits as long as the hooks take, as runc does.
fn failure_after_release(fifo: &std::os::fd::OwnedFd) -> crate::Result<Option<(i32, String)>> {
    let mut data = Vec::new();
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::NONE).context("poll on the exec fifo")?;
        let mut buf = [0u8; 4096];
        match nix::unistd::read(fifo.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(anyhow!("reading the exec fifo: {e}").into()),
        }
    }
    if data.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&data);
    let (code, message) = text.split_once(' ').unwrap_or(("1", &text));
    Ok(Some((
        code.parse().unwrap_or(1),
        message.trim().to_string(),
    )))
}
