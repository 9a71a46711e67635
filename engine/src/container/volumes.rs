//! Volumes as the engine sees them: which containers use which volume (their records), so that
//! a volume in use is never removed; the volumes a new container gets (its `-v`/`--mount`
//! volumes, created on first use, and an anonymous one for each of the image's `VOLUME`s);
//! and what `rm -v`, `run --rm` and `volume prune` remove. The volumes themselves are kept by
//! [`crate::volume`].
//!
//! Every decision that depends on the set of containers is taken under the containers lock, as
//! container creation is: a volume cannot be removed between the moment a new container
//! chooses it and the moment that container's record is saved.

use super::config::{BindMount, RunConfig, VolumeMount};
use super::record::ContainerRecord;
use super::Engine;
use crate::naming;
use crate::volume::{copy_up, Volume, VolumeStore, ANONYMOUS_LABEL};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `volume prune` removed.
#[derive(Debug, Default)]
pub struct VolumePruneReport {
    /// Names of the removed volumes.
    pub removed: Vec<String>,
    /// Bytes their files took.
    pub reclaimed: u64,
}

impl Engine {
    /// The volume store.
    pub fn volumes(&self) -> Result<VolumeStore> {
        VolumeStore::open(self.root())
    }

    /// Containers (any state) whose mounts include volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|r| uses(r, name))
            .collect())
    }

    /// `pier volume create`: a named volume (a random 64-hex-digit name if none is given).
    pub fn create_volume(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) => n.to_string(),
            None => naming::new_id()?,
        };
        let _lock = self.lock()?;
        Ok(self.volumes()?.create(&name, labels)?.0)
    }

    /// `pier volume rm`: refused while a container (even a stopped one) uses the volume.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        let store = self.volumes()?;
        let _lock = self.lock()?;
        store.get(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            bail!(
                "unable to remove volume {name}: volume is in use by container {}",
                users
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.short_id()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        store.remove(name)
    }

    /// `pier volume prune`: removes volumes no container uses: anonymous ones only, or every
    /// unused one with `all` (Docker 23 and later); `keep` can veto a volume (label filters).
    pub fn prune_volumes(
        &self,
        all: bool,
        keep: &dyn Fn(&Volume) -> bool,
    ) -> Result<VolumePruneReport> {
        let store = self.volumes()?;
        let _lock = self.lock()?;
        let containers = self.containers()?;
        let mut report = VolumePruneReport::default();
        for v in store.list()? {
            let used = containers.iter().any(|r| uses(r, &v.name));
            if used || !(all || v.is_anonymous()) || keep(&v) {
                continue;
            }
            let size = store.size(&v.name);
            store.remove(&v.name)?;
            report.reclaimed += size;
            report.removed.push(v.name);
        }
        Ok(report)
    }

    /// Gives a new container its volumes: each of `config`'s volume mounts gets its volume
    /// (created if missing, a random name for an anonymous one), and each of the image's
    /// `VOLUME`s no other mount covers gets an anonymous one. Called under the containers
    /// lock; returns the volumes it created, for [`Engine::drop_new_volumes`] if the container
    /// is not made after all.
    pub(crate) fn attach_volumes(
        &self,
        config: &mut RunConfig,
        image_volumes: &[String],
    ) -> Result<Vec<String>> {
        let store = self.volumes()?;
        if !config.no_image_volumes {
            for path in image_volumes {
                let dest = PathBuf::from(path);
                let taken = config
                    .volumes
                    .iter()
                    .map(|b| &b.destination)
                    .chain(config.volume_mounts.iter().map(|v| &v.destination))
                    .chain(config.tmpfs.iter().map(|t| &t.destination))
                    .any(|d| *d == dest);
                if !taken && dest.is_absolute() {
                    config.volume_mounts.push(VolumeMount {
                        name: None,
                        destination: dest,
                        read_only: false,
                        anonymous: true,
                        no_copy: false,
                        labels: BTreeMap::new(),
                    });
                }
            }
        }
        let mut created = Vec::new();
        for m in &mut config.volume_mounts {
            let made = match &m.name {
                Some(name) => store.create(name, m.labels.clone()),
                None => {
                    let mut labels = m.labels.clone();
                    labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
                    naming::new_id().and_then(|id| store.create(&id, labels))
                }
            };
            match made {
                Ok((volume, new)) => {
                    if new {
                        created.push(volume.name.clone());
                    }
                    m.name = Some(volume.name);
                }
                Err(e) => {
                    self.drop_new_volumes(&created);
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    /// Removes volumes [`Engine::attach_volumes`] created for a container that failed to be
    /// made (best effort: this runs on an error path).
    pub(crate) fn drop_new_volumes(&self, names: &[String]) {
        if let Ok(store) = self.volumes() {
            for n in names {
                let _ = store.remove(n);
            }
        }
    }

    /// Copies the image's files into each empty volume (Docker's copy-up); `rootfs` is the
    /// container's mounted root filesystem.
    pub(crate) fn fill_volumes(&self, rootfs: &Path, mounts: &[VolumeMount]) -> Result<()> {
        let store = self.volumes()?;
        for m in mounts.iter().filter(|m| !m.no_copy) {
            let Some(name) = &m.name else { continue };
            copy_up::copy_up(rootfs, &m.destination, &store.data_dir(name)).with_context(|| {
                format!(
                    "copying the image's {} into volume {name}",
                    m.destination.display()
                )
            })?;
        }
        Ok(())
    }

    /// The bind mounts that put `mounts`' volumes into the container.
    pub(crate) fn volume_binds(&self, mounts: &[VolumeMount]) -> Result<Vec<BindMount>> {
        let store = self.volumes()?;
        mounts
            .iter()
            .map(|m| {
                let name = m.name.as_deref().with_context(|| {
                    format!("the volume at {} has no name", m.destination.display())
                })?;
                Ok(BindMount {
                    source: store.data_dir(name),
                    destination: m.destination.clone(),
                    read_only: m.read_only,
                })
            })
            .collect()
    }

    /// After a container is gone (`rm -v`, `run --rm`): removes its anonymous volumes that no
    /// other container uses. Named volumes stay, as in Docker.
    pub(crate) fn remove_anonymous_volumes(&self, rec: &ContainerRecord) -> Result<()> {
        let anonymous: Vec<&str> = rec
            .config
            .volume_mounts
            .iter()
            .filter(|m| m.anonymous)
            .filter_map(|m| m.name.as_deref())
            .collect();
        if anonymous.is_empty() {
            return Ok(());
        }
        let store = self.volumes()?;
        let _lock = self.lock()?;
        let containers = self.containers()?;
        for name in anonymous {
            let used = containers.iter().any(|r| r.id != rec.id && uses(r, name));
            if !used && store.exists(name) {
                store.remove(name)?;
            }
        }
        Ok(())
    }

    /// Docker's `Mounts` array of `inspect`: volumes, binds and tmpfs mounts.
    pub(crate) fn mounts_json(&self, rec: &ContainerRecord) -> Result<serde_json::Value> {
        let store = self.volumes()?;
        let mut out = Vec::new();
        for m in &rec.config.volume_mounts {
            let name = m.name.clone().unwrap_or_default();
            out.push(serde_json::json!({
                "Type": "volume",
                "Name": name,
                "Source": store.data_dir(&name),
                "Destination": m.destination,
                "Driver": "local",
                "Mode": if m.no_copy { "nocopy" } else { "z" },
                "RW": !m.read_only,
                "Propagation": "",
            }));
        }
        for b in &rec.config.volumes {
            out.push(serde_json::json!({
                "Type": "bind",
                "Source": b.source,
                "Destination": b.destination,
                "Mode": if b.read_only { "ro" } else { "" },
                "RW": !b.read_only,
                "Propagation": "rprivate",
            }));
        }
        for t in &rec.config.tmpfs {
            out.push(serde_json::json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": t.destination,
                "Mode": "",
                "RW": !t.options.iter().any(|o| o == "ro"),
                "Propagation": "",
            }));
        }
        Ok(serde_json::Value::Array(out))
    }
}

/// Whether container `rec` mounts volume `name`.
fn uses(rec: &ContainerRecord, name: &str) -> bool {
    rec.config
        .volume_mounts
        .iter()
        .any(|m| m.name.as_deref() == Some(name))
}
