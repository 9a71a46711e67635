//! A project's containers as the engine records them: found by their labels, named
//! `<project>-<service>-<n>`, and stamped with a hash of their configuration.

use super::labels;
use super::project::Project;
use super::service::ServicePlan;
use crate::container::config::RunConfig;
use crate::container::record::ContainerRecord;
use crate::container::Engine;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Write;

/// A project on an engine.
pub struct Compose<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// The project.
    pub project: Project,
    /// Where progress lines go (`Container web-1  Started`).
    pub progress: &'a mut dyn Write,
}

impl<'a> Compose<'a> {
    /// The project on `engine`, reporting progress to `progress`.
    pub fn new(engine: &'a Engine, project: Project, progress: &'a mut dyn Write) -> Compose<'a> {
        Compose {
            engine,
            project,
            progress,
        }
    }

    /// Writes one progress line (` Container demo-web-1  Started`).
    pub(crate) fn say(&mut self, kind: &str, name: &str, what: &str) {
        let _ = writeln!(self.progress, " {kind} {name}  {what}");
    }

    /// Every container of the project (one-off `run` containers too), oldest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        project_containers(self.engine, &self.project.name)
    }

    /// The service's own containers (not `run` ones), by replica number.
    pub fn service_containers(&self, service: &str) -> Result<Vec<ContainerRecord>> {
        let mut v: Vec<ContainerRecord> = self
            .containers()?
            .into_iter()
            .filter(|r| label(r, labels::SERVICE) == Some(service))
            .filter(|r| label(r, labels::ONEOFF) != Some("True"))
            .collect();
        v.sort_by_key(number);
        Ok(v)
    }

    /// The project's containers of `services` (all when empty) in start order: by service
    /// (dependencies first; containers of services no longer in the file last), then by
    /// replica. One-off `run` containers only with `oneoff`. Errors on an unknown service.
    pub fn containers_of(&self, services: &[String], oneoff: bool) -> Result<Vec<ContainerRecord>> {
        for s in services {
            self.project.service(s)?;
        }
        let order: Vec<&str> = self
            .project
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut v: Vec<ContainerRecord> = self
            .containers()?
            .into_iter()
            .filter(|r| oneoff || label(r, labels::ONEOFF) != Some("True"))
            .filter(|r| {
                services.is_empty()
                    || label(r, labels::SERVICE).is_some_and(|s| services.iter().any(|x| x == s))
            })
            .collect();
        v.sort_by_key(|r| {
            (
                label(r, labels::SERVICE)
                    .and_then(|s| order.iter().position(|o| *o == s))
                    .unwrap_or(usize::MAX),
                number(r),
            )
        });
        Ok(v)
    }

    /// The project's containers whose service is no longer in the file (nor left out by a
    /// profile): what Docker Compose calls orphans.
    pub fn orphans(&self) -> Result<Vec<ContainerRecord>> {
        let known = |s: &str| {
            self.project.services.iter().any(|x| x.name == s)
                || self.project.disabled.iter().any(|x| x == s)
        };
        Ok(self
            .containers()?
            .into_iter()
            .filter(|r| label(r, labels::SERVICE).is_some_and(|s| !known(s)))
            .collect())
    }

    /// With `remove`, stops and removes the orphans; without, warns naming them (both as
    /// Docker Compose does). Returns the orphans left in place.
    pub fn handle_orphans(&mut self, remove: bool) -> Result<Vec<ContainerRecord>> {
        let orphans = self.orphans()?;
        if orphans.is_empty() {
            return Ok(orphans);
        }
        if !remove {
            let names: Vec<&str> = orphans.iter().map(|r| r.name.as_str()).collect();
            let _ = writeln!(
                self.progress,
                "pier compose: warning: Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            );
            return Ok(orphans);
        }
        for r in &orphans {
            if r.status == crate::container::record::ContainerStatus::Running {
                self.engine
                    .stop(&r.id, std::time::Duration::from_secs(10))
                    .with_context(|| format!("stopping orphan container {}", r.name))?;
                self.say("Container", &r.name, "Stopped");
            }
            self.engine
                .remove_with_volumes(&r.id, true)
                .with_context(|| format!("removing orphan container {}", r.name))?;
            self.say("Container", &r.name, "Removed");
        }
        Ok(Vec::new())
    }

    /// The name of replica `n` of `svc`.
    pub fn container_name(&self, svc: &ServicePlan, n: u32) -> String {
        match &svc.container_name {
            Some(c) => c.clone(),
            None => format!("{}-{}-{n}", self.project.name, svc.name),
        }
    }
}

/// Every container labelled with project `name`, oldest first.
pub fn project_containers(engine: &Engine, name: &str) -> Result<Vec<ContainerRecord>> {
    let mut v: Vec<ContainerRecord> = engine
        .containers()?
        .into_iter()
        .filter(|r| label(r, labels::PROJECT) == Some(name))
        .collect();
    v.reverse();
    Ok(v)
}

/// A label of a container.
pub fn label<'r>(r: &'r ContainerRecord, key: &str) -> Option<&'r str> {
    r.config.labels.get(key).map(String::as_str)
}

/// The replica number of a container (0 if it has none).
pub fn number(r: &ContainerRecord) -> u32 {
    label(r, labels::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `service-n` as logs and ps show it.
pub fn short_name(r: &ContainerRecord) -> String {
    match (label(r, labels::SERVICE), label(r, labels::ONEOFF)) {
        (Some(s), Some("True")) => format!("{s}-run"),
        (Some(s), _) => format!("{s}-{}", number(r)),
        _ => r.name.clone(),
    }
}

/// The hash of a service's configuration and image: equal hashes mean `up` has nothing to
/// change. The container's name and number are left out (every replica has the same hash).
pub fn config_hash(config: &RunConfig, image_id: &str) -> Result<String> {
    let mut c = config.clone();
    c.name = None;
    c.labels.remove(labels::NUMBER);
    c.labels.remove(labels::CONFIG_HASH);
    let json = serde_json::to_vec(&c).context("hashing the service configuration")?;
    let mut h = Sha256::new();
    h.update(&json);
    h.update(image_id.as_bytes());
    Ok(hex::encode(h.finalize()))
}
