//! One service of the file turned into what pier's engine runs: a [`RunConfig`] (image,
//! command, environment, mounts, networks, limits, labels), how many replicas, what to build,
//! what to wait for. Every value is checked here, so `up` refuses a bad file before it has
//! created anything.

use super::file::Loaded;
use super::labels;
use super::model::{self, Command, Condition, Port, Scalar, Service, ServiceVolume};
use crate::builder::expand::split_words;
use crate::container::config::{
    env_entry, read_env_file, BindMount, HealthConfig, Limits, NetworkAttachment, NetworkMode,
    RestartPolicy, RunConfig,
};
use crate::container::logs::LogConfig;
use crate::container::mount_args::MountArgs;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to build for a service.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    /// Absolute context directory.
    pub context: PathBuf,
    /// Dockerfile (absolute), if not `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// Build arguments.
    pub args: Vec<(String, String)>,
    /// Stage to build.
    pub target: Option<String>,
    /// Labels of the image.
    pub labels: Vec<(String, String)>,
}

/// A service, resolved.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// The service's name.
    pub name: String,
    /// The image to run (built under this name when `build` is set).
    pub image: String,
    /// Whether the image name was made up by compose (`<project>-<service>`): `down --rmi
    /// local` removes only those.
    pub image_is_local: bool,
    /// The build, if any.
    pub build: Option<BuildPlan>,
    /// Number of containers.
    pub replicas: u32,
    /// A fixed container name (one replica only).
    pub container_name: Option<String>,
    /// The container configuration, without a name (each replica gets its own).
    pub config: RunConfig,
    /// How many words at the start of `config.command` come from a list `entrypoint` (the
    /// engine takes one entrypoint word; `run SERVICE CMD` keeps these).
    pub entrypoint_args: usize,
    /// The services it waits for, and for what.
    pub depends_on: Vec<(String, Condition)>,
    /// `stop_grace_period` (default 10 s).
    pub stop_timeout: Duration,
}

/// Names the project gives its networks and volumes (`<project>_<key>`, or `name:`).
pub struct Names<'a> {
    /// The project's name.
    pub project: &'a str,
    /// Network key -> real name.
    pub networks: &'a BTreeMap<String, String>,
    /// Volume key -> real name.
    pub volumes: &'a BTreeMap<String, String>,
    /// Create missing host directories of bind mounts (`up`, `run`), as compose does.
    pub create_host_dirs: bool,
}

/// Resolves service `name` of `loaded`.
pub fn resolve(name: &str, svc: &Service, loaded: &Loaded, names: &Names) -> Result<ServicePlan> {
    resolve_inner(name, svc, loaded, names).with_context(|| format!("service {name:?}"))
}

