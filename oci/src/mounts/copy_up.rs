//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with that directory's
//! content (Podman's `--tmpfs`, `--mount type=tmpfs` and `--read-only` ask for it; runc and
//! crun implement it). The copy runs between two descriptors, the directory as it was before
//! the mount (opened first) and the new tmpfs, and reaches every entry with
//! `openat`/`fstatat`/`mkdirat` relative to its parent's descriptor and `O_NOFOLLOW`: the
//! image's symlinks are copied as symlinks, never followed on the host.
//!
//! (pier-engine's `tree_copy` does the same for `pier cp` with policies this one does not
//! need; the runtime crate cannot depend on the engine.)

use anyhow::{bail, Context, Result};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmodat, fstatat, mkdirat, mknodat, utimensat, FchmodatFlags, FileStat, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Deeper than this, an image's tree is an attack on pier's stack, not a directory.
const MAX_DEPTH: usize = 256;

/// Copies the content of the directory `from` into the directory `to` (both opened
/// `O_RDONLY|O_DIRECTORY`), keeping owners, modes and times, then gives `to` the mode and owner
/// of `from` (the tmpfs root takes the place of the directory it covers).
pub(crate) fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    copy_children(from, to, 0)?;
    let st = fstatat(from, ".", AtFlags::empty()).context("fstat of the copied directory")?;
    set_meta(to, OsStr::new("."), &st, false)
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn copy_children(from: BorrowedFd<'_>, to: BorrowedFd<'_>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        bail!("tmpcopyup: directory tree deeper than {MAX_DEPTH} levels");
    }
    let mut listing = Dir::from_fd(open_dir(from, OsStr::new("."))?)?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let entry = entry.context("tmpcopyup: reading a directory")?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    for name in &names {
        copy_entry(from, to, name, depth)
            .with_context(|| format!("tmpcopyup of {}", name.to_string_lossy()))?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &OsStr, depth: usize) -> Result<()> {
    let st = match fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        // Gone since the listing: nothing to copy.
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let k = kind(&st);
    if k == SFlag::S_IFDIR {
        mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
        let (src, dst) = (open_dir(from, name)?, open_dir(to, name)?);
        copy_children(src.as_fd(), dst.as_fd(), depth + 1)?;
    } else if k == SFlag::S_IFREG {
        let src = openat(
            from,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let dst = openat(
            to,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )?;
        std::io::copy(&mut File::from(src), &mut File::from(dst))?;
    } else if k == SFlag::S_IFLNK {
        let target = readlinkat(from, name)?;
        symlinkat(target.as_os_str(), to, name)?;
        return set_meta(to, name, &st, true);
    } else if k == SFlag::S_IFSOCK {
        // A socket is only meaningful to the process that bound it.
        return Ok(());
    } else {
        mknodat(to, name, k, mode, st.st_rdev)?;
    }
    set_meta(to, name, &st, false)
}

/// Owner, mode (set after the owner: chown clears set-id bits) and times of `name` in `dir`.
fn set_meta(dir: BorrowedFd<'_>, name: &OsStr, st: &FileStat, symlink: bool) -> Result<()> {
    fchownat(
        dir,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .context("chown")?;
    if !symlink {
        // The entry was made by this copy, in a tmpfs nothing else reaches yet.
        fchmodat(
            dir,
            name,
            Mode::from_bits_truncate(st.st_mode & 0o7777),
            FchmodatFlags::FollowSymlink,
        )
        .context("chmod")?;
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    utimensat(dir, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink).context("utimensat")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn open(p: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(
            p,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn content_is_copied_and_links_stay_links() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::write(src.join("sub/f"), "content").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o1777)).unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
        copy_dir(open(&src).as_fd(), open(&dst).as_fd()).unwrap();
        assert_eq!(fs::read_to_string(dst.join("sub/f")).unwrap(), "content");
        assert_eq!(
            fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o7777,
            0o4751
        );
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o7777, 0o1777);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            std::path::Path::new("/etc/passwd")
        );
        assert!(fs::symlink_metadata(dst.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo_like());
    }

    trait FifoLike {
        fn is_fifo_like(&self) -> bool;
    }
    impl FifoLike for fs::FileType {
        fn is_fifo_like(&self) -> bool {
            use std::os::unix::fs::FileTypeExt;
            self.is_fifo()
        }
    }
}
