//! The container's init: everything between `clone(2)` and `execve(2)`, in order.
//!
//! Runs in the child, already inside its new namespaces:
//!  1. stdio (or the terminal) and a new session;
//!  2. wait for the parent's "go" (the parent has put us in our cgroup by then);
//!  3. join namespaces given by path, unshare the cgroup namespace (now rooted at our cgroup);
//!  4. hostname; root filesystem (mounts, `/dev`, `pivot_root`);
//!  5. loopback up, sysctls, then masked/read-only paths; rlimits, OOM score;
//!  6. user and groups, capabilities, working directory, `no_new_privs`;
//!  7. tell the parent "ready" and block on the exec FIFO until `start`;
//!  8. (with `--init`, seccomp and the command's capabilities, then fork: this process stays
//!     as PID 1, see [`super::reaper`]);
//!  9. seccomp, last, since it may forbid what setup needs; then `execve`.
//!
//! Any failure is sent to the parent as one line and the child exits: the parent turns it into
//! the error the user sees and removes what it created.

use super::attributes::Attributes;
use super::lookup;
use super::reaper;
use super::sync;
use crate::hooks::{self, HookPoint};
use crate::namespaces::{self, NamespacePlan};
use crate::rootfs;
use crate::security;
use crate::state::{OciState, Status};
use crate::trace;
use anyhow::{bail, Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::SigmaskHow;
use nix::sys::stat::Mode;
use nix::unistd::{
    chdir, execve, fork, setgid, setgroups, sethostname, setsid, setuid, ForkResult, Gid, Uid,
};
use oci_spec::runtime::Spec;
use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// What the container's init is given besides its config, set by the container builder and
/// read here: its standard streams or terminal, the descriptors it keeps or closes, pier's
/// reaper as PID 1, its session keyring.
#[derive(Debug, Default)]
pub(crate) struct InitOptions {
    /// Descriptors for the command's stdin, stdout, stderr (`None`: keep the inherited one).
    pub stdio: [Option<RawFd>; 3],
    /// The terminal's slave side (descriptor and path), when the process has a terminal the
    /// caller made.
    pub console: Option<(RawFd, PathBuf)>,
    /// A connected console socket (`--console-socket`): the terminal is made inside the
    /// container after `pivot_root` and its master sent over it (instead of `console`).
    pub console_socket: Option<RawFd>,
    /// Run pier's reaper as PID 1 and the command as its child (`--init`).
    pub reaper: bool,
    /// Kill the container when the process that created it dies (foreground `pier run`).
    pub die_with_parent: bool,
    /// Descriptors the container must not inherit (e.g. the terminal's master side).
    pub close_fds: Vec<RawFd>,
    /// How many descriptors after stdio the command keeps (3, 4, ...: `LISTEN_FDS` and
    /// `--preserve-fds`); every descriptor above them is closed at its `execve`.
    pub extra_fds: i32,
    /// The name of a new session keyring to join (runc's `_ses.<id>`); `None` keeps the
    /// caller's (`--no-new-keyring`).
    pub keyring: Option<String>,
}

/// Everything the child needs, prepared by the parent before `clone`: the config and the
/// options as `create` was given them, and what `create` made for this one child.
pub(crate) struct ChildContext<'a> {
    /// The OCI config.
    pub spec: &'a Spec,
    /// Stdio, terminal, descriptors, `--init`, keyring.
    pub options: &'a InitOptions,
    /// The rootfs, absolute (the bundle's `root.path` resolved).
    pub rootfs: PathBuf,
    /// Namespaces to create/join.
    pub plan: &'a NamespacePlan,
    /// Reading end of parent -> child.
    pub from_parent: &'a OwnedFd,
    /// Writing end of child -> parent (close-on-exec).
    pub to_parent: &'a OwnedFd,
    /// The exec FIFO (`start` opens it).
    pub exec_fifo: PathBuf,
    /// The parent's ends of the setup pipes and the cgroup directory: closed first, with
    /// `options.close_fds`.
    pub setup_fds: Vec<RawFd>,
    /// On cgroup v1, the `tasks` files through which the init moves itself into its cgroup
    /// before anything else (their descriptors are among `setup_fds`).
    pub self_placement: Option<&'a crate::cgroups::self_placement::SelfPlacement>,
}

