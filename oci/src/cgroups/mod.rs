//! Control groups: limiting and measuring what a container's processes may use.
//!
//! A cgroup is a directory in a special filesystem; its processes are listed in
//! `cgroup.procs` and each limit is a file (`memory.max`, `pids.max`, ...). Linux has two
//! layouts, chosen at boot:
//! - **v1** ([`v1`]): one tree per controller (/sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, ...);
//! - **v2** ([`v2`]): one unified tree holding every controller.
//!
//! [`Cgroup`] is the single interface the rest of pier uses; it picks the driver from
//! [`detect_version`] and is serializable so that a later `pier` command can reopen the same
//! cgroup from the container's state file. Both drivers implement [`CgroupDriver`] and share
//! the file helpers in `files`. Device access is policed by v1's devices controller or, on
//! v2, by the eBPF program of `device_filter`. `systemd` reads systemd's `slice:prefix:name`
//! paths as the directories systemd would make.

mod bpf;
mod detect;
pub(crate) mod device_filter;
mod files;
pub mod self_placement;
pub(crate) mod stats;
pub(crate) mod systemd;
pub mod v1;
pub mod v2;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use detect::detect_version;
pub use device_filter::{device_filter_kind, DeviceFilterKind};
pub use stats::{cpu_percent, memory_percent, throttled_percent, CgroupStats};

/// How long [`Cgroup::kill_all`] waits for a cgroup to empty.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `freeze` waits for every task to stop. A cgroup whose tasks keep forking, on a
/// loaded or emulated machine, can take seconds (runc waits up to 10 s too).
pub(crate) const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared parent under which pier places container cgroups by default (`pier/<id>`).
pub const PARENT: &str = "pier";

/// What each cgroup version must provide; [`Cgroup`] dispatches to it.
pub trait CgroupDriver {
    /// Moves process `pid` (and its future children) into the cgroup.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Writes the limits in `resources`, leaving unset ones untouched.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// The processes now in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Current usage counters.
    fn stats(&self) -> Result<CgroupStats>;
    /// How many processes the kernel's OOM killer has killed in this cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// Stops every process (they stay in memory, unschedulable) until [`Self::thaw`].
    fn freeze(&self) -> Result<()>;
    /// Resumes processes stopped by [`Self::freeze`].
    fn thaw(&self) -> Result<()>;
    /// Sends SIGKILL to every process once, without waiting for them to die. The default
    /// freezes first so that no process can fork a child the loop would miss.
    fn signal_kill(&self) -> Result<()> {
        freeze_and_kill(self)
    }
    /// The cgroup's own directories (one per v1 hierarchy, one on v2): what destroy removes.
    fn leaf_dirs(&self) -> Vec<PathBuf>;
    /// 1 or 2.
    fn version(&self) -> u8;
    /// The directory to show users.
    fn display_dir(&self) -> PathBuf;
    /// Where `controller`'s files are, if that controller is available.
    fn controller_dir(&self, controller: &str) -> Option<PathBuf>;
}

/// Freezes the cgroup (when possible), SIGKILLs each process, thaws. A frozen process cannot
/// fork, so the list read while frozen is complete; the kills take effect on thaw.
fn freeze_and_kill<D: CgroupDriver + ?Sized>(driver: &D) -> Result<()> {
    signal_each(driver, Signal::SIGKILL, true)
}

/// Sends `sig` to every process of the cgroup, frozen meanwhile when `freeze` (then none
/// can fork past the list; the signals take effect on thaw). Without a freezer (not mounted)
/// it still works, just with a fork race.
fn signal_each<D: CgroupDriver + ?Sized>(driver: &D, sig: Signal, freeze: bool) -> Result<()> {
    let frozen = freeze && driver.freeze().is_ok();
    let result = driver.pids().and_then(|pids| {
        for pid in pids {
            match kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(e).with_context(|| format!("kill({sig}) pid {pid}")),
            }
        }
        Ok(())
    });
    if frozen {
        driver.thaw()?;
    }
    result
}

