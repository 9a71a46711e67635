//! Docker (Debian 12's docker.io, 20.10, with its own containerd) drives pier as an extra
//! runtime (`dockerd --add-runtime pier=.../pier-runc`, `docker run --runtime pier`): run,
//! `-d`, `-it`, exec, stats, stop, rm.
//!
//! The test's dockerd has private directories (`--data-root`, `--exec-root`, `--pidfile`),
//! its own socket, and leaves the host's network alone (`--bridge=none --iptables=false
//! --ip-masq=false`; containers use `--network none`). dockerd starts its managed containerd
//! under its exec root. Docker calls pier through the `pier-runc` name (argv[0]).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::{
    assert_nothing_left, busybox_archive, client, client_ok, pier_runc_link, run_in_terminal,
    state_entries, CgroupParents, Daemon, ShimDirs,
};
use common::{is_alive, Pier};
use pier_testkit::prereq::{applies_only_on, require, tool, when};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The docker client for the test's daemon. Debian's own client (/usr/bin/docker) when
/// installed: it speaks the daemon's API version.
struct Docker {
    binary: PathBuf,
    socket: PathBuf,
}

impl Drop for Docker {
    /// Removes every container (a failed test must not leave one running).
    fn drop(&mut self) {
        let out = client(&mut self.cmd(&["ps", "-a", "-q"]), T).0;
        for id in out.split_whitespace() {
            let _ = client(&mut self.cmd(&["rm", "-f", id]), T);
        }
    }
}

impl Docker {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args);
        c.env_remove("DOCKER_HOST").env_remove("DOCKER_CONTEXT");
        c
    }

    fn pid(&self, name: &str) -> i32 {
        client_ok(&mut self.cmd(&["inspect", "-f", "{{.State.Pid}}", name]), T)
            .trim()
            .parse()
            .expect("a PID from docker inspect")
    }

    /// `docker stats --no-stream` memory use of `name` in bytes as docker prints it
    /// ("1.2MiB / ..."), 0 when docker has no numbers.
    fn stats_memory(&self, name: &str) -> String {
        client_ok(
            &mut self.cmd(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]),
            T,
        )
        .trim()
        .to_string()
    }
}

fn start_dockerd(dockerd: &Path, dir: &Path, runtime: &Path) -> (Daemon, Docker) {
    let config = dir.join("daemon.json");
    std::fs::write(&config, "{}").expect("daemon.json");
    let socket = dir.join("docker.sock");
    let mut cmd = Command::new(dockerd);
    cmd.arg("--config-file")
        .arg(&config)
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("docker.pid"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
        .arg("--add-runtime")
        .arg(format!("pier={}", runtime.display()));
    let log = dir.join("dockerd.log");
    let mut daemon = Daemon::start("dockerd", cmd, &log);
    let binary = ["/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| tool("docker").ok())
        .expect("a docker client");
    let docker = Docker { binary, socket };
    daemon.wait_ready(Duration::from_secs(60), &log, || {
        client(&mut docker.cmd(&["version"]), T).2 == Some(0)
    });
    (daemon, docker)
}

/// pier's state directories under dockerd's exec root (one per runtime name and namespace).
fn pier_state_roots(exec_root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(exec_root).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("runtime-") {
            for ns in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                out.push(ns.path());
            }
        }
    }
    out
}

/// A test's dockerd with pier registered and pier's busybox loaded. Dropped in field order:
/// containers first, then the daemon, then the directories.
struct World {
    docker: Docker,
    daemon: Daemon,
    dir: PathBuf,
    work: tempfile::TempDir,
    _pier: Pier,
    _cgroups: CgroupParents,
    shim_dirs: ShimDirs,
    /// Whether /opt/containerd was there before (dockerd's containerd makes it).
    opt_existed: bool,
}

