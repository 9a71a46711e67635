//! Errors of the runtime that callers tell apart by type, not by message: today the one that
//! carries the exit code Docker reports when a container's command cannot be run.

use std::fmt;

/// The command could not be executed (or setup failed): carries Docker's exit code for it
/// (127 not found, 126 not executable, 125 other).
#[derive(Debug)]
pub struct StartError {
    /// Exit code to report.
    pub code: i32,
    /// What went wrong, one line.
    pub message: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}
