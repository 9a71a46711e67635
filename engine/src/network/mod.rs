//! Container networking: bridge networks, veth pairs, IP leases, NAT, published ports and
//! name resolution between containers.
//!
//! The engine creates a container's network namespace ([`pier_oci::netns::create`]), then calls
//! [`NetworkManager::connect`] before starting the container's process, and
//! [`NetworkManager::release_container`] when the container is deleted.
//!
//! The pieces, one file each:
//! - `bridge`, `veth`: netlink requests (no `ip` process on the start-up path), sent with
//!   [`pier_oci::netlink`]; persistent network namespaces are [`pier_oci::netns`];
//! - [`ipam`]: subnets and address allocation;
//! - [`lease`]: the leases, one file per address under `<root>/networks/<name>.leases/`, so
//!   a join or leave reads and writes no record but its own; the network's own
//!   `<name>.json` holds only its config;
//! - [`nat`]: masquerade, published-port DNAT and isolation in pier's own firewall table;
//! - [`portmap`]: `-p`/`-P` parsing and host port reservation;
//! - [`hosts`]: managed `/etc/hosts` blocks for name resolution.
//!
//! Host-wide change: connecting turns on `net.ipv4.ip_forward` (as Docker does).

mod bridge;
pub mod hosts;
pub mod ipam;
mod lease;
pub mod nat;
pub mod pending;
pub mod portmap;
mod veth;

pub use portmap::{parse_publish, publish_all, PortMapping, Protocol};
pub use veth::loopback_up_in;

use anyhow::{bail, Context, Result};
use ipam::Subnet;
use lease::{Held, Leases};
use nat::{Backend, Firewall, NetRules};
use pier_oci::netlink::Netlink;
use pier_oci::persist::{self, Lock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The host-wide lock held while a subnet is picked for a new network and its bridge made.
const SUBNET_LOCK: &str = "/run/pier/subnets.lock";

/// Name of the network containers join when none is given.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Tunables of a [`NetworkManager`]; [`Options::default`] is what `pier` uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// Subnet of the default network (`10.88.0.0/16`).
    pub default_subnet: String,
    /// Bridge of the default network (`pier0`); must start with `pier`.
    pub default_bridge: String,
    /// nftables table (`ip pier`) or iptables chain prefix (`PIER-`).
    pub firewall_table: String,
    /// Firewall backend; `None` picks nftables when `nft` is installed, else iptables.
    pub backend: Option<Backend>,
    /// Mixed into user networks' bridge names, so two state roots that both create a network
    /// `labnet` get two bridges.
    pub bridge_salt: String,
}

impl Options {
    /// The options for a state root. The installation's default root `default_root` (the
    /// engine's `/var/lib/pier`, passed in by the caller) gets Docker-like names: bridge
    /// `pier0`, 10.88.0.0/16, nft table `ip pier`. Any other root (a test's, a lab's, a second
    /// installation) is a separate world with its own bridge, subnet and table derived from a
    /// hash of its path, since each root keeps its own address leases: sharing `pier0` would
    /// hand out the same address twice.
    pub fn for_root(root: &Path, default_root: &Path) -> Options {
        if root == default_root {
            return Options::default();
        }
        let h = Sha256::digest(root.to_string_lossy().as_bytes());
        let tag = hex::encode(&h[..3]);
        Options {
            default_subnet: ipam::root_pool_subnet(u32::from(h[3] % 50) * 256 + u32::from(h[4]))
                .to_string(),
            default_bridge: format!("pier{tag}"),
            firewall_table: format!("pier_{tag}"),
            backend: None,
            bridge_salt: tag,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_subnet: ipam::DEFAULT_SUBNET.to_string(),
            default_bridge: "pier0".to_string(),
            firewall_table: "pier".to_string(),
            backend: None,
            bridge_salt: String::new(),
        }
    }
}

/// A container's attachment to one network, as the engine needs it (for the container's
/// state and `inspect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Network name.
    pub network: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// Prefix length of the network.
    pub prefix: u8,
    /// Default gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// MAC address of the container's `eth0`.
    pub mac: String,
    /// Name of the host end of the veth pair.
    pub host_veth: String,
    /// Published ports, with host ports picked.
    pub ports: Vec<PortMapping>,
}

/// What the engine passes to [`NetworkManager::connect`].
pub struct ConnectRequest<'a> {
    /// Container id (full; the first characters name the veth).
    pub container_id: &'a str,
    /// Container name (resolvable by the other containers of user networks).
    pub container_name: &'a str,
    /// Network to join ([`DEFAULT_NETWORK`] for the default one).
    pub network: &'a str,
    /// The container's network namespace (a bind mount or `/proc/<pid>/ns/net`).
    pub netns_path: &'a Path,
    /// Ports to publish (`host_port` 0 = pick a free one).
    pub ports: &'a [PortMapping],
    /// The container's hosts file on the host, rewritten in place with the network's names.
    pub hosts_file: Option<&'a Path>,
    /// Whether `hosts_file` may become a link to the network's shared hosts file: the
    /// container is not running yet, this is its only network, and its `/etc/hosts` is
    /// mounted read-only (see [`hosts`]).
    pub share_hosts: bool,
    /// Extra names for this container on this network.
    pub aliases: &'a [String],
}

