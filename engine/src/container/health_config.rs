//! The health check of a container: Docker's `HealthConfig`, from the image's `HEALTHCHECK`
//! (kept as the [`crate::builder::instructions::HEALTHCHECK_LABEL`] label) and the `--health-*`
//! flags.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The image label holding its `HEALTHCHECK`, as Docker's JSON (written by the builder).
pub const HEALTHCHECK_LABEL: &str = "io.pier.image.healthcheck";

/// Docker's `HealthConfig`, in its JSON spelling (durations in nanoseconds; 0 means "inherit
/// from the image, or Docker's default").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// Time between checks (default 30 s).
    pub interval: u64,
    /// A check running longer fails (default 30 s).
    pub timeout: u64,
    /// Failures during this time after start do not count (default 0).
    pub start_period: u64,
    /// Time between checks during the start period (default 5 s).
    pub start_interval: u64,
    /// Consecutive failures that make the container unhealthy (default 3).
    pub retries: u32,
}

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;

impl HealthConfig {
    /// Builds the configuration from the `--health-*` flags (`None` if none was given).
    pub fn from_flags(
        cmd: Option<&str>,
        interval: Option<&str>,
        timeout: Option<&str>,
        start_period: Option<&str>,
        retries: Option<i64>,
        disabled: bool,
    ) -> Result<Option<HealthConfig>> {
        let given = cmd.is_some()
            || interval.is_some()
            || timeout.is_some()
            || start_period.is_some()
            || retries.is_some();
        if disabled {
            if given {
                bail!("--no-healthcheck conflicts with the --health-* options");
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !given {
            return Ok(None);
        }
        let retries = match retries {
            None => 0,
            Some(r) if r < 0 => bail!("--health-retries {r}: cannot be negative"),
            Some(r) => u32::try_from(r).context("--health-retries: too large")?,
        };
        Ok(Some(HealthConfig {
            test: cmd
                .map(|c| vec!["CMD-SHELL".to_string(), c.to_string()])
                .unwrap_or_default(),
            interval: flag_duration("--health-interval", interval)?,
            timeout: flag_duration("--health-timeout", timeout)?,
            start_period: flag_duration("--health-start-period", start_period)?,
            start_interval: 0,
            retries,
        }))
    }

    /// The image's `HEALTHCHECK` label, parsed.
    pub fn from_label(text: &str) -> Result<HealthConfig> {
        serde_json::from_str(text).with_context(|| format!("image HEALTHCHECK label {text:?}"))
    }

    /// Docker's merge: each field the user left unset comes from the image.
    pub fn merged_over(self, image: Option<&HealthConfig>) -> HealthConfig {
        let Some(image) = image else { return self };
        let pick = |mine: u64, theirs: u64| if mine != 0 { mine } else { theirs };
        HealthConfig {
            test: if self.test.is_empty() {
                image.test.clone()
            } else {
                self.test
            },
            interval: pick(self.interval, image.interval),
            timeout: pick(self.timeout, image.timeout),
            start_period: pick(self.start_period, image.start_period),
            start_interval: pick(self.start_interval, image.start_interval),
            retries: if self.retries != 0 {
                self.retries
            } else {
                image.retries
            },
        }
    }

    /// Whether a check runs at all (a test other than `NONE`).
    pub fn is_enabled(&self) -> bool {
        !self.test.is_empty() && self.test[0] != "NONE"
    }

    /// The command to run in the container: `CMD-SHELL` goes through `/bin/sh -c`.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => Some(self.test[1..].to_vec()),
            Some("CMD-SHELL") if self.test.len() > 1 => Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                self.test[1..].join(" "),
            ]),
            _ => None,
        }
    }

    /// Time between checks.
    pub fn interval(&self) -> Duration {
        nanos_or(self.interval, DEFAULT_INTERVAL)
    }
    /// Time a check may take.
    pub fn timeout(&self) -> Duration {
        nanos_or(self.timeout, DEFAULT_TIMEOUT)
    }
    /// The start period.
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    /// Time between checks during the start period.
    pub fn start_interval(&self) -> Duration {
        nanos_or(self.start_interval, DEFAULT_START_INTERVAL)
    }
    /// Failures before unhealthy.
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
}

fn nanos_or(n: u64, default: Duration) -> Duration {
    if n == 0 {
        default
    } else {
        Duration::from_nanos(n)
    }
}

/// A `--health-*` duration: Go's spelling (`30s`, `1m30s`, `500ms`); negative is refused, and
/// Docker's minimum of 1 ms for a non-zero value applies.
fn flag_duration(flag: &str, value: Option<&str>) -> Result<u64> {
    let Some(v) = value else { return Ok(0) };
    if v.trim_start().starts_with('-') {
        bail!("{flag} {v}: cannot be negative");
    }
    let d = humantime::parse_duration(v)
        .with_context(|| format!("{flag} {v:?}: expected a duration such as 30s or 1m30s"))?;
    if !d.is_zero() && d < Duration::from_millis(1) {
        bail!("{flag} {v}: the minimum is 1ms");
    }
    Ok(d.as_nanos().min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_merge() {
        assert!(
            HealthConfig::from_flags(None, None, None, None, None, false)
                .unwrap()
                .is_none()
        );
        let e = HealthConfig::from_flags(None, Some("-1s"), None, None, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--health-interval"), "{e}");
        assert!(HealthConfig::from_flags(None, Some("soon"), None, None, None, false).is_err());
        assert!(HealthConfig::from_flags(Some("true"), None, None, None, None, true).is_err());
        let user = HealthConfig::from_flags(None, Some("1s"), None, None, Some(2), false)
            .unwrap()
            .unwrap();
        let image = HealthConfig::from_label(
            r#"{"Test":["CMD-SHELL","wget -q localhost"],"Timeout":3000000000}"#,
        )
        .unwrap();
        let m = user.merged_over(Some(&image));
        assert_eq!(m.interval(), Duration::from_secs(1));
        assert_eq!(m.timeout(), Duration::from_secs(3));
        assert_eq!(m.retries(), 2);
        assert_eq!(
            m.command().unwrap(),
            vec!["/bin/sh", "-c", "wget -q localhost"]
        );
        let none = HealthConfig::from_flags(None, None, None, None, None, true)
            .unwrap()
            .unwrap();
        assert!(!none.merged_over(Some(&image)).is_enabled());
    }
}
