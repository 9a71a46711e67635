//! `create`, `start`, `run`, `state`, `kill`, `delete`, `list`: a container's life through
//! runc's command line.

use super::args::{BundleFlags, DeleteArgs, Format, KillArgs, ListArgs, RunArgs};
use super::terminal::{self, Terminal};
use super::Ctx;
use anyhow::{bail, Context, Result};
use pier_engine::container::events::{Action, Event, EventLog};
use pier_oci::container::handle::{dir_of, CONFIG_COPY};
use pier_oci::container::{self, kill, Container, CreateOptions, Created, Status};
use pier_oci::persist::write_replace;
use pier_oci::trace;
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A container just created, with the terminal master when this process relays the
/// terminal itself (foreground `run` without `--console-socket`).
struct Launched {
    created: Created,
    spec: oci_spec::runtime::Spec,
    master: Option<OwnedFd>,
}

/// `create`.
pub fn create(ctx: &Ctx, a: &BundleFlags) -> Result<i32> {
    let launched = launch(ctx, a, false)?;
    log_event(
        ctx,
        &a.id,
        &launched.created.state.oci.bundle,
        Action::Create,
        None,
    );
    Ok(0)
}

/// Records a lifecycle event of runtime container `id` in pier's event log (its ID is also
/// its name; the bundle stands for the image), when pier's state root exists: `pier events`
/// then shows the low level too. A log that cannot be written is only a warning.
fn log_event(ctx: &Ctx, id: &str, bundle: &Path, action: Action, signal: Option<String>) {
    if !ctx.pier_root.is_dir() {
        return;
    }
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
    };
    if let Err(e) = EventLog::at(&ctx.pier_root).append(&event) {
        ctx.log.warn(&format!(
            "logging the {} event: {}",
            event.action.as_str(),
            crate::cli::output::one_line(&e)
        ));
    }
}

/// `run`: create and start; then wait and delete, unless `--detach`.
pub fn run(ctx: &Ctx, a: &RunArgs) -> Result<i32> {
    let launched = launch(ctx, &a.bundle, !a.detach)?;
    let dir = launched.created.state_dir.clone();
    let pid = launched.created.pid;
    let start = trace::Phase::start("start (until execve)");
    let started = launched.created.start();
    start.end();
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            // The command did not start: nothing to keep, whatever --keep says.
            let _ = remove(ctx, &a.bundle.id);
            return Err(e.into());
        }
    };
    poststart(ctx, launched.spec.hooks().as_ref(), &started.state.oci);
    if a.detach {
        return Ok(0);
    }
    let running = trace::Phase::start("command runs");
    let exit = terminal::wait(pid, launched.master);
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

/// `create`'s work, shared with `run` (`foreground`: this process stays to wait for it).
fn launch(ctx: &Ctx, a: &BundleFlags, foreground: bool) -> Result<Launched> {
    let config_phase = trace::Phase::start("config");
    let dir = dir_of(&ctx.root, &a.id)?;
    if dir.exists() {
        bail!("container {} already exists", a.id);
    }
    let bundle = a
        .bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", a.bundle.display()))?;
    let config = bundle.join("config.json");
    let mut spec: oci_spec::runtime::Spec = pier_oci::persist::read_json(&config)?;
    if let Some(path) = systemd_cgroup_path(ctx, &spec)? {
        if let Some(linux) = spec.linux_mut() {
            linux.set_cgroups_path(Some(path));
        }
    }
    let listen = listen_fds();
    let extra_fds = listen + a.preserve_fds as i32;
    check_fds_open(3, extra_fds)?;
    if listen > 0 {
        if let Some(process) = spec.process_mut() {
            let mut env = process.env().clone().unwrap_or_default();
            env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
            env.push(format!("LISTEN_FDS={listen}"));
            env.push("LISTEN_PID=1".to_string());
            process.set_env(Some(env));
        }
    }
    let process = spec
        .process()
        .as_ref()
        .context("config.json has no process")?;
    let Terminal {
        socket,
        slave,
        master,
    } = Terminal::open(process, a.console_socket.as_deref(), foreground)?;
    config_phase.end();
    let create = trace::Phase::start("create");
    let created = container::create(CreateOptions {
        id: &a.id,
        bundle: &bundle,
        spec: &spec,
        state_dir: &dir,
        stdio: [None, None, None],
        console: slave.as_ref().map(|(fd, p)| (fd.as_raw_fd(), p.clone())),
        console_socket: socket.as_ref().map(|s| s.as_raw_fd()),
        init: a.init,
        die_with_parent: foreground,
        close_fds: master.iter().map(|m| m.as_raw_fd()).collect(),
        extra_fds,
        new_keyring: !a.no_new_keyring,
    });
    create.end();
    drop(slave);
    drop(socket);
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
    };
    ctx.log.debug(&format!(
        "created container {} (init pid {})",
        a.id, created.pid
    ));
    let saved = (|| -> Result<()> {
        pier_oci::persist::write_json_replace(&dir.join(CONFIG_COPY), &spec)?;
        if let Some(path) = &a.pid_file {
            write_pid_file(path, created.pid.as_raw())?;
        }
        Ok(())
    })();
    if let Err(e) = saved {
        let _ = container::delete::delete(Some(&created.cgroup), &dir);
        return Err(e);
    }
    Ok(Launched {
        created,
        spec,
        master,
    })
}

