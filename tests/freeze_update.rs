//! `pier pause`/`unpause` (the cgroup freezer) and `pier update` (new limits in a running
//! container's cgroup), checked by their effect on the container's processes.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_one_line_error, cgroup_dir, read_cgroup_number, scaled, wait_for, Pier};
use std::time::Duration;

fn counter(file: &std::path::Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn events(p: &Pier, id: &str) -> Vec<String> {
    p.events_of(id)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn pause_freezes_the_container_and_unpause_resumes_it() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--name", "ticker", "--network", "none"],
        "i=0; while true; do i=$((i+1)); echo $i > /data/n; sleep 0.05; done",
    );
    let file = dir.path().join("n");
    wait_for(Duration::from_secs(5), || counter(&file) > 2, "the counter");
    p.ok(&["pause", "ticker"]);
    let ps = p.ok(&["ps"]);
    assert!(ps.contains("(Paused)"), "{ps}");
    // Docker's state word, for `--filter status=paused` and `{{.State}}`.
    assert_eq!(
        p.ok(&["ps", "-q", "--no-trunc", "--filter", "status=paused"]),
        id
    );
    assert_eq!(p.ok(&["ps", "--format", "{{.State}}"]), "paused");
    std::thread::sleep(Duration::from_millis(200));
    let frozen = counter(&file);
    std::thread::sleep(scaled(Duration::from_secs(1)));
    assert_eq!(counter(&file), frozen, "the counter moved while paused");
    // Docker's answers on a paused container.
    assert_one_line_error(&p.run(&["exec", "ticker", "true"]), 125, &["paused"]);
    assert_one_line_error(&p.run(&["pause", "ticker"]), 1, &["already paused"]);
    p.ok(&["unpause", "ticker"]);
    wait_for(
        Duration::from_secs(5),
        || counter(&file) > frozen + 2,
        "the counter to move again",
    );
    assert!(!p.ok(&["ps"]).contains("Paused"));
    assert_one_line_error(&p.run(&["unpause", "ticker"]), 1, &["not paused"]);
    // A paused container still stops (thawed after the signal, as Docker does).
    p.ok(&["pause", "ticker"]);
    p.ok(&["stop", "-t", "1", "ticker"]);
    assert_eq!(p.status("ticker"), "exited");
    common::assert_no_process(&id);
    let ev = events(&p, &id);
    for want in ["pause", "unpause", "die"] {
        assert!(ev.iter().any(|e| e == want), "{want} in {ev:?}");
    }
    p.ok(&["rm", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn update_changes_the_limits_of_a_running_container() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "--memory",
        "256m",
        "busybox",
        "sleep",
        "300",
    ]);
    let info = p.inspect(&id);
    let mem = cgroup_dir(&info, "memory");
    let v2 = common::is_v2(&info);
    let limit_file = if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read_cgroup_number(&mem.join(limit_file)), Some(256 << 20));
    // ~50 MB fits under 256 MiB. One process holds it all (dd's buffer): with a pipeline, a
    // writer still filling the pipe after the OOM killer took the holder can start a second
    // kill before the first victim's memory is uncharged, and that one takes the container's
    // init (seen in CI: `head` invoked the OOM killer 3 ms after `sh` was killed, and `sleep`
    // died).
    let hog = "dd if=/dev/zero of=/dev/null bs=50M count=1 2>/dev/null && echo kept";
    let out = p.run(&["exec", &id, "sh", "-c", hog]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    p.ok(&["update", "--memory", "32m", "--pids-limit", "20", &id]);
    assert_eq!(read_cgroup_number(&mem.join(limit_file)), Some(32 << 20));
    let pids = cgroup_dir(&info, "pids").join("pids.max");
    assert_eq!(read_cgroup_number(&pids), Some(20));
    // The same allocation is now beyond the limit: the OOM killer ends it.
    let out = p.run(&["exec", &id, "sh", "-c", hog]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        common::text(&out.stdout)
    );
    assert!(!common::text(&out.stdout).contains("kept"));
    assert_eq!(p.status(&id), "running", "the container itself lives on");
    let info = p.inspect(&id);
    assert_eq!(info["config"]["limits"]["memory"], 32 << 20);
    assert!(events(&p, &id).iter().any(|e| e == "update"));
    // Bad input changes nothing.
    assert_one_line_error(
        &p.run(&["update", "--memory", "12q", &id]),
        125,
        &["--memory"],
    );
    assert_one_line_error(
        &p.run(&["update", &id]),
        125,
        &["needs at least one option"],
    );
    assert_eq!(read_cgroup_number(&mem.join(limit_file)), Some(32 << 20));
    p.ok(&["rm", "-f", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn update_restart_policy_applies_to_the_running_container() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--network", "none"],
        "echo run >> /data/runs; exec sleep 300",
    );
    let file = dir.path().join("runs");
    p.ok(&["update", "--restart", "on-failure:1", &id]);
    let init = p.inspect(&id)["init"]["pid"].as_i64().expect("init pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill init");
    wait_for(
        Duration::from_secs(10),
        || common::line_count(&file) == 2 && p.status(&id) == "running",
        "the restart the updated policy asks for",
    );
    p.ok(&["rm", "-f", &id]);
    p.assert_container_gone(&id);
}
