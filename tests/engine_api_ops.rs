//! The Engine API's container operations, events and the service's life, driven by the real
//! `docker` client and `curl` on `pier system service`'s socket (never the host's dockerd),
//! each checked by its effect: the freezer holds the processes, the cgroup file holds the new
//! limit, the tar holds the file, the container comes back when the service starts.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{cgroup_dir, is_v2, read_cgroup_number, scaled, wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn clients() -> bool {
    let (Some(_), Some(_)) = (
        require("the docker client (docker.io)", tool("docker")),
        require("curl", tool("curl")),
    ) else {
        return false;
    };
    true
}

/// A private root and the service on it, if the clients are there.
fn with_service() -> Option<(Pier, Service)> {
    if !clients() {
        return None;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    Some((p, svc))
}

/// `docker run -d --name NAME --network none EXTRA busybox sleep 1000`: the full ID.
fn sleeper(svc: &Service, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    svc.docker_ok(&args).trim().to_string()
}

fn counter(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn pid_of(svc: &Service, name: &str) -> i32 {
    svc.docker_ok(&["inspect", "--format", "{{.State.Pid}}", name])
        .trim()
        .parse()
        .unwrap()
}

/// Whether the container's cgroup is frozen, from the freezer's own file.
fn frozen(info: &serde_json::Value) -> bool {
    let dir = cgroup_dir(info, "freezer");
    if is_v2(info) {
        std::fs::read_to_string(dir.join("cgroup.events"))
            .unwrap()
            .lines()
            .any(|l| l == "frozen 1")
    } else {
        std::fs::read_to_string(dir.join("freezer.state"))
            .unwrap()
            .trim()
            == "FROZEN"
    }
}

fn memory_limit(info: &serde_json::Value) -> Option<u64> {
    let file = if is_v2(info) {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    read_cgroup_number(&cgroup_dir(info, "memory").join(file))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn pause_restart_top_stats_update_and_rename_with_the_docker_cli() {
    let Some((p, svc)) = with_service() else {
        return;
    };
    let id = svc.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--network",
        "none",
        "--memory",
        "256m",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
    ]);
    let id = id.trim().to_string();
    let pid = pid_of(&svc, "ticker");
    let file = std::path::PathBuf::from(format!("/proc/{pid}/root/tmp/n"));
    wait_for(
        Duration::from_secs(10),
        || counter(&file) > 2,
        "the counter",
    );

    // pause: the freezer holds every process; the counter stops.
    svc.docker_ok(&["pause", "ticker"]);
    let info = p.inspect(&id);
    assert!(frozen(&info), "the cgroup freezer is not frozen");
    assert!(svc.docker_ok(&["ps"]).contains("(Paused)"));
    std::thread::sleep(Duration::from_millis(200));
    let held = counter(&file);
    std::thread::sleep(scaled(Duration::from_secs(1)));
    assert_eq!(counter(&file), held, "the counter moved while paused");
    let again = svc.docker(&["pause", "ticker"]);
    assert!(!again.status.success());
    assert!(
        common::text(&again.stderr).contains("already paused"),
        "{}",
        common::text(&again.stderr)
    );
    svc.docker_ok(&["unpause", "ticker"]);
    assert!(!frozen(&info));
    wait_for(
        Duration::from_secs(5),
        || counter(&file) > held + 2,
        "the counter to move again",
    );

    // top lists the container's processes (its shell, by host PID).
    let top = svc.docker_ok(&["top", "ticker"]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(
        top.lines()
            .any(|l| l.contains(&pid.to_string()) && l.contains("sh -c")),
        "{top}"
    );
    let custom = svc.docker_ok(&["top", "ticker", "-o", "pid,comm"]);
    assert!(custom.contains(&pid.to_string()), "{custom}");

    // stats: real figures, the limit the container has.
    let stats = svc.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}|{{.PIDs}}",
        "ticker",
    ]);
    let (mem, pids) = stats.trim().split_once('|').unwrap();
    let (usage, limit) = mem.split_once(" / ").unwrap();
    assert!(!usage.starts_with("0B"), "memory usage is zero: {stats}");
    assert_eq!(limit, "256MiB", "{stats}");
    assert!(pids.parse::<u32>().unwrap() >= 1, "{stats}");
    let (code, body) = svc.curl(&[], "/v1.41/containers/ticker/stats?stream=false");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0);

    // update: the new limits are in the cgroup; an unsupported field is refused by name.
    assert_eq!(memory_limit(&info), Some(256 << 20));
    svc.docker_ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "50",
        "ticker",
    ]);
    assert_eq!(memory_limit(&info), Some(64 << 20));
    assert_eq!(
        read_cgroup_number(&cgroup_dir(&info, "pids").join("pids.max")),
        Some(50)
    );
    let (code, body) = svc.curl(
        &[
            "-XPOST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"CpuQuota":50000}"#,
        ],
        "/v1.41/containers/ticker/update",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("CpuQuota"), "{body}");
    assert_eq!(
        memory_limit(&info),
        Some(64 << 20),
        "a refused update changes nothing"
    );
    svc.docker_ok(&["update", "--restart", "always", "ticker"]);
    let policy = svc.docker_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}}",
        "ticker",
    ]);
    assert_eq!(policy.trim(), "always");

    // restart: the same container, a new process.
    svc.docker_ok(&["restart", "-t", "1", "ticker"]);
    let new_pid = pid_of(&svc, "ticker");
    assert_ne!(new_pid, pid, "restart left the old process");
    assert!(!common::is_alive(pid));
    assert_eq!(p.status(&id), "running");
    assert_eq!(p.inspect("ticker")["id"], id.as_str());

    // rename: pier's own list has the new name.
    let before_rename = (unix_now() - 1).to_string();
    svc.docker_ok(&["rename", "ticker", "tocker"]);
    let renamed = events_between(
        &svc,
        &before_rename,
        &(unix_now() + 1).to_string(),
        &["--filter", "event=rename"],
    );
    assert!(
        renamed.len() == 1 && renamed[0].contains("name=tocker"),
        "{renamed:#?}"
    );
    let ps = p.ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(ps.trim(), "tocker");
    let (code, _) = svc.curl(
        &["-XPOST"],
        "/v1.41/containers/tocker/rename?name=bad%2Fname",
    );
    assert_eq!(code, 400);

    svc.docker_ok(&["rm", "-f", "tocker"]);
    p.assert_container_gone(&id);
}

