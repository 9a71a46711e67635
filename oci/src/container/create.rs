//! `create`: make the container's namespaces, cgroup and root filesystem, leaving its init
//! blocked just before the user's command (on the exec FIFO) until `start`.

use crate::cgroups::Cgroup;
use crate::error::{bail_config, Error};
use crate::hooks::{self, HookPoint};
use crate::namespaces::{self, NamespacePlan};
use crate::process::clone::{clone_into, Forked};
use crate::process::init::{child_main, ChildContext, InitOptions};
use crate::process::sync::{self, Channel, ChildMessage};
use crate::security::dumpable::NonDumpable;
use crate::state::{process_start_time, OciState, StateFile, Status};
use crate::trace;
use anyhow::{anyhow, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How to create a container from a bundle, as the container builder resolved it.
pub(crate) struct CreateOptions<'a> {
    /// Container ID.
    pub id: &'a str,
    /// The bundle directory (holds config.json and, usually, the rootfs), absolute.
    pub bundle: &'a Path,
    /// The parsed config.json (as the builder adjusted it: `LISTEN_FDS`, systemd's cgroup).
    pub spec: Spec,
    /// Runtime directory for this container: `state.json`, `exec.fifo`.
    pub state_dir: &'a Path,
    /// What the init is given besides its config.
    pub init: InitOptions,
}

/// A created container whose init waits for [`Created::start`].
pub struct Created {
    /// Container ID.
    pub id: String,
    /// Host PID of the container's init.
    pub pid: Pid,
    /// Its cgroup.
    pub cgroup: Cgroup,
    /// Runtime directory.
    pub state_dir: PathBuf,
    /// What was saved in `state.json`.
    pub state: StateFile,
    /// The config it was made from (its `poststart` hooks run after [`Created::start`]).
    pub spec: Spec,
    /// The terminal's master side, when the caller relays the container's terminal itself
    /// ([`super::ContainerBuilder::with_terminal_relay`]).
    pub terminal: Option<OwnedFd>,
    pub(crate) from_child: OwnedFd,
}

/// Creates the container: cgroup, namespaces, rootfs; the init then waits for `start`.
/// On any failure everything made so far is removed again. A config pier cannot honour is
/// [`Error::InvalidConfig`], an init that fails its setup [`Error::Start`].
pub(crate) fn create(opts: CreateOptions) -> crate::Result<Created> {
    let spec = &opts.spec;
    super::unsupported::refuse_unsupported(spec)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux", "config.json has no linux section"))?;
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default());
    if !plan.new.contains(nix::sched::CloneFlags::CLONE_NEWNS)
        && !plan
            .join
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Mount)
    {
        bail_config!(
            "linux.namespaces",
            "config.json must ask for a mount namespace: pier does not change the host's mounts"
        );
    }
    namespaces::check_id_mappings(spec, &plan)?;
    super::validate::check(spec, &plan)?;
    super::net_devices::check(
        spec,
        plan.new.contains(nix::sched::CloneFlags::CLONE_NEWNET)
            || plan.to_join(LinuxNamespaceType::Network).is_some(),
    )?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "config.json has no root"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        opts.bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        bail_config!(
            "root.path",
            "rootfs {} is not a directory",
            rootfs.display()
        );
    }

    std::fs::create_dir_all(opts.state_dir)
        .with_context(|| format!("creating {}", opts.state_dir.display()))?;
    let fifo = opts.state_dir.join("exec.fifo");
    let _ = std::fs::remove_file(&fifo);
    mkfifo(&fifo, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", fifo.display()))?;
    // The init opens it for writing after switching to the container's user (`-u 1000`), which
    // has no capability left to bypass the mode: let anyone write, as runc does (0622). Set
    // after mkfifo because the umask would clear the write bits.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .with_context(|| format!("chmod 0622 {}", fifo.display()))?;

    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}/{}", crate::cgroups::PARENT, opts.id));
    let resources = crate::devices::with_default_allows(linux.resources().as_ref());
    let cgroup_phase = trace::Phase::start("cgroup create");
    let cgroup = match Cgroup::create(&cgroups_path, Some(&resources)) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&fifo);
            return Err(e
                .context(format!("setting up the cgroup of container {}", opts.id))
                .into());
        }
    };
    cgroup_phase.end();
    let undo = |pid: Option<Pid>| {
        if let Some(pid) = pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if cgroup.destroy().is_ok() {
            cgroup.remove_empty_pier_parent();
        }
        let _ = std::fs::remove_file(&fifo);
    };

    let spawned = (|| -> Result<(Pid, bool, OwnedFd, OwnedFd)> {
        let _phase = trace::Phase::start("clone");
        // On v2 the init is born in its cgroup (clone3 with CLONE_INTO_CGROUP).
        let cgroup_dir = cgroup.dir_for_clone();
        let to_child = Channel::new()?;
        let from_child = Channel::new()?;
        // The child is in the container's PID namespace from birth: not dumpable until its
        // execve, so the container cannot reach the host's pier through it.
        let _non_dumpable = NonDumpable::enter()?;
        // PID and time namespaces are entered through this process's children.
        let _for_children = namespaces::ForChildren::enter(&plan, spec)?;
        // On v1 (no directory to be born in), the init moves itself in through these, which
        // costs no RCU grace period; not with a user namespace, whose ID maps the parent
        // writes first (then the parent writes cgroup.procs).
        let self_placement = match &cgroup_dir {
            None if crate::process::init::placement_can_overlap(&plan) => {
                cgroup.self_placement()?
            }
            _ => None,
        };
        let mut setup_fds = vec![to_child.tx.as_raw_fd(), from_child.rx.as_raw_fd()];
        setup_fds.extend(cgroup_dir.as_ref().map(|d| d.as_raw_fd()));
        setup_fds.extend(self_placement.iter().flat_map(|p| p.raw_fds()));
        match clone_into(plan.new, cgroup_dir.as_ref().map(|d| d.as_fd()))? {
            Forked::Child => {
                let ctx = ChildContext {
                    spec,
                    options: &opts.init,
                    rootfs: rootfs.clone(),
                    plan: &plan,
                    from_parent: &to_child.rx,
                    to_parent: &from_child.tx,
                    exec_fifo: fifo.clone(),
                    setup_fds,
                    self_placement: self_placement.as_ref(),
                };
                child_main(&ctx)
            }
            Forked::Parent { pid, placed } => {
                let Channel { rx: _, tx: go } = to_child;
                let Channel {
                    rx: from_child,
                    tx: _,
                } = from_child;
                Ok((pid, placed || self_placement.is_some(), go, from_child))
            }
        }
    })();
    let (pid, placed, go, from_child) = match spawned {
        Ok(v) => v,
        Err(e) => {
            undo(None);
            return Err(e.into());
        }
    };
    let mut oci = OciState {
        oci_version: spec.version().clone(),
        id: opts.id.to_string(),
        status: Status::Creating,
        pid: Some(pid.as_raw()),
        bundle: opts.bundle.to_path_buf(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    };
    let setup = Setup {
        spec,
        plan: &plan,
        pid,
        cgroup: &cgroup,
        placed,
        state: &oci,
    };
    if let Err(e) = setup.guide(&go, &from_child) {
        undo(Some(pid));
        return Err(e);
    }
    drop(go);
    oci.status = Status::Created;
    let state = StateFile {
        oci,
        rootfs,
        created: crate::time::now_rfc3339(),
        init_start_time: process_start_time(pid.as_raw()).map(|(t, _)| t),
        cgroup: Some(cgroup.clone()),
    };
    let save = trace::Phase::start("state save");
    if let Err(e) = state.save(opts.state_dir) {
        undo(Some(pid));
        return Err(e.into());
    }
    save.end();
    Ok(Created {
        id: opts.id.to_string(),
        pid,
        cgroup,
        state_dir: opts.state_dir.to_path_buf(),
        state,
        spec: opts.spec,
        terminal: None,
        from_child,
    })
}