/// One endpoint as [`NetworkManager::inspect`] shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// Container id.
    pub container_id: String,
    /// Container name.
    pub container_name: String,
    /// Address, MAC, veth, ports.
    pub endpoint: Endpoint,
}

/// A network as listed and inspected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Name.
    pub name: String,
    /// Subnet, CIDR.
    pub subnet: String,
    /// Gateway (the bridge's address).
    pub gateway: Ipv4Addr,
    /// Bridge interface.
    pub bridge: String,
    /// Attached containers.
    pub endpoints: Vec<EndpointInfo>,
    /// `--label` values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What is recorded about an endpoint (one lease file): the public part plus what release
/// needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EndpointRecord {
    /// The container (the key of the map older state files kept, hence the default).
    #[serde(default)]
    container_id: String,
    container_name: String,
    aliases: Vec<String>,
    netns_path: PathBuf,
    hosts_file: Option<PathBuf>,
    /// `hosts_file` is a link to the network's shared hosts file, not a file of its own.
    #[serde(default)]
    hosts_shared: bool,
    endpoint: Endpoint,
}

impl EndpointRecord {
    /// The hosts-file line of this endpoint: container name, short id, aliases.
    fn host_entry(&self) -> hosts::HostEntry {
        let mut names = vec![self.container_name.clone()];
        let short: String = self.container_id.chars().take(12).collect();
        if short != self.container_name {
            names.push(short);
        }
        names.extend(self.aliases.iter().cloned());
        hosts::HostEntry {
            ip: self.endpoint.ip,
            names,
        }
    }
}

/// A network's state file `<root>/networks/<name>.json`: its config. Its leases are files of
/// their own ([`lease`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NetworkState {
    name: String,
    subnet: String,
    gateway: Ipv4Addr,
    bridge: String,
    /// The endpoints an older pier kept in this file, read once to be moved to lease files
    /// ([`NetworkManager::migrate`]) and never written again.
    #[serde(default, rename = "endpoints", skip_serializing)]
    legacy_endpoints: BTreeMap<String, EndpointRecord>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// How a join or leave changes a network's hosts block.
enum HostsChange {
    /// An endpoint joined (its line replaces any line of the same address).
    Join(hosts::HostEntry),
    /// The endpoint of this address left.
    Leave(Ipv4Addr),
    /// The whole block, rebuilt from the records (migration, repair).
    Rebuild(Vec<hosts::HostEntry>),
}

impl NetworkState {
    fn subnet(&self) -> Result<Subnet> {
        self.subnet
            .parse()
            .with_context(|| format!("network {}: stored subnet", self.name))
    }

    /// The network as listed, with `records` (its leases, in address order).
    fn info(&self, records: Vec<EndpointRecord>) -> NetworkInfo {
        NetworkInfo {
            name: self.name.clone(),
            subnet: self.subnet.clone(),
            gateway: self.gateway,
            bridge: self.bridge.clone(),
            endpoints: records
                .into_iter()
                .map(|r| EndpointInfo {
                    container_id: r.container_id,
                    container_name: r.container_name,
                    endpoint: r.endpoint,
                })
                .collect(),
            labels: self.labels.clone(),
        }
    }
}

/// Short hex digest used in interface names.
fn short_hash(s: &str, len: usize) -> String {
    let digest = hex::encode(Sha256::digest(s.as_bytes()));
    digest[..len].to_string()
}

/// Host veth name: `pier` + 8 characters of the container id + 3 hex of the network name
/// (15 bytes, the kernel's limit), so one container can be on several networks.
fn host_veth_name(container_id: &str, network: &str) -> String {
    let id: String = container_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("pier{id}{}", short_hash(network, 3))
}

/// Network names: what Docker accepts, and nothing that breaks a file name or a rule comment.
fn validate_name(name: &str) -> Result<()> {
    crate::naming::check("network", name, 1, 64)
}

/// Container ids end up in interface names and rule comments: keep them plain.
fn validate_container_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("invalid container id {id:?} for networking: expected 1-64 letters/digits");
    }
    Ok(())
}

