//! End-to-end tests of pier's networking: the default bridge, user networks with name
//! resolution and isolation, published ports (from the host's own loopback too), port
//! conflicts, and clean-up after `rm -f` and after `pier` is killed.
//!
//! Traffic goes only to addresses pier's own test networks assign (each test root has its own
//! bridge and subnet) and to 127.0.0.1, with timeouts on every socket and command.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    assert_no_mounts_under, free_port, links_named, nft_rules_mentioning, text, wait_for, Pier,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Serves `body` over HTTP from a detached busybox httpd on port 80 of the container.
fn web_server(p: &Pier, name: &str, extra: &[&str], body: &str) -> (String, tempfile::TempDir) {
    let www = tempfile::tempdir().expect("www dir");
    std::fs::write(www.path().join("index.html"), body).expect("index.html");
    let vol = format!("{}:/www:ro", www.path().display());
    let mut args = vec!["--name", name, "-v", &vol];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
    let id = p.run_detached(&args);
    (id, www)
}

/// GET / from `addr`, with timeouts; retries briefly while the server starts.
fn http_get(addr: SocketAddr) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..50 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(3))).ok();
                s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
                    .map_err(|e| e.to_string())?;
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if !out.is_empty() {
                    return Ok(out);
                }
                last = "empty reply".into();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("GET {addr}: {last}"))
}

#[test]
fn default_bridge_gives_an_address_route_and_dns_files() {
    let p = Pier::new();
    let out = p.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route; cat /etc/hosts",
    ]);
    assert!(out.contains("eth0"), "eth0 exists: {out}");
    assert!(out.contains("default via"), "a default route: {out}");
    // The managed hosts block names the container with its address.
    assert!(
        out.contains("BEGIN pier network bridge"),
        "hosts block: {out}"
    );
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.31.0/24", "n1"]);
    let (_id, _www) = web_server(&p, "web", &["--network", "n1"], "hello by name\n");
    // busybox's wget crashes in Debian's static build; nc speaks HTTP well enough.
    let out = p.ok(&[
        "run", "--rm", "--network", "n1", "busybox", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80 && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert!(
        out.contains("hello by name"),
        "reply through the name web: {out}"
    );
    let ip = p.ip_of("web");
    assert!(
        ip.octets()[..3] == [10, 213, 31],
        "address from the network's subnet: {ip}"
    );
    p.ok(&["rm", "-f", "web"]);
    p.ok(&["network", "rm", "n1"]);
}

#[test]
fn user_networks_are_isolated_from_each_other() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.41.0/24", "a"]);
    p.ok(&["network", "create", "--subnet", "10.213.42.0/24", "b"]);
    let (_id, _www) = web_server(&p, "srv", &["--network", "b"], "on b\n");
    let ip = p.ip_of("srv");
    let probe = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80");
    // Same network: reachable (this also proves the server is up).
    let same = p.run(&[
        "run",
        "--rm",
        "--network",
        "b",
        "busybox",
        "sh",
        "-c",
        &format!("for i in 1 2 3 4 5 6 7 8 9 10; do {probe} && exit 0; sleep 0.2; done; exit 1"),
    ]);
    assert!(
        text(&same.stdout).contains("on b"),
        "same network reaches srv: {}",
        text(&same.stderr)
    );
    // Other network: dropped.
    let other = p.run(&[
        "run",
        "--rm",
        "--network",
        "a",
        "busybox",
        "sh",
        "-c",
        &probe,
    ]);
    assert!(
        !text(&other.stdout).contains("on b"),
        "network a must not reach network b: {}",
        text(&other.stdout)
    );
    assert_ne!(other.status.code(), Some(0));
    p.ok(&["rm", "-f", "srv"]);
    p.ok(&["network", "rm", "a", "b"]);
}

