//! Keeping pier's processes in a container's namespaces out of the container's reach.
//!
//! A process that is not "dumpable" has its `/proc/<pid>/` files owned by root and refuses
//! ptrace-mode access (`/proc/<pid>/exe`, `mem`, `fd/`, `environ`, ptrace itself) to anyone
//! without CAP_SYS_PTRACE. Between entering the container's namespaces and `execve`, pier's
//! process holds host descriptors (the exec FIFO, sync pipes) and runs the host's pier binary;
//! the container's processes, root too but without CAP_SYS_PTRACE, must not touch it. The
//! flag belongs to the memory map: children of `fork`/`clone` inherit it, and `execve` resets
//! it for the container's command, as runc's init does.

use anyhow::{Context, Result};

/// Makes the calling process non-dumpable until dropped (the flag is then restored). Take it
/// before `clone`/`fork` into the container's namespaces; the child keeps the flag until its
/// `execve`, the parent gets its old value back.
pub(crate) struct NonDumpable {
    previous: bool,
}

impl NonDumpable {
    /// Clears the dumpable flag of the calling process.
    pub(crate) fn enter() -> Result<NonDumpable> {
        let previous = nix::sys::prctl::get_dumpable().context("prctl(PR_GET_DUMPABLE)")?;
        nix::sys::prctl::set_dumpable(false).context("prctl(PR_SET_DUMPABLE, 0)")?;
        Ok(NonDumpable { previous })
    }
}

impl Drop for NonDumpable {
    fn drop(&mut self) {
        // Best effort: the parent stays on the host, where being non-dumpable only stops
        // core dumps.
        let _ = nix::sys::prctl::set_dumpable(self.previous);
    }
}