/// What the parent guides through setup.
struct Setup<'a> {
    spec: &'a Spec,
    plan: &'a NamespacePlan,
    /// The init.
    pid: Pid,
    cgroup: &'a Cgroup,
    /// Whether the init was born in its cgroup (clone3 with CLONE_INTO_CGROUP).
    placed: bool,
    state: &'a OciState,
}

impl Setup<'_> {
    /// The parent's side of the setup: puts the child in its cgroup and lets it go on, runs
    /// the runtime-namespace hooks when the child asks for them, and returns once the child
    /// is ready (blocked on the exec FIFO). On failure the caller kills the child.
    ///
    /// Meanwhile the child makes its mounts (unless it has a user namespace, see
    /// `process::init`): it needs the "go" only before it unshares its cgroup namespace.
    fn guide(&self, go: &OwnedFd, from_child: &OwnedFd) -> crate::Result<()> {
        let Setup {
            spec,
            plan,
            pid,
            cgroup,
            placed,
            state,
        } = *self;
        if !placed {
            let _phase = trace::Phase::start("cgroup placement (cgroup.procs)");
            cgroup.add_process(pid.as_raw())?;
        }
        if plan.new.contains(nix::sched::CloneFlags::CLONE_NEWUSER) {
            crate::namespaces::write_id_maps(pid.as_raw(), spec)?;
        }
        let netns = match plan.to_join(LinuxNamespaceType::Network) {
            Some(path) => path.to_path_buf(),
            None => PathBuf::from(format!("/proc/{pid}/ns/net")),
        };
        super::net_devices::move_in(spec, &netns)?;
        sync::write_all(go, b"G")?;
        if hooks::needs_state(spec) {
            sync::send_blob(
                go,
                &serde_json::to_vec(state).context("serializing the state")?,
            )?;
        }
        let _phase = trace::Phase::start("init setup (after placement, until ready)");
        loop {
            match sync::receive(from_child)? {
                ChildMessage::Ready => return Ok(()),
                ChildMessage::Hooks => {
                    let hooks = spec.hooks().as_ref();
                    hooks::run(hooks, HookPoint::Prestart, state)?;
                    hooks::run(hooks, HookPoint::CreateRuntime, state)?;
                    sync::write_all(go, b"G")?;
                }
                ChildMessage::Seccomp(fd) => {
                    let listener = crate::security::seccomp_agent::fetch(pid.as_raw(), fd)?;
                    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
                    crate::security::seccomp_agent::hand_over(seccomp, &listener, state)?;
                    sync::write_all(go, b"G")?;
                }
                ChildMessage::Failed { code, message } => {
                    return Err(Error::Start { code, message })
                }
                ChildMessage::Closed => {
                    return Err(anyhow!("container {} init ended during setup", state.id).into())
                }
            }
        }
    }
}
