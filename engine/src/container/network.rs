//! Connecting containers to networks (the glue between the engine and [`crate::network`]).
//!
//! A bridged container gets a network namespace of its own, made by pier before the
//! container starts and bind-mounted at `<container>/netns` (like `ip netns add`), so the
//! network can be set up — veth, address, routes, published ports — before the container's
//! first instruction, and torn down after its last.

use super::config::{NetworkMode, RunConfig};
use super::record::{ContainerPaths, ContainerRecord};
use super::Engine;
use crate::network::{self, ConnectRequest, Endpoint, PortMapping, Protocol};
use anyhow::{bail, Context, Result};
use pier_oci::netns;

/// The ports a container asks to publish: `-p` specs, plus every exposed port of the image with
/// `-P`.
pub fn requested_ports(
    record: &ContainerRecord,
    exposed: &[(u16, Protocol)],
) -> Result<Vec<PortMapping>> {
    let mut ports = Vec::new();
    for spec in &record.config.publish {
        ports.extend(network::parse_publish(spec).with_context(|| format!("-p {spec}"))?);
    }
    if record.config.publish_all {
        ports.extend(network::publish_all(exposed));
    }
    Ok(ports)
}

/// Exposed ports of an image config (`"80/tcp"` keys).
pub fn exposed_ports(config: &oci_spec::image::ImageConfiguration) -> Vec<(u16, Protocol)> {
    let Some(c) = config.config() else {
        return Vec::new();
    };
    c.exposed_ports()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            let proto = if proto == "udp" {
                Protocol::Udp
            } else {
                Protocol::Tcp
            };
            port.parse().ok().map(|n| (n, proto))
        })
        .collect()
}

/// Whether the container's `/etc/hosts` is its network's shared hosts file: it is bridged on
/// one network only (see [`crate::network::hosts`]). Its hosts mount is then read-only.
pub(crate) fn shares_network_hosts(config: &RunConfig) -> bool {
    matches!(config.network, None | Some(NetworkMode::Bridge(_)))
        && config.extra_networks.is_empty()
}

impl Engine {
    /// Gives a bridged container its network namespace and endpoint before it starts.
    pub(crate) fn attach_network(
        &self,
        paths: &ContainerPaths,
        record: &ContainerRecord,
    ) -> Result<()> {
        let Some(NetworkMode::Bridge(name)) = &record.config.network else {
            return Ok(());
        };
        let image = self.images()?.resolve(&record.image_id)?;
        let ports = requested_ports(record, &exposed_ports(&image.config))?;
        let ns = paths.netns();
        netns::create(&ns).with_context(|| {
            format!(
                "creating the network namespace of container {}",
                record.name
            )
        })?;
        let hosts = paths.etc_file("hosts");
        // The hostname resolves to the container's address, as in Docker's /etc/hosts.
        let mut aliases: Vec<String> = record
            .config
            .hostname
            .iter()
            .filter(|h| **h != record.name)
            .cloned()
            .collect();
        aliases.extend(record.config.network_aliases.iter().cloned());
        // Docker's containers answer to their short ID too (what `docker ps` shows).
        let short = super::inspect_docker::short_id(&record.id).to_string();
        aliases.push(short.clone());
        let connected = self.networks().and_then(|nets| {
            let first = nets.connect(&ConnectRequest {
                container_id: &record.id,
                container_name: &record.name,
                network: name,
                netns_path: &ns,
                ports: &ports,
                hosts_file: Some(&hosts),
                share_hosts: record.hosts_read_only && shares_network_hosts(&record.config),
                aliases: &aliases,
            })?;
            // The further networks: same namespace, no published ports (those go through
            // the first network, as the container's one default route does).
            for extra in &record.config.extra_networks {
                nets.connect(&ConnectRequest {
                    container_id: &record.id,
                    container_name: &record.name,
                    network: &extra.network,
                    netns_path: &ns,
                    ports: &[],
                    hosts_file: Some(&hosts),
                    share_hosts: false,
                    aliases: &extra
                        .aliases
                        .iter()
                        .cloned()
                        .chain(std::iter::once(short.clone()))
                        .collect::<Vec<_>>(),
                })
                .with_context(|| format!("joining network {}", extra.network))?;
            }
            Ok(first)
        });
        let endpoint = match connected {
            Ok(e) => e,
            Err(e) => {
                if let Ok(nets) = self.networks() {
                    let _ = nets.release_container(&record.id);
                }
                let _ = netns::remove(&ns);
                return Err(e.context(format!(
                    "connecting container {} to network {name}",
                    record.name
                )));
            }
        };
        let value = serde_json::to_value(&endpoint).context("serializing the endpoint")?;
        self.update(paths, |r| r.network = Some(value))?;
        Ok(())
    }