/// Refuses a subnet that overlaps a route of the host (other than the default route and the
/// routes of `own_bridge`): a pier bridge there would hijack traffic meant for a real LAN.
fn check_host_routes(nl: &mut Netlink, subnet: &Subnet, own_bridge: Option<&str>) -> Result<()> {
    let own = match own_bridge {
        Some(name) => nl.link_index(name)?,
        None => None,
    };
    for (dst, prefix, oif) in nl.main_routes_v4()? {
        if prefix == 0 || (own.is_some() && oif == own) {
            continue;
        }
        // The kernel stores route destinations with host bits cleared.
        let route = Subnet { addr: dst, prefix };
        if route.overlaps(subnet) {
            bail!("subnet {subnet} overlaps the host route {dst}/{prefix}; choose another subnet");
        }
    }
    Ok(())
}

/// Removes the bridges and firewall tables of state roots that no longer exist (a test's or
/// lab's temporary root deleted without `pier system prune`). Such a bridge still routes its
/// subnet, so a later root whose subnet overlaps it would be refused. Bridges are recognised
/// by the root recorded in their alias, never by name alone; `default_root` is as in
/// [`Options::for_root`].
fn collect_abandoned_roots(nl: &mut Netlink, default_root: &Path) -> Result<Vec<String>> {
    let mut cleaned = Vec::new();
    for link in nl.links()? {
        let Some(root) = link
            .alias
            .as_deref()
            .and_then(|a| a.strip_prefix(bridge::ROOT_ALIAS_PREFIX))
        else {
            continue;
        };
        let root = Path::new(root);
        if root.join("networks").exists() {
            continue;
        }
        if nl.delete_link(&link.name)? {
            cleaned.push(format!(
                "bridge {} of deleted state root {}",
                link.name,
                root.display()
            ));
        }
        let table = Options::for_root(root, default_root).firewall_table;
        let firewall = Firewall::detect(&table);
        if !firewall.tags().unwrap_or_default().is_empty() {
            firewall.destroy()?;
            cleaned.push(format!(
                "firewall table {table} of deleted state root {}",
                root.display()
            ));
        }
    }
    Ok(cleaned)
}

/// pier's networks, their bridges, leases and firewall rules.
pub struct NetworkManager {
    dir: PathBuf,
    default_root: PathBuf,
    options: Options,
    firewall: Firewall,
}

impl NetworkManager {
    /// Opens (creating if needed) the network state under `<root>/networks`, with the
    /// options of that root ([`Options::for_root`]; `default_root` is the installation's
    /// default state root, the engine's `DEFAULT_ROOT`).
    pub fn open(root: &Path, default_root: &Path) -> Result<NetworkManager> {
        NetworkManager::open_with(root, default_root, Options::for_root(root, default_root))
    }

    /// Like [`NetworkManager::open`] with explicit [`Options`] (tests use their own bridge,
    /// subnet and firewall table).
    pub fn open_with(root: &Path, default_root: &Path, options: Options) -> Result<NetworkManager> {
        let default_subnet: Subnet = options
            .default_subnet
            .parse()
            .context("default network subnet")?;
        if !options.default_bridge.starts_with(nat::BRIDGE_PREFIX)
            || options.default_bridge.len() > 15
        {
            bail!(
                "default bridge name {:?} must start with {:?} and fit in 15 bytes",
                options.default_bridge,
                nat::BRIDGE_PREFIX
            );
        }
        let dir = root.join("networks");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let firewall = match options.backend {
            Some(b) => Firewall::with_backend(&options.firewall_table, b),
            None => Firewall::detect(&options.firewall_table),
        };
        let mgr = NetworkManager {
            dir,
            default_root: default_root.to_path_buf(),
            options,
            firewall,
        };
        let _lock = mgr.lock()?;
        if !mgr.state_path(DEFAULT_NETWORK).exists() {
            // The default network's config exists from the start (so `network ls` shows it);
            // its bridge is created on first connect.
            let state = NetworkState {
                name: DEFAULT_NETWORK.to_string(),
                subnet: default_subnet.to_string(),
                gateway: default_subnet.first_host(),
                bridge: mgr.options.default_bridge.clone(),
                legacy_endpoints: BTreeMap::new(),
                labels: BTreeMap::new(),
            };
            mgr.save(&state)?;
        }
        for state in mgr.load_all()? {
            if !state.legacy_endpoints.is_empty() {
                mgr.migrate(state)?;
            }
        }
        Ok(mgr)
    }

    /// Moves the endpoints of a state file written by an older pier (one JSON file per
    /// network, with every endpoint in it) to lease files, under the networks lock. Each
    /// lease is written first (skipped if a migration cut short wrote it already: the address
    /// names the file, so nothing is duplicated), then the network's hosts block is rebuilt,
    /// and only then is the state file rewritten without its endpoints: a crash at any point
    /// loses no lease, and the next `open` completes the move.
    fn migrate(&self, mut state: NetworkState) -> Result<()> {
        let leases = self.leases();
        let mut entries = Vec::new();
        for (id, mut record) in std::mem::take(&mut state.legacy_endpoints) {
            record.container_id = id;
            leases
                .adopt(&record)
                .with_context(|| format!("moving the leases of network {}", state.name))?;
            if let Some(own) = record.hosts_file.as_ref().filter(|_| !record.hosts_shared) {
                leases.set_private_hosts(&state.name, &record.container_id, Some(own))?;
            }
            entries.push(record.host_entry());
        }
        entries.sort_by_key(|e| e.ip);
        self.update_hosts(&state.name, HostsChange::Rebuild(entries), None);
        self.save(&state)
    }