#[test]
fn changes_export_and_prune_with_the_docker_cli() {
    if !clients() {
        return;
    }
    let Some(_) = require("tar", tool("tar")) else {
        return;
    };
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&[
        "run",
        "--name",
        "writer",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo written-inside > /made-here && rm /bin/vi",
    ]);
    let diff = svc.docker_ok(&["diff", "writer"]);
    assert!(diff.lines().any(|l| l == "A /made-here"), "{diff}");
    assert!(diff.lines().any(|l| l == "D /bin/vi"), "{diff}");
    assert!(
        !diff.contains("/proc") && !diff.contains("/etc/hosts"),
        "runtime mount points are not changes: {diff}"
    );

    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("writer.tar");
    svc.docker_ok(&["export", "-o", tar.to_str().unwrap(), "writer"]);
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&tar)
        .arg("made-here")
        .output()
        .unwrap();
    assert_eq!(common::text(&out.stdout), "written-inside\n");
    let list = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let names = common::text(&list.stdout);
    assert!(
        names.lines().any(|l| l.trim_end_matches('/') == "bin/sh"),
        "the image's files too"
    );
    assert!(
        !names.lines().any(|l| l == "bin/vi"),
        "a deleted file is not exported"
    );
    assert!(
        common::mounts_under(p.root())
            .iter()
            .all(|m| !m.contains("merged")),
        "the export's view is unmounted"
    );
    let staging = p.root().join("images/tmp");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "the export's staging directory is removed: {left:?}"
    );

    // Docker's codes for what cannot be done: no such container, one that does not run.
    assert_eq!(svc.curl(&[], "/v1.41/containers/nope/export").0, 404);
    assert_eq!(svc.curl(&[], "/v1.41/containers/nope/changes").0, 404);
    assert_eq!(svc.curl(&[], "/v1.41/containers/writer/top").0, 409);
    assert_eq!(
        svc.curl(&["-XPOST"], "/v1.41/containers/writer/pause").0,
        409
    );
    let (code, body) = svc.curl(&[], "/v1.41/containers/writer/stats");
    assert_eq!(code, 200);
    let zero: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(
        zero["read"], "0001-01-01T00:00:00Z",
        "one empty sample: {body}"
    );

    // prune: a label filter selects; a running container is never pruned.
    let keep = sleeper(&svc, "keep", &[]);
    let labelled = svc.docker_ok(&[
        "create",
        "--label",
        "prune=yes",
        "--name",
        "labelled",
        "busybox",
        "true",
    ]);
    let out = svc.docker_ok(&["container", "prune", "-f", "--filter", "label=prune=yes"]);
    assert!(out.contains(labelled.trim()), "{out}");
    assert!(!out.contains(keep.as_str()), "{out}");
    let names = p.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["keep", "writer"]);
    let out = svc.docker_ok(&["container", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(p.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keep");
    let (code, body) = svc.curl(
        &["-XPOST"],
        "/v1.41/containers/prune?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
    );
    assert_eq!(code, 400, "{body}");
    svc.docker_ok(&["rm", "-f", "keep"]);
    p.assert_container_gone(keep.as_str());
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");
}

/// `docker events --since SINCE --until UNTIL FILTERS` run to its end (at `--until`).
fn events_between(svc: &Service, since: &str, until: &str, filters: &[&str]) -> Vec<String> {
    let mut all = vec!["events", "--since", since, "--until", until];
    all.extend_from_slice(filters);
    svc.docker_ok(&all).lines().map(String::from).collect()
}

#[test]
fn events_of_cli_and_api_containers_stream_with_filters() {
    let Some((p, svc)) = with_service() else {
        return;
    };
    let since = (unix_now() - 1).to_string();
    p.ok(&[
        "run",
        "--name",
        "cli-made",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    p.ok(&["rm", "cli-made"]);
    svc.docker_ok(&[
        "run",
        "--name",
        "api-made",
        "--label",
        "team=a",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    svc.docker_ok(&["rm", "api-made"]);
    let until = (unix_now() + 1).to_string();
    // `--until` in the future: the stream ends then.
    std::thread::sleep(Duration::from_millis(1100));

    let lines = events_between(&svc, &since, &until, &[]);
    for name in ["cli-made", "api-made"] {
        for action in ["create", "start", "die", "destroy"] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(&format!("container {action} "))
                        && l.contains(&format!("name={name}"))),
                "{action} of {name} in {lines:#?}"
            );
        }
    }
    let dies = events_between(&svc, &since, &until, &["--filter", "event=die"]);
    assert_eq!(dies.len(), 2, "{dies:#?}");
    assert!(dies.iter().all(|l| l.contains("exitCode=0")), "{dies:#?}");
    let team = events_between(&svc, &since, &until, &["--filter", "label=team=a"]);
    assert!(
        !team.is_empty() && team.iter().all(|l| l.contains("name=api-made")),
        "{team:#?}"
    );
    let one = events_between(
        &svc,
        &since,
        &until,
        &[
            "--filter",
            "container=cli-made",
            "--filter",
            "event=destroy",
        ],
    );
    assert_eq!(one.len(), 1, "{one:#?}");
    let images = events_between(&svc, &since, &until, &["--filter", "type=image"]);
    assert!(images.is_empty(), "pier logs containers only: {images:#?}");

    // A following `docker events` sees what happens next, made either way; nothing before.
    let mut follower = Command::new("docker")
        .args(["events", "--filter", "event=start"])
        .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The follower is connected once the service has a stream open; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let cli = p.run_detached(&[
        "--name",
        "follow-cli",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let api = sleeper(&svc, "follow-api", &[]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(seen.iter().any(|l: &String| l.contains("name=follow-cli"))
        && seen.iter().any(|l: &String| l.contains("name=follow-api")))
    {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("docker events did not show both starts: {seen:#?}"),
        }
    }
    assert!(
        seen.iter().all(|l| l.contains("container start ")),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("-made")),
        "no past events without --since: {seen:#?}"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();
    svc.docker_ok(&["rm", "-f", "follow-cli", "follow-api"]);
    p.assert_container_gone(&cli);
    p.assert_container_gone(&api);
}

/// Kills a running container as a machine's crash would: its monitor first (so no restart
/// policy acts), then its process.
fn crash(p: &Pier, name: &str) {
    let info = p.inspect(name);
    let monitor = info["monitor"]["pid"].as_i64().unwrap() as i32;
    let init = info["init"]["pid"].as_i64().unwrap() as i32;
    // SAFETY: plain kill(2)s of processes this test's containers own.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    wait_for(
        Duration::from_secs(5),
        || !common::is_alive(monitor),
        "the monitor's end",
    );
    // SAFETY: as above.
    unsafe {
        libc::kill(init, libc::SIGKILL);
    }
    wait_for(
        Duration::from_secs(5),
        || !common::is_alive(init),
        "the container's end",
    );
}

#[test]
fn restart_policy_containers_come_back_when_the_service_starts() {
    let Some((p, svc)) = with_service() else {
        return;
    };
    let run = |name: &str, policy: &str| sleeper(&svc, name, &["--restart", policy]);
    let ids = [
        run("always-stopped", "always"),
        run("unless-stopped-by-user", "unless-stopped"),
        run("unless-crashed", "unless-stopped"),
        run("no-policy-crashed", "no"),
    ];
    svc.docker_ok(&[
        "stop",
        "-t",
        "1",
        "always-stopped",
        "unless-stopped-by-user",
    ]);
    drop(svc);
    crash(&p, "unless-crashed");
    crash(&p, "no-policy-crashed");
    for name in [
        "always-stopped",
        "unless-stopped-by-user",
        "unless-crashed",
        "no-policy-crashed",
    ] {
        assert_eq!(p.status(name), "exited", "{name} before the service starts");
    }

    let svc = Service::start(&p);
    let status = |name: &str| {
        svc.docker_ok(&["inspect", "--format", "{{.State.Status}}", name])
            .trim()
            .to_string()
    };
    assert_eq!(
        status("always-stopped"),
        "running",
        "always: even after a user's stop"
    );
    assert_eq!(
        status("unless-crashed"),
        "running",
        "unless-stopped, not stopped by the user"
    );
    assert_eq!(status("unless-stopped-by-user"), "exited");
    assert_eq!(status("no-policy-crashed"), "exited");
    let pid = pid_of(&svc, "always-stopped");
    assert!(common::is_alive(pid));
    svc.docker_ok(&[
        "rm",
        "-f",
        "always-stopped",
        "unless-stopped-by-user",
        "unless-crashed",
        "no-policy-crashed",
    ]);
    for id in &ids {
        p.assert_container_gone(id);
    }
}

/// The socket inode behind descriptor `fd` of `pid` (`socket:[N]`).
fn socket_inode(pid: u32, fd: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:"))
}

#[test]
fn socket_activation_serves_the_socket_it_is_given() {
    if !clients() {
        return;
    }
    let Some(activate) = require(
        "systemd-socket-activate (systemd)",
        tool("systemd-socket-activate"),
    ) else {
        return;
    };
    let p = Pier::new();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pier.sock");
    let unused = dir.path().join("not-bound.sock");
    // systemd-socket-activate binds the socket and execs the service with it as descriptor 3,
    // LISTEN_FDS=1 and LISTEN_PID set, as systemd does for pier.socket.
    let mut child = Command::new(activate)
        .arg("-l")
        .arg(&socket)
        .arg(common::PIER)
        .arg("--root")
        .arg(p.root())
        .args(["system", "service", "--timeout", "600", "--socket"])
        .arg(&unused)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        Duration::from_secs(10),
        || socket.exists(),
        "the activation socket",
    );
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            common::text(&out.stderr)
        );
        common::text(&out.stdout)
    };
    let version = docker(&[
        "version",
        "--format",
        "{{.Server.Version}} {{.Server.APIVersion}}",
    ]);
    assert!(version.contains("1.41"), "{version}");
    assert!(
        !unused.exists(),
        "the service bound its own socket instead of the one it was given"
    );
    let listening = socket_inode(child.id(), "3").expect("the service holds the socket as fd 3");
    // The launcher (the service's child) and so the containers' monitors do not keep it.
    let launcher: u32 = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
        .unwrap()
        .split_whitespace()
        .next()
        .expect("the launcher")
        .parse()
        .unwrap();
    for fd in std::fs::read_dir(format!("/proc/{launcher}/fd"))
        .unwrap()
        .flatten()
    {
        let name = fd.file_name().to_string_lossy().into_owned();
        assert_ne!(
            socket_inode(launcher, &name).as_deref(),
            Some(listening.as_str()),
            "the launcher kept the listening socket as fd {name}"
        );
    }
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "activated",
    ]);
    assert_eq!(out, "activated\n");
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");

    // SAFETY: a plain kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("the socket systemd passed"), "{log}");
    assert!(
        socket.exists(),
        "the socket file is systemd's to remove, not the service's"
    );
}

