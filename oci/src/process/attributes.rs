//! The container process's own kernel attributes, set just before it becomes the user's
//! command (in the init, and in an `exec`'d process):
//!
//! - `linux.personality`: the execution domain (`LINUX32` makes `uname -m` say `i686`);
//! - `process.ioPriority`: the I/O scheduling class and level (`ioprio_set(2)`);
//! - `process.scheduler`: the CPU scheduling policy and its parameters (`sched_setattr(2)`);
//! - `process.execCPUAffinity`: the CPUs it may run on, before (`initial`) and after (`final`)
//!   it joins the container (`sched_setaffinity(2)`);
//! - `linux.memoryPolicy`: the NUMA memory policy (`set_mempolicy(2)`);
//! - `process.rlimits`, `process.oomScoreAdj`, `process.user.umask`: its resource limits,
//!   OOM-killer score and file creation mask;
//! - `process.apparmorProfile`, `process.selinuxLabel`: the LSM label its `execve` takes
//!   (written to `/proc/thread-self/attr/...`). A host without that LSM cannot honour them:
//!   an error names the field.
//!
//! The privileged ones (a real-time policy needs CAP_SYS_NICE, a memory policy may need
//! CAP_SYS_NICE) are applied while the process still holds its capabilities; the LSM label and
//! the personality last.

use crate::error::{bail_config, Error};
use anyhow::{bail, Context, Result};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType,
    PosixRlimit, PosixRlimitType, Process, Scheduler, Spec,
};

/// What of the config this module applies, copied out of it (the exec path has a `process`
/// object of its own, the container's `linux` section beside it).
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    personality: Option<LinuxPersonality>,
    io_priority: Option<(IOPriorityClass, i64)>,
    scheduler: Option<Scheduler>,
    affinity: Option<ExecCPUAffinity>,
    memory_policy: Option<LinuxMemoryPolicy>,
    apparmor: Option<String>,
    selinux: Option<String>,
    rlimits: Vec<PosixRlimit>,
    oom_score_adj: Option<i32>,
    umask: Option<u32>,
}

impl Attributes {
    /// The attributes `process` and the container's `spec` ask for.
    pub fn of(process: &Process, spec: &Spec) -> Attributes {
        let linux = spec.linux().as_ref();
        Attributes {
            personality: linux.and_then(|l| l.personality().clone()),
            io_priority: process.io_priority().map(|p| (p.class(), p.priority())),
            scheduler: process.scheduler().clone(),
            affinity: process.exec_cpu_affinity().clone(),
            memory_policy: linux.and_then(|l| l.memory_policy().clone()),
            apparmor: process.apparmor_profile().clone().filter(|p| !p.is_empty()),
            selinux: process.selinux_label().clone().filter(|l| !l.is_empty()),
            rlimits: process.rlimits().clone().unwrap_or_default(),
            oom_score_adj: process.oom_score_adj(),
            umask: process.user().umask(),
        }
    }