/// Serializable handle saved in container state so any later `pier` command can reopen it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Cgroup {
    /// A cgroup on a v1 (or hybrid) machine: one directory per hierarchy.
    V1(v1::V1Cgroup),
    /// A cgroup on a unified v2 machine.
    V2(v2::V2Cgroup),
}

impl Cgroup {
    /// Resolves `path` (OCI linux.cgroupsPath) and creates the cgroup. A relative path (e.g.
    /// "pier/<id>") is placed under this process's cgroup, per hierarchy on v1 (on v2 beside
    /// it, in its parent: see [`v2`]); an absolute path is taken from each hierarchy root.
    /// Creates missing parents, enables controllers (v2) and applies `resources` if given.
    /// If applying fails, the directories are removed again.
    pub fn create(path: &str, resources: Option<&LinuxResources>) -> Result<Cgroup> {
        validate_path(path)?;
        let cgroup = match detect_version()? {
            2 => v2::V2Cgroup::create(path).map(Cgroup::V2),
            _ => v1::V1Cgroup::create(path).map(Cgroup::V1),
        }
        .with_context(|| format!("creating cgroup {path:?}"))?;
        if let Some(resources) = resources {
            if let Err(e) = cgroup.update(resources) {
                // Nothing has joined yet, so removing the directories is all the undo needed.
                for dir in cgroup.driver().leaf_dirs() {
                    let _ = files::remove_dir(&dir);
                }
                return Err(e);
            }
        }
        Ok(cgroup)
    }

    /// The driver behind this handle.
    fn driver(&self) -> &dyn CgroupDriver {
        match self {
            Cgroup::V1(c) => c,
            Cgroup::V2(c) => c,
        }
    }

