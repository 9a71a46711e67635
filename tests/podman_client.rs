//! Podman (Debian 12's, 4.3) drives pier as its OCI runtime (`podman --runtime`): run,
//! exec, logs, stop, rm, detached and with a terminal (the console socket). Podman keeps its
//! storage in a temporary root (`--root`, `--runroot`, `--tmpdir`), so the user's is
//! untouched; its image is pier's busybox, `pier save`d and `podman load`ed.
//!
//! Podman passes no `--root` to the runtime (and its clean-up process drops
//! `--runtime-flag`), so pier is given through a two-line wrapper that names the state
//! directory; Docker's and containerd's tests call pier through the `pier-runc` name itself.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::{
    assert_nothing_left, busybox_archive, client, client_ok, run_in_terminal, state_entries,
    CgroupParents,
};
use common::{is_alive, Pier, PIER};
use pier_testkit::prereq::{require, tool};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Podman with its storage, run-time state and temporary files under `dir`, pier as runtime.
struct Podman {
    binary: PathBuf,
    dir: PathBuf,
    runtime: PathBuf,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args);
        c
    }

    /// Mounts podman keeps while it has storage (not a container's).
    fn own_mounts(&self) -> Vec<PathBuf> {
        vec![self.dir.join("storage/overlay")]
    }

    /// `podman run` options every container here gets: no network (nothing touches the
    /// host's firewall), and rlimits within root's own hard limits (podman's default
    /// raises RLIMIT_NOFILE to 1048576, which needs CAP_SYS_RESOURCE that CI's root lacks).
    fn run_opts() -> [&'static str; 6] {
        [
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = client(&mut self.cmd(&["rm", "-a", "-f", "-t", "0"]), T);
        // Podman's overlay driver bind-mounts its overlay directory onto itself.
        let _ = nix::mount::umount2(
            &self.dir.join("storage/overlay"),
            nix::mount::MntFlags::MNT_DETACH,
        );
    }
}

/// The wrapper podman runs: pier's runtime with its state in `state`.
fn wrapper(dir: &Path, pier_root: &Path, state: &Path) -> PathBuf {
    let path = dir.join("pier-runtime");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec {PIER} --root {} runtime --root {} \"$@\"\n",
            pier_root.display(),
            state.display()
        ),
    )
    .expect("writing the wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn inspect_pid(podman: &Podman, name: &str) -> i32 {
    client_ok(
        &mut podman.cmd(&["inspect", "-f", "{{.State.Pid}}", name]),
        T,
    )
    .trim()
    .parse()
    .expect("a PID from podman inspect")
}