impl World {
    /// `None` when dockerd or docker is missing (outside CI: skipped).
    fn start() -> Option<World> {
        let dockerd = require("dockerd (docker.io)", tool("dockerd"))?;
        require("docker", tool("docker"))?;
        let opt_existed = Path::new("/opt/containerd").exists();
        let shim_dirs = ShimDirs::note();
        let cgroups = CgroupParents::note("docker");
        let pier = Pier::new();
        let work = tempfile::tempdir().expect("temp dir");
        let dir = work.path().canonicalize().expect("canonical");
        let runc = pier_runc_link(&dir);
        let archive = busybox_archive(&pier, &dir);
        let (daemon, docker) = start_dockerd(&dockerd, &dir, &runc);
        client_ok(
            &mut docker.cmd(&["load", "-i", archive.to_str().unwrap()]),
            T,
        );
        Some(World {
            docker,
            daemon,
            dir,
            work,
            _pier: pier,
            _cgroups: cgroups,
            shim_dirs,
            opt_existed,
        })
    }

    /// Removes the containers, stops dockerd, and checks that no mount is left.
    fn finish(self) {
        let World {
            docker,
            daemon,
            dir,
            work,
            shim_dirs,
            opt_existed,
            ..
        } = self;
        drop(docker);
        drop(daemon);
        common::assert_no_mounts_under(&dir);
        drop(work);
        drop(shim_dirs);
        assert!(
            opt_existed || !Path::new("/opt/containerd").exists(),
            "dockerd's containerd left /opt/containerd on the host"
        );
    }
}

