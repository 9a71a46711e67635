//! The container's view of its cgroups at `/sys/fs/cgroup` when it has no cgroup namespace
//! (Docker and Podman on cgroup v1 by default).
//!
//! A cgroup filesystem mounted by a process shows the root of that process's cgroup
//! namespace. With its own namespace (unshared once it is in its cgroup) that root is the
//! container's cgroup, and a plain cgroup mount is right. Without one, the root is the
//! host's: the container would see every other container's directory, and its
//! `memory.limit_in_bytes` would read the host root's "no limit". So, as runc does, the
//! container gets its own directories instead: on v1 a tmpfs holding each hierarchy's own
//! directory bind-mounted at `/sys/fs/cgroup/<hierarchy>` (with runc's `cpu -> cpu,cpuacct`
//! links), on v2 its one directory.

use super::detect;
use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use std::path::{Path, PathBuf};

/// What the container's own cgroup view is made of: (name under the mount point, host
/// directory). On v2 one entry with an empty name.
pub(crate) fn own_dirs() -> Result<Vec<(String, PathBuf)>> {
    if detect::detect_version()? == 2 {
        let v2 = detect::v2_hierarchy()?;
        return Ok(vec![(String::new(), v2.current_dir)]);
    }
    Ok(detect::v1_hierarchies()?
        .into_iter()
        .filter_map(|h| {
            let name = h.mount_point.file_name()?.to_string_lossy().into_owned();
            Some((name, h.current_dir))
        })
        .collect())
}

/// Mounts the calling process's own cgroup directories at `dest` (read-only with
/// `readonly`), as described in the module documentation. The process must be in its cgroup.
pub(crate) fn mount_own(dest: &Path, readonly: bool) -> Result<()> {
    let dirs = own_dirs()?;
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    let ro = if readonly {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    if let [(name, dir)] = dirs.as_slice() {
        if name.is_empty() {
            return bind(dir, dest, safe | ro);
        }
    }
    mount(Some("tmpfs"), dest, Some("tmpfs"), safe, Some("mode=755"))
        .with_context(|| format!("mount tmpfs at {}", dest.display()))?;
    for (name, dir) in &dirs {
        let target = dest.join(name);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        bind(dir, &target, safe | ro)?;
        // runc's links for a joined hierarchy: cpu -> cpu,cpuacct.
        if name.contains(',') {
            for part in name.split(',') {
                let link = dest.join(part);
                if link.symlink_metadata().is_err() {
                    std::os::unix::fs::symlink(name, &link)
                        .with_context(|| format!("symlink {} -> {name}", link.display()))?;
                }
            }
        }
    }
    if readonly {
        mount(
            None::<&str>,
            dest,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | safe | ro,
            None::<&str>,
        )
        .with_context(|| format!("remounting {} read-only", dest.display()))?;
    }
    Ok(())
}

/// Bind-mounts `source` at `target` with `flags` (which take effect through a remount).
fn bind(source: &Path, target: &Path, flags: MsFlags) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| {
        format!(
            "bind-mounting the container's cgroup {} at {}",
            source.display(),
            target.display()
        )
    })?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .with_context(|| format!("remounting {} with {flags:?}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's own directories exist, one per mounted hierarchy, and none is the
    /// hierarchy's root unless the process sits there.
    #[test]
    fn own_dirs_are_this_process_cgroup_directories() {
        let dirs = own_dirs().unwrap();
        assert!(!dirs.is_empty());
        for (name, dir) in dirs {
            assert!(dir.is_dir(), "{name}: {}", dir.display());
            assert!(
                dir.starts_with(super::super::detect::CGROUP_ROOT),
                "{}",
                dir.display()
            );
        }
    }
}
