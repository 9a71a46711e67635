//! The cgroup v1 driver: one directory per hierarchy.
//!
//! On v1 every controller (or group of co-mounted controllers) is its own tree under
//! /sys/fs/cgroup/<controller>, so a container is really N directories with the same relative
//! path, one per hierarchy, and a process must be written into each. The directories need not
//! sit at the same depth: on the development machine the memory hierarchy places this session
//! in /process_api/<hash> while every other controller has it at /.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources};
use serde::{Deserialize, Serialize};

use super::detect::{self, V1Hierarchy};
use super::files;
use super::stats::CgroupStats;
use super::CgroupDriver;

/// v1 reports "no memory limit" as the largest page-aligned `i64` (9223372036854771712); any
/// value this large means unlimited.
const UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// A container's cgroup on v1: for each mounted hierarchy, the directory created for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct V1Cgroup {
    /// Hierarchy name as /proc/self/cgroup spells it ("cpu", "cpu,cpuacct", "name=systemd")
    /// -> the container's directory in that hierarchy.
    pub dirs: BTreeMap<String, PathBuf>,
}

/// Whether a hierarchy has no resource controller (name=systemd): joining it is best effort.
fn is_named(hierarchy_name: &str) -> bool {
    hierarchy_name.split(',').all(|c| c.starts_with("name="))
}

impl V1Cgroup {
    /// The `tasks` file of each hierarchy, open for the init to move itself in
    /// (name=systemd best effort, as in `add_process`).
    pub(crate) fn self_placement(&self) -> Result<super::self_placement::SelfPlacement> {
        super::self_placement::SelfPlacement::open(
            self.dirs
                .iter()
                .map(|(name, dir)| (name, dir, is_named(name))),
        )
    }

    /// Creates the directories for `path` in every mounted v1 hierarchy. A relative path goes
    /// under this process's own cgroup in that hierarchy, an absolute one under its root.
    pub(crate) fn create(path: &str) -> Result<V1Cgroup> {
        let hierarchies = detect::v1_hierarchies()?;
        if hierarchies.is_empty() {
            bail!("no cgroup v1 hierarchy is mounted (see /proc/self/mountinfo)");
        }
        let mut cgroup = V1Cgroup {
            dirs: BTreeMap::new(),
        };
        let mut created_leaves = Vec::new();
        for hierarchy in &hierarchies {
            match Self::create_in(hierarchy, path) {
                Ok((dir, created)) => {
                    if created {
                        created_leaves.push(dir.clone());
                    }
                    cgroup.dirs.insert(hierarchy.name.clone(), dir);
                }
                Err(_) if is_named(&hierarchy.name) => {}
                Err(e) => {
                    for leaf in &created_leaves {
                        let _ = files::remove_dir(leaf);
                    }
                    return Err(e);
                }
            }
        }
        Ok(cgroup)
    }

