//! `pier exec`: run another command in a running container.

use super::io_loop::{copy_window_size, IoLoop, Sink};
use super::record::{ContainerPaths, ContainerRecord, ContainerStatus};
use super::{user, Engine};
use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use pier_oci::container::ExitInfo;
use pier_oci::persist::read_json;
use pier_oci::process::exec::{exec, ExecOptions};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

/// Options of `pier exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// Command and arguments.
    pub command: Vec<String>,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// `-e` (added to the container's environment).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
}

impl Engine {
    /// Runs the command in the container and returns its exit code.
    pub fn exec(&self, key: &str, req: &ExecRequest) -> Result<i32> {
        let (paths, rec) = self.find(key)?;
        let devnull = std::fs::File::open("/dev/null").context("opening /dev/null")?;
        let mut stdio: [Option<RawFd>; 3] = [None, None, None];
        if !req.interactive {
            stdio[0] = Some(devnull.as_raw_fd());
        }
        let mut streams: Vec<(OwnedFd, Sink)> = Vec::new();
        let mut master = None;
        let mut slave = None;
        if req.tty {
            let pty = nix::pty::openpty(None, None).context("openpty for exec -t")?;
            streams.push((
                pty.master
                    .try_clone()
                    .context("dup of the terminal master")?,
                Sink::Fd(1),
            ));
            master = Some(pty.master);
            slave = Some(pty.slave);
        }
        let mut close_fds: Vec<RawFd> = streams.iter().map(|(f, _)| f.as_raw_fd()).collect();
        if let Some(m) = &master {
            close_fds.push(m.as_raw_fd());
        }
        let pid = self.spawn_exec(
            &paths,
            &rec,
            req,
            stdio,
            slave.as_ref().map(|s| s.as_raw_fd()),
            close_fds,
        )?;
        drop(slave);
        if let Some(m) = &master {
            copy_window_size(m.as_fd());
        }
        let exit = ExitInfo::of_ended(
            IoLoop {
                child: pid,
                forward_signals: true,
                streams,
                stdin_to: if req.tty && req.interactive {
                    master.as_ref().map(|m| m.as_fd())
                } else {
                    None
                },
                tty_master: master.as_ref().map(|m| m.as_fd()),
                log: None,
                attach: None,
            }
            .run()?,
        )?;
        Ok(exit.code)
    }

    /// Starts `req.command` in the running container `key` on the given standard streams,
    /// or on the terminal `console` (its slave); returns its PID, a child of this process,
    /// for the caller to wait for. The Engine API service's exec, which copies the streams
    /// itself (`req.interactive` and `req.tty` are not looked at: the streams say it all).
    pub fn exec_with_stdio(
        &self,
        key: &str,
        req: &ExecRequest,
        stdio: [Option<RawFd>; 3],
        console: Option<RawFd>,
    ) -> Result<Pid> {
        let (paths, rec) = self.find(key)?;
        self.spawn_exec(&paths, &rec, req, stdio, console, Vec::new())
    }

    /// Starts `req.command` in the running container `rec` with the given standard streams
    /// (`pier exec`, and the monitor's health checks); returns its PID, a child of this process.
    pub(crate) fn spawn_exec(
        &self,
        paths: &ContainerPaths,
        rec: &ContainerRecord,
        req: &ExecRequest,
        stdio: [Option<RawFd>; 3],
        console: Option<RawFd>,
        close_fds: Vec<RawFd>,
    ) -> Result<Pid> {
        let (Some(init), Some(cgroup)) = (
            rec.init
                .filter(|p| rec.status == ContainerStatus::Running && p.is_alive()),
            rec.cgroup.as_ref(),
        ) else {
            bail!("container {} is not running", rec.name);
        };
        if rec.paused {
            // Docker's answer: a process joining a frozen cgroup would freeze too.
            bail!(
                "container {} is paused: unpause the container before exec",
                rec.name
            );
        }
        if req.command.is_empty() {
            bail!("pier exec needs a command");
        }
        let spec: Spec = read_json(&paths.bundle().join("config.json"))?;
        let process = spec
            .process()
            .as_ref()
            .context("config.json has no process")?;
        let (uid, gid, gids) = match &req.user {
            Some(u) => {
                let root = std::path::PathBuf::from(format!("/proc/{}/root", init.pid));
                let r = user::resolve(&root, u)?;
                (r.uid, r.gid, r.additional_gids)
            }
            None => (
                process.user().uid(),
                process.user().gid(),
                process.user().additional_gids().clone().unwrap_or_default(),
            ),
        };
        let env = super::create::merge_env(
            process.env().as_deref().unwrap_or_default(),
            &req.env,
            spec.hostname().as_deref().unwrap_or(""),
            "/root",
        );
        let cwd = req
            .workdir
            .clone()
            .map(Into::into)
            .unwrap_or_else(|| process.cwd().clone());
        Ok(exec(ExecOptions {
            target_pid: init.pid,
            cgroup,
            args: req.command.clone(),
            env,
            cwd,
            uid,
            gid,
            additional_gids: gids,
            capabilities: process.capabilities().as_ref(),
            seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            stdio,
            console,
            console_socket: None,
            console_size: None,
            close_fds,
            extra_fds: 0,
            attributes: pier_oci::process::attributes::Attributes::of(process, &spec),
        })?)
    }
}
