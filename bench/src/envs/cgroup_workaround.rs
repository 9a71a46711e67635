//! crun 1.8 on a hybrid cgroup layout.
//!
//! crun refuses to run when the cgroup2 hierarchy of a hybrid layout has controllers
//! ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"). On this
//! kind of machine the only controller left on cgroup2 is `hugetlb`, because no v1
//! hierarchy for it is mounted. Mounting the v1 `hugetlb` hierarchy (in a private mount
//! namespace, so the host is unchanged) takes it off cgroup2 and crun runs.
//!
//! The bench applies this once, for its whole process, before any measurement: the cost
//! of the workaround is then not inside crun's measured start-up, and every peer (pier,
//! runc, crun, podman) runs in the same mount namespace, which keeps the comparison fair.

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// Where the v1 hugetlb hierarchy is mounted.
const HUGETLB: &str = "/sys/fs/cgroup/hugetlb";

/// What was done, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The layout is not hybrid: nothing needed.
    NotNeeded(String),
    /// Applied: the bench process now runs in a private mount namespace with hugetlb v1.
    Applied(String),
    /// Tried and failed (crun will then most likely be reported unavailable).
    Failed(String),
}

impl Outcome {
    /// One sentence for the report.
    pub fn describe(&self) -> &str {
        match self {
            Outcome::NotNeeded(s) | Outcome::Applied(s) | Outcome::Failed(s) => s,
        }
    }
}

/// Controllers currently attached to the cgroup2 hierarchy of a hybrid layout.
pub fn unified_controllers() -> Option<String> {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Applies the workaround when the layout is hybrid. Call on the main thread before other
/// threads start: a mount namespace is per thread, and children inherit the caller's.
pub fn apply_if_hybrid() -> Outcome {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let layout = crate::environment::cgroup_layout(&mounts);
    if layout != "hybrid" {
        return Outcome::NotNeeded(format!("cgroup layout is {layout}: no crun workaround"));
    }
    let before = unified_controllers().unwrap_or_default();
    match apply() {
        Ok(()) => Outcome::Applied(format!(
            "hybrid cgroup layout: the bench runs in a private mount namespace with the v1 \
             hugetlb controller mounted at {HUGETLB} (crun 1.8 refuses a hybrid layout whose \
             cgroup2 has controllers; cgroup2 controllers at start: {}); all peers run in this \
             same namespace, and the mount happens once, outside every measurement",
            if before.is_empty() {
                "none".to_string()
            } else {
                before
            }
        )),
        Err(e) => Outcome::Failed(format!("hybrid cgroup layout, workaround failed: {e:#}")),
    }
}

fn apply() -> Result<()> {
    // An empty directory on the host's cgroup tmpfs as the mount point; harmless if it stays.
    std::fs::create_dir_all(HUGETLB).with_context(|| format!("creating {HUGETLB}"))?;
    // Private propagation so neither the hugetlb mount nor pier's mounts reach the host.
    pier_oci::namespaces::enter_private_mount_namespace()
        .context("a private mount namespace for the bench")?;
    if is_hugetlb_mounted() {
        return Ok(());
    }
    mount(
        Some("none"),
        HUGETLB,
        Some("cgroup"),
        MsFlags::empty(),
        Some("hugetlb"),
    )
    .with_context(|| format!("mount -t cgroup -o hugetlb none {HUGETLB}"))
}

fn is_hugetlb_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(HUGETLB))
    }) && Path::new(HUGETLB).join("tasks").exists()
}
