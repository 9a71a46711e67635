//! The detached container's monitor: the process that `pier run -d` and `pier start` leave
//! behind to watch the container (its log, attach point, health checks, exit record and
//! restart policy), pier's conmon or containerd-shim.
//!
//! `pier` forks it and the child executes pier's own binary again with the hidden first
//! argument [`ENTRY`] ([`main`]): a fresh program carries none of the forking command's heap
//! nor the pages of pier its start-up touched, and once the container runs it drops the
//! pages it no longer needs ([`super::working_set`]). An embedder of the engine whose program
//! has no such entry ([`serve_from_this_binary`] not called) gets a forked monitor instead.
//!
//! Once the container runs, the monitor hands the watching over to the small program
//! `pier-monitor` ([`pier_watch::monitor`], pier's conmon) by executing it in the same process
//! (`hand_over`): same PID, same children, and only the descriptors the watching needs.
//! When the container's init has exited, that program executes pier again as
//! `pier __monitor --exited STATUS --root ROOT ID --seen SEEN --backoff MS -- WORDS`, which
//! records the exit and applies the restart policy (`Engine::resume_monitor`), handing over
//! again if the container runs again. The program is looked for beside the original `pier`
//! binary ([`small_program`]); where it is missing, pier keeps watching in its own process,
//! as it did before the program existed (`pier system info` says which).

use super::attach_point::AttachPoint;
use super::events::InitSeen;
use super::io_loop::Sink;
use super::record::{ContainerRecord, ContainerStatus};
use super::restart_policy::RestartPolicy;
use super::start::{Attach, RunOutcome};
use super::Engine;
use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use pier_oci::container::ExitInfo;
use pier_oci::process::sync;
use pier_oci::security::sealed_exe;
use pier_oci::Error as OciError;
use pier_watch::log_writer::Rotation;
use pier_watch::monitor::{EXITED, PROGRAM};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The first argument that makes the `pier` program a container's monitor: `pier __monitor
/// --root ROOT ID FD -- WORDS...` (FD: where to report the start; WORDS: the command that
/// started it, for `ps`). Not a command: `pier --help` does not list it, and clap never sees
/// it.
pub const ENTRY: &str = "__monitor";

/// Whether this program answers [`ENTRY`] (the `pier` binary says so first thing).
static SERVED: AtomicBool = AtomicBool::new(false);

/// Tells the engine that this program's `main` hands [`ENTRY`] to [`main`], so monitors are
/// executed afresh rather than forked.
pub fn serve_from_this_binary() {
    SERVED.store(true, Ordering::Relaxed);
}

/// Whether monitors are executed afresh (see [`serve_from_this_binary`]).
pub(crate) fn executed() -> bool {
    SERVED.load(Ordering::Relaxed)
}

/// In the forked child: becomes the monitor of container `id` by executing this program again;
/// returns only on failure.
pub(crate) fn exec(root: &std::path::Path, id: &str, report: &OwnedFd) -> anyhow::Error {
    // The report pipe is the one descriptor the monitor inherits on purpose.
    if let Err(e) = nix::fcntl::fcntl(
        report,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    ) {
        return anyhow::Error::from(e)
            .context("keeping the monitor's report pipe open across exec");
    }
    let mut started_by = std::env::args_os();
    let name = started_by.next().unwrap_or_else(|| OsString::from("pier"));
    let mut args = vec![
        name,
        ENTRY.into(),
        "--root".into(),
        root.as_os_str().to_owned(),
        id.into(),
        report.as_raw_fd().to_string().into(),
        // Not read: tells `ps` (and lab 12) which command started the monitor.
        "--".into(),
    ];
    args.extend(started_by);
    sealed_exe::exec_self(args).context("executing pier as the container's monitor")
}

