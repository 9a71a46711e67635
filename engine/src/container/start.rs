//! Starting a container and watching it until it exits: the role of Docker's
//! containerd-shim or Podman's conmon. For a foreground `pier run` the `pier` process itself
//! watches; for `-d` (and `pier start`) a monitor does, in its own session, writing the
//! container's output to its log: a fork of `pier` that executes pier again as a small
//! program of its own (see [`super::monitor`]).

use super::attach_point::AttachPoint;
use super::events::{Action, Event, InitSeen};
use super::health::Health;
use super::io_loop::{copy_window_size, IoLoop, RawTerminal, Sink};
use super::logs::LogWriter;
use super::record::{ContainerPaths, ContainerRecord, ContainerStatus, ProcessId};
use super::{mountinfo, now_rfc3339, Engine};
use anyhow::{bail, Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{fork, pipe2, setsid, ForkResult};
use pier_oci::container::{ContainerBuilder, ExitInfo};
use pier_oci::process::sync::{self, Channel, ChildMessage};
use pier_oci::trace;
use pier_oci::Error as OciError;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

/// How the user is attached to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// `pier run` without `-d`: pier's own stdio (stdin only with `-i`), a terminal with `-t`.
    Foreground {
        /// `-i`.
        interactive: bool,
        /// `-t`.
        tty: bool,
        /// Pass Ctrl-C and other signals on to the container (`pier run`). A build handles
        /// them itself: if this loop also read them, it would win the race for a signal
        /// sent to pier and the build would never learn that it was interrupted.
        forward_signals: bool,
    },
    /// `-d` / `pier start`: output to the log.
    Detached,
}

/// The result of a finished run.
#[derive(Debug, Clone, Copy)]
pub struct RunOutcome {
    /// Exit code (128+N for signal N).
    pub exit: ExitInfo,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
}

impl Engine {
    /// Starts a created or exited container and watches it in this process until it exits.
    /// `on_started` is told once whether the command started, or why it could not (an
    /// [`OciError::Start`]: a detached monitor passes that on to the `pier` command waiting
    /// for it).
    pub fn run_attached(
        &self,
        key: &str,
        attach: Attach,
        on_started: &mut dyn FnMut(Result<(), &OciError>),
    ) -> Result<RunOutcome> {
        let (_, record) = self.find(key)?;
        if record.restarting && record.monitor.is_some_and(|m| m.is_alive()) {
            bail!(
                "container {} is restarting (its monitor waits out the back-off): stop it first",
                record.name
            );
        }
        self.run_once(key, attach, on_started, false)
    }

