//! Clean-up on Ctrl-C (and SIGTERM, SIGHUP): what the bench starts outside its own process
//! (a private dockerd and its bridge, pier's bench network, podman's storage mount) registers
//! a clean-up here, and a signal runs every registered clean-up, newest first, before the
//! process exits with 128 + the signal's number. A clean-up that already ran on the normal path unregisters
//! (its [`Registration`] is dropped), so nothing runs twice.
//!
//! The signals are caught by `signal-hook`'s iterator on a thread of its own: the clean-ups
//! are ordinary code (they run commands, take locks), which a signal handler must not.
//! A second signal during the clean-up exits at once.

use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

type Cleanup = Box<dyn FnOnce() + Send>;

/// Registered clean-ups: (id, what, action).
static CLEANUPS: Mutex<Vec<(u64, String, Cleanup)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static INSTALL: Once = Once::new();
/// Set when a signal arrived: the clean-up runs and the process is about to exit.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Blocks the calling thread for good once the bench was interrupted: the signal thread is
/// cleaning up and ends the process (with 128 + the signal). The main thread calls it before
/// each launch and before it would write a report or exit by itself, so that it neither
/// starts anything new nor exits first with another status.
pub fn hold_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// A registered clean-up; dropping it unregisters the clean-up without running it.
#[derive(Debug)]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        let mut list = CLEANUPS.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|(id, _, _)| *id != self.0);
    }
}

/// Registers `cleanup` (named `what` in the message printed when it runs) to run if the
/// bench is interrupted before the returned [`Registration`] is dropped.
pub fn on_interrupt(what: &str, cleanup: impl FnOnce() + Send + 'static) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()).push((
        id,
        what.to_string(),
        Box::new(cleanup),
    ));
    Registration(id)
}

/// Catches SIGINT, SIGTERM and SIGHUP for the rest of the process's life (once; later calls
/// do nothing): on the first, runs the registered clean-ups and exits with 128 + the signal.
pub fn install() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut result = Ok(());
    INSTALL.call_once(|| {
        result = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .context("installing the bench's Ctrl-C handler")
            .and_then(|mut signals| {
                std::thread::Builder::new()
                    .name("bench-interrupt".into())
                    .spawn(move || {
                        if let Some(sig) = signals.forever().next() {
                            INTERRUPTED.store(true, Ordering::SeqCst);
                            // A second signal while cleaning up: leave at once.
                            std::thread::spawn(move || {
                                if signals.forever().next().is_some() {
                                    std::process::exit(128 + sig);
                                }
                            });
                            eprintln!("\nbench: interrupted (signal {sig}); cleaning up");
                            run_all();
                            std::process::exit(128 + sig);
                        }
                    })
                    .map(|_| ())
                    .context("starting the bench's signal thread")
            });
    });
    result
}

/// Runs and unregisters every clean-up, newest first.
pub fn run_all() {
    let taken: Vec<(u64, String, Cleanup)> = {
        let mut list = CLEANUPS.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *list)
    };
    for (_, what, cleanup) in taken.into_iter().rev() {
        eprintln!("bench: removing {what}");
        cleanup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn registered_cleanups_run_newest_first_and_dropped_ones_never() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let push = |s: &'static str| {
            let log = log.clone();
            move || log.lock().unwrap().push(s)
        };
        let _a = on_interrupt("a", push("a"));
        let b = on_interrupt("b", push("b"));
        let _c = on_interrupt("c", push("c"));
        drop(b);
        run_all();
        // Other tests of this binary may register their own: only ours are looked at.
        let seen: Vec<&str> = log.lock().unwrap().clone();
        assert_eq!(seen, vec!["c", "a"]);
        run_all();
        assert_eq!(log.lock().unwrap().len(), 2, "a clean-up runs once");
    }
}