    /// Releases the container's network endpoints and namespace. Idempotent. With `later`
    /// (a container that just exited), the endpoints are only marked for release and the
    /// namespace dropped: the next pier command completes it (see `network::pending`).
    pub(crate) fn detach_network(
        &self,
        paths: &ContainerPaths,
        record: &ContainerRecord,
        later: bool,
    ) -> Result<()> {
        if matches!(record.config.network, Some(NetworkMode::Bridge(_))) || record.network.is_some()
        {
            if later {
                return network::pending::defer(&self.root, &record.id, &paths.netns());
            }
            self.networks()?.release_container(&record.id)?;
        }
        if paths.netns().exists() {
            netns::remove(&paths.netns())?;
        }
        Ok(())
    }

    /// Network leftovers of containers that no longer exist.
    pub(crate) fn prune_networks(&self, live: &[String]) -> Result<Vec<String>> {
        self.networks()?.prune_orphans(live)
    }

    /// `pier network prune`: removes the user networks no container uses: none attached, and
    /// none (even stopped) set to join them. Returns their names.
    pub fn prune_unused_networks(&self) -> Result<Vec<String>> {
        let nets = self.networks()?;
        // Under the containers lock: no container can pick a network while it is judged unused.
        let _lock = self.lock()?;
        let containers = self.containers()?;
        let mut removed = Vec::new();
        for info in nets.list()? {
            let configured = containers.iter().any(|c| {
                matches!(&c.config.network, Some(NetworkMode::Bridge(n)) if *n == info.name)
                    || c.config
                        .extra_networks
                        .iter()
                        .any(|x| x.network == info.name)
            });
            if info.name == network::DEFAULT_NETWORK || !info.endpoints.is_empty() || configured {
                continue;
            }
            nets.remove(&info.name)?;
            removed.push(info.name);
        }
        Ok(removed)
    }

    /// The endpoint of a running bridged container.
    pub fn endpoint(&self, key: &str) -> Result<Endpoint> {
        let (_, rec) = self.find(key)?;
        match rec.network {
            Some(v) => serde_json::from_value(v).context("reading the container's endpoint"),
            None => bail!(
                "container {} has no network endpoint (network {}; is it running?)",
                rec.name,
                rec.config
                    .network
                    .as_ref()
                    .map(|n| n.display())
                    .unwrap_or_default()
            ),
        }
    }
}

impl Engine {
    /// `pier network connect`: attaches a running container to another network.
    pub fn network_connect(
        &self,
        network: &str,
        key: &str,
        aliases: &[String],
    ) -> Result<Endpoint> {
        let (paths, rec) = self.find(key)?;
        let Some(init) = rec.init.filter(|p| p.is_alive()) else {
            bail!(
                "container {} is not running: start it before connecting it to a network",
                rec.name
            );
        };
        if matches!(rec.config.network, Some(NetworkMode::Host)) {
            bail!(
                "container {} uses the host's network namespace; it cannot join another network",
                rec.name
            );
        }
        let ns = std::path::PathBuf::from(format!("/proc/{}/ns/net", init.pid));
        let nets = self.networks()?;
        privatize_hosts(&nets, &rec.id, init.pid)?;
        nets.connect(&ConnectRequest {
            container_id: &rec.id,
            container_name: &rec.name,
            network,
            netns_path: &ns,
            ports: &[],
            hosts_file: Some(&paths.etc_file("hosts")),
            share_hosts: false,
            aliases,
        })
    }

    /// `pier network disconnect`.
    pub fn network_disconnect(&self, network: &str, key: &str) -> Result<()> {
        let (_, rec) = self.find(key)?;
        let nets = self.networks()?;
        if let Some(init) = rec.init.filter(|p| p.is_alive()) {
            privatize_hosts(&nets, &rec.id, init.pid)?;
        }
        nets.disconnect(&rec.id, network)
    }

    /// `pier port`: the container's published ports.
    pub fn ports(&self, key: &str) -> Result<Vec<PortMapping>> {
        let (_, rec) = self.find(key)?;
        self.networks()?.published_ports(&rec.id)
    }
}

/// A running container about to join or leave a network stops sharing its network's hosts
/// file: its own copy is mounted over its `/etc/hosts` (the shared one stays for the others).
fn privatize_hosts(nets: &network::NetworkManager, id: &str, pid: i32) -> Result<()> {
    nets.privatize_hosts(id, &mut |own| {
        pier_oci::mount_into::bind_file(pid, own, "/etc/hosts")
    })
}
