//! IP address management: IPv4 subnets (parsing, overlap) and address allocation.
//!
//! Leases themselves are files, one per address (see `lease.rs`): a lease survives a restart
//! of pier and is freed when its endpoint is released. This module only does the arithmetic.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The default network's subnet: the one Podman uses, outside Docker's 172.17.0.0/16 and
/// the 192.168.x.0/24 ranges most home and office LANs use.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";

/// Where subnets of user networks created without `--subnet` come from: 10.89.N.0/24.
const AUTO_POOL_BASE: [u8; 2] = [10, 89];

/// An IPv4 network in CIDR form, stored normalized (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length (0..=30; smaller networks hold no container).
    pub prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// True if `ip` lies in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// True if the two subnets share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first usable host address (the default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// True if `ip` may be given to a host: inside, neither network nor broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.broadcast()
    }

    /// The lowest host address that is neither `gateway` nor in `used`.
    pub fn allocate(&self, gateway: Ipv4Addr, used: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr> {
        let first = u32::from(self.addr) + 1;
        let last = u32::from(self.broadcast());
        (first..last)
            .map(Ipv4Addr::from)
            .find(|ip| *ip != gateway && !used.contains(ip))
            .with_context(|| format!("no free address left in {self}"))
    }
}

impl FromStr for Subnet {
    type Err = anyhow::Error;

    /// Parses `a.b.c.d/len`; host bits must be zero (as `docker network create` requires).
    fn from_str(s: &str) -> Result<Subnet> {
        let (addr, prefix) = s
            .split_once('/')
            .with_context(|| format!("bad subnet {s:?}: expected CIDR like 10.89.0.0/24"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("bad subnet {s:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 30)
            .with_context(|| format!("bad subnet {s:?}: prefix must be 0..=30"))?;
        let subnet = Subnet { addr, prefix };
        if u32::from(addr) & !subnet.mask() != 0 {
            bail!(
                "bad subnet {s:?}: host bits set (did you mean {}/{prefix}?)",
                Ipv4Addr::from(u32::from(addr) & subnet.mask())
            );
        }
        Ok(subnet)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Picks the first 10.89.N.0/24 overlapping none of `taken`.
pub fn auto_subnet(taken: &[Subnet]) -> Result<Subnet> {
    (0..=255u8)
        .map(|n| Subnet {
            addr: Ipv4Addr::new(AUTO_POOL_BASE[0], AUTO_POOL_BASE[1], n, 0),
            prefix: 24,
        })
        .find(|s| taken.iter().all(|t| !t.overlaps(s)))
        .context("no free /24 left in 10.89.0.0/16 for a new network; pass a subnet")
}

/// How many /24s the default networks of non-default state roots choose from
/// (10.200.0.0/24 to 10.249.255.0/24).
const ROOT_POOL_SIZE: u32 = 50 * 256;

/// The `n`th /24 of the pool that state roots other than the installation's default one take
/// their default network from (`n` modulo the pool's size).
pub fn root_pool_subnet(n: u32) -> Subnet {
    let n = n % ROOT_POOL_SIZE;
    Subnet {
        addr: Ipv4Addr::new(10, 200 + (n / 256) as u8, (n % 256) as u8, 0),
        prefix: 24,
    }
}

/// The first /24 after `current` in the state roots' pool (wrapping round) that overlaps none
/// of `taken`.
pub fn next_free_in_root_pool(current: &Subnet, taken: &[Subnet]) -> Result<Subnet> {
    let [_, b, c, _] = current.addr.octets();
    let start = u32::from(b.wrapping_sub(200)) * 256 + u32::from(c);
    (1..ROOT_POOL_SIZE)
        .map(|i| root_pool_subnet(start + i))
        .find(|s| taken.iter().all(|t| !t.overlaps(s)))
        .context("no free /24 left in 10.200.0.0-10.249.255.0 for the default network")
}

/// Parses and checks a gateway address for `subnet`.
pub fn parse_gateway(subnet: &Subnet, gateway: &str) -> Result<Ipv4Addr> {
    let ip: Ipv4Addr = gateway
        .parse()
        .with_context(|| format!("bad gateway {gateway:?}: not an IPv4 address"))?;
    if !subnet.is_host(ip) {
        bail!("gateway {ip} is not a host address of {subnet}");
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_ipam_parse_overlap_allocate() {
        let s: Subnet = "10.213.7.0/24".parse().unwrap();
        assert_eq!(s.first_host(), Ipv4Addr::new(10, 213, 7, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 213, 7, 255));
        assert!(s.overlaps(&"10.213.0.0/16".parse().unwrap()));
        assert!(!s.overlaps(&"10.213.8.0/24".parse().unwrap()));
        assert!("10.213.7.1/24".parse::<Subnet>().is_err(), "host bits");
        assert!("10.213.7.0".parse::<Subnet>().is_err());
        assert!("10.213.7.0/31".parse::<Subnet>().is_err());
        assert!("300.1.1.0/24".parse::<Subnet>().is_err());
        let mut used = BTreeSet::new();
        let gw = s.first_host();
        let a = s.allocate(gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 213, 7, 2));
        used.insert(a);
        assert_eq!(s.allocate(gw, &used).unwrap(), Ipv4Addr::new(10, 213, 7, 3));
        let tiny: Subnet = "10.213.9.0/30".parse().unwrap();
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 213, 9, 2)].into();
        assert!(tiny.allocate(tiny.first_host(), &used).is_err(), "full");
        assert!(parse_gateway(&s, "10.213.8.1").is_err());
        assert!(parse_gateway(&s, "10.213.7.255").is_err());
        let next = next_free_in_root_pool(
            &"10.216.74.0/24".parse().unwrap(),
            &[
                "10.216.74.0/24".parse().unwrap(),
                "10.216.75.0/24".parse().unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(next.to_string(), "10.216.76.0/24", "skips every taken /24");
        let wrapped = next_free_in_root_pool(&"10.249.255.0/24".parse().unwrap(), &[]).unwrap();
        assert_eq!(wrapped.to_string(), "10.200.0.0/24", "wraps round the pool");
        let auto = auto_subnet(&["10.89.0.0/24".parse().unwrap()]).unwrap();
        assert_eq!(auto.to_string(), "10.89.1.0/24");
    }
}
