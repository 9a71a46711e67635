//! Container networking against the real kernel (run as root).
//!
//! Every test uses its own state root, bridge names, nft table and 10.213.x.0/24 subnets,
//! sends traffic only between namespaces it created (and the host side of its own bridges or
//! veths), bounds every socket operation in time, and removes everything in a guard's `Drop`.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_engine::network::nat::Backend;
use pier_engine::network::{
    hosts, parse_publish, ConnectRequest, Endpoint, NetworkManager, Options, PortMapping,
};
use pier_oci::netns;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A test's private networking world; `Drop` removes all of it.
struct Env {
    root: tempfile::TempDir,
    mgr: NetworkManager,
    tag: String,
    default_bridge: String,
    namespaces: Vec<PathBuf>,
    user_nets: Vec<String>,
    extra_links: Vec<String>,
}

impl Env {
    fn new(default_subnet: &str) -> Env {
        Env::with_backend(default_subnet, Backend::Nftables)
    }

    fn with_backend(default_subnet: &str, backend: Backend) -> Env {
        let tag = format!("t{}x{}", std::process::id() % 100_000, next());
        let root = tempfile::tempdir().unwrap();
        let default_bridge = format!("pier{tag}");
        assert!(default_bridge.len() <= 15);
        let options = Options {
            default_subnet: default_subnet.to_string(),
            default_bridge: default_bridge.clone(),
            firewall_table: format!("pier{tag}"),
            backend: Some(backend),
            bridge_salt: tag.clone(),
        };
        let mgr =
            NetworkManager::open_with(root.path(), Path::new(pier_engine::DEFAULT_ROOT), options)
                .unwrap();
        Env {
            root,
            mgr,
            tag,
            default_bridge,
            namespaces: Vec::new(),
            user_nets: Vec::new(),
            extra_links: Vec::new(),
        }
    }

    /// A fresh network namespace, removed by the guard.
    fn netns(&mut self) -> PathBuf {
        let p = self
            .root
            .path()
            .join(format!("ns{}", self.namespaces.len()));
        netns::create(&p).unwrap();
        self.namespaces.push(p.clone());
        p
    }

    /// A user network with a unique name, removed by the guard.
    fn network(&mut self, suffix: &str, subnet: &str) -> String {
        let name = format!("{}-{suffix}", self.tag);
        self.mgr.create(&name, Some(subnet), None).unwrap();
        self.user_nets.push(name.clone());
        name
    }

    /// A unique container id (its first 8 characters name the veth).
    fn container_id(&self) -> String {
        format!(
            "{:05x}{:03x}0123456789abcdef",
            std::process::id() & 0xfffff,
            next() & 0xfff
        )
    }

