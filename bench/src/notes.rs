//! What a run found out besides its samples (which environments ran or why not, the plan,
//! failures, criterion medians of pier's steps), saved as `notes.json` beside
//! `samples.csv` so that `pier bench report DIR` re-renders the same report later.

use crate::harness::Failure;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the notes in a result directory.
pub const NOTES_JSON: &str = "notes.json";

/// What the run found out about its environments, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Notes {
    /// `name: available` or `name: unavailable (reason)`.
    pub environments: Vec<String>,
    /// The environments that could not run, with the reason (their rows in the tables read
    /// "not measured: <reason>").
    pub unavailable: Vec<Unavailable>,
    /// The crun workaround's outcome.
    pub cgroup: Option<String>,
    /// The VM's description and accelerator reason.
    pub vm: Option<String>,
    /// Failed cases.
    pub failures: Vec<Failure>,
    /// Suite notes.
    pub suite_notes: Vec<String>,
    /// Settings used.
    pub settings: String,
    /// Criterion medians (ns) of pier's start-up steps, read when the run ended.
    pub steps: Vec<Step>,
    /// The achievable peak the cpu suite measured first (absent in older runs).
    pub measured_peak: Option<crate::peak::Measured>,
}

/// An environment that could not run here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    /// Its label, `docker (run)`.
    pub label: String,
    /// Why it could not run.
    pub reason: String,
}

impl Notes {
    /// Why the environment labelled `label` did not run, if it could not.
    pub fn why_unavailable(&self, label: &str) -> Option<&str> {
        self.unavailable
            .iter()
            .find(|u| u.label == label)
            .map(|u| u.reason.as_str())
    }
}

/// One criterion benchmark's median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Benchmark name (its directory under `target/criterion`).
    pub name: String,
    /// Median, nanoseconds.
    pub median_ns: f64,
}

impl Notes {
    /// Writes `dir/notes.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        pier_oci::persist::write_json_atomic(&dir.join(NOTES_JSON), self)
    }

    /// Reads `dir/notes.json`; `None` when the run predates it.
    pub fn read(dir: &Path) -> Result<Option<Notes>> {
        let path = dir.join(NOTES_JSON);
        if !path.exists() {
            return Ok(None);
        }
        pier_oci::persist::read_json(&path).map(Some)
    }
}

/// Criterion medians under `dir` (`target/criterion`), sorted by name; empty if absent.
pub fn criterion_steps(dir: &Path) -> Vec<Step> {
    let mut found = Vec::new();
    collect_estimates(dir, dir, &mut found);
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

fn collect_estimates(root: &Path, dir: &Path, out: &mut Vec<Step>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() || p.file_name().is_some_and(|n| n == "report") {
            continue;
        }
        let est = p.join("new").join("estimates.json");
        if let Some(ns) = std::fs::read(&est)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64())
        {
            let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            out.push(Step {
                name,
                median_ns: ns,
            });
        } else {
            collect_estimates(root, &p, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_and_absent_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Notes::read(dir.path()).unwrap(), None);
        let n = Notes {
            environments: vec!["native: available".into()],
            failures: vec![Failure {
                suite: "net".into(),
                case: "pier (bridge)".into(),
                error: "timed out".into(),
            }],
            steps: vec![Step {
                name: "cgroup_create_destroy".into(),
                median_ns: 1500.0,
            }],
            ..Notes::default()
        };
        n.write(dir.path()).unwrap();
        assert_eq!(Notes::read(dir.path()).unwrap(), Some(n));
    }

    #[test]
    fn finds_criterion_medians() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("group/bench_a/new");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(
            b.join("estimates.json"),
            r#"{"median":{"point_estimate":2500.0}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("report")).unwrap();
        let s = criterion_steps(dir.path());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "group/bench_a");
        assert_eq!(s[0].median_ns, 2500.0);
    }
}
