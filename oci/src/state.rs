//! The OCI runtime state (`state.json` in the container's runtime directory).
//!
//! The file holds the state document of the OCI runtime specification (what hooks read on
//! their stdin and `state` prints) plus what later commands need and the specification does
//! not name: when the container was made, its rootfs, its cgroup, and the start time of its
//! init (so that a recycled PID is not mistaken for the container).

use crate::cgroups::Cgroup;
use crate::persist::{read_json, write_json_replace};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// OCI status values (`paused` is runc's addition, which containerd and Podman expect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up.
    Creating,
    /// Set up; the user's command has not started.
    Created,
    /// The command is running.
    Running,
    /// Its processes are frozen (`pause`).
    Paused,
    /// The command has exited.
    Stopped,
}

impl Status {
    /// The lowercase name the specification uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The state document of the OCI runtime spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// Spec version.
    pub oci_version: String,
    /// Container ID.
    pub id: String,
    /// Lifecycle status.
    pub status: Status,
    /// PID of the container's init as seen from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Annotations from config.json.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// What `state.json` holds: the OCI state and pier's own fields beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateFile {
    /// The OCI state document.
    #[serde(flatten)]
    pub oci: OciState,
    /// The container's root filesystem (absolute).
    #[serde(default)]
    pub rootfs: PathBuf,
    /// When `create` made it (RFC 3339, UTC).
    #[serde(default)]
    pub created: String,
    /// The init's start time (field 22 of /proc/PID/stat, clock ticks since boot): tells
    /// the init from a later process that got the same PID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_start_time: Option<u64>,
    /// The container's cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Cgroup>,
}

impl StateFile {
    /// The state file inside a runtime directory.
    pub(crate) fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    /// Saves atomically.
    pub(crate) fn save(&self, state_dir: &Path) -> Result<()> {
        write_json_replace(&Self::path(state_dir), self)
    }

    /// Loads.
    pub fn load(state_dir: &Path) -> Result<StateFile> {
        read_json(&Self::path(state_dir))
    }

    /// The status as it is now: `stopped` once the init has exited (or its PID belongs to
    /// another process), else the recorded one.
    pub(crate) fn live_status(&self) -> Status {
        match self.oci.pid {
            Some(pid) if init_alive(pid, self.init_start_time) => self.oci.status,
            _ => Status::Stopped,
        }
    }
}

/// Whether `pid` is a live (not zombie) process started at `start_time` (when known).
fn init_alive(pid: i32, start_time: Option<u64>) -> bool {
    match process_start_time(pid) {
        Some((started, zombie)) => !zombie && start_time.is_none_or(|t| t == started),
        None => false,
    }
}

/// The start time of `pid` (clock ticks after boot) and whether it is a zombie, from
/// /proc/PID/stat; `None` when there is no such process.
pub(crate) fn process_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); starttime is field 22.
    let zombie = fields.first() == Some(&"Z") || fields.first() == Some(&"X");
    let start = fields.get(19)?.parse().ok()?;
    Some((start, zombie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_read_and_a_missing_pid_is_none() {
        let me = std::process::id() as i32;
        let (start, zombie) = process_start_time(me).expect("own stat");
        assert!(start > 0 && !zombie);
        assert!(init_alive(me, Some(start)));
        assert!(
            !init_alive(me, Some(start + 1)),
            "a different start time is another process"
        );
        assert!(process_start_time(i32::MAX).is_none());
    }

    #[test]
    fn state_file_keeps_the_oci_fields_at_the_top_level() {
        let s = StateFile {
            oci: OciState {
                oci_version: "1.2.0".into(),
                id: "c1".into(),
                status: Status::Created,
                pid: Some(42),
                bundle: "/b".into(),
                annotations: HashMap::new(),
            },
            rootfs: "/b/rootfs".into(),
            created: "2024-01-01T00:00:00Z".into(),
            init_start_time: Some(7),
            cgroup: None,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["status"], "created");
        assert_eq!(v["pid"], 42);
        let back: StateFile = serde_json::from_value(v).unwrap();
        assert_eq!(back.init_start_time, Some(7));
    }
}