    fn connect(
        &self,
        id: &str,
        name: &str,
        network: &str,
        ns: &Path,
        ports: &[PortMapping],
        hosts_file: Option<&Path>,
    ) -> anyhow::Result<Endpoint> {
        self.mgr.connect(&ConnectRequest {
            container_id: id,
            container_name: name,
            network,
            netns_path: ns,
            ports,
            hosts_file,
            share_hosts: false,
            aliases: &[],
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // The API's own cleanup first (it is under test too), then belt and braces.
        let _ = self.mgr.prune_orphans(&[]);
        let mut bridges = vec![self.default_bridge.clone()];
        for n in &self.user_nets {
            if let Ok(info) = self.mgr.inspect(n) {
                bridges.push(info.bridge);
            }
            let _ = self.mgr.remove(n);
        }
        for link in bridges.iter().chain(&self.extra_links) {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = self.mgr.firewall().destroy();
        for ns in &self.namespaces {
            let _ = netns::remove(ns);
        }
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

/// Runs a command inside the network namespace `ns`.
fn sh_in(ns: &Path, args: &[&str]) {
    let net = format!("--net={}", ns.display());
    let mut full = vec!["nsenter", net.as_str()];
    full.extend_from_slice(args);
    sh(&full);
}

/// A veth pair between the host (`host_cidr`) and namespace `ns` (`ns_cidr`): a machine of
/// the host's LAN. The host end is removed by the guard (its peer goes with it).
fn outside_link(env: &mut Env, ns: &Path, host_cidr: &str, ns_cidr: &str) {
    let host_end = format!("pto{}", env.tag);
    let ns_end = format!("pti{}", env.tag);
    env.extra_links.push(host_end.clone());
    sh(&[
        "ip", "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
    ]);
    sh(&["ip", "link", "set", &ns_end, "netns", &ns.to_string_lossy()]);
    sh(&["ip", "addr", "add", host_cidr, "dev", &host_end]);
    sh(&["ip", "link", "set", &host_end, "up"]);
    sh_in(ns, &["ip", "addr", "add", ns_cidr, "dev", &ns_end]);
    sh_in(ns, &["ip", "link", "set", &ns_end, "up"]);
}

/// Makes namespace `ns` send traffic for 127.0.0.1 to `via` (the attacker's side of a
/// loopback escape): `lo` loses its address (and with it the local 127.0.0.0/8 routes, and
/// the kernel's view of 127.0.0.1 as its own source), and replies from 127.0.0.1 are
/// accepted (`route_localnet`), as a hostile machine or a container with CAP_NET_ADMIN can
/// set up.
fn route_loopback_via(ns: &Path, via: Ipv4Addr) {
    sh_in(ns, &["ip", "addr", "flush", "dev", "lo"]);
    sh_in(
        ns,
        &[
            "ip",
            "route",
            "add",
            "127.0.0.1/32",
            "via",
            &via.to_string(),
        ],
    );
    sh_in(ns, &["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
}

/// The policy of the host's iptables FORWARD chain (another tool such as dockerd may have
/// set DROP); shown when forwarded traffic fails, since pier's table cannot override it.
fn forward_policy() -> String {
    Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("-P FORWARD"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Starts a one-shot TCP echo server on `port` inside `ns` (or on the host if `None`).
/// Returns once it listens; the handle yields the peer address it saw.
fn echo_server(ns: Option<&Path>, port: u16) -> JoinHandle<anyhow::Result<SocketAddr>> {
    echo_server_at(
        ns,
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
        Duration::from_secs(6),
    )
    .1
}

/// Like [`echo_server`] bound to `addr` (port 0: an ephemeral one), waiting at most `wait`
/// for its client. Returns the port it listens on and the handle.
fn echo_server_at(
    ns: Option<&Path>,
    addr: SocketAddrV4,
    wait: Duration,
) -> (u16, JoinHandle<anyhow::Result<SocketAddr>>) {
    let (tx, rx) = mpsc::channel();
    let serve = move || -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        tx.send(listener.local_addr()?.port()).unwrap();
        let deadline = Instant::now() + wait;
        loop {
            match listener.accept() {
                Ok((mut s, peer)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(Duration::from_secs(3)))?;
                    let mut buf = [0u8; 16];
                    let n = s.read(&mut buf)?;
                    s.write_all(&buf[..n])?;
                    return Ok(peer);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        anyhow::bail!("no client within {wait:?}");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let ns = ns.map(Path::to_path_buf);
    let handle = std::thread::spawn(move || match ns {
        Some(ns) => netns::enter(&ns, serve),
        None => serve(),
    });
    let port = match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(port) => port,
        // The server gave up before listening: show why.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("echo server on {addr} failed: {:?}", handle.join())
        }
        Err(e) => panic!("echo server on {addr} not listening: {e}"),
    };
    (port, handle)
}

/// Connects (from `ns`, or the host) to `addr`, sends "ping", expects it echoed.
fn ping(ns: Option<&Path>, addr: SocketAddrV4, timeout: Duration) -> anyhow::Result<()> {
    let client = move || -> anyhow::Result<()> {
        let mut s = TcpStream::connect_timeout(&SocketAddr::V4(addr), timeout)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        anyhow::ensure!(&buf == b"ping", "echo mismatch");
        Ok(())
    };
    match ns {
        Some(ns) => netns::enter(ns, client),
        None => client(),
    }
}

/// iptables-nft creates the host's `ip nat`/`ip filter` tables on first use; if a test is
/// what created them, `Drop` deletes them again once they hold no rule (after its `Env` is
/// gone: declare this guard first).
/// It also serialises the iptables tests of this binary, so none deletes a table while
/// another is filling it.
struct HostTables {
    created: Vec<&'static str>,
    _serial: MutexGuard<'static, ()>,
}

static IPTABLES_TESTS: Mutex<()> = Mutex::new(());

impl HostTables {
    fn remember() -> HostTables {
        let serial = IPTABLES_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let existed = |t: &str| {
            Command::new("nft")
                .args(["list", "table", "ip", t])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        HostTables {
            created: ["nat", "filter"]
                .into_iter()
                .filter(|t| !existed(t))
                .collect(),
            _serial: serial,
        }
    }
}

impl Drop for HostTables {
    fn drop(&mut self) {
        for t in &self.created {
            let out = Command::new("nft")
                .args(["list", "table", "ip", t])
                .output();
            if let Ok(out) = out {
                let text = String::from_utf8_lossy(&out.stdout);
                let rules = text.lines().filter(|l| {
                    let l = l.trim();
                    !(l.is_empty()
                        || l.starts_with("table")
                        || l.starts_with("chain")
                        || l.starts_with("type")
                        || l == "}")
                });
                if out.status.success() && rules.count() == 0 {
                    let _ = Command::new("nft")
                        .args(["delete", "table", "ip", t])
                        .status();
                }
            }
        }
    }
}

/// True if the iptables fallback can be tested here (prints why not otherwise).
fn iptables_available() -> bool {
    pier_testkit::prereq::require("iptables", pier_testkit::prereq::tool("iptables")).is_some()
}

#[test]
fn network_two_containers_reach_each_other_by_ip_and_name() {
    let mut env = Env::new("10.213.10.0/24");
    let net = env.network("app", "10.213.1.0/24");
    let (ns_a, ns_b) = (env.netns(), env.netns());
    let hosts_a = env.root.path().join("hosts-a");
    let hosts_b = env.root.path().join("hosts-b");
    std::fs::write(&hosts_a, "127.0.0.1 localhost\n").unwrap();
    std::fs::write(&hosts_b, "127.0.0.1 localhost\n").unwrap();
    use std::os::unix::fs::MetadataExt;
    let inode_a = std::fs::metadata(&hosts_a).unwrap().ino();
    // "Container" alpha: its own mount namespace with the hosts file bind-mounted on
    // /etc/hosts BEFORE pier writes the names (as the engine does), resolving through libc.
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (hosts_src, ns_alpha) = (hosts_a.clone(), ns_a.clone());
    let alpha = std::thread::spawn(move || -> anyhow::Result<SocketAddr> {
        use nix::mount::{mount, MsFlags};
        use nix::sched::{setns, unshare, CloneFlags};
        unshare(CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )?;
        mount(
            Some(&hosts_src),
            "/etc/hosts",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        ready_tx.send(()).unwrap();
        go_rx.recv_timeout(Duration::from_secs(10))?;
        setns(std::fs::File::open(&ns_alpha)?, CloneFlags::CLONE_NEWNET)?;
        use std::net::ToSocketAddrs;
        let addr = "bravo:7002"
            .to_socket_addrs()?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| anyhow::anyhow!("bravo did not resolve"))?;
        let SocketAddr::V4(v4) = addr else {
            unreachable!()
        };
        ping(None, v4, Duration::from_secs(3))?;
        Ok(addr)
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (id_a, id_b) = (env.container_id(), env.container_id());
    let a = env
        .connect(&id_a, "alpha", &net, &ns_a, &[], Some(&hosts_a))
        .unwrap();
    let b = env
        .connect(&id_b, "bravo", &net, &ns_b, &[], Some(&hosts_b))
        .unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 213, 1, 2));
    assert_eq!(b.ip, Ipv4Addr::new(10, 213, 1, 3));
    assert_eq!(a.gateway, Ipv4Addr::new(10, 213, 1, 1));
    assert!(link_exists(&a.host_veth) && a.host_veth.len() <= 15);

    // By IP.
    let server = echo_server(Some(&ns_b), 7000);
    ping(
        Some(&ns_a),
        SocketAddrV4::new(b.ip, 7000),
        Duration::from_secs(3),
    )
    .unwrap();
    let peer = server.join().unwrap().unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a.ip), "same bridge: no NAT");

    // By name, through the managed hosts file (written in place: same inode).
    assert_eq!(std::fs::metadata(&hosts_a).unwrap().ino(), inode_a);
    let resolved = hosts::resolve(&hosts_a, "bravo")
        .unwrap()
        .expect("bravo listed");
    assert_eq!(resolved, b.ip);
    assert_eq!(hosts::resolve(&hosts_b, "alpha").unwrap(), Some(a.ip));
    assert_eq!(hosts::resolve(&hosts_a, &id_b[..12]).unwrap(), Some(b.ip));
    let server = echo_server(Some(&ns_b), 7001);
    ping(
        Some(&ns_a),
        SocketAddrV4::new(resolved, 7001),
        Duration::from_secs(3),
    )
    .unwrap();
    server.join().unwrap().unwrap();

    // And through getaddrinfo inside alpha's mount namespace.
    let server = echo_server(Some(&ns_b), 7002);
    go_tx.send(()).unwrap();
    let seen = alpha.join().unwrap().unwrap();
    assert_eq!(seen.ip(), std::net::IpAddr::V4(b.ip));
    server.join().unwrap().unwrap();

    let info = env.mgr.inspect(&net).unwrap();
    assert_eq!(info.endpoints.len(), 2);

    // Disconnect removes the name from the peer's file and the whole block from its own.
    env.mgr.disconnect(&id_b, &net).unwrap();
    env.mgr.disconnect(&id_b, &net).unwrap();
    assert_eq!(hosts::resolve(&hosts_a, "bravo").unwrap(), None);
    assert_eq!(hosts::resolve(&hosts_b, "alpha").unwrap(), None);
    assert_eq!(
        hosts::resolve(&hosts_b, "localhost").unwrap(),
        Some(Ipv4Addr::LOCALHOST)
    );
    assert!(!link_exists(&b.host_veth));
    assert!(env.mgr.remove(&net).is_err(), "alpha is still attached");
    env.mgr.release_container(&id_a).unwrap();
    let bridge = env.mgr.inspect(&net).unwrap().bridge;
    env.mgr.remove(&net).unwrap();
    assert!(!link_exists(&bridge));
    assert!(env.mgr.inspect(&net).is_err());
}

#[test]
fn network_published_port_reachable_from_host_and_loopback() {
    let mut env = Env::new("10.213.2.0/24");
    let ns = env.netns();
    let id = env.container_id();
    let ports = parse_publish("8080").unwrap();
    let ep = env
        .connect(&id, "web", "bridge", &ns, &ports, None)
        .unwrap();
    assert_eq!(ep.ports.len(), 1);
    let hp = ep.ports[0].host_port;
    assert_ne!(hp, 0, "a host port was picked");
    assert_eq!(env.mgr.published_ports(&id).unwrap(), ep.ports);
    assert!(
        link_exists(&env.default_bridge),
        "default bridge created on first use"
    );

    for target in [ep.gateway, Ipv4Addr::LOCALHOST] {
        let server = echo_server(Some(&ns), 8080);
        ping(None, SocketAddrV4::new(target, hp), Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("{target}:{hp} -> container:8080: {e:#}"));
        server.join().unwrap().unwrap();
    }
    // Hairpin: another container of the network reaches the published port via the gateway.
    let ns2 = env.netns();
    let id2 = env.container_id();
    let ep2 = env
        .connect(&id2, "client", "bridge", &ns2, &[], None)
        .unwrap();
    let server = echo_server(Some(&ns), 8080);
    ping(
        Some(&ns2),
        SocketAddrV4::new(ep.gateway, hp),
        Duration::from_secs(3),
    )
    .unwrap();
    let peer = server.join().unwrap().unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(ep.gateway),
        "hairpin is masqueraded"
    );
    assert_ne!(peer.ip(), std::net::IpAddr::V4(ep2.ip));

    env.mgr.release_container(&id).unwrap();
    assert!(env.mgr.published_ports(&id).unwrap().is_empty());
    // The DNAT rule is gone: nothing answers any more.
    assert!(ping(
        None,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, hp),
        Duration::from_millis(500)
    )
    .is_err());
}

#[test]
fn network_port_conflicts_are_refused_and_leave_nothing() {
    let mut env = Env::new("10.213.3.0/24");
    let (ns1, ns2) = (env.netns(), env.netns());
    let (id1, id2) = (env.container_id(), env.container_id());

    // A host process holds the port.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = listener.local_addr().unwrap().port();
    let err = env
        .connect(
            &id1,
            "c1",
            "bridge",
            &ns1,
            &parse_publish(&format!("{busy}:80")).unwrap(),
            None,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("in use by another process"),
        "{err:#}"
    );
    assert!(
        env.mgr.inspect("bridge").unwrap().endpoints.is_empty(),
        "no lease"
    );
    assert!(!link_exists(&env.default_bridge), "nothing was created");
    drop(listener);

    // Another pier container holds it.
    let ep1 = env
        .connect(
            &id1,
            "c1",
            "bridge",
            &ns1,
            &parse_publish("127.0.0.1::80").unwrap(),
            None,
        )
        .unwrap();
    let held = ep1.ports[0].host_port;
    let err = env
        .connect(
            &id2,
            "c2",
            "bridge",
            &ns2,
            &parse_publish(&format!("{held}:80")).unwrap(),
            None,
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("pier container {id1}")),
        "{err:#}"
    );
    let info = env.mgr.inspect("bridge").unwrap();
    assert_eq!(
        info.endpoints.len(),
        1,
        "no lease for the refused container"
    );
    let tags = env.mgr.firewall().tags().unwrap();
    assert!(!tags.iter().any(|t| t.contains(&id2)), "{tags:?}");
    assert!(!Path::new("/sys/class/net").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("pier{}", &id2[..8]))
    }));
}

#[test]
fn network_user_networks_are_isolated() {
    let mut env = Env::new("10.213.11.0/24");
    let net_a = env.network("a", "10.213.4.0/24");
    let net_b = env.network("b", "10.213.5.0/24");
    let (ns_a, ns_b, ns_b2) = (env.netns(), env.netns(), env.netns());
    let (ia, ib, ib2) = (env.container_id(), env.container_id(), env.container_id());
    env.connect(&ia, "a1", &net_a, &ns_a, &[], None).unwrap();
    let b = env.connect(&ib, "b1", &net_b, &ns_b, &[], None).unwrap();
    env.connect(&ib2, "b2", &net_b, &ns_b2, &[], None).unwrap();
    let err = env
        .mgr
        .create(&format!("{}-c", env.tag), Some("10.213.5.128/25"), None);
    assert!(format!("{:#}", err.unwrap_err()).contains("overlaps"));

    // Blocked across networks...
    let server = echo_server(Some(&ns_b), 7200);
    let crossed = ping(
        Some(&ns_a),
        SocketAddrV4::new(b.ip, 7200),
        Duration::from_secs(1),
    );
    assert!(crossed.is_err(), "network a reached network b");
    // ...while the same server answers inside its own network.
    ping(
        Some(&ns_b2),
        SocketAddrV4::new(b.ip, 7200),
        Duration::from_secs(3),
    )
    .unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn network_outbound_traffic_is_masqueraded() {
    let mut env = Env::new("10.213.6.0/24");
    let ns = env.netns();
    let outside = env.netns();
    // The "outside world": a namespace behind its own veth, 10.213.250.0/30.
    outside_link(&mut env, &outside, "10.213.250.1/30", "10.213.250.2/30");

    // A subnet clashing with a host route (here the outside link's) is refused.
    let clash = format!("{}-clash", env.tag);
    let err = env
        .mgr
        .create(&clash, Some("10.213.250.0/24"), None)
        .unwrap_err();
    assert!(format!("{err:#}").contains("host route"), "{err:#}");
    assert!(env.mgr.inspect(&clash).is_err());

    let id = env.container_id();
    let ep = env.connect(&id, "out", "bridge", &ns, &[], None).unwrap();
    let server = echo_server(Some(&outside), 7300);
    ping(
        Some(&ns),
        SocketAddrV4::new(Ipv4Addr::new(10, 213, 250, 2), 7300),
        Duration::from_secs(3),
    )
    .unwrap();
    let peer = server.join().unwrap().unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(Ipv4Addr::new(10, 213, 250, 1)),
        "source rewritten to the host side (container was {})",
        ep.ip
    );
}

#[test]
fn network_release_and_prune_leave_nothing() {
    let mut env = Env::new("10.213.12.0/24");
    let net = env.network("p", "10.213.7.0/24");
    let (ns1, ns2, ns3) = (env.netns(), env.netns(), env.netns());
    let (id1, id2, id3) = (env.container_id(), env.container_id(), env.container_id());
    let ports = parse_publish("127.0.0.1::80").unwrap();

    // release_container removes veth, rules, lease; twice is fine.
    let ep1 = env.connect(&id1, "one", &net, &ns1, &ports, None).unwrap();
    assert!(env
        .mgr
        .firewall()
        .tags()
        .unwrap()
        .iter()
        .any(|t| t.contains(&id1)));
    env.mgr.release_container(&id1).unwrap();
    env.mgr.release_container(&id1).unwrap();
    assert!(!link_exists(&ep1.host_veth));
    assert!(!env
        .mgr
        .firewall()
        .tags()
        .unwrap()
        .iter()
        .any(|t| t.contains(&id1)));
    assert!(env.mgr.inspect(&net).unwrap().endpoints.is_empty());

    // A crashed container: its endpoint is recorded but the container is gone.
    let ep2 = env.connect(&id2, "two", &net, &ns2, &ports, None).unwrap();
    // A lease lost after its endpoint was made (a power cut before the file reached the
    // disk): the state forgets it, the veth and rules stay.
    let ep3 = env
        .connect(&id3, "three", &net, &ns3, &ports, None)
        .unwrap();
    let lease = env
        .root
        .path()
        .join("networks")
        .join(format!("{net}.leases"))
        .join(format!("{}.json", ep3.ip));
    std::fs::remove_file(&lease).unwrap();
    assert!(link_exists(&ep3.host_veth));

    let cleaned = env.mgr.prune_orphans(&[]).unwrap();
    let text = cleaned.join("\n");
    assert!(text.contains(&format!("container {id2}")), "{text}");
    assert!(text.contains(&ep3.host_veth), "{text}");
    for ep in [&ep2, &ep3] {
        assert!(!link_exists(&ep.host_veth), "{}", ep.host_veth);
    }
    let tags = env.mgr.firewall().tags().unwrap();
    assert!(
        !tags.iter().any(|t| t.contains(&id2) || t.contains(&id3)),
        "{tags:?}"
    );
    let info = env.mgr.inspect(&net).unwrap();
    assert!(info.endpoints.is_empty());
    assert!(!link_exists(&info.bridge), "unused bridge removed");
    assert!(
        !tags.iter().any(|t| t.contains(&net)),
        "network rules gone with the bridge"
    );
    // The config survives: the network can be used again.
    let ep = env.connect(&id1, "one", &net, &ns1, &[], None).unwrap();
    assert_eq!(
        ep.ip,
        Ipv4Addr::new(10, 213, 7, 2),
        "freed leases are reused"
    );
}

#[test]
fn network_loopback_up_in_namespace() {
    let mut env = Env::new("10.213.13.0/24");
    let ns = env.netns();
    pier_engine::network::loopback_up_in(&ns).unwrap();
    let server = echo_server(Some(&ns), 7400);
    ping(
        Some(&ns),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7400),
        Duration::from_secs(2),
    )
    .unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn network_iptables_backend_publishes_and_cleans_up() {
    if !iptables_available() {
        return;
    }
    let _host_tables = HostTables::remember();
    let mut env = Env::with_backend("10.213.8.0/24", Backend::Iptables);
    let ns = env.netns();
    let id = env.container_id();
    let ep = env
        .connect(
            &id,
            "ipt",
            "bridge",
            &ns,
            &parse_publish("8081").unwrap(),
            None,
        )
        .unwrap();
    let hp = ep.ports[0].host_port;
    let server = echo_server(Some(&ns), 8081);
    ping(
        None,
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, hp),
        Duration::from_secs(3),
    )
    .unwrap();
    server.join().unwrap().unwrap();
    assert!(env
        .mgr
        .firewall()
        .tags()
        .unwrap()
        .iter()
        .any(|t| t.contains(&id)));
    env.mgr.release_container(&id).unwrap();
    assert!(!env
        .mgr
        .firewall()
        .tags()
        .unwrap()
        .iter()
        .any(|t| t.contains(&id)));
}

#[test]
fn network_connect_without_ports_is_fast() {
    let mut env = Env::new("10.213.14.0/24");
    let (ns1, ns2) = (env.netns(), env.netns());
    let (id1, id2) = (env.container_id(), env.container_id());
    let t = Instant::now();
    env.connect(&id1, "first", "bridge", &ns1, &[], None)
        .unwrap();
    let first = t.elapsed();
    let t = Instant::now();
    let ep = env
        .connect(&id2, "second", "bridge", &ns2, &[], None)
        .unwrap();
    let second = t.elapsed();
    let t = Instant::now();
    env.mgr.disconnect(&id2, "bridge").unwrap();
    let disconnect = t.elapsed();
    eprintln!(
        "connect (bridge + rules created): {first:?}; connect (bridge up): {second:?}; \
         disconnect: {disconnect:?}"
    );
    assert!(!link_exists(&ep.host_veth));
    // Generous bound (a loaded 2-core machine); typical is a few milliseconds.
    assert!(
        second < pier_testkit::time::scaled(Duration::from_millis(500)),
        "{second:?}"
    );
}

#[test]
fn network_published_udp_port_reachable_from_loopback() {
    let mut env = Env::new("10.213.15.0/24");
    let ns = env.netns();
    let id = env.container_id();
    let ep = env
        .connect(
            &id,
            "dns",
            "bridge",
            &ns,
            &parse_publish("127.0.0.1::5353/udp").unwrap(),
            None,
        )
        .unwrap();
    let hp = ep.ports[0].host_port;
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        netns::enter(&ns, move || {
            let sock = std::net::UdpSocket::bind("0.0.0.0:5353")?;
            sock.set_read_timeout(Some(Duration::from_secs(5)))?;
            tx.send(()).unwrap();
            let mut buf = [0u8; 16];
            let (n, peer) = sock.recv_from(&mut buf)?;
            sock.send_to(&buf[..n], peer)?;
            Ok(())
        })
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    client.send_to(b"q", ("127.0.0.1", hp)).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = client
        .recv_from(&mut buf)
        .expect("udp echo through the published port");
    assert_eq!(&buf[..n], b"q");
    server.join().unwrap().unwrap();
}

/// Drops `env` (pier's own clean-up runs first) and checks that no rule or chain of its
/// firewall table is left in the host's ruleset (iptables-nft chains show there too).
fn assert_nothing_left(env: Env) {
    let table = format!("pier{}", env.tag);
    drop(env);
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft list ruleset");
    let ruleset = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        !ruleset.contains(&table),
        "rules of {table} left behind:\n{ruleset}"
    );
}