    /// Moves process `pid` into the cgroup (every v1 hierarchy; name=systemd best effort).
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.driver()
            .add_process(pid)
            .with_context(|| format!("adding pid {pid} to cgroup {}", self.path_for_display()))
    }

    /// On v2, the cgroup's directory opened for `clone3(CLONE_INTO_CGROUP)`, which starts a
    /// process in it; `None` on v1 (one directory per hierarchy: placed by writing
    /// `cgroup.procs`) or if it cannot be opened (then placed the same way).
    pub fn dir_for_clone(&self) -> Option<std::os::fd::OwnedFd> {
        match self {
            Cgroup::V2(c) => nix::fcntl::open(
                &c.dir,
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok(),
            Cgroup::V1(_) => None,
        }
    }

    /// On v1, the `tasks` files the container's init writes to move itself into the cgroup
    /// (see [`self_placement`]: no global lock, no RCU grace period); `None` on v2, where
    /// the init is born in its cgroup.
    pub fn self_placement(&self) -> Result<Option<self_placement::SelfPlacement>> {
        match self {
            Cgroup::V1(c) => c.self_placement().map(Some).with_context(|| {
                format!(
                    "opening the tasks files of cgroup {}",
                    self.path_for_display()
                )
            }),
            Cgroup::V2(_) => Ok(None),
        }
    }

    /// Applies `resources` (e.g. `pier update`); unset fields keep their current values.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let resources = &zero_is_unset(resources);
        reject_unsupported(resources)?;
        check_before_update(self, resources)?;
        self.driver().apply(resources).with_context(|| {
            format!(
                "applying resource limits to cgroup {}",
                self.path_for_display()
            )
        })
    }

    /// The processes now in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.driver().pids()
    }

    /// Current usage counters.
    pub fn stats(&self) -> Result<CgroupStats> {
        self.driver()
            .stats()
            .with_context(|| format!("reading stats of cgroup {}", self.path_for_display()))
    }

    /// How many processes the OOM killer has killed in this cgroup (v1 memory.oom_control,
    /// v2 memory.events "oom_kill").
    pub fn oom_kill_count(&self) -> Result<u64> {
        self.driver().oom_kill_count()
    }

    /// Stops every process in the cgroup (`pier pause`).
    pub fn freeze(&self) -> Result<()> {
        self.driver().freeze()
    }

    /// Resumes the processes (`pier unpause`).
    pub fn thaw(&self) -> Result<()> {
        self.driver().thaw()
    }

    /// Sends `sig` to every process of the cgroup; `freeze` holds them still meanwhile (not for
    /// a cgroup already paused, which must stay frozen).
    pub fn signal_all(&self, sig: Signal, freeze: bool) -> Result<()> {
        signal_each(self.driver(), sig, freeze)
    }

    /// SIGKILLs every process and waits (up to ~2 s) until the cgroup is empty.
    pub fn kill_all(&self) -> Result<()> {
        let deadline = Instant::now() + KILL_TIMEOUT;
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "cgroup {} still holds processes {pids:?} {} s after SIGKILL",
                    self.path_for_display(),
                    KILL_TIMEOUT.as_secs()
                );
            }
            // Repeated each round: a process forked just before the kill may have escaped it.
            self.driver().signal_kill()?;
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills everything inside, then removes the cgroup's own directories (parents such as
    /// "pier" are left: other containers may share them). Already gone is fine.
    pub fn destroy(&self) -> Result<()> {
        if !self.exists() {
            return Ok(());
        }
        self.kill_all()?;
        for dir in self.driver().leaf_dirs() {
            files::remove_dir(&dir)?;
        }
        Ok(())
    }

    /// Removes this cgroup's parent directory where it is pier's shared "pier" parent (the
    /// default `pier/<id>` placement) and now empty, once [`destroy`](Self::destroy) has
    /// run. A parent with other children or processes stays, a parent of any other name is
    /// never touched, and a concurrent creator retries if the parent vanishes under it.
    pub fn remove_empty_pier_parent(&self) {
        for dir in self.driver().leaf_dirs() {
            if let Some(parent) = dir
                .parent()
                .filter(|p| p.file_name() == Some(PARENT.as_ref()))
            {
                files::remove_if_empty(parent);
            }
        }
    }

    /// Removes this cgroup's own directories where they have no children and no processes
    /// (e.g. the shared "pier" parent after a prune). Returns whether all are gone.
    pub fn remove_if_empty(&self) -> bool {
        let mut all_gone = true;
        // Every directory is tried, even after one that stays.
        for dir in self.driver().leaf_dirs() {
            all_gone &= files::remove_if_empty(&dir);
        }
        all_gone
    }

    /// Whether any of the cgroup's directories still exists.
    pub fn exists(&self) -> bool {
        self.driver().leaf_dirs().iter().any(|d| d.exists())
    }

    /// 1 or 2.
    pub fn version(&self) -> u8 {
        self.driver().version()
    }

    /// The directory to show users: the memory controller's (v1) or the unified one (v2).
    pub fn path_for_display(&self) -> String {
        self.driver().display_dir().display().to_string()
    }

    /// Where `controller`'s files are ("memory", "cpu", "pids", ...); on v2 always the one
    /// directory. `None` if that controller is not mounted (v1).
    pub fn cgroup_dir(&self, controller: &str) -> Option<PathBuf> {
        self.driver().controller_dir(controller)
    }
}

/// The resources with runc's reading of 0: "not set" for limits, weights, shares, periods
/// and quotas (Docker and containerd send `"weight": 0` and the like for every limit the user
/// did not give, and 0 is out of range for most of those files).
fn zero_is_unset(resources: &LinuxResources) -> LinuxResources {
    let mut r = resources.clone();
    if let Some(mut m) = *r.memory() {
        m.set_limit(m.limit().filter(|&v| v != 0));
        m.set_reservation(m.reservation().filter(|&v| v != 0));
        m.set_swap(m.swap().filter(|&v| v != 0));
        m.set_kernel(m.kernel().filter(|&v| v != 0));
        m.set_kernel_tcp(m.kernel_tcp().filter(|&v| v != 0));
        r.set_memory(Some(m));
    }
    if let Some(cpu) = r.cpu_mut() {
        cpu.set_shares(cpu.shares().filter(|&v| v != 0));
        cpu.set_quota(cpu.quota().filter(|&v| v != 0));
        cpu.set_period(cpu.period().filter(|&v| v != 0));
        cpu.set_realtime_runtime(cpu.realtime_runtime().filter(|&v| v != 0));
        cpu.set_realtime_period(cpu.realtime_period().filter(|&v| v != 0));
        cpu.set_cpus(cpu.cpus().clone().filter(|v| !v.is_empty()));
        cpu.set_mems(cpu.mems().clone().filter(|v| !v.is_empty()));
    }
    if let Some(io) = r.block_io_mut() {
        io.set_weight(io.weight().filter(|&v| v != 0));
        io.set_leaf_weight(io.leaf_weight().filter(|&v| v != 0));
    }
    r
}

