//! `create`, `start`, `run`, `state`, `kill`, `delete`, `list`: a container's life through
//! runc's command line.

use super::args::{BundleFlags, DeleteArgs, Format, KillArgs, ListArgs, RunArgs};
use super::terminal;
use super::Ctx;
use anyhow::{Context, Result};
use pier_engine::container::events::{Action, Event, EventLog};
use pier_oci::container::handle::dir_of;
use pier_oci::container::{self, kill, Container, ContainerBuilder, Created, Status};
use pier_oci::trace;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `create`.
pub fn create(ctx: &Ctx, a: &BundleFlags) -> Result<i32> {
    let created = launch(ctx, a, false)?;
    log_event(ctx, &a.id, &created.state.oci.bundle, Action::Create, None);
    Ok(0)
}

/// Records a lifecycle event of runtime container `id` in pier's event log (its ID is also
/// its name; the bundle stands for the image), when a pier root was named and exists: `pier
/// events` then shows the low level too. A log that cannot be written is only a warning.
fn log_event(ctx: &Ctx, id: &str, bundle: &Path, action: Action, signal: Option<String>) {
    let Some(pier_root) = ctx.pier_root.as_deref().filter(|r| r.is_dir()) else {
        return;
    };
    let event = Event {
        time: pier_engine::container::now_rfc3339(),
        action,
        id: id.to_string(),
        name: id.to_string(),
        image: bundle.display().to_string(),
        exit_code: None,
        oom_killed: false,
        signal,
        error: None,
        health: None,
        labels: Default::default(),
        init: None,
        seal: None,
    };
    if let Err(e) = EventLog::at(pier_root).append(&event) {
        ctx.log.warn(&format!(
            "logging the {} event: {}",
            event.action.as_str(),
            crate::cli::output::one_line(&e)
        ));
    }
}

/// `run`: create and start; then wait and delete, unless `--detach`.
pub fn run(ctx: &Ctx, a: &RunArgs) -> Result<i32> {
    let created = launch(ctx, &a.bundle, !a.detach)?;
    let dir = created.state_dir.clone();
    let pid = created.pid;
    let start = trace::Phase::start("start (until execve)");
    let started = created.start();
    start.end();
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            // The command did not start: nothing to keep, whatever --keep says.
            let _ = remove(ctx, &a.bundle.id);
            return Err(e.into());
        }
    };
    poststart(ctx, started.spec.hooks().as_ref(), &started.state.oci);
    if a.detach {
        return Ok(0);
    }
    let running = trace::Phase::start("command runs");
    let exit = terminal::wait(pid, started.terminal);
    running.end();
    let _phase = trace::Phase::start("delete");
    if !a.keep {
        remove(ctx, &a.bundle.id)
            .with_context(|| format!("deleting container {} after it exited", a.bundle.id))?;
    } else {
        ctx.log.debug(&format!("keeping {}", dir.display()));
    }
    Ok(exit?.code)
}

/// Deletes container `id` whatever its state (after `run`).
fn remove(ctx: &Ctx, id: &str) -> Result<()> {
    let deleted = Container::load(&ctx.root, id)?.delete(true)?;
    poststop(ctx, &deleted);
    Ok(())
}

/// Runs the `poststart` hooks; a failure is logged as a warning (the specification's rule).
fn poststart(ctx: &Ctx, hooks: Option<&oci_spec::runtime::Hooks>, state: &container::OciState) {
    if let Err(e) = container::start::run_poststart(hooks, state) {
        ctx.log.warn(&crate::cli::output::one_line(&e.into()));
    }
}

/// Runs the `poststop` hooks; a failure is logged as a warning.
fn poststop(ctx: &Ctx, deleted: &container::delete::Deleted) {
    if let Err(e) = deleted.run_poststop() {
        ctx.log.warn(&crate::cli::output::one_line(&e.into()));
    }
}