#[test]
fn podman_runs_execs_stops_and_removes_containers_with_pier() {
    let Some(binary) = require("podman", tool("podman")) else {
        return;
    };
    let _cgroups = CgroupParents::note("libpod_parent");
    let p = Pier::new();
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().canonicalize().expect("canonical");
    let state = dir.join("state");
    let archive = busybox_archive(&p, &dir);
    let podman = Podman {
        binary,
        runtime: wrapper(&dir, p.root(), &state),
        dir: dir.clone(),
    };
    client_ok(
        &mut podman.cmd(&["load", "-i", archive.to_str().unwrap()]),
        T,
    );

    // Foreground: the container's stdout and stderr reach podman, its exit code is podman's.
    let mut args = vec!["run", "--rm"];
    args.extend(Podman::run_opts());
    args.extend([
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; ulimit -n; exit 3",
    ]);
    let (out, err, code) = client(&mut podman.cmd(&args), T);
    assert_eq!(code, Some(3), "exit code through podman: {out} {err}");
    assert!(
        out.contains("out"),
        "stdout through podman: {out:?} / {err:?}"
    );
    assert!(err.contains("err"), "stderr through podman: {err:?}");
    assert!(
        out.contains("1024"),
        "the rlimit reached the process: {out:?}"
    );

    // --read-only and --tmpfs: podman asks for `tmpcopyup`, which pier implements (the
    // tmpfs starts with the image's files) instead of passing it to the kernel (EINVAL).
    let mut args = vec!["run", "--rm", "--read-only", "--tmpfs", "/etc"];
    args.extend(Podman::run_opts());
    args.extend([
        "busybox",
        "sh",
        "-c",
        "grep -c ^root: /etc/passwd && echo x > /etc/new && echo x > /tmp/t && echo tmp-ok; \
         touch /planted",
    ]);
    let (out, err, code) = client(&mut podman.cmd(&args), T);
    assert_ne!(code, Some(0), "wrote the read-only root: {out} {err}");
    assert!(
        out.starts_with("1\n") && out.contains("tmp-ok"),
        "{out:?} / {err:?}"
    );
    assert!(err.contains("Read-only file system"), "{err:?}");

    // /sys/fs/cgroup is the container's own cgroup (Podman on v1 gives no cgroup namespace):
    // its memory and pids limits read as set.
    let v2 = pier_oci::cgroups::detect_version().expect("cgroup version") == 2;
    let script = if v2 {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    };
    let mut args = vec!["run", "--rm", "--memory", "64m", "--pids-limit", "77"];
    args.extend(Podman::run_opts());
    args.extend(["busybox", "sh", "-c", script]);
    let out = client_ok(&mut podman.cmd(&args), T);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "77"],
        "the container's own limits at /sys/fs/cgroup: {out}"
    );

    // Detached, then exec, logs, stop, rm.
    let mut args = vec!["run", "-d", "--name", "p1"];
    args.extend(Podman::run_opts());
    args.extend(["busybox", "sh", "-c", "echo started; exec sleep 1000"]);
    let id = client_ok(&mut podman.cmd(&args), T).trim().to_string();
    assert!(
        state_entries(&state).contains(&id),
        "pier holds the container: {:?}",
        state_entries(&state)
    );
    let pid = inspect_pid(&podman, "p1");
    assert!(is_alive(pid), "the container's process {pid} runs");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert!(
        cgroup.contains(&id),
        "the process is in the cgroup podman named (libpod-<id>): {cgroup}"
    );
    let out = client_ok(
        &mut podman.cmd(&["exec", "p1", "sh", "-c", "echo $((6*7))"]),
        T,
    );
    assert_eq!(out.trim(), "42");
    let (_, _, code) = client(&mut podman.cmd(&["exec", "p1", "sh", "-c", "exit 5"]), T);
    assert_eq!(code, Some(5), "exec's exit code");
    let logs = client_ok(&mut podman.cmd(&["logs", "p1"]), T);
    assert!(logs.contains("started"), "podman logs: {logs:?}");
    client_ok(&mut podman.cmd(&["stop", "-t", "1", "p1"]), T);
    assert!(!is_alive(pid), "the process is gone after podman stop");
    client_ok(&mut podman.cmd(&["rm", "p1"]), T);
    assert_nothing_left(&id, &state, &dir, &podman.own_mounts());

    // A terminal: podman hands pier a console socket and reads the terminal pier sends.
    let mut args = vec!["run", "--rm", "-it"];
    args.extend(Podman::run_opts());
    args.extend([
        "busybox",
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo on-a-tty; exit 4",
    ]);
    let (out, status) = run_in_terminal(&mut podman.cmd(&args), T);
    assert_eq!(status.code(), Some(4), "exit code with -it: {out}");
    assert!(
        out.contains("on-a-tty"),
        "the process has a terminal: {out:?}"
    );

    // exec -it into a detached container.
    let mut args = vec!["run", "-d", "--name", "p2"];
    args.extend(Podman::run_opts());
    args.extend(["busybox", "sleep", "1000"]);
    let id2 = client_ok(&mut podman.cmd(&args), T).trim().to_string();
    let (out, status) = run_in_terminal(
        &mut podman.cmd(&[
            "exec",
            "-it",
            "p2",
            "sh",
            "-c",
            "[ -t 0 ] && echo exec-on-a-tty; exit 6",
        ]),
        T,
    );
    assert_eq!(status.code(), Some(6), "exec -it exit code: {out}");
    assert!(out.contains("exec-on-a-tty"), "exec -it output: {out:?}");
    client_ok(&mut podman.cmd(&["rm", "-f", "-t", "0", "p2"]), T);
    assert_nothing_left(&id2, &state, &dir, &podman.own_mounts());
    assert!(
        state_entries(&state).is_empty(),
        "pier's state root is empty: {:?}",
        state_entries(&state)
    );
}