/// The child's entry point after `clone`. Never returns.
pub(crate) fn child_main(ctx: &ChildContext) -> ! {
    let code = match setup_and_exec(ctx) {
        Ok(never) => match never {},
        Err(failure) => {
            // The parent writes "go" once it has placed us: consume it first (or see the
            // parent gone), so that write never meets a closed pipe.
            if !PLACED.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sync::read_byte(ctx.from_parent);
            }
            // After `start` released us (a startContainer hook, the execve): `start` still
            // reads the FIFO, from another process than `create`; tell it first, while it
            // surely listens (the parent returns once it has the message below).
            let fifo = START_FIFO.load(std::sync::atomic::Ordering::Relaxed);
            if fifo >= 0 {
                let line = format!("{} {}", failure.code, failure.message);
                // SAFETY: ignoring SIGPIPE in a process about to exit, so a reader gone makes
                // the write fail with EPIPE instead of killing us with a signal; then a write
                // to a descriptor this process owns.
                unsafe {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    libc::write(fifo, line.as_ptr().cast(), line.len());
                }
            }
            sync::send_failure(ctx.to_parent, failure.code, &failure.message);
            // After "ready", a `create` that returned no longer listens (`start` ran in
            // another process): the container's stderr is then the only place the error can
            // go, where its manager's log shows it.
            if READY_SENT.load(std::sync::atomic::Ordering::Relaxed) && !ctx.options.die_with_parent
            {
                let line = format!("pier: {}\n", failure.message);
                let _ = nix::unistd::write(std::io::stderr(), line.as_bytes());
            }
            failure.code
        }
    };
    // SAFETY: _exit is async-signal-safe and skips atexit handlers and stdio flushing that
    // belong to the parent's copy of the process.
    unsafe { libc::_exit(code) }
}

/// Set once the init has read the parent's first "go" (it is in its cgroup).
static PLACED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The exec FIFO's write end once `start` opened it (-1 before): a failure after that is
/// written there for `start` to report.
static START_FIFO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Set once the init has told its parent it is ready (then waits for `start`).
static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A failure in the child with the exit code Docker gives it.
struct Failure {
    code: i32,
    message: String,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure {
            code: 125,
            message: format!("{e:#}"),
        }
    }
}

enum Never {}

