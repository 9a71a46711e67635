//! The machine record written as `environment.json` next to every run's results.
//!
//! Results are only comparable with the machine they came from, so the record holds what
//! changes figures: CPU model and vector extensions, core count, memory, kernel, cgroup
//! layout, and the versions of every runtime and hypervisor involved.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;

/// CPU flags worth recording: vector extensions and virtualisation support.
const FLAGS_OF_INTEREST: &[&str] = &[
    "sse2",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "vmx",
    "svm",
    "hypervisor",
];

/// What the caller knows and the machine cannot tell.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Version of pier that ran the benchmark.
    pub pier_version: String,
    /// `qemu-system-x86_64 --version` first line, if a VM environment ran.
    pub qemu_version: Option<String>,
    /// QEMU accelerator used (`kvm`, `tcg`).
    pub qemu_accelerator: Option<String>,
}

/// The machine record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// RFC 3339 UTC time the record was taken.
    pub date: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// Flags from [`FLAGS_OF_INTEREST`] that the CPU has.
    pub cpu_flags: Vec<String>,
    /// Logical CPUs online.
    pub logical_cpus: usize,
    /// CPUs this process may use (affinity/quota).
    pub available_cpus: usize,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `v2`, `v1`, or `hybrid` (v1 controllers plus an empty cgroup2 at .../unified).
    pub cgroup: String,
    /// pier version.
    pub pier_version: String,
    /// QEMU version, when a VM ran.
    pub qemu_version: Option<String>,
    /// QEMU accelerator, when a VM ran.
    pub qemu_accelerator: Option<String>,
    /// `runc --version` first line, when installed.
    pub runc_version: Option<String>,
    /// `crun --version` first line, when installed.
    pub crun_version: Option<String>,
    /// `vendor_id` from /proc/cpuinfo (`GenuineIntel`, `AuthenticAMD`); absent in records
    /// of older runs, as are the fields below.
    #[serde(default)]
    pub cpu_vendor: Option<String>,
    /// `cpu family` from /proc/cpuinfo (AMD 25 = Zen 3/4, whose AVX-512 runs on 256-bit units).
    #[serde(default)]
    pub cpu_family: Option<u32>,
    /// The CPU's highest clock in MHz, for the theoretical peak.
    #[serde(default)]
    pub cpu_mhz_max: Option<f64>,
    /// Where [`Self::cpu_mhz_max`] came from (cpufreq, the model name, or the current clock).
    #[serde(default)]
    pub cpu_mhz_source: Option<String>,
    /// Hardware threads per core (`siblings / cpu cores`): SMT siblings share FMA units.
    #[serde(default)]
    pub threads_per_core: Option<usize>,
    /// `podman --version` first line, when installed.
    #[serde(default)]
    pub podman_version: Option<String>,
    /// `dockerd --version` first line (the bench starts this dockerd), when installed.
    #[serde(default)]
    pub docker_version: Option<String>,
    /// The file system the measured tools wrote to, for benches whose figures depend on it
    /// (the pull bench); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<crate::storage::StorageRecord>,
}

impl EnvironmentRecord {
    /// Reads the machine's facts and merges the caller's `inputs`.
    pub fn collect(inputs: &Inputs) -> Result<Self> {
        let cpuinfo = read("/proc/cpuinfo")?;
        let meminfo = read("/proc/meminfo")?;
        let mounts = read("/proc/self/mounts")?;
        let cpufreq = std::fs::read_to_string(CPUFREQ_MAX).ok();
        let clock = max_mhz(cpufreq.as_deref(), &cpuinfo);
        Ok(Self {
            date: crate::clock::now_rfc3339(),
            cpu_model: cpuinfo_field(&cpuinfo, "model name").unwrap_or_default(),
            cpu_flags: cpu_flags(&cpuinfo),
            logical_cpus: cpuinfo
                .lines()
                .filter(|l| l.starts_with("processor"))
                .count(),
            available_cpus: cpu_threads(),
            memory_bytes: mem_total(&meminfo).unwrap_or(0),
            kernel: read("/proc/sys/kernel/osrelease")?.trim().to_string(),
            cgroup: cgroup_layout(&mounts).to_string(),
            pier_version: inputs.pier_version.clone(),
            qemu_version: inputs.qemu_version.clone(),
            qemu_accelerator: inputs.qemu_accelerator.clone(),
            runc_version: tool_version("runc"),
            crun_version: tool_version("crun"),
            cpu_vendor: cpuinfo_field(&cpuinfo, "vendor_id"),
            cpu_family: cpuinfo_field(&cpuinfo, "cpu family").and_then(|f| f.parse().ok()),
            cpu_mhz_max: clock.map(|c| c.0),
            cpu_mhz_source: clock.map(|c| c.1.to_string()),
            threads_per_core: threads_per_core(&cpuinfo),
            podman_version: tool_version("podman"),
            docker_version: tool_version("dockerd"),
            storage: None,
        })
    }

