//! `RUN`: the command runs in a real pier container created from the current build state;
//! afterwards the container's writable (overlay upper) directory is the step's new layer.
//!
//! Build containers are named `pier-build-<hex>` and removed as soon as their layer is
//! committed, or when the step fails. If pier itself is killed mid-step, the container's
//! processes die with it (the runtime's parent-death signal) and the stopped container is
//! left for `pier system prune`.

use super::interrupt;
use crate::container::config::{HealthConfig, NetworkMode, RunConfig};
use crate::container::diff::runtime_mount_points;
use crate::container::start::Attach;
use crate::container::Engine;
use crate::image::Image;
use crate::naming;
use anyhow::{bail, Context, Result};
use pier_oci::security::in_root::{Follow, RootDir};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name prefix of the containers the builder creates.
pub const CONTAINER_PREFIX: &str = "pier-build-";

/// A build container, removed when dropped.
pub struct BuildContainer<'a> {
    engine: &'a Engine,
    /// Container ID.
    pub id: String,
    /// Its writable layer.
    pub upper: PathBuf,
}

impl Drop for BuildContainer<'_> {
    fn drop(&mut self) {
        let _ = self.engine.remove_with_volumes(&self.id, true);
    }
}

/// What to run.
pub struct RunStep<'a> {
    /// The build state to run in.
    pub image: &'a Image,
    /// Command line (shell form already wrapped in the shell).
    pub argv: Vec<String>,
    /// `KEY=VALUE` entries on top of the image's (build arguments).
    pub env: Vec<String>,
    /// Network mode for the step.
    pub network: NetworkMode,
    /// How the command appears in errors (`/bin/sh -c false`).
    pub shown: String,
}

/// Runs the step in a new container and returns it (stopped) once the command exited 0.
pub fn run<'a>(
    engine: &'a Engine,
    step: RunStep,
    out: &mut dyn Write,
) -> Result<BuildContainer<'a>> {
    if step.image.layer_dirs.is_empty() {
        bail!("RUN needs files to run: the build state is an empty FROM scratch image (COPY a program in first)");
    }
    let name = format!("{CONTAINER_PREFIX}{}", &naming::new_id()?[..12]);
    let cfg = step.image.config.config().clone().unwrap_or_default();
    let config = RunConfig {
        image: step.image.id.clone(),
        name: Some(name),
        command: step.argv,
        entrypoint: Some(String::new()),
        env: step.env,
        workdir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
        user: cfg.user().clone().filter(|u| !u.is_empty()),
        network: Some(step.network),
        // pier's init as PID 1 passes Ctrl-C on to the command (a shell as PID 1 would
        // ignore it).
        init: true,
        // A RUN after VOLUME writes into the layer (BuildKit's behaviour), not into a volume.
        no_image_volumes: true,
        // A base image's HEALTHCHECK is for the containers of the built image, not for RUN.
        healthcheck: Some(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        }),
        ..RunConfig::default()
    };
    let rec = engine
        .create(config, true)
        .context("creating the RUN container")?;
    let container = BuildContainer {
        engine,
        upper: engine.paths(&rec.id).upper(),
        id: rec.id.clone(),
    };
    writeln!(out, " ---> Running in {}", rec.short_id())?;
    out.flush()?;
    let outcome = engine.run_attached(
        &rec.id,
        Attach::Foreground {
            interactive: false,
            tty: false,
            // `interrupt` handles Ctrl-C: it kills the container and marks the build stopped.
            forward_signals: false,
        },
        &mut |started| {
            if started.is_ok() {
                if let Some(init) = engine.find(&rec.id).ok().and_then(|(_, r)| r.init) {
                    interrupt::set_running(init.pid);
                }
            }
        },
    );
    interrupt::set_running(0);
    let outcome = outcome.with_context(|| format!("running {}", step.shown))?;
    if interrupt::requested() {
        bail!("build interrupted: the RUN container was stopped");
    }
    if outcome.exit.code != 0 {
        bail!(
            "The command '{}' returned a non-zero code: {}",
            step.shown,
            outcome.exit.code
        );
    }
    strip_mount_points(&container.upper, &step.image.layer_dirs)?;
    Ok(container)
}

/// Removes what the runtime created in `upper` only as mount points: not part of what the
/// command did.
/// Removal is relative to the parent's descriptor, following no symlink: the command may
/// have replaced `/etc` with a link to a host directory.
fn strip_mount_points(upper: &Path, layers: &[PathBuf]) -> Result<()> {
    let root = RootDir::open(upper, Follow::Never)
        .with_context(|| format!("opening {}", upper.display()))?;
    for rel in runtime_mount_points(upper, layers, &[]) {
        root.remove(&rel)
            .with_context(|| format!("removing mount point {}", upper.join(&rel).display()))?;
    }
    Ok(())
}
