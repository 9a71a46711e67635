//! The cgroup v2 (unified) driver: one directory for all controllers.
//!
//! v2 differs from v1 in three ways that matter here:
//! - a controller is usable in a directory only if every ancestor lists it in
//!   `cgroup.subtree_control`, so creating a cgroup means enabling controllers top-down;
//! - "no internal processes": a non-root cgroup with processes cannot hand controllers to its
//!   children, so a relative path is placed beside this process's cgroup (under its parent),
//!   not inside it, as runc does;
//! - several knobs changed units or names (cpu.shares -> cpu.weight, cfs quota/period ->
//!   cpu.max, memsw -> memory.swap.max holding swap alone). The conversions are pure
//!   functions below, tested without a v2 machine.
//!
//! v2 has no devices files: device rules (`linux.resources.devices`) become an eBPF program
//! attached to the cgroup (`super::device_filter`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use serde::{Deserialize, Serialize};

use super::detect::{self, V2Hierarchy};
use super::files;
use super::stats::CgroupStats;
use super::CgroupDriver;

/// Controllers pier enables for its cgroups, as far as the parent offers them.
const WANTED_CONTROLLERS: [&str; 5] = ["cpu", "memory", "pids", "io", "cpuset"];

/// A container's cgroup on v2: a single directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct V2Cgroup {
    /// The cgroup's directory, e.g. /sys/fs/cgroup/user.slice/pier/<id>.
    pub dir: PathBuf,
}

impl V2Cgroup {
    /// Creates `path` in the unified hierarchy mounted on this machine.
    pub(crate) fn create(path: &str) -> Result<V2Cgroup> {
        Self::create_in(&detect::v2_hierarchy()?, path)
    }

