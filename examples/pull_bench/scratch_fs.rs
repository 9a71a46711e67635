//! The file system every puller's store lives on during the bench: one of the bench's own,
//! made before the first round and thrown away after the last, so that all tools write to
//! the same, known file system whatever the host's is.
//!
//! Why not the host's: on an ext4 without a journal (this machine's root) every new inode
//! first looks for recently deleted ones (`recently_deleted`, checked only without a
//! journal), so extracting a tree right after another was deleted took up to 30 times as
//! long; whoever pulled after a delete paid for it. The default is therefore a journaled
//! ext4 (as `mkfs.ext4` makes it) on a sparse loop file, and no store is deleted before the
//! last round: the file system is unmounted and its file removed at the end.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which file system the stores go on (`--fs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// A journaled ext4 on a sparse file under /var/tmp, through a loop device with direct
    /// I/O (so its writes reach the disk and are not cached twice).
    Ext4,
    /// A tmpfs: no disk at all; the tools' CPU and syscall cost alone.
    Tmpfs,
}

impl FsKind {
    /// Parses `ext4` or `tmpfs`.
    pub fn parse(s: &str) -> FsKind {
        match s {
            "ext4" => FsKind::Ext4,
            "tmpfs" => FsKind::Tmpfs,
            _ => panic!("--fs {s:?}: use ext4 (a journaled ext4 on a loop file) or tmpfs"),
        }
    }
}

/// A mounted scratch file system; unmounted (and its loop file removed) when dropped.
pub struct ScratchFs {
    mount: PathBuf,
    loop_device: Option<String>,
    image: Option<PathBuf>,
    /// What backs it, for `environment.json`.
    pub backing: String,
}

fn run(c: &mut Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Bytes free on the file system holding `dir`.
fn free_bytes(dir: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(dir).unwrap_or_else(|e| panic!("statvfs {dir:?}: {e}"));
    st.blocks_available() as u64 * st.fragment_size() as u64
}

impl ScratchFs {
    /// Makes and mounts a file system of `kind` and `size_gib` (a ceiling: the loop file is
    /// sparse, a tmpfs takes memory as it fills), checking that `need_gib` are free for it.
    pub fn make(kind: FsKind, size_gib: u64, need_gib: u64) -> ScratchFs {
        let mount = tempfile::Builder::new()
            .prefix("pier-pull-bench-fs-")
            .tempdir()
            .unwrap()
            .keep();
        match kind {
            FsKind::Tmpfs => {
                run(
                    Command::new("mount")
                        .args(["-t", "tmpfs", "-o"])
                        .arg(format!("size={size_gib}g,mode=0755"))
                        .arg("pier-pull-bench")
                        .arg(&mount),
                    "mounting the bench's tmpfs",
                );
                ScratchFs {
                    mount,
                    loop_device: None,
                    image: None,
                    backing: format!("tmpfs of at most {size_gib} GiB"),
                }
            }
            FsKind::Ext4 => {
                let dir = Path::new("/var/tmp");
                let free = free_bytes(dir);
                assert!(
                    free >= need_gib << 30,
                    "the bench's stores need about {need_gib} GiB on {} and {:.1} GiB are free: \
                     fewer --runs, or --fs tmpfs",
                    dir.display(),
                    free as f64 / f64::from(1u32 << 30)
                );
                let image = tempfile::Builder::new()
                    .prefix("pier-pull-bench-")
                    .suffix(".ext4")
                    .tempfile_in(dir)
                    .unwrap()
                    .into_temp_path()
                    .keep()
                    .unwrap();
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&image)
                    .unwrap();
                file.set_len(size_gib << 30).unwrap();
                drop(file);
                // mkfs.ext4's defaults (journal included); the inode tables are left for
                // the kernel to initialise lazily, and the mount below tells it not to
                // (`noinit_itable`): a thread zeroing them would write while tools are timed.
                run(
                    Command::new("mkfs.ext4")
                        .args(["-q", "-F", "-L", "pier-bench"])
                        .arg(&image),
                    "mkfs.ext4 on the bench's loop file",
                );
                let device = run(
                    Command::new("losetup")
                        .args(["--find", "--show", "--direct-io=on"])
                        .arg(&image),
                    "losetup of the bench's loop file",
                );
                let mut fs = ScratchFs {
                    mount: mount.clone(),
                    loop_device: Some(device.clone()),
                    image: Some(image.clone()),
                    backing: format!(
                        "sparse file {} of {size_gib} GiB on loop device {device} (direct I/O)",
                        image.display()
                    ),
                };
                run(
                    Command::new("mount")
                        .args(["-t", "ext4", "-o", "noinit_itable", &device])
                        .arg(&fs.mount),
                    "mounting the bench's ext4",
                );
                fs.backing = format!("{} on {}", fs.backing, dir.display());
                fs
            }
        }
    }

    /// Where the stores go.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// Writes out whatever the previous puller left dirty (untimed), so its writeback is
    /// not charged to the next one.
    pub fn sync(&self) {
        let dir = std::fs::File::open(&self.mount).unwrap();
        nix::unistd::syncfs(&dir).unwrap();
    }
}

impl Drop for ScratchFs {
    fn drop(&mut self) {
        // Mounts a tool left under the stores (podman's overlay) first, deepest first.
        super::unmount_under(&self.mount);
        let _ = Command::new("umount").arg(&self.mount).status();
        if let Some(device) = &self.loop_device {
            let _ = Command::new("losetup").arg("-d").arg(device).status();
        }
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
        let _ = std::fs::remove_dir(&self.mount);
    }
}