/// moby#41872: a port published on 127.0.0.1 only must not be reachable from another machine
/// that sends packets for 127.0.0.1 to the host. The "LAN machine" is a namespace behind a
/// veth that routes 127.0.0.1 via the host; a port published on all addresses is the control.
fn loopback_published_port_stays_local(
    backend: Backend,
    subnet: &str,
    host_cidr: &str,
    lan_cidr: &str,
) {
    let mut env = Env::with_backend(subnet, backend);
    let (ns, lan) = (env.netns(), env.netns());
    outside_link(&mut env, &lan, host_cidr, lan_cidr);
    let addr_of = |cidr: &str| -> Ipv4Addr { cidr.split('/').next().unwrap().parse().unwrap() };
    let (host_addr, lan_addr) = (addr_of(host_cidr), addr_of(lan_cidr));
    route_loopback_via(&lan, host_addr);
    let id = env.container_id();
    let mut ports = parse_publish("127.0.0.1::8090").unwrap();
    ports.extend(parse_publish("8091").unwrap());
    let ep = env
        .connect(&id, "local-only", "bridge", &ns, &ports, None)
        .unwrap();
    let (local_port, public_port) = (ep.ports[0].host_port, ep.ports[1].host_port);

    let server = echo_server(Some(&ns), 8090);
    let local = SocketAddrV4::new(Ipv4Addr::LOCALHOST, local_port);
    let escape = ping(Some(&lan), local, Duration::from_secs(1));
    assert!(
        escape.is_err(),
        "a LAN machine reached {local}, published on loopback only"
    );
    ping(None, local, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("host -> {local} -> container:8090: {e:#}"));
    let peer = server.join().unwrap().unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(ep.gateway),
        "the one client served is the host's own"
    );

    // Control: the same machine reaches a port published on every address (so the attempt
    // above failed because of the rule, not because the LAN path is broken).
    let server = echo_server(Some(&ns), 8091);
    let public = SocketAddrV4::new(host_addr, public_port);
    ping(Some(&lan), public, Duration::from_secs(3)).unwrap_or_else(|e| {
        panic!(
            "LAN -> {public} -> container:8091: {e:#} (host {})",
            forward_policy()
        )
    });
    let peer = server.join().unwrap().unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(lan_addr),
        "no NAT of the source"
    );
    assert_nothing_left(env);
}