fn setup_and_exec(ctx: &ChildContext) -> Result<Never, Failure> {
    let spec = ctx.spec;
    let process = spec
        .process()
        .as_ref()
        .context("config.json has no process")?;
    if ctx.options.die_with_parent {
        nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGKILL))
            .context("prctl(PR_SET_PDEATHSIG)")?;
    }
    if let Some(placement) = ctx.self_placement {
        let _phase = trace::Phase::start("init: cgroup placement (tasks)");
        placement.place_self()?;
    }
    for fd in ctx.options.close_fds.iter().chain(&ctx.setup_fds) {
        // SAFETY: closing descriptors the child inherited and must not keep; none is used
        // again in this process.
        unsafe { libc::close(*fd) };
    }
    trace::keep_stderr();
    let attributes = Attributes::of(process, spec);
    attributes.apply_initial_affinity()?;
    setup_stdio(ctx)?;

    // 2. Wait until the parent has placed us in our cgroup. Without a user namespace the
    // mounts need nothing from the parent: they are made while it places us (on cgroup v1
    // that write waits for an RCU grace period), and the wait moves to just before the cgroup
    // namespace is unshared: before the first cgroup mount, or, when nothing stands in the
    // way (see `rootfs::prepare`), after `pivot_root`, whose unmount of the host's tree
    // waits for a grace period of its own.
    let overlap = placement_can_overlap(ctx.plan);
    let mut placement = Placement {
        ctx,
        unshare_cgroup: false,
        state: None,
    };
    if !overlap {
        placement.wait()?;
    }

    // 3. Namespaces.
    if ctx.plan.new.contains(CloneFlags::CLONE_NEWUSER) {
        // The parent has written the ID maps: become the namespace's root (container UID 0,
        // some unprivileged UID on the host). Until now this process runs as an unmapped
        // UID, and files it created would fail with EOVERFLOW.
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .context("setresgid(0) in the new user namespace (is GID 0 mapped?)")?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .context("setresuid(0) in the new user namespace (is UID 0 mapped?)")?;
    }
    namespaces::join_all_but_pid(ctx.plan)?;
    if overlap {
        // Rooted at the cgroup we are in: only once placed.
        placement.unshare_cgroup = ctx.plan.new_cgroup;
    } else if ctx.plan.new_cgroup {
        unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
    }
    if let Some(name) = &ctx.options.keyring {
        security::keyring::join_new_session(name)?;
    }

    // 4. Hostname and root filesystem.
    if let Some(hostname) = spec.hostname() {
        sethostname(hostname).with_context(|| format!("sethostname({hostname})"))?;
    }
    if let Some(domain) = spec.domainname() {
        let c = CString::new(domain.as_str()).context("domainname contains NUL")?;
        // SAFETY: setdomainname reads `len` bytes from a valid NUL-terminated buffer.
        if unsafe { libc::setdomainname(c.as_ptr(), domain.len()) } != 0 {
            return Err(anyhow::Error::from(std::io::Error::last_os_error())
                .context("setdomainname")
                .into());
        }
    }
    // The FIFO lives on the host; hold it by an O_PATH descriptor across pivot_root and
    // reopen it through /proc/self/fd later (runc's trick).
    let fifo_path_fd = open(
        &ctx.exec_fifo,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening exec fifo {}", ctx.exec_fifo.display()))?;
    let console_path = ctx.options.console.as_ref().map(|(_, p)| p.as_path());
    let mounts = trace::Phase::start("init: mounts");
    // The hooks run between the mounts and pivot_root: placed before them.
    let hooks_first = hooks::needs_runtime_hooks(spec) || hooks::needs_state(spec);
    let deferred = rootfs::prepare(
        spec,
        &ctx.rootfs,
        console_path,
        &mut || placement.wait(),
        overlap && !hooks_first,
    )?;
    mounts.end();
    if hooks_first {
        placement.wait()?;
    }
    let mut state = placement.state.take();
    if hooks::needs_runtime_hooks(spec) {
        // The parent runs prestart and createRuntime hooks in the runtime's namespaces.
        sync::write_all(ctx.to_parent, b"H")?;
        wait_for_go(ctx)?;
    }
    if let Some(state) = &state {
        hooks::run(spec.hooks().as_ref(), HookPoint::CreateContainer, state)?;
    }
    let pivot = trace::Phase::start("init: pivot_root");
    rootfs::pivot(&ctx.rootfs)?;
    pivot.end();
    placement.wait()?;
    rootfs::mount_deferred(deferred)?;
    if let Some(socket) = ctx.options.console_socket {
        terminal_inside(socket, process)?;
    }

    // 5. Network loopback, kernel parameters, limits.
    let finalize = trace::Phase::start("init: loopback, sysctls, masked paths, rlimits");
    if ctx.plan.creates_network() {
        crate::loopback::loopback_up()
            .context("bringing up lo in the container's network namespace")?;
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        for (key, value) in sysctl {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value)
                .with_context(|| format!("setting sysctl {key}={value}"))?;
        }
    }
    // /proc/sys becomes read-only in finalize, so kernel parameters are written first.
    rootfs::finalize(spec)?;
    attributes.apply_limits()?;
    finalize.end();

    // 6. Identity and privileges, in runc's order: keep the permitted capabilities across the
    // switch to the container's user (PR_SET_KEEPCAPS), then set the capability sets. A
    // non-root user then loses them at execve, exactly as with Docker's `-u 1000`.
    attributes.apply_privileged()?;
    let seccomp_profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let compile = trace::Phase::start("init: seccomp compile");
    let seccomp = match seccomp_profile {
        Some(profile) => Some(security::seccomp::compile(profile)?),
        None => None,
    };
    compile.end();
    let seccomp_flags = seccomp_profile
        .and_then(|s| s.flags().clone())
        .unwrap_or_default();
    // Installing a filter without no_new_privs needs CAP_SYS_ADMIN, which the container
    // usually lacks: then it goes in now, before the capabilities are dropped (runc's order),
    // and the filter must allow the rest of the setup; with no_new_privs, as late as possible.
    // A filter that notifies a seccomp agent goes in now too, while the parent still listens
    // to hand the agent its listener.
    let notifies = seccomp_profile.is_some_and(security::seccomp::notifies);
    let seccomp_early = !process.no_new_privileges().unwrap_or(false) || notifies;
    match (&seccomp, seccomp_early, notifies) {
        (Some(program), true, true) => {
            let listener = security::seccomp::apply_with_listener(program, &seccomp_flags)?;
            sync::write_all(ctx.to_parent, b"S")?;
            sync::write_all(ctx.to_parent, &listener.as_raw_fd().to_le_bytes())?;
            wait_for_go(ctx)?;
            // The agent holds its copy; the container must not keep one.
            drop(listener);
        }
        (Some(program), true, false) => {
            security::seccomp::apply_with_flags(program, &seccomp_flags)?;
        }
        _ => {}
    }
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(Gid::from_raw)
        .collect();
    let identity = trace::Phase::start("init: user, capabilities, cwd");
    nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS)")?;
    setgroups(&gids).context("setgroups")?;
    setgid(Gid::from_raw(user.gid())).with_context(|| format!("setgid({})", user.gid()))?;
    setuid(Uid::from_raw(user.uid())).with_context(|| format!("setuid({})", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS)")?;
    if let Some(caps) = process.capabilities() {
        security::caps::apply(caps)?;
    }
    let cwd = process.cwd();
    chdir(cwd.as_path())
        .with_context(|| format!("chdir to the working directory {}", cwd.display()))?;
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    identity.end();
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let program =
        lookup::resolve(args.first().map(String::as_str).unwrap_or(""), &env).map_err(|e| {
            Failure {
                code: e.code,
                message: e.message,
            }
        })?;
    let c_program =
        CString::new(program.as_os_str().as_encoded_bytes()).context("command contains NUL")?;
    let c_args = to_cstrings(&args)?;
    let c_env = to_cstrings(&env)?;

    // 7. Ready; wait for `start`.
    sync::write_all(ctx.to_parent, b"R")?;
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);
    // The FIFO stays open until the command's execve closes it (close-on-exec): `start`
    // reads until then, and so learns of a failure written here before (see `child_main`).
    // Kept as a bare descriptor: an error return must not close it before `child_main`
    // writes the failure there.
    let start_fifo = wait_for_start(&fifo_path_fd)?.into_raw_fd();
    START_FIFO.store(start_fifo, std::sync::atomic::Ordering::Relaxed);
    if let Some(state) = &mut state {
        state.status = Status::Created;
        hooks::run_in_process_env(
            spec.hooks().as_ref(),
            HookPoint::StartContainer,
            state,
            &env,
        )?;
    }
    // Nothing but stdio and the descriptors passed on purpose reaches the command.
    close_on_exec_from(3 + ctx.options.extra_fds)?;

    // The command (and the reaper) start with default signal handling, whatever pier
    // inherited from the shell that ran it (see `signals`).
    super::signals::reset_to_defaults()?;

    // 8. pier's PID 1. It stays in the container for the container's whole life, so it runs
    // under the command's seccomp filter and capabilities (no_new_privs is set already): both
    // go in before the fork. A process of the container allowed to ptrace it must not be able
    // to make through it a syscall the filter denies the command.
    if ctx.options.reaper {
        if let (Some(program), false) = (&seccomp, seccomp_early) {
            security::seccomp::apply_with_flags(program, &seccomp_flags)?;
        }
        security::caps::narrow_to_exec_result()?;
        // Signals are blocked before the fork, not after: a command that exits at once would
        // otherwise send its SIGCHLD while it is still unblocked (and so discarded), and the
        // reaper would wait for it forever beside a zombie.
        reaper::block_all_signals();
        // SAFETY: this process is single-threaded (it was cloned from a single-threaded parent
        // and started no threads).
        match unsafe { fork() }.context("fork for --init")? {
            ForkResult::Parent { child } => {
                // Only the command's process keeps the error pipe, so the parent sees EOF at
                // its execve.
                // SAFETY: closing our copies of the pipe and of the FIFO (whose end-of-file
                // tells `start` the command was executed); not used again in this process.
                unsafe {
                    libc::close(ctx.to_parent.as_raw_fd());
                    libc::close(start_fifo);
                }
                START_FIFO.store(-1, std::sync::atomic::Ordering::Relaxed);
                reaper::run(child);
            }
            ForkResult::Child => {
                nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_SETMASK,
                    Some(&nix::sys::signal::SigSet::empty()),
                    None,
                )
                .context("unblocking signals for the command")?;
            }
        }
    }

    // 9. Seccomp, then the command.
    attributes.apply_last()?;
    if let (Some(program), false, false) = (&seccomp, seccomp_early, ctx.options.reaper) {
        security::seccomp::apply_with_flags(program, &seccomp_flags)?;
    }
    // execve returns only when it fails.
    let err = match execve(&c_program, &c_args, &c_env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let code = if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    Err(Failure {
        code,
        message: format!("exec {}: {}", program.display(), err.desc()),
    })
}

