//! Host <-> guest networking for the net suite: a bridge holding the host's address and a
//! tap device for the guest's virtio-net NIC, on a test-only /24 with no route, NAT or
//! forwarding anywhere else, so the only traffic is between the host and this guest.
//! [`HostLink`] deletes both interfaces when dropped, even after an error.
//!
//! Interfaces are made with iproute2's `ip`, the tool a reader would use by hand.

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The default test subnet (a /24): host `.1`, guest `.2`.
pub const DEFAULT_SUBNET: Ipv4Addr = Ipv4Addr::new(10, 213, 77, 0);

/// The guest NIC's MAC address (52:54:00 is qemu's locally administered prefix).
pub const GUEST_MAC: &str = "52:54:00:d5:4d:02";

/// One subnet means one link at a time in this process.
static IN_USE: Mutex<()> = Mutex::new(());

/// Interface name prefixes; the owning process id follows, so links left behind by a
/// killed process can be recognised and removed, then `-` and this link's number in the
/// process.
const BRIDGE_PREFIX: &str = "pvmb";
const TAP_PREFIX: &str = "pvmt";

/// Numbers the links of this process: a link made right after another was dropped gets
/// other names, so whoever checks that the old ones are gone never sees the new ones.
static NEXT_LINK: AtomicU32 = AtomicU32::new(0);

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
        remove_stale_links();
        let taken = ip(&["-o", "-4", "addr", "show", "to", &cidr])?;
        if !taken.trim().is_empty() {
            bail!(
                "subnet {cidr} is already in use on this host: {}",
                taken.trim()
            );
        }
        // The pid and the link's number make names unique: 4 + at most 7 digits + `-` + at
        // most 3 digits, within the 15-byte limit on interface names.
        let pid = std::process::id();
        let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed) % 1000;
        let mut link = HostLink {
            bridge: format!("{BRIDGE_PREFIX}{pid}-{n}"),
            tap: format!("{TAP_PREFIX}{pid}-{n}"),
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

/// Deletes pier VM interfaces whose owning process no longer exists (it was killed before
/// its Drop ran).
fn remove_stale_links() {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [TAP_PREFIX, BRIDGE_PREFIX]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = ip(&["link", "del", &name]);
            }
        }
    }
}

/// True if `/dev/vhost-net` can be opened read-write (qemu needs it for `vhost=on`).
pub fn vhost_net_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/vhost-net")
        .is_ok()
}

/// True if a network interface named `name` exists.
pub fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_dead_processes_are_removed() {
        // The highest pid Linux can hand out; checked free rather than assumed.
        let dead = 4_194_303u32;
        assert!(!Path::new(&format!("/proc/{dead}")).exists());
        let name = format!("{TAP_PREFIX}{dead}-7");
        ip(&["tuntap", "add", "dev", &name, "mode", "tap"]).unwrap();
        let _link = HostLink::create(Ipv4Addr::new(10, 213, 80, 0)).unwrap();
        let left = interface_exists(&name);
        let _ = ip(&["link", "del", &name]);
        assert!(!left, "{name} was removed");
    }

    #[test]
    fn a_link_made_after_another_has_new_names() {
        let first = HostLink::create(Ipv4Addr::new(10, 213, 82, 0)).unwrap();
        let (bridge, tap) = (first.bridge.clone(), first.tap.clone());
        drop(first);
        let second = HostLink::create(Ipv4Addr::new(10, 213, 82, 0)).unwrap();
        assert_ne!(second.bridge, bridge);
        assert_ne!(second.tap, tap);
        assert!(!interface_exists(&bridge) && !interface_exists(&tap));
        assert!(second.tap.len() <= 15 && second.bridge.len() <= 15);
    }

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