/// One HTTP/1.1 request on the socket, written here so that the test needs no client tool
/// (the cgroup-v2 lane's guest has neither docker nor curl): (status, body).
fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: pier\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, rest) = reply.split_once("\r\n\r\n").unwrap();
    assert!(!head.to_lowercase().contains("chunked"), "{head}");
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, rest.to_string())
}

#[test]
fn cgroup_freezer_limits_and_stats_through_the_api() {
    let p = Pier::new();
    let svc = Service::start(&p);
    let (code, body) = http(
        &svc.socket,
        "POST",
        "/v1.41/containers/create?name=lane",
        r#"{"Image":"busybox","Cmd":["sleep","1000"],"HostConfig":{"NetworkMode":"none","Memory":268435456}}"#,
    );
    assert_eq!(code, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        http(&svc.socket, "POST", "/containers/lane/start", "").0,
        204
    );
    let info = p.inspect(&id);
    assert_eq!(memory_limit(&info), Some(256 << 20));

    assert_eq!(
        http(&svc.socket, "POST", "/containers/lane/pause", "").0,
        204
    );
    assert!(frozen(&info));
    let (code, body) = http(&svc.socket, "POST", "/containers/lane/pause", "");
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        http(&svc.socket, "POST", "/containers/lane/unpause", "").0,
        204
    );
    assert!(!frozen(&info));
    assert_eq!(
        http(&svc.socket, "POST", "/containers/lane/unpause", "").0,
        409
    );

    let (code, body) = http(
        &svc.socket,
        "POST",
        "/containers/lane/update",
        r#"{"Memory":67108864,"PidsLimit":40}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Warnings"), "{body}");
    assert_eq!(memory_limit(&info), Some(64 << 20));
    assert_eq!(
        read_cgroup_number(&cgroup_dir(&info, "pids").join("pids.max")),
        Some(40)
    );

    let (code, body) = http(
        &svc.socket,
        "GET",
        "/containers/lane/stats?stream=false",
        "",
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["memory_stats"]["limit"].as_u64(), Some(64 << 20), "{v}");
    assert_eq!(v["pids_stats"]["limit"].as_u64(), Some(40), "{v}");
    assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);

    assert_eq!(
        http(&svc.socket, "DELETE", "/containers/lane?force=1", "").0,
        204
    );
    p.assert_container_gone(&id);
}

