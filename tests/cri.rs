//! Pods with pier as the runtime, driven the way kubelet drives them: CRI over
//! containerd's gRPC socket (containerd's CRI plugin → the runc shim → pier). The
//! containerd, its CNI network and its images are the test's own (tests/common/
//! cri_containerd.rs); the client is pier-cri (the `k8s-cri` bindings), the same one
//! `pier cri` uses, which is tested here too.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::clients::{cgroups_named, state_entries};
use common::cri_containerd::{container_config, prerequisites, CgroupDriver, CriContainerd};
use common::{free_port, text, wait_for, Pier, PIER};
use pier_cri::api;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The container's (or the pod's) process on the host, from the runtime's verbose info.
fn pid_of_container(c: &mut pier_cri::Client, id: &str) -> i32 {
    let s = c.container_status(id, true).unwrap();
    info_pid(&s.info)
}

fn pid_of_pod(c: &mut pier_cri::Client, id: &str) -> i32 {
    let s = c.pod_status(id, true).unwrap();
    info_pid(&s.info)
}

fn info_pid(info: &HashMap<String, String>) -> i32 {
    let v: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
    v["pid"].as_i64().expect("pid in the runtime's info") as i32
}

fn container_state(c: &mut pier_cri::Client, id: &str) -> (i32, i32) {
    let s = c.container_status(id, false).unwrap().status.unwrap();
    (s.state, s.exit_code)
}

fn sh(c: &mut pier_cri::Client, id: &str, script: &str) -> pier_cri::ExecOutput {
    c.exec_sync(id, &["sh".into(), "-c".into(), script.into()], T)
        .unwrap()
}

/// Follows an Exec URL as `kubectl exec` does (WebSocket, protocol v4.channel.k8s.io: each
/// binary message starts with its channel, 1 stdout, 2 stderr, 3 the final status as JSON):
/// returns what came on stdout and stderr, and the status.
fn exec_stream(url: &str) -> (Vec<u8>, Vec<u8>, serde_json::Value) {
    use tungstenite::client::IntoClientRequest;
    let ws_url = url.replacen("http://", "ws://", 1);
    let mut req = ws_url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.channel.k8s.io".parse().unwrap(),
    );
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(T)).unwrap();
    let (mut ws, _) = tungstenite::client(req, tcp).unwrap();
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), serde_json::Value::Null);
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) if !b.is_empty() => match b[0] {
                1 => out.extend_from_slice(&b[1..]),
                2 => err.extend_from_slice(&b[1..]),
                3 if b.len() > 1 => status = serde_json::from_slice(&b[1..]).unwrap(),
                _ => {}
            },
            Ok(tungstenite::Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            Err(tungstenite::Error::Protocol(_)) => break,
            Err(e) => panic!("exec stream: {e}"),
        }
    }
    (out, err, status)
}

