//! A container whose watcher was killed (SIGKILL: it cannot clean up) is repaired by the next
//! command that needs it, and only by those: a command about one container no longer reads
//! every other container's record (the cost that grew with the number of containers, see
//! the book's `bench/scale.md`), while listing commands still repair them all.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{is_alive, wait_for, Pier};
use std::time::Duration;

/// Kills the watcher of container `id` with SIGKILL and waits for its init to die with it.
fn kill_watcher(p: &Pier, id: &str) {
    let info = p.inspect(id);
    let pid = |k: &str| info[k]["pid"].as_i64().expect("pid") as i32;
    let (init, watcher) = (pid("init"), pid("monitor"));
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
}

/// The status stored in the record of `id`, read from the file (no pier command, which
/// would repair it).
fn stored_status(p: &Pier, id: &str) -> String {
    let path = p.root().join("containers").join(id).join("container.json");
    let text = std::fs::read_to_string(&path).expect("read the record");
    let rec: serde_json::Value = serde_json::from_str(&text).expect("record JSON");
    rec["status"].as_str().expect("status").to_string()
}

#[test]
fn a_crashed_container_is_repaired_by_the_command_that_names_it_and_by_ps() {
    let p = Pier::new();
    let a = p.run_detached(&["--name", "crash-a", "busybox", "sleep", "1000"]);
    let b = p.run_detached(&["--name", "crash-b", "busybox", "sleep", "1000"]);
    kill_watcher(&p, &a);
    kill_watcher(&p, &b);
    assert_eq!(stored_status(&p, &a), "running", "nothing repaired yet");

    // A command about crash-a repairs crash-a: stopped, recorded, and its cgroup gone.
    let info = p.inspect("crash-a");
    assert_eq!(p.status("crash-a"), "exited");
    assert!(
        info["error"]
            .as_str()
            .unwrap_or_default()
            .contains("watcher"),
        "inspect says what happened: {info}"
    );
    assert!(
        common::cgroup_dirs_of(&a).is_empty(),
        "crash-a's cgroup left"
    );
    // ... and leaves crash-b's record unread: this is what keeps a command's cost flat.
    assert_eq!(stored_status(&p, &b), "running", "crash-b touched");
    assert!(!common::cgroup_dirs_of(&b).is_empty());

    // A launch that names neither does not touch them either.
    let c = p.run_detached(&["--name", "crash-c", "busybox", "sleep", "1000"]);
    assert_eq!(stored_status(&p, &b), "running", "crash-b touched by run");

    // Listing repairs every container.
    let ps = p.ok(&["ps", "-a"]);
    let line = ps.lines().find(|l| l.contains("crash-b")).expect("crash-b");
    assert!(line.contains("Exited (137)"), "ps -a: {line}");
    assert!(
        common::cgroup_dirs_of(&b).is_empty(),
        "crash-b's cgroup left"
    );
    assert_eq!(p.status(&c), "running");

    p.ok(&["rm", "-f", "crash-a", "crash-b", "crash-c"]);
    for id in [&a, &b, &c] {
        p.assert_container_gone(id);
    }
}

#[test]
fn rm_f_of_a_crashed_container_leaves_nothing() {
    let p = Pier::new();
    let id = p.run_detached(&["--name", "crash-rm", "busybox", "sleep", "1000"]);
    let veth_prefix = format!("pier{}", &id[..8]);
    assert!(!common::links_named(&veth_prefix).is_empty(), "no veth");
    kill_watcher(&p, &id);
    p.ok(&["rm", "-f", "crash-rm"]);
    p.assert_container_gone(&id);
    assert!(common::cgroup_dirs_of(&id).is_empty(), "cgroup left");
    // The network tear-down may be deferred to the next command; `ps` settles it.
    p.ok(&["ps", "-a"]);
    assert_eq!(common::links_named(&veth_prefix), Vec::<String>::new());
}

#[test]
fn the_name_of_a_crashed_rm_container_is_free_for_the_next_run() {
    let p = Pier::new();
    let old = p.run_detached(&["--rm", "--name", "crash-name", "busybox", "sleep", "1000"]);
    kill_watcher(&p, &old);
    // The --rm container is repaired (removed) by the run that asks for its name.
    let new = p.run_detached(&["--name", "crash-name", "busybox", "sleep", "1000"]);
    assert_ne!(new, old);
    assert!(
        !p.root().join("containers").join(&old).exists(),
        "record left"
    );
    common::assert_no_cgroup(&old);
    common::assert_no_process(&old);
    assert_eq!(p.status("crash-name"), "running");
    p.ok(&["rm", "-f", "crash-name"]);
    p.assert_container_gone(&new);
}

#[test]
fn the_port_of_a_crashed_container_is_free_for_the_next_run_that_publishes_it() {
    let p = Pier::new();
    let port = common::free_port().to_string();
    let publish = format!("{port}:80");
    let old = p.run_detached(&["-p", &publish, "busybox", "sleep", "1000"]);
    kill_watcher(&p, &old);
    // Any container may hold the port: a run that publishes repairs them all.
    let new = p.run_detached(&["-p", &publish, "busybox", "sleep", "1000"]);
    assert_eq!(p.status(&old), "exited");
    assert_eq!(p.status(&new), "running");
    let ports = p.ok(&["port", &new]);
    assert!(ports.contains(&port), "pier port: {ports}");
    p.ok(&["rm", "-f", &old, &new]);
    p.assert_container_gone(&old);
    p.assert_container_gone(&new);
}