#[test]
fn published_port_is_reachable_from_the_host_and_listed() {
    let p = Pier::new();
    let port = free_port();
    let publish = format!("{port}:80");
    let (_id, _www) = web_server(&p, "pub", &["-p", &publish], "published\n");
    let reply = http_get(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("host loopback reaches the published port");
    assert!(reply.contains("published"), "{reply}");
    assert_eq!(p.ok(&["port", "pub"]), format!("80/tcp -> 0.0.0.0:{port}"));
    // The container's own address works too, without NAT.
    let ip = p.ip_of("pub");
    assert!(http_get(SocketAddr::from((ip, 80)))
        .expect("host reaches the container's IP")
        .contains("published"));
    p.ok(&["rm", "-f", "pub"]);
    assert!(
        http_get(SocketAddr::from(([127, 0, 0, 1], port))).is_err(),
        "the port is gone after rm"
    );
}

#[test]
fn a_host_port_taken_by_another_container_or_a_host_process_is_refused() {
    let p = Pier::new();
    let port = free_port();
    let publish = format!("{port}:80");
    let (_id, _www) = web_server(&p, "first", &["-p", &publish], "first\n");
    let before = p.all_ids();
    let out = p.run(&[
        "run", "-d", "--name", "second", "-p", &publish, "busybox", "httpd", "-f", "-p", "80",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains(&port.to_string()) && err.contains("already"),
        "names the port: {err}"
    );
    assert_eq!(
        p.all_ids(),
        before,
        "the refused container is not left behind"
    );

    // A plain host process holding a port.
    let holder = TcpListener::bind("0.0.0.0:0").expect("bind");
    let held = holder.local_addr().expect("addr").port();
    let out = p.run(&[
        "run",
        "--rm",
        "-p",
        &format!("{held}:80"),
        "busybox",
        "true",
    ]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(&held.to_string()),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(p.all_ids(), before);
}

#[test]
fn publish_needs_a_bridge() {
    let p = Pier::new();
    let out = p.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "8080:80",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("bridge"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn none_and_host_modes() {
    let p = Pier::new();
    let none = p.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    assert_eq!(
        none.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
        "only loopback with --network none"
    );
    // Other tests add and remove veths meanwhile: the interfaces that exist before and after
    // the run must all be seen from inside.
    let host_links = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir("/sys/class/net")
            .expect("host links")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = host_links();
    let host = p.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    let after = host_links();
    let seen: std::collections::BTreeSet<String> =
        host.split_whitespace().map(str::to_string).collect();
    let stable: Vec<&String> = before.intersection(&after).collect();
    assert!(stable.len() > 1, "the host has more than lo: {stable:?}");
    for name in stable {
        assert!(
            seen.contains(name),
            "host mode sees the host's interfaces: {name} missing from {seen:?}"
        );
    }
}

#[test]
fn container_mode_shares_another_containers_network() {
    let p = Pier::new();
    p.run_detached(&["--name", "base", "busybox", "sleep", "1000"]);
    let ip = p.ip_of("base");
    let out = p.ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        out.contains(&ip.to_string()),
        "same address as base ({ip}): {out}"
    );
}

#[test]
fn rm_f_and_a_killed_pier_leave_no_veth_rule_or_namespace() {
    let p = Pier::new();
    let port = free_port();
    let publish = format!("{port}:80");
    let id = p.run_detached(&["--name", "gone", "-p", &publish, "busybox", "sleep", "1000"]);
    let short = &id[..8];
    assert!(
        !links_named(short).is_empty(),
        "a veth for the container exists while it runs"
    );
    assert!(
        nft_rules_mentioning(&id[..12]) > 0 || nft_rules_mentioning(short) > 0,
        "a DNAT rule exists"
    );
    p.ok(&["rm", "-f", "gone"]);
    assert!(
        links_named(short).is_empty(),
        "veth removed: {:?}",
        links_named(short)
    );
    assert_eq!(nft_rules_mentioning(short), 0, "rules removed");

    // pier killed mid-run: the next command cleans up the network too.
    let mut child = p
        .command(&[
            "run",
            "--name",
            "killed",
            "-p",
            &format!("{}:80", free_port()),
            "busybox",
            "sleep",
            "1000",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(p.root().join("killed.err")).expect("stderr file"))
        .spawn()
        .expect("spawn pier run");
    wait_for(
        Duration::from_secs(10),
        || {
            // The record appears once `pier run` has created the container: poll without failing.
            let out = p.run(&["inspect", "killed"]);
            let err = std::fs::read_to_string(p.root().join("killed.err")).unwrap_or_default();
            assert!(err.is_empty(), "pier run failed: {err}");
            out.status.success() && text(&out.stdout).contains("\"status\": \"running\"")
        },
        "container killed running",
    );
    let id = p.inspect("killed")["id"].as_str().expect("id").to_string();
    let short = id[..8].to_string();
    assert!(!links_named(&short).is_empty());
    child.kill().expect("SIGKILL pier");
    let _ = child.wait();
    p.ok(&["system", "prune"]);
    assert!(
        links_named(&short).is_empty(),
        "veth of the killed run removed"
    );
    assert_eq!(nft_rules_mentioning(&short), 0, "its rules removed");
    assert_no_mounts_under(p.root());
}

/// `pier run --rm` on the bridge reports the exit before the network is torn down (the
/// veth's deletion waits for the kernel); the next pier command completes the tear-down, so
/// it and anything after it find nothing left: no veth, rule, namespace, lease or marker.
#[test]
fn rm_run_on_the_bridge_leaves_nothing_for_the_next_command() {
    let p = Pier::new();
    let port = free_port();
    let publish = format!("{port}:80");
    // The hostname is the container's short ID, which names its veth.
    let out = p.run(&["run", "--rm", "-p", &publish, "busybox", "hostname"]);
    assert!(out.status.success(), "run failed: {}", text(&out.stderr));
    let short: String = text(&out.stdout).trim().chars().take(8).collect();
    assert_eq!(short.len(), 8, "hostname: {}", text(&out.stdout));

    let listed = p.ok(&["network", "ls"]);
    assert!(listed.contains("bridge"), "network ls: {listed}");
    assert!(
        links_named(&short).is_empty(),
        "veth left after the next command: {:?}",
        links_named(&short)
    );
    assert_eq!(nft_rules_mentioning(&short), 0, "its port rule removed");
    let inspect = p.ok(&["network", "inspect", "bridge"]);
    assert!(
        !inspect.contains(&short),
        "no endpoint of the container left: {inspect}"
    );
    let pending = p.root().join("networks/pending");
    let markers: Vec<_> = std::fs::read_dir(&pending)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(markers.is_empty(), "tear-down markers left: {markers:?}");
    assert_no_mounts_under(p.root());
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "", "no container left");
}

/// Accepts at most one connection on `listener` within `wait` and returns what the client
/// sent (`None` if nobody connected).
fn accept_one(listener: TcpListener, wait: Duration) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let deadline = std::time::Instant::now() + common::scaled(wait);
        while std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).ok();
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).unwrap_or(0);
                    return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        None
    })
}

