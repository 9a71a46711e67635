//! The lab registry's TLS and password files: a CA made at `pier lab start` (rcgen), a
//! server certificate it signs for `localhost` and 127.0.0.1, and an htpasswd line (bcrypt,
//! as the registry requires, by Apache's `htpasswd`).

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the server's certificate and key were written.
pub struct ServerFiles {
    /// The certificate (PEM), signed by the lab's CA.
    pub server_cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub server_key: PathBuf,
}

/// Makes a CA (`DIR/ca.crt`, the file the student trusts) and a server certificate for
/// `localhost` and 127.0.0.1 in `DIR/registry-tls/`. The CA's key is not kept: nothing
/// else is ever signed with it.
pub fn write(dir: &Path) -> Result<ServerFiles> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .context("making the lab CA's parameters")?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pier lab 11 CA");
    let ca_key = rcgen::KeyPair::generate().context("making the lab CA's key")?;
    let ca = params
        .self_signed(&ca_key)
        .context("signing the lab CA's certificate")?;
    let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .context("making the registry certificate's parameters")?;
    let key = rcgen::KeyPair::generate().context("making the registry's key")?;
    let cert = server
        .signed_by(&key, &ca, &ca_key)
        .context("signing the registry's certificate")?;
    let tls = dir.join("registry-tls");
    std::fs::create_dir_all(&tls).with_context(|| format!("creating {}", tls.display()))?;
    let files = ServerFiles {
        server_cert: tls.join("server.crt"),
        server_key: tls.join("server.key"),
    };
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).with_context(|| format!("writing {}", ca_path.display()))?;
    std::fs::write(&files.server_cert, cert.pem())
        .with_context(|| format!("writing {}", files.server_cert.display()))?;
    super::write_private(&files.server_key, &key.serialize_pem())?;
    Ok(files)
}

/// `user:bcrypt-hash`, for the registry's htpasswd file; the password goes through a pipe,
/// never the command line.
pub fn htpasswd(user: &str, password: &str) -> Result<String> {
    let mut child = Command::new("htpasswd")
        .args(["-Bin", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(
            "lab 11 needs htpasswd: apt-get install apache2-utils (scripts/setup.sh installs it)",
        )?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}").context("giving htpasswd the password")?;
    }
    let out = child.wait_with_output().context("running htpasswd")?;
    if !out.status.success() {
        bail!(
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("htpasswd printed something that is not UTF-8")
}