    /// The firewall this manager programs (tests inspect its tags).
    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    fn lock(&self) -> Result<Lock> {
        Lock::exclusive(&self.dir.join(".lock"))
    }

    fn leases(&self) -> Leases<'_> {
        Leases { dir: &self.dir }
    }

    /// A network as listed: its config and the records of its leases.
    fn info(&self, state: &NetworkState) -> Result<NetworkInfo> {
        Ok(state.info(self.leases().records(&state.name)?))
    }

    fn state_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The hosts file shared by the containers whose only network is `name`.
    fn shared_hosts_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.hosts"))
    }

    fn load(&self, name: &str) -> Result<Option<NetworkState>> {
        let path = self.state_path(name);
        if !path.exists() {
            return Ok(None);
        }
        persist::read_json(&path).map(Some)
    }

    fn load_existing(&self, name: &str) -> Result<NetworkState> {
        validate_name(name)?;
        self.load(name)?
            .with_context(|| format!("no such network: {name}"))
    }

    fn load_all(&self) -> Result<Vec<NetworkState>> {
        let mut all = Vec::new();
        for entry in
            fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", self.dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json") {
                if !stem.starts_with('.') {
                    all.push(persist::read_json(&entry.path())?);
                }
            }
        }
        all.sort_by(|a: &NetworkState, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Saves a network's configuration durably (fsync: `network create`).
    fn save(&self, state: &NetworkState) -> Result<()> {
        persist::write_json_atomic(&self.state_path(&state.name), state)
    }

    /// Creates a user-defined bridge network. `subnet` defaults to a free 10.89.N.0/24,
    /// `gateway` to the subnet's first address; a picked subnet gets its bridge at once (its
    /// route marks the subnet taken for every other state root). Errors: bad name or CIDR,
    /// name taken, subnet overlapping another pier network.
    pub fn create(
        &self,
        name: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
    ) -> Result<NetworkInfo> {
        self.create_labelled(name, subnet, gateway, BTreeMap::new())
    }

    /// [`NetworkManager::create`] with `--label` values.
    pub fn create_labelled(
        &self,
        name: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<NetworkInfo> {
        validate_name(name)?;
        let _lock = self.lock()?;
        if self.load(name)?.is_some() {
            bail!("network {name} already exists");
        }
        let existing = self.load_all()?;
        let taken: Vec<Subnet> = existing
            .iter()
            .map(NetworkState::subnet)
            .collect::<Result<_>>()?;
        // A subnet pier picks must be free on the whole host, and other state roots (tests,
        // labs) pick from the same pool: hold a host-wide lock from the choice until the
        // bridge exists, so its route tells the next chooser that the subnet is taken.
        let auto = subnet.is_none();
        let _host_lock = if auto {
            Some(Lock::exclusive(Path::new(SUBNET_LOCK))?)
        } else {
            None
        };
        let subnet = match subnet {
            Some(s) => {
                let s: Subnet = s.parse()?;
                if let Some(other) = existing.iter().zip(&taken).find(|(_, t)| t.overlaps(&s)) {
                    bail!("subnet {s} overlaps network {} ({})", other.0.name, other.1);
                }
                s
            }
            None => {
                // Skip subnets the host already routes (another state root's networks).
                let mut nl = Netlink::open()?;
                let mut avoid = taken.clone();
                avoid.extend(
                    nl.main_routes_v4()?
                        .into_iter()
                        .filter(|r| r.1 > 0)
                        .map(|(addr, prefix, _)| Subnet { addr, prefix }),
                );
                ipam::auto_subnet(&avoid)?
            }
        };
        check_host_routes(&mut Netlink::open()?, &subnet, None)?;
        let gateway = match gateway {
            Some(g) => ipam::parse_gateway(&subnet, g)?,
            None => subnet.first_host(),
        };
        let bridge = format!(
            "{}-{}",
            nat::BRIDGE_PREFIX,
            short_hash(&format!("{}{name}", self.options.bridge_salt), 8)
        );
        if let Some(other) = existing.iter().find(|n| n.bridge == bridge) {
            bail!(
                "bridge name {bridge} of network {name} collides with network {}",
                other.name
            );
        }
        let state = NetworkState {
            name: name.to_string(),
            subnet: subnet.to_string(),
            gateway,
            bridge,
            legacy_endpoints: BTreeMap::new(),
            labels,
        };
        self.save(&state)?;
        if auto {
            let up = Netlink::open().and_then(|mut nl| self.bring_up(&mut nl, &state, &subnet));
            if let Err(e) = up {
                let _ = fs::remove_file(self.state_path(name));
                return Err(e.context(format!("creating the bridge of network {name}")));
            }
        }
        Ok(state.info(Vec::new()))
    }

    /// Every network, the default one included.
    pub fn list(&self) -> Result<Vec<NetworkInfo>> {
        self.load_all()?.iter().map(|n| self.info(n)).collect()
    }

    /// One network with its endpoints.
    pub fn inspect(&self, name: &str) -> Result<NetworkInfo> {
        self.info(&self.load_existing(name)?)
    }

    /// Removes a user network: refused while containers are attached; deletes its bridge,
    /// its firewall rules and its state file.
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == DEFAULT_NETWORK {
            bail!("{DEFAULT_NETWORK} is pier's default network and cannot be removed");
        }
        let _lock = self.lock()?;
        let state = self.load_existing(name)?;
        let leases = self.leases();
        if leases.any(name)? {
            let ids: Vec<String> = leases
                .all(name)?
                .into_iter()
                .map(|(ip, r)| {
                    r.map_or_else(|| format!("unreadable lease {ip}"), |r| r.container_id)
                })
                .collect();
            bail!(
                "network {name} has active endpoints ({}); disconnect them first",
                ids.join(", ")
            );
        }
        let mut nl = Netlink::open()?;
        bridge::remove(&mut nl, &state.bridge)?;
        self.firewall.network_down(name)?;
        // The last network with rules gone, the root's table (nft) and its FORWARD chain
        // (iptables, beside nft) go too, as `system prune` does: nothing of pier is left in
        // the firewall. The next network to come up makes them again.
        if self.firewall.tags()?.is_empty() {
            self.firewall.destroy()?;
        }
        let shared = self.shared_hosts_path(name);
        if let Err(e) = fs::remove_file(&shared) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e).with_context(|| format!("removing {}", shared.display()));
            }
        }
        leases.remove_network(name)?;
        let path = self.state_path(name);
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))
    }

    /// Attaches a container's network namespace to a network: leases an address, creates the
    /// bridge on first use, a veth pair (`eth0` inside, with address, `lo` up and default
    /// route), the published-port rules, and updates the hosts files of the network. Port
    /// conflicts are detected before anything is created; on any failure nothing is left.
    ///
    /// What it reads grows with the network only where that cannot be avoided: the names of
    /// the lease files (the free address), the shared hosts file (rewritten with one more
    /// line), and, for a container publishing ports, the records of the endpoints (whose
    /// ports are taken).
    pub fn connect(&self, req: &ConnectRequest) -> Result<Endpoint> {
        validate_container_id(req.container_id)?;
        validate_name(req.network)?;
        let _lock = self.lock()?;
        let all = self.load_all()?;
        let mut net = all
            .iter()
            .find(|n| n.name == req.network)
            .cloned()
            .with_context(|| format!("no such network: {}", req.network))?;
        let leases = self.leases();
        if leases.lookup(req.container_id, req.network)?.is_some() {
            bail!(
                "container {} is already connected to network {}",
                req.container_id,
                req.network
            );
        }
        // One container, one hosts file: a container already on a network keeps the file
        // its endpoints there name (its own copy once a running container stopped sharing).
        let mut hosts_file = req.hosts_file.map(Path::to_path_buf);
        if let Some(other) = leases.of_container(req.container_id)?.first() {
            if other.hosts_shared {
                bail!(
                    "container {} reads the shared hosts file of another network; it must get \
                     its own before joining {}",
                    req.container_id,
                    req.network
                );
            }
            if hosts_file.is_some() && other.hosts_file.is_some() {
                hosts_file.clone_from(&other.hosts_file);
            }
        }
        let share_hosts = req.share_hosts && hosts_file.is_some();
        let mut taken: Vec<(PortMapping, String)> = Vec::new();
        if !req.ports.is_empty() {
            for n in &all {
                for r in leases.records(&n.name)? {
                    taken.extend(
                        r.endpoint
                            .ports
                            .iter()
                            .map(|p| (*p, r.container_id.clone())),
                    );
                }
            }
        }
        let ports = portmap::reserve(req.ports, &taken)
            .with_context(|| format!("publishing ports of container {}", req.container_id))?;
        let mut nl = Netlink::open()?;
        let _host_lock = self.move_default_off_host_routes(&mut nl, &mut net, &all)?;
        let subnet = net.subnet()?;
        let host_veth = host_veth_name(req.container_id, req.network);
        let mut record =
            leases.claim(&net.name, &subnet, net.gateway, req.container_id, &|ip| {
                EndpointRecord {
                    container_id: req.container_id.to_string(),
                    container_name: req.container_name.to_string(),
                    aliases: req.aliases.to_vec(),
                    netns_path: req.netns_path.to_path_buf(),
                    hosts_file: hosts_file.clone(),
                    hosts_shared: share_hosts,
                    endpoint: Endpoint {
                        network: net.name.clone(),
                        ip,
                        prefix: subnet.prefix,
                        gateway: net.gateway,
                        mac: veth::mac_string(&veth::mac_for(ip)),
                        host_veth: host_veth.clone(),
                        ports: ports.clone(),
                    },
                }
            })?;
        let ip = record.endpoint.ip;

        let finish = (|| -> Result<()> {
            nat::enable_ip_forward()?;
            self.bring_up(&mut nl, &net, &subnet)?;
            let (bridge_index, mtu) = bridge::index_and_mtu(&mut nl, &net.bridge)?;
            veth::attach(
                &mut nl,
                &veth::VethSpec {
                    host_name: &host_veth,
                    bridge_index,
                    mtu,
                    netns_path: req.netns_path,
                    mac: veth::mac_for(ip),
                    ip,
                    prefix: subnet.prefix,
                    gateway: net.gateway,
                },
            )
            .with_context(|| {
                format!("connecting container {} to {}", req.container_id, net.name)
            })?;
            self.firewall
                .add_ports(req.container_id, &net.name, ip, &ports)?;
            // The shared file (one write) and the peers that have files of their own.
            let entries = self.update_hosts(
                &net.name,
                HostsChange::Join(record.host_entry()),
                Some(req.container_id),
            );
            if let Some(own) = &hosts_file {
                let shared = self.shared_hosts_path(&net.name);
                if !share_hosts || hosts::link_shared(&shared, own).is_err() {
                    if record.hosts_shared {
                        record.hosts_shared = false;
                        leases.rewrite(&record)?;
                    }
                    leases.set_private_hosts(&net.name, req.container_id, Some(own))?;
                    hosts::write_block(own, &net.name, &entries)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = finish {
            let _ = nl.delete_link(&host_veth);
            if !ports.is_empty() {
                let _ = self
                    .firewall
                    .remove_container(req.container_id, Some(&net.name));
            }
            self.update_hosts(&net.name, HostsChange::Leave(ip), None);
            let _ = leases.remove(&net.name, ip, req.container_id);
            return Err(e);
        }
        Ok(record.endpoint)
    }

    /// The default network of a state root other than the installation's takes its subnet
    /// from a hash of the root's path, so it can land on a subnet the host already routes (a
    /// LAN, or another root's bridge that hashed alike). Before its bridge first comes up, with
    /// no container on it, it moves to the next free /24 of the same pool, as Docker picks a
    /// free pool for its default bridge. The returned host-wide lock is held until the bridge
    /// exists, so that its route tells the next chooser the subnet is taken.
    fn move_default_off_host_routes(
        &self,
        nl: &mut Netlink,
        net: &mut NetworkState,
        all: &[NetworkState],
    ) -> Result<Option<Lock>> {
        if net.name != DEFAULT_NETWORK
            || self.options.bridge_salt.is_empty()
            || self.leases().any(&net.name)?
            || nl.link_index(&net.bridge)?.is_some()
        {
            return Ok(None);
        }
        let lock = Lock::exclusive(Path::new(SUBNET_LOCK))?;
        let current = net.subnet()?;
        let mut avoid: Vec<Subnet> = nl
            .main_routes_v4()?
            .into_iter()
            .filter(|r| r.1 > 0)
            .map(|(addr, prefix, _)| Subnet { addr, prefix })
            .collect();
        if avoid.iter().all(|r| !r.overlaps(&current)) {
            return Ok(Some(lock));
        }
        avoid.extend(
            all.iter()
                .filter(|n| n.name != net.name)
                .filter_map(|n| n.subnet().ok()),
        );
        let moved = ipam::next_free_in_root_pool(&current, &avoid).with_context(|| {
            format!(
                "default network {}: subnet {current} is routed by the host",
                net.name
            )
        })?;
        net.subnet = moved.to_string();
        net.gateway = moved.first_host();
        self.save(net)?;
        Ok(Some(lock))
    }

    /// Creates the bridge of `net` and its firewall rules, if the bridge is missing.
    fn bring_up(&self, nl: &mut Netlink, net: &NetworkState, subnet: &Subnet) -> Result<()> {
        if nl.link_index(&net.bridge)?.is_none() {
            // Routes change over time (a VPN, a new LAN): check again when the bridge appears.
            check_host_routes(nl, subnet, Some(&net.bridge))?;
        }
        if bridge::ensure(
            nl,
            &net.bridge,
            net.gateway,
            subnet.prefix,
            self.dir.parent().unwrap_or(&self.dir),
        )? {
            let rules = NetRules {
                name: &net.name,
                bridge: &net.bridge,
                subnet: &net.subnet,
            };
            if let Err(e) = self.firewall.network_up(&rules) {
                let _ = bridge::remove(nl, &net.bridge);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Changes the block of `network` in its shared hosts file, which holds the network's
    /// names whether or not an endpoint links to it (the join reads the block there, not
    /// every endpoint's record), then writes the block to the endpoints with hosts files of
    /// their own (except `skip`). Returns the new block. A file that cannot be written (its
    /// container is gone) must not fail the caller; a repair ([`Self::prune_orphans`])
    /// rebuilds the block from the records.
    fn update_hosts(
        &self,
        network: &str,
        change: HostsChange,
        skip: Option<&str>,
    ) -> Vec<hosts::HostEntry> {
        let shared = self.shared_hosts_path(network);
        let edited = hosts::edit_block(&shared, network, |entries| {
            match change {
                HostsChange::Rebuild(all) => *entries = all,
                HostsChange::Join(entry) => {
                    entries.retain(|e| e.ip != entry.ip);
                    entries.push(entry);
                }
                HostsChange::Leave(ip) => entries.retain(|e| e.ip != ip),
            }
            // Address order: addresses are leased lowest first, so a join mostly appends.
            entries.sort_by_key(|e| e.ip);
        });
        // The shared file unreadable: the peers keep their names until a repair.
        let Ok(entries) = edited else {
            return Vec::new();
        };
        for (id, path) in self.leases().private_hosts(network).unwrap_or_default() {
            if Some(id.as_str()) != skip {
                let _ = hosts::write_block(&path, network, &entries);
            }
        }
        entries
    }

    /// Before a running container joins or leaves a network: if its hosts file is a link to
    /// a network's shared file, gives it a file of its own with the same names, which
    /// `mount` (the caller's) puts over the container's `/etc/hosts`; its endpoints then
    /// have private files, updated one by one. If `mount` fails, nothing has changed.
    pub fn privatize_hosts(
        &self,
        container_id: &str,
        mount: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<()> {
        let _lock = self.lock()?;
        let leases = self.leases();
        let mine = leases.of_container(container_id)?;
        let Some(own) = mine
            .iter()
            .find_map(|r| r.hosts_file.clone().filter(|_| r.hosts_shared))
        else {
            return Ok(());
        };
        let mut blocks: Vec<(&str, Vec<hosts::HostEntry>)> = Vec::new();
        for r in &mine {
            let network = r.endpoint.network.as_str();
            blocks.push((
                network,
                hosts::read_block(&self.shared_hosts_path(network), network)?,
            ));
        }
        let private = hosts::write_private(&own, &hosts::render(&blocks), mount)
            .with_context(|| format!("giving container {container_id} a hosts file of its own"))?;
        for mut r in mine {
            r.hosts_shared = false;
            r.hosts_file = Some(private.clone());
            leases.rewrite(&r)?;
            leases.set_private_hosts(&r.endpoint.network, container_id, Some(&private))?;
        }
        Ok(())
    }

    /// Releases what `container_id` holds on `network` (kernel objects, rules, hosts
    /// entries), then its lease. Returns whether there was an endpoint.
    fn release_in(&self, nl: &mut Netlink, network: &str, container_id: &str) -> Result<bool> {
        let Some(held) = self.leases().lookup(container_id, network)? else {
            return Ok(false);
        };
        self.release_held(nl, network, container_id, held)?;
        Ok(true)
    }

    /// [`Self::release_in`] of a lease already found. An unreadable record (cut short by a
    /// power loss) still names the veth (derived from container and network) and the rules
    /// (tagged with both).
    fn release_held(
        &self,
        nl: &mut Netlink,
        network: &str,
        container_id: &str,
        held: Held,
    ) -> Result<()> {
        match &held.record {
            Some(record) => {
                nl.delete_link(&record.endpoint.host_veth)?;
                if !record.endpoint.ports.is_empty() {
                    self.firewall
                        .remove_container(container_id, Some(network))?;
                }
                // A link to the shared file is left alone: the block is the network's, still
                // read by the others (a running container leaving has been given its own
                // file first).
                if let Some(path) = record.hosts_file.as_ref().filter(|_| !record.hosts_shared) {
                    hosts::remove_block(path, network)?;
                }
            }
            None => {
                nl.delete_link(&host_veth_name(container_id, network))?;
                self.firewall
                    .remove_container(container_id, Some(network))?;
            }
        }
        let leases = self.leases();
        leases.set_private_hosts(network, container_id, None)?;
        self.update_hosts(network, HostsChange::Leave(held.ip), None);
        leases.remove(network, held.ip, container_id)
    }

    /// Detaches a container from a network: veth, lease, port rules and hosts entries go.
    /// Idempotent: an unknown network or endpoint is not an error.
    pub fn disconnect(&self, container_id: &str, network: &str) -> Result<()> {
        validate_name(network)?;
        let _lock = self.lock()?;
        if self.load(network)?.is_none() {
            return Ok(());
        }
        let mut nl = Netlink::open()?;
        self.release_in(&mut nl, network, container_id)?;
        Ok(())
    }

    /// Detaches a container from every network (found through its own index: nobody
    /// else's lease is read). Idempotent.
    pub fn release_container(&self, container_id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut nl = Netlink::open()?;
        for network in self.leases().networks_of(container_id)? {
            self.release_in(&mut nl, &network, container_id)?;
        }
        Ok(())
    }

    /// After a crash: releases endpoints of containers not in `live` and removes unreadable
    /// leases and index entries no lease backs, rebuilds each network's hosts block from its
    /// leases, deletes port rules and veths on pier bridges that no endpoint owns, and
    /// deletes bridges without endpoints (their network config stays; the bridge is
    /// recreated on the next connect). Returns a description of each thing cleaned.
    pub fn prune_orphans(&self, live_container_ids: &[String]) -> Result<Vec<String>> {
        let live: BTreeSet<&str> = live_container_ids.iter().map(String::as_str).collect();
        let _lock = self.lock()?;
        let mut nl = Netlink::open()?;
        let mut cleaned = Vec::new();
        let leases = self.leases();
        let nets = self.load_all()?;
        let mut kept: BTreeMap<String, Vec<EndpointRecord>> = BTreeMap::new();
        for net in &nets {
            let mut keep = Vec::new();
            for (ip, record) in leases.all(&net.name)? {
                match record {
                    None => {
                        leases.remove_file(&net.name, ip)?;
                        cleaned.push(format!("unreadable lease {ip} on network {}", net.name));
                    }
                    Some(r) if !live.contains(r.container_id.as_str()) => {
                        let id = r.container_id.clone();
                        let held = Held {
                            ip,
                            record: Some(r),
                        };
                        self.release_held(&mut nl, &net.name, &id, held)?;
                        cleaned.push(format!(
                            "endpoint of container {id} on network {}",
                            net.name
                        ));
                    }
                    Some(r) => {
                        // A live lease is found from its container again.
                        leases.set_index(&r.container_id, &net.name, ip)?;
                        keep.push(r);
                    }
                }
            }
            let entries = keep.iter().map(EndpointRecord::host_entry).collect();
            self.update_hosts(&net.name, HostsChange::Rebuild(entries), None);
            kept.insert(net.name.clone(), keep);
        }
        let names: Vec<String> = nets.iter().map(|n| n.name.clone()).collect();
        cleaned.extend(leases.prune_index(&names)?);
        // Rules whose endpoint is not recorded (state lost between creating and saving).
        let owned: BTreeSet<(String, String)> = kept
            .iter()
            .flat_map(|(net, records)| {
                records
                    .iter()
                    .map(move |r| (r.container_id.clone(), net.clone()))
            })
            .collect();
        for (id, net) in self.firewall.container_rules()? {
            if !owned.contains(&(id.clone(), net.clone())) {
                self.firewall.remove_container(&id, Some(&net))?;
                cleaned.push(format!("port rules of container {id} on network {net}"));
            }
        }
        // Veths on pier bridges that no endpoint owns, then bridges nobody uses.
        let links = nl.links()?;
        for net in &nets {
            let Some(br) = links.iter().find(|l| l.name == net.bridge) else {
                continue;
            };
            let records = kept.get(&net.name).map(Vec::as_slice).unwrap_or_default();
            let owned: BTreeSet<&str> = records
                .iter()
                .map(|r| r.endpoint.host_veth.as_str())
                .collect();
            for port in links.iter().filter(|l| l.master == Some(br.index)) {
                if !owned.contains(port.name.as_str()) && nl.delete_link(&port.name)? {
                    cleaned.push(format!("veth {} on bridge {}", port.name, net.bridge));
                }
            }
            if records.is_empty() {
                bridge::remove(&mut nl, &net.bridge)?;
                self.firewall.network_down(&net.name)?;
                cleaned.push(format!("bridge {} of network {}", net.bridge, net.name));
            }
        }
        // With no container left on any network, the root's firewall table goes too (it is
        // recreated with the first network that comes up again).
        if kept.values().all(Vec::is_empty) && self.firewall.tags()?.is_empty() {
            self.firewall.destroy()?;
        }
        cleaned.extend(collect_abandoned_roots(&mut nl, &self.default_root)?);
        Ok(cleaned)
    }

    /// The ports a container publishes, over all its networks.
    pub fn published_ports(&self, container_id: &str) -> Result<Vec<PortMapping>> {
        Ok(self
            .leases()
            .of_container(container_id)?
            .into_iter()
            .flat_map(|r| r.endpoint.ports)
            .collect())
    }

    /// The endpoints of a container, over all its networks.
    pub fn endpoints(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        Ok(self
            .leases()
            .of_container(container_id)?
            .into_iter()
            .map(|r| r.endpoint)
            .collect())
    }
}
