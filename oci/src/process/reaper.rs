//! pier's own PID 1 (`pier run --init`).
//!
//! The first process of a PID namespace has two duties most programs do not expect: it must
//! reap orphaned children (or they stay zombies), and the kernel does not deliver it signals it
//! has no handler for (so `docker stop` of a plain `sleep` waits for the timeout). This loop does
//! both, like tini: it blocks all signals, waits for them synchronously, reaps on `SIGCHLD` and
//! forwards everything else to the command; when the command exits, PID 1 exits with its status
//! (which ends the namespace and every process left in it).

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Blocks every signal in the calling thread (the command's process unblocks them again
/// before `execve`, since the mask survives exec).
pub(crate) fn block_all_signals() {
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        None,
    );
}

/// Runs the reaper loop for `child` and exits the process with the child's status.
pub(crate) fn run(child: Pid) -> ! {
    let all = SigSet::all();
    // The command may be gone already; its SIGCHLD is then pending and `wait` returns it at
    // once, but reaping first costs nothing and does not depend on that.
    if let Some(code) = reap(child) {
        std::process::exit(code);
    }
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig == Signal::SIGCHLD {
            if let Some(code) = reap(child) {
                std::process::exit(code);
            }
        } else {
            // Forward to the command; it may have exited already (ESRCH), which is fine.
            let _ = kill(child, sig);
        }
    }
}

/// Reaps every exited child; returns the exit code to use when `child` itself has exited.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => continue,
        }
    }
}
