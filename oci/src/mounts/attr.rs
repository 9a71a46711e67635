//! Making a whole mount tree read-only (or nosuid, nodev, noexec): the mount at a path *and
//! every mount below it*.
//!
//! A recursive bind mount (`rbind`, what `-v /src:/dst` makes) copies the mounts found under
//! `/src` too. Remounting `/dst` read-only (`MS_REMOUNT|MS_BIND|MS_RDONLY`) changes only the
//! top mount: a tmpfs or disk mounted at `/src/sub` stays writable at `/dst/sub`, and a write
//! there lands on the host. [`apply`] closes that:
//! - with `mount_setattr(2)` and `AT_RECURSIVE` (Linux 5.12+), one atomic call for the tree;
//! - on older kernels, by walking `/proc/self/mountinfo` and remounting each mount at or
//!   below the path. That fallback sees the tree as it is at that moment (a mount that
//!   propagates in later is not covered; pier's volumes are `rprivate`, so none does).
//!
//! OCI spells the recursive variants `rro`, `rrw`, `rnosuid`, `rnosymfollow`, `rnoatime`...
//! ([`crate::mounts::options`], applied by [`apply_fd`]). Plain `ro` on an `rbind` mount stays
//! the top mount's only, as the runtime spec says; pier's `-v SRC:DST:ro` asks for `rro` too,
//! as Docker does since 25.0.

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The flags [`apply`] can set on a mount tree.
pub(crate) const RECURSIVE_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// How [`apply`] did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// One `mount_setattr(2)` call with `AT_RECURSIVE`.
    MountSetattr,
    /// The fallback: this many mounts remounted one by one.
    Remounted(usize),
}

/// Sets `flags` (a subset of [`RECURSIVE_FLAGS`]) on the mount at `path` and on every mount
/// below it. `path` must be a mount point and contain no symlink (the caller has resolved
/// it, e.g. with [`crate::rootfs::secure_join`]).
pub(crate) fn apply(path: &Path, flags: MsFlags) -> Result<Method> {
    if !RECURSIVE_FLAGS.contains(flags) {
        bail!("mount flags {flags:?} cannot be applied recursively");
    }
    if flags.is_empty() {
        return Ok(Method::MountSetattr);
    }
    match mount_setattr_recursive(path, flags) {
        Ok(()) => Ok(Method::MountSetattr),
        // ENOSYS: kernel before 5.12. EPERM/EACCES are real refusals: report them.
        Err(nix::errno::Errno::ENOSYS) => remount_each(path, flags).map(Method::Remounted),
        Err(e) => Err(e).with_context(|| {
            format!(
                "mount_setattr(2) AT_RECURSIVE {flags:?} on {}",
                path.display()
            )
        }),
    }
}

/// Recursive mount attributes as OCI's `r*` options name them (`rro`, `rrw`, `rnosymfollow`,
/// `rnoatime`...): `MOUNT_ATTR_*` bits to set and to clear on a mount and every mount below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecursiveAttr {
    /// `attr_set` of `mount_setattr(2)`.
    pub set: u64,
    /// `attr_clr` of `mount_setattr(2)`.
    pub clr: u64,
}

impl RecursiveAttr {
    /// The attributes for `flags` (a subset of [`RECURSIVE_FLAGS`]), all set.
    pub(crate) fn from_flags(flags: MsFlags) -> RecursiveAttr {
        RecursiveAttr {
            set: mount_attr_bits(flags),
            clr: 0,
        }
    }

    /// Whether there is nothing to change.
    pub(crate) fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }

    /// The same as `mount(2)` flags, if only [`RECURSIVE_FLAGS`] are set and nothing is
    /// cleared (what the remount fallback can do).
    fn as_flags(&self) -> Option<MsFlags> {
        let flags = [
            (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        ]
        .iter()
        .filter(|(_, bit)| self.set & bit != 0)
        .fold(MsFlags::empty(), |acc, (f, _)| acc | *f);
        (self.clr == 0 && mount_attr_bits(flags) == self.set).then_some(flags)
    }
}

/// Changes `attr` on the mount `fd` refers to (opened after mounting) and on every mount
/// below it: one `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE)`. On a kernel without
/// it (before 5.12), setting ro/nosuid/nodev/noexec falls back to remounting each mount; any
/// other change is refused by name rather than skipped.
pub(crate) fn apply_fd(fd: BorrowedFd<'_>, attr: RecursiveAttr, shown: &Path) -> Result<()> {
    if attr.is_empty() {
        return Ok(());
    }
    let how = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clr,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: `empty` and `how` outlive the call; the kernel reads `size_of::<mount_attr>()`
    // bytes of `how` and acts on the mount of our open descriptor `fd`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &how as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    match nix::errno::Errno::result(rc) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::ENOSYS) => match attr.as_flags() {
            Some(flags) => remount_each(&crate::mounts::target::fd_path(fd), flags).map(drop),
            None => bail!(
                "recursive mount options on {} need mount_setattr(2) (Linux 5.12+)",
                shown.display()
            ),
        },
        Err(e) => Err(e).with_context(|| {
            format!(
                "mount_setattr(2) AT_RECURSIVE set {:#x} clear {:#x} on {}",
                attr.set,
                attr.clr,
                shown.display()
            )
        }),
    }
}

