//! The veth pair that plugs a container's network namespace into a bridge: the host end
//! (`pier…`) is a bridge port, the other end is created directly inside the container's
//! namespace as `eth0`, then given its address and default route from inside.

use anyhow::{Context, Result};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use pier_oci::netlink::Netlink;
use pier_oci::netns;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Everything needed to create one container interface.
pub struct VethSpec<'a> {
    /// Name of the host end (at most 15 bytes).
    pub host_name: &'a str,
    /// Index of the bridge the host end joins.
    pub bridge_index: u32,
    /// MTU of both ends (the bridge's).
    pub mtu: u32,
    /// The container's network namespace.
    pub netns_path: &'a Path,
    /// MAC address of the container end.
    pub mac: [u8; 6],
    /// The container's address, prefix length and gateway.
    pub ip: Ipv4Addr,
    /// Prefix length of the network.
    pub prefix: u8,
    /// The bridge's address, the container's default route.
    pub gateway: Ipv4Addr,
}

/// Creates the pair and configures the container end; on failure nothing is left behind.
pub fn attach(nl: &mut Netlink, spec: &VethSpec) -> Result<()> {
    // The first network a container joins is its eth0 (with the default route); `pier network
    // connect` adds eth1, eth2, ... without touching the default route.
    let ifname = netns::enter(spec.netns_path, || {
        let mut inner = Netlink::open()?;
        for n in 0..64 {
            let name = format!("eth{n}");
            if inner.link_index(&name)?.is_none() {
                return Ok(name);
            }
        }
        anyhow::bail!("the namespace already has 64 ethN interfaces")
    })
    .with_context(|| format!("listing interfaces in {}", spec.netns_path.display()))?;
    let ns = File::open(spec.netns_path)
        .with_context(|| format!("opening network namespace {}", spec.netns_path.display()))?;
    let mut peer = LinkMessage::default();
    peer.attributes.push(LinkAttribute::IfName(ifname.clone()));
    peer.attributes.push(LinkAttribute::Mtu(spec.mtu));
    peer.attributes
        .push(LinkAttribute::Address(spec.mac.to_vec()));
    // One request creates both ends, the peer already in the container's namespace: no
    // move-and-rename round trips.
    peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
    let mut host = LinkMessage::default();
    host.attributes
        .push(LinkAttribute::IfName(spec.host_name.to_string()));
    host.attributes.push(LinkAttribute::Mtu(spec.mtu));
    host.attributes
        .push(LinkAttribute::Controller(spec.bridge_index));
    host.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    nl.new_link(host).with_context(|| {
        format!(
            "creating veth {} <-> {ifname} in {}",
            spec.host_name,
            spec.netns_path.display()
        )
    })?;
    drop(ns);

    let result = (|| -> Result<()> {
        let index = nl.require_index(spec.host_name)?;
        nl.set_up(index)?;
        let (ip, prefix, gateway) = (spec.ip, spec.prefix, spec.gateway);
        let path: PathBuf = spec.netns_path.to_path_buf();
        let name = ifname.clone();
        netns::enter(&path, move || {
            let mut inner = Netlink::open()?;
            let lo = inner.require_index("lo")?;
            inner.set_up(lo)?;
            let eth = inner.require_index(&name)?;
            inner.add_address(eth, ip, prefix)?;
            inner.set_up(eth)?;
            if name == "eth0" {
                inner.add_default_route(gateway)?;
            }
            Ok(())
        })
        .with_context(|| format!("configuring {ifname} in {}", spec.netns_path.display()))
    })();
    if let Err(e) = result {
        let _ = nl.delete_link(spec.host_name);
        return Err(e);
    }
    Ok(())
}

/// Brings `lo` up inside the namespace at `netns_path` (all a `--network none` container gets).
pub fn loopback_up_in(netns_path: &Path) -> Result<()> {
    netns::enter(netns_path, || {
        let mut nl = Netlink::open()?;
        let lo = nl.require_index("lo")?;
        nl.set_up(lo)
    })
    .with_context(|| format!("bringing lo up in {}", netns_path.display()))
}

/// A locally administered MAC derived from the IPv4 address (as Docker does), so it is
/// stable for a lease and unique within a network.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The usual text form of a MAC address.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
