//! Finding the cgroup layout: which version, and where each controller's hierarchy is mounted.
//!
//! Two files answer this: `/proc/self/mountinfo` says where each cgroup filesystem is mounted
//! (and which controllers each v1 mount carries), `/proc/self/cgroup` says which cgroup this
//! process is in, per hierarchy. A v1 machine has one mount per hierarchy (`cpu`, `memory`,
//! ... and `name=systemd`, which has no controller and only groups processes); a v2 machine has
//! a single unified `cgroup2` mount. "Hybrid" machines (like the one pier is developed on) have
//! both, with the controllers on v1.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use procfs::process::{MountInfos, Process};
use procfs::{FromBufRead, ProcessCGroups};

/// Where cgroup filesystems are mounted by convention; used to decide the version.
pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Returns 2 if `/sys/fs/cgroup` itself is a cgroup2 filesystem (a unified machine), else 1.
pub fn detect_version() -> Result<u8> {
    let fs =
        nix::sys::statfs::statfs(CGROUP_ROOT).with_context(|| format!("statfs {CGROUP_ROOT}"))?;
    Ok(
        if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            2
        } else {
            1
        },
    )
}

/// One mounted cgroup v1 hierarchy and this process's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Hierarchy {
    /// Name as `/proc/self/cgroup` spells it: "cpu", "cpu,cpuacct", "name=systemd".
    pub name: String,
    /// Controllers attached ("cpu", "cpuacct"; "name=systemd" for the named hierarchy).
    pub controllers: Vec<String>,
    /// Directory where the hierarchy is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount_point: PathBuf,
    /// Directory of this process's cgroup, e.g. /sys/fs/cgroup/memory/process_api/<hash>.
    pub current_dir: PathBuf,
}

/// The unified (v2) hierarchy and this process's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Hierarchy {
    /// Where cgroup2 is mounted (/sys/fs/cgroup on a unified machine).
    pub mount_point: PathBuf,
    /// Directory of this process's cgroup.
    pub current_dir: PathBuf,
}

/// Reads this process's v1 hierarchies (those both mounted and listed in /proc/self/cgroup).
pub(crate) fn v1_hierarchies() -> Result<Vec<V1Hierarchy>> {
    let (mounts, groups) = read_self()?;
    Ok(parse_v1(&mounts, &groups))
}

/// Reads this process's v2 hierarchy (the cgroup2 mount; on hybrid machines, the one under
/// /sys/fs/cgroup/unified).
pub(crate) fn v2_hierarchy() -> Result<V2Hierarchy> {
    let (mounts, groups) = read_self()?;
    parse_v2(&mounts, &groups)
        .ok_or_else(|| anyhow!("no cgroup2 filesystem mounted (see /proc/self/mountinfo)"))
}

fn read_self() -> Result<(MountInfos, ProcessCGroups)> {
    let me = Process::myself().context("opening /proc/self")?;
    let table =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    // Only the cgroup mounts are parsed: the table holds two mounts per running container
    // (its overlay and its network namespace), and parsing every line made each start slower
    // the more containers ran (the scale suite).
    let cgroup_lines: String = table
        .lines()
        .filter(|l| is_cgroup_mount(l))
        .flat_map(|l| [l, "\n"])
        .collect();
    let mounts = MountInfos::from_buf_read(cgroup_lines.as_bytes())
        .context("parsing the cgroup mounts of /proc/self/mountinfo")?;
    let groups = me.cgroups().context("reading /proc/self/cgroup")?;
    Ok((mounts, groups))
}

