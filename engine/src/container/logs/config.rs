//! The per-container log options, Docker's `json-file` names and units: `--log-opt
//! max-size=10m --log-opt max-file=3` on `pier run`/`pier create`, `logging: options:` in
//! compose. Every container's log is bounded: without options, 20 MB × 5 files (the default of
//! Docker's `local` driver), so a chatty container cannot fill the host's disk.

use crate::units::parse_size;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default size of one log file before it is rotated.
pub const DEFAULT_MAX_SIZE: u64 = 20 << 20;
/// Default number of log files kept (the live one and the rotated ones).
pub const DEFAULT_MAX_FILE: u32 = 5;

/// How big a container's log may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// `max-size`: bytes in one file before it is rotated.
    pub max_size: u64,
    /// `max-file`: files kept, the live one included (1: the file is emptied instead).
    pub max_file: u32,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            max_size: DEFAULT_MAX_SIZE,
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

impl From<LogConfig> for pier_watch::log_writer::Rotation {
    fn from(c: LogConfig) -> Self {
        pier_watch::log_writer::Rotation {
            max_size: c.max_size,
            max_file: c.max_file,
        }
    }
}

impl LogConfig {
    /// Applies `KEY=VALUE` options (`--log-opt`); an unknown key or a bad value is refused,
    /// naming the option.
    pub fn parse_opts<S: AsRef<str>>(opts: &[S]) -> Result<LogConfig> {
        let mut cfg = LogConfig::default();
        for opt in opts {
            let opt = opt.as_ref();
            let Some((key, value)) = opt.split_once('=') else {
                bail!("--log-opt {opt:?}: expected KEY=VALUE (max-size=10m, max-file=3)");
            };
            cfg.set(key, value)
                .with_context(|| format!("--log-opt {opt}"))?;
        }
        Ok(cfg)
    }

    /// Applies compose's `logging` (`driver`, `options`); `what` names it in errors.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        what: &str,
    ) -> Result<LogConfig> {
        let mut cfg = LogConfig::default();
        for (key, value) in pairs {
            cfg.set(key, value)
                .with_context(|| format!("{what}.{key}: {value:?}"))?;
        }
        Ok(cfg)
    }

    /// The options as Docker shows them (`HostConfig.LogConfig.Config` of `inspect`):
    /// `max-size` in the largest whole unit (`10m`), `max-file` a number, both as text.
    pub fn docker_options(&self) -> BTreeMap<&'static str, String> {
        let size = self.max_size;
        let size = [(30, "g"), (20, "m"), (10, "k")]
            .iter()
            .find(|(shift, _)| size.is_multiple_of(1 << shift))
            .map_or(size.to_string(), |(shift, unit)| {
                format!("{}{unit}", size >> shift)
            });
        BTreeMap::from([("max-size", size), ("max-file", self.max_file.to_string())])
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "max-size" => {
                self.max_size = parse_size(value).map_err(|e| {
                    anyhow::anyhow!("max-size: {e:#}")
                })?;
            }
            "max-file" => match value.trim().parse::<u32>() {
                Ok(n) if n >= 1 => self.max_file = n,
                _ => bail!("max-file: expected a number of files, at least 1"),
            },
            _ => bail!(
                "unknown log option {key:?}: the json-file driver of pier knows max-size and max-file"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_and_units() {
        let c = LogConfig::parse_opts(&["max-size=10m", "max-file=3"]).unwrap();
        assert_eq!(
            c,
            LogConfig {
                max_size: 10 << 20,
                max_file: 3
            }
        );
        let c = LogConfig::parse_opts(&["max-size=1k"]).unwrap();
        assert_eq!(c.max_size, 1024);
        assert_eq!(c.max_file, DEFAULT_MAX_FILE);
        assert_eq!(
            LogConfig::parse_opts::<&str>(&[]).unwrap(),
            LogConfig::default()
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        for (opt, want) in [
            (
                "max-size=lots",
                "--log-opt max-size=lots: max-size: invalid size",
            ),
            ("max-size=0", "--log-opt max-size=0: max-size: invalid size"),
            ("max-file=0", "--log-opt max-file=0: max-file: expected"),
            ("max-file=x", "--log-opt max-file=x: max-file: expected"),
            (
                "compress=true",
                "--log-opt compress=true: unknown log option \"compress\"",
            ),
            ("max-size", "--log-opt \"max-size\": expected KEY=VALUE"),
        ] {
            let err = format!("{:#}", LogConfig::parse_opts(&[opt]).unwrap_err());
            assert!(err.starts_with(want), "{opt}: {err}");
        }
    }
}
