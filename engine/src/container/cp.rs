//! `pier cp`: copying files between a container's filesystem and the host, with Docker's
//! path rules, every container path resolved inside the container's root.
//!
//! The container's filesystem is reached as its processes see it, mounts included: a running
//! container's `/proc/<pid>/root`; for a stopped one, its layers mounted with its volumes and
//! bind mounts in a private mount namespace of a helper thread (gone with the thread).
//! Container paths are opened with `RESOLVE_IN_ROOT` (symlinks and `..` stay inside the
//! container) and the copy itself never follows a symlink ([`crate::tree_copy`]).
//!
//! Path rules, as `docker cp`: a destination that is a directory receives the source under
//! its own name; one that does not exist becomes the copy (its parent must exist);
//! `SRC/.` copies a directory's contents rather than the directory.

use super::record::ContainerStatus;
use super::Engine;
use crate::tree_copy::{self, CopyPolicy, CopyStats};
use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::SFlag;
use pier_oci::security::in_root::open_in_root;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

impl Engine {
    /// `pier cp CONTAINER:SRC DEST`: `dest` is a host path.
    pub fn copy_from_container(
        &self,
        key: &str,
        src: &str,
        dest: &Path,
        archive: bool,
    ) -> Result<CopyStats> {
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let dest = absolute(dest)?;
        self.with_container_root(key, false, |root| {
            copy_between(
                root,
                src,
                Path::new("/"),
                &dest.to_string_lossy(),
                CopyPolicy::from_container(archive, me),
            )
        })
    }

    /// `pier cp SRC CONTAINER:DEST`: `src` is a host path.
    pub fn copy_to_container(
        &self,
        key: &str,
        src: &Path,
        dest: &str,
        archive: bool,
    ) -> Result<CopyStats> {
        // `absolute` drops a trailing "/." that says "the contents": keep it.
        let contents = src.as_os_str().as_encoded_bytes().ends_with(b"/.");
        let mut src = absolute(src)?.to_string_lossy().into_owned();
        if contents {
            src.push_str("/.");
        }
        self.with_container_root(key, true, |root| {
            copy_between(
                Path::new("/"),
                &src,
                root,
                dest,
                CopyPolicy::into_container(archive),
            )
        })
    }

    /// Runs `f` with the container's root directory as its processes see it.
    pub(super) fn with_container_root<T: Send>(
        &self,
        key: &str,
        writing: bool,
        f: impl FnOnce(&Path) -> Result<T> + Send,
    ) -> Result<T> {
        let (paths, rec) = self.find(key)?;
        if let Some(init) = rec
            .init
            .filter(|p| rec.status == ContainerStatus::Running && p.is_alive())
        {
            return f(&PathBuf::from(format!("/proc/{}/root", init.pid)));
        }
        let image = self
            .images()?
            .resolve(&rec.image_id)
            .with_context(|| format!("image {} of container {}", rec.image, rec.name))?;
        let mut binds = rec.config.volumes.clone();
        binds.extend(self.volume_binds(&rec.config.volume_mounts)?);
        let rootfs = paths.rootfs();
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                pier_oci::namespaces::enter_private_mount_namespace()
                    .context("a private mount namespace for the copy")?;
                if !super::mountinfo::is_mounted(&rootfs) {
                    super::create::mount_rootfs(&paths, &image).with_context(|| {
                        format!("mounting the filesystem of container {}", rec.name)
                    })?;
                }
                for b in &binds {
                    // The mount point opened inside the container's root, its links followed
                    // there as the runtime does (they stay inside it), and mounted on through
                    // its descriptor, so no path is followed on the host.
                    let target = match open_in_root(&rootfs, &b.destination, OFlag::O_PATH) {
                        Ok(fd) => fd,
                        // Never started: nothing was ever written there.
                        Err(Errno::ENOENT) => continue,
                        Err(e) => {
                            return Err(e).with_context(|| {
                                format!("opening the mount point {}", b.destination.display())
                            })
                        }
                    };
                    let at = format!("/proc/self/fd/{}", target.as_raw_fd());
                    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                    mount(
                        Some(&b.source),
                        at.as_str(),
                        None::<&str>,
                        flags,
                        None::<&str>,
                    )
                    .with_context(|| format!("mounting {}", b.destination.display()))?;
                    if b.read_only {
                        read_only_recursively(&target, &b.destination)?;
                    }
                }
                if writing && rec.config.read_only {
                    bail!(
                        "container {} has a read-only root filesystem (--read-only)",
                        rec.name
                    );
                }
                f(&rootfs)
            })
            .join()
            .map_err(|_| anyhow!("the copy thread panicked"))?
        })
    }
}

