//! End-to-end tests of address leases, one file per address under
//! `<root>/networks/<name>.leases/`: parallel runs on one network get distinct addresses that
//! answer, a lease is freed by `rm` and never kept by a failed start, and a state root written
//! by an older pier (every endpoint in the network's JSON file) is converted on first use.
//!
//! Each test has its own root (own bridge, firewall table) and its own subnet.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{links_named, text, wait_for, Pier};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lease directory of `network`.
fn lease_dir(p: &Pier, network: &str) -> PathBuf {
    p.root().join("networks").join(format!("{network}.leases"))
}

/// The addresses leased on `network`, from the lease file names.
fn leased(p: &Pier, network: &str) -> BTreeSet<Ipv4Addr> {
    match std::fs::read_dir(lease_dir(p, network)) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".json")?.parse().ok())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// `10.213.<c>.<d>`.
fn addr(c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 213, c, d)
}

/// Asserts no veth of container `id` is left on the host.
fn assert_no_veth(id: &str) {
    let left = links_named(&format!("pier{}", &id[..8]));
    assert!(left.is_empty(), "veths of {id} left: {left:?}");
}

/// A TCP connection to port 80 of `ip` succeeds (retrying while the server starts).
fn answers(ip: Ipv4Addr) -> bool {
    let to = SocketAddrV4::new(ip, 80).into();
    TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
}

