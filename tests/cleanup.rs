//! Nothing leaks: no mount, cgroup or process survives a container after `rm`, a failed
//! start, or pier itself (or its detached watcher) being killed with SIGKILL.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_no_mounts_under, container_cgroup_ids, is_alive, text, wait_for, Pier};
use std::process::Stdio;
use std::time::Duration;

/// The container's (init, watcher) host PIDs from `inspect`.
fn pids(p: &Pier, id: &str) -> (i32, i32) {
    let info = p.inspect(id);
    let get = |k: &str| {
        info[k]["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no {k} pid: {info}")) as i32
    };
    (get("init"), get("monitor"))
}

#[test]
fn rm_leaves_nothing() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        "--tmpfs",
        "/t",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000",
    ]);
    let (init, _) = pids(&p, &id);
    assert!(
        !common::cgroup_dirs_of(&id).is_empty(),
        "a running container has cgroups"
    );
    assert!(
        !common::mounts_under(p.root()).is_empty(),
        "a running container has its rootfs mounted"
    );
    p.ok(&["stop", "-t", "0", &id]);
    // Once stopped, the runtime resources are gone; the record and writable layer stay.
    p.assert_container_gone(&id);
    assert!(!is_alive(init));
    assert!(p.root().join("containers").join(&id).exists());
    p.ok(&["rm", &id]);
    assert!(!p.root().join("containers").join(&id).exists());
    p.assert_container_gone(&id);
}

