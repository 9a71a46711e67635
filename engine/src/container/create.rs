//! `pier create`: turn an image and the user's options into an OCI bundle — a rootfs (the
//! image's layers under a fresh writable layer, stacked with overlayfs) and a `config.json`.

use super::config::{HealthConfig, NetworkMode, RunConfig};
use super::events::{Action, Event};
use super::health_config::HEALTHCHECK_LABEL;
use super::record::{validate_name, ContainerPaths, ContainerRecord, ContainerStatus};
use super::{now_rfc3339, user, Engine};
use crate::container::spec::{self, SpecInputs};
use crate::image::{overlay, Image};
use crate::naming;
use anyhow::{bail, Context, Result};
use pier_oci::persist::write_json_replace;
use pier_oci::security::in_root::{Follow, RootDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The OCI annotation holding the container's name.
pub const NAME_ANNOTATION: &str = "io.pier.container.name";

/// The container's health check: the user's `--health-*` flags over the image's
/// `HEALTHCHECK`, as Docker merges them; `None` when neither asks for one.
fn effective_healthcheck(
    user: Option<HealthConfig>,
    image: &Image,
) -> Result<Option<HealthConfig>> {
    let from_image = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().as_ref())
        .and_then(|l| l.get(HEALTHCHECK_LABEL))
        .map(|text| HealthConfig::from_label(text))
        .transpose()?;
    Ok(match (user, from_image) {
        (Some(u), image) => Some(u.merged_over(image.as_ref())),
        (None, image) => image,
    })
}

impl Engine {
    /// Creates a container (not started). Its rootfs is left mounted when `keep_mounted`
    /// (`pier run` starts it right away). On failure nothing is left behind.
    pub fn create(&self, config: RunConfig, keep_mounted: bool) -> Result<ContainerRecord> {
        let image = self
            .images()?
            .resolve(&config.image)
            .map_err(|e| anyhow::anyhow!("unable to find image {:?}: {e:#}", config.image))?;
        if let Some(NetworkMode::Container(other)) = &config.network {
            let (_, rec) = self
                .find(other)
                .with_context(|| format!("--network container:{other}"))?;
            if rec.status != ContainerStatus::Running {
                bail!("--network container:{other}: container {other} is not running");
            }
        }
        let phase = pier_oci::trace::Phase::start("container create: record");
        let (paths, record, new_volumes) = self.allocate(&config, &image)?;
        phase.end();
        let _phase = pier_oci::trace::Phase::start("container create: rootfs, spec");
        match self.prepare(&paths, record, &image, keep_mounted) {
            Ok(rec) => {
                self.record_event(Event::about(&rec, Action::Create));
                Ok(rec)
            }
            Err(e) => {
                let _ = overlay::unmount(&paths.rootfs());
                let _ = std::fs::remove_dir_all(&paths.dir);
                self.drop_new_volumes(&new_volumes);
                Err(e)
            }
        }
    }

