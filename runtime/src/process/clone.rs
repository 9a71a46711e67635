//! Creating the container's first process with `clone(2)`.

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Which side of the clone we are on.
pub enum Forked {
    /// In the parent: the child's PID (as seen from the parent's PID namespace).
    Parent(Pid),
    /// In the child, inside its new namespaces.
    Child,
}

/// Forks into new namespaces (`flags`), like `fork(2)` but with `CLONE_NEW*` flags.
///
/// The caller must be single-threaded: the child gets a copy of only the calling thread, so a
/// lock held by another thread (the allocator's, stdio's) would stay locked forever in it.
pub fn clone_into(flags: CloneFlags) -> Result<Forked> {
    let raw = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: with a null stack pointer clone(2) behaves like fork(2): the child runs on a
    // copy-on-write copy of the caller's stack and memory. The caller is single-threaded (see
    // above), so no lock can be held by a thread that does not exist in the child.
    let ret = unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(std::io::Error::last_os_error())
            .with_context(|| format!("clone({flags:?}) to create the container's init")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}
