//! Copying a file tree from one directory to another, both held open, never following a
//! symlink on either side: for `pier cp`, where one side is a container's filesystem that
//! the container's processes may be changing at the same moment.
//!
//! Every entry is reached with `openat`/`fstatat`/`mkdirat` relative to its parent's file
//! descriptor and `O_NOFOLLOW`, so a directory swapped for a symlink to `/` mid-copy makes the
//! copy fail, never read or write the host's files (the `docker cp` race, CVE-2018-15664).
//! Symlinks are copied as symlinks, their targets verbatim. What could grant privileges on the
//! host is not copied out of a container: device nodes are skipped, set-id bits and file
//! capabilities are dropped ([`CopyPolicy::from_container`]).

use anyhow::{bail, Context, Result};
use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, futimens, mkdirat, mknodat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use pier_oci::security::in_root::chmod_fd;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use xattr::FileExt;

/// How owners, modes and extended attributes cross over.
#[derive(Debug, Clone, Copy)]
pub struct CopyPolicy {
    /// `Some((uid, gid))`: every copy belongs to them; `None`: owners are kept (`cp -a`).
    pub owner: Option<(u32, u32)>,
    /// Drop set-user-ID and set-group-ID bits and `security.capability` (copies leaving a
    /// container must not become privileged programs on the host).
    pub drop_privileges: bool,
}

impl CopyPolicy {
    /// Out of a container: to `owner` (the user running pier) unless `archive`, set-id bits
    /// and file capabilities dropped.
    pub fn from_container(archive: bool, owner: (u32, u32)) -> CopyPolicy {
        CopyPolicy {
            owner: (!archive).then_some(owner),
            drop_privileges: true,
        }
    }

    /// Into a container: to root unless `archive`, everything kept.
    pub fn into_container(archive: bool) -> CopyPolicy {
        CopyPolicy {
            owner: (!archive).then_some((0, 0)),
            drop_privileges: false,
        }
    }
}

/// What a copy did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CopyStats {
    /// Entries copied.
    pub entries: u64,
    /// Bytes of file content copied.
    pub bytes: u64,
    /// Device nodes and sockets left out.
    pub skipped: u64,
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// The type of `name` in `dir` (not following a symlink), or `None` if it does not exist.
pub fn entry_type(dir: BorrowedFd, name: &OsStr) -> Result<Option<SFlag>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(kind(&st))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("inspecting {}", name.to_string_lossy())),
    }
}

