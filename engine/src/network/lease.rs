//! Address leases, one file per address, so that joining or leaving a network costs the same
//! with 5 containers on it or 500.
//!
//! Layout under `<root>/networks/`:
//! - `<network>.leases/<ip>.json`: the endpoint holding `<ip>` (container id, name, aliases,
//!   veth, ports, hosts file). The file NAME is the lease: the addresses in use are read from
//!   the directory listing, without opening a single record.
//! - `containers/<container id>/<network>`: a symbolic link whose target is the address the
//!   container holds on that network: the index that finds a container's leases (release,
//!   `endpoints`, a second network) without reading anyone else's.
//! - `<network>.private-hosts/<container id>`: a symbolic link to the hosts file of an
//!   endpoint that does not share the network's hosts file (see [`super::hosts`]): the few
//!   files a join or leave must rewrite besides the shared one.
//!
//! A lease is taken with `link(2)` from a temporary file holding the whole record onto
//! `<ip>.json`: the kernel refuses an existing name (`EEXIST`, as `O_CREAT|O_EXCL` does), so
//! two allocators can never hold one address, even one that missed the networks lock, and a
//! lease file is complete the moment it is visible. Lowest free address first; on `EEXIST`
//! the next one. The index link is written before the lease and removed after it, so every
//! lease is found from its container; a stale link (its lease gone or taken by another
//! container) is ignored and pruned. Records are not forced to disk (as container state): a
//! lease unreadable after a power cut still holds its address until
//! [`super::NetworkManager::prune_orphans`] removes it.

use super::ipam::Subnet;
use super::EndpointRecord;
use anyhow::{bail, Context, Result};
use pier_oci::persist;
use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The lease store of one state root's networks directory.
pub(super) struct Leases<'a> {
    /// `<root>/networks`.
    pub dir: &'a Path,
}

/// What the index says a container holds on a network.
pub(super) struct Held {
    /// The leased address (from the index link).
    pub ip: Ipv4Addr,
    /// Its record; `None` when the lease file cannot be read (cut short by a power loss).
    pub record: Option<EndpointRecord>,
}

/// `Ok(())` for a file that was already gone.
fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// The entries of a directory by name; a missing directory has none.
fn names(dir: &Path) -> Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.map(|e| e.file_name().to_string_lossy().into_owned())
                    .with_context(|| format!("reading {}", dir.display()))
            })
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// The address a lease file name stands for (`10.88.0.7.json`); other names (temporary
/// files) are no lease.
fn lease_ip(name: &str) -> Option<Ipv4Addr> {
    name.strip_suffix(".json")?.parse().ok()
}

/// Makes `link` a symbolic link to `target`, replacing what was there atomically (a link
/// beside it renamed over it).
fn set_link(link: &Path, target: &Path) -> Result<()> {
    let dir = link.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = link.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.link"));
    remove_if_present(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("linking {} to {}", tmp.display(), target.display()))?;
    fs::rename(&tmp, link)
        .with_context(|| format!("renaming {} to {}", tmp.display(), link.display()))
}

/// The target of a symbolic link; `None` when there is no link.
fn read_link(link: &Path) -> Result<Option<PathBuf>> {
    match fs::read_link(link) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading link {}", link.display())),
    }
}

