//! Features of pier a lab depends on, detected at run time so that a lab whose feature is not
//! built yet says so (and its CI cycle is skipped) until the feature lands.

use std::path::Path;
use std::process::{Command, Stdio};

/// A pier command a lab needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Bridge networks: `pier network ...`.
    Network,
    /// Published ports: `pier port ...`.
    Port,
    /// Image builds from a Dockerfile: `pier build ...`.
    Build,
    /// The benchmark harness: `pier bench ...`.
    Bench,
}

impl Feature {
    /// The command that must exist.
    pub fn command(&self) -> &'static str {
        match self {
            Feature::Network => "network",
            Feature::Port => "port",
            Feature::Build => "build",
            Feature::Bench => "bench",
        }
    }

    /// Whether `pier <command> --help` succeeds with the `pier` binary at `pier`.
    pub fn available(&self, pier: &Path) -> bool {
        Command::new(pier)
            .args([self.command(), "--help"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}
