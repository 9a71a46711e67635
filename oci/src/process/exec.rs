//! `pier exec`: start another process inside a running container.
//!
//! The new process must end up exactly where the container's init is: in its cgroup and all
//! its namespaces, with the same root, capabilities, seccomp filter and `no_new_privs`. Joining
//! a PID namespace only affects children, so this takes two steps: a forked helper joins the
//! cgroup and namespaces, then clones the command (now inside the PID namespace) with
//! `CLONE_PARENT`, which makes the command the caller's child rather than the helper's (as
//! runc does). The helper exits at once; the caller waits for the command itself, or leaves
//! it to its own parent (`exec --detach`: a container manager that is a child subreaper, like
//! containerd's shim or conmon, then reaps it).

use super::attributes::Attributes;
use super::clone::{clone_into, Forked};
use super::lookup;
use super::sync::{self, Channel, ChildMessage};
use crate::cgroups::Cgroup;
use crate::error::Error;
use crate::namespaces;
use crate::security;
use crate::security::dumpable::NonDumpable;
use anyhow::{anyhow, Context, Result};
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{
    chdir, execve, fork, setgid, setgroups, setsid, setuid, ForkResult, Gid, Pid, Uid,
};
use oci_spec::runtime::{LinuxCapabilities, LinuxNamespaceType, LinuxSeccomp};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// What to run, and with which privileges (taken from the container's config by the caller).
pub struct ExecOptions<'a> {
    /// Host PID of the container's init.
    pub target_pid: i32,
    /// The container's cgroup.
    pub cgroup: &'a Cgroup,
    /// Command and arguments.
    pub args: Vec<String>,
    /// Environment (`KEY=VALUE`).
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// User and group IDs.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Capabilities (as the container's process).
    pub capabilities: Option<&'a LinuxCapabilities>,
    /// Seccomp profile (as the container's process).
    pub seccomp: Option<&'a LinuxSeccomp>,
    /// Set `no_new_privs`.
    pub no_new_privileges: bool,
    /// stdin, stdout, stderr (`None`: inherit).
    pub stdio: [Option<RawFd>; 3],
    /// Terminal slave descriptor, when `-t`.
    pub console: Option<RawFd>,
    /// A connected console socket: the terminal is made inside the container and its master
    /// sent over it (instead of `console`).
    pub console_socket: Option<RawFd>,
    /// `process.consoleSize` (columns, rows) for that terminal.
    pub console_size: Option<(u16, u16)>,
    /// Descriptors the process must not inherit.
    pub close_fds: Vec<RawFd>,
    /// Descriptors after stdio the command keeps (`--preserve-fds`); the ones above are
    /// closed at its `execve`.
    pub extra_fds: i32,
    /// Personality, scheduling, affinity, memory policy, LSM label.
    pub attributes: Attributes,
}

