//! `pier diff`: what a container changed in its filesystem, read from its overlay upper
//! directory (its writable layer) against the image's layers: `A` added, `C` changed, `D`
//! deleted (an overlay whiteout), as `docker diff` prints them.
//!
//! The runtime itself creates a few files and directories in the upper directory only to
//! mount over them (`/etc/hosts`, `/proc`, a volume's mount point...): they are not the
//! container's changes, and [`runtime_mount_points`] finds them, for `diff` to leave out and
//! for `pier build` to strip from a `RUN` step's layer.

use super::record::ContainerRecord;
use super::Engine;
use crate::image::layer::OVERLAY_OPAQUE_XATTR;
use anyhow::{Context, Result};
use nix::sys::stat::{FileStat, SFlag};
use pier_oci::security::in_root::{list_dir, Follow, RootDir};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use xattr::FileExt;

/// Files and directories the runtime creates in every container's rootfs only to mount over
/// them, children before parents.
pub const MOUNT_POINTS: &[&str] = &[
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "dev",
    "proc",
    "sys",
    "etc",
];

/// One change of `pier diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// `A` (added), `C` (changed) or `D` (deleted).
    pub kind: char,
    /// Absolute path in the container.
    pub path: PathBuf,
}

/// The paths (relative to `upper`) among [`MOUNT_POINTS`] and `extra` (the container's own
/// mount destinations, relative) that hold nothing of the container's: an empty file or a
/// directory holding only such paths, absent from every image layer. Children come before
/// their parents, so they can be removed in order. An `etc` copied up only to hold mount
/// points counts, even though the image has one.
///
/// Every path is looked up relative to the upper directory's descriptor, following no
/// symlink ([`Follow::Never`]): a container that replaced `/etc` with a link to a host
/// directory has no `etc/hosts` here, so nothing of the host is counted (or later removed).
pub fn runtime_mount_points(upper: &Path, layers: &[PathBuf], extra: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(up) = RootDir::open(upper, Follow::Never) else {
        return Vec::new();
    };
    let layers: Vec<RootDir> = layers
        .iter()
        .filter_map(|l| RootDir::open(l, Follow::Never).ok())
        .collect();
    let mut candidates: Vec<PathBuf> = extra.to_vec();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    candidates.extend(MOUNT_POINTS.iter().map(PathBuf::from));
    let mut out: Vec<PathBuf> = Vec::new();
    for rel in candidates {
        let Ok(Some(st)) = up.lstat_opt(&rel) else {
            continue;
        };
        let empty = match kind(&st) {
            SFlag::S_IFDIR => up.open_dir(&rel).is_ok_and(|fd| {
                list_dir(fd.as_fd())
                    .is_ok_and(|names| names.iter().all(|n| out.contains(&rel.join(n))))
                    && File::from(fd)
                        .get_xattr(OVERLAY_OPAQUE_XATTR)
                        .ok()
                        .flatten()
                        .is_none()
            }),
            SFlag::S_IFREG => st.st_size == 0,
            _ => false,
        };
        let in_image = rel != Path::new("etc")
            && layers
                .iter()
                .any(|l| l.lstat_opt(&rel).is_ok_and(|s| s.is_some()));
        if empty && !in_image && !out.contains(&rel) {
            out.push(rel);
        }
    }
    out
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// The container's own mount destinations (binds, volumes, tmpfs), relative to its root:
/// the `extra` of [`runtime_mount_points`].
pub fn mount_destinations(rec: &ContainerRecord) -> Vec<PathBuf> {
    rec.config
        .volumes
        .iter()
        .map(|b| &b.destination)
        .chain(rec.config.volume_mounts.iter().map(|v| &v.destination))
        .chain(rec.config.tmpfs.iter().map(|t| &t.destination))
        .map(|d| d.strip_prefix("/").unwrap_or(d).to_path_buf())
        .collect()
}

impl Engine {
    /// `pier diff`: the container's changes to its image's files, sorted by path.
    pub fn diff(&self, key: &str) -> Result<Vec<FileChange>> {
        let (paths, rec) = self.find(key)?;
        let image = self
            .images()?
            .resolve(&rec.image_id)
            .with_context(|| format!("image {} of container {}", rec.image, rec.name))?;
        let upper = paths.upper();
        let hidden = runtime_mount_points(&upper, &image.layer_dirs, &mount_destinations(&rec));
        let root = RootDir::open(&upper, Follow::Never)
            .with_context(|| format!("opening {}", upper.display()))?;
        let layers = image
            .layer_dirs
            .iter()
            .map(|l| RootDir::open(l, Follow::Never))
            .collect::<nix::Result<Vec<_>>>()
            .context("opening the image's layers")?;
        let mut out = Vec::new();
        walk(&root, Path::new(""), &layers, &hidden, &mut out)?;
        Ok(out)
    }
}

fn walk(
    upper: &RootDir,
    rel: &Path,
    layers: &[RootDir],
    hidden: &[PathBuf],
    out: &mut Vec<FileChange>,
) -> Result<()> {
    let mut names = upper
        .list(rel)
        .with_context(|| format!("reading {}", upper.path().join(rel).display()))?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        if hidden.contains(&r) {
            continue;
        }
        let st = upper
            .lstat(&r)
            .with_context(|| format!("inspecting {}", upper.path().join(&r).display()))?;
        let change = if is_whiteout(&st) {
            'D'
        } else if in_image(layers, &r) {
            'C'
        } else {
            'A'
        };
        out.push(FileChange {
            kind: change,
            path: Path::new("/").join(&r),
        });
        if kind(&st) == SFlag::S_IFDIR {
            walk(upper, &r, layers, hidden, out)?;
        }
    }
    Ok(())
}

/// Whether the image has `rel`: the topmost layer that mentions it does not delete it.
fn in_image(layers: &[RootDir], rel: &Path) -> bool {
    for l in layers.iter().rev() {
        if let Ok(Some(st)) = l.lstat_opt(rel) {
            return !is_whiteout(&st);
        }
    }
    false
}

/// An overlay whiteout: a 0:0 character device.
fn is_whiteout(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn mount_points_are_found_children_first() {
        let t = tempfile::tempdir().unwrap();
        let (upper, layer) = (t.path().join("upper"), t.path().join("layer"));
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("proc")).unwrap();
        fs::create_dir_all(upper.join("data")).unwrap();
        fs::create_dir_all(layer.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        fs::write(upper.join("etc/hostname"), "").unwrap();
        let found = runtime_mount_points(
            &upper,
            std::slice::from_ref(&layer),
            &[PathBuf::from("data")],
        );
        assert_eq!(
            found,
            ["data", "etc/hostname", "etc/hosts", "proc", "etc"].map(PathBuf::from)
        );
        // A file the container wrote keeps /etc a real change.
        fs::write(upper.join("etc/motd"), "hi").unwrap();
        let found = runtime_mount_points(&upper, &[layer], &[]);
        assert!(!found.contains(&PathBuf::from("etc")));
    }
}