/// Whether this kernel has `mount_setattr(2)` (Linux 5.12+), so read-only binds are made
/// recursive in one call rather than by remounting each submount: asked of a path that does
/// not exist, the kernel answers ENOENT if it knows the call and ENOSYS if not.
pub(crate) fn kernel_has_mount_setattr() -> bool {
    mount_setattr_recursive(Path::new("/.pier-probe-no-such-path"), MsFlags::MS_RDONLY)
        != Err(nix::errno::Errno::ENOSYS)
}

/// The `MOUNT_ATTR_*` bits for `flags`.
fn mount_attr_bits(flags: MsFlags) -> u64 {
    [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ]
    .iter()
    .filter(|(f, _)| flags.contains(*f))
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// `mount_setattr(AT_FDCWD, path, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW, {attr_set: flags})`.
/// Public for tests that need the fallback's result to compare against.
pub(crate) fn mount_setattr_recursive(path: &Path, flags: MsFlags) -> nix::Result<()> {
    let c_path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    let attr = libc::mount_attr {
        attr_set: mount_attr_bits(flags),
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `c_path` and `attr` outlive the call; the kernel reads `size_of::<mount_attr>()`
    // bytes of `attr` (its VER0 layout) and nothing else of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            (libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

/// The fallback for kernels without `mount_setattr(2)`: remounts every mount at or below
/// `path` (from `/proc/self/mountinfo`, parents first) with `flags` added to its own. Returns
/// how many mounts it changed.
pub(crate) fn remount_each(path: &Path, flags: MsFlags) -> Result<usize> {
    // mountinfo lists absolute paths.
    let path =
        std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
    let mounts = mounts_at_or_below(&path)?;
    if mounts.is_empty() {
        bail!("{} is not a mount point", path.display());
    }
    for m in &mounts {
        // A bind remount replaces the per-mount flags: keep the ones the mount has.
        let keep = current_flags(m)?;
        mount(
            None::<&str>,
            m,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | keep | flags,
            None::<&str>,
        )
        .with_context(|| format!("remounting {} with {flags:?}", m.display()))?;
    }
    Ok(mounts.len())
}

/// The per-mount flags of the mount at `path` (ro, nosuid, nodev, noexec, the atime mode), as
/// `mount(2)` flags: what a bind remount must repeat to keep them (in a user namespace, to not
/// be refused for dropping a locked one).
pub(crate) fn current_flags(path: &Path) -> Result<MsFlags> {
    let current = statvfs(path).with_context(|| format!("statvfs {}", path.display()))?;
    Ok([
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .iter()
    .filter(|(st, _)| current.flags().contains(*st))
    .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

/// Mount points at `path` or below it, in `/proc/self/mountinfo` order (a mount appears after
/// the one it sits on).
fn mounts_at_or_below(path: &Path) -> Result<Vec<PathBuf>> {
    let infos = procfs::process::Process::myself()
        .and_then(|me| me.mountinfo())
        .context("reading /proc/self/mountinfo")?;
    let mut out: Vec<PathBuf> = Vec::new();
    for info in infos {
        let point = unescape(&info.mount_point.to_string_lossy());
        if point.starts_with(path) && !out.contains(&point) {
            out.push(point);
        }
    }
    Ok(out)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
pub(crate) fn unescape(text: &str) -> PathBuf {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/a\040b\134c"), PathBuf::from(r"/a b\c"));
        assert_eq!(unescape(r"/plain\0"), PathBuf::from(r"/plain\0"));
    }

    /// In a forked child with its own mount namespace: `src` with a tmpfs at `src/sub`, bound
    /// recursively at `dst`, then `make_ro(dst)`. Exits 0 if `dst/sub` refuses writes while
    /// `src/sub` still takes them.
    fn submount_made_read_only(make_ro: fn(&Path) -> Result<Method>) -> WaitStatus {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        // SAFETY: the child makes plain syscalls and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = (|| -> Result<i32> {
                    crate::namespaces::enter_private_mount_namespace()?;
                    let sub = src.join("sub");
                    mount(
                        Some("tmpfs"),
                        &sub,
                        Some("tmpfs"),
                        MsFlags::empty(),
                        None::<&str>,
                    )?;
                    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                    mount(Some(&src), &dst, None::<&str>, bind, None::<&str>)?;
                    make_ro(&dst)?;
                    let below = std::fs::write(dst.join("sub/f"), "x");
                    let top = std::fs::write(dst.join("f"), "x");
                    let source = std::fs::write(src.join("sub/f"), "x");
                    let erofs = |r: &std::io::Result<()>| {
                        r.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EROFS)
                    };
                    Ok(match (erofs(&below), erofs(&top), source.is_ok()) {
                        (true, true, true) => 0,
                        (false, _, _) => 10,
                        (_, false, _) => 11,
                        (_, _, false) => 12,
                    })
                })()
                .unwrap_or_else(|e| {
                    eprintln!("{e:#}");
                    20
                });
                // SAFETY: ends the forked child without unwinding into the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).unwrap(),
        }
    }

    #[test]
    fn mount_setattr_makes_submounts_read_only() {
        let status = submount_made_read_only(|p| {
            mount_setattr_recursive(p, MsFlags::MS_RDONLY)?;
            Ok(Method::MountSetattr)
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn remount_fallback_makes_submounts_read_only() {
        let status =
            submount_made_read_only(|p| remount_each(p, MsFlags::MS_RDONLY).map(Method::Remounted));
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn only_recursive_flags_are_accepted() {
        assert!(apply(Path::new("/nonexistent"), MsFlags::MS_BIND).is_err());
    }
}