/// Whether a blockIO section asks for nothing (then no blkio/io controller is needed).
fn block_io_is_empty(io: &oci_spec::runtime::LinuxBlockIo) -> bool {
    let none = |v: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
        v.as_ref().is_none_or(|d| d.is_empty())
    };
    io.weight().is_none()
        && io.leaf_weight().is_none()
        && io.weight_device().as_ref().is_none_or(|d| d.is_empty())
        && none(io.throttle_read_bps_device())
        && none(io.throttle_write_bps_device())
        && none(io.throttle_read_iops_device())
        && none(io.throttle_write_iops_device())
}

/// Refuses limits pier does not implement on either version (hugetlb, net_cls/net_prio, rdma,
/// non-hierarchical memory, CFQ leaf weights; kernel memory only gets a warning): silently ignoring a limit the
/// user asked for would be worse than saying so. Version-specific refusals are the drivers'.
fn reject_unsupported(resources: &LinuxResources) -> Result<()> {
    if resources
        .hugepage_limits()
        .as_ref()
        .is_some_and(|l| !l.is_empty())
    {
        bail!("linux.resources.hugepageLimits is not supported by pier");
    }
    if resources.network().as_ref().is_some_and(|n| {
        n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())
    }) {
        bail!("linux.resources.network (net_cls/net_prio) is not supported by pier");
    }
    if resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        bail!("linux.resources.rdma is not supported by pier");
    }
    if let Some(memory) = resources.memory() {
        // 0 and -1 ask for no limit, which is what the kernel does anyway.
        if let Some(k) = memory.kernel().filter(|&k| k != 0 && k != -1) {
            warn_ignored(
                "linux.resources.memory.kernel",
                k,
                "kernel memory limits are deprecated (Linux 5.16) and no longer enforced",
            );
        }
        if memory.use_hierarchy() == Some(false) {
            bail!("linux.resources.memory.useHierarchy=false is not supported: memory accounting is always hierarchical on current kernels");
        }
    }
    if let Some(io) = resources.block_io() {
        let device_leaf = io
            .weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
        if io.leaf_weight().is_some() || device_leaf {
            bail!("linux.resources.blockIO leafWeight is not supported: leaf weights were CFQ's, which left the kernel in 5.0");
        }
    }
    Ok(())
}

/// Says on stderr that a limit the kernel itself has dropped is ignored, as runc does ("Kernel
/// memory settings are ignored"): refusing the whole container for it would be worse, since no
/// current kernel could apply it anyway.
pub(crate) fn warn_ignored(field: &str, value: i64, why: &str) {
    eprintln!("pier: warning: {field} ({value}) is ignored: {why}");
}

/// `linux.resources.memory.checkBeforeUpdate`: refuse a memory limit below what the cgroup
/// already uses (the kernel would reclaim or OOM-kill to get there).
fn check_before_update(cgroup: &Cgroup, resources: &LinuxResources) -> Result<()> {
    let Some(memory) = resources.memory() else {
        return Ok(());
    };
    let Some(limit) = memory.limit().filter(|&l| l > 0) else {
        return Ok(());
    };
    if memory.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = cgroup.stats()?.memory_usage;
    if usage > limit as u64 {
        bail!("linux.resources.memory.checkBeforeUpdate: the cgroup uses {usage} bytes, more than the new limit {limit}");
    }
    Ok(())
}

/// Refuses paths that could escape the hierarchy ("..") or name nothing.
fn validate_path(path: &str) -> Result<()> {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() {
        bail!("cgroup path {path:?} names no cgroup");
    }
    if Path::new(relative)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        bail!("cgroup path {path:?} may not contain \".\" or \"..\"");
    }
    Ok(())
}