fn resolve_inner(name: &str, svc: &Service, loaded: &Loaded, names: &Names) -> Result<ServicePlan> {
    let dir = &loaded.dir;
    let build = svc.build.as_ref().map(|b| build_plan(b, dir)).transpose()?;
    let (image, image_is_local) = match (&svc.image, &build) {
        (Some(i), _) => (i.clone(), false),
        (None, Some(_)) => (format!("{}-{name}", names.project), true),
        (None, None) => bail!("has neither an image nor a build context"),
    };

    let mut env = Vec::new();
    if let Some(files) = &svc.env_file {
        for (path, required) in files.items() {
            let p = dir.join(&path);
            if !p.exists() && !required {
                continue;
            }
            env.extend(read_env_file(&p).with_context(|| format!("env_file {path}"))?);
        }
    }
    if let Some(e) = &svc.environment {
        for (k, v) in e.entries() {
            env.push(match v {
                Some(v) => env_entry(&format!("{k}={v}"))?,
                // No value: from the environment compose runs in (`.env` included), or unset.
                None => match loaded.vars.get(&k) {
                    Some(v) => format!("{k}={v}"),
                    None => continue,
                },
            });
        }
    }

    let (entrypoint, mut command) = match &svc.entrypoint {
        None => (None, Vec::new()),
        Some(e) => {
            let words = words(e);
            match words.split_first() {
                None => (Some(String::new()), Vec::new()),
                Some((first, rest)) => (Some(first.clone()), rest.to_vec()),
            }
        }
    };
    let entrypoint_args = command.len();
    if let Some(c) = &svc.command {
        command.extend(words(c));
    }

    let mut publish = Vec::new();
    for p in &svc.ports {
        publish.push(port_spec(p)?);
    }
    for spec in &publish {
        crate::network::parse_publish(spec).with_context(|| format!("ports: {spec:?}"))?;
    }

    let (binds, mounts, unmade) = mounts(svc, dir, names)?;
    let tmpfs: Vec<String> = svc.tmpfs.as_ref().map(|t| t.items()).unwrap_or_default();
    let mut mount_args = MountArgs::parse(&binds, &mounts, &tmpfs)?;
    mount_args.binds.extend(unmade);

    let (network, network_aliases, extra_networks) = networks(name, svc, names)?;
    if !publish.is_empty() && !matches!(network, NetworkMode::Bridge(_)) {
        bail!(
            "ports are published through a bridge network; network_mode {} has none",
            network.display()
        );
    }

    let deploy_limits = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    let memory = svc
        .mem_limit
        .as_ref()
        .or(deploy_limits.and_then(|l| l.memory.as_ref()))
        .map(Scalar::text);
    let cpus = svc
        .cpus
        .as_ref()
        .or(deploy_limits.and_then(|l| l.cpus.as_ref()))
        .map(Scalar::text);
    let pids = svc
        .pids_limit
        .as_ref()
        .or(deploy_limits.and_then(|l| l.pids.as_ref()))
        .map(|p| p.as_i64("pids_limit"))
        .transpose()?;
    let shares = svc
        .cpu_shares
        .as_ref()
        .map(|c| c.as_i64("cpu_shares"))
        .transpose()?
        .map(|c| u64::try_from(c).context("cpu_shares: must be positive"))
        .transpose()?;
    let cpuset = svc.cpuset.as_ref().map(Scalar::text);
    let limits = Limits::parse(
        memory.as_deref(),
        None,
        cpus.as_deref(),
        shares,
        cpuset.as_deref(),
        pids,
        None,
    )?;

    let replicas = match (
        &svc.scale,
        svc.deploy.as_ref().and_then(|d| d.replicas.as_ref()),
    ) {
        (Some(s), _) => s.as_i64("scale")?,
        (None, Some(r)) => r.as_i64("deploy.replicas")?,
        (None, None) => 1,
    };
    let replicas = u32::try_from(replicas)
        .ok()
        .filter(|r| *r <= 100)
        .with_context(|| format!("scale {replicas}: expected 0 to 100 containers"))?;
    if svc.container_name.is_some() && replicas > 1 {
        bail!("container_name is set, so it cannot be scaled to {replicas} containers");
    }

    let mut container_labels = BTreeMap::new();
    if let Some(l) = &svc.labels {
        for (k, v) in l.entries() {
            container_labels.insert(k, v.unwrap_or_default());
        }
    }
    container_labels.insert(labels::PROJECT.into(), names.project.into());
    container_labels.insert(labels::SERVICE.into(), name.into());
    container_labels.insert(labels::ONEOFF.into(), "False".into());
    container_labels.insert(
        labels::WORKING_DIR.into(),
        dir.to_string_lossy().into_owned(),
    );
    container_labels.insert(
        labels::CONFIG_FILES.into(),
        loaded
            .paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(","),
    );

    let flag = |v: &Option<Scalar>, what: &str| -> Result<bool> {
        v.as_ref()
            .map(|s| s.as_bool(what))
            .transpose()
            .map(|b| b.unwrap_or(false))
    };
    let workdir = svc.working_dir.clone();
    if let Some(w) = &workdir {
        if !w.starts_with('/') {
            bail!("working_dir {w:?} must be an absolute path");
        }
    }
    let stop_timeout = match &svc.stop_grace_period {
        Some(t) => humantime::parse_duration(t).with_context(|| {
            format!("stop_grace_period {t:?}: expected a duration such as 10s or 1m30s")
        })?,
        None => Duration::from_secs(10),
    };
    let restart = match &svc.restart {
        Some(r) => RestartPolicy::parse(r).context("restart")?,
        None => RestartPolicy::No,
    };
    let healthcheck = svc.healthcheck.as_ref().map(health_config).transpose()?;
    let log = svc
        .logging
        .as_ref()
        .map(log_config)
        .transpose()?
        .unwrap_or_default();
    let config = RunConfig {
        image: image.clone(),
        name: None,
        command,
        entrypoint,
        env,
        workdir,
        user: svc.user.as_ref().map(Scalar::text),
        hostname: svc.hostname.clone(),
        interactive: false,
        stdin_once: false,
        console_size: None,
        tty: flag(&svc.tty, "tty")?,
        read_only: flag(&svc.read_only, "read_only")?,
        volumes: mount_args.binds,
        volume_mounts: mount_args.volumes,
        no_image_volumes: false,
        tmpfs: mount_args.tmpfs,
        limits,
        network: Some(network),
        publish,
        publish_all: false,
        init: flag(&svc.init, "init")?,
        auto_remove: false,
        cap_add: svc.cap_add.clone(),
        cap_drop: svc.cap_drop.clone(),
        labels: container_labels,
        network_aliases,
        extra_networks,
        restart,
        healthcheck,
        log,
    };
    Ok(ServicePlan {
        name: name.to_string(),
        image,
        image_is_local,
        build,
        replicas,
        container_name: svc.container_name.clone(),
        config,
        entrypoint_args,
        depends_on: svc
            .depends_on
            .as_ref()
            .map(|d| d.items())
            .unwrap_or_default(),
        stop_timeout,
    })
}

