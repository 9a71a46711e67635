//! The Linux bridge behind each pier network: created on first use with the network's
//! gateway address, so the host routes the subnet and is the containers' default gateway.

use anyhow::{Context, Result};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use pier_oci::netlink::{is_errno, Netlink};
use std::net::Ipv4Addr;

/// How a pier bridge's alias starts; the state root's path follows.
pub const ROOT_ALIAS_PREFIX: &str = "pier root=";

/// Makes sure bridge `name` exists, carries `gateway/prefix` and is up. Returns true when it
/// was created now (the caller then installs the network's firewall rules).
///
/// The bridge's alias records the state root that owns it (`pier root=/var/lib/pier`), so a
/// bridge whose root was deleted without `pier system prune` can be recognised and removed
/// later (see [`ROOT_ALIAS_PREFIX`]).
pub fn ensure(
    nl: &mut Netlink,
    name: &str,
    gateway: Ipv4Addr,
    prefix: u8,
    root: &std::path::Path,
) -> Result<bool> {
    if nl.link_index(name)?.is_some() {
        return Ok(false);
    }
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
            InfoKind::Bridge,
        )]));
    match nl.new_link(msg) {
        Ok(()) => {}
        // Another pier created it between our lookup and now: it will configure it.
        Err(e) if is_errno(&e, libc::EEXIST) => return Ok(false),
        Err(e) => return Err(e.context(format!("creating bridge {name}"))),
    }
    let configure = (|| -> Result<()> {
        let index = nl.require_index(name)?;
        nl.set_alias(index, &format!("{ROOT_ALIAS_PREFIX}{}", root.display()))?;
        nl.add_address(index, gateway, prefix)?;
        nl.set_up(index)?;
        enable_route_localnet(name)
    })();
    if let Err(e) = configure {
        let _ = nl.delete_link(name);
        return Err(e.context(format!("configuring bridge {name}")));
    }
    Ok(true)
}

/// The index and MTU of bridge `name` (container veths get the same MTU, so no packet is
/// fragmented or dropped at the bridge).
pub fn index_and_mtu(nl: &mut Netlink, name: &str) -> Result<(u32, u32)> {
    let link = nl
        .link(name)?
        .with_context(|| format!("bridge {name} does not exist"))?;
    Ok((link.index, link.mtu.unwrap_or(1500)))
}

/// Deletes bridge `name` (its remaining ports are released by the kernel). Ok(false) if absent.
pub fn remove(nl: &mut Netlink, name: &str) -> Result<bool> {
    nl.delete_link(name)
}

/// Lets packets with a 127.0.0.0/8 source leave through this bridge. The host's own
/// `127.0.0.1:HOST_PORT` is DNATed to a container address; without this the kernel treats
/// the (not yet masqueraded) loopback source as martian and drops the packet.
///
/// It also stops the kernel from dropping packets *to* 127.0.0.0/8 that arrive on the
/// bridge, which would open the host's loopback-only services to containers: the network's
/// firewall rules include a guard against that (see the loopback guard in `nat.rs`).
fn enable_route_localnet(bridge: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&path, b"1").with_context(|| format!("writing 1 to {path}"))
}