/// `create`'s work, shared with `run` (`foreground`: this process stays to wait for it):
/// runc's flags, each one call of pier-oci's container builder.
fn launch(ctx: &Ctx, a: &BundleFlags, foreground: bool) -> Result<Created> {
    let created = ContainerBuilder::new(&a.id)
        .with_root(&ctx.root)
        .with_pid_file(a.pid_file.as_deref())
        .with_console_socket(a.console_socket.as_deref())
        .with_terminal_relay(foreground)
        .with_preserved_fds(a.preserve_fds)
        .with_socket_activation(true)
        .with_systemd_cgroup(ctx.systemd_cgroup)
        .with_reaper(a.init)
        .with_die_with_parent(foreground)
        .with_new_keyring(!a.no_new_keyring)
        .as_init(&a.bundle)
        .build()?;
    ctx.log.debug(&format!(
        "created container {} (init pid {})",
        a.id, created.pid
    ));
    Ok(created)
}

/// `start`.
pub fn start(ctx: &Ctx, id: &str) -> Result<i32> {
    let c = Container::load(&ctx.root, id)?;
    let spec = c.spec().ok();
    let state = container::start::start_from_state_dir(&c.dir)?;
    log_event(ctx, id, &state.oci.bundle, Action::Start, None);
    poststart(
        ctx,
        spec.as_ref().and_then(|s| s.hooks().as_ref()),
        &state.oci,
    );
    Ok(0)
}

/// runc's `state` and `list --format json` object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuncState {
    oci_version: String,
    id: String,
    pid: i32,
    status: &'static str,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    annotations: HashMap<String, String>,
    owner: String,
}

fn runc_state(c: &Container) -> RuncState {
    let status = c.status();
    RuncState {
        oci_version: c.state.oci.oci_version.clone(),
        id: c.id().to_string(),
        pid: match status {
            Status::Stopped => 0,
            _ => c.state.oci.pid.unwrap_or(0),
        },
        status: status.as_str(),
        bundle: c.state.oci.bundle.clone(),
        rootfs: c.state.rootfs.clone(),
        created: c.state.created.clone(),
        annotations: c.state.oci.annotations.clone(),
        owner: String::new(),
    }
}

/// `state`.
pub fn state(ctx: &Ctx, id: &str) -> Result<i32> {
    let c = Container::load(&ctx.root, id)?;
    println!("{}", serde_json::to_string_pretty(&runc_state(&c))?);
    Ok(0)
}

/// `kill`.
pub fn kill(ctx: &Ctx, a: &KillArgs) -> Result<i32> {
    let c = Container::load(&ctx.root, &a.id)?;
    let sig = kill::parse_signal(&a.signal)?;
    c.kill(sig, a.all)?;
    log_event(
        ctx,
        &a.id,
        &c.state.oci.bundle,
        Action::Kill,
        Some(sig.as_str().to_string()),
    );
    Ok(0)
}

/// `delete`.
pub fn delete(ctx: &Ctx, a: &DeleteArgs) -> Result<i32> {
    let dir = dir_of(&ctx.root, &a.id)?;
    match Container::load(&ctx.root, &a.id) {
        Ok(c) => {
            let deleted = c.delete(a.force)?;
            log_event(ctx, &a.id, &deleted.state.bundle, Action::Destroy, None);
            poststop(ctx, &deleted);
        }
        // A directory without state.json is an aborted create: remove it.
        Err(_) if dir.is_dir() => {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?
        }
        Err(_) if a.force => {}
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

/// `list`.
pub fn list(ctx: &Ctx, a: &ListArgs) -> Result<i32> {
    let all = Container::list(&ctx.root)?;
    if a.quiet {
        for c in &all {
            println!("{}", c.id());
        }
        return Ok(0);
    }
    let states: Vec<RuncState> = all.iter().map(runc_state).collect();
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&states)?),
        Format::Table => {
            let rows: Vec<Vec<String>> = states
                .iter()
                .map(|s| {
                    vec![
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        "root".to_string(),
                    ]
                })
                .collect();
            crate::cli::output::table(
                &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                &rows,
            );
        }
    }
    Ok(0)
}
