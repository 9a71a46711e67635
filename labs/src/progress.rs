//! Saved progress (`<root>/labs/progress.json`): which labs were started, the answers the
//! student recorded, the last score.

use anyhow::Result;
use pier_oci::persist::{read_json, write_json_atomic, Lock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Progress on one lab.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabProgress {
    /// `pier lab start` ran.
    #[serde(default)]
    pub started: bool,
    /// When it last ran (RFC 3339): events from before (an earlier attempt) do not count.
    #[serde(default)]
    pub started_at: Option<String>,
    /// Answers by key.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    /// Last score (passed, total), as `pier lab check` saw it. Not trusted: `pier lab list`
    /// runs the checks again ([`crate::current_score`]).
    #[serde(default)]
    pub score: Option<(usize, usize)>,
}

/// Progress on every lab.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// By lab number.
    #[serde(default)]
    pub labs: BTreeMap<u32, LabProgress>,
}

fn path(root: &Path) -> PathBuf {
    root.join("labs/progress.json")
}

impl Progress {
    /// Loads the progress file (empty if there is none).
    pub fn load(root: &Path) -> Result<Progress> {
        let p = path(root);
        if !p.exists() {
            return Ok(Progress::default());
        }
        read_json(&p)
    }

    /// Applies `change` under a lock and saves.
    pub fn update(root: &Path, change: impl FnOnce(&mut Progress)) -> Result<()> {
        let dir = root.join("labs");
        std::fs::create_dir_all(&dir)?;
        let _lock = Lock::exclusive(&dir.join("progress.lock"))?;
        let mut p = Progress::load(root)?;
        change(&mut p);
        write_json_atomic(&path(root), &p)
    }

    /// The entry of lab `n`, created if missing.
    pub fn lab_mut(&mut self, n: u32) -> &mut LabProgress {
        self.labs.entry(n).or_default()
    }
}
