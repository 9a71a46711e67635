//! Creating the container's first process with `clone(2)`, or `clone3(2)` straight into its
//! cgroup.

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which side of the clone we are on.
pub(crate) enum Forked {
    /// In the parent: the child's PID (as seen from the parent's PID namespace), and whether
    /// it was born in the cgroup given to [`clone_into`].
    Parent { pid: Pid, placed: bool },
    /// In the child, inside its new namespaces.
    Child,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup `clone_args.cgroup` names.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` up to `cgroup` (`CLONE_ARGS_SIZE_VER2`, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks into new namespaces (`flags`), like `fork(2)` but with `CLONE_NEW*` flags.
///
/// With `cgroup` (a cgroup v2 directory), the child is born in it (`clone3` with
/// `CLONE_INTO_CGROUP`): no later write to `cgroup.procs`, and not one instruction of the child
/// runs outside its limits. If the kernel refuses that (older than 5.7, or any other reason),
/// a plain `clone` follows and [`Forked::Parent`] says `placed: false`.
///
/// The caller must be single-threaded: the child gets a copy of only the calling thread, so a
/// lock held by another thread (the allocator's, stdio's) would stay locked forever in it.
pub(crate) fn clone_into(flags: CloneFlags, cgroup: Option<BorrowedFd>) -> Result<Forked> {
    if let Some(dir) = cgroup {
        let args = CloneArgs {
            flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: as clone(2) below: no stack given (stack and stack_size 0), so the child
        // runs on a copy-on-write copy of the caller's stack, like fork(2); the kernel reads
        // `size_of::<CloneArgs>()` bytes of `args`, which lives until the call returns.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        match ret {
            0 => return Ok(Forked::Child),
            pid if pid > 0 => {
                return Ok(Forked::Parent {
                    pid: Pid::from_raw(pid as i32),
                    placed: true,
                })
            }
            // Not supported here: clone and place it afterwards.
            _ => {}
        }
    }
    let raw = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: with a null stack pointer clone(2) behaves like fork(2): the child runs on a
    // copy-on-write copy of the caller's stack and memory. The caller is single-threaded (see
    // above), so no lock can be held by a thread that does not exist in the child.
    let ret = unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(std::io::Error::last_os_error())
            .with_context(|| format!("clone({flags:?}) to create the container's init")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: Pid::from_raw(pid as i32),
            placed: false,
        }),
    }
}