#[test]
fn cri_pod_lifecycle_runs_on_pier() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let v = c.version().unwrap();
    assert_eq!(v.runtime_name, "containerd");

    let pod_cfg = f.pod_config("life");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap_or_else(|e| {
        panic!("RunPodSandbox: {e}\n{}", f.log());
    });
    // The pause container is pier's: its state is in pier's root, its process is the
    // pause program.
    assert!(
        state_entries(&f.pier_state).contains(&pod),
        "the sandbox is not in pier's state root: {:?}",
        state_entries(&f.pier_state)
    );
    let pause_pid = pid_of_pod(&mut c, &pod);
    let exe = std::fs::read_link(format!("/proc/{pause_pid}/exe")).unwrap();
    assert!(exe.ends_with("pause"), "the sandbox runs {exe:?}");

    let ctr = c
        .create_container(
            &pod,
            container_config("app", 0, "echo started; sleep 1000"),
            pod_cfg,
        )
        .unwrap();
    c.start_container(&ctr).unwrap();
    assert!(state_entries(&f.pier_state).contains(&ctr));
    assert_eq!(
        container_state(&mut c, &ctr).0,
        api::ContainerState::ContainerRunning as i32
    );
    // The container joined the sandbox's network namespace, not the host's.
    let pid = pid_of_container(&mut c, &ctr);
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(ns(pid), ns(pause_pid), "the pod's network namespace");
    assert_ne!(ns(pid), ns(std::process::id() as i32));

    // ExecSync: output and exit code.
    let out = sh(&mut c, &ctr, "echo $((6*7)); echo oops >&2; exit 5");
    assert_eq!(text(&out.stdout).trim(), "42");
    assert_eq!(text(&out.stderr).trim(), "oops");
    assert_eq!(out.exit_code, 5);
    // The pod's address is on the fixture's subnet.
    let out = sh(&mut c, &ctr, "ip -4 -o addr show eth0");
    assert!(
        text(&out.stdout).contains(&format!("inet {}.", f.subnet)),
        "eth0: {}",
        text(&out.stdout)
    );
    // Exec: the streaming URL kubectl exec would be sent to.
    let cmd = ["sh", "-c", "echo streamed; echo err >&2; exit 3"].map(String::from);
    let url = c.exec_url(&ctr, &cmd, false).unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "exec URL: {url}");
    let (stdout, stderr, status) = exec_stream(&url);
    assert_eq!(text(&stdout).trim(), "streamed");
    assert_eq!(text(&stderr).trim(), "err");
    assert_eq!(
        status["details"]["causes"][0]["message"], "3",
        "the exit code in the stream's status: {status}"
    );
    // The log kubelet would read.
    let log = f.dir.join("logs/life/app_0.log");
    wait_for(
        T,
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started")),
        "the container's log line",
    );

    c.stop_container(&ctr, Duration::from_secs(2)).unwrap();
    let (state, _) = container_state(&mut c, &ctr);
    assert_eq!(state, api::ContainerState::ContainerExited as i32);
    assert!(!common::is_alive(pid), "the container's process is gone");
    c.remove_container(&ctr).unwrap();
    c.stop_pod(&pod).unwrap();
    assert!(!common::is_alive(pause_pid), "the pause process is gone");
    c.remove_pod(&pod).unwrap();
    assert!(c.pods().unwrap().is_empty());
    f.assert_pod_gone(&[&pod, &ctr]);
}

/// Why containerd's shim cannot read a container's cgroup on this machine, if it cannot: it
/// loads every cgroup v1 controller a process's /proc/PID/cgroup names from the controller's
/// mount, and fails ("cannot find cgroup mount destination", for runc's containers as for
/// pier's) when one of them is mounted in no hierarchy this mount namespace sees.
fn shim_cannot_read_cgroups() -> Option<String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounted: Vec<&str> = mountinfo
        .lines()
        .filter(|l| l.contains(" - cgroup "))
        .filter_map(|l| l.rsplit(' ').next())
        .flat_map(|opts| opts.split(','))
        .collect();
    cgroup
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .flat_map(|c| c.split(','))
        .find(|c| !c.is_empty() && !mounted.contains(c))
        .map(|c| format!("the {c} controller is listed in /proc/self/cgroup but mounted nowhere"))
}

#[test]
fn cri_container_stats_come_from_piers_cgroup() {
    let Some(()) = prerequisites() else { return };
    let Some(()) = pier_testkit::prereq::applies_only_on(
        "a host whose cgroup controllers are all mounted (containerd's shim reads them)",
        pier_testkit::prereq::when(
            shim_cannot_read_cgroups().is_none(),
            shim_cannot_read_cgroups().unwrap_or_default(),
        ),
    ) else {
        return;
    };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let pod_cfg = f.pod_config("stats");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    // A shell that holds 20 MB in memory (a variable), then waits (not `exec`s: busybox's
    // sh would become sleep for the last command, and free the variable).
    let ctr = c
        .create_container(
            &pod,
            container_config(
                "hog",
                0,
                "x=$(head -c 20000000 /dev/zero | tr '\\0' a); touch /ready; sleep 1000 & wait",
            ),
            pod_cfg,
        )
        .unwrap();
    c.start_container(&ctr).unwrap();
    wait_for(
        T,
        || sh(&mut c, &ctr, "test -e /ready").exit_code == 0,
        "the container's memory is taken",
    );
    let stats = c.container_stats(&ctr).unwrap();
    let mem = stats
        .memory
        .and_then(|m| m.working_set_bytes)
        .map_or(0, |v| v.value);
    assert!(
        mem >= 20_000_000,
        "working set of a shell holding 20 MB: {mem}"
    );
    let cpu = stats
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map_or(0, |v| v.value);
    assert!(cpu > 0, "CPU time of the container: {cpu}");
    let name = stats.attributes.and_then(|a| a.metadata).map(|m| m.name);
    assert_eq!(name.as_deref(), Some("hog"));
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod, &ctr]);
}

