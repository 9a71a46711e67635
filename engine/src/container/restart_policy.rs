//! `--restart`: what the container's monitor does when the container's command exits, and
//! Docker's back-off between restarts.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `--restart no|on-failure[:N]|always|unless-stopped`, as Docker defines them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
pub enum RestartPolicy {
    /// Never restart (the default).
    #[default]
    No,
    /// Restart when the command exits non-zero, at most `max_retries` times (unlimited if
    /// `None`).
    OnFailure {
        /// `:N`.
        max_retries: Option<u32>,
    },
    /// Always restart, unless the user stopped it (`pier stop`, `pier kill`).
    Always,
    /// As `always`, except when `pier system service` starts (Docker's daemon start): a
    /// container the user stopped stays stopped.
    UnlessStopped,
}

/// The first delay between restarts; it doubles after each restart.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest delay between restarts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay to [`BACKOFF_START`].
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

impl RestartPolicy {
    /// Parses the `--restart` value.
    pub fn parse(text: &str) -> Result<RestartPolicy> {
        let (name, count) = match text.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (text, None),
        };
        let policy = match name {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: match count {
                    None => None,
                    Some(c) => match c.parse::<u32>() {
                        Ok(n) => Some(n),
                        Err(_) => bail!(
                            "invalid --restart {text:?}: the retry count {c:?} is not a non-negative number"
                        ),
                    },
                },
            },
            _ => bail!(
                "invalid --restart {text:?}: expected no, on-failure[:max-retries], always or unless-stopped"
            ),
        };
        if count.is_some() && !matches!(policy, RestartPolicy::OnFailure { .. }) {
            bail!("invalid --restart {text:?}: only on-failure takes a retry count");
        }
        Ok(policy)
    }

    /// Docker's name (`HostConfig.RestartPolicy.Name`).
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Docker's `MaximumRetryCount` (0: unlimited or not applicable).
    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries.unwrap_or(0),
            _ => 0,
        }
    }

    /// Whether a run that ended with `exit_code`, after `restarts` policy restarts, is
    /// restarted. A container the user stopped is never restarted.
    pub fn should_restart(&self, exit_code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && max_retries.is_none_or(|max| restarts < max)
            }
        }
    }

    /// Whether a container that is not running is started when `pier system service` starts
    /// (Docker's daemon start): `always` even if the user stopped it, `unless-stopped` unless
    /// the user did. The daemonless `pier` command has no such moment.
    pub fn starts_with_service(&self, stopped_by_user: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !stopped_by_user,
            RestartPolicy::No | RestartPolicy::OnFailure { .. } => false,
        }
    }
}

/// The delay before the next restart: 100 ms doubling to at most a minute; a run that lasted
/// [`BACKOFF_RESET_AFTER`] or more starts again from 100 ms (Docker's restart manager).
pub fn next_delay(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        Some(d) if ran_for < BACKOFF_RESET_AFTER => (d * 2).min(BACKOFF_MAX),
        _ => BACKOFF_START,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_starts_always_and_unless_stopped_not_stopped_by_the_user() {
        assert!(RestartPolicy::Always.starts_with_service(true));
        assert!(RestartPolicy::UnlessStopped.starts_with_service(false));
        assert!(!RestartPolicy::UnlessStopped.starts_with_service(true));
        assert!(!RestartPolicy::No.starts_with_service(false));
        let on_failure = RestartPolicy::OnFailure { max_retries: None };
        assert!(!on_failure.starts_with_service(false));
    }

    #[test]
    fn parses_docker_spellings() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            RestartPolicy::OnFailure { max_retries: None }
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            let e = RestartPolicy::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--restart"), "{bad}: {e}");
        }
    }

    #[test]
    fn decisions() {
        let p = RestartPolicy::OnFailure {
            max_retries: Some(3),
        };
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 2, false));
        assert!(!p.should_restart(1, 3, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(1, 0, true));
        assert!(!RestartPolicy::No.should_restart(1, 0, false));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let short = Duration::from_secs(1);
        let mut d = next_delay(None, short);
        assert_eq!(d, Duration::from_millis(100));
        d = next_delay(Some(d), short);
        assert_eq!(d, Duration::from_millis(200));
        for _ in 0..20 {
            d = next_delay(Some(d), short);
        }
        assert_eq!(d, BACKOFF_MAX);
        assert_eq!(next_delay(Some(d), Duration::from_secs(11)), BACKOFF_START);
    }
}
