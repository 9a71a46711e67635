//! `exec`: a new process in a running container, from `--process FILE` (what managers pass)
//! or from the command line on top of the container's own `process`.

use super::args::ExecArgs;
use super::terminal;
use super::Ctx;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, Process};
use pier_oci::container::exec::ExecIo;
use pier_oci::container::{write_pid_file, Container};
use pier_oci::process::terminal::Terminal;
use std::collections::HashSet;
use std::os::fd::AsRawFd;

/// `exec`.
pub fn exec(ctx: &Ctx, a: &ExecArgs) -> Result<i32> {
    let c = Container::load(&ctx.root, &a.id)?;
    for value in &a.cgroup {
        check_cgroup_flag(&c, value)?;
    }
    let process = process(&c, a)?;
    let Terminal {
        socket,
        slave,
        master,
    } = Terminal::open(&process, a.console_socket.as_deref(), !a.detach)?;
    let pid = c.exec(
        &process,
        ExecIo {
            console: slave.as_ref().map(|(s, _)| s.as_raw_fd()),
            console_socket: socket.as_ref().map(|s| s.as_raw_fd()),
            extra_fds: i32::try_from(a.preserve_fds).unwrap_or(i32::MAX),
            close_fds: master.iter().map(|m| m.as_raw_fd()).collect(),
            ignore_paused: a.ignore_paused,
        },
    )?;
    drop(slave);
    drop(socket);
    ctx.log.debug(&format!("exec in {}: pid {pid}", a.id));
    if let Some(path) = &a.pid_file {
        write_pid_file(path, pid.as_raw())?;
    }
    if a.detach {
        return Ok(0);
    }
    let exit = terminal::wait(pid, master)?;
    Ok(exit.code)
}

/// `exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`: runc puts the process in PATH under the
/// container's cgroup. pier runs it in the container's own cgroup, so it takes the paths that
/// name that one (`/`, or the container's `cgroupsPath` itself) and refuses a sub-cgroup by
/// name rather than ignoring it.
fn check_cgroup_flag(c: &Container, value: &str) -> Result<()> {
    let path = value.split_once(':').map_or(value, |(_, p)| p);
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }
    let spec = c.spec()?;
    // The container's cgroupsPath, or the one pier gave it (`create`'s default).
    let own = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.to_string_lossy().trim_matches('/').to_string())
        .unwrap_or_else(|| format!("{}/{}", pier_oci::cgroups::PARENT, c.id()));
    if own == trimmed {
        return Ok(());
    }
    bail!(
        "exec --cgroup {value}: pier runs an exec'd process in the container's own cgroup only (--cgroup /); sub-cgroups are not supported"
    )
}

/// The process to run: `--process FILE` as is, else the container's `process` with the
/// command line's arguments and flags applied (as runc does).
fn process(c: &Container, a: &ExecArgs) -> Result<Process> {
    if let Some(path) = &a.process {
        if !a.args.is_empty() {
            bail!("exec: give either --process or a command, not both");
        }
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_slice(&data)
            .with_context(|| format!("parsing the process in {}", path.display()));
    }
    if a.args.is_empty() {
        bail!("exec needs a command (or --process FILE)");
    }
    let spec = c.spec()?;
    let mut p = spec
        .process()
        .clone()
        .context("the container's config.json has no process")?;
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &a.env {
            let key = e.split('=').next().unwrap_or(e);
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(user) = &a.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        let mut u = p.user().clone();
        u.set_uid(
            uid.parse()
                .with_context(|| format!("--user {user}: not a UID"))?,
        );
        if let Some(g) = gid {
            u.set_gid(
                g.parse()
                    .with_context(|| format!("--user {user}: not a GID"))?,
            );
        }
        p.set_user(u);
    }
    if !a.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(u);
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add: Vec<Capability> = a.cap.iter().map(|c| parse_cap(c)).collect::<Result<_>>()?;
        let with = |set: &Option<HashSet<Capability>>| {
            let mut s = set.clone().unwrap_or_default();
            s.extend(add.iter().copied());
            Some(s)
        };
        caps.set_bounding(with(caps.bounding()));
        caps.set_effective(with(caps.effective()));
        caps.set_permitted(with(caps.permitted()));
        if caps.inheritable().is_some() {
            caps.set_ambient(with(caps.ambient()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// A capability name as runc takes it (`CAP_NET_ADMIN`; `NET_ADMIN` is accepted too).
fn parse_cap(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full))
        .with_context(|| format!("--cap {name}: unknown capability"))
}
