//! `GET /containers/{id}/stats`: Docker's stats object, from the container's cgroup (CPU,
//! memory, PIDs), the host's `/proc/stat` (the system CPU time the client divides by) and the
//! container's network namespace (`/proc/<init>/net/dev`). `stream=true` (the default) sends
//! one object a second with the previous sample as `precpu_stats`; `stream=false` samples
//! twice a second apart and sends one; `one-shot=true` with it sends one sample at once.

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use hyper::StatusCode;
use pier_engine::container::config::NetworkMode;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_oci::cgroups::CgroupStats;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Time between two samples of a stream.
const INTERVAL: Duration = Duration::from_secs(1);

/// One reading of a running container.
#[derive(Debug, Clone, Default)]
struct Sample {
    read: String,
    cgroup: CgroupStats,
    system_ns: u64,
    networks: Option<Map<String, Value>>,
}

/// The host's CPU time, all CPUs, in nanoseconds (the first line of `/proc/stat`: user, nice,
/// system, idle, iowait, irq, softirq), as dockerd computes `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)
        .unwrap_or(100) as u64;
    ticks.saturating_mul(1_000_000_000 / hz)
}

fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The interfaces of the network namespace of `pid` but `lo`, in Docker's shape.
fn networks(pid: i32) -> Option<Map<String, Value>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let mut out = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let n: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if name == "lo" || n.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11],
            }),
        );
    }
    Some(out)
}

/// A reading of `rec`, or `None` when it does not run (its cgroup is gone).
fn sample(rec: &ContainerRecord) -> Option<Sample> {
    let cg = rec
        .cgroup
        .as_ref()
        .filter(|_| rec.status == ContainerStatus::Running)?;
    let cgroup = cg.stats().ok()?;
    // The host's network is not the container's to report (dockerd shows none either).
    let own_net = !matches!(
        rec.config.network,
        Some(NetworkMode::Host | NetworkMode::Container(_))
    );
    Some(Sample {
        read: pier_oci::time::now_rfc3339(),
        cgroup,
        system_ns: system_cpu_ns(),
        networks: rec.init.filter(|_| own_net).and_then(|p| networks(p.pid)),
    })
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn cpu_json(s: Option<&Sample>) -> Value {
    let Some(s) = s else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    };
    json!({
        "cpu_usage": {"total_usage": s.cgroup.cpu_usage_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "system_cpu_usage": s.system_ns,
        "online_cpus": online_cpus(),
        "throttling_data": {
            "periods": s.cgroup.cpu_nr_periods,
            "throttled_periods": s.cgroup.cpu_throttled_periods,
            "throttled_time": s.cgroup.cpu_throttled_ns,
        },
    })
}

/// Docker's stats object for `rec` from the sample `now` and the one before it.
fn stats_json(rec: &ContainerRecord, now: Option<&Sample>, pre: Option<&Sample>) -> Value {
    let mut v = json!({
        "name": format!("/{}", rec.name),
        "id": rec.id,
        "read": now.map_or(ZERO_TIME, |s| s.read.as_str()),
        "preread": pre.map_or(ZERO_TIME, |s| s.read.as_str()),
        "num_procs": 0,
        "pids_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null},
        "storage_stats": {},
        "cpu_stats": cpu_json(now),
        "precpu_stats": cpu_json(pre),
        "memory_stats": {},
    });
    if let Some(s) = now {
        let total = mem_total();
        let limit = s
            .cgroup
            .memory_limit
            .filter(|l| *l < total)
            .unwrap_or(total);
        v["pids_stats"] = json!({"current": s.cgroup.pids_current});
        if let Some(l) = s.cgroup.pids_limit {
            v["pids_stats"]["limit"] = l.into();
        }
        v["memory_stats"] = json!({"usage": s.cgroup.memory_usage, "limit": limit, "stats": {}});
        if let Some(m) = s.cgroup.memory_max_usage {
            v["memory_stats"]["max_usage"] = m.into();
        }
        if let Some(n) = &s.networks {
            v["networks"] = Value::Object(n.clone());
        }
    }
    v
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub async fn stats(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let stream = q.get("stream").is_none_or(|_| q.flag("stream"));
    let one_shot = q.flag("one-shot");
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "one-shot=true needs stream=false: a stream samples every second",
        ));
    }
    let s = state.clone();
    let rec = blocking(move || Ok(s.engine.find(&key)?.1)).await?;
    if !stream {
        let value = blocking(move || {
            let first = sample(&rec);
            if one_shot || first.is_none() {
                return Ok(stats_json(&rec, first.as_ref(), None));
            }
            std::thread::sleep(INTERVAL);
            Ok(stats_json(&rec, sample(&rec).as_ref(), first.as_ref()))
        })
        .await?;
        return Ok(http::json(StatusCode::OK, &value));
    }
    let (reply, tx) = http::streamed("application/json");
    let busy = state.busy();
    tokio::spawn(async move {
        let _busy = busy;
        let mut pre: Option<Sample> = None;
        while !tx.is_closed() {
            let s = state.clone();
            let id = rec.id.clone();
            // The record again each time: a restart changes the cgroup and init.
            let now = blocking(move || Ok(s.engine.find(&id).ok().map(|(_, r)| r)))
                .await
                .ok()
                .flatten()
                .and_then(|r| sample(&r));
            let Some(now) = now else {
                // A container that does not run gets one empty sample, as from dockerd,
                // which clients show as zeros rather than as an error.
                if pre.is_none() {
                    let _ = tx
                        .send(http::json_line(&stats_json(&rec, None, None)))
                        .await;
                }
                return;
            };
            if tx
                .send(http::json_line(&stats_json(&rec, Some(&now), pre.as_ref())))
                .await
                .is_err()
            {
                return;
            }
            pre = Some(now);
            tokio::time::sleep(INTERVAL).await;
        }
    });
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_cpu_time_grows_and_is_in_nanoseconds() {
        let a = system_cpu_ns();
        std::thread::sleep(Duration::from_millis(50));
        let b = system_cpu_ns();
        assert!(b >= a);
        // At least the machine's uptime (one CPU): far above what ticks alone would be.
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(b as f64 >= uptime * 0.5e9, "{b} vs uptime {uptime}");
        assert!(mem_total() > 0);
    }
}