impl Leases<'_> {
    fn net_dir(&self, network: &str) -> PathBuf {
        self.dir.join(format!("{network}.leases"))
    }

    /// The lease file of `ip` on `network`.
    pub fn path(&self, network: &str, ip: Ipv4Addr) -> PathBuf {
        self.net_dir(network).join(format!("{ip}.json"))
    }

    fn index_dir(&self, container_id: &str) -> PathBuf {
        self.dir.join("containers").join(container_id)
    }

    fn index_link(&self, container_id: &str, network: &str) -> PathBuf {
        self.index_dir(container_id).join(network)
    }

    fn private_dir(&self, network: &str) -> PathBuf {
        self.dir.join(format!("{network}.private-hosts"))
    }

    /// The addresses leased on `network`, from the file names alone.
    pub fn used(&self, network: &str) -> Result<BTreeSet<Ipv4Addr>> {
        Ok(names(&self.net_dir(network))?
            .iter()
            .filter_map(|n| lease_ip(n))
            .collect())
    }

    /// Whether any address of `network` is leased (stops at the first lease).
    pub fn any(&self, network: &str) -> Result<bool> {
        let dir = self.net_dir(network);
        match fs::read_dir(&dir) {
            Ok(mut entries) => Ok(entries.any(|e| {
                e.ok()
                    .and_then(|e| lease_ip(&e.file_name().to_string_lossy()))
                    .is_some()
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        }
    }

    /// Reads one lease file; `None` if it is gone or cannot be parsed.
    fn read(&self, network: &str, ip: Ipv4Addr) -> Option<EndpointRecord> {
        persist::read_json(&self.path(network, ip)).ok()
    }

    /// Every lease of `network` in address order, with its record (`None`: unreadable).
    /// Reads every file: for inspection and repair, never on the join path.
    pub fn all(&self, network: &str) -> Result<Vec<(Ipv4Addr, Option<EndpointRecord>)>> {
        Ok(self
            .used(network)?
            .into_iter()
            .map(|ip| (ip, self.read(network, ip)))
            .collect())
    }

    /// The readable records of `network`, in address order.
    pub fn records(&self, network: &str) -> Result<Vec<EndpointRecord>> {
        Ok(self.all(network)?.into_iter().filter_map(|l| l.1).collect())
    }

    /// The networks the index says `container_id` is on, by name.
    pub fn networks_of(&self, container_id: &str) -> Result<Vec<String>> {
        let mut nets: Vec<String> = names(&self.index_dir(container_id))?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        nets.sort();
        Ok(nets)
    }

    /// What `container_id` holds on `network`, following the index. A link whose lease is
    /// gone or now another container's is stale: `None`.
    pub fn lookup(&self, container_id: &str, network: &str) -> Result<Option<Held>> {
        let link = self.index_link(container_id, network);
        let Some(target) = read_link(&link)? else {
            return Ok(None);
        };
        let Ok(ip) = target.to_string_lossy().parse::<Ipv4Addr>() else {
            return Ok(None);
        };
        if !self.path(network, ip).exists() {
            return Ok(None);
        }
        let record = self.read(network, ip);
        if record
            .as_ref()
            .is_some_and(|r| r.container_id != container_id)
        {
            return Ok(None);
        }
        Ok(Some(Held { ip, record }))
    }

    /// The readable records of `container_id` on every network, by network name.
    pub fn of_container(&self, container_id: &str) -> Result<Vec<EndpointRecord>> {
        let mut out = Vec::new();
        for network in self.networks_of(container_id)? {
            if let Some(record) = self.lookup(container_id, &network)?.and_then(|h| h.record) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Points the index of `container_id` on `network` at `ip`.
    pub fn set_index(&self, container_id: &str, network: &str, ip: Ipv4Addr) -> Result<()> {
        set_link(
            &self.index_link(container_id, network),
            Path::new(&ip.to_string()),
        )
    }

    /// Links a complete `record` into place as the lease of its address, through the
    /// temporary file `.claim-<container>`: `Ok(false)` when the address is leased already
    /// (`link(2)` refuses an existing name).
    fn link_record(&self, record: &EndpointRecord) -> Result<bool> {
        let (network, ip) = (&record.endpoint.network, record.endpoint.ip);
        let dir = self.net_dir(network);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".claim-{}", record.container_id));
        let data =
            serde_json::to_vec(record).with_context(|| format!("serializing the lease of {ip}"))?;
        fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
        let lease = self.path(network, ip);
        let linked = fs::hard_link(&tmp, &lease);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("creating {}", lease.display())),
        }
    }

    /// Takes the lowest free address of `subnet` (not `gateway`) on `network` for
    /// `container_id`, recording `make(ip)`: index link first, then the lease file linked
    /// into place whole (see the module comment). Errors: the subnet is full, or a file
    /// cannot be written (then nothing is left).
    pub fn claim(
        &self,
        network: &str,
        subnet: &Subnet,
        gateway: Ipv4Addr,
        container_id: &str,
        make: &dyn Fn(Ipv4Addr) -> EndpointRecord,
    ) -> Result<EndpointRecord> {
        let mut used = self.used(network)?;
        loop {
            let taken = subnet
                .allocate(gateway, &used)
                .with_context(|| format!("network {network}"))
                .and_then(|ip| {
                    let record = make(ip);
                    self.set_index(container_id, network, ip)?;
                    Ok(self.link_record(&record)?.then_some(record).ok_or(ip))
                });
            match taken {
                Ok(Ok(record)) => return Ok(record),
                // Leased meanwhile by an allocator that missed the lock: the next one.
                Ok(Err(ip)) => {
                    used.insert(ip);
                }
                // An index left pointing at an address tried before goes too.
                Err(e) => {
                    let _ = fs::remove_file(self.index_link(container_id, network));
                    let _ = fs::remove_dir(self.index_dir(container_id));
                    return Err(e);
                }
            }
        }
    }

    /// Adopts a record from an older state file (migration): writes its index and lease
    /// unless the lease exists already (a migration cut short). Errors if the address is
    /// leased to another container.
    pub fn adopt(&self, record: &EndpointRecord) -> Result<()> {
        let (network, ip) = (&record.endpoint.network, record.endpoint.ip);
        let lease = self.path(network, ip);
        if lease.exists() {
            if let Some(other) = self.read(network, ip) {
                if other.container_id != record.container_id {
                    bail!(
                        "{}: address {ip} is leased to container {}, the old state file gives \
                         it to {}",
                        lease.display(),
                        other.container_id,
                        record.container_id
                    );
                }
            }
            return self.set_index(&record.container_id, network, ip);
        }
        self.set_index(&record.container_id, network, ip)?;
        if !self.link_record(record)? {
            bail!(
                "{}: created while the old state file was moved",
                lease.display()
            );
        }
        Ok(())
    }

    /// Replaces the record of an existing lease (its hosts file changed), atomically.
    pub fn rewrite(&self, record: &EndpointRecord) -> Result<()> {
        persist::write_json_replace(
            &self.path(&record.endpoint.network, record.endpoint.ip),
            record,
        )
    }

    /// Frees `ip` on `network`: the lease file, then the index link of `container_id` (if it
    /// still points there) and its entry among the private hosts files.
    pub fn remove(&self, network: &str, ip: Ipv4Addr, container_id: &str) -> Result<()> {
        remove_if_present(&self.path(network, ip))?;
        self.set_private_hosts(network, container_id, None)?;
        let link = self.index_link(container_id, network);
        if read_link(&link)?.is_some_and(|t| t == Path::new(&ip.to_string())) {
            remove_if_present(&link)?;
        }
        // Fails while other networks' links are there, as it should.
        let _ = fs::remove_dir(self.index_dir(container_id));
        Ok(())
    }

    /// Records (`Some`) or forgets (`None`) that `container_id` has a hosts file of its own
    /// at `path` with a block of `network`.
    pub fn set_private_hosts(
        &self,
        network: &str,
        container_id: &str,
        path: Option<&Path>,
    ) -> Result<()> {
        let link = self.private_dir(network).join(container_id);
        match path {
            Some(p) => set_link(&link, p),
            None => remove_if_present(&link),
        }
    }

    /// The hosts files of their own of `network`'s endpoints: (container id, path).
    pub fn private_hosts(&self, network: &str) -> Result<Vec<(String, PathBuf)>> {
        let dir = self.private_dir(network);
        let mut out = Vec::new();
        for id in names(&dir)?.into_iter().filter(|n| !n.starts_with('.')) {
            if let Some(target) = read_link(&dir.join(&id))? {
                out.push((id, target));
            }
        }
        Ok(out)
    }

    /// Removes the (lease-free) directories of a network being removed.
    pub fn remove_network(&self, network: &str) -> Result<()> {
        for dir in [self.net_dir(network), self.private_dir(network)] {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
            }
        }
        Ok(())
    }

    /// After a crash: removes what no lease backs: temporary files (dot files: a claim or a
    /// rewrite cut short) of `networks`' lease and private-hosts directories, index links
    /// whose lease is gone or another container's, private hosts entries of containers
    /// without a lease there. Returns a description of each.
    pub fn prune_index(&self, networks: &[String]) -> Result<Vec<String>> {
        let mut cleaned = Vec::new();
        for network in networks {
            for dir in [self.net_dir(network), self.private_dir(network)] {
                for name in names(&dir)?.iter().filter(|n| n.starts_with('.')) {
                    remove_if_present(&dir.join(name))?;
                    cleaned.push(format!(
                        "unfinished {} of network {network}",
                        dir.join(name).display()
                    ));
                }
            }
            for (id, _) in self.private_hosts(network)? {
                if self.lookup(&id, network)?.is_none() {
                    self.set_private_hosts(network, &id, None)?;
                }
            }
        }
        let index = self.dir.join("containers");
        for id in names(&index)? {
            for network in names(&index.join(&id))? {
                if network.starts_with('.') || self.lookup(&id, &network)?.is_none() {
                    remove_if_present(&index.join(&id).join(&network))?;
                    cleaned.push(format!("index of container {id} on network {network}"));
                }
            }
            let _ = fs::remove_dir(index.join(&id));
        }
        Ok(cleaned)
    }

    /// Removes a lease file whatever it holds (an unreadable one, at repair).
    pub fn remove_file(&self, network: &str, ip: Ipv4Addr) -> Result<()> {
        remove_if_present(&self.path(network, ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Endpoint;

    fn record(id: &str, ip: Ipv4Addr) -> EndpointRecord {
        EndpointRecord {
            container_id: id.to_string(),
            container_name: format!("c-{id}"),
            aliases: Vec::new(),
            netns_path: PathBuf::from("/nonexistent"),
            hosts_file: None,
            hosts_shared: false,
            endpoint: Endpoint {
                network: "n".into(),
                ip,
                prefix: 24,
                gateway: Ipv4Addr::new(10, 213, 90, 1),
                mac: String::new(),
                host_veth: format!("pier{id}"),
                ports: Vec::new(),
            },
        }
    }

    #[test]
    fn network_leases_claim_lowest_free_by_name_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases { dir: dir.path() };
        let subnet: Subnet = "10.213.90.0/29".parse().unwrap();
        let gw = subnet.first_host();
        let a = leases
            .claim("n", &subnet, gw, "a", &|ip| record("a", ip))
            .unwrap();
        assert_eq!(a.endpoint.ip, Ipv4Addr::new(10, 213, 90, 2));
        // An allocator that missed the lock took .3, and a crash left an empty lease at .4:
        // both are taken addresses (the names count, not the contents).
        fs::write(leases.path("n", Ipv4Addr::new(10, 213, 90, 3)), b"{}").unwrap();
        fs::write(leases.path("n", Ipv4Addr::new(10, 213, 90, 4)), b"").unwrap();
        let b = leases
            .claim("n", &subnet, gw, "b", &|ip| record("b", ip))
            .unwrap();
        assert_eq!(b.endpoint.ip, Ipv4Addr::new(10, 213, 90, 5));
        assert_eq!(
            leases.of_container("b").unwrap()[0].endpoint.ip,
            b.endpoint.ip
        );
        assert_eq!(
            leases.records("n").unwrap().len(),
            2,
            "unreadable leases skipped"
        );
        assert_eq!(leases.all("n").unwrap().len(), 4);
        leases
            .claim("n", &subnet, gw, "c", &|ip| record("c", ip))
            .unwrap();
        let full = leases.claim("n", &subnet, gw, "d", &|ip| record("d", ip));
        assert!(full.unwrap_err().to_string().contains("network n"));
        assert!(leases.networks_of("d").unwrap().is_empty(), "no index left");

        leases.remove("n", a.endpoint.ip, "a").unwrap();
        assert!(leases.lookup("a", "n").unwrap().is_none());
        assert!(!dir.path().join("containers/a").exists());
        let again = leases
            .claim("n", &subnet, gw, "e", &|ip| record("e", ip))
            .unwrap();
        assert_eq!(again.endpoint.ip, a.endpoint.ip, "the freed lowest address");
        // A stale index (its lease now another container's) finds nothing.
        leases.set_index("a", "n", again.endpoint.ip).unwrap();
        assert!(leases.lookup("a", "n").unwrap().is_none());
        let cleaned = leases.prune_index(&["n".to_string()]).unwrap();
        assert!(
            cleaned.iter().any(|c| c.contains("container a")),
            "{cleaned:?}"
        );
        assert!(leases.lookup("e", "n").unwrap().is_some());
    }
}
