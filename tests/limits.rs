//! Resource limits enforced by the kernel: memory (OOM kill), PIDs. The CPU quota has its own
//! file (`cpu_quota.rs`) so that these tests do not compete with it for the CPU.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cgroup_dir, read_cgroup_number, text, Pier};
use std::time::Duration;

#[test]
fn memory_limit_oom_kills_with_137() {
    let p = Pier::new();
    // Holds ~100 MB in a shell variable: far past 32 MiB.
    let hog = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}";
    let out = p.run(&[
        "run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c", hog,
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "stdout: {} stderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("survived"),
        "the allocation should not have succeeded"
    );
    assert!(
        text(&out.stderr).contains("out of memory"),
        "pier should say why: {}",
        text(&out.stderr)
    );
    let info = p.inspect("hog");
    assert_eq!(info["oom_killed"], true, "inspect: {info}");
    assert_eq!(info["exit_code"], 137);
    assert_eq!(info["status"], "exited");
    let ps = p.ok(&["ps", "-a"]);
    let line = ps
        .lines()
        .find(|l| l.contains("hog"))
        .unwrap_or_else(|| panic!("ps -a lacks the container: {ps}"));
    assert!(
        line.contains("Exited (137)") && line.contains("OOMKilled"),
        "ps -a: {line}"
    );
    let id = info["id"].as_str().expect("id").to_string();
    p.ok(&["rm", "hog"]);
    p.assert_container_gone(&id);
}

#[test]
fn memory_limit_is_set_in_the_cgroup_and_small_use_fits() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 4000000 /dev/zero | tr '\\0' a); sleep 1000",
    ]);
    let info = p.inspect(&id);
    let dir = cgroup_dir(&info, "memory");
    let limit_file = if common::is_v2(&info) {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(
        read_cgroup_number(&dir.join(limit_file)),
        Some(32 * 1024 * 1024)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        p.status(&id),
        "running",
        "4 MB under a 32 MiB limit must not be killed"
    );
}

#[test]
fn pids_limit_makes_the_eleventh_fork_fail() {
    let p = Pier::new();
    // sh (1 process) starts background sleeps until fork fails; busybox sh gives up on the
    // first failed fork ("can't fork") and exits 2. Everything here is a builtin but `sleep`.
    let script = "n=0; while [ $n -lt 15 ]; do sleep 5 & n=$((n+1)); echo $n; done";
    let out = p.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let started: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        started.last().map(String::as_str),
        Some("9"),
        "sh + 9 sleeps = 10 processes should start, the 11th fail; stdout: {started:?}, stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("can't fork"),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn pids_limit_caps_the_cgroup() {
    let p = Pier::new();
    // An inner shell forks until it fails; the outer one survives to let us look.
    let script = "sh -c 'n=0; while [ $n -lt 15 ]; do sleep 1000 & n=$((n+1)); done' 2>/dev/null; echo inner-done; sleep 1000";
    let id = p.run_detached(&["--pids-limit", "10", "busybox", "sh", "-c", script]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["logs", &id]).contains("inner-done"),
        "the inner shell to hit the limit",
    );
    let info = p.inspect(&id);
    let dir = cgroup_dir(&info, "pids");
    assert_eq!(read_cgroup_number(&dir.join("pids.max")), Some(10));
    let current = read_cgroup_number(&dir.join("pids.current")).expect("pids.current");
    assert!(current <= 10, "pids.current = {current}");
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).expect("cgroup.procs");
    assert!(procs.lines().count() <= 10, "cgroup.procs: {procs}");
    if dir.join("pids.peak").exists() {
        let peak = read_cgroup_number(&dir.join("pids.peak")).expect("pids.peak");
        assert_eq!(
            peak, 10,
            "the cgroup should have reached, and never passed, 10 processes"
        );
    }
    let events = std::fs::read_to_string(dir.join("pids.events")).expect("pids.events");
    let refused: u64 = events
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        refused >= 1,
        "the kernel should have refused a fork: pids.events = {events}"
    );
    let stats = p.ok(&["stats", "--no-stream", "--format", "json", &id]);
    let s: serde_json::Value = serde_json::from_str(&stats).expect("stats JSON");
    assert_eq!(s["pids_limit"], 10);
    assert!(s["pids"].as_u64().expect("pids") <= 10);
}

#[test]
fn stats_reports_memory_limit() {
    let p = Pier::new();
    let id = p.run_detached(&["--memory", "64m", "busybox", "sleep", "1000"]);
    let out = p.ok(&["stats", "--no-stream", "--format", "json"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let s = lines
        .iter()
        .find(|s| s["id"] == id[..12])
        .unwrap_or_else(|| panic!("stats lacks the container: {out}"));
    assert_eq!(s["memory_limit"], 64 * 1024 * 1024);
    assert!(s["memory_usage"].as_u64().expect("memory_usage") > 0);
    assert_eq!(s["pids"], 1);
    let table = p.ok(&["stats", "--no-stream"]);
    assert!(
        table.contains(&id[..12]) && table.contains("/ 64.00MiB"),
        "stats table: {table}"
    );
}
