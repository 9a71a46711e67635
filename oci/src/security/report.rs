//! What protects containers on this machine, in words: what `pier system info` prints under
//! "Security". Each line names the mechanism actually in force here (it depends on the cgroup
//! version, the kernel and the host's LSMs), so a student can compare two machines.

use crate::cgroups;
use crate::mounts;
use crate::security::sealed_exe::{self, SealMethod};
use crate::security::seccomp_profile::{DOCKER_RELEASE, MOBY_PROFILES_VERSION};
use std::path::Path;

/// One protection and its state on this machine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Protection {
    /// What it is, e.g. "device filter".
    pub name: &'static str,
    /// What is in force here, e.g. "eBPF cgroup device program".
    pub state: String,
}

/// The protections pier applies to every container by default, as in force on this machine.
/// `root` is pier's state root (where the binary protection's overlay keeps its empty layer).
pub fn protections(root: &Path) -> Vec<Protection> {
    let line = |name, state: String| Protection { name, state };
    let devices = match cgroups::device_filter_kind() {
        Ok(kind) => kind.to_string(),
        Err(e) => format!("unknown ({e:#})"),
    };
    let read_only = if mounts::attr::kernel_has_mount_setattr() {
        "recursive, by mount_setattr(2) AT_RECURSIVE".to_string()
    } else {
        "recursive, by remounting each submount (kernel before 5.12: no mount_setattr)".to_string()
    };
    vec![
        line(
            "seccomp profile",
            format!("Docker's default, as in Docker {DOCKER_RELEASE} ({MOBY_PROFILES_VERSION}); io_uring denied"),
        ),
        line("device filter", devices),
        line("runtime binary", sealed_binary(root)),
        line("read-only binds", read_only),
        line(
            "capabilities",
            "Docker's 14 defaults (--cap-add/--cap-drop change them)".to_string(),
        ),
        line(
            "published ports",
            "127.0.0.1 ports answer loopback only; containers cannot reach the host's 127.0.0.0/8"
                .to_string(),
        ),
        line("image files", "/etc/passwd and /etc/group resolved inside the rootfs".to_string()),
        line("LSM", lsm()),
    ]
}

/// How pier keeps containers from reaching its own executable (CVE-2019-5736).
fn sealed_binary(root: &Path) -> String {
    let how = match sealed_exe::probe(root) {
        Ok(SealMethod::Overlay) => "re-executed from a private read-only overlayfs",
        Ok(SealMethod::Memfd) => "re-executed from a sealed memfd copy",
        Err(e) => return format!("NOT protected here: {e:#}"),
    };
    format!("{how}, not dumpable until execve (CVE-2019-5736)")
}

/// The host's active Linux security modules, and that pier loads no profile into them.
fn lsm() -> String {
    let mut active: Vec<String> = std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|s| s.trim().split(',').map(str::to_string).collect())
        .unwrap_or_default();
    // Without securityfs mounted, the two major LSMs still show under /sys.
    if active.is_empty() {
        let enabled =
            |p: &str| std::fs::read_to_string(p).is_ok_and(|s| s.trim() == "Y" || s.trim() == "1");
        if enabled("/sys/module/apparmor/parameters/enabled") {
            active.push("apparmor".into());
        }
        if Path::new("/sys/fs/selinux/enforce").exists() {
            active.push("selinux".into());
        }
    }
    let major: Vec<&String> = active
        .iter()
        .filter(|m| matches!(m.as_str(), "apparmor" | "selinux" | "smack" | "tomoyo"))
        .collect();
    if major.is_empty() {
        "no AppArmor or SELinux active on the host; pier loads no LSM profile".to_string()
    } else {
        format!(
            "{} active on the host; pier loads no profile of its own (containers run unconfined by it)",
            major.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protection_says_what_is_in_force() {
        let root = std::env::temp_dir();
        let all = protections(&root);
        assert!(all.iter().any(|p| p.name == "device filter"
            && (p.state.contains("eBPF") || p.state.contains("devices controller"))));
        assert!(all.iter().all(|p| !p.state.is_empty()));
    }

    #[test]
    fn this_kernel_has_mount_setattr() {
        // Every kernel pier is tested on (host and cgroup-v2 guest) is 5.12 or newer.
        assert!(mounts::attr::kernel_has_mount_setattr());
    }
}
