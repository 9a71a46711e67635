//! The OCI runtime state (`state.json` in the container's runtime directory).

use crate::state::{read_json, write_json_replace};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// OCI status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being set up.
    Creating,
    /// Set up; the user's command has not started.
    Created,
    /// The command is running.
    Running,
    /// The command has exited.
    Stopped,
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

impl OciState {
    /// The state file inside a runtime directory.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    /// Saves atomically.
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        write_json_replace(&Self::path(state_dir), self)
    }

    /// Loads.
    pub fn load(state_dir: &Path) -> Result<OciState> {
        read_json(&Self::path(state_dir))
    }
}