    /// Creates `path` in one hierarchy; returns the directory and whether the leaf was new.
    fn create_in(hierarchy: &V1Hierarchy, path: &str) -> Result<(PathBuf, bool)> {
        let dir = match path.strip_prefix('/') {
            Some(absolute) => hierarchy.mount_point.join(absolute),
            None => hierarchy.current_dir.join(path),
        };
        // The shared "pier" parent can be removed by another pier process (its last child
        // gone, or a prune) between our mkdir and our reads of its files, which then fail
        // with ENOENT or ENODEV (a cgroup being removed), and even be made again by a third:
        // if the directory is not the one we prepared (gone, or another inode), start over.
        const ATTEMPTS: usize = 20;
        let inode = |d: &Path| fs::metadata(d).map(|m| m.ino()).ok();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let created = files::create_dirs(&dir)?;
            let leaf_is_new = created.last() == Some(&dir);
            let made = inode(&dir);
            let result = match made {
                Some(_) => Self::prepare(hierarchy, &dir),
                None => Err(anyhow!("{} vanished", dir.display())),
            };
            match result {
                Ok(()) => return Ok((dir, leaf_is_new)),
                Err(_) if (made.is_none() || inode(&dir) != made) && attempt < ATTEMPTS => continue,
                Err(e) => {
                    if leaf_is_new {
                        let _ = files::remove_dir(&dir);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Sets what a fresh directory needs before it can hold a container.
    fn prepare(hierarchy: &V1Hierarchy, dir: &Path) -> Result<()> {
        if hierarchy.controllers.iter().any(|c| c == "cpuset") {
            init_cpuset(&hierarchy.mount_point, dir)?;
        }
        if hierarchy.controllers.iter().any(|c| c == "memory") {
            // oom_kill_disable is inherited from the parent; a container whose OOM killer is
            // off hangs instead of dying when it runs out of memory, so force it on.
            files::write(&dir.join("memory.oom_control"), "0")?;
        }
        Ok(())
    }

    /// The directory of the first hierarchy that carries `controller`.
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(name, _)| name.split(',').any(|c| c == controller))
            .map(|(_, dir)| dir.as_path())
    }

    /// Like [`Self::dir`] but failing with a message naming the missing controller.
    fn require(&self, controller: &str) -> Result<&Path> {
        self.dir(controller)
            .with_context(|| format!("the cgroup v1 {controller} controller is not mounted"))
    }

    fn apply_memory(&self, memory: &LinuxMemory) -> Result<()> {
        let dir = self.require("memory")?;
        let limit_file = dir.join("memory.limit_in_bytes");
        let swap_file = dir.join("memory.memsw.limit_in_bytes");
        // 0 means "not set" in OCI specs (as runc reads them), never "zero bytes".
        let mut limit = memory.limit().filter(|&l| l != 0);
        let mut swap = memory.swap().filter(|&s| s != 0);

        if !swap_file.exists() {
            // Swap accounting is off (kernel built or booted without it): memsw cannot be
            // limited. That is only a problem if the user asked for a real swap limit.
            if let Some(s) = swap.filter(|&s| s != -1 && Some(s) != limit) {
                bail!(
                    "memory+swap limit {s} requested but this kernel does not account swap \
                     ({} is missing; boot with swapaccount=1)",
                    swap_file.display()
                );
            }
            swap = None;
        } else if limit == Some(-1) && swap.is_none() {
            // Unlimited memory with swap unspecified means both unlimited (as runc does).
            swap = Some(-1);
        }

        // The kernel requires limit <= memsw at every moment, so the order of the two writes
        // depends on whether the limits grow or shrink.
        if let (Some(l), Some(s)) = (limit, swap) {
            let current = files::read_u64(&limit_file)?;
            if s == -1 || (s >= 0 && current < s as u64) {
                files::write(&swap_file, &s.to_string())?;
                files::write(&limit_file, &l.to_string())?;
                limit = None;
                swap = None;
            }
        }
        if let Some(l) = limit {
            files::write(&limit_file, &l.to_string())?;
        }
        if let Some(s) = swap {
            files::write(&swap_file, &s.to_string())?;
        }
        if let Some(r) = memory.reservation().filter(|&r| r != 0) {
            files::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(s) = memory.swappiness() {
            files::write(&dir.join("memory.swappiness"), &s.to_string())?;
        }
        // `prepare` turned the OOM killer on; only an explicit request turns it off (the
        // container's processes then wait for memory instead of being killed).
        if let Some(disable) = memory.disable_oom_killer() {
            let value = if disable { "1" } else { "0" };
            files::write(&dir.join("memory.oom_control"), value)?;
        }
        if let Some(tcp) = memory.kernel_tcp().filter(|&t| t != 0) {
            let file = dir.join("memory.kmem.tcp.limit_in_bytes");
            if !files::write_if_exists(&file, &tcp.to_string())? {
                super::warn_ignored(
                    "linux.resources.memory.kernelTCP",
                    tcp,
                    &format!("this kernel has no {}", file.display()),
                );
            }
        }
        Ok(())
    }

    fn apply_cpu(&self, cpu: &LinuxCpu) -> Result<()> {
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            files::write(&self.require("cpuset")?.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            files::write(&self.require("cpuset")?.join("cpuset.mems"), mems)?;
        }
        let wants_cpu = cpu.shares().is_some()
            || cpu.quota().is_some()
            || cpu.period().is_some()
            || cpu.burst().is_some()
            || cpu.idle().is_some()
            || cpu.realtime_period().is_some()
            || cpu.realtime_runtime().is_some();
        if !wants_cpu {
            return Ok(());
        }
        let dir = self.require("cpu")?;
        if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
            files::write(&dir.join("cpu.shares"), &shares.to_string())?;
        }
        // Shrinking the period while the old quota stands can exceed the parent's bandwidth
        // (EINVAL); if a quota is coming, retry the period after it.
        let period_file = dir.join("cpu.cfs_period_us");
        let mut period_pending = None;
        if let Some(period) = cpu.period().filter(|&p| p != 0) {
            if let Err(e) = files::write(&period_file, &period.to_string()) {
                if cpu.quota().is_none() {
                    return Err(e);
                }
                period_pending = Some(period);
            }
        }
        if let Some(quota) = cpu.quota().filter(|&q| q != 0) {
            files::write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        if let Some(period) = period_pending {
            files::write(&period_file, &period.to_string())?;
        }
        if let Some(burst) = cpu.burst() {
            files::write(&dir.join("cpu.cfs_burst_us"), &burst.to_string())?;
        }
        if let Some(idle) = cpu.idle() {
            files::write(&dir.join("cpu.idle"), &idle.to_string())?;
        }
        if let Some(p) = cpu.realtime_period() {
            files::write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
        }
        if let Some(r) = cpu.realtime_runtime() {
            files::write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
        }
        Ok(())
    }

    fn apply_block_io(&self, io: &LinuxBlockIo) -> Result<()> {
        if super::block_io_is_empty(io) {
            return Ok(());
        }
        let dir = self.require("blkio")?;
        // Kernels with CFQ expose blkio.weight; since CFQ's removal only BFQ's knob exists.
        let weight_file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists());
        if let Some(weight) = io.weight() {
            let Some(file) = &weight_file else {
                bail!("block I/O weight {weight} requested but neither blkio.weight nor blkio.bfq.weight exists in {}", dir.display());
            };
            files::write(file, &weight.to_string())?;
        }
        for device in io.weight_device().iter().flatten() {
            if let Some(weight) = device.weight() {
                let Some(file) = &weight_file else {
                    bail!(
                        "per-device block I/O weight requested but no weight file exists in {}",
                        dir.display()
                    );
                };
                let device_file = PathBuf::from(format!("{}_device", file.display()));
                files::write(
                    &device_file,
                    &format!("{}:{} {}", device.major(), device.minor(), weight),
                )?;
            }
        }
        let throttles = [
            (
                "blkio.throttle.read_bps_device",
                io.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                io.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                io.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                io.throttle_write_iops_device(),
            ),
        ];
        for (file, devices) in throttles {
            for d in devices.iter().flatten() {
                files::write(
                    &dir.join(file),
                    &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        let dir = self.require("devices")?;
        for rule in rules {
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            files::write(&dir.join(file), &device_rule(rule))?;
        }
        Ok(())
    }
}

/// The devices-cgroup line for an OCI rule: "c 1:3 rwm", "a *:* rwm". An absent or negative
/// major or minor (runc writes -1) is the wildcard "*".
pub(crate) fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let number = |n: Option<i64>| match n.filter(|&n| n >= 0) {
        Some(n) => n.to_string(),
        None => "*".to_string(),
    };
    // OCI leaves access optional meaning "everything"; the kernel wants it spelled out.
    let access = rule.access().as_deref().filter(|a| !a.is_empty());
    format!(
        "{} {}:{} {}",
        rule.typ().unwrap_or_default().as_str(),
        number(rule.major()),
        number(rule.minor()),
        access.unwrap_or("rwm")
    )
}

/// Gives every cpuset directory from the hierarchy root down to `dir` the parent's CPUs and
/// memory nodes where it has none. v1 cpuset starts new cgroups empty (unless the parent set
/// cgroup.clone_children), and a task cannot join an empty cpuset (ENOSPC).
fn init_cpuset(mount_point: &Path, dir: &Path) -> Result<()> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| p.starts_with(mount_point) && *p != mount_point)
        .collect();
    chain.reverse();
    for cgroup in chain {
        let Some(parent) = cgroup.parent() else {
            continue;
        };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if files::read(&cgroup.join(file))?.is_empty() {
                let inherited = files::read(&parent.join(file))?;
                files::write(&cgroup.join(file), &inherited)?;
            }
        }
    }
    Ok(())
}

/// Reads a v1 limit, mapping the "unlimited" sentinel to `None`.
fn read_limit(path: &Path) -> Result<Option<u64>> {
    Ok(files::read_u64_or_max(path)?.filter(|&v| v < UNLIMITED_THRESHOLD))
}

impl CgroupDriver for V1Cgroup {
    fn add_process(&self, pid: i32) -> Result<()> {
        for (name, dir) in &self.dirs {
            let result = files::write(&dir.join("cgroup.procs"), &pid.to_string());
            if result.is_err() && is_named(name) {
                continue;
            }
            result?;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if let Some(memory) = resources.memory() {
            self.apply_memory(memory)?;
        }
        if let Some(cpu) = resources.cpu() {
            self.apply_cpu(cpu)?;
        }
        if let Some(pids) = resources.pids() {
            files::write(
                &self.require("pids")?.join("pids.max"),
                &pids_max(pids.limit()),
            )?;
        }
        if let Some(io) = resources.block_io() {
            self.apply_block_io(io)?;
        }
        if let Some(rules) = resources.devices() {
            self.apply_devices(rules)?;
        }
        if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            bail!("linux.resources.unified needs cgroup v2, but this machine uses cgroup v1");
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // Any hierarchy lists the same processes; prefer ones pier always writes into.
        let dir = ["freezer", "pids", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.dirs.values().next().map(PathBuf::as_path))
            .context("cgroup v1 handle has no directories")?;
        files::read_pids(&dir.join("cgroup.procs"))
    }

    fn stats(&self) -> Result<CgroupStats> {
        let mut stats = CgroupStats::default();
        if let Some(dir) = self.dir("cpuacct") {
            stats.cpu_usage_ns = files::read_u64(&dir.join("cpuacct.usage"))?;
        }
        if let Some(dir) = self.dir("cpu") {
            let text = files::read(&dir.join("cpu.stat"))?;
            stats.cpu_nr_periods = files::flat_keyed(&text, "nr_periods").unwrap_or(0);
            stats.cpu_throttled_periods = files::flat_keyed(&text, "nr_throttled").unwrap_or(0);
            stats.cpu_throttled_ns = files::flat_keyed(&text, "throttled_time").unwrap_or(0);
        }
        if let Some(dir) = self.dir("memory") {
            stats.memory_usage = files::read_u64(&dir.join("memory.usage_in_bytes"))?;
            stats.memory_limit = read_limit(&dir.join("memory.limit_in_bytes"))?;
            stats.memory_max_usage = Some(files::read_u64(&dir.join("memory.max_usage_in_bytes"))?);
        }
        if let Some(dir) = self.dir("pids") {
            stats.pids_current = files::read_u64(&dir.join("pids.current"))?;
            stats.pids_limit = files::read_u64_or_max(&dir.join("pids.max"))?;
        }
        Ok(stats)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        files::read_flat_keyed(
            &self.require("memory")?.join("memory.oom_control"),
            "oom_kill",
        )
    }

    fn freeze(&self) -> Result<()> {
        let state = self.require("freezer")?.join("freezer.state");
        let deadline = std::time::Instant::now() + super::FREEZE_TIMEOUT;
        loop {
            // Freezing can stall in FREEZING while a task is in an uninterruptible sleep;
            // writing FROZEN again retries the tasks that did not stop yet.
            files::write(&state, "FROZEN")?;
            if files::read(&state)? == "FROZEN" {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                let _ = files::write(&state, "THAWED");
                bail!(
                    "{} did not reach FROZEN within {} s",
                    state.display(),
                    super::FREEZE_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn thaw(&self) -> Result<()> {
        files::write(&self.require("freezer")?.join("freezer.state"), "THAWED")
    }

    fn leaf_dirs(&self) -> Vec<PathBuf> {
        self.dirs.values().cloned().collect()
    }

    fn version(&self) -> u8 {
        1
    }

    fn display_dir(&self) -> PathBuf {
        self.dir("memory")
            .or_else(|| self.dirs.values().next().map(PathBuf::as_path))
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        self.dir(controller).map(Path::to_path_buf)
    }
}

/// pids.max text for an OCI limit: a positive number is the limit, anything else unlimited.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    #[test]
    fn device_rules_spell_out_wildcards_and_access() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .build()
            .unwrap();
        assert_eq!(device_rule(&deny_all), "a *:* rwm");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(device_rule(&null), "c 1:3 rw");
        // runc's -1 for "any" becomes the kernel's "*".
        let ptys = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(136)
            .minor(-1)
            .build()
            .unwrap();
        assert_eq!(device_rule(&ptys), "c 136:* rwm");
    }

    #[test]
    fn pids_limit_zero_or_negative_is_unlimited() {
        assert_eq!(pids_max(5), "5");
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(-1), "max");
    }

    #[test]
    fn named_hierarchies_are_best_effort() {
        assert!(is_named("name=systemd"));
        assert!(!is_named("cpu,cpuacct"));
    }
}
