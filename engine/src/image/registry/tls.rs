//! Which certificates a registry connection trusts, and which it presents.
//!
//! HTTPS with rustls. The trusted roots are the system's CA bundle (rustls-native-certs:
//! `/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`, as Docker's Go client uses it),
//! plus, per registry, Docker's certificate directory layout, read from pier's own
//! directory and then Docker's:
//!
//! ```text
//! /etc/pier/certs.d/HOST[:PORT]/ca.crt        extra CA(s) for this registry (any *.crt)
//! /etc/docker/certs.d/HOST[:PORT]/client.cert a client certificate ...
//! /etc/docker/certs.d/HOST[:PORT]/client.key  ... and its key (any NAME.cert + NAME.key)
//! ```
//!
//! `$PIER_CERTS_D` replaces both directories (tests use it, so they never read the host's
//! /etc). A system with no CA bundle at all falls back to Mozilla's list (webpki-roots).

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The certificate directories read, in order, unless `$PIER_CERTS_D` names one.
pub const DEFAULT_CERT_DIRS: [&str; 2] = ["/etc/pier/certs.d", "/etc/docker/certs.d"];

/// The environment variable naming the one certificate directory to read instead.
pub const CERTS_ENV: &str = "PIER_CERTS_D";

/// The certificate directories, in order.
pub fn cert_dirs() -> Vec<PathBuf> {
    match std::env::var_os(CERTS_ENV).filter(|v| !v.is_empty()) {
        Some(d) => vec![PathBuf::from(d)],
        None => DEFAULT_CERT_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// The system's roots, read once per process.
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        // Unreadable files in the bundle directory are skipped, as Go's loader does.
        rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect()
    })
}

/// The TLS settings for connections to `host` (`name[:port]`, as in the reference).
pub fn tls_config(host: &str) -> Result<TlsConfig> {
    let mut extra = Vec::new();
    let mut client = None;
    for dir in cert_dirs() {
        let dir = dir.join(host);
        if dir.is_dir() {
            read_host_dir(&dir, &mut extra, &mut client)?;
        }
    }
    let system = system_roots();
    let roots = if system.is_empty() && extra.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(system.iter().cloned().chain(extra).collect()))
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .build())
}

/// Reads one `certs.d/HOST` directory: `*.crt` are CAs, `NAME.cert` + `NAME.key` a client
/// certificate (the first pair found wins, as in Docker).
fn read_host_dir(
    dir: &Path,
    roots: &mut Vec<Certificate<'static>>,
    client: &mut Option<ClientCert>,
) -> Result<()> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    names.sort();
    for path in names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => roots.extend(read_certs(&path)?),
            Some("cert") if client.is_none() => {
                let key_path = path.with_extension("key");
                if !key_path.exists() {
                    bail!(
                        "client certificate {} has no key {}",
                        path.display(),
                        key_path.display()
                    );
                }
                let chain = read_certs(&path)?;
                let key = read_key(&key_path)?;
                *client = Some(ClientCert::new_with_certs(&chain, key));
            }
            Some("key") if !path.with_extension("cert").exists() => {
                bail!(
                    "client key {} has no certificate {}",
                    path.display(),
                    path.with_extension("cert").display()
                );
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) =
            item.with_context(|| format!("parsing {} (PEM)", path.display()))?
        {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKey<'static>> {
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    PrivateKey::from_pem(&pem).with_context(|| format!("parsing the key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certs_dir_with_garbage_or_a_lone_key_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("reg.example:5000");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        let mut roots = Vec::new();
        let mut client = None;
        let err = read_host_dir(&host, &mut roots, &mut client)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ca.crt"), "{err}");
        fs::remove_file(host.join("ca.crt")).unwrap();
        fs::write(host.join("client.key"), "x").unwrap();
        let err = read_host_dir(&host, &mut roots, &mut client)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no certificate"), "{err}");
    }
}