/// `pier __monitor --root ROOT ID FD -- ...` (the words after [`ENTRY`]): watches container `ID`;
/// `pier __monitor --exited STATUS --root ROOT ID --seen SEEN --backoff MS -- ...`: records
/// the end of its run the small program watched and applies its restart policy. Returns the
/// process's exit code.
pub fn main(args: &[OsString]) -> i32 {
    match parse(args) {
        Ok((root, id, how)) => {
            let result = match how {
                Entry::Start(report) => sealed_exe::reexec_sealed(&root)
                    .and_then(|()| Engine::open(&root))
                    .and_then(|engine| engine.monitor(&id, report)),
                // Sealed in resume_monitor, and only if the run may restart.
                Entry::Ended(ended) => {
                    Engine::open(&root).and_then(|engine| engine.resume_monitor(&root, &id, ended))
                }
            };
            i32::from(result.is_err())
        }
        Err(e) => {
            eprintln!("pier: {e:#}");
            125
        }
    }
}

/// What the monitor was executed for.
enum Entry {
    /// Start the container, reporting to this descriptor.
    Start(OwnedFd),
    /// The run the small program watched has ended.
    Ended(Ended),
}

/// A run's end, as the small program reports it to pier.
pub(crate) struct Ended {
    /// How the init ended.
    exit: ExitInfo,
    /// What pier saw of the init when it started (for the die event).
    seen: Option<InitSeen>,
    /// The restart policy's current back-off.
    backoff: Option<Duration>,
}

/// The words after [`ENTRY`]: `[--exited STATUS] --root ROOT ID (FD | --seen SEEN --backoff
/// MS) [-- WORDS...]` (the words of the command that started the monitor, for `ps`).
fn parse(args: &[OsString]) -> Result<(PathBuf, String, Entry)> {
    let words = args
        .iter()
        .position(|a| a == "--")
        .map_or(args, |end| &args[..end]);
    let text = |w: &OsString| w.to_str().map(str::to_string);
    match words {
        [exited, status, flag, root, id, seen_flag, seen, backoff_flag, backoff]
            if exited == EXITED =>
        {
            if flag != "--root" || seen_flag != "--seen" || backoff_flag != "--backoff" {
                bail!("{ENTRY} {EXITED} takes STATUS --root ROOT ID --seen SEEN --backoff MS");
            }
            let status = text(status).context("the exit status is not UTF-8")?;
            let status = pier_watch::monitor::parse_status(&status, Pid::from_raw(0))?;
            let exit = ExitInfo::of_ended(status)?;
            let seen = parse_seen(&text(seen).context("--seen is not UTF-8")?)?;
            let backoff = match text(backoff).and_then(|b| b.parse::<u64>().ok()) {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => bail!("--backoff: expected milliseconds"),
            };
            let id = text(id).context("the container ID given to the monitor is not UTF-8")?;
            let ended = Ended {
                exit,
                seen,
                backoff,
            };
            Ok((PathBuf::from(root), id, Entry::Ended(ended)))
        }
        [flag, root, id, fd] => {
            if flag != "--root" {
                bail!(
                    "{ENTRY} takes --root ROOT ID FD, not {}",
                    flag.to_string_lossy()
                );
            }
            let id = text(id).context("the container ID given to the monitor is not UTF-8")?;
            let report = adopt_report(fd)?;
            Ok((PathBuf::from(root), id, Entry::Start(report)))
        }
        _ => bail!("{ENTRY} takes --root ROOT ID FD (it is pier's own, not a command)"),
    }
}