    /// Creates `path` in `hierarchy`: absolute from its root, relative beside this process's
    /// cgroup (see the module comment). Enables pier's controllers on the way down.
    pub(crate) fn create_in(hierarchy: &V2Hierarchy, path: &str) -> Result<V2Cgroup> {
        let dir = placement(hierarchy, path);
        let created = files::create_dirs(&dir)?;
        if let Err(e) = enable_controllers(&hierarchy.mount_point, &dir) {
            for made in created.iter().rev() {
                files::remove_if_empty(made);
            }
            return Err(e);
        }
        Ok(V2Cgroup { dir })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn apply_memory(&self, memory: &LinuxMemory) -> Result<()> {
        refuse_v1_only_memory(memory)?;
        // swap.max first: it is independent of memory.max on v2, and a failure here (swap
        // accounting off) should stop before half the limits are in place.
        if let Some(swap) = swap_max(memory.limit(), memory.swap())? {
            if !files::write_if_exists(&self.file("memory.swap.max"), &swap)?
                && swap != "0"
                && swap != "max"
            {
                bail!(
                    "swap limit requested but {} is missing (swap accounting is off in this kernel)",
                    self.file("memory.swap.max").display()
                );
            }
        }
        // 0 means "not set" in OCI specs (as runc reads them), never "zero bytes".
        if let Some(limit) = memory.limit().filter(|&l| l != 0) {
            files::write(&self.file("memory.max"), &limit_value(limit))?;
        }
        if let Some(reservation) = memory.reservation().filter(|&r| r != 0) {
            files::write(&self.file("memory.low"), &limit_value(reservation))?;
        }
        Ok(())
    }

    fn apply_cpu(&self, cpu: &LinuxCpu) -> Result<()> {
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            files::write(&self.file("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            files::write(&self.file("cpuset.mems"), mems)?;
        }
        if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
            files::write(
                &self.file("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
        }
        if let Some(max) = cpu_max(cpu.quota(), cpu.period()) {
            files::write(&self.file("cpu.max"), &max)?;
        }
        if let Some(burst) = cpu.burst() {
            files::write(&self.file("cpu.max.burst"), &burst.to_string())?;
        }
        if let Some(idle) = cpu.idle() {
            files::write(&self.file("cpu.idle"), &idle.to_string())?;
        }
        if cpu.realtime_period().is_some() || cpu.realtime_runtime().is_some() {
            bail!("realtime CPU limits are not supported on cgroup v2");
        }
        Ok(())
    }

    fn apply_io(&self, io: &LinuxBlockIo) -> Result<()> {
        if super::block_io_is_empty(io) {
            return Ok(());
        }
        // io.bfq.weight takes the v1 range (1-1000) as is; io.weight needs conversion.
        let bfq = self.file("io.bfq.weight");
        let plain = self.file("io.weight");
        let weight_target = |weight: u16| -> Result<(PathBuf, u64)> {
            if bfq.exists() {
                Ok((bfq.clone(), u64::from(weight)))
            } else if plain.exists() {
                Ok((plain.clone(), blkio_weight_to_io_weight(weight)))
            } else {
                bail!("block I/O weight {weight} requested but neither io.weight nor io.bfq.weight exists in {} (is the io controller enabled?)", self.dir.display())
            }
        };
        if let Some(weight) = io.weight() {
            let (file, value) = weight_target(weight)?;
            files::write(&file, &value.to_string())?;
        }
        for device in io.weight_device().iter().flatten() {
            if let Some(weight) = device.weight() {
                let (file, value) = weight_target(weight)?;
                files::write(
                    &file,
                    &format!("{}:{} {}", device.major(), device.minor(), value),
                )?;
            }
        }
        let throttles = [
            ("rbps", io.throttle_read_bps_device()),
            ("wbps", io.throttle_write_bps_device()),
            ("riops", io.throttle_read_iops_device()),
            ("wiops", io.throttle_write_iops_device()),
        ];
        for (key, devices) in throttles {
            for d in devices.iter().flatten() {
                files::write(
                    &self.file("io.max"),
                    &format!("{}:{} {}={}", d.major(), d.minor(), key, d.rate()),
                )?;
            }
        }
        Ok(())
    }

    /// Reads a file of a controller that may not be enabled here; absent means "no data".
    fn read_optional(&self, name: &str) -> Result<Option<String>> {
        let path = self.file(name);
        if !path.exists() {
            return Ok(None);
        }
        files::read(&path).map(Some)
    }
}

/// Refuses the memory settings only v1 has a file for, rather than ignoring them.
fn refuse_v1_only_memory(memory: &LinuxMemory) -> Result<()> {
    if memory.disable_oom_killer() == Some(true) {
        bail!("linux.resources.memory.disableOOMKiller is not supported on cgroup v2 (there is no memory.oom_control)");
    }
    // 0 is what generators write for "unset" (as runc reads it).
    if let Some(s) = memory.swappiness().filter(|&s| s != 0) {
        bail!("linux.resources.memory.swappiness ({s}) is not supported on cgroup v2 (there is no per-cgroup swappiness)");
    }
    if let Some(t) = memory.kernel_tcp().filter(|&t| t != 0 && t != -1) {
        super::warn_ignored(
            "linux.resources.memory.kernelTCP",
            t,
            "cgroup v2 has no TCP buffer limit",
        );
    }
    Ok(())
}

/// Where `path` goes: absolute from the hierarchy root, relative beside this process's own
/// cgroup (in its parent; in the root itself when this process is in the root).
pub(crate) fn placement(hierarchy: &V2Hierarchy, path: &str) -> PathBuf {
    match path.strip_prefix('/') {
        Some(absolute) => hierarchy.mount_point.join(absolute),
        None => {
            let base = if hierarchy.current_dir == hierarchy.mount_point {
                hierarchy.current_dir.as_path()
            } else {
                hierarchy
                    .current_dir
                    .parent()
                    .unwrap_or(&hierarchy.mount_point)
            };
            base.join(path)
        }
    }
}

/// Enables pier's controllers in `cgroup.subtree_control` of every directory from the
/// hierarchy root down to `dir`'s parent, each as far as that directory offers it. A refusal
/// (EBUSY: that directory holds processes itself; EINVAL/EOPNOTSUPP...) is an error naming the
/// controller and the directory: the container would otherwise run without that
/// controller's limits and counters, and nobody would know why.
fn enable_controllers(mount_point: &Path, dir: &Path) -> Result<()> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| p.starts_with(mount_point))
        .collect();
    chain.reverse();
    for cgroup in chain {
        let available = files::read(&cgroup.join("cgroup.controllers"))?;
        let enabled = files::read(&cgroup.join("cgroup.subtree_control"))?;
        for controller in WANTED_CONTROLLERS {
            let offered = available.split_whitespace().any(|c| c == controller);
            let on = enabled.split_whitespace().any(|c| c == controller);
            if offered && !on {
                enable_controller(cgroup, controller)?;
            }
        }
    }
    Ok(())
}

/// Writes `+controller` to `cgroup`'s `cgroup.subtree_control`.
pub(crate) fn enable_controller(cgroup: &Path, controller: &str) -> Result<()> {
    files::write(
        &cgroup.join("cgroup.subtree_control"),
        &format!("+{controller}"),
    )
    .with_context(|| {
        format!(
            "enabling the {controller} controller for the children of {}",
            cgroup.display()
        )
    })
}

/// cpu.weight (1-10000, default 100) for v1-style cpu.shares (2-262144, default 1024), with
/// runc's formula so the same spec gets the same weight under either runtime.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// io.weight (1-10000) for a v1 blkio weight (10-1000), as runc converts it.
pub(crate) fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + (weight - 10) * 9999 / 990
}