/// Starts the process; returns its PID (host view). It is a child of the caller, which
/// waits for it (its exit code is the command's) or exits and leaves it to its subreaper.
/// A command that cannot run is [`Error::Start`] with Docker's exit code for it.
pub fn exec(opts: ExecOptions) -> crate::Result<Pid> {
    if opts.args.is_empty() {
        return Err(anyhow!("pier exec needs a command").into());
    }
    // Open the namespace files first, from the host's view of /proc.
    // The user namespace first: it owns the others, so joining them needs its capabilities.
    let order = [
        LinuxNamespaceType::User,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Time,
        LinuxNamespaceType::Mount,
    ];
    let mut ns_files = Vec::new();
    for typ in order {
        let path = PathBuf::from(format!(
            "/proc/{}/ns/{}",
            opts.target_pid,
            namespaces::proc_name(typ)
        ));
        let own = PathBuf::from(format!("/proc/self/ns/{}", namespaces::proc_name(typ)));
        // Skip namespaces the container shares with the host (e.g. --network host).
        if std::fs::read_link(&path).ok() == std::fs::read_link(&own).ok() {
            continue;
        }
        let f = std::fs::File::open(&path)
            .with_context(|| format!("opening {}: is the container running?", path.display()))?;
        ns_files.push((typ, OwnedFd::from(f)));
    }
    let seccomp = match opts.seccomp {
        Some(p) => Some(security::seccomp::compile(p)?),
        None => None,
    };
    let program_args = to_cstrings(&opts.args)?;
    let env = to_cstrings(&opts.env)?;
    let report = Channel::new()?;
    let pid_pipe = Channel::new()?;
    // The child joins the container's namespaces: not dumpable until its execve, so the
    // container cannot reach the host's pier through it.
    let _non_dumpable = NonDumpable::enter()?;

    // SAFETY: pier is single-threaded when it calls exec (no thread has been started).
    match unsafe { fork() }.context("fork for exec")? {
        ForkResult::Parent { child: helper } => {
            drop(report.tx);
            drop(pid_pipe.tx);
            let pid = sync::receive_blob(&pid_pipe.rx)
                .ok()
                .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
                .map(|b| Pid::from_raw(i32::from_le_bytes(b)));
            // The helper exits right after the clone (or after failing).
            let _ = waitpid(helper, None);
            let message = sync::receive(&report.rx)?;
            match (pid, message) {
                (Some(pid), ChildMessage::Closed | ChildMessage::Ready) => Ok(pid),
                (pid, ChildMessage::Failed { code, message }) => {
                    if let Some(pid) = pid {
                        let _ = waitpid(pid, None);
                    }
                    Err(Error::Start { code, message })
                }
                (None, _) => {
                    Err(anyhow!("the exec helper ended without starting the process").into())
                }
                (Some(_), ChildMessage::Hooks | ChildMessage::Seccomp(_)) => {
                    Err(anyhow!("unexpected message from the exec'd process").into())
                }
            }
        }
        ForkResult::Child => {
            drop(report.rx);
            drop(pid_pipe.rx);
            let code = match helper(
                &opts,
                &ns_files,
                seccomp.as_ref(),
                &program_args,
                &env,
                &report.tx,
                &pid_pipe.tx,
            ) {
                Ok(()) => 0,
                Err((code, message)) => {
                    sync::send_failure(&report.tx, code, &message);
                    code
                }
            };
            // SAFETY: leave without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

type ChildResult<T> = std::result::Result<T, (i32, String)>;

fn fail<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> (i32, String) + '_ {
    move |e| (125, format!("{what}: {e}"))
}

/// The helper: joins the cgroup and namespaces, clones the command as its parent's child,
/// sends the command's PID up the pipe, and returns (then exits).
fn helper(
    opts: &ExecOptions,
    ns_files: &[(LinuxNamespaceType, OwnedFd)],
    seccomp: Option<&seccompiler::BpfProgram>,
    args: &[CString],
    env: &[CString],
    report: &OwnedFd,
    pid_pipe: &OwnedFd,
) -> ChildResult<()> {
    for fd in &opts.close_fds {
        // SAFETY: closing an inherited descriptor this process never uses.
        unsafe { libc::close(*fd) };
    }
    opts.attributes
        .apply_initial_affinity()
        .map_err(|e| (125, format!("{e:#}")))?;
    opts.cgroup
        .add_process(std::process::id() as i32)
        .map_err(|e| (125, format!("{e:#}")))?;
    for (typ, fd) in ns_files {
        nix::sched::setns(fd, namespaces::clone_flag(*typ))
            .map_err(fail(&format!("setns {}", namespaces::proc_name(*typ))))?;
    }
    match clone_into(CloneFlags::CLONE_PARENT, None).map_err(|e| (125, format!("{e:#}")))? {
        Forked::Parent { pid: child, .. } => {
            sync::send_blob(pid_pipe, &child.as_raw().to_le_bytes())
                .map_err(|e| (125, format!("{e:#}")))?;
            Ok(())
        }
        Forked::Child => {
            let code = match command(opts, seccomp, args, env) {
                Ok(never) => match never {},
                Err((code, message)) => {
                    sync::send_failure(report, code, &message);
                    code
                }
            };
            // SAFETY: leave without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

enum Never {}

/// The command's process, inside the container: stdio, identity, privileges, `execve`.
fn command(
    opts: &ExecOptions,
    seccomp: Option<&seccompiler::BpfProgram>,
    args: &[CString],
    env: &[CString],
) -> ChildResult<Never> {
    setsid().map_err(fail("setsid"))?;
    if let Some(socket) = opts.console_socket {
        let console = super::console::open_inside_and_send(socket, opts.console_size)
            .map_err(|e| (125, format!("{e:#}")))?;
        super::console::attach(console.slave.as_raw_fd()).map_err(|e| (125, format!("{e:#}")))?;
    } else if let Some(tty) = opts.console {
        // SAFETY: make the terminal we were given our controlling terminal.
        if unsafe { libc::ioctl(tty, libc::TIOCSCTTY, 0) } != 0 {
            return Err((
                125,
                format!("ioctl TIOCSCTTY: {}", std::io::Error::last_os_error()),
            ));
        }
        for t in 0..3 {
            sync::dup_onto(tty, t).map_err(fail("dup2 terminal"))?;
        }
    } else {
        for (t, fd) in opts.stdio.iter().enumerate() {
            if let Some(fd) = fd {
                sync::dup_onto(*fd, t as RawFd).map_err(fail("dup2"))?;
            }
        }
    }
    opts.attributes
        .apply_limits()
        .map_err(|e| (125, format!("{e:#}")))?;
    opts.attributes
        .apply_privileged()
        .map_err(|e| (125, format!("{e:#}")))?;
    // Without no_new_privs, installing the filter needs CAP_SYS_ADMIN: before the drop (as
    // the container's init does).
    let flags = opts
        .seccomp
        .and_then(|s| s.flags().clone())
        .unwrap_or_default();
    let seccomp_early = !opts.no_new_privileges;
    if let (Some(p), true) = (seccomp, seccomp_early) {
        security::seccomp::apply_with_flags(p, &flags).map_err(|e| (125, format!("{e:#}")))?;
    }
    nix::sys::prctl::set_keepcaps(true).map_err(fail("prctl(PR_SET_KEEPCAPS)"))?;
    let gids: Vec<Gid> = opts
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&gids).map_err(fail("setgroups"))?;
    setgid(Gid::from_raw(opts.gid)).map_err(fail("setgid"))?;
    setuid(Uid::from_raw(opts.uid)).map_err(fail("setuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(fail("prctl(PR_SET_KEEPCAPS)"))?;
    if let Some(caps) = opts.capabilities {
        security::caps::apply(caps).map_err(|e| (125, format!("{e:#}")))?;
    }
    chdir(opts.cwd.as_path()).map_err(fail(&format!("chdir to {}", opts.cwd.display())))?;
    if opts.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(fail("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    // Default signal handling, whatever `pier exec` inherited (see `signals`).
    super::signals::reset_to_defaults().map_err(|e| (125, format!("{e:#}")))?;
    let program = lookup::resolve(&opts.args[0], &opts.env).map_err(|e| (e.code, e.message))?;
    let c_program =
        CString::new(program.as_os_str().as_encoded_bytes()).map_err(fail("command"))?;
    super::init::close_on_exec_from(3 + opts.extra_fds).map_err(|e| (125, format!("{e:#}")))?;
    opts.attributes
        .apply_last()
        .map_err(|e| (125, format!("{e:#}")))?;
    if let (Some(p), false) = (seccomp, seccomp_early) {
        security::seccomp::apply_with_flags(p, &flags).map_err(|e| (125, format!("{e:#}")))?;
    }
    // execve returns only when it fails.
    let err = match execve(&c_program, args, env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let code = if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    Err((code, format!("exec {}: {}", program.display(), err.desc())))
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).with_context(|| format!("{s:?} contains a NUL byte")))
        .collect()
}