#[test]
fn failed_start_leaves_nothing() {
    let p = Pier::new();
    let before = container_cgroup_ids();
    let out = p.run(&["run", "--memory", "64m", "busybox", "nosuchcmd"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(
        p.all_ids(),
        Vec::<String>::new(),
        "the container that never ran was kept"
    );
    assert_no_mounts_under(p.root());
    common::assert_no_orphan_cgroups_since(&before);
}

#[test]
fn failed_start_of_a_created_container_leaves_nothing_running() {
    let p = Pier::new();
    let id = p.ok(&["create", "--name", "bad", "busybox", "nosuchcmd"]);
    let out = p.run(&["start", "bad"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("nosuchcmd"));
    let info = p.inspect("bad");
    assert_ne!(info["status"], "running");
    assert!(
        info["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchcmd"),
        "inspect should keep the error: {info}"
    );
    p.assert_container_gone(&id);
    let out = p.run(&["start", "-a", "bad"]);
    assert_eq!(out.status.code(), Some(127));
    p.assert_container_gone(&id);
}

#[test]
fn pier_killed_mid_run_leaves_nothing() {
    let p = Pier::new();
    let mut child = p
        .command(&["run", "--name", "victim", "busybox", "sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pier run");
    wait_for(
        Duration::from_secs(10),
        || p.run(&["inspect", "victim"]).status.success() && p.status("victim") == "running",
        "the container to run",
    );
    let id = p.inspect("victim")["id"].as_str().expect("id").to_string();
    let (init, watcher) = pids(&p, &id);
    assert_eq!(
        watcher,
        child.id() as i32,
        "the foreground pier is the watcher"
    );
    child.kill().expect("SIGKILL pier");
    child.wait().expect("reap pier");
    // The container's init dies with pier (PDEATHSIG): nobody would watch it otherwise.
    wait_for(
        Duration::from_secs(5),
        || !is_alive(init),
        "the container's init to die with pier",
    );
    // The next pier command notices and cleans up.
    let ps = p.ok(&["ps", "-a"]);
    let line = ps
        .lines()
        .find(|l| l.contains("victim"))
        .unwrap_or_else(|| panic!("ps -a: {ps}"));
    assert!(line.contains("Exited (137)"), "ps -a: {line}");
    p.assert_container_gone(&id);
    let out = p.ok(&["system", "prune"]);
    assert!(
        out.contains(&id),
        "prune should remove the dead container (Docker lists its ID): {out}"
    );
    assert_eq!(p.all_ids(), Vec::<String>::new());
    assert!(!p.root().join("containers").join(&id).exists());
    p.assert_container_gone(&id);
}

#[test]
fn pier_killed_with_rm_container_leaves_nothing() {
    let p = Pier::new();
    let mut child = p
        .command(&[
            "run", "--rm", "--name", "victim", "busybox", "sleep", "1000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pier run");
    wait_for(
        Duration::from_secs(10),
        || p.run(&["inspect", "victim"]).status.success() && p.status("victim") == "running",
        "the container to run",
    );
    let id = p.inspect("victim")["id"].as_str().expect("id").to_string();
    let (init, _) = pids(&p, &id);
    child.kill().expect("SIGKILL pier");
    child.wait().expect("reap pier");
    wait_for(
        Duration::from_secs(5),
        || !is_alive(init),
        "the container's init to die with pier",
    );
    // Any command reconciles; a --rm container is then removed altogether.
    p.ok(&["ps", "-a"]);
    assert_eq!(p.all_ids(), Vec::<String>::new());
    p.assert_container_gone(&id);
}

#[test]
fn detached_watcher_killed_leaves_nothing() {
    let p = Pier::new();
    let id = p.run_detached(&["--name", "orphan", "busybox", "sleep", "1000"]);
    let (init, watcher) = pids(&p, &id);
    assert_ne!(watcher, init);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watcher),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the watcher");
    wait_for(
        Duration::from_secs(5),
        || !is_alive(init),
        "the container's init to die with its watcher",
    );
    let ps = p.ok(&["ps", "-a"]);
    let line = ps
        .lines()
        .find(|l| l.contains("orphan"))
        .unwrap_or_else(|| panic!("ps -a: {ps}"));
    assert!(line.contains("Exited (137)"), "ps -a: {line}");
    let info = p.inspect(&id);
    assert!(
        info["error"]
            .as_str()
            .unwrap_or_default()
            .contains("watcher"),
        "inspect should say what happened: {info}"
    );
    p.assert_container_gone(&id);
    p.ok(&["system", "prune"]);
    assert_eq!(p.all_ids(), Vec::<String>::new());
    p.assert_container_gone(&id);
}

#[test]
fn prune_removes_stopped_containers_only() {
    let p = Pier::new();
    p.ok(&["run", "--name", "stopped", "busybox", "true"]);
    let fresh = p.ok(&["create", "--name", "fresh", "busybox", "true"]);
    let stopped = p.inspect("stopped")["Id"].as_str().expect("Id").to_string();
    let running = p.run_detached(&["--name", "alive", "busybox", "sleep", "1000"]);
    let out = p.ok(&["system", "prune"]);
    assert!(
        out.contains(&stopped) && out.contains(&fresh),
        "prune: {out}"
    );
    assert_eq!(p.all_ids(), std::slice::from_ref(&running));
    assert_eq!(p.status("alive"), "running");
}

#[test]
fn prune_does_not_touch_other_roots() {
    // Two state directories share the `pier/` cgroup parent: pruning one must not remove (or
    // kill) the other's running containers.
    let a = Pier::new();
    let b = Pier::empty();
    let id = a.run_detached(&["busybox", "sleep", "1000"]);
    let (init, _) = pids(&a, &id);
    b.ok(&["system", "prune"]);
    assert!(is_alive(init), "pruning another root killed the container");
    assert!(
        !common::cgroup_dirs_of(&id).is_empty(),
        "pruning another root removed the container's cgroup"
    );
    assert_eq!(a.status(&id), "running");
}

#[test]
fn many_containers_come_and_go() {
    let p = Pier::new();
    let ids: Vec<String> = (0..5)
        .map(|i| p.run_detached(&["busybox", "sh", "-c", &format!("sleep {}", 20 + i)]))
        .collect();
    assert_eq!(p.ok(&["ps", "-q"]).lines().count(), 5);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    p.ok(&args);
    for id in &ids {
        p.assert_container_gone(id);
    }
    assert_eq!(p.all_ids(), Vec::<String>::new());
}
