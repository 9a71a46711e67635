//! Reading a file of a container's root filesystem from the host, with its symlinks resolved
//! the way the container would see them.
//!
//! pier reads some of an image's files itself (`/etc/passwd` and `/etc/group` for `-u NAME`).
//! A plain `open(rootfs + "/etc/passwd")` follows the image's symlinks on the host: an image
//! whose `/etc/passwd` links to `/etc/shadow`, or to anything else of the host, would make pier
//! read the host's file. [`read_to_string`] instead resolves every component inside the root:
//! `openat2(2)` with `RESOLVE_IN_ROOT` (Linux 5.6+: absolute links and `..` stop at the root,
//! atomically), else [`crate::rootfs::secure_join`] component by component, then an open that
//! follows no further link. [`RootDir`] does the same for every other operation pier makes
//! on such a tree (create, chmod, chown, remove, list...). Only regular files are read (a FIFO would block pier, a device
//! such as `/dev/zero` in a running container would never end), and at most `MAX_LEN` bytes.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

mod root_dir;
pub use root_dir::{chmod_fd, list_dir, Follow, RootDir};

/// The largest file pier reads from an image (`/etc/passwd` is a few KiB; a container must not
/// make pier allocate without bound).
pub(crate) const MAX_LEN: u64 = 16 << 20;

/// Flags for opening the file itself: never block on a FIFO, never become its terminal.
fn open_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY
}

/// Opens `path` (as the container names it: `/etc/passwd`) inside `root`. `Ok(None)` if it
/// does not exist there. `root` may be an image's rootfs or a running container's
/// `/proc/<pid>/root`.
pub(crate) fn open_file(root: &Path, path: &Path) -> Result<Option<File>> {
    found(open_in_root(root, path, open_flags()), root, path)
}

/// Opens `path` inside `root` with `flags`, every symlink resolved inside `root` (as the
/// container would); with `O_NOFOLLOW` the last component is not followed (with `O_PATH`,
/// a final symlink is opened itself). The kernel's error as it is: `ENOENT`, `ELOOP`...
pub fn open_in_root(root: &Path, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let dir = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(&dir, path, how) {
        // No openat2 (before Linux 5.6, or a seccomp filter refusing it): resolve by hand.
        Err(Errno::ENOSYS) | Err(Errno::EPERM) => open_by_components(root, path, flags),
        other => other,
    }
}

/// An open's outcome as "the file", "no such file" or an error naming it.
fn found(opened: nix::Result<OwnedFd>, root: &Path, path: &Path) -> Result<Option<File>> {
    match opened {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("opening {} inside {}", path.display(), root.display()))
        }
    }
}

/// The fallback: every symlink resolved inside `root` by [`crate::rootfs::secure_join`], then
/// opened with `O_NOFOLLOW`, so the last component cannot be a link swapped in meanwhile.
fn open_by_components(root: &Path, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) if flags.contains(OFlag::O_NOFOLLOW) => (p, Some(n)),
        _ => (path, None),
    };
    let mut host = crate::rootfs::secure_join(root, parent).map_err(|_| Errno::ELOOP)?;
    if let Some(n) = name {
        host.push(n);
    }
    open(
        &host,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Reads `path` inside `root` as text; `Ok(None)` if it does not exist. Fails on anything but
/// a regular file of at most `MAX_LEN` bytes, naming the file.
pub fn read_to_string(root: &Path, path: &Path) -> Result<Option<String>> {
    match open_file(root, path)? {
        Some(file) => read_regular(file, root, path).map(Some),
        None => Ok(None),
    }
}

/// Reads an opened file, refusing anything but a regular file of at most [`MAX_LEN`] bytes.
fn read_regular(file: File, root: &Path, path: &Path) -> Result<String> {
    let what = || format!("{} inside {}", path.display(), root.display());
    let meta = file
        .metadata()
        .with_context(|| format!("fstat {}", what()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", what());
    }
    let mut text = String::new();
    file.take(MAX_LEN + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", what()))?;
    if text.len() as u64 > MAX_LEN {
        bail!("{} is larger than {MAX_LEN} bytes", what());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A root with `etc/real` and links to it; a secret outside the root.
    fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/real"), "inside\n").unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "host secret\n").unwrap();
        (dir, root, secret)
    }

    fn check(root: &Path, secret: &Path, read: impl Fn(&Path) -> Result<Option<String>>) {
        symlink(secret, root.join("etc/abs-out")).unwrap();
        symlink(
            "../../../../../../..".to_string() + &secret.display().to_string(),
            root.join("etc/rel-out"),
        )
        .unwrap();
        symlink("/etc/real", root.join("etc/abs-in")).unwrap();
        symlink("../etc/./real", root.join("etc/rel-in")).unwrap();
        symlink("/etc", root.join("etc-link")).unwrap();
        for escape in ["/etc/abs-out", "/etc/rel-out", "etc/abs-out"] {
            let got = read(Path::new(escape)).unwrap();
            assert_eq!(got, None, "{escape} reached the host file");
        }
        for inside in [
            "/etc/real",
            "/etc/abs-in",
            "/etc/rel-in",
            "/etc-link/abs-in",
            "/../etc/real",
        ] {
            assert_eq!(
                read(Path::new(inside)).unwrap().as_deref(),
                Some("inside\n"),
                "{inside}"
            );
        }
        assert_eq!(read(Path::new("/etc/missing")).unwrap(), None);
        assert_eq!(read(Path::new("/etc/real/below")).unwrap(), None);
        let err = read(Path::new("/etc")).unwrap_err();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
    }

    #[test]
    fn links_out_of_the_root_are_not_followed() {
        let (_dir, root, secret) = setup();
        check(&root, &secret, |p| read_to_string(&root, p));
    }

    #[test]
    fn fallback_without_openat2_also_stays_inside() {
        let (_dir, root, secret) = setup();
        check(&root, &secret, |p| {
            match found(open_by_components(&root, p, open_flags()), &root, p)? {
                Some(file) => read_regular(file, &root, p).map(Some),
                None => Ok(None),
            }
        });
    }

    #[test]
    fn fifos_are_refused_without_blocking() {
        let (_dir, root, _) = setup();
        nix::unistd::mkfifo(&root.join("etc/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        let err = read_to_string(&root, Path::new("/etc/fifo")).unwrap_err();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
    }
}
