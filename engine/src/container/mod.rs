//! The high level: containers as Docker users know them, built on the image store, the
//! network, and the low-level OCI runtime ([`pier_oci::container`]).
//!
//! `pier run` = [`Engine::create`] (image + flags -> OCI bundle) then [`Engine::start`]
//! (watch the low-level container until it exits). Each operation has its own file.

/// A detached container's attach point (in `pier-watch`, which the small monitor shares).
pub use pier_watch::attach_point;
pub mod config;
pub mod cp;
pub mod cp_stat;
pub mod create;
pub mod diff;
pub mod event_seal;
pub mod events;
pub mod exec;
pub mod freeze;
pub mod health;
pub mod health_config;
pub mod health_probe;
pub mod images;
pub mod inspect;
pub mod inspect_docker;
/// The watcher's event loop (in `pier-watch`, which the small monitor shares).
pub use pier_watch::io_loop;
pub mod logs;
pub mod monitor;
pub mod mount_args;
pub mod mountinfo;
mod name_index;
pub mod network;
pub mod record;
pub mod remove;
pub mod rename;
pub mod restart;
pub mod restart_policy;
pub mod spec;
pub mod start;
pub mod status_words;
pub mod stop;
pub mod update;
pub mod user;
pub mod volumes;
/// The monitor's working set (in `pier-watch`: the small monitor trims its own too).
pub use pier_watch::working_set;

use crate::image::ImageStore;
use anyhow::{bail, Context, Result};
use pier_oci::persist::Lock;
use record::{ContainerPaths, ContainerRecord};
use std::path::{Path, PathBuf};

/// The default state directory.
pub const DEFAULT_ROOT: &str = "/var/lib/pier";

/// pier's engine, rooted at a state directory.
pub struct Engine {
    root: PathBuf,
}

impl Engine {
    /// Opens the engine at `root` (created if needed). pier needs root privileges: namespaces,
    /// mounts and cgroups are the kernel's privileged interfaces.
    pub fn open(root: &Path) -> Result<Engine> {
        if !nix::unistd::geteuid().is_root() {
            bail!("pier needs root privileges (namespaces, mounts and cgroups): run it as root or with sudo");
        }
        let containers = root.join("containers");
        std::fs::create_dir_all(&containers)
            .with_context(|| format!("creating {}", containers.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving {}", root.display()))?;
        Ok(Engine { root })
    }

    /// Completes the network tear-down of containers that exited (see `network::pending`),
    /// so that what follows finds nothing of them left. The `pier` command runs it first,
    /// except for commands that only launch containers: those wait only when they connect
    /// to a network ([`Engine::networks`] settles too).
    pub fn settle_network_teardown(&self) -> Result<()> {
        if crate::network::pending::any(&self.root) {
            self.networks()?;
        }
        Ok(())
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image store.
    pub fn images(&self) -> Result<ImageStore> {
        ImageStore::open(&self.root)
    }

    /// The network manager.
    pub fn networks(&self) -> Result<crate::network::NetworkManager> {
        let nets = crate::network::NetworkManager::open(&self.root, Path::new(DEFAULT_ROOT))?;
        if crate::network::pending::any(&self.root) {
            nets.settle()?;
        }
        Ok(nets)
    }

    /// Serializes changes to container records across pier processes.
    pub(crate) fn lock(&self) -> Result<Lock> {
        Lock::exclusive(&self.root.join("containers.lock"))
    }

    /// Paths of a container.
    pub fn paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths::new(&self.root, id)
    }

    /// The index of container names.
    pub(crate) fn names(&self) -> name_index::NameIndex {
        name_index::NameIndex::new(&self.root)
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.root.join("containers");
        let mut out = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let paths = ContainerPaths { dir: entry.path() };
            if let Ok(rec) = ContainerRecord::load(&paths) {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Finds a container by name, full ID or unique ID prefix.
    pub fn find(&self, key: &str) -> Result<(ContainerPaths, ContainerRecord)> {
        let key = key.trim_start_matches('/');
        // A name or a full ID: one record read, not all of them.
        if let Some(found) = self.names().lookup(key) {
            return Ok(found);
        }
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let paths = self.paths(key);
            if let Ok(rec) = ContainerRecord::load(&paths) {
                return Ok((paths, rec));
            }
        }
        let all = self.containers()?;
        if let Some(rec) = all.iter().find(|r| r.name == key || r.id == key) {
            return Ok((self.paths(&rec.id), rec.clone()));
        }
        let matches: Vec<&ContainerRecord> = all
            .iter()
            .filter(|r| !key.is_empty() && r.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok((self.paths(&one.id), (*one).clone())),
            [] => bail!("no such container: {key}"),
            _ => bail!(
                "container ID prefix {key} is ambiguous: it matches {} containers",
                matches.len()
            ),
        }
    }

    /// Re-reads a record, under the lock, applies `change` and saves it. Returns the new record
    /// (`None` if the container was removed meanwhile).
    pub(crate) fn update(
        &self,
        paths: &ContainerPaths,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<Option<ContainerRecord>> {
        let _lock = self.lock()?;
        if !paths.record().exists() {
            return Ok(None);
        }
        let mut rec = ContainerRecord::load(paths)?;
        change(&mut rec);
        rec.save(paths)?;
        Ok(Some(rec))
    }
}

/// The current time as a record's times are written (RFC 3339, UTC, nanoseconds).
pub use pier_oci::time::now_rfc3339;