/// cpu.max contents ("$QUOTA $PERIOD", quota "max" when unlimited) for an OCI quota and
/// period; `None` when neither is set. A lone period keeps quota unlimited.
pub(crate) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|&q| q != 0);
    let period = period.filter(|&p| p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut text = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    if let Some(p) = period {
        text.push_str(&format!(" {p}"));
    }
    Some(text)
}

/// memory.swap.max contents for an OCI memory limit and swap. OCI's `swap` is memory+swap (the
/// v1 memsw meaning); v2 limits swap alone, so the value is swap - limit. `None` leaves the
/// file alone.
pub(crate) fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    match (limit, swap) {
        // Unlimited memory with swap unspecified: unlimited swap too, as on v1.
        (Some(-1), None) => Ok(Some("max".to_string())),
        (_, None) | (_, Some(0)) => Ok(None),
        (_, Some(-1)) => Ok(Some("max".to_string())),
        (None, Some(_)) | (Some(-1), Some(_)) | (Some(0), Some(_)) => {
            bail!("a swap limit needs a memory limit too")
        }
        (Some(l), Some(_)) if l < 0 => bail!("invalid memory limit {l}"),
        (Some(l), Some(s)) if s < l => {
            bail!("memory+swap limit {s} must be at least the memory limit {l}")
        }
        (Some(l), Some(s)) => Ok(Some((s - l).to_string())),
    }
}

/// memory.max / memory.low text: -1 (OCI's unlimited) is "max".
pub(crate) fn limit_value(bytes: i64) -> String {
    if bytes < 0 {
        "max".to_string()
    } else {
        bytes.to_string()
    }
}

/// Parses cpu.stat text (microseconds on v2) into the stats fields, converted to nanoseconds.
pub(crate) fn parse_cpu_stat(text: &str, stats: &mut CgroupStats) {
    let key = |k| files::flat_keyed(text, k).unwrap_or(0);
    stats.cpu_usage_ns = key("usage_usec").saturating_mul(1000);
    stats.cpu_nr_periods = key("nr_periods");
    stats.cpu_throttled_periods = key("nr_throttled");
    stats.cpu_throttled_ns = key("throttled_usec").saturating_mul(1000);
}

