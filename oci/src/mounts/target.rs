//! Mount targets inside a root pier does not trust (an image's rootfs, a bundle's `rootfs/`).
//!
//! A mount destination named by a path string is resolved again by the kernel at `mount(2)`
//! time: an image symlink (or one a second container swaps in through a shared volume meanwhile,
//! CVE-2021-30465) would make pier mount over a host directory. So a target is opened *once*,
//! inside the root ([`crate::security::in_root::open_in_root`]: `openat2(RESOLVE_IN_ROOT)`),
//! and every mount call is made on that descriptor through its `/proc/self/fd/N` path, which the
//! kernel follows to exactly the opened file, whatever the tree looks like by then (runc does
//! the same). Missing components are made with `mkdirat`/`mknodat` relative to the directory
//! descriptors of the walk, never by joining paths on the host.

use crate::security::in_root::open_in_root;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, mkdirat, mknodat, Mode, SFlag};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// What a mount point must be: a directory, or a file (bind mounts of a file or device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory (every filesystem mount, bind mounts of a directory).
    Dir,
    /// Anything but a directory (bind mounts of a file, a device node, the console).
    File,
}

/// An opened mount target: mount onto [`Target::proc_path`].
#[derive(Debug)]
pub(crate) struct Target {
    fd: OwnedFd,
}

impl Target {
    /// `/proc/self/fd/N`: the path `mount(2)` follows to the opened file and nothing else.
    pub(crate) fn proc_path(&self) -> PathBuf {
        fd_path(self.fd.as_fd())
    }

    /// The descriptor (an `O_PATH` one).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `/proc/self/fd/N` for `fd`.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` (as the container names it) inside `root`, as the container will see it;
/// `Ok(None)` if it does not exist.
pub(crate) fn open_existing(root: &Path, path: &Path) -> Result<Option<Target>> {
    match open_in_root(root, path, OFlag::O_PATH | OFlag::O_CLOEXEC) {
        Ok(fd) => Ok(Some(Target { fd })),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("opening {} inside {}", path.display(), root.display()))
        }
    }
}

/// Whether `path` inside `root` exists and is itself a symlink or anything but a directory
/// (its last component not followed): `proc` and `sysfs` must go on an ordinary directory.
pub(crate) fn is_ordinary_dir_or_missing(root: &Path, path: &Path) -> Result<bool> {
    match open_in_root(
        root,
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
    ) {
        Ok(fd) => {
            let st = fstat(&fd).with_context(|| format!("fstat {}", path.display()))?;
            Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR)
        }
        Err(Errno::ENOENT) => Ok(true),
        Err(e) => {
            Err(e).with_context(|| format!("opening {} inside {}", path.display(), root.display()))
        }
    }
}

/// Opens the mount point `path` inside `root`, creating what is missing of it (directories,
/// and for [`Kind::File`] an empty regular file), and checks it is of `kind`.
pub(crate) fn ensure(root: &Path, path: &Path, kind: Kind) -> Result<Target> {
    let target = match open_existing(root, path)? {
        Some(t) => t,
        None => {
            create(root, path, kind)?;
            open_existing(root, path)?.with_context(|| {
                format!(
                    "mount point {} vanished inside {} as it was created",
                    path.display(),
                    root.display()
                )
            })?
        }
    };
    let st = fstat(target.fd()).with_context(|| format!("fstat {}", path.display()))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
    match (kind, is_dir) {
        (Kind::Dir, false) => bail!("mount point {} is not a directory", path.display()),
        (Kind::File, true) => bail!(
            "mount point {} is a directory, the source is not",
            path.display()
        ),
        _ => Ok(target),
    }
}

/// Makes the missing components of `path` inside `root`. The path is first resolved inside
/// the root ([`crate::rootfs::secure_join`], so a dangling link inside the image is created
/// where it points, as the container would see it), then walked from a descriptor of the root
/// with `O_NOFOLLOW` at every step: a link swapped in meanwhile stops the walk.
fn create(root: &Path, path: &Path, kind: Kind) -> Result<()> {
    let resolved = crate::rootfs::secure_join(root, path)?;
    let rel = resolved.strip_prefix(root).unwrap_or(&resolved);
    let parts: Vec<_> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut dir = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening root {}", root.display()))?;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let what = || {
            format!(
                "creating mount point {} inside {}",
                path.display(),
                root.display()
            )
        };
        if last && kind == Kind::File {
            match mknodat(
                &dir,
                *part,
                SFlag::S_IFREG,
                Mode::from_bits_truncate(0o644),
                0,
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e).with_context(what),
            }
            break;
        }
        dir = mkdir_open(dir.as_fd(), Path::new(part)).with_context(what)?;
    }
    Ok(())
}

/// `mkdirat(dir, name)` (an existing one is fine), then opens it with `O_NOFOLLOW`: a
/// symlink there fails with ENOTDIR instead of being followed.
pub(crate) fn mkdir_open(dir: BorrowedFd<'_>, name: &Path) -> nix::Result<OwnedFd> {
    match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn missing_mount_points_are_made_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let host = dir.path().join("host");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&host).unwrap();
        // An absolute link the container sees as /host-dir; on the host it points out.
        symlink(&host, root.join("etc")).unwrap();
        let t = ensure(&root, Path::new("/etc/sub/dir"), Kind::Dir).unwrap();
        assert!(
            fs::read_dir(&host).unwrap().next().is_none(),
            "made on the host"
        );
        let inside = root.join(host.strip_prefix("/").unwrap()).join("sub/dir");
        assert!(inside.is_dir(), "{} not made", inside.display());
        assert_eq!(fs::read_link(t.proc_path()).unwrap(), inside);
        let f = ensure(&root, Path::new("/etc/file"), Kind::File).unwrap();
        assert!(
            fs::read_dir(&host).unwrap().next().is_none(),
            "made on the host"
        );
        assert!(fs::read_link(f.proc_path()).unwrap().starts_with(&root));
        assert!(ensure(&root, Path::new("/etc/file"), Kind::Dir).is_err());
    }

    #[test]
    fn proc_on_a_symlink_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("real")).unwrap();
        symlink("/real", dir.path().join("proc")).unwrap();
        assert!(!is_ordinary_dir_or_missing(dir.path(), Path::new("/proc")).unwrap());
        assert!(is_ordinary_dir_or_missing(dir.path(), Path::new("/real")).unwrap());
        assert!(is_ordinary_dir_or_missing(dir.path(), Path::new("/sys")).unwrap());
    }
}
