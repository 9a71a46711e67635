//! The builder's scratch space: `<root>/build-tmp/<pid>-<random>/`, holding layer staging
//! directories and read-only views of images (overlay mounts) while a build runs.
//!
//! The directory carries the builder's PID so that the next build can tell a crashed
//! build's leftovers from a live one's, unmount what it left mounted, and delete it.

use crate::container::mountinfo::mounts_under;
use crate::image::{overlay, Image};
use anyhow::{Context, Result};
use pier_oci::security::in_root::{Follow, RootDir};
use std::fs;
use std::path::{Path, PathBuf};

/// A scratch directory, unmounted and deleted when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates a scratch directory under `<root>/build-tmp`, first cleaning up after builds
    /// whose process is gone.
    pub fn new(root: &Path) -> Result<Scratch> {
        let base = root.join("build-tmp");
        // untrusted-paths: allowed: pier's own scratch directory
        fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        clean_stale(&base)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempdir_in(&base)
            .with_context(|| format!("creating a scratch directory in {}", base.display()))?;
        Ok(Scratch { dir })
    }

    /// A new empty directory inside the scratch space.
    pub fn subdir(&self, prefix: &str) -> Result<PathBuf> {
        let d = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.dir.path())
            .with_context(|| format!("creating a directory in {}", self.dir.path().display()))?;
        Ok(d.keep())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_all(self.dir.path());
    }
}

fn unmount_all(dir: &Path) {
    let mut mounts = mounts_under(dir);
    mounts.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for m in mounts {
        let _ = overlay::unmount(&m);
    }
}

/// Removes scratch directories of builds that are no longer running.
fn clean_stale(base: &Path) -> Result<()> {
    // untrusted-paths: allowed: pier's own scratch directory
    for entry in fs::read_dir(base).with_context(|| format!("reading {}", base.display()))? {
        let entry = entry.with_context(|| format!("reading {}", base.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() as i32
            || !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
        if !alive {
            unmount_all(&entry.path());
            if mounts_under(&entry.path()).is_empty() {
                // untrusted-paths: allowed: pier's own scratch directory (no container writes there)
                fs::remove_dir_all(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// An image's files seen as one tree (a read-only overlay of its layers), unmounted when
/// dropped. An image without layers is an empty directory.
pub struct RootView {
    root: PathBuf,
    /// The merged tree held open: every path of the image is resolved inside it.
    dir: RootDir,
    mounted: bool,
}

impl RootView {
    /// Mounts `image` (or nothing, for `scratch`) read-only in `scratch`.
    pub fn open(scratch: &Scratch, image: Option<&Image>) -> Result<RootView> {
        let dir = scratch.subdir("view-")?;
        let root = dir.join("merged");
        let layers = image.map(|i| i.layer_dirs.as_slice()).unwrap_or_default();
        if layers.is_empty() {
            // untrusted-paths: allowed: pier's own scratch directory
            fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
            let dir = open_root(&root)?;
            return Ok(RootView {
                root,
                dir,
                mounted: false,
            });
        }
        overlay::mount_overlay(layers, &dir.join("upper"), &dir.join("work"), &root, true)
            .context("mounting an image's layers read-only")?;
        let view = RootView {
            dir: match open_root(&root) {
                Ok(d) => d,
                Err(e) => {
                    let _ = overlay::unmount(&root);
                    return Err(e);
                }
            },
            root,
            mounted: true,
        };
        Ok(view)
    }

    /// The merged tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The merged tree, held open, its symlinks resolved inside it.
    pub fn dir(&self) -> &RootDir {
        &self.dir
    }

    /// Resolves `path` (absolute in the image) following the image's symlinks inside it:
    /// the result is relative to the image's root.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf> {
        self.dir
            .resolve(path)
            .with_context(|| format!("resolving {} inside the image", path.display()))
    }
}

fn open_root(root: &Path) -> Result<RootDir> {
    RootDir::open(root, Follow::InRoot).with_context(|| format!("opening {}", root.display()))
}

impl Drop for RootView {
    fn drop(&mut self) {
        if self.mounted {
            let _ = overlay::unmount(&self.root);
        }
    }
}