/// Makes the bind mount just made on `target` read-only with everything mounted below it
/// (a `:ro` volume whose source has a submount must not take a write there, as in a running
/// container). The new mount is reopened through the descriptor (the old one is the mount
/// point below it); each mount under it, found in the thread's mountinfo, is remounted.
fn read_only_recursively(target: &std::os::fd::OwnedFd, shown: &Path) -> Result<()> {
    let at = format!("/proc/self/fd/{}", target.as_raw_fd());
    let top = nix::fcntl::open(
        at.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("reopening {}", shown.display()))?;
    let top_path = nix::fcntl::readlink(format!("/proc/self/fd/{}", top.as_raw_fd()).as_str())
        .with_context(|| format!("locating {}", shown.display()))?;
    let mut mounts = super::mountinfo::thread_mounts_under(Path::new(&top_path));
    if mounts.is_empty() {
        bail!(
            "{}: the bind mount is not in this thread's mount table",
            shown.display()
        );
    }
    mounts.dedup();
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for m in mounts {
        mount(None::<&str>, &m, None::<&str>, flags, None::<&str>)
            .with_context(|| format!("read-only {} ({})", shown.display(), m.display()))?;
    }
    Ok(())
}

/// `p` made absolute against the current directory (not resolved: that is the copy's job).
fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(p)
    })
}

/// Copies `src` inside `src_root` to `dst` inside `dst_root` with `docker cp`'s rules.
fn copy_between(
    src_root: &Path,
    src: &str,
    dst_root: &Path,
    dst: &str,
    policy: CopyPolicy,
) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    let open = |root: &Path, path: &Path, flags: OFlag| {
        open_in_root(root, path, flags).map_err(|e| match e {
            Errno::ENOENT => anyhow!("no such file or directory: {}", path.display()),
            Errno::ENOTDIR => anyhow!("not a directory: {}", path.display()),
            e => anyhow!("opening {}: {e}", path.display()),
        })
    };
    let contents = src == "." || src == "/" || src.ends_with("/.");
    let src_path = Path::new(src);
    // The source as (directory, name); "." names the directory itself for the contents.
    let (src_dir, src_name) = if contents {
        let dir = open(src_root, src_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        (dir, OsStr::new(".").to_os_string())
    } else {
        let name = src_path
            .file_name()
            .with_context(|| format!("{src:?} does not name a file"))?;
        let parent = src_path.parent().unwrap_or(Path::new("/"));
        let dir = open(src_root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        (dir, name.to_os_string())
    };
    let src_type = tree_copy::entry_type(src_dir.as_fd(), &src_name)?
        .with_context(|| format!("no such file or directory: {src}"))?;
    if src.ends_with('/') && src_type != SFlag::S_IFDIR {
        bail!("{src} is not a directory");
    }
    let dst_path = Path::new(dst);
    match open_in_root(dst_root, dst_path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        // An existing directory: the source goes inside it (its contents, with "/.").
        Ok(dir) => {
            if contents {
                let from = tree_copy::open_dir(src_dir.as_fd(), &src_name)?;
                tree_copy::copy_children(from.as_fd(), dir.as_fd(), policy, &mut stats)?;
            } else {
                let name = src_name.clone();
                tree_copy::copy_entry(
                    src_dir.as_fd(),
                    &src_name,
                    dir.as_fd(),
                    &name,
                    policy,
                    &mut stats,
                )?;
            }
        }
        Err(e @ (Errno::ENOENT | Errno::ENOTDIR)) => {
            if e == Errno::ENOTDIR && src_type == SFlag::S_IFDIR {
                bail!("cannot copy a directory to the file {dst}");
            }
            if dst.ends_with('/') {
                bail!("destination directory {dst} does not exist");
            }
            let name = dst_path
                .file_name()
                .with_context(|| format!("{dst:?} does not name a file"))?;
            let parent_path = dst_path.parent().unwrap_or(Path::new("/"));
            let parent = open_in_root(dst_root, parent_path, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|_| {
                    anyhow!(
                        "destination directory {} does not exist",
                        parent_path.display()
                    )
                })?;
            // With "SRC/.", `src_name` is "." and the new directory is SRC's copy.
            tree_copy::copy_entry(
                src_dir.as_fd(),
                &src_name,
                parent.as_fd(),
                name,
                policy,
                &mut stats,
            )?;
        }
        Err(e) => return Err(anyhow!("opening {dst}: {e}")),
    }
    Ok(stats)
}