/// The report descriptor `fd` names.
fn adopt_report(fd: &OsString) -> Result<OwnedFd> {
    let fd: i32 = fd
        .to_str()
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 2)
        .context("the monitor's report descriptor is not a number above 2")?;
    // Refuse a number that names no open descriptor rather than adopt a stranger's later;
    // and close it on exec (the container must not inherit it).
    // SAFETY: fcntl on a descriptor number only reads and sets its flags (EBADF if unused).
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        bail!(
            "the monitor's report descriptor {fd} is not open: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: the descriptor is open (checked above) and handed to this process for it alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `PID:START:CGROUP`, or `-` for none.
fn seen_word(seen: Option<&InitSeen>) -> String {
    seen.map_or("-".to_string(), |s| {
        format!("{}:{}:{}", s.pid, s.start_time, s.cgroup)
    })
}

/// What [`seen_word`] wrote.
fn parse_seen(word: &str) -> Result<Option<InitSeen>> {
    if word == "-" {
        return Ok(None);
    }
    let mut parts = word.splitn(3, ':');
    let (Some(pid), Some(start), Some(cgroup)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--seen {word:?}: expected PID:START:CGROUP or -");
    };
    Ok(Some(InitSeen {
        pid: pid.parse().context("--seen: the PID")?,
        start_time: start.parse().context("--seen: the start time")?,
        cgroup: cgroup.to_string(),
    }))
}

/// The small monitor program beside the original `pier` binary (not beside a sealed copy of
/// it), if it is installed there. `None`: pier watches its containers in its own process.
pub fn small_program() -> Option<PathBuf> {
    let pier = sealed_exe::original_exe()?;
    let program = pier.parent()?.join(PROGRAM);
    program.is_file().then_some(program)
}

/// Everything the small program takes over from a running container's monitor.
pub(crate) struct Handover<'a> {
    /// The program ([`small_program`]).
    pub program: &'a Path,
    /// pier's state root, for the way back.
    pub root: &'a Path,
    /// The container's ID, for the way back.
    pub id: &'a str,
    /// The container's init (a child of this process).
    pub init: Pid,
    /// The health-check process (a child too), killed at the run's end.
    pub prober: Option<Pid>,
    /// The output pipes (without a terminal).
    pub streams: &'a [(OwnedFd, Sink)],
    /// The terminal's master (with one).
    pub tty: Option<BorrowedFd<'a>>,
    /// The attach point (listener, stdin pipe).
    pub attach: Option<&'a AttachPoint>,
    /// `OpenStdin` (`-i`).
    pub open_stdin: bool,
    /// `StdinOnce`.
    pub stdin_once: bool,
    /// The log.
    pub log: &'a Path,
    /// Its bounds.
    pub rotation: Rotation,
    /// For the die event.
    pub seen: Option<&'a InitSeen>,
}

/// Executes the small program in this process with the descriptors `h` names; returns only on
/// failure, having closed them on exec again (the caller then watches in-process).
pub(crate) fn hand_over(h: &Handover) -> anyhow::Error {
    let pier = match sealed_exe::original_exe() {
        Some(p) => p,
        None => return anyhow::anyhow!("the original pier binary's path is unknown"),
    };
    let mut args: Vec<OsString> = vec![
        h.program.as_os_str().to_owned(),
        "--pid".into(),
        h.init.as_raw().to_string().into(),
    ];
    let mut passed: Vec<RawFd> = Vec::new();
    let mut pass = |args: &mut Vec<OsString>, flag: &str, fd: RawFd| {
        passed.push(fd);
        args.push(flag.into());
        args.push(fd.to_string().into());
    };
    if let Some(p) = h.prober {
        args.push("--prober".into());
        args.push(p.as_raw().to_string().into());
    }
    match h.tty {
        Some(m) => pass(&mut args, "--tty", m.as_raw_fd()),
        None => {
            for (fd, sink) in h.streams {
                match sink {
                    Sink::Log("stderr") => pass(&mut args, "--stderr", fd.as_raw_fd()),
                    _ => pass(&mut args, "--stdout", fd.as_raw_fd()),
                }
            }
        }
    }
    if let Some(a) = h.attach {
        pass(&mut args, "--attach", a.listener_fd());
        args.push(a.path().as_os_str().to_owned());
        if let Some(fd) = a.stdin_fd() {
            pass(&mut args, "--stdin", fd);
        }
    }
    if h.open_stdin {
        args.push("--open-stdin".into());
    }
    if h.stdin_once {
        args.push("--stdin-once".into());
    }
    args.extend([
        "--log".into(),
        h.log.as_os_str().to_owned(),
        h.rotation.max_size.to_string().into(),
        h.rotation.max_file.to_string().into(),
        "--".into(),
        pier.into_os_string(),
        ENTRY.into(),
        "--root".into(),
        h.root.as_os_str().to_owned(),
        h.id.into(),
        "--seen".into(),
        seen_word(h.seen).into(),
        "--backoff".into(),
        super::restart::backoff()
            .map_or(0, |d| d.as_millis().max(1) as u64)
            .to_string()
            .into(),
        "--".into(),
    ]);
    // The words of the command that started the monitor, for `ps` (and lab 12).
    args.extend(std::env::args_os().skip_while(|a| a != "--").skip(1));
    let set_cloexec = |on: bool| -> Result<()> {
        for fd in &passed {
            let flag = if on { libc::FD_CLOEXEC } else { 0 };
            // SAFETY: F_SETFD on a descriptor this process holds only sets its flag.
            if unsafe { libc::fcntl(*fd, libc::F_SETFD, flag) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("fcntl(F_SETFD) of descriptor {fd}"));
            }
        }
        Ok(())
    };
    let to_c = |s: &OsString| {
        std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str()))
            .context("argument with a NUL byte")
    };
    let argv: Result<Vec<std::ffi::CString>> = args.iter().map(to_c).collect();
    let argv = match argv {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = set_cloexec(false) {
        let _ = set_cloexec(true);
        return e.context("passing descriptors to the small monitor");
    }
    let e = match nix::unistd::execv(&argv[0], &argv) {
        Err(e) => anyhow::Error::from(e).context(format!(
            "executing the small monitor {}",
            h.program.display()
        )),
        Ok(never) => match never {},
    };
    let _ = set_cloexec(true);
    e
}

