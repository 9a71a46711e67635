//! `create`: make the container's namespaces, cgroup and root filesystem, leaving its init
//! blocked just before the user's command (on the exec FIFO) until `start`.

use super::state::{OciState, Status};
use crate::cgroups::Cgroup;
use crate::namespaces::{self, NamespacePlan};
use crate::process::clone::{clone_into, Forked};
use crate::process::init::{child_main, ChildContext};
use crate::process::sync::{self, Channel, ChildMessage};
use crate::security::dumpable::NonDumpable;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// How to create a container from a bundle.
pub struct CreateOptions<'a> {
    /// Container ID.
    pub id: &'a str,
    /// The bundle directory (holds config.json and, usually, the rootfs).
    pub bundle: &'a Path,
    /// The parsed config.json.
    pub spec: &'a Spec,
    /// Runtime directory for this container: `state.json`, `exec.fifo`.
    pub state_dir: &'a Path,
    /// Descriptors for the command's stdin, stdout, stderr (`None`: inherit pier's).
    pub stdio: [Option<RawFd>; 3],
    /// The terminal's slave side (descriptor and path), when `process.terminal` is set.
    pub console: Option<(RawFd, PathBuf)>,
    /// Run pier's reaper as PID 1 (`--init`).
    pub init: bool,
    /// Kill the container if this process dies.
    pub die_with_parent: bool,
    /// Descriptors the container must not inherit (e.g. the terminal's master side).
    pub close_fds: Vec<RawFd>,
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
    pub(crate) from_child: OwnedFd,
}

/// Creates the container: cgroup, namespaces, rootfs; the init then waits for `start`.
/// On any failure everything made so far is removed again.
pub fn create(opts: CreateOptions) -> Result<Created> {
    let spec = opts.spec;
    let linux = spec
        .linux()
        .as_ref()
        .context("config.json has no linux section")?;
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default());
    if !plan.new.contains(nix::sched::CloneFlags::CLONE_NEWNS)
        && !plan
            .join
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Mount)
    {
        bail!("config.json must ask for a mount namespace: pier does not change the host's mounts");
    }
    let root = spec.root().as_ref().context("config.json has no root")?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        opts.bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        bail!("rootfs {} is not a directory", rootfs.display());
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
    let cgroup = match Cgroup::create(&cgroups_path, Some(&resources)) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&fifo);
            return Err(e.context(format!("setting up the cgroup of container {}", opts.id)));
        }
    };
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

    let spawned = (|| -> Result<(Pid, OwnedFd)> {
        let to_child = Channel::new()?;
        let from_child = Channel::new()?;
        // The child is in the container's PID namespace from birth: not dumpable until its
        // execve, so the container cannot reach the host's pier through it.
        let _non_dumpable = NonDumpable::enter()?;
        if let Some(pidns) = plan.pid_to_join() {
            namespaces::join(LinuxNamespaceType::Pid, pidns)?;
        }
        let mut close_fds = opts.close_fds.clone();
        close_fds.push(to_child.tx.as_raw_fd());
        close_fds.push(from_child.rx.as_raw_fd());
        match clone_into(plan.new)? {
            Forked::Child => {
                let ctx = ChildContext {
                    spec,
                    rootfs: rootfs.clone(),
                    plan: &plan,
                    from_parent: &to_child.rx,
                    to_parent: &from_child.tx,
                    exec_fifo: fifo.clone(),
                    stdio: opts.stdio,
                    console: opts.console.clone(),
                    init: opts.init,
                    die_with_parent: opts.die_with_parent,
                    close_fds,
                };
                child_main(&ctx)
            }
            Forked::Parent(pid) => {
                let Channel { rx: _, tx: go } = to_child;
                let Channel {
                    rx: from_child,
                    tx: _,
                } = from_child;
                Ok((pid, go_after_cgroup(pid, &cgroup, go, from_child)?))
            }
        }
    })();
    let (pid, from_child) = match spawned {
        Ok(v) => v,
        Err(e) => {
            undo(None);
            return Err(e);
        }
    };
    match sync::receive(&from_child) {
        Ok(ChildMessage::Ready) => {}
        Ok(ChildMessage::Failed { code, message }) => {
            undo(Some(pid));
            return Err(anyhow::Error::new(super::StartError { code, message }));
        }
        Ok(other) => {
            undo(Some(pid));
            bail!("container {} init ended during setup ({other:?})", opts.id);
        }
        Err(e) => {
            undo(Some(pid));
            return Err(e);
        }
    }
    let state = OciState {
        oci_version: spec.version().clone(),
        id: opts.id.to_string(),
        status: Status::Created,
        pid: Some(pid.as_raw()),
        bundle: opts.bundle.to_path_buf(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    };
    if let Err(e) = state.save(opts.state_dir) {
        undo(Some(pid));
        return Err(e);
    }
    Ok(Created {
        id: opts.id.to_string(),
        pid,
        cgroup,
        state_dir: opts.state_dir.to_path_buf(),
        from_child,
    })
}

/// Puts the child in its cgroup, then lets it go on. On failure the caller kills it.
fn go_after_cgroup(pid: Pid, cgroup: &Cgroup, go: OwnedFd, from_child: OwnedFd) -> Result<OwnedFd> {
    if let Err(e) = cgroup.add_process(pid.as_raw()) {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err(e);
    }
    sync::write_all(&go, b"G")?;
    Ok(from_child)
}