/// Opens the directory `name` in `dir` without following a symlink.
pub fn open_dir(dir: BorrowedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Copies `src_name` in `src_dir` to `dst_name` in `dst_dir`. A directory is merged into an
/// existing directory of that name; anything else replaces a non-directory of that name.
pub fn copy_entry(
    src_dir: BorrowedFd,
    src_name: &OsStr,
    dst_dir: BorrowedFd,
    dst_name: &OsStr,
    policy: CopyPolicy,
    stats: &mut CopyStats,
) -> Result<()> {
    let shown = || src_name.to_string_lossy().into_owned();
    let st = fstatat(src_dir, src_name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .with_context(|| format!("inspecting {}", shown()))?;
    let existing = entry_type(dst_dir, dst_name)?;
    match kind(&st) {
        SFlag::S_IFDIR => {
            let src =
                open_dir(src_dir, src_name).with_context(|| format!("opening {}", shown()))?;
            let dst = match existing {
                Some(SFlag::S_IFDIR) => open_dir(dst_dir, dst_name),
                Some(_) => bail!(
                    "cannot copy directory {} over the non-directory {}",
                    shown(),
                    dst_name.to_string_lossy()
                ),
                None => mkdirat(dst_dir, dst_name, Mode::from_bits_truncate(0o700))
                    .and_then(|()| open_dir(dst_dir, dst_name)),
            }
            .with_context(|| format!("making directory {}", dst_name.to_string_lossy()))?;
            copy_children(src.as_fd(), dst.as_fd(), policy, stats)
                .with_context(|| format!("in {}", shown()))?;
            apply_meta(dst.as_fd(), src.as_fd(), &st, policy)?;
        }
        SFlag::S_IFREG => {
            let src = openat(
                src_dir,
                src_name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| format!("opening {}", shown()))?;
            // Swapped for something else since fstatat: refuse rather than read a FIFO or a
            // device.
            let now = nix::sys::stat::fstat(&src).with_context(|| format!("fstat {}", shown()))?;
            if kind(&now) != SFlag::S_IFREG {
                bail!("{} changed while being copied", shown());
            }
            replace_non_dir(dst_dir, dst_name, existing)?;
            let dst = openat(
                dst_dir,
                dst_name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .with_context(|| format!("creating {}", dst_name.to_string_lossy()))?;
            let (mut from, mut to) = (File::from(src), File::from(dst));
            stats.bytes += std::io::copy(&mut from, &mut to)
                .with_context(|| format!("copying {}", shown()))?;
            apply_meta(to.as_fd(), from.as_fd(), &now, policy)?;
        }
        SFlag::S_IFLNK => {
            let target =
                readlinkat(src_dir, src_name).with_context(|| format!("readlink {}", shown()))?;
            replace_non_dir(dst_dir, dst_name, existing)?;
            symlinkat(target.as_os_str(), dst_dir, dst_name)
                .with_context(|| format!("creating symlink {}", dst_name.to_string_lossy()))?;
            let (uid, gid) = policy.owner.unwrap_or((st.st_uid, st.st_gid));
            fchownat(
                dst_dir,
                dst_name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .with_context(|| format!("chown {}", dst_name.to_string_lossy()))?;
        }
        SFlag::S_IFIFO => {
            replace_non_dir(dst_dir, dst_name, existing)?;
            mknodat(
                dst_dir,
                dst_name,
                SFlag::S_IFIFO,
                Mode::from_bits_truncate(0o600),
                0,
            )
            .with_context(|| format!("creating fifo {}", dst_name.to_string_lossy()))?;
            let fifo = openat(
                dst_dir,
                dst_name,
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let (uid, gid) = policy.owner.unwrap_or((st.st_uid, st.st_gid));
            fchownat(
                &fifo,
                "",
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::AT_EMPTY_PATH,
            )
            .with_context(|| format!("chown {}", dst_name.to_string_lossy()))?;
            chmod_fd(fifo.as_fd(), mode_bits(&st, policy))
                .with_context(|| format!("chmod {}", dst_name.to_string_lossy()))?;
        }
        // Device nodes and sockets: a device node copied to the host would be a door to the
        // host's hardware; a socket cannot be copied.
        _ => {
            stats.skipped += 1;
            return Ok(());
        }
    }
    stats.entries += 1;
    Ok(())
}

/// Copies every entry of the directory `src` into the directory `dst`.
pub fn copy_children(
    src: BorrowedFd,
    dst: BorrowedFd,
    policy: CopyPolicy,
    stats: &mut CopyStats,
) -> Result<()> {
    let names: Vec<OsString> = {
        let listing = src
            .try_clone_to_owned()
            .context("duplicating a directory fd")?;
        let mut dir = Dir::from_fd(listing).context("listing a directory")?;
        dir.iter()
            .filter_map(|e| e.ok())
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| n != "." && n != "..")
            .collect()
    };
    for name in names {
        copy_entry(src, &name, dst, &name, policy, stats)?;
    }
    Ok(())
}

/// Removes a non-directory `name` so a copy can take its place; a directory there is an error.
fn replace_non_dir(dir: BorrowedFd, name: &OsStr, existing: Option<SFlag>) -> Result<()> {
    match existing {
        None => Ok(()),
        Some(SFlag::S_IFDIR) => bail!(
            "cannot overwrite the directory {} with a non-directory",
            name.to_string_lossy()
        ),
        Some(_) => unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
            .with_context(|| format!("replacing {}", name.to_string_lossy())),
    }
}

fn mode_bits(st: &FileStat, policy: CopyPolicy) -> u32 {
    let mut mode = st.st_mode & 0o7777;
    if policy.drop_privileges {
        mode &= !0o6000;
    }
    mode
}

/// Owner, mode (after chown, which clears set-id bits), extended attributes, times.
fn apply_meta(dst: BorrowedFd, src: BorrowedFd, st: &FileStat, policy: CopyPolicy) -> Result<()> {
    let (uid, gid) = policy.owner.unwrap_or((st.st_uid, st.st_gid));
    fchown(dst, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).context("fchown")?;
    fchmod(dst, Mode::from_bits_truncate(mode_bits(st, policy))).context("fchmod")?;
    let (from, to) = (
        File::from(src.try_clone_to_owned()?),
        File::from(dst.try_clone_to_owned()?),
    );
    if let Ok(names) = from.list_xattr() {
        for name in names {
            let n = name.to_string_lossy();
            let keep =
                n.starts_with("user.") || (n == "security.capability" && !policy.drop_privileges);
            if !keep {
                continue;
            }
            if let Ok(Some(value)) = from.get_xattr(&name) {
                to.set_xattr(&name, &value)
                    .with_context(|| format!("setting extended attribute {n}"))?;
            }
        }
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    futimens(dst, &atime, &mtime).context("futimens")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn dir_fd(p: &std::path::Path) -> OwnedFd {
        nix::fcntl::open(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn copies_a_tree_keeping_links_and_dropping_privileges_out() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("d/e")).unwrap();
        fs::write(src.join("d/f"), "data").unwrap();
        std::os::unix::fs::chown(src.join("d/f"), Some(1000), Some(1000)).unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("d/link")).unwrap();
        nix::unistd::mkfifo(&src.join("d/fifo"), Mode::from_bits_truncate(0o640)).unwrap();
        nix::sys::stat::mknod(
            &src.join("d/null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        let dst = t.path().join("dst");
        fs::create_dir(&dst).unwrap();
        let mut stats = CopyStats::default();
        let (s, d) = (dir_fd(&src), dir_fd(&dst));
        copy_entry(
            s.as_fd(),
            OsStr::new("d"),
            d.as_fd(),
            OsStr::new("copy"),
            CopyPolicy::from_container(false, (0, 0)),
            &mut stats,
        )
        .unwrap();
        let f = fs::metadata(dst.join("copy/f")).unwrap();
        assert_eq!(fs::read_to_string(dst.join("copy/f")).unwrap(), "data");
        assert_eq!(
            (f.mode() & 0o7777, f.uid()),
            (0o755, 0),
            "set-uid dropped, owned by us"
        );
        assert_eq!(
            fs::read_link(dst.join("copy/link")).unwrap(),
            std::path::Path::new("/etc/passwd")
        );
        assert!(dst.join("copy/e").is_dir());
        assert!(
            !dst.join("copy/null").exists(),
            "device nodes are not copied"
        );
        assert_eq!(stats.skipped, 1);
        let fifo = fs::symlink_metadata(dst.join("copy/fifo")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));

        // Archive mode into a container keeps owners and set-id bits.
        let mut stats = CopyStats::default();
        copy_entry(
            s.as_fd(),
            OsStr::new("d"),
            d.as_fd(),
            OsStr::new("kept"),
            CopyPolicy::into_container(true),
            &mut stats,
        )
        .unwrap();
        let f = fs::metadata(dst.join("kept/f")).unwrap();
        assert_eq!((f.mode() & 0o7777, f.uid()), (0o4755, 1000));
    }

    #[test]
    fn a_symlink_at_the_destination_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("new"), "new").unwrap();
        fs::write(t.path().join("victim"), "safe").unwrap();
        let dst = t.path().join("dst");
        fs::create_dir(&dst).unwrap();
        std::os::unix::fs::symlink(t.path().join("victim"), dst.join("new")).unwrap();
        let (s, d) = (dir_fd(t.path()), dir_fd(&dst));
        copy_entry(
            s.as_fd(),
            OsStr::new("new"),
            d.as_fd(),
            OsStr::new("new"),
            CopyPolicy::into_container(false),
            &mut CopyStats::default(),
        )
        .unwrap();
        assert_eq!(fs::read_to_string(t.path().join("victim")).unwrap(), "safe");
        assert_eq!(fs::read_to_string(dst.join("new")).unwrap(), "new");
        assert!(!fs::symlink_metadata(dst.join("new"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