    /// Checks what can be checked before anything is created: values in range, and the
    /// LSMs the labels need.
    pub(crate) fn validate(&self) -> crate::Result<()> {
        if let Some(p) = &self.personality {
            if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
                bail_config!("linux.personality.flags", "config.json: linux.personality.flags are not supported by pier (the domain is)");
            }
        }
        if let Some((class, level)) = self.io_priority {
            if !(0..=7).contains(&level) {
                bail_config!(
                    "process.ioPriority.priority",
                    "config.json: process.ioPriority.priority {level} is out of range 0-7"
                );
            }
            let _ = class;
        }
        let invalid =
            |field: &'static str| move |e: anyhow::Error| Error::config(field, format!("{e:#}"));
        if let Some(s) = &self.scheduler {
            sched_attr(s).map_err(invalid("process.scheduler"))?;
        }
        if let Some(a) = &self.affinity {
            for cpus in [a.initial(), a.cpu_affinity_final()].into_iter().flatten() {
                cpu_set(cpus).map_err(invalid("process.execCPUAffinity"))?;
            }
        }
        if let Some(m) = &self.memory_policy {
            mempolicy(m).map_err(invalid("linux.memoryPolicy"))?;
        }
        if self.apparmor.is_some() && !apparmor_enabled() {
            bail_config!("process.apparmorProfile", "config.json: process.apparmorProfile is set but AppArmor is not enabled on this host");
        }
        if self.selinux.is_some() && !selinux_enabled() {
            bail_config!(
                "process.selinuxLabel",
                "config.json: process.selinuxLabel is set but SELinux is not enabled on this host"
            );
        }
        Ok(())
    }

    /// `execCPUAffinity.initial`: first thing in the new process, before it joins the
    /// container.
    pub(crate) fn apply_initial_affinity(&self) -> Result<()> {
        if let Some(cpus) = self.affinity.as_ref().and_then(|a| a.initial().as_deref()) {
            set_affinity(cpus).context("process.execCPUAffinity.initial")?;
        }
        Ok(())
    }

    /// Resource limits, OOM score and umask (raising a hard limit or lowering the OOM score
    /// needs CAP_SYS_RESOURCE: while the process still holds its capabilities).
    pub(crate) fn apply_limits(&self) -> Result<()> {
        set_rlimits(&self.rlimits)?;
        if let Some(adj) = self.oom_score_adj {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .context("writing /proc/self/oom_score_adj")?;
        }
        if let Some(mask) = self.umask {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
                mask as libc::mode_t,
            ));
        }
        Ok(())
    }

    /// Scheduler, I/O priority, memory policy and the final CPU affinity: while the process
    /// still holds its capabilities.
    pub(crate) fn apply_privileged(&self) -> Result<()> {
        if let Some(s) = &self.scheduler {
            let attr = sched_attr(s)?;
            // SAFETY: sched_setattr reads one sched_attr of `attr.size` bytes for this thread.
            if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("process.scheduler: sched_setattr");
            }
        }
        if let Some((class, level)) = self.io_priority {
            let class = match class {
                IOPriorityClass::IoprioClassRt => 1,
                IOPriorityClass::IoprioClassBe => 2,
                IOPriorityClass::IoprioClassIdle => 3,
            };
            const IOPRIO_WHO_PROCESS: libc::c_int = 1;
            let value = (class << 13) | level as libc::c_int;
            // SAFETY: ioprio_set takes integers only.
            if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("process.ioPriority: ioprio_set");
            }
        }
        if let Some(m) = &self.memory_policy {
            let (mode, mask) = mempolicy(m)?;
            let maxnode = (mask.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
            let ptr = if mask.is_empty() {
                std::ptr::null()
            } else {
                mask.as_ptr()
            };
            // SAFETY: set_mempolicy reads `maxnode` bits from `ptr` (a live Vec, or null
            // with maxnode 0).
            if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("linux.memoryPolicy: set_mempolicy");
            }
        }
        if let Some(cpus) = self
            .affinity
            .as_ref()
            .and_then(|a| a.cpu_affinity_final().as_deref())
        {
            set_affinity(cpus).context("process.execCPUAffinity.final")?;
        }
        Ok(())
    }

    /// The LSM label for the coming `execve`, then the personality: the last steps.
    pub(crate) fn apply_last(&self) -> Result<()> {
        if let Some(profile) = &self.apparmor {
            write_attr(&["apparmor/exec", "exec"], &format!("exec {profile}"))
                .context("process.apparmorProfile")?;
        }
        if let Some(label) = &self.selinux {
            write_attr(&["exec"], label).context("process.selinuxLabel")?;
        }
        if let Some(p) = &self.personality {
            let persona: libc::c_ulong = match p.domain() {
                LinuxPersonalityDomain::PerLinux => 0x0000,
                LinuxPersonalityDomain::PerLinux32 => 0x0008,
            };
            // SAFETY: personality takes an integer and changes only this process.
            if unsafe { libc::personality(persona) } == -1 {
                return Err(std::io::Error::last_os_error())
                    .context("linux.personality: personality(2)");
            }
        }
        Ok(())
    }
}

fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for rl in rlimits {
        let resource = rlimit_resource(rl.typ());
        let (_, current_hard) =
            getrlimit(resource).with_context(|| format!("getrlimit {:?}", rl.typ()))?;
        // Raising a hard limit needs CAP_SYS_RESOURCE, which pier may not have (it does not on
        // the project's CI): say so clearly instead of failing with a bare EPERM.
        if rl.hard() > current_hard && current_hard != libc::RLIM_INFINITY {
            bail!(
                "rlimit {:?}: hard limit {} is above the current hard limit {} and raising it needs CAP_SYS_RESOURCE",
                rl.typ(), rl.hard(), current_hard
            );
        }
        setrlimit(resource, rl.soft(), rl.hard())
            .with_context(|| format!("setrlimit {:?} {}:{}", rl.typ(), rl.soft(), rl.hard()))?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Whether AppArmor is enabled (the module is loaded and turned on).
pub(crate) fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

/// Whether SELinux is enabled (its filesystem is mounted).
pub(crate) fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Writes `value` to the first of /proc/thread-self/attr/<names> that exists.
fn write_attr(names: &[&str], value: &str) -> Result<()> {
    for name in names {
        let path = format!("/proc/thread-self/attr/{name}");
        if std::path::Path::new(&path).exists() {
            return std::fs::write(&path, value).with_context(|| format!("writing {path}"));
        }
    }
    bail!("no /proc/thread-self/attr/{} (is /proc mounted?)", names[0])
}

/// The kernel's `struct sched_attr` (the first version, 48 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => {
            bail!("config.json: process.scheduler.policy SCHED_ISO is not implemented by Linux")
        }
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin
            | LinuxSchedulerFlag::SchedFlagUtilClampMax => {
                bail!("config.json: process.scheduler.flags: utilization clamping is not supported by pier")
            }
        };
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        bail!("config.json: process.scheduler.nice {nice} is out of range -20..19");
    }
    let priority = s.priority().unwrap_or(0);
    if priority < 0 {
        bail!("config.json: process.scheduler.priority {priority} is negative");
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    })
}

/// Parses a CPU or node list ("0-3,6") into indices.
fn parse_list(text: &str, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim()
                .parse()
                .with_context(|| format!("{what} {text:?}"))?,
            b.trim()
                .parse()
                .with_context(|| format!("{what} {text:?}"))?,
        );
        if a > b || b >= 4096 {
            bail!("{what} {text:?}: invalid range {part}");
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        bail!("{what} {text:?} names nothing");
    }
    Ok(out)
}

fn cpu_set(text: &str) -> Result<nix::sched::CpuSet> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in parse_list(text, "config.json: process.execCPUAffinity")? {
        set.set(cpu)
            .with_context(|| format!("process.execCPUAffinity: CPU {cpu} out of range"))?;
    }
    Ok(set)
}

fn set_affinity(text: &str) -> Result<()> {
    let set = cpu_set(text)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("sched_setaffinity({text})"))
}

/// set_mempolicy's mode argument (mode | flags) and node mask.
fn mempolicy(m: &LinuxMemoryPolicy) -> Result<(libc::c_int, Vec<libc::c_ulong>)> {
    let mode = match m.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let mut flags = 0;
    for f in m.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        };
    }
    let nodes = match m.nodes().as_deref().filter(|n| !n.is_empty()) {
        Some(text) => parse_list(text, "config.json: linux.memoryPolicy.nodes")?,
        None => Vec::new(),
    };
    let needs_nodes = !matches!(mode, 0 | 4);
    if needs_nodes && nodes.is_empty() {
        bail!(
            "config.json: linux.memoryPolicy.nodes is required for mode {:?}",
            m.mode()
        );
    }
    if !needs_nodes && !nodes.is_empty() {
        bail!(
            "config.json: linux.memoryPolicy mode {:?} takes no nodes",
            m.mode()
        );
    }
    let bits = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; nodes.iter().max().map_or(0, |&n| n / bits + 1)];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    Ok((mode | flags, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_list("0-2,5", "x").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_list("3-1", "x").is_err());
        assert!(parse_list("a", "x").is_err());
        assert!(parse_list("", "x").is_err());
    }

    #[test]
    fn memory_policy_masks_and_modes() {
        let m: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0,65"}))
                .unwrap();
        let (mode, mask) = mempolicy(&m).unwrap();
        assert_eq!(mode, 2);
        assert_eq!(mask, vec![1, 2]);
        let bad: LinuxMemoryPolicy =
            serde_json::from_value(serde_json::json!({"mode": "MPOL_BIND"})).unwrap();
        assert!(mempolicy(&bad).is_err(), "bind needs nodes");
    }

    #[test]
    fn lsm_labels_without_the_lsm_are_refused_by_name() {
        let a = Attributes {
            apparmor: Some("docker-default".into()),
            ..Default::default()
        };
        if !apparmor_enabled() {
            let e = a.validate().unwrap_err();
            assert!(
                matches!(&e, Error::InvalidConfig { field, .. } if field == "process.apparmorProfile"),
                "{e}"
            );
        }
    }
}
