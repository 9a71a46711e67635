//! `pier-monitor`, the small program a detached container's monitor becomes while the
//! container runs: pier's conmon. pier's monitor (`pier __monitor`) starts the container, then
//! executes this program in the same process (same PID, so the record's monitor and the
//! container's parent stay what they were; same children: the container's init and the
//! health-check process), passing it the descriptors it needs by number. It copies the
//! container's output into the log, serves the attach point, and waits for the init; when the
//! init has exited and its output is drained, it kills the health-check process and executes
//! pier again, which records the exit and applies the restart policy (and, if the container
//! runs again, comes back here).
//!
//! Why: the process that watches a container lives as long as the container, one per
//! container. pier is a large program, and the kernel dirties much of it (its relocated
//! tables) when it is loaded; this program is small, so each running container costs less.
//!
//! ```text
//! pier-monitor --pid PID [--prober PID] [--stdout FD] [--stderr FD] [--tty FD]
//!              [--attach FD PATH] [--stdin FD] [--open-stdin] [--stdin-once]
//!              --log PATH MAX_SIZE MAX_FILE -- PIER ENTRY ARGS...
//! ```
//! At the end it executes `PIER ENTRY --exited STATUS ARGS...` (STATUS: `exit:N` or
//! `signal:N`), keeping the environment.
//!
//! Its descriptors: the standard three, and those named above, which pier passes on purpose
//! (it clears close-on-exec on them alone); this program sets close-on-exec on them again at
//! once, so pier, executed at the end, inherits none.
//!
//! No sealed copy: pier re-executes itself from a sealed copy before it enters a container's
//! namespaces (`pier_oci::security::sealed_exe`, CVE-2019-5736), because a process inside the
//! container's PID namespace is one the container can open `/proc/PID/exe` of and wait to
//! write. This program never enters the container's namespaces, cgroup or root: it runs in the
//! host's, where the container's processes do not see it (with `--pid host` they would need
//! `CAP_SYS_PTRACE` over a process with more capabilities than theirs to open its `exe`), and
//! it holds no descriptor of the host they could reach. conmon runs unsealed for the same
//! reason. pier, executed again at the end, seals itself again before it starts a run.
//!
//! It must stay single-threaded: the container's init was created with
//! `PR_SET_PDEATHSIG`, which fires when the *thread* that created it exits; `execve` keeps the
//! calling thread (so neither handover kills the init), but a thread's end would.

use crate::attach_point::AttachPoint;
use crate::io_loop::{IoLoop, Sink};
use crate::log_writer::{LogWriter, Rotation};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The program's file name, installed beside `pier`.
pub const PROGRAM: &str = "pier-monitor";

/// The argument pier's monitor entry takes the ended run's status after.
pub const EXITED: &str = "--exited";

/// What the program was told.
struct Args {
    pid: Pid,
    prober: Option<Pid>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    tty: Option<OwnedFd>,
    attach: Option<(OwnedFd, PathBuf)>,
    stdin: Option<OwnedFd>,
    open_stdin: bool,
    stdin_once: bool,
    log: (PathBuf, Rotation),
    /// `PIER ENTRY ARGS...`.
    then: Vec<OsString>,
}

/// The program: watches the container, then executes pier; returns only on failure (the exit
/// code).
pub fn main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{PROGRAM}: {e:#} (it is pier's own program, not a command)");
            return 125;
        }
    };
    let then = args.then.clone();
    let prober = args.prober;
    let status = watch(args);
    if let Some(p) = prober {
        // The run has ended: so has its health checking.
        let _ = kill(p, Signal::SIGKILL);
        let _ = waitpid(p, None);
    }
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{PROGRAM}: {e:#}");
            return 1;
        }
    };
    let e = exec_pier(&then, &status);
    eprintln!("{PROGRAM}: {e:#}");
    1
}

/// Runs the io loop until the init has exited and its output is in the log.
fn watch(args: Args) -> Result<String> {
    let mut streams = Vec::new();
    if let Some(fd) = args.stdout {
        streams.push((fd, Sink::Log("stdout")));
    }
    if let Some(fd) = args.stderr {
        streams.push((fd, Sink::Log("stderr")));
    }
    if let Some(m) = &args.tty {
        let dup = m.try_clone().context("dup of the terminal master")?;
        streams.push((dup, Sink::Log("stdout")));
    }
    let attach = args.attach.map(|(listener, path)| {
        AttachPoint::adopt(listener, path, args.open_stdin, args.stdin, args.stdin_once)
    });
    let log = LogWriter::open(&args.log.0, args.log.1)?;
    // Starting this program (the loader, the C library's start-up, the parsing) touched
    // pages of libc and of this binary that the loop does not need: the kernel maps file
    // pages around each fault, so they are most of its RSS. Dropped from its page tables
    // (they stay in the page cache); what the loop touches comes back.
    crate::working_set::trim();
    let status = IoLoop {
        child: args.pid,
        forward_signals: false,
        streams,
        stdin_to: None,
        tty_master: args.tty.as_ref().map(|m| m.as_fd()),
        log: Some(log),
        attach,
    }
    .run()?;
    status_word(status)
}

/// `exit:N` or `signal:N`.
fn status_word(status: WaitStatus) -> Result<String> {
    match status {
        WaitStatus::Exited(_, code) => Ok(format!("exit:{code}")),
        WaitStatus::Signaled(_, sig, _) => Ok(format!("signal:{}", sig as i32)),
        other => bail!("the container's init stopped without exiting ({other:?})"),
    }
}