/// A registry's `/v2/` on a loopback port that takes `alice:secret` (Basic) and refuses
/// anything else with 401, as a registry does; its address.
fn fake_registry() -> String {
    use base64::Engine as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let good = format!(
        "authorization: basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:secret")
    )
    .to_lowercase();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
            let reply = if head.to_lowercase().contains(&good) {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            } else {
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let mut conn = conn;
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    addr
}

#[test]
fn system_df_and_auth_with_the_docker_cli() {
    let Some((p, svc)) = with_service() else {
        return;
    };
    svc.docker_ok(&[
        "run",
        "--name",
        "filler",
        "--network",
        "none",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/blob",
        "bs=1M",
        "count=3",
    ]);
    let (code, body) = svc.curl(&[], "/v1.41/system/df");
    assert_eq!(code, 200, "{body}");
    let df: serde_json::Value = serde_json::from_str(&body).unwrap();
    let c = &df["Containers"][0];
    assert_eq!(c["Names"][0], "/filler");
    assert!(c["SizeRw"].as_u64().unwrap() >= 3 << 20, "{c}");
    assert_eq!(df["Images"][0]["Containers"], 1);
    assert!(df["LayersSize"].as_u64().unwrap() > 0);
    let table = svc.docker_ok(&["system", "df"]);
    let row = |kind: &str| {
        table
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("{kind} in {table}"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("Images")[1..3], ["1", "1"], "{table}");
    assert_eq!(row("Containers")[1..3], ["1", "0"], "{table}");

    // auth: the registry's answer decides; the client keeps the credentials, not the service.
    let registry = fake_registry();
    let config = tempfile::tempdir().unwrap();
    let login = |password: &str| {
        Command::new("docker")
            .args(["login", "-u", "alice", "--password-stdin", &registry])
            .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()))
            .env("DOCKER_CONFIG", config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(password.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap()
    };
    let bad = login("wrong");
    assert!(!bad.status.success());
    assert!(
        common::text(&bad.stderr).contains("401"),
        "{}",
        common::text(&bad.stderr)
    );
    let good = login("secret");
    assert!(good.status.success(), "{}", common::text(&good.stderr));
    assert!(common::text(&good.stdout).contains("Login Succeeded"));
    let (code, body) = svc.curl(
        &[
            "-XPOST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"username":"alice"}"#,
        ],
        "/v1.41/auth",
    );
    assert_eq!(code, 400, "{body}");

    svc.docker_ok(&["rm", "filler"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn the_systemd_units_verify_and_name_the_services_socket() {
    let Some(analyze) = require("systemd-analyze (systemd)", tool("systemd-analyze")) else {
        return;
    };
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let socket = std::fs::read_to_string(units.join("pier.socket")).unwrap();
    let service = std::fs::read_to_string(units.join("pier.service")).unwrap();
    assert!(
        socket
            .lines()
            .any(|l| l == format!("ListenStream={}", pier_api::DEFAULT_SOCKET)),
        "pier.socket listens where the service binds by default"
    );
    assert!(socket.lines().any(|l| l == "SocketMode=0660"));
    assert!(service
        .lines()
        .any(|l| l == "ExecStart=/usr/local/bin/pier system service"));
    assert!(
        service.lines().any(|l| l == "KillMode=process"),
        "stopping the service must leave the containers' monitors running"
    );
    // systemd's own parser, with ExecStart pointing at the pier just built (it checks the
    // program exists): no error and no warning.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pier.socket"), &socket).unwrap();
    std::fs::write(
        dir.path().join("pier.service"),
        service.replace("/usr/local/bin/pier", common::PIER),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("pier.socket"))
        .arg(dir.path().join("pier.service"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    assert_eq!(
        common::text(&out.stderr).trim(),
        "",
        "systemd-analyze warned"
    );
}
