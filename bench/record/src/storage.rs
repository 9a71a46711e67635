//! The file system a bench wrote to, recorded in `environment.json`.
//!
//! Unpacking an image is mostly file system work, so its time depends on the file system
//! as much as on the tool: an ext4 without a journal, for one, searches for recently
//! deleted inodes on every new file (the `recently_deleted` check runs only without one),
//! which made a tree's extraction several times slower right after another was deleted.
//! A run's figures are only comparable with the file system they came from.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file system holding a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRecord {
    /// The directory the measured tools wrote under.
    pub path: String,
    /// The mount point of the file system holding it.
    pub mount_point: String,
    /// Its type: `ext4`, `tmpfs`, `xfs`...
    pub fs_type: String,
    /// What is mounted: `/dev/loop0`, `/dev/vda`, `tmpfs`.
    pub source: String,
    /// The mount's options, then the super block's (as `/proc/self/mountinfo` gives them).
    pub options: String,
    /// Whether the file system keeps a journal: for ext3/ext4, whether jbd2 serves its
    /// device (`/proc/fs/jbd2/<device>-*`); `None` for file systems without the notion.
    pub journal: Option<bool>,
    /// What backs it, in the bench's words (a loop file and its size, memory).
    pub backing: Option<String>,
}

impl StorageRecord {
    /// Describes the file system holding `path` (which must exist).
    pub fn of(path: &Path, backing: Option<String>) -> Result<Self> {
        let canonical = path
            .canonicalize()
            .with_context(|| format!("resolving {}", path.display()))?;
        let shown = canonical.display().to_string();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .context("reading /proc/self/mountinfo")?;
        let mount = mount_of(&mountinfo, &shown)
            .with_context(|| format!("no mount holds {shown} in /proc/self/mountinfo"))?;
        let journal = match mount.fs_type.as_str() {
            "ext3" | "ext4" => Some(jbd2_serves(&mount.source)),
            _ => None,
        };
        Ok(Self {
            path: shown,
            mount_point: mount.mount_point,
            fs_type: mount.fs_type,
            source: mount.source,
            options: mount.options,
            journal,
            backing,
        })
    }
}

/// One line of `/proc/self/mountinfo`, the fields a record needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    mount_point: String,
    fs_type: String,
    source: String,
    options: String,
}

/// The mount whose mount point is the longest prefix of `path` (the last such line wins:
/// a later mount on the same point hides the earlier).
fn mount_of(mountinfo: &str, path: &str) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(point), Some(options), Some(fs_type), Some(source)) =
            (left.get(4), left.get(5), right.first(), right.get(1))
        else {
            continue;
        };
        let point = unescape(point);
        let inside = path == point
            || point == "/"
            || path
                .strip_prefix(point.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        if !inside
            || best
                .as_ref()
                .is_some_and(|b| b.mount_point.len() > point.len())
        {
            continue;
        }
        best = Some(Mount {
            mount_point: point,
            fs_type: fs_type.to_string(),
            source: unescape(source),
            options: format!("{options} {}", right.get(2).unwrap_or(&"")),
        });
    }
    best
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether jbd2 keeps a journal for the block device `source` (`/dev/loop0`): it lists
/// each journal it serves as `/proc/fs/jbd2/<device>-<inode>` (`loop0-8`).
fn jbd2_serves(source: &str) -> bool {
    let device = source.rsplit('/').next().unwrap_or(source);
    let prefix = format!("{device}-");
    std::fs::read_dir("/proc/fs/jbd2").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime shared:2 - ext4 /dev/vda rw,discard
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683772k
46 27 7:0 / /var/tmp/bench\\040fs rw,relatime shared:3 - ext4 /dev/loop0 rw,data=ordered
";

    #[test]
    fn the_longest_mount_point_holding_the_path_wins() {
        let m = mount_of(MOUNTINFO, "/var/tmp/bench fs/pier-1").unwrap();
        assert_eq!(
            (m.mount_point.as_str(), m.source.as_str()),
            ("/var/tmp/bench fs", "/dev/loop0")
        );
        assert_eq!(m.options, "rw,relatime rw,data=ordered");
        let m = mount_of(MOUNTINFO, "/var/tmp/bench fsx").unwrap();
        assert_eq!(m.mount_point, "/");
        let m = mount_of(MOUNTINFO, "/dev/shm").unwrap();
        assert_eq!(m.fs_type, "tmpfs");
    }

    #[test]
    fn a_file_system_without_journals_records_none() {
        let r = StorageRecord::of(Path::new("/proc"), None).unwrap();
        assert_eq!((r.fs_type.as_str(), r.journal), ("proc", None));
    }
}
