//! [`RootDir`]: the one way pier acts on paths inside a directory tree it does not trust (an
//! image's rootfs, a layer, a build context, a container's upper directory, a volume).
//!
//! THE RULE (grep-able, enforced by `engine/tests/untrusted_paths.rs`): no `std::fs` call and
//! no path-taking syscall on a path under an untrusted root outside this module. A path built
//! by joining strings (`rootfs.join(rel)`) is followed on the host with every symlink in it: a
//! container that turns `/etc` into a link to a host directory turns pier's own root-privileged
//! chmod, write, read or delete there into one on the host. Here the root is held open as an
//! `O_PATH` descriptor; every path is resolved relative to it by the kernel
//! (`openat2(RESOLVE_IN_ROOT)` or `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, with a
//! component-by-component `O_NOFOLLOW` walk where openat2 is missing), and every change is
//! made on a descriptor or relative to the parent's descriptor, never following a final
//! symlink.

use super::open_by_components;
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{open, openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::UtimensatFlags;
use nix::sys::stat::{fstat, fstatat, mkdirat, mknodat, utimensat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// How symlinks inside the root are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// As the container would see them: absolute links and `..` stop at the root (an image's
    /// rootfs, a build context, a `--from` stage).
    InRoot,
    /// Not at all: a symlink anywhere in the path is an error (`ELOOP`). For trees pier reads
    /// or writes as raw files (a layer, an upper directory, a volume being copied into).
    Never,
}

/// A directory tree pier does not trust, held open. See the module doc.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
    follow: Follow,
}

/// Splits `rel` into the directory part and the last name; `None` for the last name when
/// `rel` names the root itself (`/`, `.`, empty) or ends in `..`.
fn split(rel: &Path) -> (PathBuf, Option<OsString>) {
    let mut parts: Vec<Component> = rel.components().collect();
    match parts.last() {
        Some(Component::Normal(n)) => {
            let name = n.to_os_string();
            parts.pop();
            (parts.iter().collect(), Some(name))
        }
        _ => (rel.to_path_buf(), None),
    }
}

/// `rel` with any leading `/` removed (openat2 with RESOLVE_BENEATH refuses absolute paths).
fn relative(rel: &Path) -> &Path {
    rel.strip_prefix("/").unwrap_or(rel)
}

