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
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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
pub fn runtime_mount_points(upper: &Path, layers: &[PathBuf], extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = extra.to_vec();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    candidates.extend(MOUNT_POINTS.iter().map(PathBuf::from));
    let mut out: Vec<PathBuf> = Vec::new();
    for rel in candidates {
        let p = upper.join(&rel);
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let empty = if md.is_dir() {
            fs::read_dir(&p).is_ok_and(|entries| {
                entries
                    .flatten()
                    .all(|e| out.contains(&rel.join(e.file_name())))
            }) && xattr::get(&p, OVERLAY_OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_none()
        } else {
            md.is_file() && md.len() == 0
        };
        let in_image = rel != Path::new("etc")
            && layers
                .iter()
                .any(|l| fs::symlink_metadata(l.join(&rel)).is_ok());
        if empty && !in_image && !out.contains(&rel) {
            out.push(rel);
        }
    }
    out
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
        let mut out = Vec::new();
        walk(&upper, Path::new(""), &image.layer_dirs, &hidden, &mut out)?;
        Ok(out)
    }
}

fn walk(
    upper: &Path,
    rel: &Path,
    layers: &[PathBuf],
    hidden: &[PathBuf],
    out: &mut Vec<FileChange>,
) -> Result<()> {
    let dir = upper.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let r = rel.join(&name);
        if hidden.contains(&r) {
            continue;
        }
        let md = fs::symlink_metadata(upper.join(&r))
            .with_context(|| format!("inspecting {}", upper.join(&r).display()))?;
        let kind = if md.file_type().is_char_device() && md.rdev() == 0 {
            'D'
        } else if in_image(layers, &r) {
            'C'
        } else {
            'A'
        };
        out.push(FileChange {
            kind,
            path: Path::new("/").join(&r),
        });
        if md.is_dir() {
            walk(upper, &r, layers, hidden, out)?;
        }
    }
    Ok(())
}

/// Whether the image has `rel`: the topmost layer that mentions it does not delete it.
fn in_image(layers: &[PathBuf], rel: &Path) -> bool {
    for l in layers.iter().rev() {
        if let Ok(md) = fs::symlink_metadata(l.join(rel)) {
            return !(md.file_type().is_char_device() && md.rdev() == 0);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

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
