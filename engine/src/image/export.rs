//! A container's filesystem as one flat tar (`pier export`).
//!
//! The merged view is what the container sees: its image layers with its own changes
//! (the overlay upper directory) on top, deletions applied. Rather than touching the
//! container's own mount (which may be in use, or absent while it is stopped), a private
//! read-only overlay is mounted with the upper directory as the top-most *lower* layer:
//! overlayfs honours whiteouts and opaque directories in lower layers too, so the result
//! is the same view, and nothing the container owns is modified.
//!
//! A running container keeps writing to its upper directory while it is read here (the
//! kernel logs "lowerdir is in-use as upperdir" for this): the tar is then not a
//! consistent snapshot, as with `docker export`. Stop the container first for one.

use super::layer_build::write_layer_tar;
use super::overlay::{overlay_options, unmount};
use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Unmounts on drop, so an error while archiving never leaves the mount behind.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

/// Writes the merged view of `layers` (bottom first) and `upper` as a reproducible tar
/// to `out`; `scratch` is an empty directory on which the view is mounted meanwhile.
///
/// The calling thread moves to a private mount namespace (it keeps seeing the same
/// files; mounts made later by it are invisible to other processes): meant for the
/// `pier export` process, which does nothing else.
pub fn export_merged<W: Write>(
    layers: &[PathBuf],
    upper: &Path,
    scratch: &Path,
    out: W,
) -> Result<W> {
    let mut lowers = layers.to_vec();
    // untrusted-paths: allowed: the upper directory's own path in pier's store
    if upper.is_dir() {
        lowers.push(upper.to_path_buf());
    }
    // overlay_options wants upper and work; a lower-only overlay takes just lowerdir=.
    let options = overlay_options(&lowers, Path::new("/u"), Path::new("/w"))?;
    let lowerdir = options
        .split(",upperdir=")
        .next()
        .unwrap_or(&options)
        .to_string();
    let target = scratch.join("merged");
    // untrusted-paths: allowed: pier's own staging directory
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    // A private mount namespace for this thread: if pier dies mid-export the mount dies
    // with it, instead of lingering in the store's staging area.
    pier_oci::namespaces::enter_private_mount_namespace()
        .context("a private mount namespace for the export mount")?;
    if lowers.len() == 1 {
        // overlayfs needs two lower layers without an upper: a read-only bind does the same.
        mount(
            Some(lowers[0].as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| {
            format!(
                "bind-mounting {} on {}",
                lowers[0].display(),
                target.display()
            )
        })?;
    } else {
        mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(lowerdir.as_str()),
        )
        .with_context(|| format!("mounting a read-only overlay on {}", target.display()))?;
    }
    let _guard = MountGuard(target.clone());
    if lowers.len() == 1 {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("making {} read-only", target.display()))?;
    }
    write_layer_tar(&target, out)
        .with_context(|| format!("archiving the merged filesystem at {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn export_shows_upper_changes_and_deletions_over_layers() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, upper) = (t.path().join("l1"), t.path().join("l2"), t.path().join("u"));
        for d in [&l1, &l2, &upper] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(l1.join("base"), "1").unwrap();
        fs::write(l1.join("gone"), "x").unwrap();
        fs::write(l2.join("base"), "2").unwrap();
        fs::write(upper.join("new"), "n").unwrap();
        // An overlay whiteout for "gone".
        nix::sys::stat::mknod(
            &upper.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let scratch = t.path().join("s");
        fs::create_dir(&scratch).unwrap();
        let tar = export_merged(&[l1, l2], &upper, &scratch, Vec::new()).unwrap();
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(&tar[..]);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            names.push((name, body));
        }
        assert_eq!(
            names,
            vec![("base".into(), "2".into()), ("new".into(), "n".into())]
        );
        let mountinfo = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
        let merged = scratch.join("merged").display().to_string();
        assert!(!mountinfo.contains(&merged), "unmounted after");
    }
}