/// The service's `logging` as the engine's [`LogConfig`]; another driver than json-file (or
/// `local`, written the same way) is refused, as are unknown options.
fn log_config(l: &model::Logging) -> Result<LogConfig> {
    match l.driver.as_deref() {
        None | Some("json-file") | Some("local") => {}
        Some(other) => bail!(
            "logging.driver: {other:?} is not supported: pier writes json-file logs (json-file, local)"
        ),
    }
    let values: Vec<(String, String)> = l
        .options
        .iter()
        .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::text).unwrap_or_default()))
        .collect();
    LogConfig::from_pairs(
        values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        "logging.options",
    )
}

/// The service's `healthcheck` as the engine's [`HealthConfig`] (durations in nanoseconds, 0
/// for "the image's, or Docker's default").
fn health_config(h: &model::Healthcheck) -> Result<HealthConfig> {
    let disabled = h
        .disable
        .as_ref()
        .map(|d| d.as_bool("healthcheck.disable"))
        .transpose()?
        .unwrap_or(false);
    if disabled {
        return Ok(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        });
    }
    let test = match &h.test {
        None => Vec::new(),
        Some(Command::Shell(s)) => vec!["CMD-SHELL".into(), s.clone()],
        Some(Command::Exec(v)) => {
            if !matches!(
                v.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                bail!("healthcheck.test: a list starts with CMD, CMD-SHELL or NONE");
            }
            v.clone()
        }
    };
    let nanos = |what: &str, v: &Option<String>| -> Result<u64> {
        v.as_ref()
            .map(|t| {
                humantime::parse_duration(t)
                    .map(|d| d.as_nanos() as u64)
                    .with_context(|| {
                        format!("healthcheck.{what} {t:?}: expected a duration such as 30s")
                    })
            })
            .transpose()
            .map(|n| n.unwrap_or(0))
    };
    let retries = h
        .retries
        .as_ref()
        .map(|r| r.as_i64("healthcheck.retries"))
        .transpose()?
        .unwrap_or(0);
    Ok(HealthConfig {
        test,
        interval: nanos("interval", &h.interval)?,
        timeout: nanos("timeout", &h.timeout)?,
        start_period: nanos("start_period", &h.start_period)?,
        start_interval: nanos("start_interval", &h.start_interval)?,
        retries: u32::try_from(retries)
            .with_context(|| format!("healthcheck.retries {retries}: expected 0 or more"))?,
    })
}

/// A command's words: a string is split as a shell would (quotes group, no expansion).
pub fn words(c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => split_words(s, '\\')
            .into_iter()
            .map(|w| unquote(&w))
            .collect(),
    }
}

/// Removes the quotes and escapes [`split_words`] keeps.
fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), _) => out.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (None, '\'' | '"') => quote = Some(c),
            _ => out.push(c),
        }
    }
    out
}