impl Engine {
    /// The monitor's work: starts container `id`, tells `report` whether it started (a byte
    /// `R`, or the failure), watches it until it exits and applies its restart policy.
    pub fn monitor(&self, id: &str, report: OwnedFd) -> Result<()> {
        let tx = report;
        let mut told = false;
        let result = self.run_attached(id, Attach::Detached, &mut |r| {
            told = true;
            match r {
                Ok(()) => {
                    let _ = sync::write_all(&tx, b"R");
                }
                Err(OciError::Start { code, message }) => sync::send_failure(&tx, *code, message),
                Err(other) => sync::send_failure(&tx, 125, &format!("{other:#}")),
            }
        });
        if let (Err(e), false) = (&result, told) {
            sync::send_failure(&tx, 125, &format!("{e:#}"));
        }
        drop(tx);
        let first = result?;
        self.apply_restart_policy(id, first, &|| Ok(()))
    }

    /// The monitor's work once the small program has watched a run to its end: records the
    /// exit (as a run watched in-process does after its io loop) and applies the restart
    /// policy, which hands over to the small program again if the container runs again.
    fn resume_monitor(&self, root: &Path, id: &str, ended: Ended) -> Result<()> {
        let paths = self.paths(id);
        let record = ContainerRecord::load(&paths).ok();
        // The end of a run that cannot restart touches nothing inside the container (it records
        // the exit and tears down from the host): no sealed copy for it, which saves executing
        // pier once more per exit. One that may restart (or whose record is unreadable) seals
        // first: this re-executes the same command from a sealed copy.
        if record
            .as_ref()
            .is_none_or(|r| r.config.restart != RestartPolicy::No)
        {
            sealed_exe::reexec_sealed(root)?;
        }
        // Read before the tear-down removes the cgroup; a container removed meanwhile
        // (`rm -f`) has none, and `finish` finds no record to update.
        let oom_killed = record
            .as_ref()
            .and_then(|r| r.cgroup.clone())
            .is_some_and(|c| c.oom_kill_count().unwrap_or(0) > 0);
        // Recorded already when this is the same exit again: this process recorded it
        // unsealed, then re-executed itself sealed (same arguments) because the policy, changed
        // by `pier update` since, says restart.
        let recorded =
            record.is_some_and(|r| r.status == ContainerStatus::Exited && r.init.is_none());
        if !recorded {
            self.finish(&paths, ended.exit, oom_killed, ended.seen, true)?;
        }
        super::restart::set_backoff(ended.backoff);
        let outcome = RunOutcome {
            exit: ended.exit,
            oom_killed,
        };
        self.apply_restart_policy(id, outcome, &|| sealed_exe::reexec_sealed(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_pier_saw_of_the_init_goes_and_comes_back() {
        let seen = InitSeen {
            pid: 42,
            start_time: 12345,
            cgroup: "/pier/abc:def".to_string(),
        };
        let back = parse_seen(&seen_word(Some(&seen))).unwrap().unwrap();
        assert_eq!(
            (back.pid, back.start_time, back.cgroup),
            (42, 12345, seen.cgroup)
        );
        assert!(parse_seen(&seen_word(None)).unwrap().is_none());
        assert!(parse_seen("42:x").is_err());
    }
}
