//! pier's registry configuration: which registries may be spoken to in plain HTTP, and
//! which mirrors serve Docker Hub.
//!
//! One JSON file, with the keys of Docker's `daemon.json` so that an administrator's
//! settings carry over: `/etc/pier/config.json`, or the file `$PIER_CONFIG` names.
//!
//! ```json
//! { "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"],
//!   "registry-mirrors": ["https://mirror.gcr.io"] }
//! ```
//!
//! A missing file is an empty configuration; a file that cannot be read or parsed is an
//! error (a typo must not silently switch a registry back to HTTPS or drop a mirror).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// Where the configuration is read from unless `$PIER_CONFIG` names another file.
pub const DEFAULT_CONFIG: &str = "/etc/pier/config.json";

/// The environment variable naming another configuration file.
pub const CONFIG_ENV: &str = "PIER_CONFIG";

/// The registry settings of pier's configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`) or networks (`10.0.0.0/8`) that may be spoken to in
    /// plain HTTP, as Docker's `insecure-registries`.
    #[serde(default, rename = "insecure-registries")]
    pub insecure_registries: Vec<String>,
    /// Mirrors of Docker Hub (`https://host[:port]`), tried in order before it.
    #[serde(default, rename = "registry-mirrors")]
    pub registry_mirrors: Vec<String>,
    /// Layers a pull downloads at once, as Docker's `max-concurrent-downloads` (default
    /// [`DEFAULT_CONCURRENT_DOWNLOADS`]).
    #[serde(default, rename = "max-concurrent-downloads")]
    pub max_concurrent_downloads: Option<usize>,
}

/// Layers downloaded at once unless configured: Docker's default.
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;

impl RegistryConfig {
    /// The configuration file's path.
    pub fn path() -> PathBuf {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from)
    }

    /// Reads the configuration file (none: the defaults).
    pub fn load() -> Result<RegistryConfig> {
        let path = Self::path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistryConfig::default())
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let config: RegistryConfig = serde_json::from_str(&text)
            .with_context(|| format!("parsing pier's configuration {}", path.display()))?;
        for m in &config.registry_mirrors {
            Mirror::parse(m).with_context(|| format!("registry-mirrors in {}", path.display()))?;
        }
        Ok(config)
    }

    /// Whether `host` (`name[:port]`) may be spoken to in plain HTTP: a loopback address,
    /// or listed in `insecure-registries` (by name, or by an IP network containing it).
    pub fn allows_plain_http(&self, host: &str) -> bool {
        is_loopback(host)
            || self.insecure_registries.iter().any(|entry| {
                entry == host
                    || entry.trim_end_matches('/') == host
                    || ip_of(host).is_some_and(|ip| in_network(ip, entry))
            })
    }

    /// Layers a pull downloads at once (at least 1).
    pub fn concurrent_downloads(&self) -> usize {
        self.max_concurrent_downloads
            .unwrap_or(DEFAULT_CONCURRENT_DOWNLOADS)
            .max(1)
    }

    /// The parsed mirrors of Docker Hub, in order.
    pub fn mirrors(&self) -> Vec<Mirror> {
        self.registry_mirrors
            .iter()
            .filter_map(|m| Mirror::parse(m).ok())
            .collect()
    }
}

/// A `registry-mirrors` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]`.
    pub host: String,
    /// The URL said `http://`: the user chose plain HTTP for it.
    pub plain_http: bool,
}

impl Mirror {
    /// Parses `https://host[:port][/]` or `http://host[:port][/]`.
    pub fn parse(url: &str) -> Result<Mirror> {
        let (plain_http, rest) = if let Some(r) = url.strip_prefix("https://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (true, r)
        } else {
            bail!("mirror {url:?} is not an http:// or https:// URL");
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            bail!("mirror {url:?}: give the registry's root URL, https://HOST[:PORT]");
        }
        Ok(Mirror {
            host: host.to_string(),
            plain_http,
        })
    }
}

/// `localhost`, 127.0.0.0/8 or `[::1]`, with any port.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of `host[:port]` (without IPv6 brackets).
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    }
}

fn ip_of(host: &str) -> Option<IpAddr> {
    host_name(host).parse().ok()
}

/// Whether `ip` is in the CIDR network `entry` (`10.0.0.0/8`); false for other entries.
fn in_network(ip: IpAddr, entry: &str) -> bool {
    let Some((net, bits)) = entry.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let config: RegistryConfig = serde_json::from_str(
            r#"{"insecure-registries": ["registry.lan:5000", "10.1.0.0/16"],
                "registry-mirrors": ["https://mirror.example.com/", "http://127.0.0.1:5000"]}"#,
        )
        .unwrap();
        for ok in [
            "localhost:5000",
            "127.0.0.1",
            "[::1]:5000",
            "registry.lan:5000",
            "10.1.2.3:80",
        ] {
            assert!(config.allows_plain_http(ok), "{ok}");
        }
        for no in [
            "registry.lan",
            "registry.lan:5001",
            "10.2.0.1:5000",
            "docker.io",
            "[fe80::1]:5000",
        ] {
            assert!(!config.allows_plain_http(no), "{no}");
        }
        assert_eq!(
            config.mirrors(),
            vec![
                Mirror {
                    host: "mirror.example.com".into(),
                    plain_http: false
                },
                Mirror {
                    host: "127.0.0.1:5000".into(),
                    plain_http: true
                },
            ]
        );
        assert!(Mirror::parse("mirror.example.com").is_err());
        assert!(Mirror::parse("https://m.example.com/v2/x").is_err());
    }
}
