//! `pier runtime`: the low level alone, as an OCI runtime CLI in the manner of runc
//! (`create`, `start`, `run`, `state`, `kill`, `delete` on a bundle). This is what Docker or
//! Podman would call; `pier bench` also uses it to compare pier with runc and crun on the
//! same bundle.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_runtime::cgroups::Cgroup;
use pier_runtime::container::{self, CreateOptions, OciState, Status};
use pier_runtime::engine::events::{Action, Event, EventLog};
use pier_runtime::state::{read_json, write_json_atomic};
use std::path::{Path, PathBuf};

/// `pier runtime ...`.
#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Create and start a container from a bundle, wait for it, delete it.
    Run(BundleArgs),
    /// Create a container from a bundle; its process waits for `start`.
    Create(BundleArgs),
    /// Start a created container.
    Start(IdArgs),
    /// Print the OCI state of a container (JSON).
    State(IdArgs),
    /// Send a signal to a container's init.
    Kill(KillArgs),
    /// Delete a stopped container (with --force, also a running one).
    Delete(DeleteArgs),
}

/// A bundle and an ID.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Bundle directory (holds config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Run pier's reaper as PID 1.
    #[arg(long)]
    pub init: bool,
    /// Container ID.
    pub id: String,
}

/// An ID.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Container ID.
    pub id: String,
}

/// `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Container ID.
    pub id: String,
    /// Signal (default TERM).
    #[arg(default_value = "TERM")]
    pub signal: String,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill it first if it runs.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container ID.
    pub id: String,
}

/// Whether the command puts a pier process into the container (`start` only lets the waiting
/// init go on; `run` and `create` make it).
pub fn enters_containers(cmd: &RuntimeCommand) -> bool {
    match cmd {
        RuntimeCommand::Run(_) | RuntimeCommand::Create(_) => true,
        RuntimeCommand::Start(_)
        | RuntimeCommand::State(_)
        | RuntimeCommand::Kill(_)
        | RuntimeCommand::Delete(_) => false,
    }
}

fn state_dir(root: &Path, id: &str) -> Result<PathBuf> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        bail!("invalid container ID {id:?}");
    }
    Ok(root.join("runtime").join(id))
}

fn live_status(state: &OciState) -> Status {
    let alive = state.pid.is_some_and(|p| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                != Some("Z")
        })
    });
    match (state.status, alive) {
        (_, false) => Status::Stopped,
        (s, true) => s,
    }
}

/// Runs a `pier runtime` command.
pub fn runtime(root: &Path, cmd: RuntimeCommand) -> Result<i32> {
    if !nix::unistd::geteuid().is_root() {
        bail!("pier runtime needs root privileges");
    }
    match cmd {
        RuntimeCommand::Run(a) => {
            let dir = state_dir(root, &a.id)?;
            if dir.exists() {
                bail!("container {} already exists", a.id);
            }
            let created = create(&a, &dir, true)?;
            let result = (|| {
                let pid = created.pid;
                let _started = created.start()?;
                container::wait_for_exit(pid)
            })();
            let cg: Option<Cgroup> = read_json(&dir.join("cgroup.json")).ok();
            container::delete::delete(cg.as_ref(), &dir)?;
            Ok(result?.code)
        }
        RuntimeCommand::Create(a) => {
            let dir = state_dir(root, &a.id)?;
            if dir.exists() {
                bail!("container {} already exists", a.id);
            }
            create(&a, &dir, false)?;
            log_event(root, &a.id, &dir, Action::Create, None);
            Ok(0)
        }
        RuntimeCommand::Start(a) => {
            let dir = state_dir(root, &a.id)?;
            container::start::start_from_state_dir(&dir)?;
            log_event(root, &a.id, &dir, Action::Start, None);
            Ok(0)
        }
        RuntimeCommand::State(a) => {
            let dir = state_dir(root, &a.id)?;
            let mut state = OciState::load(&dir)
                .with_context(|| format!("container {} does not exist", a.id))?;
            state.status = live_status(&state);
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        RuntimeCommand::Kill(a) => {
            let state = OciState::load(&state_dir(root, &a.id)?)
                .with_context(|| format!("container {} does not exist", a.id))?;
            let sig = container::kill::parse_signal(&a.signal)?;
            let pid = state.pid.context("container has no process")?;
            container::kill::signal(pid, sig)?;
            log_event(
                root,
                &a.id,
                &state_dir(root, &a.id)?,
                Action::Kill,
                Some(sig.as_str().to_string()),
            );
            Ok(0)
        }
        RuntimeCommand::Delete(a) => {
            let dir = state_dir(root, &a.id)?;
            let state = OciState::load(&dir)
                .with_context(|| format!("container {} does not exist", a.id))?;
            if live_status(&state) != Status::Stopped && !a.force {
                bail!(
                    "container {} is still running: stop it first or use --force",
                    a.id
                );
            }
            let cg: Option<Cgroup> = read_json(&dir.join("cgroup.json")).ok();
            if cg.is_none() {
                if let Some(pid) = state.pid {
                    let _ = container::kill::signal(pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
            container::delete::delete(cg.as_ref(), &dir)?;
            append(root, &runtime_event(&a.id, &state.bundle, Action::Destroy));
            Ok(0)
        }
    }
}

/// An event about runtime container `id` (its ID is also its name; the bundle stands for the
/// image), so that `pier events` shows the low-level lifecycle too.
fn runtime_event(id: &str, bundle: &Path, action: Action) -> Event {
    Event {
        time: pier_runtime::engine::now_rfc3339(),
        action,
        id: id.to_string(),
        name: id.to_string(),
        image: bundle.display().to_string(),
        exit_code: None,
        oom_killed: false,
        signal: None,
        error: None,
    }
}

/// Logs `action` of the container whose state is in `dir`; a log that cannot be written does
/// not undo what the command did, so it is only reported.
fn log_event(root: &Path, id: &str, dir: &Path, action: Action, signal: Option<String>) {
    let bundle = OciState::load(dir).map(|s| s.bundle).unwrap_or_default();
    let mut event = runtime_event(id, &bundle, action);
    event.signal = signal;
    append(root, &event);
}

fn append(root: &Path, event: &Event) {
    if let Err(e) = EventLog::at(root).append(event) {
        eprintln!(
            "pier: warning: logging the {} event: {e:#}",
            event.action.as_str()
        );
    }
}

fn create(a: &BundleArgs, dir: &Path, foreground: bool) -> Result<container::Created> {
    let bundle = a
        .bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", a.bundle.display()))?;
    let spec = read_json(&bundle.join("config.json"))?;
    let created = container::create(CreateOptions {
        id: &a.id,
        bundle: &bundle,
        spec: &spec,
        state_dir: dir,
        stdio: [None, None, None],
        console: None,
        init: a.init,
        die_with_parent: foreground,
        close_fds: Vec::new(),
    });
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(dir);
            return Err(e);
        }
    };
    write_json_atomic(&dir.join("cgroup.json"), &created.cgroup)?;
    Ok(created)
}