/// The status the program passes pier (`exit:N`, `signal:N`), as the wait returned it (for
/// `pid`).
pub fn parse_status(word: &str, pid: Pid) -> Result<WaitStatus> {
    let bad = || format!("{EXITED} {word:?}: expected exit:N or signal:N");
    let (kind, n) = word.split_once(':').with_context(bad)?;
    let n: i32 = n.parse().ok().with_context(bad)?;
    match kind {
        "exit" => Ok(WaitStatus::Exited(pid, n)),
        "signal" => Ok(WaitStatus::Signaled(
            pid,
            Signal::try_from(n).ok().with_context(bad)?,
            false,
        )),
        _ => bail!("{}", bad()),
    }
}

/// Executes `PIER ENTRY --exited STATUS ARGS...`; returns only the error.
fn exec_pier(then: &[OsString], status: &str) -> anyhow::Error {
    let to_c = |s: &OsString| CString::new(s.as_bytes()).context("argument with a NUL byte");
    let (Some(program), Some(entry)) = (then.first(), then.get(1)) else {
        return anyhow::anyhow!("no program to execute after the run");
    };
    let words = [program, entry]
        .into_iter()
        .cloned()
        .chain([OsString::from(EXITED), OsString::from(status)])
        .chain(then[2..].iter().cloned());
    let argv: Result<Vec<CString>> = words.map(|w| to_c(&w)).collect();
    let (path, argv) = match (to_c(program), argv) {
        (Ok(p), Ok(a)) => (p, a),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match nix::unistd::execv(&path, &argv) {
        Err(e) => anyhow::Error::from(e).context(format!(
            "executing {} after the run",
            program.to_string_lossy()
        )),
        Ok(never) => match never {},
    }
}

fn parse(args: &[OsString]) -> Result<Args> {
    let end = args
        .iter()
        .position(|a| a == "--")
        .context("no `-- PIER ENTRY ARGS...` to execute after the run")?;
    let then = args[end + 1..].to_vec();
    if then.len() < 2 {
        bail!("after `--`: the program to execute after the run and its entry");
    }
    let mut words = args[..end].iter();
    let mut fds = Adopted::default();
    let mut pid = None;
    let mut out = Args {
        pid: Pid::from_raw(0),
        prober: None,
        stdout: None,
        stderr: None,
        tty: None,
        attach: None,
        stdin: None,
        open_stdin: false,
        stdin_once: false,
        log: (
            PathBuf::new(),
            Rotation {
                max_size: 0,
                max_file: 0,
            },
        ),
        then,
    };
    let mut log = None;
    while let Some(flag) = words.next() {
        let flag = flag.to_string_lossy();
        let mut value = || {
            words
                .next()
                .with_context(|| format!("{flag} needs a value"))
                .map(|v| v.to_string_lossy().into_owned())
        };
        match flag.as_ref() {
            "--pid" => pid = Some(number(&flag, &value()?)?),
            "--prober" => out.prober = Some(Pid::from_raw(number(&flag, &value()?)?)),
            "--stdout" => out.stdout = Some(fds.adopt(&flag, &value()?)?),
            "--stderr" => out.stderr = Some(fds.adopt(&flag, &value()?)?),
            "--tty" => out.tty = Some(fds.adopt(&flag, &value()?)?),
            "--stdin" => out.stdin = Some(fds.adopt(&flag, &value()?)?),
            "--attach" => {
                let fd = fds.adopt(&flag, &value()?)?;
                out.attach = Some((fd, PathBuf::from(value()?)));
            }
            "--open-stdin" => out.open_stdin = true,
            "--stdin-once" => out.stdin_once = true,
            "--log" => {
                let path = PathBuf::from(value()?);
                let max_size = value()?.parse().ok().context("--log: bad MAX_SIZE")?;
                let max_file = value()?.parse().ok().context("--log: bad MAX_FILE")?;
                log = Some((path, Rotation { max_size, max_file }));
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    out.pid = Pid::from_raw(pid.context("--pid is required")?);
    out.log = log.context("--log is required")?;
    Ok(out)
}

/// A positive number.
fn number(flag: &str, word: &str) -> Result<i32> {
    word.parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("{flag} {word:?}: expected a positive number"))
}

/// The descriptors taken so far (each number at most once).
#[derive(Default)]
struct Adopted(Vec<RawFd>);

impl Adopted {
    /// Takes descriptor `word`, passed on purpose, and closes it on exec again.
    fn adopt(&mut self, flag: &str, word: &str) -> Result<OwnedFd> {
        let fd = number(flag, word)?;
        if fd <= 2 || self.0.contains(&fd) {
            bail!("{flag} {fd}: not a descriptor handed over (a standard one, or given twice)");
        }
        // SAFETY: fcntl on a descriptor number only reads and sets its flags (EBADF if unused).
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            bail!(
                "{flag} {fd}: not an open descriptor: {}",
                std::io::Error::last_os_error()
            );
        }
        self.0.push(fd);
        // SAFETY: open (checked above), handed to this program for it alone, taken once.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_go_and_come_back() {
        let pid = Pid::from_raw(7);
        for s in [
            WaitStatus::Exited(pid, 0),
            WaitStatus::Exited(pid, 3),
            WaitStatus::Signaled(pid, Signal::SIGKILL, false),
        ] {
            assert_eq!(parse_status(&status_word(s).unwrap(), pid).unwrap(), s);
        }
        assert!(parse_status("exit", pid).is_err());
        assert!(parse_status("signal:999", pid).is_err());
    }

    #[test]
    fn refuses_what_was_not_handed_over() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let e = parse(&words(&["--pid", "1", "--log", "/x", "1", "1"]))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("--"), "{e:#}");
        let e = parse(&words(&["--pid", "1", "--stdout", "1", "--", "p", "e"]))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("--stdout 1"), "{e:#}");
        let e = parse(&words(&[
            "--pid", "1", "--stdout", "987654", "--", "p", "e",
        ]))
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("not an open descriptor"), "{e:#}");
    }
}
