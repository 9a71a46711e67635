//! End-to-end: pier against a real registry over TLS with token authentication, offline.
//!
//! The test makes a CA and server certificates (rcgen), starts Debian's `docker-registry`
//! with TLS on this machine's own non-loopback address (the certificate's SAN is that IP:
//! no name resolution to fake, no /etc/hosts edit) and `auth: token:` pointing at a token
//! server on a thread here, which checks Basic credentials and issues ES256 JWTs for the
//! requested scopes, signed by a key whose certificate is the registry's `rootcertbundle`
//! (distribution 2.8 verifies the `x5c` chain against it). skopeo puts pier's busybox
//! there; pier logs in, pulls, runs and pushes back, and pulls `nginx` through a
//! `registry-mirrors` entry, as on a laptop.
//!
//! Everything pier reads is private to the test: PIER_ROOT, DOCKER_CONFIG (credentials),
//! PIER_CONFIG (mirrors, insecure registries), PIER_CERTS_D (the CA). Registries are
//! killed and directories removed by guards.
//!
//! Needs: docker-registry, skopeo, busybox-static, a non-loopback IPv4 address.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::http_server::Server;
use pier_testkit::prereq;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PIER: &str = env!("CARGO_BIN_EXE_pier");
const USER: &str = "alice";
const PASSWORD: &str = "wonderland-7";
const SERVICE: &str = "pier-test-registry";
const ISSUER: &str = "pier-test-token-server";
/// The OAuth2 refresh token the token server accepts (Docker's `identitytoken`).
const REFRESH_TOKEN: &str = "refresh-me-0123";

/// A test's private world: pier state, Docker client config, pier config, certs.d.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn root(&self) -> PathBuf {
        self.path().join("root")
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(PIER);
        c.args(args)
            .env("PIER_ROOT", self.root())
            .env("DOCKER_CONFIG", self.path().join("docker"))
            .env("PIER_CONFIG", self.path().join("pier-config.json"))
            .env("PIER_CERTS_D", self.path().join("certs.d"));
        // Credential helpers the test installs live in bin/.
        let path = std::env::var("PATH").unwrap_or_default();
        c.env(
            "PATH",
            format!("{}:{path}", self.path().join("bin").display()),
        );
        c
    }
    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut c = self.command(args);
        c.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(i) = input {
            child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "pier {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn err(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(!out.status.success(), "pier {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
    fn trust(&self, host: &str, ca_pem: &str) {
        let d = self.path().join("certs.d").join(host);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("ca.crt"), ca_pem).unwrap();
    }
    fn config(&self, json: &str) {
        fs::write(self.path().join("pier-config.json"), json).unwrap();
    }
    fn login(&self, host: &str, password: &str) -> Output {
        self.run(
            &["login", "-u", USER, "--password-stdin", host],
            Some(&format!("{password}\n")),
        )
    }
    /// No image, blob or layer was stored.
    fn assert_nothing_stored(&self) {
        assert_eq!(self.ok(&["images", "-q"]).trim(), "", "no image listed");
        let blobs = self.root().join("images/blobs/sha256");
        let n = fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "no blob left in {}", blobs.display());
    }
}