#[test]
fn cri_two_containers_of_a_pod_share_localhost() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let pod_cfg = f.pod_config("duo");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    let server = c
        .create_container(
            &pod,
            container_config(
                "server",
                0,
                "mkdir -p /www && echo bytes-from-the-server > /www/index.html && \
                 exec httpd -f -p 127.0.0.1:8080 -h /www",
            ),
            pod_cfg.clone(),
        )
        .unwrap();
    let client = c
        .create_container(&pod, container_config("client", 0, "sleep 1000"), pod_cfg)
        .unwrap();
    c.start_container(&server).unwrap();
    c.start_container(&client).unwrap();
    // The server listens on the pod's loopback only: the client reaches it on localhost
    // because both containers are in the sandbox's network namespace.
    let mut got = String::new();
    wait_for(
        T,
        || {
            let out = sh(
                &mut c,
                &client,
                "wget -q -O - http://127.0.0.1:8080/index.html",
            );
            got = text(&out.stdout);
            out.exit_code == 0
        },
        "the client's request to the server on localhost",
    );
    assert_eq!(got.trim(), "bytes-from-the-server");
    // The other way: the client listens, the server sends bytes with nc.
    sh(
        &mut c,
        &client,
        "nc -l -p 9090 > /tmp/got 2>/dev/null & echo $! > /tmp/nc.pid",
    );
    wait_for(
        T,
        || sh(&mut c, &server, "echo ping-over-lo | nc 127.0.0.1 9090").exit_code == 0,
        "nc from the server to the client",
    );
    wait_for(
        T,
        || text(&sh(&mut c, &client, "cat /tmp/got").stdout).trim() == "ping-over-lo",
        "the bytes nc sent",
    );
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod, &server, &client]);
}

#[test]
fn cri_host_port_reaches_the_pod_from_the_host() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let port = free_port();
    let mut pod_cfg = f.pod_config("hostport");
    pod_cfg.port_mappings = vec![api::PortMapping {
        protocol: api::Protocol::Tcp as i32,
        container_port: 8080,
        host_port: i32::from(port),
        host_ip: String::new(),
    }];
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    let ctr = c
        .create_container(
            &pod,
            container_config(
                "web",
                0,
                "mkdir -p /www && echo hello-through-the-host-port > /www/index.html && \
                 exec httpd -f -p 8080 -h /www",
            ),
            pod_cfg,
        )
        .unwrap();
    c.start_container(&ctr).unwrap();
    // The host's address on the pod network (the bridge's gateway) and loopback, as a
    // node's own processes reach a hostPort.
    let gateway = format!("{}.1", f.subnet);
    for host in [gateway.as_str(), "127.0.0.1"] {
        let mut body = String::new();
        wait_for(
            T,
            || match http_get(host, port) {
                Some(b) => {
                    body = b;
                    true
                }
                None => false,
            },
            &format!("GET http://{host}:{port}/ through the hostPort"),
        );
        assert!(
            body.contains("hello-through-the-host-port"),
            "through {host}:{port}: {body}"
        );
    }
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    assert!(
        http_get("127.0.0.1", port).is_none(),
        "the hostPort is gone"
    );
    f.assert_pod_gone(&[&pod, &ctr]);
}

/// The response to `GET /` from `host:port`, or `None` when nothing answered.
fn http_get(host: &str, port: u16) -> Option<String> {
    let addr: std::net::SocketAddr = format!("{host}:{port}").parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

/// The container's cgroup directory for `controller` (v1) or its v2 directory.
fn cgroup_of(pid: i32, controller: &str) -> PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cg.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        if ctrls.split(',').any(|x| x == controller) {
            return PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}"));
        }
        if ctrls.is_empty() && cg.lines().count() == 1 {
            return PathBuf::from(format!("/sys/fs/cgroup{path}"));
        }
    }
    panic!("no {controller} cgroup in {cg}");
}