impl RootDir {
    /// Opens the directory `path` as an untrusted root (itself not a symlink).
    pub fn open(path: &Path, follow: Follow) -> nix::Result<RootDir> {
        let fd = open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
            follow,
        })
    }

    /// A root from an already open directory; `path` names it in errors (and is used by the
    /// fallback walk of [`Follow::InRoot`] where openat2 is missing).
    pub fn from_fd(fd: OwnedFd, path: &Path, follow: Follow) -> RootDir {
        RootDir {
            fd,
            path: path.to_path_buf(),
            follow,
        }
    }

    /// The root's path on the host, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` with `flags`, resolved inside the root as [`Follow`] says. With
    /// `O_NOFOLLOW` a final symlink is not followed (with `O_PATH` it is opened itself).
    pub fn open_at(&self, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let rel = relative(rel);
        if rel.as_os_str().is_empty() {
            return openat(&self.fd, ".", flags | OFlag::O_CLOEXEC, Mode::empty());
        }
        let resolve = match self.follow {
            Follow::InRoot => ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            Follow::Never => {
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS
            }
        };
        // RESOLVE_NO_SYMLINKS also refuses an O_NOFOLLOW|O_PATH open of a final symlink:
        // open the parent, then the name without following it.
        if self.follow == Follow::Never && flags.contains(OFlag::O_NOFOLLOW) {
            if let (dir, Some(name)) = split(rel) {
                let parent = self.open_at(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                return openat(
                    &parent,
                    name.as_os_str(),
                    flags | OFlag::O_CLOEXEC,
                    Mode::empty(),
                );
            }
        }
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(resolve);
        match openat2(&self.fd, rel, how) {
            Err(Errno::ENOSYS) | Err(Errno::EPERM) => self.open_by_hand(rel, flags),
            other => other,
        }
    }

    /// The walk where openat2 is missing.
    fn open_by_hand(&self, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        match self.follow {
            Follow::InRoot => open_by_components(&self.path, rel, flags),
            Follow::Never => {
                let mut dir = openat(
                    &self.fd,
                    ".",
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                let parts: Vec<Component> = rel.components().collect();
                for (i, c) in parts.iter().enumerate() {
                    let Component::Normal(name) = c else {
                        // `..` could climb out; `.` is harmless but rare enough to refuse.
                        return Err(Errno::EXDEV);
                    };
                    let last = i + 1 == parts.len();
                    let f = if last {
                        flags | OFlag::O_NOFOLLOW
                    } else {
                        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW
                    };
                    dir = openat(&dir, *name, f | OFlag::O_CLOEXEC, Mode::empty())?;
                }
                Ok(dir)
            }
        }
    }

    /// The directory holding `rel` (resolved) and `rel`'s last name. `rel` must name
    /// something below the root (`EINVAL` for the root itself).
    pub fn parent(&self, rel: &Path) -> nix::Result<(OwnedFd, OsString)> {
        match split(relative(rel)) {
            (dir, Some(name)) => Ok((
                self.open_at(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?,
                name,
            )),
            (_, None) => Err(Errno::EINVAL),
        }
    }

    /// `lstat`: the status of `rel` itself (a final symlink not followed).
    pub fn lstat(&self, rel: &Path) -> nix::Result<FileStat> {
        match split(relative(rel)) {
            (dir, Some(name)) => {
                let parent = self.open_at(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            }
            (dir, None) => fstat(self.open_at(&dir, OFlag::O_PATH)?),
        }
    }

    /// `lstat` that says `None` when `rel` does not exist (or a component is not a
    /// directory, or, with [`Follow::Never`], is a symlink).
    pub fn lstat_opt(&self, rel: &Path) -> nix::Result<Option<FileStat>> {
        match self.lstat(rel) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::EXDEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the directory `rel` for listing, its last component not followed.
    pub fn open_dir(&self, rel: &Path) -> nix::Result<OwnedFd> {
        self.open_at(
            rel,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
    }

    /// Opens the regular file `rel` for reading, never following a final symlink and never
    /// blocking on a FIFO; anything but a regular file is `EINVAL`.
    pub fn open_file(&self, rel: &Path) -> nix::Result<File> {
        self.open_regular(rel, OFlag::O_NOFOLLOW)
    }

    /// [`Self::open_file`] that follows a final symlink (inside the root, as [`Follow`]
    /// says): a build context's `Dockerfile` that links to another of its files.
    pub fn open_file_following(&self, rel: &Path) -> nix::Result<File> {
        self.open_regular(rel, OFlag::empty())
    }

    fn open_regular(&self, rel: &Path, extra: OFlag) -> nix::Result<File> {
        let fd = self.open_at(
            rel,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | extra,
        )?;
        if SFlag::from_bits_truncate(fstat(&fd)?.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(Errno::EINVAL);
        }
        Ok(File::from(fd))
    }

    /// Creates the regular file `rel` (which must not exist) for writing.
    pub fn create_file(&self, rel: &Path, mode: u32) -> nix::Result<File> {
        let (parent, name) = self.parent(rel)?;
        openat(
            &parent,
            name.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map(File::from)
    }

    /// Creates the directory `rel` (its parent must exist).
    pub fn mkdir(&self, rel: &Path, mode: u32) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        mkdirat(&parent, name.as_os_str(), Mode::from_bits_truncate(mode))
    }

    /// `mkdir -p` inside the root: each missing component created with `mode`, each
    /// existing one entered without following it (a symlink there is `ENOTDIR`). Returns the
    /// last directory, open.
    pub fn mkdir_all(&self, rel: &Path, mode: u32) -> nix::Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut dir = openat(&self.fd, ".", flags, Mode::empty())?;
        for c in relative(rel).components() {
            let name = match c {
                Component::Normal(n) => n,
                Component::CurDir => continue,
                _ => return Err(Errno::EXDEV),
            };
            match mkdirat(&dir, name, Mode::from_bits_truncate(mode)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            dir = openat(&dir, name, flags, Mode::empty()).map_err(|e| match e {
                Errno::ELOOP => Errno::ENOTDIR,
                e => e,
            })?;
        }
        Ok(dir)
    }

    /// `chown` of `rel` itself (a symlink's own owner, never its target's).
    pub fn lchown(&self, rel: &Path, uid: u32, gid: u32) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        fchownat(
            &parent,
            name.as_os_str(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }

    /// `chmod` of `rel` itself; a symlink there is `ELOOP` (links have no mode of their own,
    /// and following it is what must never happen).
    pub fn chmod(&self, rel: &Path, mode: u32) -> nix::Result<()> {
        let fd = self.open_at(rel, OFlag::O_PATH | OFlag::O_NOFOLLOW)?;
        chmod_fd(fd.as_fd(), mode)
    }

    /// Access and modification times of `rel` itself (a final symlink not followed).
    pub fn set_times(&self, rel: &Path, atime: &TimeSpec, mtime: &TimeSpec) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        utimensat(
            &parent,
            name.as_os_str(),
            atime,
            mtime,
            UtimensatFlags::NoFollowSymlink,
        )
    }

    /// Removes `rel` (a file, link, or empty directory) relative to its parent's descriptor.
    pub fn remove(&self, rel: &Path) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        let st = fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let how = if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        unlinkat(&parent, name.as_os_str(), how)
    }

    /// Removes `rel` and, if it is a directory, everything under it, following no symlink.
    /// Nothing there is fine.
    pub fn remove_all(&self, rel: &Path) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        remove_tree_at(parent.as_fd(), &name)
    }

    /// Creates the symlink `rel` pointing at `target` (stored verbatim).
    pub fn symlink(&self, target: &Path, rel: &Path) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        symlinkat(target, &parent, name.as_os_str())
    }

    /// Creates the node `rel` (FIFO, device...).
    pub fn mknod(&self, rel: &Path, kind: SFlag, mode: u32, dev: u64) -> nix::Result<()> {
        let (parent, name) = self.parent(rel)?;
        mknodat(
            &parent,
            name.as_os_str(),
            kind,
            Mode::from_bits_truncate(mode),
            dev,
        )
    }

    /// The target of the symlink `rel`.
    pub fn readlink(&self, rel: &Path) -> nix::Result<PathBuf> {
        let (parent, name) = self.parent(rel)?;
        readlinkat(&parent, name.as_os_str()).map(PathBuf::from)
    }

    /// The names in the directory `rel` (not `.` and `..`), sorted bytewise.
    pub fn list(&self, rel: &Path) -> nix::Result<Vec<OsString>> {
        list_dir(self.open_dir(rel)?.as_fd())
    }

    /// Where `rel` leads inside the root, relative to it, every existing component resolved
    /// as [`Follow`] says and a missing tail kept as written (`COPY x /bin/` into a merged-usr
    /// image gives `usr/bin`).
    pub fn resolve(&self, rel: &Path) -> nix::Result<PathBuf> {
        self.resolve_depth(rel, 0)
    }

    fn resolve_depth(&self, rel: &Path, depth: u32) -> nix::Result<PathBuf> {
        // As the kernel's own limit on links followed in one lookup.
        if depth > 40 {
            return Err(Errno::ELOOP);
        }
        match self.open_at(rel, OFlag::O_PATH) {
            Ok(fd) => self.relative_of(fd.as_fd()),
            Err(Errno::ENOENT) => match split(relative(rel)) {
                (dir, Some(name)) => {
                    let parent = self.resolve_depth(&dir, depth + 1)?;
                    let here = parent.join(&name);
                    // A dangling link: where it points, resolved the same way.
                    match self.readlink(&here) {
                        Ok(target) if target.is_absolute() => {
                            self.resolve_depth(&target, depth + 1)
                        }
                        Ok(target) => self.resolve_depth(&parent.join(target), depth + 1),
                        Err(_) => Ok(here),
                    }
                }
                (_, None) => Err(Errno::ENOENT),
            },
            Err(e) => Err(e),
        }
    }

    /// The path of the open `fd` relative to the root, as the kernel names it.
    pub fn relative_of(&self, fd: BorrowedFd) -> nix::Result<PathBuf> {
        let root = fd_path(self.fd.as_fd())?;
        let at = fd_path(fd)?;
        at.strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| Errno::EXDEV)
    }
}

/// The path the kernel gives an open descriptor (`/proc/self/fd/N`).
fn fd_path(fd: BorrowedFd) -> nix::Result<PathBuf> {
    nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()).map(PathBuf::from)
}

