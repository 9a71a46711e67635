//! `pier compose up` (and `run`, `build`): everything checked first (images, external
//! networks and volumes, host ports), so a refused `up` creates nothing; then missing images
//! pulled (an `image:` without `build:`, as `docker compose up` does), images built,
//! networks and volumes created, and each service's containers created and started in
//! dependency order, after waiting for their `depends_on` conditions. A container whose
//! configuration hash is unchanged is left as it is.

use super::containers::{config_hash, label, number, Compose};
use super::labels;
use super::service::ServicePlan;
use crate::builder::{self, BuildOptions};
use crate::container::config::NetworkMode;
use crate::container::record::{ContainerRecord, ContainerStatus};
use crate::image::registry::{self, credentials::CredentialStore, PullPolicy};
use crate::network::{parse_publish, portmap, PortMapping};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Options of `up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Services to start (with their dependencies); empty: all.
    pub services: Vec<String>,
    /// Build images even if they exist.
    pub build: bool,
    /// Recreate containers even if their configuration is unchanged.
    pub force_recreate: bool,
    /// How long a `depends_on` condition may take.
    pub wait_timeout: Duration,
    /// `--remove-orphans`: remove the containers of services no longer in the file (else
    /// `up` warns about them).
    pub remove_orphans: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            services: Vec::new(),
            build: false,
            force_recreate: false,
            wait_timeout: Duration::from_secs(60),
            remove_orphans: false,
        }
    }
}

impl Compose<'_> {
    /// `up`: returns the containers of the selected services, in start order.
    pub fn up(&mut self, opts: &UpOptions) -> Result<Vec<ContainerRecord>> {
        let selected: Vec<ServicePlan> = self
            .project
            .selected(&opts.services, true)?
            .into_iter()
            .cloned()
            .collect();
        let (to_build, to_pull) = self.preflight(&selected, opts.build)?;
        for svc in selected.iter().filter(|s| to_pull.contains(&s.name)) {
            self.pull_service(svc)?;
        }
        self.handle_orphans(opts.remove_orphans)?;
        for svc in &selected {
            if to_build.contains(&svc.name) {
                self.build_service(svc)?;
            }
        }
        self.create_networks()?;
        self.create_volumes()?;
        let mut started = Vec::new();
        for svc in &selected {
            for (dep, condition) in &svc.depends_on {
                self.wait_for(&svc.name, dep, *condition, opts.wait_timeout)?;
            }
            let image_id = self
                .engine
                .images()?
                .resolve(&svc.image)
                .with_context(|| format!("service {:?}: image {}", svc.name, svc.image))?
                .id;
            for n in 1..=svc.replicas {
                started.push(self.converge(svc, n, &image_id, opts.force_recreate)?);
            }
            for extra in self.service_containers(&svc.name)? {
                if number(&extra) > svc.replicas {
                    self.engine.stop(&extra.id, svc.stop_timeout)?;
                    self.engine.remove_with_volumes(&extra.id, true)?;
                    self.say("Container", &extra.name, "Removed");
                }
            }
        }
        Ok(started)
    }

    /// Checks what `up` needs before creating anything; returns the services to build and
    /// the services whose missing image is to be pulled (as `docker compose up` does).
    fn preflight(
        &self,
        selected: &[ServicePlan],
        build: bool,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let images = self.engine.images()?;
        let mut to_build = Vec::new();
        let mut to_pull = Vec::new();
        for svc in selected {
            let exists = images.resolve(&svc.image).is_ok();
            match (&svc.build, exists) {
                (Some(_), false) => to_build.push(svc.name.clone()),
                (Some(_), true) if build => to_build.push(svc.name.clone()),
                (_, true) => {}
                (None, false) => to_pull.push(svc.name.clone()),
            }
            if let Some(NetworkMode::Container(c)) = &svc.config.network {
                let dep = selected.iter().any(|s| self.container_name(s, 1) == *c);
                if !dep && self.engine.find(c).is_err() {
                    bail!(
                        "service {:?}: network_mode refers to container {c}, which does not exist",
                        svc.name
                    );
                }
            }
        }
        let nets = self.engine.networks()?;
        for n in self.project.networks.iter().filter(|n| n.external) {
            nets.inspect(&n.name).with_context(|| {
                format!(
                    "network {} is declared external, but it could not be found",
                    n.name
                )
            })?;
        }
        let store = self.engine.volumes()?;
        for v in self.project.volumes.iter().filter(|v| v.external) {
            if !store.exists(&v.name) {
                bail!(
                    "volume {} is declared external, but it could not be found",
                    v.name
                );
            }
        }
        self.check_ports(selected)
            .context("a published port is not available")?;
        Ok((to_build, to_pull))
    }

    /// Refuses host ports another container (of another project, or none) publishes, or a
    /// host process holds.
    fn check_ports(&self, selected: &[ServicePlan]) -> Result<()> {
        let ours: BTreeSet<String> = self.containers()?.into_iter().map(|r| r.id).collect();
        let names: BTreeMap<String, String> = self
            .engine
            .containers()?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let mut taken: Vec<(PortMapping, String)> = Vec::new();
        for net in self.engine.networks()?.list()? {
            for ep in net.endpoints {
                if ours.contains(&ep.container_id) {
                    continue;
                }
                let owner = names
                    .get(&ep.container_id)
                    .cloned()
                    .unwrap_or(ep.container_name);
                taken.extend(ep.endpoint.ports.iter().map(|p| (*p, owner.clone())));
            }
        }
        let mut requested = Vec::new();
        for svc in selected {
            for spec in &svc.config.publish {
                let fixed: Vec<PortMapping> = parse_publish(spec)?
                    .into_iter()
                    .filter(|p| p.host_port != 0)
                    .collect();
                for _ in 0..svc.replicas {
                    requested.extend(fixed.iter().copied());
                }
            }
        }
        // Ports this project's running containers hold look free to a bind (pier publishes
        // with NAT rules, not sockets), so a plain re-`up` passes.
        portmap::reserve(&requested, &taken).map(|_| ())
    }

    /// Builds a service's image, tagged with its image name.
    pub fn build_service(&mut self, svc: &ServicePlan) -> Result<()> {
        let Some(b) = &svc.build else {
            return Ok(());
        };
        self.say("Image", &svc.image, "Building");
        let opts = BuildOptions {
            context: b.context.clone(),
            dockerfile: b.dockerfile.clone(),
            tags: vec![svc.image.clone()],
            build_args: b.args.clone(),
            no_cache: false,
            target: b.target.clone(),
            network: NetworkMode::None,
            labels: b.labels.clone(),
        };
        builder::build(self.engine, &opts, &mut *self.progress)
            .with_context(|| format!("building the image of service {:?}", svc.name))?;
        self.say("Image", &svc.image, "Built");
        Ok(())
    }

    /// Pulls the service's missing image with the credentials `pier login` saved (as
    /// `docker compose up` does for an `image:` without `build:`).
    pub fn pull_service(&mut self, svc: &ServicePlan) -> Result<()> {
        self.say("Image", &svc.image, "Pulling");
        let store = self.engine.images()?;
        let creds = |host: &str| CredentialStore::open()?.get(host);
        let mut lines = Vec::new();
        registry::ensure_image(
            &store,
            &svc.image,
            PullPolicy::Missing,
            &creds,
            &mut |l| lines.push(l.to_string()),
        )
        .with_context(|| {
            format!(
                "service {:?}: image {} is not in the store and could not be pulled (build it, load it, or add a build: section)",
                svc.name, svc.image
            )
        })?;
        for l in lines {
            let _ = writeln!(self.progress, "{l}");
        }
        self.say("Image", &svc.image, "Pulled");
        Ok(())
    }

    fn create_networks(&mut self) -> Result<()> {
        let nets = self.engine.networks()?;
        for n in self.project.networks.clone() {
            if n.external || nets.inspect(&n.name).is_ok() {
                continue;
            }
            nets.create(&n.name, None, None)
                .with_context(|| format!("creating network {}", n.name))?;
            self.say("Network", &n.name, "Created");
        }
        Ok(())
    }

    fn create_volumes(&mut self) -> Result<()> {
        let store = self.engine.volumes()?;
        for v in self.project.volumes.clone() {
            if v.external || store.exists(&v.name) {
                continue;
            }
            self.engine
                .create_volume(Some(&v.name), v.labels.clone())
                .with_context(|| format!("creating volume {}", v.name))?;
            self.say("Volume", &v.name, "Created");
        }
        Ok(())
    }

    /// Brings replica `n` of `svc` to its configuration: left alone when unchanged (started if
    /// stopped), recreated when changed, created when missing.
    fn converge(
        &mut self,
        svc: &ServicePlan,
        n: u32,
        image_id: &str,
        force: bool,
    ) -> Result<ContainerRecord> {
        let name = self.container_name(svc, n);
        let mut config = svc.config.clone();
        config.name = Some(name.clone());
        let hash = config_hash(&config, image_id)?;
        config.labels.insert(labels::NUMBER.into(), n.to_string());
        config
            .labels
            .insert(labels::CONFIG_HASH.into(), hash.clone());
        let existing = self
            .engine
            .containers()?
            .into_iter()
            .find(|r| r.name == name);
        if let Some(rec) = existing {
            if label(&rec, labels::PROJECT) != Some(self.project.name.as_str()) {
                bail!(
                    "the container name {name:?} is already in use by container {}, which is not part of project {}",
                    rec.short_id(),
                    self.project.name
                );
            }
            if label(&rec, labels::CONFIG_HASH) == Some(hash.as_str()) && !force {
                if rec.status == ContainerStatus::Running {
                    self.say("Container", &name, "Running");
                } else {
                    self.engine.start_detached(&rec.id)?;
                    self.say("Container", &name, "Started");
                }
                return Ok(self.engine.find(&rec.id)?.1);
            }
            self.say("Container", &name, "Recreate");
            self.engine.stop(&rec.id, svc.stop_timeout)?;
            self.engine.remove_with_volumes(&rec.id, true)?;
        }
        let rec = self.engine.create(config, true)?;
        self.say("Container", &name, "Created");
        if let Err(e) = self.engine.start_detached(&rec.id) {
            let _ = self.engine.remove_with_volumes(&rec.id, true);
            return Err(e.context(format!("starting container {name}")));
        }
        self.say("Container", &name, "Started");
        Ok(self.engine.find(&rec.id)?.1)
    }

    /// `run`: a one-off container of `service` (its dependencies started first), named
    /// `<project>-<service>-run-<id>`; returns it, created but not started.
    pub fn create_oneoff(
        &mut self,
        service: &str,
        command: Vec<String>,
        remove: bool,
        opts: &UpOptions,
    ) -> Result<ContainerRecord> {
        let svc = self.project.service(service)?.clone();
        let deps: Vec<String> = svc.depends_on.iter().map(|(d, _)| d.clone()).collect();
        if !deps.is_empty() {
            self.up(&UpOptions {
                services: deps,
                ..opts.clone()
            })?;
            for (dep, condition) in &svc.depends_on {
                self.wait_for(&svc.name, dep, *condition, opts.wait_timeout)?;
            }
        } else {
            let (_, to_pull) = self.preflight(std::slice::from_ref(&svc), opts.build)?;
            if !to_pull.is_empty() {
                self.pull_service(&svc)?;
            }
            self.create_networks()?;
            self.create_volumes()?;
        }
        if self.engine.images()?.resolve(&svc.image).is_err() {
            self.build_service(&svc)?;
        }
        let mut config = svc.config.clone();
        let id = crate::naming::new_id()?;
        config.name = Some(format!(
            "{}-{}-run-{}",
            self.project.name,
            svc.name,
            &id[..12]
        ));
        config.labels.insert(labels::ONEOFF.into(), "True".into());
        // A one-off container publishes no ports (as docker compose run without
        // --service-ports), so it never clashes with the service's own.
        config.publish.clear();
        if !command.is_empty() {
            // The words of a list entrypoint after its first stay in front.
            config.command.truncate(svc.entrypoint_args);
            config.command.extend(command);
        }
        config.auto_remove = remove;
        self.engine.create(config, true)
    }
}