#[test]
fn cri_resource_limits_reach_the_containers_cgroup() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let pod_cfg = f.pod_config("limits");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    let mut cfg = container_config("limited", 0, "sleep 1000");
    cfg.linux = Some(api::LinuxContainerConfig {
        resources: Some(api::LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            ..Default::default()
        }),
        ..Default::default()
    });
    let ctr = c.create_container(&pod, cfg, pod_cfg).unwrap();
    c.start_container(&ctr).unwrap();
    let pid = pid_of_container(&mut c, &ctr);
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mem = cgroup_of(pid, "memory");
    // The container's cgroup is its own directory in the pod's: with the systemd driver
    // (cgroupsPath `piercriN-podlimits.slice:cri-containerd:ID`, `--systemd-cgroup`) the
    // scope systemd would make for it, in the slice nested as systemd nests slices.
    let own = match f.cgroup_driver {
        CgroupDriver::Cgroupfs => ctr.clone(),
        CgroupDriver::Systemd => format!("cri-containerd-{ctr}.scope"),
    };
    let expected = PathBuf::from(f.pod_cgroup_dir("limits").trim_start_matches('/')).join(own);
    assert!(
        mem.ends_with(&expected),
        "the container's cgroup {} is not .../{}",
        mem.display(),
        expected.display()
    );
    if mem.join("memory.limit_in_bytes").exists() {
        assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "67108864");
        let cpu = cgroup_of(pid, "cpu");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")).trim(), "100000");
        assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
    } else {
        assert_eq!(read(mem.join("memory.max")).trim(), "67108864");
        assert_eq!(read(mem.join("cpu.max")).trim(), "50000 100000");
    }
    // The limit is enforced: a shell holding 100 MiB in a variable is killed (the host has
    // no swap to spill to, or the cgroup's would count it); one holding 16 MiB is not.
    let hold =
        |bytes: u64| format!("x=$(head -c {bytes} /dev/zero | tr '\\0' a); echo survived ${{#x}}");
    let out = sh(&mut c, &ctr, &hold(16 << 20));
    assert_eq!(text(&out.stdout).trim(), "survived 16777216", "{out:?}");
    let out = sh(&mut c, &ctr, &hold(100 << 20));
    assert!(
        !text(&out.stdout).contains("survived") && out.exit_code != 0,
        "100 MiB under a 64 MiB limit: {out:?}"
    );
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod, &ctr]);
}

#[test]
fn cri_an_exited_container_is_created_again_as_attempt_1() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    let pod_cfg = f.pod_config("again");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    let script = "echo run >> /shared/runs; exit 3";
    let mut first = container_config("job", 0, script);
    let shared = f.dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let mount = api::Mount {
        container_path: "/shared".into(),
        host_path: shared.to_string_lossy().into_owned(),
        ..Default::default()
    };
    first.mounts = vec![mount.clone()];
    let c0 = c.create_container(&pod, first, pod_cfg.clone()).unwrap();
    c.start_container(&c0).unwrap();
    wait_for(
        T,
        || container_state(&mut c, &c0).0 == api::ContainerState::ContainerExited as i32,
        "attempt 0 exits",
    );
    assert_eq!(container_state(&mut c, &c0).1, 3, "attempt 0's exit code");
    // kubelet's restart: the same container name, the attempt counted up, in the same
    // sandbox; the dead attempt stays listed until garbage collection.
    let mut again = container_config("job", 1, script);
    again.mounts = vec![mount];
    let c1 = c.create_container(&pod, again, pod_cfg).unwrap();
    c.start_container(&c1).unwrap();
    wait_for(
        T,
        || container_state(&mut c, &c1).0 == api::ContainerState::ContainerExited as i32,
        "attempt 1 exits",
    );
    assert_eq!(container_state(&mut c, &c1).1, 3);
    assert_eq!(
        std::fs::read_to_string(shared.join("runs")).unwrap(),
        "run\nrun\n",
        "both attempts ran"
    );
    let mut attempts: Vec<(String, u32)> = c
        .containers(Some(&pod))
        .unwrap()
        .into_iter()
        .map(|x| {
            let m = x.metadata.unwrap();
            (m.name, m.attempt)
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, [("job".to_string(), 0), ("job".to_string(), 1)]);
    // The sandbox kept running through both.
    let status = c.pod_status(&pod, false).unwrap().status.unwrap();
    assert_eq!(status.state, api::PodSandboxState::SandboxReady as i32);
    c.remove_container(&c0).unwrap();
    c.remove_container(&c1).unwrap();
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod, &c0, &c1]);
}

