//! Bind-mounting a host file over a path inside a running container's mount namespace.
//!
//! The engine uses it when a running container's `/etc/hosts` must stop being a file shared
//! with the other containers of its network (it joins or leaves a network): the new, private
//! file is stacked over the old mount, as `machinectl bind` does.
//!
//! How: `open_tree(OPEN_TREE_CLONE)` makes a detached copy of the bind mount in pier's own
//! namespace; a forked child (single-threaded, as `setns` into a mount namespace requires)
//! enters the container's mount namespace, changes its root to the container's root
//! (`/proc/<pid>/root`, opened before), and attaches the copy with `move_mount`. The target
//! is resolved inside the container's root, in its own namespace: whatever its symlinks say,
//! the mount lands in the container's view and nowhere else. A trailing symlink is not
//! followed (no `MOVE_MOUNT_T_SYMLINKS`).

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, read, ForkResult};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `open_tree` flag: a detached copy of the mount (include/uapi/linux/mount.h).
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `move_mount` flag: the source is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// The steps of the child, for the error message.
const STEPS: [&str; 4] = [
    "setns into the mount namespace",
    "fchdir to the container's root",
    "chroot to the container's root",
    "move_mount over the target",
];

/// Bind-mounts the host file `source` over `target` (an absolute path in the container) in
/// the mount namespace of the process `pid`.
pub fn bind_file(pid: i32, source: &Path, target: &str) -> Result<()> {
    let src = CString::new(source.as_os_str().as_bytes())
        .with_context(|| format!("path {} has a NUL byte", source.display()))?;
    let dest = CString::new(target).with_context(|| format!("path {target:?} has a NUL byte"))?;
    // SAFETY: open_tree with a valid NUL-terminated path; it returns a new descriptor or -1.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("open_tree of {}", source.display()));
    }
    // SAFETY: `raw` is a descriptor open_tree just returned, owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))
        .with_context(|| format!("opening the mount namespace of process {pid}"))?;
    let root = File::open(format!("/proc/{pid}/root"))
        .with_context(|| format!("opening the root of process {pid}"))?;
    let (rx, tx) = pipe2(OFlag::O_CLOEXEC).context("pipe2 for the mount child")?;
    let (tree_fd, ns_fd, root_fd, tx_fd) = (
        tree.as_raw_fd(),
        ns.as_raw_fd(),
        root.as_raw_fd(),
        tx.as_raw_fd(),
    );
    // SAFETY: the child makes raw system calls only (no allocation, no lock) before _exit.
    match unsafe { fork() }.context("fork for the mount child")? {
        ForkResult::Child => {
            // SAFETY: each call gets descriptors and NUL-terminated strings prepared above.
            let step = unsafe {
                if libc::setns(ns_fd, libc::CLONE_NEWNS) != 0 {
                    0
                } else if libc::fchdir(root_fd) != 0 {
                    1
                } else if libc::chroot(c".".as_ptr()) != 0 {
                    2
                } else if libc::syscall(
                    libc::SYS_move_mount,
                    tree_fd,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    dest.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
                {
                    3
                } else {
                    libc::_exit(0)
                }
            };
            let report: [i32; 2] = [
                step,
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ];
            // SAFETY: writes 8 bytes from a live array to the pipe, then leaves the child
            // without running the parent's destructors.
            unsafe {
                libc::write(tx_fd, report.as_ptr().cast(), 8);
                libc::_exit(1)
            }
        }
        ForkResult::Parent { child } => {
            drop(tx);
            let status = waitpid(child, None).context("waiting for the mount child")?;
            if status == WaitStatus::Exited(child, 0) {
                return Ok(());
            }
            let mut buf = [0u8; 8];
            let n = read(&rx, &mut buf).unwrap_or(0);
            if n == 8 {
                let step = i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let what = STEPS.get(step as usize).copied().unwrap_or("unknown step");
                bail!(
                    "mounting {} over {target} in process {pid}: {what}: {}",
                    source.display(),
                    std::io::Error::from_raw_os_error(errno)
                );
            }
            bail!(
                "mounting {} over {target} in process {pid}: the child ended with {status:?}",
                source.display()
            )
        }
    }
}