#[test]
fn docker_runs_execs_stops_and_removes_containers_with_pier() {
    let Some(world) = World::start() else {
        return;
    };
    let (docker, dir) = (&world.docker, world.dir.clone());
    let exec_root = dir.join("exec");
    // dockerd binds its data root onto itself while it runs.
    let own_mounts = [dir.join("data")];
    let run = ["--runtime", "pier", "--network", "none"];

    // Foreground: output and exit code through dockerd, containerd and its shim.
    let mut args = vec!["run", "--rm"];
    args.extend(run);
    args.extend(["busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    let (out, err, code) = client(&mut docker.cmd(&args), T);
    assert_eq!(code, Some(3), "exit code through docker: {out} {err}");
    assert!(
        out.contains("out"),
        "stdout through docker: {out:?} / {err:?}"
    );
    assert!(err.contains("err"), "stderr through docker: {err:?}");

    // Detached, exec, stats, stop, rm.
    let mut args = vec!["run", "-d", "--name", "d1"];
    args.extend(run);
    args.extend(["busybox", "sh", "-c", "echo started; exec sleep 1000"]);
    let id = client_ok(&mut docker.cmd(&args), T).trim().to_string();
    let held: Vec<PathBuf> = pier_state_roots(&exec_root)
        .into_iter()
        .filter(|r| state_entries(r).contains(&id))
        .collect();
    assert_eq!(held.len(), 1, "pier holds the container in one state root");
    let state_root = held[0].clone();
    let pid = docker.pid("d1");
    assert!(is_alive(pid), "the container's process runs");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert!(
        cgroup.contains(&id),
        "in docker's cgroup (docker/<id>): {cgroup}"
    );
    let out = client_ok(
        &mut docker.cmd(&["exec", "d1", "sh", "-c", "echo $((6*7))"]),
        T,
    );
    assert_eq!(out.trim(), "42");
    let (_, _, code) = client(&mut docker.cmd(&["exec", "d1", "sh", "-c", "exit 5"]), T);
    assert_eq!(code, Some(5), "exec's exit code");
    let logs = client_ok(&mut docker.cmd(&["logs", "d1"]), T);
    assert!(logs.contains("started"), "docker logs: {logs:?}");
    client_ok(&mut docker.cmd(&["stop", "-t", "1", "d1"]), T);
    assert!(!is_alive(pid), "the process is gone after docker stop");
    client_ok(&mut docker.cmd(&["rm", "d1"]), T);
    assert_nothing_left(&id, &state_root, &dir, &own_mounts);

    // A terminal: the shim hands pier a console socket.
    let mut args = vec!["run", "--rm", "-it"];
    args.extend(run);
    args.extend([
        "busybox",
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo on-a-tty; exit 4",
    ]);
    let (out, status) = run_in_terminal(&mut docker.cmd(&args), T);
    assert_eq!(status.code(), Some(4), "exit code with -it: {out}");
    assert!(
        out.contains("on-a-tty"),
        "the process has a terminal: {out:?}"
    );

    let mut args = vec!["run", "-d", "--name", "d2"];
    args.extend(run);
    args.extend(["busybox", "sleep", "1000"]);
    let id2 = client_ok(&mut docker.cmd(&args), T).trim().to_string();
    let (out, status) = run_in_terminal(
        &mut docker.cmd(&[
            "exec",
            "-it",
            "d2",
            "sh",
            "-c",
            "[ -t 0 ] && echo exec-on-a-tty; exit 6",
        ]),
        T,
    );
    assert_eq!(status.code(), Some(6), "exec -it exit code: {out}");
    assert!(out.contains("exec-on-a-tty"), "exec -it output: {out:?}");
    client_ok(&mut docker.cmd(&["rm", "-f", "d2"]), T);
    assert_nothing_left(&id2, &state_root, &dir, &own_mounts);
    world.finish();
}

/// `docker stats` reads the container's cgroup through containerd's shim (not through the
/// runtime), from the init's /proc/PID/cgroup: pier's container must give numbers wherever
/// runc's does. On a host whose cgroup layout containerd cannot load (a v1 controller listed
/// in /proc/cgroups but not mounted), runc's container has no numbers either, and the test
/// does not apply.
#[test]
fn docker_stats_measures_a_pier_container_as_a_runc_one() {
    let Some(world) = World::start() else {
        return;
    };
    let docker = &world.docker;
    let script = "head -c 8000000 /dev/zero > /dev/shm/ballast; exec sleep 1000";
    let start = |name: &str, runtime: &str| {
        client(
            &mut docker.cmd(&[
                "run",
                "-d",
                "--name",
                name,
                "--runtime",
                runtime,
                "--network",
                "none",
                "--shm-size",
                "16m",
                "busybox",
                "sh",
                "-c",
                script,
            ]),
            T,
        )
        .2 == Some(0)
    };
    let runc_numbers = start("oracle", "runc") && has_numbers(&docker.stats_memory("oracle"));
    let _ = client(&mut docker.cmd(&["rm", "-f", "oracle"]), T);
    let applies = applies_only_on(
        "a cgroup layout containerd reads stats from",
        when(
            runc_numbers,
            "docker stats shows no numbers for runc's container either",
        ),
    );
    if applies.is_some() {
        assert!(start("measured", "pier"), "docker run --runtime pier");
        let mem = docker.stats_memory("measured");
        assert!(
            has_numbers(&mem),
            "docker stats of pier's container: {mem:?}"
        );
        client_ok(&mut docker.cmd(&["rm", "-f", "measured"]), T);
    }
    world.finish();
}

/// Whether a `docker stats` MemUsage ("1.2MiB / 7.7GiB") reports use.
fn has_numbers(mem_usage: &str) -> bool {
    !mem_usage.is_empty() && !mem_usage.starts_with("0B")
}

/// Docker on cgroup v1 gives a container no cgroup namespace: `/sys/fs/cgroup` inside must
/// still be the container's own cgroup, as under runc, so its memory limit reads as set
/// (pier once showed the host's root: 9223372036854771712) and other containers' `docker/<id>`
/// directories are not there.
#[test]
fn docker_containers_read_their_own_memory_limit() {
    let Some(world) = World::start() else {
        return;
    };
    let v2 = pier_oci::cgroups::detect_version().expect("cgroup version") == 2;
    let (limit, others) = if v2 {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/docker")
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/docker",
        )
    };
    let script = format!("cat {limit}; [ -e {others} ] && echo others-visible; echo end");
    let out = client_ok(
        &mut world.docker.cmd(&[
            "run",
            "--rm",
            "--runtime",
            "pier",
            "--network",
            "none",
            "--memory",
            "64m",
            "busybox",
            "sh",
            "-c",
            &script,
        ]),
        T,
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "end"],
        "{out}"
    );
    world.finish();
}
