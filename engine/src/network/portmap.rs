//! Published ports: parsing `-p`/`-P` and reserving host ports before anything is created.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One published port: host `host_ip:host_port` forwards to the container's `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host address to listen on; `None` means every host address (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// Host port; 0 asks for a free port to be picked at connect time.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

impl PortMapping {
    /// True if both mappings would claim the same host socket.
    pub fn collides_with(&self, other: &PortMapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && match (self.host_ip, other.host_ip) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Parses `a-b` or `a` into an inclusive range of ports.
fn port_range(s: &str, spec: &str) -> Result<(u16, u16)> {
    let parse = |p: &str| -> Result<u16> {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .with_context(|| format!("bad port {p:?} in -p {spec:?}"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                bail!("bad port range {s:?} in -p {spec:?}");
            }
            Ok((a, b))
        }
        None => {
            let p = parse(s)?;
            Ok((p, p))
        }
    }
}

/// Parses one `-p` value: `[IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|/udp]`.
/// A missing (or empty, as in `127.0.0.1::80`) host port means "pick a free one".
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>> {
    let (ports, protocol) = match spec.rsplit_once('/') {
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some((_, other)) => bail!("bad protocol {other:?} in -p {spec:?} (tcp or udp)"),
        None => (spec, Protocol::Tcp),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(*ip), *h, *c),
        _ => bail!("bad -p {spec:?}: expected [IP:]HOST_PORT:CONTAINER_PORT[/PROTO]"),
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<Ipv4Addr>()
                .with_context(|| format!("bad host address {ip:?} in -p {spec:?}"))?,
        ),
    };
    let (c_lo, c_hi) = port_range(container, spec)?;
    let host_range = if host.is_empty() {
        None
    } else {
        let (h_lo, h_hi) = port_range(host, spec)?;
        if h_hi - h_lo != c_hi - c_lo {
            bail!("bad -p {spec:?}: host and container ranges differ in length");
        }
        Some(h_lo)
    };
    Ok((c_lo..=c_hi)
        .map(|container_port| PortMapping {
            host_ip,
            host_port: host_range.map_or(0, |h| h + (container_port - c_lo)),
            container_port,
            protocol,
        })
        .collect())
}

/// `-P`: every exposed port (from the image) published on a free host port.
pub fn publish_all(exposed: &[(u16, Protocol)]) -> Vec<PortMapping> {
    exposed
        .iter()
        .map(|&(container_port, protocol)| PortMapping {
            host_ip: None,
            host_port: 0,
            container_port,
            protocol,
        })
        .collect()
}

/// Tries to bind the host socket a mapping would claim; Ok(port) if it is free (the port the
/// kernel picked when `host_port` is 0). The socket is closed again at once.
fn probe(ip: Ipv4Addr, port: u16, protocol: Protocol) -> std::io::Result<u16> {
    let addr = SocketAddrV4::new(ip, port);
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

/// Checks every requested mapping against pier's own published ports (`taken`, with the
/// owning container) and against host processes (by binding the port), and picks free ports
/// for `host_port == 0`. Returns the final mappings; nothing has been created yet.
pub fn reserve(
    requested: &[PortMapping],
    taken: &[(PortMapping, String)],
) -> Result<Vec<PortMapping>> {
    let mut out: Vec<PortMapping> = Vec::with_capacity(requested.len());
    for m in requested {
        let ip = m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let clash = |c: &PortMapping| -> Option<String> {
            if let Some((_, owner)) = taken.iter().find(|(t, _)| t.collides_with(c)) {
                return Some(format!("published by pier container {owner}"));
            }
            if out.iter().any(|o| o.collides_with(c)) {
                return Some("requested twice".into());
            }
            None
        };
        let port = if m.host_port != 0 {
            if let Some(why) = clash(m) {
                bail!(
                    "host port {ip}:{}/{} is already {why}",
                    m.host_port,
                    m.protocol
                );
            }
            probe(ip, m.host_port, m.protocol).with_context(|| {
                format!(
                    "host port {ip}:{}/{} is in use by another process on the host",
                    m.host_port, m.protocol
                )
            })?
        } else {
            let mut found = None;
            for _ in 0..32 {
                let p = probe(ip, 0, m.protocol)
                    .with_context(|| format!("picking a free host port on {ip}/{}", m.protocol))?;
                let candidate = PortMapping { host_port: p, ..*m };
                if clash(&candidate).is_none() {
                    found = Some(p);
                    break;
                }
            }
            found.with_context(|| format!("no free host port for {m}"))?
        };
        out.push(PortMapping {
            host_port: port,
            ..*m
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v[0]
    }

    #[test]
    fn network_portmap_parse_publish() {
        let m = one("8080:80");
        assert_eq!((m.host_ip, m.host_port, m.container_port), (None, 8080, 80));
        assert_eq!(m.protocol, Protocol::Tcp);
        let m = one("127.0.0.1:8080:80/udp");
        assert_eq!(m.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(m.protocol, Protocol::Udp);
        let m = one("80");
        assert_eq!((m.host_port, m.container_port), (0, 80));
        let m = one("127.0.0.1::53/udp");
        assert_eq!((m.host_port, m.container_port), (0, 53));
        let r = parse_publish("9000-9002:80-82").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[2].host_port, r[2].container_port), (9002, 82));
        for bad in [
            "",
            "a:80",
            "80/sctp",
            "1:2:3:4",
            "9000-9001:80",
            "0:80",
            "70000:80",
            "x.y:1:2",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(publish_all(&[(80, Protocol::Tcp)])[0].host_port, 0);
    }

    #[test]
    fn network_portmap_reserve_detects_conflicts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = listener.local_addr().unwrap().port();
        let err = reserve(&parse_publish(&format!("{busy}:80")).unwrap(), &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("in use by another process"),
            "{err:#}"
        );
        let taken = vec![(one("127.0.0.1:18080:80"), "c1".to_string())];
        let err = reserve(&[one("18080:81")], &taken).unwrap_err();
        assert!(format!("{err:#}").contains("pier container c1"), "{err:#}");
        let ok = reserve(&[one("127.0.0.1::80"), one("127.0.0.1::81")], &taken).unwrap();
        assert!(ok.iter().all(|m| m.host_port != 0));
        assert_ne!(ok[0].host_port, ok[1].host_port);
    }
}
