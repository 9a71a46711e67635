//! Ctrl-C during a build: stop cleanly instead of dying half-way.
//!
//! SIGINT/SIGTERM set a flag the builder checks between steps. During a `RUN` step they
//! must also stop the command: forwarding the signal to the container's init would pass it
//! to the shell, which waits for its foreground child anyway. So the handler kills the
//! container's init with SIGKILL (ending its whole PID namespace), the step fails, and the
//! builder cleans up. The RUN container is attached without signal forwarding, so no
//! signalfd competes with this handler for the signal. A parked helper thread keeps a
//! thread with the signals unblocked whatever the main thread's mask.

use anyhow::{Context, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static RUNNING_INIT: AtomicI32 = AtomicI32::new(0);
static HELPER: Once = Once::new();

extern "C" fn on_signal(_: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    let pid = RUNNING_INIT.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; the PID is a container init we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Installs the handlers (once per process) and starts the helper thread.
pub fn install() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches atomics and calls kill(2), both async-signal-safe.
        unsafe { sigaction(sig, &action) }.with_context(|| format!("sigaction({sig})"))?;
    }
    HELPER.call_once(|| {
        // The thread starts with the current (unblocked) mask and just sleeps. The builder
        // forks RUN containers with a raw clone(2), which skips glibc's fork handlers: had the
        // new thread still been starting (allocating) at that moment, the child would inherit
        // a locked allocator and hang forever at its first allocation. So wait until the
        // thread is parked, past every allocation of its start-up.
        let ready = std::sync::Arc::new(std::sync::Barrier::new(2));
        let parked = ready.clone();
        let spawned = std::thread::Builder::new()
            .name("pier-build-signals".into())
            .spawn(move || {
                parked.wait();
                loop {
                    std::thread::park();
                }
            });
        if spawned.is_ok() {
            ready.wait();
        }
    });
    Ok(())
}

/// Whether the user asked the build to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Records the init PID of the running `RUN` container (0: none). If the user already
/// asked to stop (the signal came before the container was known), it is killed now.
pub fn set_running(pid: i32) {
    RUNNING_INIT.store(pid, Ordering::SeqCst);
    if pid > 0 && requested() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
