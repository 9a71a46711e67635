//! Running a container's health check for real: a small process forked by the container's
//! monitor (it dies with it, `PR_SET_PDEATHSIG`) runs the check every interval as an exec
//! into the container ([`Engine::spawn_exec`], the path `pier exec` takes), with a timeout,
//! and keeps the result in the record ([`Health`]).

use super::events::{Action, Event};
use super::exec::ExecRequest;
use super::health::{Health, HealthResult, MAX_OUTPUT};
use super::health_config::HealthConfig;
use super::io_loop::pidfd_open;
use super::record::{ContainerPaths, ContainerRecord, ContainerStatus};
use super::{now_rfc3339, Engine};
use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, read, ForkResult, Pid};
use pier_oci::container::ExitInfo;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// The prober process of one run; killed and reaped when dropped (the run has ended).
pub(crate) struct Prober {
    pid: Pid,
}

impl Prober {
    /// Its PID (the small monitor kills and reaps it when it takes the run over).
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

impl Engine {
    /// Forks the prober for this run of `record`, if it has an enabled health check.
    pub(crate) fn spawn_health_prober(
        &self,
        paths: &ContainerPaths,
        record: &ContainerRecord,
    ) -> Result<Option<Prober>> {
        let Some(config) = record
            .config
            .healthcheck
            .clone()
            .filter(HealthConfig::is_enabled)
        else {
            return Ok(None);
        };
        let Some(command) = config.command() else {
            return Ok(None);
        };
        // This run's init, from the record as it is now (the caller's copy predates it).
        let init = ContainerRecord::load(paths)?.init;
        // SAFETY: the monitor runs no other thread; the child only uses its own copies.
        match unsafe { fork() }.context("fork of the health-check process")? {
            ForkResult::Parent { child } => Ok(Some(Prober { pid: child })),
            ForkResult::Child => {
                // Only the monitor's standard streams stay: a copy of its pipes (the sync pipe
                // to `pier run -d`, the container's output) must not outlive their readers' use.
                // SAFETY: close_range(2) closes descriptors this process owns; nothing uses them.
                unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
                let _ = nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL));
                if nix::unistd::getppid().as_raw() == 1 {
                    std::process::exit(0); // the monitor is already gone
                }
                if let Err(e) = self.probe_loop(paths, &config, &command, init) {
                    let _ = self.update(paths, |r| {
                        if r.init == init {
                            r.error = Some(format!("health check stopped: {e:#}"));
                        }
                    });
                }
                std::process::exit(0)
            }
        }
    }

    /// Checks every interval until this run of the container ends.
    fn probe_loop(
        &self,
        paths: &ContainerPaths,
        config: &HealthConfig,
        command: &[String],
        init: Option<super::record::ProcessId>,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let in_start_period = started.elapsed() < config.start_period();
            std::thread::sleep(if in_start_period {
                config.start_interval().min(config.interval())
            } else {
                config.interval()
            });
            let rec = ContainerRecord::load(paths)?;
            if rec.status != ContainerStatus::Running || rec.init != init {
                return Ok(());
            }
            if rec.paused {
                continue;
            }
            let result = self.check_once(paths, &rec, command, config.timeout());
            let in_start_period = started.elapsed() < config.start_period();
            let mut changed = None;
            let updated = self.update(paths, |r| {
                if r.init != init {
                    return;
                }
                let health = r.health.get_or_insert_with(Health::starting);
                changed = health.record(result, config.retries(), in_start_period);
            })?;
            let Some(updated) = updated else {
                return Ok(());
            };
            if let Some(status) = changed {
                self.record_event(Event {
                    health: Some(status.as_str().to_string()),
                    ..Event::about(&updated, Action::HealthStatus)
                });
            }
        }
    }

    /// Runs the check once; a check that cannot run or overruns its timeout fails.
    fn check_once(
        &self,
        paths: &ContainerPaths,
        rec: &ContainerRecord,
        command: &[String],
        timeout: Duration,
    ) -> HealthResult {
        let start = now_rfc3339();
        let (exit_code, output) = match self.run_check(paths, rec, command, timeout) {
            Ok(x) => x,
            Err(e) => (-1, format!("{e:#}")),
        };
        HealthResult {
            start,
            end: now_rfc3339(),
            exit_code,
            output,
        }
    }

    fn run_check(
        &self,
        paths: &ContainerPaths,
        rec: &ContainerRecord,
        command: &[String],
        timeout: Duration,
    ) -> Result<(i32, String)> {
        let devnull = std::fs::File::open("/dev/null").context("opening /dev/null")?;
        let (r, w) = pipe2(OFlag::O_CLOEXEC).context("pipe for the health check's output")?;
        let req = ExecRequest {
            command: command.to_vec(),
            ..ExecRequest::default()
        };
        let stdio = [
            Some(devnull.as_raw_fd()),
            Some(w.as_raw_fd()),
            Some(w.as_raw_fd()),
        ];
        let pid = self.spawn_exec(paths, rec, &req, stdio, None, vec![r.as_raw_fd()])?;
        drop(w);
        let pidfd = pidfd_open(pid)?;
        let deadline = Instant::now() + timeout;
        let mut output = Vec::new();
        let mut buf = [0u8; 4096];
        let mut open = true;
        let mut exited = false;
        while !exited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The check leads its own session (exec's setsid): its whole process group
                // goes, so a shell's children do not linger in the container.
                let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return Ok((
                    -1,
                    format!(
                        "Health check exceeded timeout ({})",
                        humantime::format_duration(timeout)
                    ),
                ));
            }
            let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            if open {
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll in the health check"),
            }
            exited = fds[0].revents().is_some_and(|e| !e.is_empty());
            let readable = open && fds[1].revents().is_some_and(|e| !e.is_empty());
            if readable || exited {
                // After the exit, drain what is buffered without blocking on a writer that
                // the check left behind.
                if exited {
                    let _ = nix::fcntl::fcntl(
                        r.as_fd(),
                        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
                    );
                }
                loop {
                    match read(r.as_fd(), &mut buf) {
                        Ok(0) | Err(_) => {
                            open = false;
                            break;
                        }
                        Ok(n) => {
                            let room = MAX_OUTPUT.saturating_sub(output.len());
                            output.extend_from_slice(&buf[..n.min(room)]);
                            if !exited {
                                break;
                            }
                        }
                    }
                }
            }
        }
        let status = waitpid(pid, None).context("waitpid of the health check")?;
        let code = ExitInfo::from_status(status).map(|e| e.code).unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&output).into_owned()))
    }
}