    /// Picks the ID, name and volumes and writes the first record, under the lock, so two
    /// `pier run --name x` at once cannot both get `x`, and a volume cannot be removed between
    /// being chosen and being recorded as in use. Also returns the volumes it created.
    fn allocate(
        &self,
        config: &RunConfig,
        image: &Image,
    ) -> Result<(ContainerPaths, ContainerRecord, Vec<String>)> {
        let _lock = self.lock()?;
        // One name looked up in the index, not every record read: a start costs the same
        // with 500 containers as with none.
        let names = self.names();
        names.ensure(|| self.containers())?;
        let id = naming::new_id()?;
        let name = match &config.name {
            Some(n) => {
                validate_name(n)?;
                if let Some((_, other)) = names.lookup(n) {
                    bail!("the container name {n:?} is already in use by container {}: remove it or pick another name", other.short_id());
                }
                n.clone()
            }
            None => naming::generate_name(&id, |n| names.taken(n)),
        };
        let mut config = config.clone();
        let image_volumes = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.volumes().clone())
            .unwrap_or_default();
        config.healthcheck = effective_healthcheck(config.healthcheck.take(), image)?;
        let new_volumes = self.attach_volumes(&mut config, &image_volumes)?;
        // As in Docker, the container's labels are the image's plus `--label` (which wins);
        // pier's own image labels (`io.pier.image.*`) stay with the image.
        let mut labels: std::collections::BTreeMap<String, String> = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("io.pier.image."))
            .collect();
        labels.append(&mut config.labels);
        config.labels = labels;
        let paths = self.paths(&id);
        let record = ContainerRecord {
            id: id.clone(),
            name,
            image: config.image.clone(),
            image_id: image.id.clone(),
            config,
            args: Vec::new(),
            created: now_rfc3339(),
            status: ContainerStatus::Created,
            init: None,
            monitor: None,
            cgroup: None,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            error: None,
            network: None,
            restart_count: 0,
            restarting: false,
            stopped_by_user: false,
            paused: false,
            health: None,
            hosts_read_only: false,
        };
        let saved = [
            paths.dir.clone(),
            paths.upper(),
            paths.work(),
            paths.rootfs(),
        ]
        .iter()
        .try_for_each(|dir| {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
        })
        // The index entry first: one whose record never got written is stale, whereas a
        // record without its entry would let a second container take the name.
        .and_then(|()| names.claim(&record.name, &id))
        .and_then(|()| record.save(&paths));
        if let Err(e) = saved {
            let _ = std::fs::remove_dir_all(&paths.dir);
            self.drop_new_volumes(&new_volumes);
            return Err(e);
        }
        Ok((paths, record, new_volumes))
    }

    fn prepare(
        &self,
        paths: &ContainerPaths,
        mut record: ContainerRecord,
        image: &Image,
        keep_mounted: bool,
    ) -> Result<ContainerRecord> {
        let config = &record.config;
        let rootfs = paths.rootfs();
        mount_rootfs(paths, image)
            .with_context(|| format!("mounting the rootfs of container {}", record.name))?;
        self.fill_volumes(&rootfs, &config.volume_mounts)?;
        let img = image.config.config().clone().unwrap_or_default();

        // Command line, as Docker: --entrypoint replaces the image's and drops its Cmd.
        let entrypoint: Vec<String> = match &config.entrypoint {
            Some(e) if e.is_empty() => Vec::new(),
            Some(e) => vec![e.clone()],
            None => img.entrypoint().clone().unwrap_or_default(),
        };
        let cmd: Vec<String> = if !config.command.is_empty() {
            config.command.clone()
        } else if config.entrypoint.is_some() {
            Vec::new()
        } else {
            img.cmd().clone().unwrap_or_default()
        };
        let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if args.is_empty() {
            bail!("no command specified: image {} has no Cmd or Entrypoint; give a command after the image name", record.image);
        }

        let user_spec = config
            .user
            .clone()
            .or_else(|| img.user().clone())
            .unwrap_or_default();
        let user = user::resolve(&rootfs, &user_spec)?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| record.short_id().to_string());
        let env = merge_env(
            img.env().as_deref().unwrap_or_default(),
            &config.env,
            &hostname,
            &user.home,
        );
        let cwd = config
            .workdir
            .clone()
            .or_else(|| img.working_dir().clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into());
        if !cwd.starts_with('/') {
            bail!("the working directory {cwd:?} must be an absolute path");
        }
        // Resolved inside the image (its links stay in it) and made with no-follow mkdirat.
        let root = RootDir::open(&rootfs, Follow::InRoot)
            .with_context(|| format!("opening {}", rootfs.display()))?;
        root.resolve(Path::new(&cwd))
            .and_then(|rel| root.mkdir_all(&rel, 0o755))
            .with_context(|| format!("creating the working directory {cwd}"))?;

        let network = config
            .network
            .clone()
            .unwrap_or(NetworkMode::Bridge(crate::network::DEFAULT_NETWORK.into()));
        let etc_files = write_etc_files(paths, &hostname, &network)?;
        let netns_path = match &network {
            NetworkMode::Container(other) => {
                let (_, rec) = self.find(other)?;
                let pid = rec
                    .init
                    .map(|p| p.pid)
                    .with_context(|| format!("container {other} is not running"))?;
                Some(PathBuf::from(format!("/proc/{pid}/ns/net")))
            }
            NetworkMode::Bridge(_) => Some(paths.netns()),
            _ => None,
        };
        let mut annotations = HashMap::new();
        annotations.insert(
            "org.opencontainers.image.ref.name".to_string(),
            record.image.clone(),
        );
        annotations.insert(NAME_ANNOTATION.to_string(), record.name.clone());
        let spec = spec::build(&SpecInputs {
            id: &record.id,
            config,
            args: args.clone(),
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
            hostname,
            etc_files,
            netns_path,
            annotations,
            volumes: self.volume_binds(&config.volume_mounts)?,
        })?;
        write_json_replace(&paths.bundle().join("config.json"), &spec)?;
        record.args = args;
        // The spec just written mounts /etc/hosts read-only exactly when this holds.
        record.hosts_read_only = super::network::shares_network_hosts(&record.config);
        record.save(paths)?;
        if !keep_mounted {
            overlay::unmount(&rootfs)?;
        }
        Ok(record)
    }
}

