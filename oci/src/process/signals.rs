//! The signal state a container's command starts with: every disposition at its default and
//! nothing blocked, whatever pier itself inherited.
//!
//! An ignored disposition (`SIG_IGN`) and the signal mask survive both `fork` and `execve`.
//! pier has no daemon: it runs from the user's shell, and a shell starts its background jobs
//! (`pier run -d ... &` in a script, a CI runner, `nohup`) with SIGINT and SIGQUIT (or SIGHUP)
//! ignored. A container started from there inherited that, and a POSIX shell cannot even trap
//! a signal that was ignored on entry, so a container's `trap ... INT` silently did nothing
//! and `pier attach`'s Ctrl-C never stopped it. Docker's containers start from a daemon with a
//! clean state; crun resets every disposition the same way.

use anyhow::{Context, Result};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};

/// Sets every signal's disposition to the default (but SIGKILL and SIGSTOP, which cannot be
/// changed) and unblocks every signal. Called in the container's process before the command
/// (and before `--init`'s fork, so the reaper sees its children's SIGCHLD too).
pub(crate) fn reset_to_defaults() -> Result<()> {
    // The kernel's `struct sigaction` (handler, flags, restorer, mask; 32 bytes on x86-64
    // and arm64), all zero: SIG_DFL, no flags, nothing blocked during a handler. The raw
    // system call, because glibc's `sigaction` refuses the two real-time signals it keeps
    // for itself (32 and 33), and those can arrive ignored too.
    let default_action = [0u64; 4];
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads `default_action` (a valid, large enough buffer) and
        // writes nothing (no old-action pointer); the sigset size is the kernel's, 8 bytes.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default_action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .context("clearing the signal mask")
}