fn setup_stdio(ctx: &ChildContext) -> Result<()> {
    setsid().context("setsid")?;
    if let Some((slave, _)) = &ctx.options.console {
        // SAFETY: TIOCSCTTY on a terminal descriptor we own; makes it our controlling tty.
        if unsafe { libc::ioctl(*slave, libc::TIOCSCTTY, 0) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("ioctl(TIOCSCTTY) on the container's terminal");
        }
        for target in 0..3 {
            sync::dup_onto(*slave, target)
                .with_context(|| format!("dup2 terminal onto fd {target}"))?;
        }
        return Ok(());
    }
    for (target, fd) in ctx.options.stdio.iter().enumerate() {
        if let Some(fd) = fd {
            sync::dup_onto(*fd, target as RawFd)
                .with_context(|| format!("dup2 onto fd {target}"))?;
        }
    }
    Ok(())
}

/// The container's terminal from its own devpts: the master to the manager over `socket`,
/// the slave as `/dev/console` and as the process's stdio and controlling terminal.
fn terminal_inside(socket: RawFd, process: &oci_spec::runtime::Process) -> Result<()> {
    let size = process
        .console_size()
        .as_ref()
        .map(|b| (b.width() as u16, b.height() as u16));
    let console = super::console::open_inside_and_send(socket, size)?;
    rootfs::bind_console(std::path::Path::new("/"), &console.path)?;
    super::console::attach(console.slave.as_raw_fd())
}

