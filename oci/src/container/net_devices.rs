//! `linux.netDevices`: host network interfaces handed to the container. Each is moved into
//! the container's network namespace, renamed (`name`, else it keeps its own), and given back
//! its IPv4 addresses and its up state, which the move drops. When the container's namespace
//! was joined by path (it outlives the container), `delete` moves the interfaces back to the
//! host under their own names; a namespace the container made gives physical interfaces back
//! to the host by itself when it dies (and destroys virtual ones).

use crate::error::bail_config;
use crate::netlink::Netlink;
use crate::netns;
use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::Path;

/// (host name, name in the container) of each device the config lists.
fn devices(spec: &Spec) -> Vec<(String, String)> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = map
        .iter()
        .map(|(host, dev)| {
            let inside = dev
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host.clone());
            (host.clone(), inside)
        })
        .collect();
    out.sort();
    out
}

/// Checks the device list before anything is made: names are interface names, and the
/// container has a network namespace of its own to receive them.
pub(crate) fn check(spec: &Spec, has_own_netns: bool) -> crate::Result<()> {
    let list = devices(spec);
    if list.is_empty() {
        return Ok(());
    }
    if !has_own_netns {
        bail_config!(
            "linux.netDevices",
            "config.json: linux.netDevices needs a network namespace in linux.namespaces"
        );
    }
    let mut seen = HashMap::new();
    for (host, inside) in &list {
        for n in [host, inside] {
            if n.is_empty()
                || n.len() > 15
                || n.contains('/')
                || n.contains(char::is_whitespace)
                || n == "."
                || n == ".."
            {
                bail_config!(
                    "linux.netDevices",
                    "config.json: linux.netDevices: {n:?} is not an interface name"
                );
            }
        }
        if seen.insert(inside.clone(), host.clone()).is_some() {
            bail_config!(
                "linux.netDevices",
                "config.json: linux.netDevices: two devices named {inside} in the container"
            );
        }
    }
    Ok(())
}

/// Moves the devices into the network namespace at `netns_path` (`/proc/<pid>/ns/net` of the
/// waiting init, or the path it joins).
pub(crate) fn move_in(spec: &Spec, netns_path: &Path) -> Result<()> {
    let list = devices(spec);
    if list.is_empty() {
        return Ok(());
    }
    let ns = std::fs::File::open(netns_path)
        .with_context(|| format!("opening network namespace {}", netns_path.display()))?;
    let mut host = Netlink::open()?;
    let mut moved = Vec::new();
    for (name, inside) in list {
        let link = host
            .link(&name)?
            .with_context(|| format!("linux.netDevices: the host has no interface {name}"))?;
        let addresses = host.addresses_v4(link.index)?;
        host.move_to_netns(link.index, ns.as_raw_fd())
            .with_context(|| format!("linux.netDevices: moving {name} into the container"))?;
        moved.push((name, inside, addresses, link.up));
    }
    netns::enter(netns_path, move || -> Result<()> {
        let mut nl = Netlink::open()?;
        for (name, inside, addresses, up) in moved {
            let index = nl.require_index(&name)?;
            if inside != name {
                nl.rename(index, &inside)?;
            }
            for (addr, prefix) in addresses {
                nl.add_address(index, addr, prefix)?;
            }
            if up {
                nl.set_up(index)?;
            }
        }
        Ok(())
    })
    .context("linux.netDevices: configuring the devices in the container")
}

/// Moves the devices back from the namespace at `netns_path` to the host's (that of this
/// process), under their host names. Devices no longer there are skipped.
pub(crate) fn move_out(spec: &Spec, netns_path: &Path) -> Result<()> {
    let list = devices(spec);
    if list.is_empty() {
        return Ok(());
    }
    let host_ns =
        std::fs::File::open("/proc/self/ns/net").context("opening the host's network namespace")?;
    netns::enter(netns_path, move || -> Result<()> {
        let mut nl = Netlink::open()?;
        for (name, inside) in list {
            let Some(index) = nl.link_index(&inside)? else {
                continue;
            };
            nl.move_to_netns(index, host_ns.as_raw_fd())?;
            let _ = name;
        }
        Ok(())
    })?;
    // Back on the host the interface has its container name: give it its own again.
    let mut host = Netlink::open()?;
    for (name, inside) in devices(spec) {
        if name != inside {
            if let Some(index) = host.link_index(&inside)? {
                host.rename(index, &name)?;
            }
        }
    }
    Ok(())
}
