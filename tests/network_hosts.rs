//! Names between containers through one shared hosts file per network: a join writes one
//! file whatever the number of containers, a container cannot change the names its peers
//! see, a running container joining or leaving a network gets a file of its own; and
//! `network rm` leaves nothing of the network in the firewall.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};
use sha2::Digest;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// The address `name` resolves to in container `from` (libc reads `/etc/hosts`): busybox's
/// `nc` prints it when nothing listens; `None` for "bad address".
fn resolve_in(p: &Pier, from: &str, name: &str) -> Option<String> {
    let out = p.run(&[
        "exec",
        from,
        "sh",
        "-c",
        &format!("nc -w 1 {name} 9 </dev/null 2>&1; true"),
    ]);
    let said = text(&out.stdout) + &text(&out.stderr);
    if said.contains("bad address") {
        return None;
    }
    let ip = said
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no address in nc's answer for {name} in {from}: {said}"));
    Some(ip.to_string())
}

fn ip_of(p: &Pier, container: &str) -> String {
    p.inspect(container)["network"]["ip"]
        .as_str()
        .unwrap_or_else(|| panic!("no network.ip for {container}"))
        .to_string()
}

/// (device, inode) of `/etc/hosts` as the container sees it.
fn hosts_inode(p: &Pier, container: &str) -> String {
    p.ok(&["exec", container, "stat", "-c", "%d:%i", "/etc/hosts"])
}

