//! Host <-> guest networking for the net suite: a bridge holding the host's address and a
//! tap device for the guest's virtio-net NIC, on a test-only /24 with no route, NAT or
//! forwarding anywhere else, so the only traffic is between the host and this guest.
//! [`HostLink`] deletes both interfaces when dropped, even after an error.
//!
//! Interfaces are made with iproute2's `ip`, the tool a reader would use by hand.

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The default test subnet (a /24): host `.1`, guest `.2`.
pub const DEFAULT_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 213, 77, 0);

/// The guest NIC's MAC address (52:54:00 is qemu's locally administered prefix).
pub const GUEST_MAC: &str = "52:54:00:d5:4d:02";

/// One subnet means one link at a time in this process.
static IN_USE: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A bridge and tap on the host, removed on drop.
pub struct HostLink {
    /// The bridge, holding the host's address.
    pub bridge: String,
    /// The tap device qemu attaches the guest NIC to.
    pub tap: String,
    /// The host's address on the subnet.
    pub host_ip: Ipv4Addr,
    /// The address the guest configures.
    pub guest_ip: Ipv4Addr,
    created: Vec<String>,
    _exclusive: MutexGuard<'static, ()>,
}

/// Runs `ip` with `args`, naming the command in any error.
fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl HostLink {
    /// Creates the bridge (host `.1/24`) and an attached tap in `subnet` (a /24).
    pub fn create(subnet: Ipv4Addr) -> Result<HostLink> {
        // A poisoned lock only means an earlier holder panicked; its Drop still cleaned up.
        let guard = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        let [a, b, c, _] = subnet.octets();
        let host_ip = Ipv4Addr::new(a, b, c, 1);
        let guest_ip = Ipv4Addr::new(a, b, c, 2);
        let cidr = format!("{a}.{b}.{c}.0/24");
        let taken = ip(&["-o", "-4", "addr", "show", "to", &cidr])?;
        if !taken.trim().is_empty() {
            bail!(
                "subnet {cidr} is already in use on this host: {}",
                taken.trim()
            );
        }
        // Interface names are at most 15 bytes; pid and counter keep them unique.
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{}", std::process::id() % 1_000_000, n % 100);
        let mut link = HostLink {
            bridge: format!("pvmbr{id}"),
            tap: format!("pvmtap{id}"),
            host_ip,
            guest_ip,
            created: Vec::new(),
            _exclusive: guard,
        };
        // Each interface is recorded as soon as it exists, so Drop removes what was made.
        ip(&["link", "add", &link.bridge, "type", "bridge"])?;
        link.created.push(link.bridge.clone());
        ip(&["tuntap", "add", "dev", &link.tap, "mode", "tap"])?;
        link.created.push(link.tap.clone());
        ip(&["link", "set", &link.tap, "master", &link.bridge])?;
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &link.bridge])?;
        ip(&["link", "set", &link.tap, "up"])?;
        ip(&["link", "set", &link.bridge, "up"])?;
        Ok(link)
    }

    /// The guest's address with prefix, for the kernel command line.
    pub fn guest_cidr(&self) -> String {
        format!("{}/24", self.guest_ip)
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        // Tap first (it is enslaved to the bridge), then the bridge.
        for name in self.created.iter().rev() {
            let _ = ip(&["link", "del", name]);
        }
    }
}

/// True if a network interface named `name` exists.
pub fn interface_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_is_created_addressed_and_removed() {
        let (bridge, tap) = {
            let link = HostLink::create(Ipv4Addr::new(10, 213, 78, 0)).unwrap();
            assert!(interface_exists(&link.bridge));
            assert!(interface_exists(&link.tap));
            let master = std::fs::read_link(format!("/sys/class/net/{}/master", link.tap)).unwrap();
            assert!(master.ends_with(&link.bridge));
            let addrs = ip(&["-o", "-4", "addr", "show", "dev", &link.bridge]).unwrap();
            assert!(addrs.contains("10.213.78.1/24"), "{addrs}");
            assert_eq!(link.guest_cidr(), "10.213.78.2/24");
            (link.bridge.clone(), link.tap.clone())
        };
        assert!(!interface_exists(&bridge));
        assert!(!interface_exists(&tap));
    }
}
