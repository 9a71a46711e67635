//! What a private containerd's pods can leave on the host, and its removal: mounts under
//! its directory, the iptables chains of CNI's portmap plugin, cgroup parents, and the shim
//! directories containerd 1.6 makes under /run/containerd whatever its own state directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The iptables chains (nat table) CNI's portmap plugin makes once for every pod.
const PORTMAP_CHAINS: [&str; 3] = [
    "CNI-HOSTPORT-DNAT",
    "CNI-HOSTPORT-SETMARK",
    "CNI-HOSTPORT-MASQ",
];

/// Private containerds alive in this process, and whether the portmap chains existed before
/// the first: the chains are global, so only the last one to go removes them.
static LIVE: Mutex<(u32, bool)> = Mutex::new((0, false));

/// Notes one more private containerd (the first notes whether the chains exist already).
pub(super) fn enter() {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    if live.0 == 0 {
        live.1 = PORTMAP_CHAINS.iter().any(|c| chain_exists(c));
    }
    live.0 += 1;
}

/// Notes one fewer; the last removes the portmap chains unless they were there before.
pub(super) fn leave() {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.0 = live.0.saturating_sub(1);
    if live.0 == 0 && !live.1 {
        remove_portmap_chains();
    }
}

/// The mount points at or under `dir` (from /proc/mounts), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut out: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        // /proc/mounts escapes spaces and such as octal; the directories here have none.
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out
}

/// Detaches every mount at or under `dir`.
pub(super) fn unmount_under(dir: &Path) {
    for m in mounts_under(dir) {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

fn chain_exists(chain: &str) -> bool {
    Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", chain])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes the portmap plugin's chains and the jumps to them.
fn remove_portmap_chains() {
    for (from, to) in [
        ("PREROUTING", "CNI-HOSTPORT-DNAT"),
        ("OUTPUT", "CNI-HOSTPORT-DNAT"),
        ("POSTROUTING", "CNI-HOSTPORT-MASQ"),
    ] {
        let rules = Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", from])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for rule in rules.lines().filter(|r| r.contains(&format!("-j {to}"))) {
            let args: Vec<&str> = rule.split_whitespace().skip(2).collect();
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-D", from])
                .args(&args)
                .output();
        }
    }
    for chain in PORTMAP_CHAINS {
        if chain_exists(chain) {
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-F", chain])
                .output();
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-X", chain])
                .output();
        }
    }
}

/// Removes `parent` (and what is left below it) from every cgroup hierarchy, deepest first.
/// Where a "hierarchy" is a plain directory of the tmpfs at /sys/fs/cgroup (a controller the
/// machine does not mount, e.g. hugetlb in some VMs), a runtime that writes its files there
/// anyway (crun does) leaves ordinary files: that subtree is removed as files.
pub(super) fn remove_cgroup_tree(parent: &str) {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return;
    }
    let base = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![base.to_path_buf()];
    for h in std::fs::read_dir(base).into_iter().flatten().flatten() {
        if h.file_type().is_ok_and(|t| t.is_dir()) {
            hierarchies.push(h.path());
        }
    }
    fn rm(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rm(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for h in hierarchies {
        let tree = h.join(rel);
        if !tree.is_dir() {
            continue;
        }
        if h.join("cgroup.procs").exists() {
            rm(&tree);
        } else {
            let _ = std::fs::remove_dir_all(&tree);
        }
    }
}

/// The directories containerd 1.6 puts its shims' sockets (and ctr its default FIFOs) in,
/// under /run/containerd whatever its own state directory, and those of its `opt` plugin,
/// `/opt/containerd`, which a containerd made by dockerd (its managed one, whose
/// configuration cannot move them) creates; children before their parents, so that removing
/// them in order, when empty, leaves none of those a run made.
pub const SHIM_DIRS: &[&str] = &[
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd/runc/default",
    "/run/containerd/runc",
    "/run/containerd",
    "/opt/containerd/bin",
    "/opt/containerd/lib",
    "/opt/containerd",
];

/// The [`SHIM_DIRS`] missing when noted, removed, when empty, on drop.
pub struct ShimDirs(Vec<PathBuf>);

impl ShimDirs {
    /// Notes the directories missing now.
    pub fn note() -> ShimDirs {
        ShimDirs(
            SHIM_DIRS
                .iter()
                .map(PathBuf::from)
                .filter(|d| !d.exists())
                .collect(),
        )
    }
}

impl Drop for ShimDirs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}