/// Whether a `/proc/self/mountinfo` line is a cgroup (v1) or cgroup2 mount: the file system
/// type is the first field after the ` - ` separator.
fn is_cgroup_mount(line: &str) -> bool {
    line.split_once(" - ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .is_some_and(|fstype| fstype == "cgroup" || fstype == "cgroup2")
}

/// Joins a `/proc/self/cgroup` path (relative to the hierarchy root) onto a mount whose own root
/// is `mount_root` (not "/" inside a cgroup namespace or a bind mount of a sub-cgroup).
fn current_dir(mount_point: &Path, mount_root: &str, cgroup_path: &str) -> PathBuf {
    let inner = cgroup_path
        .strip_prefix(mount_root.trim_end_matches('/'))
        .unwrap_or(cgroup_path);
    mount_point.join(inner.trim_start_matches('/'))
}

/// Controllers a v1 mount carries, from its superblock options ("rw,cpu,cpuacct" or
/// "rw,name=systemd").
fn mount_controllers(
    super_options: &std::collections::HashMap<String, Option<String>>,
) -> Vec<String> {
    super_options
        .iter()
        .filter_map(|(key, value)| match (key.as_str(), value) {
            ("name", Some(name)) => Some(format!("name={name}")),
            (_, None) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// Matches v1 mounts to this process's hierarchies.
pub(crate) fn parse_v1(mounts: &MountInfos, groups: &ProcessCGroups) -> Vec<V1Hierarchy> {
    let mut found = Vec::new();
    for group in groups
        .0
        .iter()
        .filter(|g| g.hierarchy != 0 && !g.controllers.is_empty())
    {
        // Each hierarchy may be mounted several times (bind mounts); the first will do.
        let mount = mounts.0.iter().find(|m| {
            m.fs_type == "cgroup" && {
                let carried = mount_controllers(&m.super_options);
                group.controllers.iter().all(|c| carried.contains(c))
            }
        });
        if let Some(mount) = mount {
            found.push(V1Hierarchy {
                name: group.controllers.join(","),
                controllers: group.controllers.clone(),
                mount_point: mount.mount_point.clone(),
                current_dir: current_dir(&mount.mount_point, &mount.root, &group.pathname),
            });
        }
    }
    found
}

/// Finds the cgroup2 mount and this process's directory in it.
pub(crate) fn parse_v2(mounts: &MountInfos, groups: &ProcessCGroups) -> Option<V2Hierarchy> {
    let mount = mounts.0.iter().find(|m| m.fs_type == "cgroup2")?;
    let path = groups
        .0
        .iter()
        .find(|g| g.hierarchy == 0 && g.controllers.is_empty())
        .map_or("/", |g| g.pathname.as_str());
    Some(V2Hierarchy {
        mount_point: mount.mount_point.clone(),
        current_dir: current_dir(&mount.mount_point, &mount.root, path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromRead;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    #[test]
    fn only_cgroup_mounts_are_kept() {
        let kept: Vec<&str> = HYBRID_MOUNTS
            .lines()
            .chain(["90 27 0:99 / /var/lib/pier/x/rootfs rw - overlay overlay rw,lowerdir=/a"])
            .filter(|l| is_cgroup_mount(l))
            .collect();
        assert_eq!(kept.len(), 4, "{kept:?}");
        assert!(kept
            .iter()
            .all(|l| !l.contains("tmpfs") && !l.contains("overlay")));
    }

    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
1:cpu,cpuacct:/
0::/
";

    fn parse(mounts: &str, groups: &str) -> (MountInfos, ProcessCGroups) {
        (
            MountInfos::from_read(mounts.as_bytes()).unwrap(),
            ProcessCGroups::from_read(groups.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn hybrid_layout_maps_each_hierarchy() {
        let (mounts, groups) = parse(HYBRID_MOUNTS, HYBRID_CGROUP);
        let found = parse_v1(&mounts, &groups);
        let by_name = |n: &str| found.iter().find(|h| h.name == n).unwrap().clone();
        assert_eq!(found.len(), 3);
        assert_eq!(
            by_name("memory").current_dir,
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            by_name("cpu,cpuacct").current_dir,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(
            by_name("name=systemd").mount_point,
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        let v2 = parse_v2(&mounts, &groups).unwrap();
        assert_eq!(v2.current_dir, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn unified_layout_has_no_v1() {
        let (mounts, groups) = parse(
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
            "0::/user.slice/user-1000.slice/session-2.scope\n",
        );
        assert!(parse_v1(&mounts, &groups).is_empty());
        let v2 = parse_v2(&mounts, &groups).unwrap();
        assert_eq!(
            v2.current_dir,
            PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope")
        );
    }

    #[test]
    fn namespaced_mount_root_is_stripped() {
        // Inside a cgroup-namespaced container that bind-mounts only its own sub-tree.
        let (mounts, groups) = parse(
            "29 23 0:26 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/docker/x/inner\n",
        );
        let v2 = parse_v2(&mounts, &groups).unwrap();
        assert_eq!(v2.current_dir, PathBuf::from("/sys/fs/cgroup/inner"));
    }

    #[test]
    fn this_machine_is_detected() {
        let version = detect_version().unwrap();
        assert!(version == 1 || version == 2);
        if version == 1 {
            assert!(v1_hierarchies()
                .unwrap()
                .iter()
                .any(|h| h.controllers.contains(&"memory".to_string())));
        }
    }
}
