//! Crash safety of the start-up path without its fsyncs: pier killed with SIGKILL at the
//! start of each phase of `pier run` (`PIER_TRACE_KILL_AT`) leaves a state that the next
//! command repairs (`pier ps` shows the container not running, `pier rm -f` or
//! `pier system prune -f` removes it) and nothing leaks: no mount, cgroup, veth, firewall
//! rule or process. A power cut is not tested (the kernel's page cache survives a process's
//! death, and a machine's reboot empties /run and the cgroups anyway).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};
use std::os::unix::process::ExitStatusExt;

/// The phases of `pier run` that run in pier's own process, in order.
const PHASES: &[&str] = &[
    "container create: record",
    "container create: rootfs, spec",
    "rootfs (overlay mount)",
    "network attach",
    "config",
    "create",
    "cgroup create",
    "clone",
    "state save",
    "init setup (after placement, until ready)",
    "start (until execve)",
    "command runs",
    "finish (tear-down, record)",
    "tear-down: cgroup",
    "tear-down: network",
    "tear-down: rootfs",
];

/// Runs `pier run` on the default bridge with a published port, killed at `phase`; returns
/// the container's ID (`None` if pier died before it had one).
fn run_killed_at(p: &Pier, name: &str, phase: &str, port: u16, rm: bool) -> Option<String> {
    let publish = format!("{port}:80");
    let mut args = vec!["run", "--name", name, "-p", &publish];
    if rm {
        args.push("--rm");
    }
    args.extend(["busybox", "sleep", "0.2"]);
    let before = container_dirs(p);
    let out = common::run_with_timeout(
        p.command(&args)
            .env("PIER_TRACE", "1")
            .env(pier_oci::trace::KILL_AT_VARIABLE, phase),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier run");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "pier run was to be killed at {phase:?} (a phase never reached runs to the end): {:?}, {}",
        out.status,
        text(&out.stderr)
    );
    // Read from the state directory, not through a pier command: the next command repairs.
    let after = container_dirs(p);
    after.into_iter().find(|id| !before.contains(id))
}

/// The IDs of the containers whose directories are in `p`'s root.
fn container_dirs(p: &Pier) -> Vec<String> {
    match std::fs::read_dir(p.root().join("containers")) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Asserts that nothing of container `id` (published on `port`) is left on the host.
fn assert_nothing_left(p: &Pier, id: &str, port: u16, phase: &str) {
    common::assert_no_mounts_under(p.root());
    common::assert_no_cgroup(id);
    common::assert_no_process(id);
    let veths = common::links_named(&id[..8]);
    assert!(
        veths.is_empty(),
        "killed at {phase:?}: veths left {veths:?}"
    );
    let rules = common::nft_rules_mentioning(&format!("pier:ctr:{id}"));
    assert_eq!(rules, 0, "killed at {phase:?}: firewall rules of {id} left");
    let port_rules = common::nft_rules_mentioning(&format!("dport {port} "));
    assert_eq!(
        port_rules, 0,
        "killed at {phase:?}: DNAT of port {port} left"
    );
}

#[test]
fn pier_killed_at_each_phase_of_run_leaves_what_the_next_command_repairs() {
    let found = pier_testkit::prereq::tool("nft");
    let Some(_) = pier_testkit::prereq::require("nft (to read the firewall rules)", found) else {
        return;
    };
    let p = Pier::new();
    for (i, phase) in PHASES.iter().enumerate() {
        eprintln!("killing pier run at {phase:?}");
        let name = format!("crash{i}");
        let port = common::free_port();
        let Some(id) = run_killed_at(&p, &name, phase, port, false) else {
            assert_eq!(
                i, 0,
                "killed at {phase:?}: no container, but it had a record"
            );
            continue;
        };
        // The monitor is dead: ps says so (the init died with it) instead of "running".
        let status = p.status(&name);
        assert_ne!(status, "running", "killed at {phase:?}: ps says running");
        let out = p.run(&["rm", "-f", &name]);
        assert!(
            out.status.success(),
            "killed at {phase:?}: pier rm -f: {}",
            text(&out.stderr)
        );
        p.assert_container_gone(&id);
        assert_nothing_left(&p, &id, port, phase);
    }
}

#[test]
fn pier_run_rm_killed_mid_start_is_cleaned_by_system_prune() {
    let found = pier_testkit::prereq::tool("nft");
    let Some(_) = pier_testkit::prereq::require("nft (to read the firewall rules)", found) else {
        return;
    };
    let p = Pier::new();
    for phase in ["network attach", "state save", "command runs"] {
        eprintln!("killing pier run --rm at {phase:?}");
        let port = common::free_port();
        let id = run_killed_at(&p, "crashrm", phase, port, true).expect("a container");
        let out = p.run(&["system", "prune", "-f"]);
        assert!(
            out.status.success(),
            "killed at {phase:?}: system prune: {}",
            text(&out.stderr)
        );
        assert_eq!(
            p.ok(&["ps", "-a", "-q"]),
            "",
            "killed at {phase:?}: prune removed the container"
        );
        p.assert_container_gone(&id);
        assert_nothing_left(&p, &id, port, phase);
    }
}
