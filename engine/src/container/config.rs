//! The user's `pier run` / `pier create` options, validated before anything is created.

pub use super::health_config::HealthConfig;
use super::logs::LogConfig;
pub use super::restart_policy::RestartPolicy;
use crate::units;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Network mode of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace with only loopback.
    None,
    /// The host's network namespace.
    Host,
    /// A bridge network (the default `bridge`, or a user-defined one by name).
    Bridge(String),
    /// Another container's network namespace.
    Container(String),
}

impl NetworkMode {
    /// Parses `--network`: `none`, `host`, `bridge`, `container:NAME` or a network name.
    pub fn parse(text: &str) -> Result<NetworkMode> {
        Ok(match text {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "" => bail!(
                "--network needs a value: none, host, bridge, container:NAME or a network name"
            ),
            t => match t.strip_prefix("container:") {
                Some("") => bail!("--network container: needs a container name"),
                Some(name) => NetworkMode::Container(name.to_string()),
                None => NetworkMode::Bridge(t.to_string()),
            },
        })
    }

    /// The `--network` text for this mode.
    pub fn display(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// A bind mount of a host path: `-v HOST:CONTAINER[:ro]` or `--mount type=bind` (parsed by
/// [`super::mount_args`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Absolute host path (must exist).
    pub source: PathBuf,
    /// Absolute path in the container.
    pub destination: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// A volume mounted into a container: `-v NAME:/path`, `-v /path`, `--mount type=volume`, or
/// one of the image's `VOLUME`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// The volume's name; `None` for an anonymous volume until `create` makes it.
    pub name: Option<String>,
    /// Absolute path in the container.
    pub destination: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
    /// Made for this container (`-v /path`, the image's `VOLUME`): removed with it by
    /// `rm -v` and `run --rm`.
    pub anonymous: bool,
    /// `nocopy`: do not copy the image's files into an empty volume.
    #[serde(default)]
    pub no_copy: bool,
    /// `volume-label=K=V`: labels for the volume if this mount creates it.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A `--tmpfs PATH[:OPTIONS]` mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    /// Path in the container.
    pub destination: PathBuf,
    /// Mount options (Docker's default `rw,noexec,nosuid,size=65536k` plus the user's).
    pub options: Vec<String>,
}

impl TmpfsMount {
    /// Parses `PATH[:OPTIONS]`.
    pub fn parse(spec: &str) -> Result<TmpfsMount> {
        let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
        if !path.starts_with('/') {
            bail!("invalid --tmpfs {spec:?}: the path must be absolute");
        }
        let mut options: Vec<String> = ["rw", "noexec", "nosuid", "nodev", "size=65536k"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            let key = o.split('=').next().unwrap_or(o);
            options.retain(|x| {
                x.split('=').next() != Some(key)
                    && !(key == "exec" && x == "noexec")
                    && !(key == "suid" && x == "nosuid")
                    && !(key == "dev" && x == "nodev")
            });
            options.push(o.to_string());
        }
        Ok(TmpfsMount {
            destination: PathBuf::from(path),
            options,
        })
    }
}

/// A further network a container joins (after its first, `network`), with its names there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// The network's name.
    pub network: String,
    /// Extra names of the container on that network.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Resource limits, parsed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--memory-swap` (memory + swap) in bytes; `Some(-1)` unlimited.
    pub memory_swap: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (10 to 1000).
    pub blkio_weight: Option<u16>,
}

/// The label `pier system service` puts on every container created through the Engine API
/// (value: `1`), so that what was made through the socket can be told from what `pier run`
/// made (lab 12 checks it; `docker ps --filter label=io.pier.api` lists them).
pub const API_CREATED_LABEL: &str = "io.pier.api";

/// Everything `pier run` was asked to do, validated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunConfig {
    /// Image reference as given.
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// Command and arguments after the image.
    pub command: Vec<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// `-e` values and `--env-file` contents, in order (`KEY=VALUE`).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-i`.
    pub interactive: bool,
    /// `-t`.
    pub tty: bool,
    /// Docker's `StdinOnce` (`docker run -i`): the container's stdin is closed when the
    /// first client attached to it ends its input.
    #[serde(default)]
    pub stdin_once: bool,
    /// Docker's `HostConfig.ConsoleSize`: the terminal's first size, [rows, columns] (the
    /// client's, so a program's first screen fits before the client's resize arrives).
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    /// `--read-only`.
    pub read_only: bool,
    /// Bind mounts (`-v HOST:CONTAINER`, `--mount type=bind`).
    pub volumes: Vec<BindMount>,
    /// Volumes (`-v NAME:CONTAINER`, `-v CONTAINER`, `--mount type=volume`); after `create`,
    /// also the image's `VOLUME`s, every one named.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// Do not give the image's `VOLUME`s anonymous volumes (build containers: a `RUN` after
    /// `VOLUME` writes into the layer, as with BuildKit).
    #[serde(default)]
    pub no_image_volumes: bool,
    /// `--tmpfs`, `--mount type=tmpfs`.
    pub tmpfs: Vec<TmpfsMount>,
    /// Resource limits.
    pub limits: Limits,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `-p` specs as given.
    pub publish: Vec<String>,
    /// `-P`.
    pub publish_all: bool,
    /// `--init`.
    pub init: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--label KEY=VALUE`: the container's labels (what `ps --filter label=` matches).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--network-alias`: extra names on the first bridge network.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// Further bridge networks joined at every start, after `network`.
    #[serde(default)]
    pub extra_networks: Vec<NetworkAttachment>,
    /// `--restart`.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The health check: `--health-*` flags (`--no-healthcheck` is a `NONE` test); after
    /// `create`, merged with the image's `HEALTHCHECK`, as Docker does.
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
    /// `--log-opt`: how big the log may grow (containers made before it: the default).
    #[serde(default)]
    pub log: LogConfig,
}

