//! A container's health as its monitor finds it: Docker's `State.Health` (status, failing
//! streak, the last five results), kept in the record and read by `pier ps`, `pier inspect`
//! and compose's `service_healthy`.

use serde::{Deserialize, Serialize};

/// How many results are kept (Docker keeps five).
pub const KEPT_RESULTS: usize = 5;
/// How much of a check's output is kept, in bytes (Docker keeps 4 KiB).
pub const MAX_OUTPUT: usize = 4096;

/// Docker's health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No check has passed yet, and the failures so far are not enough for unhealthy.
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` checks in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's word for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// What `pier ps` appends to "Up ...": `(healthy)`, `(health: starting)`.
    pub fn ps_suffix(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "(health: starting)",
            HealthStatus::Healthy => "(healthy)",
            HealthStatus::Unhealthy => "(unhealthy)",
        }
    }
}

/// One check's result (Docker's `HealthcheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// When the check started (RFC 3339).
    pub start: String,
    /// When it ended (RFC 3339).
    pub end: String,
    /// 0 passed, 1 failed (any other code counts as failed too); -1 if it could not run.
    pub exit_code: i32,
    /// Its output, the first [`MAX_OUTPUT`] bytes.
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// The current state.
    pub status: HealthStatus,
    /// Failed checks in a row.
    pub failing_streak: u32,
    /// The last [`KEPT_RESULTS`] results, oldest first.
    pub log: Vec<HealthResult>,
}

impl Health {
    /// A container that has just started.
    pub fn starting() -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Applies one result: a pass makes it healthy; a failure counts towards `retries`
    /// unless it happened in the start period. Returns the new status if it changed.
    pub fn record(
        &mut self,
        result: HealthResult,
        retries: u32,
        in_start_period: bool,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if result.exit_code == 0 {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > KEPT_RESULTS {
            let extra = self.log.len() - KEPT_RESULTS;
            self.log.drain(..extra);
        }
        (self.status != before).then_some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streaks_and_transitions() {
        let mut h = Health::starting();
        assert_eq!(h.record(result(1), 2, true), None, "start period");
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(result(1), 2, false), None);
        assert_eq!(h.record(result(1), 2, false), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(result(0), 2, false), Some(HealthStatus::Healthy));
        for _ in 0..10 {
            h.record(result(0), 2, false);
        }
        assert_eq!(h.log.len(), KEPT_RESULTS);
        assert_eq!(h.failing_streak, 0);
    }
}