#[test]
fn cri_a_field_pier_cannot_honour_is_named_and_nothing_is_left() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let mut c = f.client();
    // A pod sysctl that is in no namespace of the pod: setting it would change the host.
    let mut pod_cfg = f.pod_config("badpod");
    if let Some(l) = pod_cfg.linux.as_mut() {
        l.sysctls.insert("vm.swappiness".into(), "10".into());
    }
    let err = c.run_pod(pod_cfg, "pier").unwrap_err().to_string();
    assert!(
        err.contains("linux.sysctl") && err.contains("vm.swappiness"),
        "RunPodSandbox's error names the field: {err}"
    );
    assert!(
        c.pods().unwrap().is_empty(),
        "no half-made pod: {:?}",
        c.pods().unwrap()
    );
    assert!(
        state_entries(&f.pier_state).is_empty(),
        "pier state left: {:?}",
        state_entries(&f.pier_state)
    );
    f.assert_pod_gone(&[]);

    // A container resource pier refuses (unified keys must be cgroup v2 file names, and
    // cgroup v1 has none): StartContainer fails naming it; the pod stays as it was.
    let pod_cfg = f.pod_config("goodpod");
    let pod = c.run_pod(pod_cfg.clone(), "pier").unwrap();
    let mut cfg = container_config("bad", 0, "sleep 1000");
    cfg.linux = Some(api::LinuxContainerConfig {
        resources: Some(api::LinuxContainerResources {
            unified: HashMap::from([("../memory.max".to_string(), "1".to_string())]),
            ..Default::default()
        }),
        ..Default::default()
    });
    let ctr = c.create_container(&pod, cfg, pod_cfg).unwrap();
    let err = c.start_container(&ctr).unwrap_err().to_string();
    assert!(
        err.contains("linux.resources.unified"),
        "StartContainer's error names the field: {err}"
    );
    assert!(
        !state_entries(&f.pier_state).contains(&ctr),
        "no pier state for the refused container"
    );
    assert!(cgroups_named(&ctr).is_empty(), "no cgroup for it");
    let status = c.pod_status(&pod, false).unwrap().status.unwrap();
    assert_eq!(status.state, api::PodSandboxState::SandboxReady as i32);
    c.remove_container(&ctr).unwrap();
    c.stop_pod(&pod).unwrap();
    c.remove_pod(&pod).unwrap();
    f.assert_pod_gone(&[&pod, &ctr]);
}