/// The CVE-2020-8558 class, end to end. pier sets `route_localnet=1` on its bridge (the host's
/// own 127.0.0.1:PORT is DNATed to containers); a container with CAP_NET_ADMIN routes
/// 127.0.0.1 via its gateway and tries a host service bound to 127.0.0.1 only. A host
/// service on the gateway address is the control.
#[test]
fn a_container_with_net_admin_cannot_reach_the_hosts_loopback() {
    let p = Pier::new();
    p.run_detached(&[
        "--name",
        "intruder",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "sleep",
        "60",
    ]);
    let v = p.inspect("intruder");
    let gw: Ipv4Addr = v["network"]["gateway"]
        .as_str()
        .unwrap_or_else(|| panic!("no network.gateway in inspect: {v}"))
        .parse()
        .expect("an IPv4 gateway");
    let pid = v["init"]["pid"].as_i64().expect("init.pid");
    // The container drops its own loopback address (and with it the local 127.0.0.0/8
    // routes) and sends 127.0.0.1 to the host.
    p.ok(&[
        "exec",
        "intruder",
        "sh",
        "-c",
        &format!("ip addr flush dev lo && ip route add 127.0.0.1/32 via {gw}"),
    ]);
    // Its /proc/sys is read-only, so the test lets it accept replies from 127.0.0.1 (as a
    // container given that sysctl could): the handshake completes if the host lets it in.
    let st = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"])
        .status()
        .expect("nsenter sysctl");
    assert!(st.success(), "route_localnet in the container's namespace");
    let send_probe = |addr: SocketAddr| {
        p.run(&[
            "exec",
            "intruder",
            "sh",
            "-c",
            &format!("echo probe | nc -w 2 {} {}", addr.ip(), addr.port()),
        ])
    };

    let open = TcpListener::bind((gw, 0)).expect("bind the gateway address");
    let open_addr = open.local_addr().expect("addr");
    let served = accept_one(open, Duration::from_secs(5));
    let out = send_probe(open_addr);
    assert_eq!(
        served
            .join()
            .expect("accept thread")
            .as_deref()
            .map(str::trim),
        Some("probe"),
        "control: the host service on {open_addr} hears the container ({})",
        text(&out.stderr)
    );

    let secret = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let secret_addr = secret.local_addr().expect("addr");
    let served = accept_one(secret, Duration::from_secs(4));
    let out = send_probe(secret_addr);
    assert_eq!(
        served.join().expect("accept thread"),
        None,
        "the container reached the host's {secret_addr} through the bridge"
    );
    assert_ne!(out.status.code(), Some(0), "nc connected to {secret_addr}");
    p.ok(&["rm", "-f", "intruder"]);
}