/// Mounts the container's root filesystem: the image's layers under its own writable layer.
pub(crate) fn mount_rootfs(paths: &ContainerPaths, image: &Image) -> Result<()> {
    overlay::mount_overlay_volatile(
        &image.layer_dirs,
        &paths.upper(),
        &paths.work(),
        &paths.rootfs(),
    )
}

/// The image's environment, overridden by the user's (`-e`, `--env-file`), plus `HOSTNAME`,
/// `HOME` and `PATH` when missing, as Docker does.
pub fn merge_env(
    image_env: &[String],
    user_env: &[String],
    hostname: &str,
    home: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut set = |entry: &str| {
        let key = entry.split('=').next().unwrap_or(entry);
        out.retain(|e| e.split('=').next() != Some(key));
        out.push(entry.to_string());
    };
    set("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    set(&format!("HOSTNAME={hostname}"));
    for e in image_env.iter().chain(user_env) {
        set(e);
    }
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={home}"));
    }
    out
}

/// Writes the container's /etc/hostname, /etc/hosts and /etc/resolv.conf (bind-mounted into
/// it, so they can be changed later without touching the image).
fn write_etc_files(
    paths: &ContainerPaths,
    hostname: &str,
    network: &NetworkMode,
) -> Result<Vec<(PathBuf, &'static str)>> {
    let mut files = Vec::new();
    let hostname_file = paths.etc_file("hostname");
    std::fs::write(&hostname_file, format!("{hostname}\n"))
        .with_context(|| format!("writing {}", hostname_file.display()))?;
    files.push((hostname_file, "/etc/hostname"));

    let hosts_file = paths.etc_file("hosts");
    let hosts = match network {
        NetworkMode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        // On a bridge the network adds "<ip> <name> <short id>" lines (and the hostname is
        // the short ID by default), so the container's name resolves to its real address.
        NetworkMode::Bridge(_) => "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string(),
        _ => format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
    };
    std::fs::write(&hosts_file, hosts)
        .with_context(|| format!("writing {}", hosts_file.display()))?;
    files.push((hosts_file, "/etc/hosts"));

    let resolv_file = paths.etc_file("resolv.conf");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = match network {
        NetworkMode::Host => host_resolv,
        // A nameserver on the host's loopback is unreachable from the container's own network
        // namespace: leave those out, as Docker does.
        _ => host_resolv
            .lines()
            .filter(|l| {
                !(l.starts_with("nameserver") && (l.contains(" 127.") || l.contains(" ::1")))
            })
            .map(|l| format!("{l}\n"))
            .collect(),
    };
    std::fs::write(&resolv_file, resolv)
        .with_context(|| format!("writing {}", resolv_file.display()))?;
    files.push((resolv_file, "/etc/resolv.conf"));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_precedence() {
        let env = merge_env(
            &["PATH=/bin".into(), "A=image".into()],
            &["A=user".into(), "B=2".into()],
            "h",
            "/root",
        );
        assert!(env.contains(&"PATH=/bin".to_string()));
        assert!(env.contains(&"A=user".to_string()));
        assert!(!env.contains(&"A=image".to_string()));
        assert!(env.contains(&"HOSTNAME=h".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }
}