impl CgroupDriver for V2Cgroup {
    fn add_process(&self, pid: i32) -> Result<()> {
        files::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        if let Some(memory) = resources.memory() {
            self.apply_memory(memory)?;
        }
        if let Some(cpu) = resources.cpu() {
            self.apply_cpu(cpu)?;
        }
        if let Some(pids) = resources.pids() {
            files::write(&self.file("pids.max"), &super::v1::pids_max(pids.limit()))?;
        }
        if let Some(io) = resources.block_io() {
            self.apply_io(io)?;
        }
        if let Some(rules) = resources.devices() {
            super::device_filter::apply(&self.dir, rules)?;
        }
        if let Some(unified) = resources.unified() {
            for (name, value) in unified {
                if name.contains('/') || name.starts_with('.') {
                    bail!("linux.resources.unified key {name:?} is not a cgroup file name");
                }
                files::write(&self.file(name), value)?;
            }
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        files::read_pids(&self.file("cgroup.procs"))
    }

    fn stats(&self) -> Result<CgroupStats> {
        let mut stats = CgroupStats::default();
        if let Some(text) = self.read_optional("cpu.stat")? {
            parse_cpu_stat(&text, &mut stats);
        }
        if let Some(text) = self.read_optional("memory.current")? {
            stats.memory_usage = files::parse_u64_or_max(&text)?.unwrap_or(0);
        }
        if let Some(text) = self.read_optional("memory.max")? {
            stats.memory_limit = files::parse_u64_or_max(&text)?;
        }
        if let Some(text) = self.read_optional("memory.peak")? {
            stats.memory_max_usage = files::parse_u64_or_max(&text)?;
        }
        if let Some(text) = self.read_optional("pids.current")? {
            stats.pids_current = files::parse_u64_or_max(&text)?.unwrap_or(0);
        }
        if let Some(text) = self.read_optional("pids.max")? {
            stats.pids_limit = files::parse_u64_or_max(&text)?;
        }
        Ok(stats)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        files::read_flat_keyed(&self.file("memory.events"), "oom_kill")
    }

    fn freeze(&self) -> Result<()> {
        files::write(&self.file("cgroup.freeze"), "1")?;
        // Freezing is asynchronous; cgroup.events says when every task has stopped.
        let events = self.file("cgroup.events");
        let deadline = std::time::Instant::now() + super::FREEZE_TIMEOUT;
        while files::read_flat_keyed(&events, "frozen")? != 1 {
            if std::time::Instant::now() > deadline {
                let _ = files::write(&self.file("cgroup.freeze"), "0");
                bail!(
                    "{} did not report frozen within {} s",
                    events.display(),
                    super::FREEZE_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        files::write(&self.file("cgroup.freeze"), "0")
    }

    fn signal_kill(&self) -> Result<()> {
        // cgroup.kill (Linux 5.14+) kills every process atomically, racing no fork.
        if files::write_if_exists(&self.file("cgroup.kill"), "1")
            .with_context(|| format!("killing cgroup {}", self.dir.display()))?
        {
            return Ok(());
        }
        super::freeze_and_kill(self)
    }

    fn leaf_dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn version(&self) -> u8 {
        2
    }

    fn display_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn controller_dir(&self, _controller: &str) -> Option<PathBuf> {
        Some(self.dir.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1, "below range clamps");
        assert_eq!(shares_to_weight(1_000_000), 10_000, "above range clamps");
    }

    #[test]
    fn blkio_weight_converts_to_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
    }

    #[test]
    fn cpu_max_formatting() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(50_000), None).as_deref(), Some("50000"));
        assert_eq!(
            cpu_max(Some(-1), Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(cpu_max(None, Some(20_000)).as_deref(), Some("max 20000"));
    }

    #[test]
    fn swap_is_memsw_minus_limit() {
        let mib = 1 << 20;
        assert_eq!(
            swap_max(Some(16 * mib), Some(32 * mib)).unwrap().as_deref(),
            Some("16777216")
        );
        assert_eq!(
            swap_max(Some(16 * mib), Some(16 * mib)).unwrap().as_deref(),
            Some("0")
        );
        assert_eq!(
            swap_max(Some(16 * mib), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_max(Some(-1), None).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(Some(16 * mib), None).unwrap(), None);
        assert!(swap_max(Some(32 * mib), Some(16 * mib)).is_err());
        assert!(swap_max(None, Some(16 * mib)).is_err());
    }

    #[test]
    fn limits_and_stats_parse() {
        assert_eq!(limit_value(-1), "max");
        assert_eq!(limit_value(4096), "4096");
        let mut stats = CgroupStats::default();
        parse_cpu_stat(
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 20\n",
            &mut stats,
        );
        assert_eq!(stats.cpu_usage_ns, 1_500_000);
        assert_eq!((stats.cpu_nr_periods, stats.cpu_throttled_periods), (10, 4));
        assert_eq!(stats.cpu_throttled_ns, 20_000);
    }

    #[test]
    fn relative_paths_go_beside_own_cgroup() {
        let hierarchy = V2Hierarchy {
            mount_point: PathBuf::from("/nonexistent-cgroup2"),
            current_dir: PathBuf::from("/nonexistent-cgroup2/user.slice/session.scope"),
        };
        assert_eq!(
            placement(&hierarchy, "/pier/x"),
            PathBuf::from("/nonexistent-cgroup2/pier/x")
        );
        let dir = placement(&hierarchy, "pier/x");
        assert_eq!(dir, PathBuf::from("/nonexistent-cgroup2/user.slice/pier/x"));
    }
}
