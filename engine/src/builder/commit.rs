//! `pier commit`: a new image from a container. Its one new layer is the container's
//! writable (overlay upper) directory, what `pier diff` lists, less the runtime's own mount
//! points; its configuration is the container's (command, environment, working directory,
//! user, labels), then `--change` lines applied as Dockerfile instructions.

use super::dockerfile::{self, Instruction};
use super::instructions::{self, MetaContext};
use crate::container::diff::{mount_destinations, runtime_mount_points};
use crate::container::record::ContainerStatus;
use crate::container::Engine;
use crate::image::Image;
use anyhow::{bail, Context, Result};
use oci_spec::image::{Config, HistoryBuilder};
use pier_oci::time::now_rfc3339_seconds;

/// What `pier commit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-m`: the history comment.
    pub message: Option<String>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// `-c`: Dockerfile instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
    /// WORKDIR, STOPSIGNAL).
    pub changes: Vec<String>,
    /// `REPO[:TAG]` (none: an untagged image).
    pub reference: Option<String>,
    /// Freeze a running container while its upper directory is archived (`--pause`, on by
    /// default in the CLI as in Docker): its processes cannot change files meanwhile.
    pub pause: bool,
}

/// Thaws the container it froze when dropped, so an error while archiving never leaves it
/// paused.
struct Frozen<'a> {
    engine: &'a Engine,
    id: String,
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let _ = self.engine.unpause(&self.id);
    }
}

/// Parses and applies the `--change` lines to `cfg`; errors name the line.
fn apply_changes(changes: &[String], cfg: &mut Config) -> Result<()> {
    let vars = Vec::new();
    let mut ctx = MetaContext {
        vars: &vars,
        escape: '\\',
        cmd_set: false,
    };
    for change in changes {
        let text = format!("FROM scratch\n{change}\n");
        let file = dockerfile::parse("--change", &text)
            .with_context(|| format!("invalid --change {change:?}"))?;
        let steps = file.stages.into_iter().flat_map(|s| s.steps);
        for step in steps {
            match &step.instruction {
                Instruction::Workdir(dir) => {
                    if !dir.starts_with('/') {
                        bail!("invalid --change {change:?}: WORKDIR must be absolute here");
                    }
                    cfg.set_working_dir(Some(dir.clone()));
                }
                Instruction::Cmd(_)
                | Instruction::Entrypoint(_)
                | Instruction::Env(_)
                | Instruction::Label(_)
                | Instruction::Expose(_)
                | Instruction::User(_)
                | Instruction::Volume(_)
                | Instruction::StopSignal(_) => {
                    instructions::apply(&step.instruction, cfg, &mut ctx)
                        .with_context(|| format!("invalid --change {change:?}"))?;
                }
                _ => bail!(
                    "invalid --change {change:?}: only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, \
                     USER, VOLUME, WORKDIR and STOPSIGNAL can be changed"
                ),
            }
        }
    }
    Ok(())
}

/// Commits container `key` as a new image (see the module doc).
pub fn commit(engine: &Engine, key: &str, opts: &CommitOptions) -> Result<Image> {
    let (paths, rec) = engine.find(key)?;
    let store = engine.images()?;
    let parent = store
        .resolve(&rec.image_id)
        .with_context(|| format!("image {} of container {}", rec.image, rec.name))?;
    let mut config = parent.config.clone();
    let mut cfg = config.config().clone().unwrap_or_default();
    // The container's own settings become the image's, as in `docker commit`.
    if !rec.config.command.is_empty() || rec.config.entrypoint.is_some() {
        cfg.set_cmd(Some(rec.config.command.clone()).filter(|c| !c.is_empty()));
    }
    if let Some(ep) = &rec.config.entrypoint {
        cfg.set_entrypoint(Some(vec![ep.clone()]).filter(|_| !ep.is_empty()));
    }
    if !rec.config.env.is_empty() {
        let mut env = cfg.env().clone().unwrap_or_default();
        for e in &rec.config.env {
            let k = e.split('=').next().unwrap_or(e);
            env.retain(|x| x.split('=').next() != Some(k));
            env.push(e.clone());
        }
        cfg.set_env(Some(env));
    }
    if let Some(w) = &rec.config.workdir {
        cfg.set_working_dir(Some(w.clone()));
    }
    if let Some(u) = &rec.config.user {
        cfg.set_user(Some(u.clone()));
    }
    if !rec.config.labels.is_empty() {
        let mut labels = cfg.labels().clone().unwrap_or_default();
        labels.extend(rec.config.labels.clone());
        cfg.set_labels(Some(labels));
    }
    apply_changes(&opts.changes, &mut cfg)?;
    config.set_config(Some(cfg));

    let created = now_rfc3339_seconds();
    let mut entry = HistoryBuilder::default()
        .created(created.clone())
        .created_by(rec.args.join(" "));
    if let Some(m) = &opts.message {
        entry = entry.comment(m.clone());
    }
    if let Some(a) = &opts.author {
        entry = entry.author(a.clone());
        config.set_author(Some(a.clone()));
    }
    let mut history = config.history().clone().unwrap_or_default();
    history.push(entry.build().context("building the history entry")?);
    config.set_history(Some(history));
    config.set_created(Some(created));

    // Frozen before anything of the upper directory is read; a container paused by its user
    // stays paused (and is not thawed here).
    let _frozen = if opts.pause && rec.status == ContainerStatus::Running && !rec.paused {
        engine.pause(&rec.id).with_context(|| {
            format!(
                "pausing container {} for the commit (--pause=false commits it running)",
                rec.name
            )
        })?;
        Some(Frozen {
            engine,
            id: rec.id.clone(),
        })
    } else {
        None
    };
    let upper = paths.upper();
    let skip = runtime_mount_points(&upper, &parent.layer_dirs, &mount_destinations(&rec));
    store
        .commit_container(&parent, &upper, &skip, config, opts.reference.as_deref())
        .with_context(|| format!("committing container {}", rec.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_as_dockerfile_instructions() {
        let mut cfg = Config::default();
        apply_changes(
            &[
                r#"CMD ["/bin/app", "-v"]"#.to_string(),
                "ENV MODE=prod".to_string(),
                "LABEL tier=front".to_string(),
                "WORKDIR /srv".to_string(),
            ],
            &mut cfg,
        )
        .unwrap();
        assert_eq!(
            cfg.cmd().clone().unwrap(),
            vec!["/bin/app".to_string(), "-v".to_string()]
        );
        assert_eq!(cfg.env().clone().unwrap(), vec!["MODE=prod".to_string()]);
        assert_eq!(cfg.labels().clone().unwrap()["tier"], "front");
        assert_eq!(cfg.working_dir().as_deref(), Some("/srv"));
    }

    #[test]
    fn build_steps_are_refused() {
        let mut cfg = Config::default();
        let e = apply_changes(&["RUN rm -rf /".to_string()], &mut cfg).unwrap_err();
        assert!(format!("{e:#}").contains("only CMD"), "{e:#}");
        assert!(apply_changes(&["NOPE x".to_string()], &mut cfg).is_err());
    }
}