#[test]
fn network_loopback_published_port_unreachable_from_lan() {
    loopback_published_port_stays_local(
        Backend::Nftables,
        "10.213.16.0/24",
        "10.213.251.1/30",
        "10.213.251.2/30",
    );
}

#[test]
fn network_iptables_loopback_published_port_unreachable_from_lan() {
    if !iptables_available() {
        return;
    }
    let _host_tables = HostTables::remember();
    loopback_published_port_stays_local(
        Backend::Iptables,
        "10.213.18.0/24",
        "10.213.251.5/30",
        "10.213.251.6/30",
    );
}

/// CVE-2020-8558 class: pier sets `route_localnet=1` on its bridges (the host's own
/// `127.0.0.1:PORT` is DNATed to containers), which would let a container with CAP_NET_ADMIN
/// route 127.0.0.1 via its gateway and reach services listening on the host's loopback
/// only. The "container" is a namespace on the bridge; the host services are the test's.
fn bridge_cannot_reach_host_loopback(backend: Backend, subnet: &str) {
    let mut env = Env::with_backend(subnet, backend);
    let ns = env.netns();
    let id = env.container_id();
    let ep = env
        .connect(&id, "intruder", "bridge", &ns, &[], None)
        .unwrap();
    route_loopback_via(&ns, ep.gateway);

    // Control: a host service on the gateway address answers the container.
    let wait = Duration::from_secs(3);
    let (open_port, open) = echo_server_at(None, SocketAddrV4::new(ep.gateway, 0), wait);
    ping(
        Some(&ns),
        SocketAddrV4::new(ep.gateway, open_port),
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("container -> {}:{open_port}: {e:#}", ep.gateway));
    open.join().unwrap().unwrap();

    // The target: a host service on 127.0.0.1 only.
    let (secret_port, secret) =
        echo_server_at(None, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), wait);
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, secret_port);
    let escape = ping(Some(&ns), target, Duration::from_secs(1));
    assert!(
        escape.is_err(),
        "a container reached the host's {target} through the bridge"
    );
    let served = secret.join().unwrap();
    assert!(
        served.is_err(),
        "the host's loopback service accepted {served:?}"
    );
    // The guard goes with the network's other rules (found by their tag).
    env.mgr.release_container(&id).unwrap();
    env.mgr.firewall().network_down("bridge").unwrap();
    let tags = env.mgr.firewall().tags().unwrap();
    assert!(tags.is_empty(), "{tags:?}");
    assert_nothing_left(env);
}

#[test]
fn network_bridge_cannot_reach_host_loopback() {
    bridge_cannot_reach_host_loopback(Backend::Nftables, "10.213.17.0/24");
}

#[test]
fn network_iptables_bridge_cannot_reach_host_loopback() {
    if !iptables_available() {
        return;
    }
    let _host_tables = HostTables::remember();
    bridge_cannot_reach_host_loopback(Backend::Iptables, "10.213.19.0/24");
}