/// The init's side of its placement in its cgroup: the parent's "go" (and the state, when the
/// init runs hooks), then the cgroup namespace, rooted at that cgroup.
struct Placement<'a> {
    ctx: &'a ChildContext<'a>,
    /// Unshare the cgroup namespace once placed (when that was left for later).
    unshare_cgroup: bool,
    /// The state sent with the "go", when the init runs hooks.
    state: Option<OciState>,
}

impl Placement<'_> {
    /// Waits for the "go" the first time; does nothing after.
    fn wait(&mut self) -> Result<()> {
        if PLACED.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let _phase = trace::Phase::start("init: wait for cgroup placement");
        wait_for_go(self.ctx)?;
        PLACED.store(true, std::sync::atomic::Ordering::Relaxed);
        if hooks::needs_state(self.ctx.spec) {
            let blob = sync::receive_blob(self.ctx.from_parent)?;
            self.state = Some(
                serde_json::from_slice(&blob).context("parsing the state sent by the parent")?,
            );
        }
        if self.unshare_cgroup {
            unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
        }
        Ok(())
    }
}

/// Whether the init may make its mounts before the parent has placed it in its cgroup (and
/// sent the state): not with a user namespace, whose ID maps the parent writes at placement
/// and without which the init cannot mount anything.
pub(crate) fn placement_can_overlap(plan: &NamespacePlan) -> bool {
    !plan.new.contains(CloneFlags::CLONE_NEWUSER)
        && plan
            .to_join(oci_spec::runtime::LinuxNamespaceType::User)
            .is_none()
}

/// Blocks until the parent's next "go" byte.
fn wait_for_go(ctx: &ChildContext) -> Result<()> {
    match sync::read_byte(ctx.from_parent)? {
        Some(b'G') => Ok(()),
        _ => bail!("the parent went away during setup"),
    }
}

/// Marks every descriptor from `first` up close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`, Linux 5.11; else one `fcntl` per open descriptor). Marking instead of
/// closing keeps pier's own descriptors usable until the `execve`.
pub(crate) fn close_on_exec_from(first: RawFd) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes flags of descriptors of this process.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .context("listing /proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number; a stale number (the read_dir's own
        // descriptor, now closed) fails with EBADF, which is harmless.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

fn wait_for_start(fifo_path_fd: &OwnedFd) -> Result<OwnedFd> {
    // Blocks until `start` opens the FIFO for reading.
    let path = format!("/proc/self/fd/{}", fifo_path_fd.as_raw_fd());
    let fifo = open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("reopening the exec fifo through {path}"))?;
    sync::write_all(&fifo, b"0")?;
    Ok(fifo)
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).with_context(|| format!("{s:?} contains a NUL byte")))
        .collect()
}
