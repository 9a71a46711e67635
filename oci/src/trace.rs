//! `PIER_TRACE=1`: how long each start-up phase takes, one line per phase on stderr
//! (`pier-trace: clone 0.21 ms`), to find where a container's start-up time goes.
//!
//! Unset (or `0`), a phase costs one load of a cached flag and no clock read. The container's
//! init traces its own phases too: it keeps a copy of pier's stderr (`keep_stderr`) before
//! its standard streams become the container's, closed at the command's `execve`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// Whether tracing is on, read from the environment once.
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Where trace lines go (pier's stderr, or the init's copy of it).
static OUT: AtomicI32 = AtomicI32::new(2);

/// The variable that turns tracing on.
pub(crate) const VARIABLE: &str = "PIER_TRACE";

/// With tracing on, the phase at whose start pier kills itself with SIGKILL: the crash tests
/// (`tests/crash_safety.rs`) use it to stop pier at each phase of a start and check that the
/// next command repairs what it left. Only read when tracing is on, so it costs nothing
/// otherwise; whoever can set a root process's environment can kill it anyway.
pub const KILL_AT_VARIABLE: &str = "PIER_TRACE_KILL_AT";

/// Whether `PIER_TRACE` is set to anything but empty or `0`.
pub(crate) fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        OFF => false,
        ON => true,
        _ => {
            let on = std::env::var_os(VARIABLE).is_some_and(|v| !v.is_empty() && v != "0");
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (comparable across `execve`, unlike `Instant`).
pub(crate) fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `t`, which is valid and writable.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) } != 0 {
        return 0;
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// One phase: reports its duration when dropped (also on an early return by `?`).
#[must_use = "a phase is timed until it is dropped"]
pub struct Phase {
    name: &'static str,
    /// 0 when tracing is off.
    start: u64,
}

impl Phase {
    /// Starts timing `name`.
    pub fn start(name: &'static str) -> Phase {
        if !enabled() {
            return Phase { name, start: 0 };
        }
        if std::env::var_os(KILL_AT_VARIABLE).is_some_and(|at| at == name) {
            // SAFETY: raise(2) sends a signal to this thread; SIGKILL ends the process here,
            // as a crash (or `kill -9`) at this point would.
            unsafe {
                libc::raise(libc::SIGKILL);
            }
        }
        Phase {
            name,
            start: now_ns(),
        }
    }

    /// Ends the phase here (the same as dropping it, easier to read).
    pub fn end(self) {}
}

impl Drop for Phase {
    fn drop(&mut self) {
        if self.start != 0 {
            report(self.name, now_ns().saturating_sub(self.start));
        }
    }
}

/// Writes one trace line: `pier-trace: <name> <ms> ms`.
pub(crate) fn report(name: &str, nanos: u64) {
    let line = format!("pier-trace: {name} {:.2} ms\n", nanos as f64 / 1e6);
    write_quietly(OUT.load(Ordering::Relaxed), line.as_bytes());
}

/// Writes `data` to `fd`, ignoring any failure: tracing must never change what pier does. A
/// reader that went away (`PIER_TRACE=1 pier run ... 2>&1 | head`) must not kill pier with
/// SIGPIPE in the middle of a start, leaving a half-made container: SIGPIPE is blocked around
/// the write, and the one it raised is taken back.
fn write_quietly(fd: RawFd, data: &[u8]) {
    // SAFETY: sigemptyset/sigaddset fill a local sigset_t; pthread_sigmask and sigpending only
    // read and write the given sets and this thread's mask, which is restored before return;
    // write(2) only reads `data`; sigtimedwait with a zero timeout takes back at most the
    // SIGPIPE this write raised (not one that was pending before), without blocking.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        if written < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPIPE)
            && !was_pending
        {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// In the container's init, before its standard streams are replaced: keep a close-on-exec
/// copy of pier's stderr for the trace lines. Does nothing when tracing is off.
pub(crate) fn keep_stderr() {
    if !enabled() {
        return;
    }
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor (>= 3) for stderr; nothing else changes.
    let copy: RawFd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    if copy >= 0 {
        OUT.store(copy, Ordering::Relaxed);
    }
}