/// Restores iptables' `filter FORWARD` policy when dropped (pass or fail).
struct ForwardPolicy(String);

impl ForwardPolicy {
    /// Sets the policy to DROP, remembering the current one.
    fn drop_all() -> ForwardPolicy {
        let out = Command::new("iptables")
            .args(["-w", "-S", "FORWARD"])
            .output()
            .expect("iptables -S FORWARD");
        let current = text(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("-P FORWARD ").map(str::to_string))
            .unwrap_or_else(|| "ACCEPT".into());
        let st = Command::new("iptables")
            .args(["-w", "-P", "FORWARD", "DROP"])
            .status()
            .expect("iptables -P");
        assert!(st.success(), "setting the FORWARD policy to DROP");
        ForwardPolicy(current)
    }
}

impl Drop for ForwardPolicy {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-w", "-P", "FORWARD", &self.0])
            .status();
    }
}

/// A network namespace with a veth to the host, removed on drop: a routed destination
/// outside pier's bridges, which the host reaches only by forwarding.
struct Outside {
    ns: String,
    host_if: String,
}

impl Outside {
    fn new(host_cidr: &str, inner_cidr: &str) -> Outside {
        let id = std::process::id();
        let o = Outside {
            ns: format!("pierfwd{id}"),
            host_if: format!("pfh{id}"),
        };
        let inner_if = format!("pfn{id}");
        let sh = |cmd: &str| {
            let st = Command::new("sh").args(["-c", cmd]).status().expect("sh");
            assert!(st.success(), "{cmd}");
        };
        sh(&format!("ip netns add {}", o.ns));
        sh(&format!(
            "ip link add {} type veth peer name {inner_if} && ip link set {inner_if} netns {}",
            o.host_if, o.ns
        ));
        sh(&format!(
            "ip addr add {host_cidr} dev {h} && ip link set {h} up",
            h = o.host_if
        ));
        sh(&format!(
            "ip -n {ns} addr add {inner_cidr} dev {inner_if} && ip -n {ns} link set {inner_if} up && ip -n {ns} link set lo up",
            ns = o.ns
        ));
        o
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Docker sets iptables' FORWARD policy to DROP (and loads br_netfilter); pier's bridges must
/// keep forwarding through such a host firewall: a container reaches a server in a namespace
/// the host routes to (forwarded traffic both ways), and two containers on one bridge reach
/// each other. The policy is restored afterwards.
#[test]
fn bridges_keep_forwarding_when_the_forward_policy_is_drop() {
    let Some(_) = pier_testkit::prereq::require("iptables", pier_testkit::prereq::tool("iptables"))
    else {
        return;
    };
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.41.0/24", "fwd"]);
    let (_id, _www) = web_server(&p, "web", &["--network", "fwd"], "hello through drop\n");
    let outside = Outside::new("10.254.77.1/30", "10.254.77.2/30");
    // One answer from the namespace, bounded in time.
    let server = Command::new("ip")
        .args(["netns", "exec", &outside.ns, "timeout", "20", "sh", "-c"])
        .arg("echo pong-from-outside | busybox nc -l -p 8080")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("server in the outside namespace");
    let _policy = ForwardPolicy::drop_all();
    let routed = p.run(&[
        "run", "--rm", "--network", "fwd", "busybox", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 10.254.77.2 8080 && exit 0; sleep 0.2; done; exit 1",
    ]);
    let same_bridge = p.run(&[
        "run", "--rm", "--network", "fwd", "busybox", "sh", "-c",
        "for i in 1 2 3 4 5; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80 && exit 0; sleep 0.2; done; exit 1",
    ]);
    drop(_policy);
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        text(&routed.stdout).contains("pong-from-outside"),
        "a container reaches a routed namespace with FORWARD policy DROP: {} {}",
        text(&routed.stdout),
        text(&routed.stderr)
    );
    assert!(
        text(&same_bridge.stdout).contains("hello through drop"),
        "containers on one bridge reach each other with FORWARD policy DROP: {}",
        text(&same_bridge.stderr)
    );
    p.ok(&["rm", "-f", "web"]);
    p.ok(&["network", "rm", "fwd"]);
}

/// Each restart by the monitor releases the run's network (veth, address, DNAT rule) and makes
/// it anew: after three runs nothing is left, not three of each.
#[test]
fn restarts_release_and_remake_the_network() {
    let p = Pier::new();
    let publish = format!("{}:80", free_port());
    let (id, data) = p.run_with_data(
        &["--restart", "on-failure:2", "-p", &publish],
        "ip -4 -o addr show eth0 >> /data/runs; sleep 0.3; exit 1",
    );
    let short = &id[..8];
    wait_for(
        Duration::from_secs(15),
        || {
            let info = p.inspect(&id);
            info["restart_count"] == 2 && info["status"] == "exited" && info["restarting"] == false
        },
        "two restarts",
    );
    let runs = std::fs::read_to_string(data.path().join("runs")).expect("runs file");
    assert_eq!(runs.lines().count(), 3, "each run had its eth0: {runs}");
    assert!(links_named(short).is_empty(), "{:?}", links_named(short));
    assert_eq!(nft_rules_mentioning(short), 0, "DNAT rules removed");
    assert!(p.inspect(&id)["network"].is_null());
    p.ok(&["rm", &id]);
    p.assert_container_gone(&id);
}

/// An interface the test owns, standing for a LAN the host routes (a bridge with no ports:
/// the kernel here has no `dummy` module), removed when dropped.
struct DummyLink(String);

impl DummyLink {
    /// Makes link `name`, up, with `addr` (the kernel adds the route of its subnet).
    fn new(name: &str, addr: &str) -> DummyLink {
        let link = DummyLink(name.to_string());
        for args in [
            vec!["link", "add", name, "type", "bridge"],
            vec!["addr", "add", addr, "dev", name],
            vec!["link", "set", name, "up"],
        ] {
            let st = Command::new("ip").args(&args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        }
        link
    }
}

impl Drop for DummyLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

/// A test's or lab's state root takes its default subnet from a hash of its path, so the host
/// may already route it (a LAN, or another root's bridge that hashed alike: CI met this). The
/// first container moves the default network to a free /24 instead of failing, and the host's
/// own route is left as it was.
#[test]
fn a_default_subnet_the_host_already_routes_moves_aside_on_first_use() {
    let p = Pier::new();
    let before: serde_json::Value =
        serde_json::from_str(&p.ok(&["network", "inspect", "bridge"])).unwrap();
    let hashed = before[0]["subnet"].as_str().expect("subnet").to_string();
    let net = hashed.trim_end_matches("/24").trim_end_matches(".0");
    let dummy = format!("pdum{}", std::process::id() % 100_000);
    let _lan = DummyLink::new(&dummy, &format!("{net}.254/24"));

    let out = p.ok(&[
        "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0",
    ]);
    let after: serde_json::Value =
        serde_json::from_str(&p.ok(&["network", "inspect", "bridge"])).unwrap();
    let moved = after[0]["subnet"].as_str().expect("subnet").to_string();
    assert_ne!(moved, hashed, "the default network left the routed subnet");
    let moved_net = moved.trim_end_matches("/24").trim_end_matches(".0");
    assert!(
        out.contains(&format!("{moved_net}.")),
        "the container's address is in {moved}: {out}"
    );
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "dev", &dummy])
        .output()
        .expect("ip route");
    assert!(
        text(&routes.stdout).contains(&hashed),
        "the host's route to {hashed} is untouched: {}",
        text(&routes.stdout)
    );

    // A network the user names a routed subnet for is still refused, by name.
    let refused = p.run(&["network", "create", "--subnet", &hashed, "lan"]);
    assert!(!refused.status.success(), "a routed subnet is refused");
    assert!(
        text(&refused.stderr).contains("overlaps the host route"),
        "the error says why: {}",
        text(&refused.stderr)
    );
}