fn build_plan(b: &model::Build, dir: &Path) -> Result<BuildPlan> {
    let spec = match b {
        model::Build::Context(c) => model::BuildSpec {
            context: Some(c.clone()),
            ..Default::default()
        },
        model::Build::Full(s) => s.clone(),
    };
    let context = dir.join(spec.context.as_deref().unwrap_or("."));
    if !context.is_dir() {
        bail!("build context {} is not a directory", context.display());
    }
    let args = spec
        .args
        .as_ref()
        .map(|a| {
            a.entries()
                .into_iter()
                .filter_map(|(k, v)| v.or_else(|| std::env::var(&k).ok()).map(|v| (k, v)))
                .collect()
        })
        .unwrap_or_default();
    Ok(BuildPlan {
        dockerfile: spec.dockerfile.as_ref().map(|d| context.join(d)),
        context,
        args,
        target: spec.target,
        labels: spec
            .labels
            .as_ref()
            .map(|l| {
                l.entries()
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A port as a `-p` value.
fn port_spec(p: &Port) -> Result<String> {
    Ok(match p {
        Port::Short(s) => s.text(),
        Port::Long(l) => {
            if let Some(m) = &l.mode {
                if m != "host" && m != "ingress" {
                    bail!("ports: mode {m:?}: expected host or ingress");
                }
            }
            let mut spec = String::new();
            if let Some(ip) = &l.host_ip {
                spec.push_str(ip);
                spec.push(':');
            }
            if let Some(p) = &l.published {
                spec.push_str(&p.text());
                spec.push(':');
            } else if l.host_ip.is_some() {
                spec.push(':');
            }
            spec.push_str(&l.target.text());
            if let Some(proto) = &l.protocol {
                spec.push('/');
                spec.push_str(proto);
            }
            spec
        }
    })
}

/// Mounts as `-v` values (binds, with absolute host paths) and `--mount` values (volumes
/// with their real names, tmpfs), plus the binds of host directories `up` would create.
fn mounts(
    svc: &Service,
    dir: &Path,
    names: &Names,
) -> Result<(Vec<String>, Vec<String>, Vec<BindMount>)> {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    let mut unmade = Vec::new();
    let host_path = |s: &str| -> PathBuf {
        if let Some(rest) = s.strip_prefix("~/") {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(rest)
        } else {
            dir.join(s)
        }
    };
    let is_path = |s: &str| s.starts_with('/') || s.starts_with('.') || s.starts_with('~');
    let volume_name = |key: &str| -> Result<String> {
        names.volumes.get(key).cloned().with_context(|| {
            format!("volumes: {key:?} is not declared in the top-level volumes section")
        })
    };
    for v in &svc.volumes {
        match v {
            ServiceVolume::Short(s) => {
                let parts: Vec<&str> = s.splitn(3, ':').collect();
                let (source, rest) = match parts.as_slice() {
                    [target] => {
                        mounts.push(format!("type=volume,target={target}"));
                        continue;
                    }
                    [source, target] => (*source, vec![*target]),
                    [source, target, opts] => (*source, vec![*target, *opts]),
                    _ => unreachable!("splitn(3) gives 1 to 3 parts"),
                };
                if is_path(source) {
                    let p = host_path(source);
                    // The short syntax creates a missing host directory, as compose does,
                    // when containers are about to be made (not for `config` or `ps`).
                    if !p.exists() {
                        if !names.create_host_dirs {
                            unmade.push(BindMount {
                                source: p,
                                destination: PathBuf::from(rest[0]),
                                read_only: rest
                                    .get(1)
                                    .is_some_and(|o| o.split(',').any(|o| o == "ro")),
                            });
                            continue;
                        }
                        std::fs::create_dir_all(&p)
                            .with_context(|| format!("creating {}", p.display()))?;
                    }
                    let mut spec = p.to_string_lossy().into_owned();
                    for r in rest {
                        spec.push(':');
                        spec.push_str(r);
                    }
                    binds.push(spec);
                } else {
                    let mut spec = volume_name(source)?;
                    for r in rest {
                        spec.push(':');
                        spec.push_str(r);
                    }
                    binds.push(spec);
                }
            }
            ServiceVolume::Long(l) => {
                let ro = l
                    .read_only
                    .as_ref()
                    .map(|r| r.as_bool("read_only"))
                    .transpose()?
                    .unwrap_or(false);
                let mut spec = format!("type={},target={}", l.kind, l.target);
                match l.kind.as_str() {
                    "bind" => {
                        let src = l.source.as_deref().with_context(|| {
                            format!("volumes: bind mount on {} needs a source", l.target)
                        })?;
                        let p = host_path(src);
                        if !p.exists() && !names.create_host_dirs {
                            unmade.push(BindMount {
                                source: p,
                                destination: PathBuf::from(&l.target),
                                read_only: ro,
                            });
                            continue;
                        }
                        let create = l
                            .bind
                            .as_ref()
                            .and_then(|b| b.create_host_path.as_ref())
                            .map(|c| c.as_bool("create_host_path"))
                            .transpose()?
                            .unwrap_or(false);
                        if create && !p.exists() && names.create_host_dirs {
                            std::fs::create_dir_all(&p)
                                .with_context(|| format!("creating {}", p.display()))?;
                        }
                        spec.push_str(&format!(",source={}", p.display()));
                    }
                    "volume" => {
                        if let Some(src) = l.source.as_deref().filter(|s| !s.is_empty()) {
                            spec.push_str(&format!(",source={}", volume_name(src)?));
                        }
                        if let Some(n) = l.volume.as_ref().and_then(|v| v.nocopy.as_ref()) {
                            if n.as_bool("volume.nocopy")? {
                                spec.push_str(",volume-nocopy");
                            }
                        }
                    }
                    "tmpfs" => {
                        if let Some(t) = &l.tmpfs {
                            if let Some(s) = &t.size {
                                spec.push_str(&format!(",tmpfs-size={}", s.text()));
                            }
                            if let Some(m) = &t.mode {
                                spec.push_str(&format!(",tmpfs-mode={}", m.text()));
                            }
                        }
                    }
                    other => {
                        bail!("volumes: type {other:?} is not supported (bind, volume or tmpfs)")
                    }
                }
                if ro {
                    spec.push_str(",readonly");
                }
                mounts.push(spec);
            }
        }
    }
    Ok((binds, mounts, unmade))
}

/// The first network (with aliases) and the others.
fn networks(
    name: &str,
    svc: &Service,
    names: &Names,
) -> Result<(NetworkMode, Vec<String>, Vec<NetworkAttachment>)> {
    if let Some(mode) = &svc.network_mode {
        if svc.networks.is_some() {
            bail!("network_mode and networks cannot both be set");
        }
        let m = match mode.strip_prefix("service:") {
            Some(other) => NetworkMode::Container(format!("{}-{other}-1", names.project)),
            None => NetworkMode::parse(mode)?,
        };
        if let NetworkMode::Bridge(n) = &m {
            if n != "bridge" {
                bail!("network_mode {mode:?}: use networks: to join a project network");
            }
        }
        return Ok((m, Vec::new(), Vec::new()));
    }
    let wanted = svc
        .networks
        .as_ref()
        .map(|n| n.items())
        .unwrap_or_else(|| vec![("default".to_string(), Vec::new())]);
    let mut resolved = Vec::new();
    for (key, aliases) in wanted {
        let real = names.networks.get(&key).with_context(|| {
            format!("networks: {key:?} is not declared in the top-level networks section")
        })?;
        // Every service answers to its own name on each of its networks.
        let mut all = vec![name.to_string()];
        all.extend(aliases.into_iter().filter(|a| a != name));
        resolved.push(NetworkAttachment {
            network: real.clone(),
            aliases: all,
        });
    }
    let mut it = resolved.into_iter();
    let Some(first) = it.next() else {
        bail!("networks: the list is empty (use network_mode: none for no network)");
    };
    Ok((
        NetworkMode::Bridge(first.network),
        first.aliases,
        it.collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        let c = Command::Shell("sh -c 'echo \"hi there\"; exit 3' x\\ y".into());
        assert_eq!(words(&c), ["sh", "-c", "echo \"hi there\"; exit 3", "x y"]);
    }

    #[test]
    fn healthchecks() {
        let h = model::Healthcheck {
            test: Some(Command::Shell("test -f /ready".into())),
            interval: Some("2s".into()),
            retries: Some(Scalar::Int(3)),
            ..Default::default()
        };
        let c = health_config(&h).unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "test -f /ready"]);
        assert_eq!(c.interval, 2_000_000_000);
        assert_eq!(c.retries, 3);
        let bad = model::Healthcheck {
            test: Some(Command::Exec(vec!["true".into()])),
            ..Default::default()
        };
        assert!(health_config(&bad).is_err());
    }
}
