//! `exec`: run a process described as an OCI `process` object inside a running container
//! (`runc exec --process FILE`, what containerd and Podman call for `docker exec`).

use super::handle::Container;
use crate::error::{Error, Operation, Result};
use crate::process::attributes::Attributes;
use crate::process::exec::{exec, ExecOptions};
use crate::state::Status;
use anyhow::{anyhow, Context};
use nix::unistd::Pid;
use oci_spec::runtime::Process;
use std::os::fd::RawFd;

/// The process's stdio beyond what it inherits.
#[derive(Debug, Default)]
pub struct ExecIo {
    /// The terminal's slave side when `process.terminal` (else stdio is inherited).
    pub console: Option<RawFd>,
    /// A connected console socket: the terminal is made inside the container instead.
    pub console_socket: Option<RawFd>,
    /// Descriptors after stdio the process keeps (`--preserve-fds`).
    pub extra_fds: i32,
    /// Descriptors the process must not inherit.
    pub close_fds: Vec<RawFd>,
    /// Allow exec into a paused container.
    pub ignore_paused: bool,
}

impl Container {
    /// Starts `process` in the container (its namespaces, cgroup, seccomp filter); returns
    /// its PID, a child of the caller. [`Error::NotRunning`] once the container has stopped,
    /// [`Error::Paused`] while it is paused (unless `io.ignore_paused`), [`Error::Start`]
    /// when the command cannot run.
    pub fn exec(&self, process: &Process, io: ExecIo) -> Result<Pid> {
        let pid = match self.status() {
            status @ Status::Stopped => {
                return Err(Error::NotRunning {
                    id: self.id().to_string(),
                    status,
                    op: Operation::Exec,
                })
            }
            Status::Paused if !io.ignore_paused => {
                return Err(Error::Paused {
                    id: self.id().to_string(),
                })
            }
            _ => self
                .state
                .oci
                .pid
                .with_context(|| format!("container {} has no init", self.id()))?,
        };
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::config(
                "process.args",
                "process.args must not be empty",
            ));
        }
        if !process.cwd().is_absolute() {
            return Err(Error::config(
                "process.cwd",
                format!("process.cwd {} must be absolute", process.cwd().display()),
            ));
        }
        crate::process::passed_fds::check_open(3, io.extra_fds)?;
        let spec = self.spec()?;
        crate::container::unsupported::refuse_process(process, &spec)?;
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        if seccomp.is_some_and(crate::security::seccomp::notifies) {
            return Err(anyhow!("exec into container {}: its seccomp profile notifies an agent (SCMP_ACT_NOTIFY), which pier supports for the container's init only", self.id()).into());
        }
        let user = process.user();
        exec(ExecOptions {
            target_pid: pid,
            cgroup: self.cgroup()?,
            args,
            env: process.env().clone().unwrap_or_default(),
            cwd: process.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            capabilities: process.capabilities().as_ref(),
            seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            stdio: [None, None, None],
            console: io.console,
            console_socket: io.console_socket,
            console_size: process
                .console_size()
                .as_ref()
                .map(|b| (b.width() as u16, b.height() as u16)),
            close_fds: io.close_fds,
            extra_fds: io.extra_fds,
            attributes: Attributes::of(process, &spec),
        })
    }
}
