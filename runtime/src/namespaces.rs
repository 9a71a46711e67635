//! Linux namespaces: which ones a container gets, and joining existing ones.
//!
//! A namespace listed in the OCI config *without* a path is created new (a `clone(2)` flag);
//! one *with* a path is joined with `setns(2)`. The PID namespace is special: `setns` into it
//! only affects children, so it must be joined before the container's init is cloned.

use anyhow::{Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::path::{Path, PathBuf};

/// The `clone(2)` flag that creates a new namespace of this type.
pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of this namespace type under `/proc/<pid>/ns/`.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// What the OCI namespace list asks for, split into "create new" and "join existing".
#[derive(Debug, Clone)]
pub struct NamespacePlan {
    /// Namespaces to create (OR of clone flags). The cgroup namespace is kept apart: it must be
    /// unshared *after* the process is placed in its cgroup, so that cgroup becomes its root.
    pub new: CloneFlags,
    /// Whether a new cgroup namespace is wanted (unshared late, see above).
    pub new_cgroup: bool,
    /// Namespaces to join, in the order they must be entered.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl NamespacePlan {
    /// Builds the plan from the OCI config's namespace list.
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> NamespacePlan {
        let mut plan = NamespacePlan {
            new: CloneFlags::empty(),
            new_cgroup: false,
            join: Vec::new(),
        };
        for ns in namespaces {
            match ns.path() {
                Some(path) => plan.join.push((ns.typ(), path.clone())),
                None if ns.typ() == LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                None => plan.new |= clone_flag(ns.typ()),
            }
        }
        // Join the user namespace first (it owns the others), mount last (a new mount
        // namespace would hide /proc paths of the others only if /proc changed; harmless
        // but keep runc's order).
        plan.join.sort_by_key(|(t, _)| match t {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        });
        plan
    }

    /// Whether a new network namespace is created (then pier brings `lo` up in it).
    pub fn creates_network(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWNET)
    }

    /// The PID namespace to join before cloning, if any.
    pub fn pid_to_join(&self) -> Option<&Path> {
        self.join
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::Pid)
            .map(|(_, p)| p.as_path())
    }
}

/// Joins the namespace at `path` (a `/proc/<pid>/ns/<type>` link or a bind-mounted nsfs file).
pub fn join(typ: LinuxNamespaceType, path: &Path) -> Result<()> {
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("opening {} namespace {}", proc_name(typ), path.display()))?;
    setns(&fd, clone_flag(typ))
        .with_context(|| format!("setns({}) into {}", proc_name(typ), path.display()))?;
    Ok(())
}

/// Moves the calling thread into a new mount namespace whose mounts are all private: mounts
/// made afterwards never reach the host (nor the host's reach it), and they vanish when the
/// last thread of the namespace exits. Needs CAP_SYS_ADMIN; call from a dedicated thread or
/// forked child, since it changes the whole thread's view of the filesystem.
pub fn enter_private_mount_namespace() -> Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making / rprivate in the new mount namespace")
}

/// Joins every namespace of `plan.join` except PID (joined by the parent before clone).
pub fn join_all_but_pid(plan: &NamespacePlan) -> Result<()> {
    for (typ, path) in &plan.join {
        if *typ != LinuxNamespaceType::Pid {
            join(*typ, path)?;
        }
    }
    Ok(())
}