/// This machine's first global IPv4 address (the registry's certificate names it).
fn host_ip() -> Result<Ipv4Addr, String> {
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

fn free_port(ip: Ipv4Addr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and certificates it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pier test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }
    fn pem(&self) -> String {
        self.cert.pem()
    }
    /// (certificate PEM, key PEM) for these names (IP addresses become IP SANs).
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// The token server: Basic alice:PASSWORD (or the OAuth2 refresh token) -> a JWT for the
/// requested scopes.
struct TokenServer {
    _server: Server,
    port: u16,
    cert_pem: String,
}

impl TokenServer {
    fn start() -> TokenServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pier test token signer");
        let cert = params.self_signed(&key).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let rng = ring::rand::SystemRandom::new();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        let server = Server::start(move |stream, _| {
            let _ = answer_token_request(stream, &signer, &rng, &x5c);
        });
        TokenServer {
            port: server.port(),
            _server: server,
            cert_pem: cert.pem(),
        }
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// One request (HTTP/1.1, Connection: close): GET /token?scope=..&service=..
fn answer_token_request(
    stream: TcpStream,
    signer: &ring::signature::EcdsaKeyPair,
    rng: &ring::rand::SystemRandom,
    x5c: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut auth = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = v.trim().to_string();
            }
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    // OAuth2: POST grant_type=refresh_token&refresh_token=...&scope=a+b (form encoded).
    let mut form = vec![0u8; length];
    reader.read_exact(&mut form)?;
    let form = String::from_utf8_lossy(&form)
        .replace('+', " ")
        .replace("%20", " ");
    let field = |name: &str| {
        form.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_string()
    };
    let reply = |out: &mut TcpStream, status: &str, body: &str| {
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let oauth = request.starts_with("POST")
        && field("grant_type") == "refresh_token"
        && field("refresh_token") == REFRESH_TOKEN;
    if auth != expected && !oauth {
        return reply(
            &mut out,
            "401 Unauthorized",
            r#"{"details":"bad credentials"}"#,
        );
    }
    let target = request.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes: Vec<String> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("scope=").map(str::to_string))
        .collect();
    if oauth {
        scopes = field("scope").split(' ').map(str::to_string).collect();
    }
    let mut access = Vec::new();
    for scope in &scopes {
        let scope = scope
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%2F", "/");
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if parts.len() == 3 {
            access.push(serde_json::json!({
                "type": parts[0], "name": parts[1],
                "actions": parts[2].split(',').collect::<Vec<_>>(),
            }));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 600, "nbf": now - 60, "iat": now,
        "jti": format!("t{now}{}", access.len()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = signer.sign(rng, signing_input.as_bytes()).unwrap();
    let token = format!("{signing_input}.{}", b64url(sig.as_ref()));
    reply(
        &mut out,
        "200 OK",
        &serde_json::json!({"token": token, "access_token": token, "expires_in": 600}).to_string(),
    )
}

/// A `docker-registry` on `ip:port`: with TLS (cert, key) and token auth, or plain.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    host: String,
}

impl Registry {
    fn start(ip: Ipv4Addr, tls: Option<(&str, &str)>, token: Option<&TokenServer>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port(ip);
        let d = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {ip}:{port}\n",
            d.join("data").display()
        );
        if let Some((cert, key)) = tls {
            fs::write(d.join("server.crt"), cert).unwrap();
            fs::write(d.join("server.key"), key).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display()
            ));
        }
        if let Some(t) = token {
            fs::write(d.join("token.crt"), &t.cert_pem).unwrap();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                t.port,
                d.join("token.crt").display()
            ));
        }
        fs::write(d.join("config.yml"), config).unwrap();
        let log = fs::File::create(d.join("log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry {
            child,
            dir,
            host: format!("{ip}:{port}"),
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
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Prereqs {
    ip: Ipv4Addr,
}

fn prereqs() -> Option<Prereqs> {
    prereq::require(
        "docker-registry (apt-get install docker-registry)",
        if Path::new("/usr/bin/docker-registry").exists() {
            Ok(())
        } else {
            Err("/usr/bin/docker-registry is missing")
        },
    )?;
    prereq::require(
        "skopeo (apt-get install skopeo)",
        Command::new("skopeo").arg("--version").output(),
    )?;
    let ip = prereq::require("a non-loopback IPv4 address", host_ip())?;
    Some(Prereqs { ip })
}

/// busybox from `pier image bootstrap`, saved as an OCI archive, copied by skopeo to
/// `docker://HOST/REPO` with the registry's CA and the test user's credentials.
fn seed(registry: &Registry, ca_pem: &str, repos: &[&str]) -> (World, PathBuf) {
    let src = World::new();
    src.ok(&["image", "bootstrap", "busybox"]);
    let archive = src.path().join("bb.tar");
    src.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    let certs = src.path().join("skopeo-certs");
    fs::create_dir_all(&certs).unwrap();
    fs::write(certs.join("ca.crt"), ca_pem).unwrap();
    for repo in repos {
        let out = Command::new("skopeo")
            .args(["copy", "--dest-cert-dir"])
            .arg(&certs)
            .args(["--dest-creds", &format!("{USER}:{PASSWORD}")])
            .arg(format!("oci-archive:{}:busybox:latest", archive.display()))
            .arg(format!("docker://{}/{repo}", registry.host))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy to {repo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (src, certs)
}

fn image_id(w: &World, image: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["image", "inspect", image])).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

#[test]
fn login_pull_run_push_over_tls_with_token_auth() {
    let Some(p) = prereqs() else { return };
    let ca = Ca::new();
    let (cert, key) = ca.issue(&[&p.ip.to_string()]);
    let tokens = TokenServer::start();
    let reg = Registry::start(p.ip, Some((&cert, &key)), Some(&tokens));
    let (src, certs) = seed(&reg, &ca.pem(), &["team/bb:v1"]);
    let name = format!("{}/team/bb:v1", reg.host);

    let w = World::new();
    // Without the CA, the registry's certificate is not trusted: a clear error, nothing kept.
    let err = w.err(&["pull", &name]);
    assert!(
        err.contains("certificate") && err.contains("ca.crt"),
        "{err}"
    );
    w.assert_nothing_stored();
    w.trust(&reg.host, &ca.pem());
    // Trusted, but anonymous: the token server refuses.
    let err = w.err(&["pull", &name]);
    assert!(
        err.contains("token server") && err.contains("pier login"),
        "{err}"
    );
    w.assert_nothing_stored();

    // A wrong password is refused and saves nothing; the right one is saved 0600, in
    // Docker's format, and never printed.
    let out = w.login(&reg.host, "not-it");
    assert!(!out.status.success());
    let config = w.path().join("docker/config.json");
    assert!(!config.exists(), "a failed login saves nothing");
    let out = w.login(&reg.host, PASSWORD);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(PASSWORD), "the password is never printed");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(
        saved["auths"][&reg.host]["auth"],
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );

    // Pull over TLS, run, push back under another name.
    w.ok(&["pull", &name]);
    assert_eq!(image_id(&w, &name), image_id(&src, "busybox"));
    assert_eq!(
        w.ok(&["run", "--rm", &name, "echo", "over tls"]).trim(),
        "over tls"
    );
    let back = format!("{}/team/back:v2", reg.host);
    w.ok(&["tag", &name, &back]);
    // Its blobs are in team/bb already: mounted across repositories (the token asked for
    // push on team/back and pull on team/bb), none uploaded.
    let pushed = w.ok(&["push", &back]);
    assert!(pushed.contains(": Mounted from team/bb"), "{pushed}");
    assert!(!pushed.contains(": Pushed"), "{pushed}");
    let out = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(&certs)
        .args(["--creds", &format!("{USER}:{PASSWORD}")])
        .arg(format!("docker://{back}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A zstd-compressed copy (skopeo recompresses the layer into an OCI directory, then
    // pushes that) pulls to the same image.
    let zdir = src.path().join("zstd-oci");
    let skopeo = |args: Vec<String>| {
        let out = Command::new("skopeo").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    skopeo(vec![
        "copy".into(),
        "--dest-compress".into(),
        "--dest-compress-format".into(),
        "zstd".into(),
        format!(
            "oci-archive:{}:busybox:latest",
            src.path().join("bb.tar").display()
        ),
        format!("oci:{}:z", zdir.display()),
    ]);
    skopeo(vec![
        "copy".into(),
        "--preserve-digests".into(),
        "--dest-cert-dir".into(),
        certs.display().to_string(),
        "--dest-creds".into(),
        format!("{USER}:{PASSWORD}"),
        format!("oci:{}:z", zdir.display()),
        format!("docker://{}/team/zstd:1", reg.host),
    ]);
    let zstd = format!("{}/team/zstd:1", reg.host);
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(&certs)
        .args(["--creds", &format!("{USER}:{PASSWORD}")])
        .arg(format!("docker://{zstd}"))
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
    assert!(raw.contains("tar+zstd"), "the copy has a zstd layer: {raw}");
    w.ok(&["pull", &zstd]);
    assert_eq!(image_id(&w, &zstd), image_id(&src, "busybox"));
    assert_eq!(w.ok(&["run", "--rm", &zstd, "echo", "zstd"]).trim(), "zstd");

    // Logged out, the registry is closed again.
    w.ok(&["logout", &reg.host]);
    let err = w.err(&["pull", &back]);
    assert!(err.contains("pier login"), "{err}");
}

#[test]
fn an_identity_token_in_config_json_is_exchanged_by_oauth2() {
    let Some(p) = prereqs() else { return };
    let ca = Ca::new();
    let (cert, key) = ca.issue(&[&p.ip.to_string()]);
    let tokens = TokenServer::start();
    let reg = Registry::start(p.ip, Some((&cert, &key)), Some(&tokens));
    let (_src, _certs) = seed(&reg, &ca.pem(), &["team/bb:v1"]);
    let name = format!("{}/team/bb:v1", reg.host);
    // `auth` holds a wrong password: only the identity token can get a token.
    let docker_config = |w: &World, token: &str| {
        let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"));
        let doc = serde_json::json!({"auths": {reg.host.clone(): {"auth": wrong, "identitytoken": token}}});
        fs::create_dir_all(w.path().join("docker")).unwrap();
        fs::write(w.path().join("docker/config.json"), doc.to_string()).unwrap();
    };
    let w = World::new();
    w.trust(&reg.host, &ca.pem());
    docker_config(&w, REFRESH_TOKEN);
    w.ok(&["pull", &name]);
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 1);

    let stale = World::new();
    stale.trust(&reg.host, &ca.pem());
    docker_config(&stale, "expired-token");
    let err = stale.err(&["pull", &name]);
    assert!(
        err.contains("identity token") && err.contains("pier login"),
        "{err}"
    );
    stale.assert_nothing_stored();
}

#[test]
fn docker_hub_names_go_through_a_mirror() {
    let Some(p) = prereqs() else { return };
    let ca = Ca::new();
    let (cert, key) = ca.issue(&[&p.ip.to_string()]);
    let tokens = TokenServer::start();
    let reg = Registry::start(p.ip, Some((&cert, &key)), Some(&tokens));
    let (src, _) = seed(&reg, &ca.pem(), &["library/nginx:latest", "someone/app:1"]);

    let w = World::new();
    w.trust(&reg.host, &ca.pem());
    w.config(&format!(
        r#"{{"registry-mirrors": ["https://{}"]}}"#,
        reg.host
    ));
    assert!(w.login(&reg.host, PASSWORD).status.success());
    // --pull never: a missing image is an error, and nothing is fetched.
    let err = w.err(&["run", "--rm", "--pull", "never", "nginx", "true"]);
    assert!(err.contains("nginx"), "{err}");
    w.assert_nothing_stored();
    // `pier run` pulls a missing image, as docker run does. `nginx` is
    // docker.io/library/nginx:latest; registry-1.docker.io is unreachable here, so it can
    // only have come from the mirror.
    let out = w.run(&["run", "--rm", "nginx", "echo", "mirrored"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mirrored");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("Downloaded image for nginx:latest"),
        "{progress}"
    );
    assert_eq!(image_id(&w, "nginx"), image_id(&src, "busybox"));
    // Present: run does not pull again; --pull always does; pull says the full name.
    let out = w.run(&["run", "--rm", "nginx", "true"], None);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
    let id = w.ok(&["create", "--pull", "always", "nginx"]);
    w.ok(&["rm", id.trim()]);
    let out = w.ok(&["pull", "nginx"]);
    assert!(out.contains("docker.io/library/nginx:latest"), "{out}");
    let err = w.err(&["run", "--pull", "sometimes", "nginx"]);
    assert!(err.contains("missing, always or never"), "{err}");
    // FROM pulls a missing base image too, as docker build does.
    let ctx = w.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM someone/app:1\nRUN echo built > /built\n",
    )
    .unwrap();
    let out = w.ok(&["build", "-t", "derived:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Downloaded image for someone/app:1"), "{out}");
    assert_eq!(
        w.ok(&["run", "--rm", "derived:1", "cat", "/built"]).trim(),
        "built"
    );
    w.ok(&["pull", "someone/app:1"]);
    assert_eq!(
        image_id(&w, "docker.io/someone/app:1"),
        image_id(&src, "busybox")
    );
    // An image the mirror lacks: the mirror's error is reported, then the origin's.
    let err = w.err(&["pull", "absent"]);
    assert!(err.contains("registry-1.docker.io"), "{err}");
}

#[test]
fn wrong_certificate_and_plain_http_are_refused_clearly() {
    let Some(p) = prereqs() else { return };
    let ca = Ca::new();
    // A certificate from the trusted CA, but for another name.
    let (cert, key) = ca.issue(&["other.example"]);
    let wrong = Registry::start(p.ip, Some((&cert, &key)), None);
    let w = World::new();
    w.trust(&wrong.host, &ca.pem());
    let err = w.err(&["pull", &format!("{}/x/y:1", wrong.host)]);
    assert!(
        err.contains("certificate for another name") && err.contains(&wrong.host),
        "{err}"
    );
    w.assert_nothing_stored();

    // On loopback (where plain HTTP is allowed after HTTPS fails), an untrusted
    // certificate is still the error shown, not the registry's answer to plain HTTP.
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let local = Registry::start(Ipv4Addr::LOCALHOST, Some((&cert, &key)), None);
    let err = w.err(&["pull", &format!("{}/x/y:1", local.host)]);
    assert!(err.contains("ca.crt") && !err.contains("400"), "{err}");
    w.assert_nothing_stored();

    // A plain-HTTP registry on a non-loopback address: refused unless marked insecure.
    let plain = Registry::start(p.ip, None, None);
    let src = World::new();
    src.ok(&["image", "bootstrap", "busybox"]);
    src.config(&format!(r#"{{"insecure-registries": ["{}"]}}"#, plain.host));
    let name = format!("{}/team/plain:1", plain.host);
    src.ok(&["tag", "busybox", &name]);
    src.ok(&["push", &name]);
    let err = w.err(&["pull", &name]);
    assert!(err.contains("insecure-registries"), "{err}");
    w.assert_nothing_stored();
    w.config(&format!(r#"{{"insecure-registries": ["{}/32"]}}"#, p.ip));
    let out = w.run(&["pull", &name], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("plain HTTP"),
        "the fall back to plain HTTP is said, never silent"
    );
}

#[test]
fn a_credential_helper_keeps_the_secret_out_of_config_json() {
    let Some(p) = prereqs() else { return };
    let ca = Ca::new();
    let (cert, key) = ca.issue(&[&p.ip.to_string()]);
    let tokens = TokenServer::start();
    let reg = Registry::start(p.ip, Some((&cert, &key)), Some(&tokens));
    let (src, _) = seed(&reg, &ca.pem(), &["team/helped:1"]);
    let w = World::new();
    w.trust(&reg.host, &ca.pem());
    // A helper speaking Docker's protocol, keeping one entry in a file of its own.
    let bin = w.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let kept = w.path().join("helper-kept.json");
    let helper = bin.join("docker-credential-pierfake");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             get) read url; [ -f {k} ] && cat {k} && exit 0; echo 'credentials not found in native keychain'; exit 1;;\n\
             store) cat > {k};;\n\
             erase) read url; [ -f {k} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}; rm {k};;\n\
             esac\n",
            k = kept.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let config = w.path().join("docker/config.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(
        &config,
        format!(r#"{{"credHelpers": {{"{}": "pierfake"}}}}"#, reg.host),
    )
    .unwrap();

    let out = w.login(&reg.host, PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker-credential-pierfake"));
    let stored: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(stored["Username"], USER);
    assert_eq!(stored["Secret"], PASSWORD);
    assert_eq!(stored["ServerURL"], reg.host.as_str());
    assert!(
        !fs::read_to_string(&config).unwrap().contains("auth\""),
        "the secret is in the helper, not in config.json"
    );
    let name = format!("{}/team/helped:1", reg.host);
    w.ok(&["pull", &name]);
    assert_eq!(image_id(&w, &name), image_id(&src, "busybox"));
    w.ok(&["logout", &reg.host]);
    assert!(!kept.exists(), "logout erased it from the helper");
    w.ok(&["rmi", &name]);
    let err = w.err(&["pull", &name]);
    assert!(err.contains("pier login"), "{err}");
}