/// `pier cri --endpoint E ARGS`: (stdout, stderr, exit code).
fn pier_cri(f: &CriContainerd, args: &[&str]) -> (String, String, i32) {
    let out = Command::new(PIER)
        .args(["cri", "--endpoint", &f.endpoint])
        .args(args)
        .output()
        .unwrap();
    (
        text(&out.stdout),
        text(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}

fn pier_cri_ok(f: &CriContainerd, args: &[&str]) -> String {
    let (out, err, code) = pier_cri(f, args);
    assert_eq!(code, 0, "pier cri {args:?}: {out} {err}");
    out.trim().to_string()
}

#[test]
fn pier_cri_commands_run_a_pod_as_crictl_does() {
    let Some(()) = prerequisites() else { return };
    let p = Pier::new();
    let f = CriContainerd::start(&p);
    let files = f.dir.join("cli");
    std::fs::create_dir_all(&files).unwrap();
    let pod_json = files.join("pod.json");
    let ctr_json = files.join("ctr.json");
    std::fs::write(
        &pod_json,
        serde_json::json!({
            "metadata": {"name": "clipod", "namespace": "default", "uid": "cli-uid"},
            "log_directory": files.join("logs"),
            "linux": {"cgroup_parent": f.pod_cgroup_parent("cli")}
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        &ctr_json,
        serde_json::json!({
            "metadata": {"name": "shell"},
            "image": {"image": "busybox"},
            "command": ["sleep", "1000"],
            "log_path": "shell.log"
        })
        .to_string(),
    )
    .unwrap();
    let (pod_s, ctr_s) = (pod_json.to_str().unwrap(), ctr_json.to_str().unwrap());

    let version = pier_cri_ok(&f, &["version"]);
    assert!(version.contains("RuntimeName:  containerd"), "{version}");
    let pod = pier_cri_ok(&f, &["runp", "--runtime", "pier", pod_s]);
    assert_eq!(pod.len(), 64, "runp prints the pod's ID: {pod}");
    let pods = pier_cri_ok(&f, &["pods"]);
    let row = pods.lines().nth(1).unwrap_or_default();
    assert!(
        pods.starts_with("POD ID") && row.starts_with(&pod[..13]),
        "{pods}"
    );
    for word in ["Ready", "clipod", "default", "pier"] {
        assert!(row.split_whitespace().any(|w| w == word), "{word} in {row}");
    }
    let ctr = pier_cri_ok(&f, &["create", &pod, ctr_s, pod_s]);
    assert_eq!(pier_cri_ok(&f, &["start", &ctr]), ctr);
    let ps = pier_cri_ok(&f, &["ps"]);
    let row = ps.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&ctr[..13]) && row.contains("Running") && row.contains("clipod"),
        "{ps}"
    );
    assert_eq!(pier_cri_ok(&f, &["ps", "-q"]), ctr);
    // exec: output, and the command's exit code as pier's.
    assert_eq!(
        pier_cri_ok(&f, &["exec", &ctr, "sh", "-c", "echo $((6*7))"]),
        "42"
    );
    let (_, _, code) = pier_cri(&f, &["exec", &ctr, "sh", "-c", "exit 7"]);
    assert_eq!(code, 7);
    // inspectp: the pod's status and its sandbox's process.
    let inspect: serde_json::Value =
        serde_json::from_str(&pier_cri_ok(&f, &["inspectp", &pod])).unwrap();
    assert_eq!(inspect["status"]["id"], pod.as_str());
    assert_eq!(inspect["status"]["metadata"]["name"], "clipod");
    assert_eq!(
        inspect["info"]["info"]["runtimeHandler"], "pier",
        "{inspect:#}"
    );
    let pause = inspect["info"]["info"]["pid"].as_i64().unwrap();
    assert!(common::is_alive(pause as i32));
    if shim_cannot_read_cgroups().is_none() {
        let stats = pier_cri_ok(&f, &["stats", &ctr]);
        assert!(stats.contains("shell"), "{stats}");
    }

    assert_eq!(pier_cri_ok(&f, &["stop", "-t", "1", &ctr]), ctr);
    assert!(pier_cri_ok(&f, &["ps", "-q"]).is_empty());
    assert!(pier_cri_ok(&f, &["ps", "-a"]).contains("Exited"));
    assert_eq!(pier_cri_ok(&f, &["rm", &ctr]), ctr);
    assert!(pier_cri_ok(&f, &["stopp", &pod]).contains(&pod));
    assert!(pier_cri_ok(&f, &["rmp", &pod]).contains(&pod));
    assert_eq!(pier_cri_ok(&f, &["pods"]).lines().count(), 1, "header only");
    f.assert_pod_gone(&[&pod, &ctr]);

    // A key the client does not know is named, and nothing is made.
    std::fs::write(&pod_json, r#"{"metadata":{"name":"x"},"hostnme":"typo"}"#).unwrap();
    let (out, err, code) = pier_cri(&f, &["runp", "--runtime", "pier", pod_s]);
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("unknown field `hostnme`") && err.contains("pod.json"),
        "{err}"
    );
    assert_eq!(pier_cri_ok(&f, &["pods"]).lines().count(), 1);
    // And a socket nobody listens on is said so.
    let (_, err, code) = Command::new(PIER)
        .args(["cri", "--endpoint", "unix:///nonexistent/cri.sock", "pods"])
        .output()
        .map(|o| (text(&o.stdout), text(&o.stderr), o.status.code()))
        .unwrap();
    assert_ne!(code, Some(0));
    assert!(err.contains("/nonexistent/cri.sock"), "{err}");
}