/// Writes `pid` to `path` atomically, as runc does (managers read it as soon as it appears).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    write_replace(path, pid.to_string().as_bytes())
        .with_context(|| format!("writing the pid file {}", path.display()))
}

/// Systemd socket activation passed to us (`LISTEN_PID` is our PID): how many descriptors
/// (from 3) to hand on to the container, which then sees `LISTEN_FDS=n`, `LISTEN_PID=1`.
fn listen_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Checks that descriptors `first .. first + count` are open (they are passed on).
pub fn check_fds_open(first: i32, count: i32) -> Result<()> {
    for fd in first..first + count {
        // SAFETY: F_GETFD only queries the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            bail!(
                "descriptor {fd} is not open: --preserve-fds and LISTEN_FDS name {count} descriptors from {first}"
            );
        }
    }
    Ok(())
}

/// With `--systemd-cgroup`, or for a cgroupsPath in systemd's `slice:prefix:name` form, the
/// cgroupfs path systemd would use for it (`system.slice:docker:abc` ->
/// `/system.slice/docker-abc.scope`); pier does not talk to systemd, it makes that
/// directory itself.
fn systemd_cgroup_path(ctx: &Ctx, spec: &oci_spec::runtime::Spec) -> Result<Option<PathBuf>> {
    let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) else {
        return Ok(None);
    };
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [slice, prefix, name] => Ok(Some(systemd_to_cgroupfs(slice, prefix, name)?)),
        _ if ctx.systemd_cgroup => bail!(
            "linux.cgroupsPath {text:?}: with --systemd-cgroup it must be slice:prefix:name (e.g. system.slice:docker:ID)"
        ),
        _ => Ok(None),
    }
}

/// The directory systemd gives unit `prefix-name.scope` in `slice` (a slice `a-b.slice` is
/// nested in `a.slice`).
fn systemd_to_cgroupfs(slice: &str, prefix: &str, name: &str) -> Result<PathBuf> {
    if name.is_empty() || name.contains('/') || slice.contains('/') || prefix.contains('/') {
        bail!("linux.cgroupsPath {slice}:{prefix}:{name}: not a systemd slice:prefix:name");
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail!("linux.cgroupsPath: {slice:?} is not a systemd slice (name.slice)");
    };
    let mut path = PathBuf::from("/");
    if stem != "-" {
        let mut so_far = String::new();
        for part in stem.split('-') {
            if part.is_empty() {
                bail!("linux.cgroupsPath: invalid slice name {slice:?}");
            }
            if !so_far.is_empty() {
                so_far.push('-');
            }
            so_far.push_str(part);
            path.push(format!("{so_far}.slice"));
        }
    }
    let unit = if name.ends_with(".scope") || name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.push(unit);
    Ok(path)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_map_to_the_directories_systemd_makes() {
        assert_eq!(
            systemd_to_cgroupfs("system.slice", "docker", "abc").unwrap(),
            PathBuf::from("/system.slice/docker-abc.scope")
        );
        assert_eq!(
            systemd_to_cgroupfs("machine-pods.slice", "libpod", "x").unwrap(),
            PathBuf::from("/machine.slice/machine-pods.slice/libpod-x.scope")
        );
        assert_eq!(
            systemd_to_cgroupfs("", "", "c1").unwrap(),
            PathBuf::from("/system.slice/c1.scope")
        );
        assert!(systemd_to_cgroupfs("system.slice", "p", "../x").is_err());
        assert!(systemd_to_cgroupfs("nodots", "p", "x").is_err());
    }
}