/// A detached busybox httpd on port 80 of `network`.
fn server(p: &Pier, name: &str, network: &str) -> String {
    p.run_detached(&[
        "--name",
        name,
        "--network",
        network,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
}

#[test]
fn twenty_parallel_runs_get_distinct_addresses_that_answer() {
    let p = Pier::new();
    let net = "lease20";
    p.ok(&["network", "create", "--subnet", "10.213.61.0/24", net]);
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let p = &p;
                s.spawn(move || server(p, &format!("par{i}"), net))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ips: BTreeSet<Ipv4Addr> = ids.iter().map(|id| p.ip_of(id)).collect();
    let lowest: BTreeSet<Ipv4Addr> = (2..22).map(|d| addr(61, d)).collect();
    assert_eq!(
        ips, lowest,
        "20 distinct addresses, the lowest 20 after the gateway"
    );
    assert_eq!(leased(&p, net), lowest, "one lease file per address");
    for ip in &ips {
        wait_for(
            Duration::from_secs(10),
            || answers(*ip),
            &format!("a TCP connection to {ip}:80"),
        );
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    p.ok(&rm);
    assert!(leased(&p, net).is_empty(), "every lease freed");
    for id in &ids {
        assert_no_veth(id);
    }
    p.ok(&["network", "rm", net]);
    assert!(
        !lease_dir(&p, net).exists(),
        "the lease directory goes with the network"
    );
}

#[test]
fn rm_and_a_failed_start_free_the_lease() {
    let p = Pier::new();
    let net = "leasefree";
    p.ok(&["network", "create", "--subnet", "10.213.62.0/24", net]);
    let a = p.run_detached(&["--network", net, "busybox", "sleep", "1000"]);
    let b = p.run_detached(&["--network", net, "busybox", "sleep", "1000"]);
    assert_eq!((p.ip_of(&a), p.ip_of(&b)), (addr(62, 2), addr(62, 3)));
    p.ok(&["rm", "-f", &a]);
    assert!(
        !lease_dir(&p, net).join("10.213.62.2.json").exists(),
        "the lease file of a removed container is gone"
    );
    assert_no_veth(&a);
    let c = p.run_detached(&["--network", net, "busybox", "sleep", "1000"]);
    assert_eq!(
        p.ip_of(&c),
        addr(62, 2),
        "the freed lowest address is reused"
    );

    // Failed starts: a command that does not exist, a host port a host process holds.
    let holder = TcpListener::bind("0.0.0.0:0").expect("bind");
    let held = holder.local_addr().expect("addr").port().to_string();
    let before = p.all_ids();
    let failing: [&[&str]; 2] = [
        &["run", "-d", "--network", net, "busybox", "/no/such/command"],
        &[
            "run",
            "-d",
            "--network",
            net,
            "-p",
            &format!("{held}:80"),
            "busybox",
            "true",
        ],
    ];
    for args in failing {
        let out = p.run(args);
        assert!(
            !out.status.success(),
            "{args:?} must fail: {}",
            text(&out.stdout)
        );
        assert_eq!(
            leased(&p, net),
            [addr(62, 2), addr(62, 3)].into(),
            "{args:?} leaves no lease ({})",
            text(&out.stderr)
        );
        for id in p.all_ids().iter().filter(|id| !before.contains(id)) {
            assert_no_veth(id);
            p.ok(&["rm", "-f", id]);
        }
    }
    let d = p.run_detached(&["--network", net, "busybox", "sleep", "1000"]);
    assert_eq!(
        p.ip_of(&d),
        addr(62, 4),
        "no address was kept by the failures"
    );
    p.ok(&["rm", "-f", &b, &c, &d]);
    assert!(leased(&p, net).is_empty());
    p.ok(&["network", "rm", net]);
}

/// Turns the state of `network` back into what pier wrote before leases had files of their
/// own: its JSON file with every endpoint under `endpoints` (keyed by container id, as
/// `save_leases` wrote it, pretty-printed), no lease directory, no index. `keep` names
/// containers whose lease file stays, as after a migration cut short between its steps.
fn write_old_format(p: &Pier, network: &str, keep: &[&str]) {
    let nets = p.root().join("networks");
    let state_path = nets.join(format!("{network}.json"));
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let mut endpoints = serde_json::Map::new();
    for entry in std::fs::read_dir(lease_dir(p, network)).unwrap() {
        let path = entry.unwrap().path();
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let id = record["container_id"].as_str().unwrap().to_string();
        record.as_object_mut().unwrap().remove("container_id");
        endpoints.insert(id.clone(), record);
        let index = nets.join("containers").join(&id);
        std::fs::remove_dir_all(&index).unwrap();
        if !keep.iter().any(|k| id.starts_with(k)) {
            std::fs::remove_file(&path).unwrap();
        }
    }
    // Old files have `endpoints` between `bridge` and `labels`; serde reads any order.
    state["endpoints"] = serde_json::Value::Object(endpoints);
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(nets.join(format!("{network}.private-hosts")));
}

#[test]
fn an_older_state_file_is_moved_to_lease_files_on_first_use() {
    let p = Pier::new();
    let net = "leaseold";
    p.ok(&["network", "create", "--subnet", "10.213.63.0/24", net]);
    let a = server(&p, "olda", net);
    let b = server(&p, "oldb", net);
    let (ip_a, ip_b) = (p.ip_of(&a), p.ip_of(&b));
    // A migration cut short: the lease of `a` was written, the state file not yet rewritten.
    write_old_format(&p, net, &[&a]);
    assert_eq!(leased(&p, net), [ip_a].into());
    let state_path = p.root().join("networks").join(format!("{net}.json"));
    assert!(text(&std::fs::read(&state_path).unwrap()).contains(&b));

    let info: serde_json::Value =
        serde_json::from_str(&p.ok(&["network", "inspect", net])).unwrap();
    let info = if info.is_array() {
        info[0].clone()
    } else {
        info
    };
    let containers = info["Containers"].as_object().expect("Containers");
    assert_eq!(containers.len(), 2, "both endpoints, once each: {info}");
    assert_eq!(
        containers[&a]["IPv4Address"].as_str(),
        Some(format!("{ip_a}/24").as_str())
    );
    assert_eq!(
        containers[&b]["IPv4Address"].as_str(),
        Some(format!("{ip_b}/24").as_str())
    );
    assert_eq!(leased(&p, net), [ip_a, ip_b].into(), "one lease file each");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert!(state.get("endpoints").is_none(), "config only now: {state}");

    // The moved leases hold: a new container gets the next address and resolves the old
    // ones by name; the old ones still answer and are released by rm.
    let c = p.run_detached(&["--network", net, "busybox", "sleep", "1000"]);
    assert_eq!(p.ip_of(&c), addr(63, 4));
    let hosts = p.ok(&["exec", &c, "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{ip_a}\tolda")) && hosts.contains(&format!("{ip_b}\toldb")),
        "{hosts}"
    );
    assert!(answers(ip_a) && answers(ip_b));
    p.ok(&["rm", "-f", &a, &b, &c]);
    assert!(leased(&p, net).is_empty());
    for id in [&a, &b, &c] {
        assert_no_veth(id);
        assert!(!Path::new(&p.root().join("networks/containers").join(id)).exists());
    }
    p.ok(&["network", "rm", net]);
}
