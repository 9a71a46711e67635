//! Free subnets for the bridges the bench makes (Docker's, and the scale suite's pier and
//! podman networks): in `10.<second>.0.0/16`, clear of every route of the host.

use anyhow::{Context, Result};
use pier_engine::network::ipam::Subnet;
use std::net::Ipv4Addr;

/// The first `10.<second>.N.0/<prefix>` (prefix 16 to 24) that no host route overlaps, N
/// counting from the bench's PID (so two benches starting together do not both take the
/// first free one).
pub fn free(second: u8, prefix: u8) -> Result<Subnet> {
    let mut nl = pier_oci::netlink::Netlink::open().context("opening netlink")?;
    let routes: Vec<Subnet> = nl
        .main_routes_v4()
        .context("listing the host's routes")?
        .into_iter()
        .filter(|(_, prefix, _)| *prefix > 0)
        .map(|(addr, prefix, _)| Subnet { addr, prefix })
        .collect();
    candidates(second, prefix, std::process::id())
        .find(|s| routes.iter().all(|r| !r.overlaps(s)))
        .with_context(|| format!("no free /{prefix} in 10.{second}.0.0/16 for a bench bridge"))
}

/// Every `/prefix` of `10.<second>.0.0/16`, starting at the one `seed` picks.
fn candidates(second: u8, prefix: u8, seed: u32) -> impl Iterator<Item = Subnet> {
    let prefix = prefix.clamp(16, 24);
    let step = 1u32 << (24 - prefix);
    let count = 256 / step;
    let first = seed % count;
    (0..count).map(move |i| Subnet {
        addr: Ipv4Addr::new(10, second, (((first + i) % count) * step) as u8, 0),
        prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_aligned_distinct_and_cover_the_range() {
        let all: Vec<Subnet> = candidates(253, 22, 4_194_301).collect();
        assert_eq!(all.len(), 64);
        for s in &all {
            assert_eq!(s.addr.octets()[2] % 4, 0, "{s} is not a /22 boundary");
            assert_eq!(s.prefix, 22);
        }
        let mut thirds: Vec<u8> = all.iter().map(|s| s.addr.octets()[2]).collect();
        thirds.sort_unstable();
        thirds.dedup();
        assert_eq!(thirds.len(), 64);
        assert_eq!(
            candidates(253, 24, 7).next().unwrap().to_string(),
            "10.253.7.0/24"
        );
    }
}
