//! The container's session keyring.
//!
//! The kernel's keyrings (keyctl(2)) are not namespaced: a process inherits its parent's
//! session keyring, so without a keyring of its own a container would share the keys (Kerberos
//! tickets, filesystem encryption keys) of whoever started it. Like runc, pier gives each
//! container a new, empty session keyring named `_ses.<id>` unless told not to
//! (`--no-new-keyring`).

use anyhow::Result;
use std::ffi::CString;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
/// Possessor: all; user: view, read, link, setattr... (runc's 0x3f3f0000 less the "other"
/// and "group" bits): only the container's own processes can use it.
const KEYRING_PERMISSIONS: libc::c_long = 0x3f3f_0000;

/// Joins a new anonymous session keyring called `name`. Kernels built without keyrings
/// (ENOSYS) and seccomp profiles that forbid keyctl (EPERM in a nested container) are not
/// errors: there is then no keyring to share either.
pub(crate) fn join_new_session(name: &str) -> Result<()> {
    let c = CString::new(name)?;
    // SAFETY: keyctl reads a NUL-terminated name; no memory is written.
    let id = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if id < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EACCES) => Ok(()),
            _ => Err(anyhow::Error::from(err).context("keyctl(KEYCTL_JOIN_SESSION_KEYRING)")),
        };
    }
    // SAFETY: keyctl with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            KEY_SPEC_SESSION_KEYRING,
            KEYRING_PERMISSIONS,
        )
    };
    if r < 0 {
        return Err(anyhow::Error::from(std::io::Error::last_os_error())
            .context("keyctl(KEYCTL_SETPERM) on the new session keyring"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_gets_its_own_session_keyring() {
        // In a child, so this test process keeps its keyring.
        // SAFETY: the child only calls async-signal-safe code paths before _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let ok = join_new_session("_ses.piertest").is_ok()
                    && std::fs::read_to_string("/proc/keys")
                        .map(|k| k.contains("_ses.piertest"))
                        .unwrap_or(true);
                // SAFETY: leave the forked child without running the test harness's code.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