/// `chmod` of the object an (`O_PATH`) descriptor holds, through `/proc/self/fd/N` (`fchmod`
/// refuses `O_PATH` descriptors); a symlink is refused with `ELOOP` rather than followed.
pub fn chmod_fd(fd: BorrowedFd, mode: u32) -> nix::Result<()> {
    let st = fstat(fd)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
        return Err(Errno::ELOOP);
    }
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// The names in the open directory `dir` (not `.` and `..`), sorted bytewise.
pub fn list_dir(dir: BorrowedFd) -> nix::Result<Vec<OsString>> {
    // A descriptor of its own: reading moves the directory offset, and `Dir` closes it.
    let own = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = Dir::from_fd(own)?;
    let mut names = Vec::new();
    for e in d.iter() {
        let name = OsStr::from_bytes(e?.file_name().to_bytes()).to_os_string();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Removes `name` in `dir` with everything under it, following no symlink.
fn remove_tree_at(dir: BorrowedFd, name: &OsStr) -> nix::Result<()> {
    let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        let sub = openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        for child in list_dir(sub.as_fd())? {
            remove_tree_at(sub.as_fd(), &child)?;
        }
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    /// A root holding `d/` and `out -> <host dir>`; the host dir mode 0700 with a file.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let host = t.path().join("host");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::create_dir(&host).unwrap();
        fs::write(host.join("f"), "host").unwrap();
        fs::set_permissions(&host, fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&host, root.join("out")).unwrap();
        symlink("../../../../../../../..", root.join("up")).unwrap();
        (t, root, host)
    }

    fn host_unchanged(host: &Path) {
        assert_eq!(fs::metadata(host).unwrap().mode() & 0o7777, 0o700);
        assert_eq!(fs::read_to_string(host.join("f")).unwrap(), "host");
        assert_eq!(fs::read_dir(host).unwrap().count(), 1);
    }

    #[test]
    fn nothing_reaches_through_a_link_out_of_the_root() {
        for follow in [Follow::InRoot, Follow::Never] {
            let (_t, root, host) = setup();
            let r = RootDir::open(&root, follow).unwrap();
            assert_eq!(r.chmod(Path::new("out"), 0o777), Err(Errno::ELOOP));
            assert!(r.chmod(Path::new("out/f"), 0o777).is_err());
            assert!(r.lchown(Path::new("out/f"), 1, 1).is_err());
            assert!(r.create_file(Path::new("out/new"), 0o644).is_err());
            // InRoot: `..` stops at the root, so this lands in the root; Never: refused.
            let _ = r.create_file(Path::new("up/new"), 0o644);
            assert!(r.mkdir_all(Path::new("out/x/y"), 0o755).is_err());
            assert!(r.remove(Path::new("out/f")).is_err());
            assert!(r.remove_all(Path::new("out/f")).is_err());
            assert!(r.open_file(Path::new("out/f")).is_err());
            assert!(r.list(Path::new("out")).is_err());
            assert!(r.symlink(Path::new("/x"), Path::new("out/l")).is_err());
            // The link itself can be seen and removed.
            assert!(r.lstat(Path::new("out")).is_ok());
            assert_eq!(r.readlink(Path::new("out")).unwrap(), host);
            r.remove(Path::new("out")).unwrap();
            host_unchanged(&host);
        }
    }

    #[test]
    fn operations_inside_the_root_work() {
        let (_t, root, _host) = setup();
        let r = RootDir::open(&root, Follow::Never).unwrap();
        let dir = r.mkdir_all(Path::new("d/a/b"), 0o755).unwrap();
        drop(dir);
        std::io::Write::write_all(
            &mut r.create_file(Path::new("d/a/b/f"), 0o600).unwrap(),
            b"x",
        )
        .unwrap();
        r.chmod(Path::new("d/a/b/f"), 0o640).unwrap();
        r.lchown(Path::new("d/a/b/f"), 12, 34).unwrap();
        let t = TimeSpec::new(1000, 0);
        r.set_times(Path::new("d/a/b/f"), &t, &t).unwrap();
        let st = r.lstat(Path::new("/d/a/b/f")).unwrap();
        assert_eq!(
            (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime),
            (0o640, 12, 34, 1000)
        );
        r.symlink(Path::new("f"), Path::new("d/a/b/l")).unwrap();
        assert_eq!(
            r.list(Path::new("d/a/b")).unwrap(),
            vec![OsString::from("f"), OsString::from("l")]
        );
        // Never: a link in the middle of a path is refused, even one staying inside.
        assert_eq!(r.lstat_opt(Path::new("d/a/b/l/x")).unwrap(), None);
        let inroot = RootDir::open(&root, Follow::InRoot).unwrap();
        assert_eq!(
            inroot.resolve(Path::new("/out/new/deeper")).unwrap(),
            _host.strip_prefix("/").unwrap().join("new/deeper")
        );
        assert_eq!(
            inroot.resolve(Path::new("d/../d/x")).unwrap(),
            Path::new("d/x")
        );
        r.remove_all(Path::new("d")).unwrap();
        assert!(r.lstat_opt(Path::new("d")).unwrap().is_none());
    }

    #[test]
    fn the_fallback_walk_refuses_links_too() {
        let (_t, root, _host) = setup();
        let r = RootDir::open(&root, Follow::Never).unwrap();
        // A link where a directory should be: O_DIRECTORY|O_NOFOLLOW says ENOTDIR.
        assert_eq!(
            r.open_by_hand(Path::new("out/f"), OFlag::O_RDONLY)
                .map(drop),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            r.open_by_hand(Path::new("../x"), OFlag::O_RDONLY).map(drop),
            Err(Errno::EXDEV)
        );
    }
}