#[test]
fn a_join_writes_one_hosts_file_whatever_the_number_of_containers() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.41.0/24", "one"]);
    let n = 8;
    let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    for name in &names {
        p.run_detached(&[
            "--name",
            name,
            "--network",
            "one",
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    // Every container reads the same inode: a join wrote that one file, not N.
    let first = hosts_inode(&p, &names[0]);
    for name in &names[1..] {
        assert_eq!(
            hosts_inode(&p, name),
            first,
            "{name} has a hosts file of its own"
        );
    }
    let shared = p.root().join("networks/one.hosts");
    let meta = std::fs::metadata(&shared).expect("the network's shared hosts file");
    assert_eq!(meta.nlink(), n as u64 + 1, "one link per container");
    // Names still resolve both ways: the first started sees the last, and back.
    let (c0, last) = (&names[0], &names[n - 1]);
    assert_eq!(resolve_in(&p, c0, last), Some(ip_of(&p, last)));
    assert_eq!(resolve_in(&p, last, c0), Some(ip_of(&p, c0)));
    // The hostname line: a container resolves its own short ID to its address.
    let id = p.inspect(c0)["id"].as_str().expect("id").to_string();
    assert_eq!(resolve_in(&p, c0, &id[..12]), Some(ip_of(&p, c0)));
    // A container that leaves takes its name out of everyone's file.
    p.ok(&["rm", "-f", last]);
    assert_eq!(resolve_in(&p, c0, last), None);
    for name in &names[..n - 1] {
        p.ok(&["rm", "-f", name]);
    }
    p.ok(&["network", "rm", "one"]);
    assert!(!shared.exists(), "network rm removes the shared hosts file");
}

#[test]
fn a_container_cannot_rewrite_the_names_its_peers_see() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.42.0/24", "two"]);
    p.run_detached(&[
        "--name",
        "good",
        "--network",
        "two",
        "busybox",
        "sleep",
        "1000",
    ]);
    p.run_detached(&[
        "--name",
        "evil",
        "--network",
        "two",
        "busybox",
        "sleep",
        "1000",
    ]);
    // The attack: point the peer's name at an address of evil's choosing, by appending,
    // by rewriting in place, and by replacing the file.
    for attack in [
        "echo '10.213.42.66 good' >> /etc/hosts",
        "echo '10.213.42.66 good' > /etc/hosts",
        "rm -f /etc/hosts",
    ] {
        let out = p.run(&["exec", "evil", "sh", "-c", attack]);
        assert_ne!(out.status.code(), Some(0), "{attack} succeeded");
    }
    assert_eq!(resolve_in(&p, "evil", "good"), Some(ip_of(&p, "good")));
    assert_eq!(resolve_in(&p, "good", "evil"), Some(ip_of(&p, "evil")));
    let hosts = p.ok(&["exec", "good", "cat", "/etc/hosts"]);
    assert!(
        !hosts.contains("10.213.42.66"),
        "good's hosts file: {hosts}"
    );
    p.ok(&["rm", "-f", "good", "evil"]);
    p.ok(&["network", "rm", "two"]);
}

#[test]
fn a_running_container_joining_and_leaving_a_network_gets_its_own_hosts_file() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.43.0/24", "front"]);
    p.ok(&["network", "create", "--subnet", "10.213.44.0/24", "back"]);
    p.run_detached(&[
        "--name",
        "app",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]);
    p.run_detached(&[
        "--name",
        "peer",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]);
    p.run_detached(&[
        "--name",
        "db",
        "--network",
        "back",
        "busybox",
        "sleep",
        "1000",
    ]);
    let shared = hosts_inode(&p, "peer");
    assert_eq!(hosts_inode(&p, "app"), shared);
    p.ok(&["network", "connect", "back", "app"]);
    assert_ne!(
        hosts_inode(&p, "app"),
        shared,
        "app still reads the shared file"
    );
    assert_eq!(hosts_inode(&p, "peer"), shared);
    // app sees both networks; peer, on front only, does not learn back's names.
    let db_ip = p.inspect("db")["network"]["ip"].as_str().map(String::from);
    assert_eq!(resolve_in(&p, "app", "db"), db_ip);
    assert_eq!(resolve_in(&p, "app", "peer"), Some(ip_of(&p, "peer")));
    assert_eq!(
        resolve_in(&p, "peer", "db"),
        None,
        "back's names leaked to front"
    );
    // A container joining front later is seen by app (its own file is kept up to date).
    p.run_detached(&[
        "--name",
        "late",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(resolve_in(&p, "app", "late"), Some(ip_of(&p, "late")));
    p.ok(&["network", "disconnect", "back", "app"]);
    assert_eq!(
        resolve_in(&p, "app", "db"),
        None,
        "db still named after disconnect"
    );
    // Leaving its only network, a sharing container stops seeing the network's names.
    p.ok(&["network", "disconnect", "front", "peer"]);
    assert_eq!(resolve_in(&p, "peer", "late"), None);
    p.run_detached(&[
        "--name",
        "later",
        "--network",
        "front",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        resolve_in(&p, "peer", "later"),
        None,
        "peer sees front after leaving"
    );
    assert_eq!(resolve_in(&p, "late", "later"), Some(ip_of(&p, "later")));
    p.ok(&["rm", "-f", "app", "peer", "db", "late", "later"]);
    p.ok(&["network", "rm", "front"]);
    p.ok(&["network", "rm", "back"]);
}

/// A container created by a pier from before the shared hosts files has a writable
/// `/etc/hosts` mount: started now, it keeps a file of its own, and what it writes there
/// reaches no peer.
#[test]
fn a_container_with_a_writable_hosts_mount_does_not_share_the_file() {
    let p = Pier::new();
    p.ok(&["network", "create", "--subnet", "10.213.47.0/24", "old"]);
    p.run_detached(&[
        "--name",
        "peer",
        "--network",
        "old",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = p.ok(&[
        "create",
        "--name",
        "legacy",
        "--network",
        "old",
        "busybox",
        "sleep",
        "1000",
    ]);
    let dir = p.root().join("containers").join(id.trim());
    // What an older pier wrote: no `hosts_read_only` in the record, no `ro` on the mount.
    let record_path = dir.join("container.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("hosts_read_only");
    std::fs::write(&record_path, record.to_string()).unwrap();
    let spec_path = dir.join("bundle/config.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    for m in spec["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/etc/hosts" {
            m["options"] = serde_json::json!(["rbind", "rprivate"]);
        }
    }
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    p.ok(&["start", "legacy"]);
    assert_ne!(hosts_inode(&p, "legacy"), hosts_inode(&p, "peer"));
    // The attack an older container could make on a shared file: it lands in its own file.
    p.ok(&[
        "exec",
        "legacy",
        "sh",
        "-c",
        "echo '10.213.47.66 peer' >> /etc/hosts",
    ]);
    assert_eq!(resolve_in(&p, "peer", "legacy"), Some(ip_of(&p, "legacy")));
    let hosts = p.ok(&["exec", "peer", "cat", "/etc/hosts"]);
    assert!(
        !hosts.contains("10.213.47.66"),
        "peer's hosts file: {hosts}"
    );
    p.ok(&["rm", "-f", "peer", "legacy"]);
    p.ok(&["network", "rm", "old"]);
}

/// The firewall names of a state root: nft table `pier_<tag>`, iptables chains
/// `PIER_<TAG>-...` (as `Options::for_root` derives them).
fn firewall_names(p: &Pier) -> (String, String) {
    let h = sha2::Sha256::digest(p.root().to_string_lossy().as_bytes());
    let table = format!("pier_{}", hex::encode(&h[..3]));
    let chain = format!("{}-", table.to_uppercase());
    (table, chain)
}

fn nft_tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft list tables");
    text(&out.stdout)
}

fn iptables_rules() -> String {
    match Command::new("iptables").args(["-w", "-S"]).output() {
        Ok(out) => text(&out.stdout),
        Err(_) => String::new(),
    }
}

#[test]
fn network_rm_leaves_no_table_or_chain() {
    let Some(_) = pier_testkit::prereq::require("nft", pier_testkit::prereq::tool("nft")) else {
        return;
    };
    let p = Pier::new();
    let (table, chain) = firewall_names(&p);
    // An automatic subnet brings the bridge and its rules up at once.
    p.ok(&["network", "create", "solo"]);
    let tables = nft_tables();
    assert!(
        tables.contains(&format!("ip {table}\n")),
        "no table {table} after create: {tables}"
    );
    p.ok(&["network", "rm", "solo"]);
    let tables = nft_tables();
    assert!(
        !tables.contains(&format!("ip {table}\n")),
        "table {table} left: {tables}"
    );
    let rules = iptables_rules();
    let left: Vec<&str> = rules.lines().filter(|l| l.contains(&chain)).collect();
    assert!(
        left.is_empty(),
        "iptables rules of the network left: {left:?}"
    );
}
