//! The detached container's monitor: the process that `pier run -d` and `pier start` leave
//! behind to watch the container (its log, attach point, health checks, exit record and
//! restart policy), pier's conmon or containerd-shim.
//!
//! `pier` forks it and the child executes pier's own binary again with the hidden first
//! argument [`ENTRY`] ([`main`]): a fresh program carries none of the forking command's heap
//! nor the pages of pier its start-up touched, and once the container runs it drops the
//! pages it no longer needs ([`super::working_set`]). An embedder of the engine whose program
//! has no such entry ([`serve_from_this_binary`] not called) gets a forked monitor instead.

use super::start::Attach;
use super::Engine;
use anyhow::{bail, Context, Result};
use pier_oci::process::sync;
use pier_oci::security::sealed_exe;
use pier_oci::Error as OciError;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

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
/// returns the process's exit code.
pub fn main(args: &[OsString]) -> i32 {
    match parse(args) {
        Ok((root, id, report)) => {
            let result = sealed_exe::reexec_sealed(&root)
                .and_then(|()| Engine::open(&root))
                .and_then(|engine| engine.monitor(&id, report));
            i32::from(result.is_err())
        }
        Err(e) => {
            eprintln!("pier: {e:#}");
            125
        }
    }
}

/// The words after [`ENTRY`]: `--root ROOT ID FD [-- WORDS...]` (the words of the command that
/// started the monitor, for `ps`).
fn parse(args: &[OsString]) -> Result<(PathBuf, String, OwnedFd)> {
    let words = args
        .iter()
        .position(|a| a == "--")
        .map_or(args, |end| &args[..end]);
    let [flag, root, id, fd] = words else {
        bail!("{ENTRY} takes --root ROOT ID FD (it is pier's own, not a command)");
    };
    if flag != "--root" {
        bail!(
            "{ENTRY} takes --root ROOT ID FD, not {}",
            flag.to_string_lossy()
        );
    }
    let id = id
        .to_str()
        .context("the container ID given to the monitor is not UTF-8")?
        .to_string();
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
    let report = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((PathBuf::from(root), id, report))
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
        self.apply_restart_policy(id, first)
    }
}
