//! containerd (Debian 12's, 1.6) drives pier through its runc shim (`ctr run --runc-binary
//! .../pier-runc`), as Kubernetes does through containerd's CRI plugin: run, `-d`, exec,
//! `task ps`, pause/resume, kill, rm. The image is pier's busybox, imported with
//! `ctr images import` from a `pier save` archive.
//!
//! The test's containerd has its own root, state, socket and configuration (the CRI plugin
//! off); the shim's runtime state (`--runc-root`) and the IO FIFOs (`--fifo-dir`) are under
//! the test's directory too. containerd 1.6 still puts its shim sockets under
//! /run/containerd/s: the directories the test makes there are removed when empty.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::{
    assert_nothing_left, busybox_archive, client, client_ok, pier_runc_link, state_entries,
    CgroupParents, Daemon, ShimDirs,
};
use common::{is_alive, wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `ctr` against the test's containerd.
struct Ctr {
    socket: PathBuf,
}

impl Ctr {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket).args(args);
        c.env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE");
        c
    }

    /// The task's status as `ctr task ls` shows it (RUNNING, PAUSED, STOPPED).
    fn status(&self, id: &str) -> String {
        let out = client_ok(&mut self.cmd(&["task", "ls"]), T);
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }
}

/// Removes the test's tasks and containers on drop (a failed test must not leave a shim and
/// its container running).
struct Tasks<'a> {
    ctr: &'a Ctr,
    ids: Vec<String>,
}

impl Drop for Tasks<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = client(&mut self.ctr.cmd(&["task", "rm", "-f", id]), T);
            let _ = client(&mut self.ctr.cmd(&["container", "rm", id]), T);
        }
    }
}

fn start_containerd(dir: &Path) -> (Daemon, Ctr) {
    let socket = dir.join("containerd.sock");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{}\"\n",
            dir.join("root").display(),
            dir.join("state").display(),
            socket.display(),
            // Not containerd's default /opt/containerd, on the host.
            dir.join("opt").display()
        ),
    )
    .expect("config.toml");
    let mut cmd = Command::new("containerd");
    cmd.arg("--config").arg(&config);
    let log = dir.join("containerd.log");
    let mut daemon = Daemon::start("containerd", cmd, &log);
    let ctr = Ctr { socket };
    daemon.wait_ready(Duration::from_secs(30), &log, || {
        client(&mut ctr.cmd(&["version"]), T).2 == Some(0)
    });
    (daemon, ctr)
}

#[test]
fn containerd_runs_execs_pauses_kills_and_removes_tasks_with_pier() {
    let Some(_) = require("containerd", tool("containerd")) else {
        return;
    };
    let Some(_) = require("ctr (containerd)", tool("ctr")) else {
        return;
    };
    let Some(_) = require("containerd-shim-runc-v2", tool("containerd-shim-runc-v2")) else {
        return;
    };
    let _run_dirs = ShimDirs::note();
    let _cgroups = CgroupParents::note("default");
    let p = Pier::new();
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().canonicalize().expect("canonical");
    let runc = pier_runc_link(&dir);
    let archive = busybox_archive(&p, &dir);
    let state_root = dir.join("runc-state");
    // The shim adds the containerd namespace to the runtime's root.
    let state = state_root.join("default");
    let fifos = dir.join("fifo");
    std::fs::create_dir_all(&fifos).expect("fifo dir");
    let (daemon, ctr) = start_containerd(&dir);
    client_ok(
        &mut ctr.cmd(&["images", "import", archive.to_str().unwrap()]),
        T,
    );
    let runtime = [
        "--runc-binary",
        runc.to_str().unwrap(),
        "--runc-root",
        state_root.to_str().unwrap(),
        "--fifo-dir",
        fifos.to_str().unwrap(),
    ];

    // IDs no other test's container can contain.
    let c1 = format!("pierctr{}a", std::process::id());
    let c2 = format!("pierctr{}b", std::process::id());
    let tasks = Tasks {
        ctr: &ctr,
        ids: vec![c1.clone(), c2.clone()],
    };

    // Foreground.
    let mut args = vec!["run", "--rm"];
    args.extend(runtime);
    args.extend([
        "busybox:latest",
        &c1,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    let (out, err, code) = client(&mut ctr.cmd(&args), T);
    assert_eq!(code, Some(3), "exit code through ctr: {out} {err}");
    assert!(out.contains("out"), "stdout through ctr: {out:?} / {err:?}");
    assert!(err.contains("err"), "stderr through ctr: {err:?}");
    assert_nothing_left(&c1, &state, &dir, &[]);

    // Detached: exec, ps, pause/resume, kill, rm.
    let mut args = vec!["run", "-d"];
    args.extend(runtime);
    args.extend(["busybox:latest", &c2, "sleep", "1000"]);
    client_ok(&mut ctr.cmd(&args), T);
    assert_eq!(ctr.status(&c2), "RUNNING");
    assert!(state_entries(&state).contains(&c2));
    let ps = client_ok(&mut ctr.cmd(&["task", "ps", &c2]), T);
    let pid: i32 = ps
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a PID in ctr task ps: {ps}"));
    assert!(is_alive(pid), "the task's process runs");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert!(
        cgroup.contains(&format!("/default/{c2}")),
        "containerd's cgroup: {cgroup}"
    );
    let out = client_ok(
        &mut ctr.cmd(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &c2,
            "sh",
            "-c",
            "echo $((6*7))",
        ]),
        T,
    );
    assert_eq!(out.trim(), "42");
    let (_, _, code) = client(
        &mut ctr.cmd(&["task", "exec", "--exec-id", "e2", &c2, "sh", "-c", "exit 5"]),
        T,
    );
    assert_eq!(code, Some(5), "exec's exit code");
    client_ok(&mut ctr.cmd(&["task", "pause", &c2]), T);
    assert_eq!(ctr.status(&c2), "PAUSED");
    let frozen = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        frozen
            .lines()
            .any(|l| l.starts_with("State:") && !l.contains("S (sleeping)")),
        "a paused task is not merely sleeping: {frozen}"
    );
    client_ok(&mut ctr.cmd(&["task", "resume", &c2]), T);
    assert_eq!(ctr.status(&c2), "RUNNING");
    client_ok(&mut ctr.cmd(&["task", "kill", "-s", "KILL", &c2]), T);
    wait_for(T, || ctr.status(&c2) == "STOPPED", "the task stopped");
    assert!(!is_alive(pid), "the task's process is gone");
    client_ok(&mut ctr.cmd(&["task", "rm", &c2]), T);
    client_ok(&mut ctr.cmd(&["container", "rm", &c2]), T);
    assert_nothing_left(&c2, &state, &dir, &[]);
    drop(tasks);
    drop(daemon);
    common::assert_no_mounts_under(&dir);
}
