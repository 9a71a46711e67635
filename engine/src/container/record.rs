//! pier's record of each container (`<root>/containers/<id>/container.json`) and the
//! directory layout around it.

use super::config::RunConfig;
use super::health::Health;
use anyhow::Result;
use pier_oci::cgroups::Cgroup;
use pier_oci::persist::{read_json, write_json_replace};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, never started (or started and failed to exec).
    Created,
    /// Its process runs.
    Running,
    /// Its process has exited.
    Exited,
}

impl ContainerStatus {
    /// Docker's word for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Exited => "exited",
        }
    }
}

/// A process identity that survives PID reuse: the PID plus its start time (in clock ticks
/// since boot, field 22 of `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// PID as the host sees it.
    pub pid: i32,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
}

impl ProcessId {
    /// Identifies a live process; `None` if it does not exist.
    pub fn of(pid: i32) -> Option<ProcessId> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may contain spaces; fields resume after the last ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let start_time = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(ProcessId { pid, start_time })
    }

    /// Whether this very process still exists (not a zombie, not a reused PID).
    pub fn is_alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let rest = &stat[close + 2..];
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let start = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
        state != Some("Z") && start == Some(self.start_time)
    }
}

/// Everything pier knows about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Image reference as the user gave it.
    pub image: String,
    /// Image ID (`sha256:...`).
    pub image_id: String,
    /// The user's options.
    pub config: RunConfig,
    /// The final command line.
    pub args: Vec<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Status.
    pub status: ContainerStatus,
    /// The container's init, while it runs.
    pub init: Option<ProcessId>,
    /// The pier process that watches it (foreground `pier run` or the detached monitor).
    pub monitor: Option<ProcessId>,
    /// Its cgroup, while it exists.
    pub cgroup: Option<Cgroup>,
    /// Exit code of the last run.
    pub exit_code: Option<i32>,
    /// Whether the last run ended in an OOM kill.
    #[serde(default)]
    pub oom_killed: bool,
    /// Last start (RFC 3339).
    pub started_at: Option<String>,
    /// Last exit (RFC 3339).
    pub finished_at: Option<String>,
    /// Why the last start failed or the monitor lost track of it, if it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Network state (endpoint JSON from the network module), when on a bridge network.
    #[serde(default)]
    pub network: Option<serde_json::Value>,
    /// How many times its monitor restarted it under its `--restart` policy since the
    /// user last started it (Docker's `RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
    /// The monitor is waiting out the back-off before the next restart (Docker's
    /// `State.Restarting`); the status is then `exited`.
    #[serde(default)]
    pub restarting: bool,
    /// The user stopped or killed it: no restart policy brings it back until the user starts
    /// it again (Docker's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Frozen by `pier pause`.
    #[serde(default)]
    pub paused: bool,
    /// Its health, while it runs with a health check.
    #[serde(default)]
    pub health: Option<Health>,
    /// Its `/etc/hosts` is mounted read-only, so it may read its network's shared hosts file
    /// (see `network::hosts`). A container created before that rule has a writable mount and
    /// keeps a file of its own.
    #[serde(default)]
    pub hosts_read_only: bool,
}

/// The files and directories of one container.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    /// `<root>/containers/<id>`.
    pub dir: PathBuf,
}

impl ContainerPaths {
    /// Paths of container `id` under pier's `root`.
    pub fn new(root: &Path, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: root.join("containers").join(id),
        }
    }
    /// `container.json`.
    pub fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    /// The OCI bundle (config.json + rootfs mount point).
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
    /// The merged overlay mount point.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }
    /// The container's writable layer.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    /// overlayfs work directory.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// OCI runtime state directory (state.json, exec.fifo).
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    /// The container's log (JSON lines, as Docker's json-file driver).
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }
    /// The container's network namespace file (bridge networks).
    pub fn netns(&self) -> PathBuf {
        self.dir.join("netns")
    }
    /// /etc/hosts, /etc/hostname, /etc/resolv.conf as pier writes them.
    pub fn etc_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl ContainerRecord {
    /// Loads a record.
    pub fn load(paths: &ContainerPaths) -> Result<ContainerRecord> {
        read_json(&paths.record())
    }

    /// Saves it atomically.
    pub fn save(&self, paths: &ContainerPaths) -> Result<()> {
        write_json_replace(&paths.record(), self)
    }

    /// The 12-digit short ID.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// Checks a `--name` the way Docker does.
pub fn validate_name(name: &str) -> Result<()> {
    crate::naming::check("container", name, 1, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_identity_is_stable() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        let other = ProcessId {
            pid: me.pid,
            start_time: me.start_time + 1,
        };
        assert!(!other.is_alive(), "a reused PID is not the same process");
    }

    #[test]
    fn names() {
        assert!(validate_name("web-1").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a b").is_err());
    }
}