    /// Reads a record written as `environment.json` (the harness writes it as pretty JSON,
    /// atomically).
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Number of CPUs this process may run on (affinity and cgroup quota aware).
pub fn cpu_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn cpu_flags(cpuinfo: &str) -> Vec<String> {
    let flags = cpuinfo_field(cpuinfo, "flags").unwrap_or_default();
    let have: Vec<&str> = flags.split_whitespace().collect();
    FLAGS_OF_INTEREST
        .iter()
        .filter(|f| have.contains(f))
        .map(|f| f.to_string())
        .collect()
}

/// The kernel's highest clock of CPU 0 in kHz (absent under most hypervisors).
const CPUFREQ_MAX: &str = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";

/// The highest clock in MHz and where it came from: cpufreq's maximum (`cpufreq_khz`, the
/// content of [`CPUFREQ_MAX`]) if the kernel has one, else the nominal clock in the model
/// name (`@ 2.60GHz`), else the largest current `cpu MHz` (under a hypervisor usually
/// the host's nominal clock).
pub fn max_mhz(cpufreq_khz: Option<&str>, cpuinfo: &str) -> Option<(f64, &'static str)> {
    if let Some(khz) = cpufreq_khz.and_then(|k| k.trim().parse::<f64>().ok()) {
        return Some((khz / 1000.0, "cpufreq cpuinfo_max_freq"));
    }
    let model = cpuinfo_field(cpuinfo, "model name").unwrap_or_default();
    if let Some(ghz) = model
        .rsplit_once('@')
        .and_then(|(_, f)| f.trim().trim_end_matches("GHz").trim().parse::<f64>().ok())
    {
        return Some((ghz * 1000.0, "the model name's nominal clock"));
    }
    cpuinfo
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "cpu MHz").then(|| v.trim().parse::<f64>().ok())?
        })
        .reduce(f64::max)
        .map(|m| {
            (
                m,
                "/proc/cpuinfo cpu MHz (no cpufreq here: the current or nominal clock)",
            )
        })
}

fn threads_per_core(cpuinfo: &str) -> Option<usize> {
    let siblings: usize = cpuinfo_field(cpuinfo, "siblings")?.parse().ok()?;
    let cores: usize = cpuinfo_field(cpuinfo, "cpu cores")?.parse().ok()?;
    (cores > 0 && siblings >= cores).then(|| siblings / cores)
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let kb = cpuinfo_field(meminfo, "MemTotal")?;
    kb.trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Classifies the cgroup layout from the mount table (the fs type of /sys/fs/cgroup).
pub fn cgroup_layout(mounts: &str) -> &'static str {
    let mut v1 = false;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dir), Some(fstype)) = (f.get(1), f.get(2)) else {
            continue;
        };
        if *dir == "/sys/fs/cgroup" && *fstype == "cgroup2" {
            return "v2";
        }
        v1 |= *fstype == "cgroup";
    }
    let unified = mounts.contains(" /sys/fs/cgroup/unified cgroup2 ");
    match (v1, unified) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        _ => "none",
    }
}

/// First line of `tool --version`, or `None` if the tool is absent or fails.
pub fn tool_version(tool: &str) -> Option<String> {
    let out = Command::new(tool).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_cgroup_layouts() {
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(cgroup_layout(v2), "v2");
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs ro 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
        assert_eq!(cgroup_layout(hybrid), "hybrid");
        assert_eq!(
            cgroup_layout("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"),
            "v1"
        );
    }

    #[test]
    fn finds_the_highest_clock_and_smt() {
        let info = "model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\ncpu MHz\t\t: 1000.0\n\
                    siblings\t: 4\ncpu cores\t: 2\n";
        assert_eq!(
            max_mhz(Some("3700000\n"), info),
            Some((3700.0, "cpufreq cpuinfo_max_freq"))
        );
        assert_eq!(max_mhz(None, info).map(|m| m.0), Some(2400.0));
        let vm = "model name\t: AMD EPYC\ncpu MHz\t\t: 2595.1\ncpu MHz\t\t: 2600.0\n";
        assert_eq!(max_mhz(None, vm).map(|m| m.0), Some(2600.0));
        assert_eq!(max_mhz(None, "model name\t: x\n"), None);
        assert_eq!(threads_per_core(info), Some(2));
    }

    #[test]
    fn reads_records_of_older_runs() {
        // The committed reference run's record has none of the clock fields.
        let old = r#"{"date":"d","cpu_model":"AMD EPYC","cpu_flags":["avx2"],"logical_cpus":2,
            "available_cpus":2,"memory_bytes":1,"kernel":"k","cgroup":"v2","pier_version":"0.1.0",
            "qemu_version":null,"qemu_accelerator":null,"runc_version":null,"crun_version":null}"#;
        let rec: EnvironmentRecord = serde_json::from_str(old).unwrap();
        assert_eq!((rec.cpu_mhz_max, rec.cpu_vendor), (None, None));
    }

    #[test]
    fn collects_this_machine_and_round_trips() {
        let rec = EnvironmentRecord::collect(&Inputs {
            pier_version: "0.1.0".into(),
            qemu_version: None,
            qemu_accelerator: Some("tcg".into()),
        })
        .unwrap();
        assert!(!rec.cpu_model.is_empty());
        assert!(rec.logical_cpus >= 1 && rec.memory_bytes > 0);
        assert!(!rec.kernel.is_empty());
        // The layout must agree with what the kernel says about /sys/fs/cgroup.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert_eq!(rec.cgroup, cgroup_layout(&mounts));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("environment.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
        assert_eq!(EnvironmentRecord::read(&path).unwrap(), rec);
    }
}