    /// One run of the container; `restart` when its monitor restarts it under its policy
    /// (the user's own start resets the count and the user's stop).
    pub(crate) fn run_once(
        &self,
        key: &str,
        attach: Attach,
        on_started: &mut dyn FnMut(Result<(), &OciError>),
        restart: bool,
    ) -> Result<RunOutcome> {
        let (paths, record) = self.find(key)?;
        if record.status == ContainerStatus::Running {
            bail!("container {} is already running", record.name);
        }
        let me =
            ProcessId::of(std::process::id() as i32).context("reading pier's own /proc entry")?;
        self.update(&paths, |r| {
            r.monitor = Some(me);
            r.error = None;
            r.paused = false;
            if !restart {
                r.restart_count = 0;
                r.stopped_by_user = false;
            }
        })?;
        let result = self.launch(&paths, &record, attach, on_started);
        match result {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                let code = match &e {
                    OciError::Start { code, .. } => *code,
                    _ => 125,
                };
                let message = format!("{e:#}");
                self.record_event(Event {
                    exit_code: Some(code),
                    error: Some(message.clone()),
                    ..Event::about(&record, Action::StartFailed)
                });
                self.teardown(&paths)?;
                self.update(&paths, |r| {
                    r.status = ContainerStatus::Created;
                    r.restarting = false;
                    r.monitor = None;
                    r.init = None;
                    r.cgroup = None;
                    r.exit_code = Some(code);
                    r.error = Some(message);
                })?;
                Err(e.into())
            }
        }
    }

    fn launch(
        &self,
        paths: &ContainerPaths,
        record: &ContainerRecord,
        attach: Attach,
        on_started: &mut dyn FnMut(Result<(), &OciError>),
    ) -> pier_oci::Result<RunOutcome> {
        let rootfs = paths.rootfs();
        let mount = trace::Phase::start("rootfs (overlay mount)");
        if !mountinfo::is_mounted(&rootfs) {
            let image = self
                .images()?
                .resolve(&record.image_id)
                .with_context(|| format!("image {} of container {}", record.image, record.name))?;
            super::create::mount_rootfs(paths, &image)?;
        }
        mount.end();
        let network = trace::Phase::start("network attach");
        self.attach_network(paths, record)?;
        network.end();

        // Standard streams.
        let devnull = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .context("opening /dev/null")?;
        let mut streams: Vec<(OwnedFd, Sink)> = Vec::new();
        let mut keep: Vec<OwnedFd> = Vec::new(); // child ends, closed after create
        let mut stdio: [Option<RawFd>; 3] = [None, None, None];
        let mut console = None;
        let mut master: Option<OwnedFd> = None;
        let mut interactive = false;
        let mut stdin_pipe: Option<OwnedFd> = None;
        let tty = record.config.tty;
        // A foreground container's output goes to pier's stdout/stderr and, as with Docker,
        // into its log, so `pier logs` shows it later. With `--rm` there is no later: the
        // container writes straight to pier's descriptors, which costs nothing.
        let tee = matches!(attach, Attach::Foreground { .. }) && !record.config.auto_remove;
        match attach {
            Attach::Foreground { interactive: i, .. } => {
                interactive = i;
                if !i {
                    stdio[0] = Some(devnull.as_raw_fd());
                }
                if tee && !tty {
                    for (n, name) in [(1, "stdout"), (2, "stderr")] {
                        let (r, w) =
                            pipe2(OFlag::O_CLOEXEC).context("pipe for container output")?;
                        stdio[n] = Some(w.as_raw_fd());
                        keep.push(w);
                        streams.push((r, Sink::Tee(n as RawFd, name)));
                    }
                }
            }
            Attach::Detached => {
                if record.config.interactive && !tty {
                    // Kept open by the monitor for clients of its attach point.
                    let (r, w) = pipe2(OFlag::O_CLOEXEC).context("pipe for container stdin")?;
                    stdio[0] = Some(r.as_raw_fd());
                    keep.push(r);
                    stdin_pipe = Some(w);
                } else {
                    stdio[0] = Some(devnull.as_raw_fd());
                }
                if !tty {
                    for (n, name) in [(1, "stdout"), (2, "stderr")] {
                        let (r, w) =
                            pipe2(OFlag::O_CLOEXEC).context("pipe for container output")?;
                        stdio[n] = Some(w.as_raw_fd());
                        keep.push(w);
                        streams.push((r, Sink::Log(name)));
                    }
                }
            }
        }
        if tty {
            let size = record
                .config
                .console_size
                .map(|[rows, cols]| nix::pty::Winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                });
            let pty = nix::pty::openpty(size.as_ref(), None).context("openpty for -t")?;
            let slave_path =
                nix::unistd::ttyname(&pty.slave).context("ttyname of the new terminal")?;
            console = Some((pty.slave.as_raw_fd(), slave_path));
            keep.push(pty.slave);
            let dup = pty
                .master
                .try_clone()
                .context("dup of the terminal master")?;
            let sink = if attach == Attach::Detached {
                Sink::Log("stdout")
            } else if tee {
                Sink::Tee(1, "stdout")
            } else {
                Sink::Fd(1)
            };
            streams.push((dup, sink));
            master = Some(pty.master);
        }
        let mut close_fds: Vec<RawFd> = streams.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        if let Some(m) = &master {
            close_fds.push(m.as_raw_fd());
        }
        if let Some(w) = &stdin_pipe {
            close_fds.push(w.as_raw_fd());
        }
        // Bound before the container exists, so a failure leaves nothing running.
        let attach_point = if attach == Attach::Detached {
            let a = AttachPoint::bind(
                &paths.dir,
                record.config.interactive,
                stdin_pipe,
                record.config.stdin_once,
            )?;
            close_fds.push(a.listener_fd());
            Some(a)
        } else {
            None
        };

        let created = ContainerBuilder::new(&record.id)
            .with_state_dir(&paths.runtime_dir())
            .with_stdio(stdio)
            .with_reaper(record.config.init)
            .with_die_with_parent(true)
            .with_close_fds(close_fds);
        let created = match console {
            Some((slave, path)) => created.with_console(slave, path),
            None => created,
        }
        .as_init(&paths.bundle())
        .build();
        drop(keep);
        let created = match created {
            Ok(c) => c,
            Err(e) => {
                if let OciError::Start { .. } = e {
                    on_started(Err(&e));
                }
                return Err(e);
            }
        };
        let init = ProcessId::of(created.pid.as_raw());
        // What the kernel says of the init, recorded with its start and its exit: read now,
        // while it waits for the start in its cgroup (a command that exits at once would be a
        // zombie, unreadable, by the time the start is logged).
        let seen = InitSeen::of(created.pid.as_raw());
        let cgroup = created.cgroup.clone();
        self.update(paths, |r| {
            r.init = init;
            r.cgroup = Some(cgroup.clone());
        })?;
        let pid = created.pid;
        let start = trace::Phase::start("start (until execve)");
        let started = created.start();
        start.end();
        if let Err(e) = &started {
            if let OciError::Start { .. } = e {
                on_started(Err(e));
            }
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        let _created = started?;
        self.update(paths, |r| {
            r.status = ContainerStatus::Running;
            // Cleared only now: until the process runs, `ps` still says "Restarting".
            r.restarting = false;
            r.started_at = Some(now_rfc3339());
            r.finished_at = None;
            r.exit_code = None;
            r.oom_killed = false;
            r.health = record
                .config
                .healthcheck
                .as_ref()
                .filter(|h| h.is_enabled())
                .map(|_| Health::starting());
        })?;
        self.record_event(Event {
            init: seen.clone(),
            ..Event::about(record, Action::Start)
        });
        on_started(Ok(()));
        // Killed (and reaped) when this run ends; it dies with this process too.
        let _prober = self.spawn_health_prober(paths, record)?;
        if attach == Attach::Detached {
            if let Some(program) = super::monitor::small_program() {
                // Returns only if the program could not be executed: then this process
                // watches, as it does where the program is not installed.
                let _failed = super::monitor::hand_over(&super::monitor::Handover {
                    program: &program,
                    root: &self.root,
                    id: &record.id,
                    init: pid,
                    prober: _prober.as_ref().map(|p| p.pid()),
                    streams: &streams,
                    tty: master.as_ref().map(|m| m.as_fd()),
                    attach: attach_point.as_ref(),
                    open_stdin: record.config.interactive,
                    stdin_once: record.config.stdin_once,
                    log: &paths.log(),
                    rotation: record.config.log.into(),
                    seen: seen.as_ref(),
                });
            }
        }

        let _raw = (tty && matches!(attach, Attach::Foreground { .. })).then(RawTerminal::enable);
        if let (Some(m), Attach::Foreground { .. }) = (&master, attach) {
            copy_window_size(m.as_fd());
        }
        let log = if attach == Attach::Detached || tee {
            Some(LogWriter::open(&paths.log(), record.config.log)?)
        } else {
            None
        };
        if attach == Attach::Detached {
            // The start touched much of pier that the watching does not need.
            super::working_set::trim();
        }
        let running = trace::Phase::start("command runs");
        let exit = ExitInfo::of_ended(
            IoLoop {
                child: pid,
                forward_signals: matches!(
                    attach,
                    Attach::Foreground {
                        forward_signals: true,
                        ..
                    }
                ),
                streams,
                stdin_to: if tty && interactive {
                    master.as_ref().map(|m| m.as_fd())
                } else {
                    None
                },
                tty_master: master.as_ref().map(|m| m.as_fd()),
                log,
                attach: attach_point,
            }
            .run()?,
        )?;
        running.end();
        drop(_raw);
        drop(_prober);
        let oom_killed = cgroup.oom_kill_count().unwrap_or(0) > 0;
        let finish = trace::Phase::start("finish (tear-down, record)");
        // A detached monitor applies the restart policy next: it stays named in the record
        // until it has decided, so a `pier stop` landing in between finds it (restart.rs).
        self.finish(paths, exit, oom_killed, seen, attach == Attach::Detached)?;
        finish.end();
        Ok(RunOutcome { exit, oom_killed })
    }

    /// Records the exit (of the init pier saw start, `seen`) and releases the container's
    /// runtime resources (the writable layer is kept, as Docker does, until `rm`). With
    /// `keep_monitor` the record still names this process as the monitor.
    pub(crate) fn finish(
        &self,
        paths: &ContainerPaths,
        exit: ExitInfo,
        oom_killed: bool,
        seen: Option<InitSeen>,
        keep_monitor: bool,
    ) -> Result<()> {
        self.teardown_as(paths, true)?;
        let rec = self.update(paths, |r| {
            r.status = ContainerStatus::Exited;
            r.exit_code = Some(exit.code);
            r.oom_killed = oom_killed;
            r.finished_at = Some(now_rfc3339());
            r.init = None;
            if !keep_monitor {
                r.monitor = None;
            }
            r.cgroup = None;
            r.network = None;
            r.paused = false;
        })?;
        if let Some(rec) = rec {
            self.record_event(Event {
                exit_code: Some(exit.code),
                oom_killed,
                init: seen,
                ..Event::about(&rec, Action::Die)
            });
            if rec.config.auto_remove {
                // As `docker run --rm`: its anonymous volumes go with it.
                self.remove_files(paths)?;
                self.remove_anonymous_volumes(&rec)?;
            }
        }
        Ok(())
    }

    /// `pier start` / `pier run -d`: fork a watcher (the monitor, executed afresh when this
    /// program serves [`super::monitor::ENTRY`]) that starts the container in its own session,
    /// and return once the command has started (or failed to).
    pub fn start_detached(&self, key: &str) -> Result<()> {
        let (_, record) = self.find(key)?;
        let report = Channel::new()?;
        // SAFETY: pier is single-threaded here (no thread has been started).
        match unsafe { fork() }.context("fork of the container watcher")? {
            ForkResult::Parent { child } => {
                drop(report.tx);
                let message = sync::receive(&report.rx);
                // The watcher stays alive after reporting; it is reparented when pier exits.
                let _ = child;
                match message? {
                    ChildMessage::Ready | ChildMessage::Closed => Ok(()),
                    ChildMessage::Failed { code, message } => {
                        Err(OciError::Start { code, message }.into())
                    }
                    ChildMessage::Hooks | ChildMessage::Seccomp(_) => {
                        anyhow::bail!("unexpected message from the watcher")
                    }
                }
            }
            ForkResult::Child => {
                let _ = setsid();
                if let Ok(null) = open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                    for fd in 0..3 {
                        let _ = sync::dup_onto(null.as_raw_fd(), fd);
                    }
                }
                let tx = report.tx;
                // What the command inherited from its caller (a shell's or a CI runner's
                // descriptors) is not the monitor's: closed on exec, so the monitor and the
                // small program after it hold only what pier gives them (the report pipe is
                // kept open across the exec by monitor::exec). Linux 5.11; older kernels
                // refuse the flag and the monitor inherits them, as it used to.
                // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets descriptor flags.
                unsafe {
                    libc::syscall(
                        libc::SYS_close_range,
                        3u32,
                        u32::MAX,
                        libc::CLOSE_RANGE_CLOEXEC,
                    )
                };
                if super::monitor::executed() {
                    // A fresh pier, without this one's memory (monitor.rs).
                    let e = super::monitor::exec(&self.root, &record.id, &tx);
                    sync::send_failure(&tx, 125, &format!("{e:#}"));
                    std::process::exit(125);
                }
                let result = self.monitor(&record.id, tx);
                std::process::exit(if result.is_ok() { 0 } else { 1 })
            }
        }
    }
}
