//! A private registry over TLS for tests and the pull bench: a CA made here (rcgen), Debian's
//! `docker-registry` with a certificate it signs and htpasswd (Basic) authentication, on
//! this machine's first global IPv4 address (the certificate's SAN), so that pier cannot
//! take the loopback shortcut to plain HTTP; and skopeo pushing images to it.
//!
//! Self-contained (no `super::`), so `examples/pull_bench/` includes it by `#[path]`.
#![allow(dead_code)]

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the registry lets in.
pub const USER: &str = "student";
/// Its password.
pub const PASSWORD: &str = "layers-all-the-way-down";

/// This machine's first global IPv4 address.
pub fn host_ip() -> Result<Ipv4Addr, String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let cidr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            cidr.split('/').next()?.parse().ok()
        })
        .ok_or_else(|| "this machine has no global IPv4 address".to_string())
}

/// A CA and the certificates it signs.
pub struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    /// A fresh self-signed CA.
    pub fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pier test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// The CA certificate (what a client trusts).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// (certificate PEM, key PEM) for these names (IP addresses become IP SANs).
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// `docker-registry` over TLS with htpasswd authentication; killed, and its directory
/// removed, on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `IP:PORT`, as image names spell it.
    pub host: String,
    /// The CA that signed its certificate.
    pub ca: Ca,
    /// The CA in a directory of its own: skopeo's `--cert-dir`.
    pub cert_dir: PathBuf,
}

impl Registry {
    /// Starts one on `ip` (a free port), waiting until it accepts connections.
    pub fn start(ip: Ipv4Addr) -> Registry {
        let ca = Ca::new();
        let (cert, key) = ca.issue(&[&ip.to_string()]);
        let dir = tempfile::Builder::new()
            .prefix("pier-registry-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        fs::write(d.join("server.crt"), cert).unwrap();
        fs::write(d.join("server.key"), key).unwrap();
        let cert_dir = d.join("client-certs");
        fs::create_dir_all(&cert_dir).unwrap();
        fs::write(cert_dir.join("ca.crt"), ca.pem()).unwrap();
        // bcrypt, as the registry requires.
        let out = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .expect("running htpasswd (apt-get install apache2-utils)");
        assert!(out.status.success(), "htpasswd failed");
        fs::write(d.join("htpasswd"), &out.stdout).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n\
             http:\n  addr: {ip}:{port}\n  tls:\n    certificate: {crt}\n    key: {key}\n\
             auth:\n  htpasswd:\n    realm: pier-test\n    path: {htpasswd}\n",
            data = d.join("data").display(),
            crt = d.join("server.crt").display(),
            key = d.join("server.key").display(),
            htpasswd = d.join("htpasswd").display(),
        );
        fs::write(d.join("config.yml"), config).unwrap();
        let log = fs::File::create(d.join("log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry {
            child,
            dir,
            host: format!("{ip}:{port}"),
            ca,
            cert_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                fs::read_to_string(reg.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// The registry process's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its private directory (configuration, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `skopeo copy [extra] SRC docker://HOST/DEST` with the CA and the user's credentials.
    pub fn push(&self, extra: &[&str], src: &str, dest: &str) {
        let out = Command::new("skopeo")
            .arg("copy")
            .args(extra)
            .arg("--dest-cert-dir")
            .arg(&self.cert_dir)
            .args(["--dest-creds", &format!("{USER}:{PASSWORD}")])
            .arg(src)
            .arg(format!("docker://{}/{dest}", self.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy {src} to {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `skopeo copy docker://HOST/NAME DEST` (e.g. `oci:DIR:TAG`).
    pub fn fetch(&self, name: &str, dest: &str) {
        let out = Command::new("skopeo")
            .arg("copy")
            .arg("--src-cert-dir")
            .arg(&self.cert_dir)
            .args(["--src-creds", &format!("{USER}:{PASSWORD}")])
            .arg(format!("docker://{}/{name}", self.host))
            .arg(dest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy {name} to {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The manifest the registry serves for `name` (skopeo inspect --raw).
    pub fn raw_manifest(&self, name: &str) -> serde_json::Value {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(&self.cert_dir)
            .args(["--creds", &format!("{USER}:{PASSWORD}")])
            .arg(format!("docker://{}/{name}", self.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's root (`tests/common/` is two levels down).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The multi-layer Debian image (`scripts/layered-image.sh`) as an OCI layout in `out`
/// (tag `layered`), plus `bulk_mb` MiB of random data on top when non-zero.
pub fn layered_image(out: &Path, bulk_mb: u32) -> Result<PathBuf, String> {
    let o = Command::new(repo_root().join("scripts/layered-image.sh"))
        .arg(out)
        .arg(bulk_mb.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running scripts/layered-image.sh: {e}"))?;
    if !o.status.success() {
        return Err("scripts/layered-image.sh failed (its reason is above)".into());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
    ))
}
