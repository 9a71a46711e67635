//! `down` (containers, then networks, with `-v` volumes, with `--rmi` images), and
//! `stop`/`start`/`restart`. `down -v` first checks that no container outside the project
//! uses one of its volumes: if one does, nothing is removed.

use super::containers::{label, Compose};
use super::labels;
use crate::container::record::{ContainerRecord, ContainerStatus};
use anyhow::{bail, Result};
use std::time::Duration;

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Those compose named itself (`<project>-<service>`, built without an `image:`).
    Local,
    /// Every service's image.
    All,
}

/// Options of `down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: the project's named volumes and its containers' anonymous volumes.
    pub volumes: bool,
    /// `--rmi`.
    pub images: Option<RemoveImages>,
    /// `-t`: stop timeout (default: each service's `stop_grace_period`).
    pub timeout: Option<Duration>,
    /// `--remove-orphans`: also the containers of services no longer in the file (else
    /// they are left, with a warning naming them).
    pub remove_orphans: bool,
}

impl Compose<'_> {
    /// The stop timeout of a container's service.
    fn timeout_of(&self, r: &ContainerRecord, given: Option<Duration>) -> Duration {
        given.unwrap_or_else(|| {
            label(r, labels::SERVICE)
                .and_then(|s| self.project.service(s).ok())
                .map(|s| s.stop_timeout)
                .unwrap_or(Duration::from_secs(10))
        })
    }

    /// Containers of `services` (all when empty), in reverse start order (dependants first).
    fn stop_order(&self, services: &[String]) -> Result<Vec<ContainerRecord>> {
        let mut v = self.containers_of(services, true)?;
        v.reverse();
        Ok(v)
    }

    /// `down`.
    pub fn down(&mut self, opts: &DownOptions) -> Result<()> {
        let orphans: Vec<String> = self.orphans()?.into_iter().map(|r| r.id).collect();
        let containers: Vec<ContainerRecord> = self
            .stop_order(&[])?
            .into_iter()
            .filter(|r| opts.remove_orphans || !orphans.contains(&r.id))
            .collect();
        let store = self.engine.volumes()?;
        let volumes: Vec<String> = if opts.volumes {
            self.project
                .volumes
                .iter()
                .filter(|v| !v.external && store.exists(&v.name))
                .map(|v| v.name.clone())
                .collect()
        } else {
            Vec::new()
        };
        for v in &volumes {
            let others: Vec<String> = self
                .engine
                .volume_users(v)?
                .into_iter()
                .filter(|r| label(r, labels::PROJECT) != Some(self.project.name.as_str()))
                .map(|r| r.name)
                .collect();
            if !others.is_empty() {
                bail!(
                    "volume {v} is in use by container {} (not part of project {}): nothing was removed",
                    others.join(", "),
                    self.project.name
                );
            }
        }
        for r in &containers {
            if r.status == ContainerStatus::Running {
                self.engine.stop(&r.id, self.timeout_of(r, opts.timeout))?;
                self.say("Container", &r.name, "Stopped");
            }
            if opts.volumes {
                self.engine.remove_with_volumes(&r.id, true)?;
            } else {
                self.engine.remove(&r.id, true)?;
            }
            self.say("Container", &r.name, "Removed");
        }
        if !opts.remove_orphans {
            self.handle_orphans(false)?;
        }
        let nets = self.engine.networks()?;
        for n in self.project.networks.clone() {
            let Ok(info) = nets.inspect(&n.name) else {
                continue;
            };
            if n.external {
                continue;
            }
            if !info.endpoints.is_empty() {
                // An orphan left in place still uses it (as Docker Compose, down goes on).
                self.say("Network", &n.name, "Resource is still in use");
                continue;
            }
            nets.remove(&n.name)?;
            self.say("Network", &n.name, "Removed");
        }
        for v in &volumes {
            self.engine.remove_volume(v)?;
            self.say("Volume", v, "Removed");
        }
        if let Some(which) = opts.images {
            let images = self.engine.images()?;
            let mut done: Vec<String> = Vec::new();
            for s in self.project.services.clone() {
                if (which == RemoveImages::Local && !s.image_is_local) || done.contains(&s.image) {
                    continue;
                }
                done.push(s.image.clone());
                if images.resolve(&s.image).is_ok() {
                    images.remove(&s.image)?;
                    self.say("Image", &s.image, "Removed");
                }
            }
        }
        Ok(())
    }

    /// `stop [SERVICE...]`.
    pub fn stop(&mut self, services: &[String], timeout: Option<Duration>) -> Result<()> {
        for r in self.stop_order(services)? {
            if r.status == ContainerStatus::Running {
                self.engine.stop(&r.id, self.timeout_of(&r, timeout))?;
                self.say("Container", &r.name, "Stopped");
            }
        }
        Ok(())
    }

    /// `start [SERVICE...]`: the stopped containers, in dependency order.
    pub fn start(&mut self, services: &[String]) -> Result<()> {
        let mut v = self.stop_order(services)?;
        v.reverse();
        if v.is_empty() {
            bail!("no containers to start: run `pier compose up` first");
        }
        for r in v {
            if r.status != ContainerStatus::Running && label(&r, labels::ONEOFF) != Some("True") {
                self.engine.start_detached(&r.id)?;
                self.say("Container", &r.name, "Started");
            }
        }
        Ok(())
    }

    /// `restart [SERVICE...]`.
    pub fn restart(&mut self, services: &[String], timeout: Option<Duration>) -> Result<()> {
        self.stop(services, timeout)?;
        self.start(services)
    }
}
