//! Looking at containers: `pier inspect`, `pier top`, `pier stats`, and the health a
//! container's monitor last found (compose's `service_healthy` waits on it).

use super::health::Health;
use super::record::{ContainerRecord, ContainerStatus};
use super::Engine;
use anyhow::{bail, Context, Result};
use procfs::Current;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

impl Engine {
    /// The health of a container (by name or ID) as its monitor last found it: `None` if it
    /// has no health check or is not running. Compose's `service_healthy` waits on this.
    pub fn health(&self, key: &str) -> Result<Option<Health>> {
        let (_, rec) = self.find(key)?;
        let running = rec.status == ContainerStatus::Running;
        Ok(rec.health.filter(|_| running))
    }
}

/// One process of `pier top`.
#[derive(Debug, Clone, Serialize)]
pub struct TopProcess {
    /// PID on the host.
    pub pid: i32,
    /// Parent PID on the host.
    pub ppid: i32,
    /// User ID.
    pub uid: u32,
    /// CPU time used.
    pub cpu_time: Duration,
    /// Command line.
    pub command: String,
}

/// One sample of `pier stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSample {
    /// Container name.
    pub name: String,
    /// Short ID.
    pub id: String,
    /// CPU use over the sampling interval, in percent of one CPU.
    pub cpu_percent: f64,
    /// Memory in use (bytes).
    pub memory_usage: u64,
    /// Memory limit (bytes; the machine's memory when unlimited).
    pub memory_limit: u64,
    /// Number of processes.
    pub pids: u64,
    /// Process limit, if any.
    pub pids_limit: Option<u64>,
    /// CFS periods in which the container was throttled during the interval.
    pub throttled_periods: u64,
}

impl Engine {
    /// The JSON `pier inspect` prints: Docker's fields (`Id`, `State`, `Config`, ...), then
    /// pier's record and the OCI config under their own names.
    pub fn inspect(&self, key: &str) -> Result<serde_json::Value> {
        let (paths, rec) = self.find(key)?;
        let mut v = serde_json::to_value(&rec).context("serializing the container record")?;
        let config: serde_json::Value =
            pier_oci::persist::read_json(&paths.bundle().join("config.json"))
                .unwrap_or(serde_json::Value::Null);
        let docker = super::inspect_docker::docker_fields(&rec, &paths, &config);
        if let (Some(obj), Value::Object(fields)) = (v.as_object_mut(), docker) {
            obj.extend(fields);
            obj.insert("oci_config".into(), config);
            obj.insert("upper_dir".into(), paths.upper().to_string_lossy().into());
            obj.insert("merged_dir".into(), paths.rootfs().to_string_lossy().into());
            obj.insert("log_path".into(), paths.log().to_string_lossy().into());
            obj.insert("Mounts".into(), self.mounts_json(&rec)?);
            obj.insert("State".into(), docker_state(&rec));
            obj.insert("RestartCount".into(), rec.restart_count.into());
            obj.insert(
                "RestartPolicy".into(),
                serde_json::json!({
                    "Name": rec.config.restart.name(),
                    "MaximumRetryCount": rec.config.restart.max_retries(),
                }),
            );
        }
        Ok(v)
    }

    /// The processes in the container's cgroup.
    pub fn top(&self, key: &str) -> Result<Vec<TopProcess>> {
        let (_, rec) = self.find(key)?;
        let cg = running_cgroup(&rec)?;
        let tick = procfs::ticks_per_second() as f64;
        let mut out = Vec::new();
        for pid in cg.pids()? {
            let Ok(p) = procfs::process::Process::new(pid) else {
                continue;
            };
            let Ok(stat) = p.stat() else { continue };
            let uid = p.uid().unwrap_or(0);
            let cmd = p
                .cmdline()
                .ok()
                .filter(|c| !c.is_empty())
                .map(|c| c.join(" "))
                .unwrap_or_else(|| format!("[{}]", stat.comm));
            out.push(TopProcess {
                pid,
                ppid: stat.ppid,
                uid,
                cpu_time: Duration::from_secs_f64((stat.utime + stat.stime) as f64 / tick),
                command: cmd,
            });
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    /// Samples CPU, memory and PIDs of running containers over `interval`.
    pub fn stats(&self, keys: &[String], interval: Duration) -> Result<Vec<StatsSample>> {
        let recs: Vec<ContainerRecord> = if keys.is_empty() {
            self.containers()?
                .into_iter()
                .filter(|r| r.status == ContainerStatus::Running)
                .collect()
        } else {
            keys.iter()
                .map(|k| self.find(k).map(|(_, r)| r))
                .collect::<Result<_>>()?
        };
        let mem_total = procfs::Meminfo::current().map(|m| m.mem_total).unwrap_or(0);
        let first: Vec<_> = recs
            .iter()
            .map(|r| running_cgroup(r).and_then(|c| c.stats()).ok())
            .collect();
        let start = Instant::now();
        std::thread::sleep(interval);
        let elapsed = start.elapsed().as_nanos() as f64;
        let mut out = Vec::new();
        for (rec, before) in recs.iter().zip(first) {
            let Some(after) = running_cgroup(rec).and_then(|c| c.stats()).ok() else {
                continue;
            };
            let before = before.unwrap_or_default();
            out.push(StatsSample {
                name: rec.name.clone(),
                id: rec.short_id().to_string(),
                cpu_percent: after.cpu_usage_ns.saturating_sub(before.cpu_usage_ns) as f64
                    / elapsed
                    * 100.0,
                memory_usage: after.memory_usage,
                memory_limit: after
                    .memory_limit
                    .filter(|l| *l < mem_total)
                    .unwrap_or(mem_total),
                pids: after.pids_current,
                pids_limit: after.pids_limit,
                throttled_periods: after
                    .cpu_throttled_periods
                    .saturating_sub(before.cpu_throttled_periods),
            });
        }
        Ok(out)
    }
}

/// Docker's `State` object (what `docker inspect` scripts read: `.State.Health.Status`).
fn docker_state(rec: &ContainerRecord) -> serde_json::Value {
    let running = rec.status == ContainerStatus::Running;
    let status = if rec.restarting {
        "restarting"
    } else if rec.paused {
        "paused"
    } else {
        rec.status.as_str()
    };
    let mut state = serde_json::json!({
        "Status": status,
        "Running": running,
        "Paused": rec.paused,
        "Restarting": rec.restarting,
        "OOMKilled": rec.oom_killed,
        "Pid": rec.init.filter(|_| running).map(|p| p.pid).unwrap_or(0),
        "ExitCode": rec.exit_code.unwrap_or(0),
        "Error": rec.error.clone().unwrap_or_default(),
        "StartedAt": rec.started_at.clone().unwrap_or_default(),
        "FinishedAt": rec.finished_at.clone().unwrap_or_default(),
    });
    if let Some(h) = &rec.health {
        state["Health"] = serde_json::to_value(h).unwrap_or_default();
    }
    state
}

fn running_cgroup(rec: &ContainerRecord) -> Result<&pier_oci::cgroups::Cgroup> {
    match (&rec.cgroup, rec.status) {
        (Some(cg), ContainerStatus::Running) => Ok(cg),
        _ => bail!("container {} is not running", rec.name),
    }
}
