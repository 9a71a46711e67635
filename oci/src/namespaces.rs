//! Linux namespaces: which ones a container gets, and joining existing ones.
//!
//! A namespace listed in the OCI config *without* a path is created new (a `clone(2)` flag);
//! one *with* a path is joined with `setns(2)`. The PID namespace is special: `setns` into it
//! only affects children, so it must be joined before the container's init is cloned.

use anyhow::{bail, Context, Result};
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The `clone(2)` flag that creates a new namespace of this type.
pub(crate) fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
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
pub(crate) fn proc_name(typ: LinuxNamespaceType) -> &'static str {
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
pub(crate) struct NamespacePlan {
    /// Namespaces to create (OR of clone flags). The cgroup namespace is kept apart: it must be
    /// unshared *after* the process is placed in its cgroup, so that cgroup becomes its root.
    pub new: CloneFlags,
    /// Whether a new cgroup namespace is wanted (unshared late, see above).
    pub new_cgroup: bool,
    /// Whether a new time namespace is wanted. `clone(2)` cannot make one (its flag collides
    /// with the exit-signal bits): the parent unshares it for its children instead, see
    /// [`ForChildren`].
    pub new_time: bool,
    /// Namespaces to join, in the order they must be entered.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl NamespacePlan {
    /// Builds the plan from the OCI config's namespace list.
    pub(crate) fn from_spec(namespaces: &[LinuxNamespace]) -> NamespacePlan {
        let mut plan = NamespacePlan {
            new: CloneFlags::empty(),
            new_cgroup: false,
            new_time: false,
            join: Vec::new(),
        };
        for ns in namespaces {
            match ns.path() {
                Some(path) => plan.join.push((ns.typ(), path.clone())),
                None if ns.typ() == LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                None if ns.typ() == LinuxNamespaceType::Time => plan.new_time = true,
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
    pub(crate) fn creates_network(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWNET)
    }

    /// The namespace of type `typ` to join by path, if any.
    pub(crate) fn to_join(&self, typ: LinuxNamespaceType) -> Option<&Path> {
        self.join
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, p)| p.as_path())
    }
}

/// The namespaces a process enters only through its children (PID and time: `setns` and
/// `unshare` change what the caller's *next children* get): set up in the parent just before
/// the container's init is cloned, and put back when dropped, so that pier's own later
/// children (the runtime's hooks) stay in the runtime's namespaces.
pub(crate) struct ForChildren {
    restore: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl ForChildren {
    /// Joins the PID and time namespaces `plan` names by path, or unshares a new time
    /// namespace with the config's `timeOffsets` (written before any process is in it).
    pub(crate) fn enter(plan: &NamespacePlan, spec: &Spec) -> Result<ForChildren> {
        let offsets = spec
            .linux()
            .as_ref()
            .and_then(|l| l.time_offsets().as_ref())
            .filter(|o| !o.is_empty());
        if offsets.is_some() && !plan.new_time {
            bail!("config.json: linux.timeOffsets needs a new time namespace (without a path) in linux.namespaces");
        }
        let mut guard = ForChildren {
            restore: Vec::new(),
        };
        for typ in [LinuxNamespaceType::Pid, LinuxNamespaceType::Time] {
            let join = plan.to_join(typ);
            let new = typ == LinuxNamespaceType::Time && plan.new_time;
            if join.is_none() && !new {
                continue;
            }
            let own = format!("/proc/self/ns/{}", proc_name(typ));
            let saved = open(
                own.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| {
                format!(
                    "opening {own} (does this kernel have {} namespaces?)",
                    proc_name(typ)
                )
            })?;
            guard.restore.push((typ, saved));
            match join {
                Some(path) => join_ns(typ, path)?,
                None => {
                    nix::sched::unshare(clone_flag(typ)).context("unshare(CLONE_NEWTIME)")?;
                    write_time_offsets(offsets)?;
                }
            }
        }
        Ok(guard)
    }
}

impl Drop for ForChildren {
    fn drop(&mut self) {
        for (typ, fd) in self.restore.drain(..).rev() {
            let _ = setns(&fd, clone_flag(typ));
        }
    }
}

/// Writes `linux.timeOffsets` (`monotonic`, `boottime`) for the new time namespace.
fn write_time_offsets(
    offsets: Option<&std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>>,
) -> Result<()> {
    let mut text = String::new();
    for (clock, offset) in offsets.into_iter().flatten() {
        if clock != "monotonic" && clock != "boottime" {
            bail!("config.json: linux.timeOffsets.{clock}: only monotonic and boottime clocks have offsets");
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            offset.secs().unwrap_or(0),
            offset.nanosecs().unwrap_or(0)
        ));
    }
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", &text)
        .with_context(|| format!("writing /proc/self/timens_offsets ({})", text.trim()))
}

/// Checks that ID mappings and the user namespace go together: a new user namespace needs
/// both `uidMappings` and `gidMappings` (an unmapped namespace would run everything as
/// nobody), and mappings without a new user namespace would be ignored.
pub(crate) fn check_id_mappings(spec: &Spec, plan: &NamespacePlan) -> crate::Result<()> {
    let linux = spec.linux().as_ref();
    let uids = linux
        .and_then(|l| l.uid_mappings().as_ref())
        .is_some_and(|m| !m.is_empty());
    let gids = linux
        .and_then(|l| l.gid_mappings().as_ref())
        .is_some_and(|m| !m.is_empty());
    let new_user = plan.new.contains(CloneFlags::CLONE_NEWUSER);
    match (new_user, uids, gids) {
        (true, true, true) | (false, false, false) => Ok(()),
        (true, _, _) => crate::error::bail_config!(
            "linux.uidMappings",
            "config.json: a new user namespace needs both linux.uidMappings and linux.gidMappings"
        ),
        (false, _, _) => crate::error::bail_config!(
            "linux.uidMappings",
            "config.json: linux.uidMappings/gidMappings need a new user namespace (one without a path) in linux.namespaces"
        ),
    }
}

/// Writes the config's `uidMappings` and `gidMappings` for process `pid`, which was cloned
/// into a new user namespace and waits: until then every ID in it is unmapped. Written by
/// the parent, which holds CAP_SETUID/CAP_SETGID over that namespace.
pub(crate) fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let table = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    for (file, text) in [
        (
            "uid_map",
            table(linux.and_then(|l| l.uid_mappings().as_ref())),
        ),
        (
            "gid_map",
            table(linux.and_then(|l| l.gid_mappings().as_ref())),
        ),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &text)
            .with_context(|| format!("writing {path} ({})", text.trim().replace('\n', ", ")))?;
    }
    Ok(())
}

/// Joins the namespace at `path` (a `/proc/<pid>/ns/<type>` link or a bind-mounted nsfs file).
pub(crate) fn join(typ: LinuxNamespaceType, path: &Path) -> Result<()> {
    join_ns(typ, path)
}

fn join_ns(typ: LinuxNamespaceType, path: &Path) -> Result<()> {
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

/// Joins every namespace of `plan.join` except PID and time (the parent joined those before
/// clone, see [`ForChildren`]).
pub(crate) fn join_all_but_pid(plan: &NamespacePlan) -> Result<()> {
    for (typ, path) in &plan.join {
        if !matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            join(*typ, path)?;
        }
    }
    Ok(())
}