/// Parses `KEY=VALUE` lines of an env file (`#` comments and blank lines skipped; a bare `KEY`
/// takes the value from pier's own environment, as Docker does).
pub fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading env file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(env_entry(line).with_context(|| format!("{}:{}", path.display(), n + 1))?);
    }
    Ok(out)
}

/// Validates one `-e` value; a bare `KEY` takes the value from pier's environment (and is
/// dropped if unset there).
pub fn env_entry(text: &str) -> Result<String> {
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (text, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        bail!("invalid environment variable {text:?}: expected KEY=VALUE");
    }
    Ok(match value {
        Some(v) => format!("{key}={v}"),
        None => format!("{key}={}", std::env::var(key).unwrap_or_default()),
    })
}

impl Limits {
    /// Parses the limit flags, each error naming the flag.
    pub fn parse(
        memory: Option<&str>,
        memory_swap: Option<&str>,
        cpus: Option<&str>,
        cpu_shares: Option<u64>,
        cpuset_cpus: Option<&str>,
        pids_limit: Option<i64>,
        blkio_weight: Option<u16>,
    ) -> Result<Limits> {
        let memory = memory
            .map(|m| units::parse_size(m).context("--memory"))
            .transpose()?;
        if let Some(m) = memory {
            if m < 6 << 20 {
                bail!("--memory {m} bytes is too small: the minimum is 6m");
            }
        }
        let memory_swap = match memory_swap {
            None => None,
            Some("-1") => Some(-1),
            Some(s) => {
                let v = units::parse_size(s).context("--memory-swap")? as i64;
                match memory {
                    None => bail!("--memory-swap needs --memory as well"),
                    Some(m) if (v as u64) < m => {
                        bail!("--memory-swap ({s}) must be at least --memory")
                    }
                    _ => Some(v),
                }
            }
        };
        let cpus = cpus.map(units::parse_cpus).transpose()?;
        if let Some(c) = cpus {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64;
            if c > n {
                bail!("--cpus {c}: the machine has only {n} CPUs");
            }
        }
        if cpu_shares == Some(1) {
            bail!("--cpu-shares 1: the minimum is 2");
        }
        if let Some(set) = cpuset_cpus {
            validate_cpuset(set)?;
        }
        if let Some(w) = blkio_weight {
            if !(10..=1000).contains(&w) {
                bail!("--blkio-weight {w}: must be between 10 and 1000");
            }
        }
        if pids_limit == Some(0) {
            bail!("--pids-limit 0: use a positive number, or -1 for unlimited");
        }
        Ok(Limits {
            memory,
            memory_swap,
            cpus,
            cpu_shares,
            cpuset_cpus: cpuset_cpus.map(str::to_string),
            pids_limit,
            blkio_weight,
        })
    }
}

/// Checks a cpuset list (`0-1`, `0,1`) against the CPUs that exist.
fn validate_cpuset(set: &str) -> Result<()> {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    for part in set.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => bail!("--cpuset-cpus {set:?}: expected a list such as 0-1 or 0,1"),
        };
        if b >= n {
            bail!(
                "--cpuset-cpus {set:?}: CPU {b} does not exist (this machine has CPUs 0-{})",
                n - 1
            );
        }
        let _ = a;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes() {
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(
            NetworkMode::parse("container:web").unwrap(),
            NetworkMode::Container("web".into())
        );
        assert_eq!(
            NetworkMode::parse("mynet").unwrap(),
            NetworkMode::Bridge("mynet".into())
        );
        assert!(NetworkMode::parse("container:").is_err());
    }

    #[test]
    fn tmpfs_options_override_defaults() {
        let t = TmpfsMount::parse("/run:exec,size=1m").unwrap();
        assert!(t.options.contains(&"exec".to_string()));
        assert!(!t.options.contains(&"noexec".to_string()));
        assert!(t.options.contains(&"size=1m".to_string()));
        assert!(!t.options.contains(&"size=65536k".to_string()));
    }

    #[test]
    fn limits() {
        assert!(Limits::parse(Some("32m"), None, Some("0.5"), None, None, Some(10), None).is_ok());
        assert!(
            Limits::parse(Some("lots"), None, None, None, None, None, None)
                .unwrap_err()
                .to_string()
                .contains("--memory")
        );
        assert!(Limits::parse(None, None, Some("0"), None, None, None, None).is_err());
        assert!(Limits::parse(None, Some("64m"), None, None, None, None, None).is_err());
        assert!(Limits::parse(None, None, None, None, Some("0-999"), None, None).is_err());
        assert!(Limits::parse(None, None, None, None, None, None, Some(5)).is_err());
    }

    #[test]
    fn env_entries() {
        assert_eq!(env_entry("A=1").unwrap(), "A=1");
        assert!(env_entry("=1").is_err());
    }
}
