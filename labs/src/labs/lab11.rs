//! Lab 11: a registry of your own — trust its CA, log in, push, remove, pull back, only the
//! missing layers travel, roll back by tag. The registry speaks TLS with a CA `pier lab start`
//! makes (the student trusts it in pier's certs.d, never by turning verification off) and
//! asks for a password (htpasswd). The checks read pier's certs.d and credentials file, the
//! registry's storage and request log (in the lab's directory) and pier's image store.

mod certificates;

use super::ensure_busybox;
use crate::context::Ctx;
use crate::daemon;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use anyhow::{anyhow, bail, Context, Result};
use pier_engine::image::registry::{credentials::CredentialStore, tls};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

const N: u32 = 11;

/// The registry's port on 127.0.0.1.
pub const PORT: u16 = 5000;

/// The repository the lab pushes to.
const REPO: &str = "lab11-app";

/// The server's name in the lab directory (`registry.pid`, `registry.log`).
const SERVER: &str = "registry";

/// Debian's registry (package docker-registry).
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// The registry's name, as image names and certs.d spell it.
const HOST: &str = "localhost:5000";

/// The user the registry lets in; the password is made at `pier lab start`.
const USER: &str = "student";

/// Files in the lab's directory: the CA the student trusts, the password to log in with.
const CA_FILE: &str = "ca.crt";
const PASSWORD_FILE: &str = "password";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "11-registry",
        title: tr(
"A registry of your own",
"나만의 레지스트리",
),
        minutes: 45,
        host_ports: &[PORT],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "trust",
                title: tr(
"pier trusts the lab registry's CA (certs.d), with verification on",
"pier가 실습 레지스트리의 CA를 신뢰한다 (certs.d, 검증은 켠 채로)",
),
                after: &[],
                answer: None,
                hint: tr(
"Copy the lab's ca.crt to /etc/pier/certs.d/localhost:5000/ca.crt (mkdir -p the directory first)",
"실습 디렉터리의 ca.crt를 /etc/pier/certs.d/localhost:5000/ca.crt로 복사하세요 (먼저 mkdir -p로 디렉터리를 만드세요)",
),
                check: trust,
            },
            Task {
                id: "login",
                title: tr(
"you logged in to the lab registry as student",
"student로 실습 레지스트리에 로그인했다",
),
                after: &["trust"],
                answer: None,
                hint: tr(
"pier login -u student --password-stdin localhost:5000 < password (in the lab's directory)",
"실습 디렉터리에서 pier login -u student --password-stdin localhost:5000 < password 를 실행하세요",
),
                check: login,
            },
            Task {
                id: "push",
                title: tr(
"lab11-app:v1, built on busybox, is in the lab registry",
"busybox 위에 빌드한 lab11-app:v1이 실습 레지스트리에 있다",
),
                after: &["login"],
                answer: None,
                hint: tr(
"Write the Dockerfile of step 1 in the lab's directory, pier build -t lab11-app:v1 ., then pier tag lab11-app:v1 localhost:5000/lab11-app:v1 and pier push localhost:5000/lab11-app:v1",
"실습 디렉터리에 1단계의 Dockerfile을 쓰고 pier build -t lab11-app:v1 . 한 다음, pier tag lab11-app:v1 localhost:5000/lab11-app:v1 과 pier push localhost:5000/lab11-app:v1 을 실행하세요",
),
                check: push,
            },
            Task {
                id: "pull",
                title: tr(
"you removed lab11-app:v1 and pulled it back from the registry",
"lab11-app:v1을 지우고 레지스트리에서 다시 pull했다",
),
                after: &["push"],
                answer: None,
                hint: tr(
"pier rmi localhost:5000/lab11-app:v1 lab11-app:v1, then pier pull localhost:5000/lab11-app:v1: its own layer must come back from the registry",
"pier rmi localhost:5000/lab11-app:v1 lab11-app:v1 한 다음 pier pull localhost:5000/lab11-app:v1: 이미지 고유의 레이어가 레지스트리에서 다시 내려와야 합니다",
),
                check: pull,
            },
            Task {
                id: "skipped",
                title: tr(
"you found the layer the pull did not download",
"pull이 내려받지 않은 레이어를 찾았다",
),
                after: &["pull"],
                answer: Some("layer"),
                hint: tr(
"pier pull prints \"Already exists\" beside a layer it did not fetch: pier lab answer 11 layer <DIGEST>",
"pier pull은 가져오지 않은 레이어 옆에 \"Already exists\"를 출력합니다: pier lab answer 11 layer <DIGEST>",
),
                check: skipped,
            },
            Task {
                id: "v2",
                title: tr(
"lab11-app:v2 is in the registry and shares busybox's layer with v1",
"lab11-app:v2가 레지스트리에 있고 busybox 레이어를 v1과 공유한다",
),
                after: &["push"],
                answer: None,
                hint: tr(
"Change the RUN line to echo v2, pier build -t localhost:5000/lab11-app:v2 ., pier push localhost:5000/lab11-app:v2",
"RUN 줄을 echo v2로 바꾸고 pier build -t localhost:5000/lab11-app:v2 ., pier push localhost:5000/lab11-app:v2 를 실행하세요",
),
                check: v2,
            },
            Task {
                id: "rollback",
                title: tr(
"lab11-rollback ran v1 again, pulled from the registry after v2 was pushed",
"v2를 push한 뒤 레지스트리에서 pull한 v1을 lab11-rollback이 다시 실행했다",
),
                after: &["v2"],
                answer: None,
                hint: tr(
"pier rmi localhost:5000/lab11-app:v1, pier pull localhost:5000/lab11-app:v1, then pier run --name lab11-rollback localhost:5000/lab11-app:v1",
"pier rmi localhost:5000/lab11-app:v1, pier pull localhost:5000/lab11-app:v1 한 다음 pier run --name lab11-rollback localhost:5000/lab11-app:v1 을 실행하세요",
),
                check: rollback,
            },
        ],
    }
}

fn addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT))
}

/// The registry's storage directory, in the lab's directory.
fn storage(ctx: &Ctx) -> PathBuf {
    ctx.workdir(N).join("registry-data")
}

/// Starts the lab's registry on 127.0.0.1:5000 over TLS, with a CA made now (its
/// certificate is the lab's `ca.crt`) and a password (`password`), storing into the lab's
/// directory.
fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    if !Path::new(REGISTRY_BIN).exists() {
        bail!("lab 11 needs a registry: apt-get install docker-registry (scripts/setup.sh installs it)");
    }
    if TcpStream::connect_timeout(&addr(), Duration::from_millis(200)).is_ok() {
        bail!("something already listens on 127.0.0.1:{PORT}; lab 11 runs its registry there: stop it first (another lab 11 in another pier root?)");
    }
    let dir = ctx.workdir(N);
    let ca = certificates::write(&dir)?;
    let password = pier_engine::naming::new_id()?[..16].to_string();
    write_private(&dir.join(PASSWORD_FILE), &format!("{password}\n"))?;
    let htpasswd = dir.join("registry-tls/htpasswd");
    write_private(&htpasswd, &certificates::htpasswd(USER, &password)?)?;
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{PORT}\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n  htpasswd:\n    realm: pier-lab-11\n    path: {}\n",
            storage(ctx).display(),
            ca.server_cert.display(),
            ca.server_key.display(),
            htpasswd.display(),
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    let config = config.to_string_lossy().into_owned();
    daemon::spawn(
        &dir,
        SERVER,
        Path::new(REGISTRY_BIN),
        &["serve", &config],
        || TcpStream::connect_timeout(&addr(), Duration::from_millis(200)).is_ok(),
    )?;
    Ok(())
}

/// Writes a file only its owner reads (a key, a password).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The lab's CA, as `pier lab start` wrote it.
fn lab_ca(ctx: &Ctx) -> Result<String> {
    let path = ctx.workdir(N).join(CA_FILE);
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the lab's CA {} (run pier lab start 11)",
            path.display()
        )
    })
}

fn trust(ctx: &Ctx) -> Outcome {
    let ca = match lab_ca(ctx) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let dirs = tls::cert_dirs();
    for dir in &dirs {
        let host_dir = dir.join(HOST);
        let Ok(entries) = std::fs::read_dir(&host_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_crt = path.extension().is_some_and(|e| e == "crt");
            if is_crt && std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == ca.trim()) {
                return Outcome::pass(format!("{}", path.display()));
            }
        }
    }
    Outcome::fail(format!(
        "no certs.d directory holds the lab's ca.crt: copy it to {}/{HOST}/ca.crt",
        dirs.first()
            .map_or("/etc/pier/certs.d".into(), |d| d.display().to_string())
    ))
}

fn login(ctx: &Ctx) -> Outcome {
    let path = ctx.workdir(N).join(PASSWORD_FILE);
    let password = match std::fs::read_to_string(&path) {
        Ok(p) => p.trim().to_string(),
        Err(e) => return anyhow!("reading {}: {e}", path.display()).into(),
    };
    let store = match CredentialStore::open() {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    match store.get(HOST) {
        Ok(Some(c)) if c.username == USER && c.password == password => {
            Outcome::pass(format!("saved in {}", store.path().display()))
        }
        Ok(Some(c)) if c.username != USER => Outcome::fail(format!(
            "{} has a login to {HOST} as {:?}, not {USER}",
            store.path().display(),
            c.username
        )),
        Ok(Some(_)) => Outcome::fail(format!(
            "the password saved for {HOST} in {} is not this lab's (pier lab start makes a new one: log in again)",
            store.path().display()
        )),
        Ok(None) => Outcome::fail(format!(
            "{} has no login to {HOST}: pier login -u {USER} --password-stdin {HOST} < password",
            store.path().display()
        )),
        Err(e) => e.into(),
    }
}

/// The manifest the registry stores under `lab11-app:TAG`: (digest, manifest).
fn registry_manifest(ctx: &Ctx, tag: &str) -> Result<(String, serde_json::Value)> {
    let v2 = storage(ctx).join("docker/registry/v2");
    let link = v2.join(format!(
        "repositories/{REPO}/_manifests/tags/{tag}/current/link"
    ));
    let digest = std::fs::read_to_string(&link)
        .map_err(|_| anyhow!("the lab registry has no {REPO}:{tag} (did pier push localhost:{PORT}/{REPO}:{tag} succeed?)"))?
        .trim()
        .to_string();
    let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
    let blob = v2.join(format!(
        "blobs/sha256/{}/{hex}/data",
        &hex[..2.min(hex.len())]
    ));
    let text =
        std::fs::read_to_string(&blob).with_context(|| format!("reading {}", blob.display()))?;
    let manifest = serde_json::from_str(&text)
        .with_context(|| format!("parsing the manifest {}", blob.display()))?;
    Ok((digest, manifest))
}

/// The layer digests of a manifest, bottom first.
fn layers(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["digest"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The config digest (the image ID) of a manifest.
fn config_digest(manifest: &serde_json::Value) -> String {
    manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// busybox's layer, as the local store's manifest names it.
fn busybox_layer(ctx: &Ctx) -> Result<String> {
    let image = ctx.image("busybox")?;
    let manifest = ctx.engine().images()?.manifest(&image)?;
    manifest
        .layers()
        .first()
        .map(|l| l.digest().to_string())
        .ok_or_else(|| anyhow!("the busybox image has no layer"))
}

/// One request the registry answered, from its log.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    uri: String,
    status: u16,
}

/// The value of `key=` in a logrus line (quoted or not).
fn field(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        Some(quoted[..quoted.find('"')?].to_string())
    } else {
        Some(rest.split(' ').next()?.to_string())
    }
}

/// Every request the registry answered since the lab started, oldest first.
fn requests(ctx: &Ctx) -> Result<Vec<Request>> {
    let path = ctx.workdir(N).join(format!("{SERVER}.log"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_requests(&text))
}

fn parse_requests(text: &str) -> Vec<Request> {
    text.lines()
        .filter(|l| l.contains("msg=\"response completed"))
        .filter_map(|l| {
            Some(Request {
                method: field(l, "http.request.method")?,
                uri: field(l, "http.request.uri")?,
                status: field(l, "http.response.status")?.parse().ok()?,
            })
        })
        .collect()
}

/// Whether the registry sent blob `digest` (a GET answered 200: only a pull downloads).
fn sent(requests: &[Request], digest: &str) -> bool {
    requests.iter().any(|r| {
        r.method == "GET" && r.status == 200 && r.uri == format!("/v2/{REPO}/blobs/{digest}")
    })
}

fn push(ctx: &Ctx) -> Outcome {
    let (_, manifest) = match registry_manifest(ctx, "v1") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let base = match busybox_layer(ctx) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let layers = layers(&manifest);
    if layers.first() != Some(&base) {
        return Outcome::fail(
            "the lab11-app:v1 in the registry does not start with busybox's layer: is the first line FROM busybox?",
        );
    }
    if layers.len() < 2 {
        return Outcome::fail(
            "the lab11-app:v1 in the registry is busybox itself: build it from the Dockerfile of step 1 (its RUN adds a layer)",
        );
    }
    Outcome::pass(format!("{} layers", layers.len()))
}

fn pull(ctx: &Ctx) -> Outcome {
    let (digest, manifest) = match registry_manifest(ctx, "v1") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let reqs = match requests(ctx) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let own = layers(&manifest);
    let Some(top) = own.last() else {
        return Outcome::fail("the registry's lab11-app:v1 has no layer");
    };
    if !sent(&reqs, top) {
        return Outcome::fail(format!(
            "the registry never sent lab11-app:v1's own layer {}: pier still had it, so a pull fetched nothing. Remove the image (both names) before pulling",
            short(top)
        ));
    }
    match ctx.image(&format!("localhost:{PORT}/{REPO}:v1")) {
        Ok(image) if image.manifest_digest == digest => Outcome::pass("its own layer came back"),
        Ok(_) => Outcome::fail(format!(
            "localhost:{PORT}/{REPO}:v1 in pier's store is not the image the registry holds as v1: pull it again"
        )),
        Err(e) => e.into(),
    }
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn skipped(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "layer") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let (_, manifest) = match registry_manifest(ctx, "v1") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let reqs = match requests(ctx) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let hex = given
        .trim()
        .trim_end_matches(": Already exists")
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if hex.len() < 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Outcome::fail(format!(
            "{given:?} is not a layer digest (12 or more hex digits, as pier pull prints them)"
        ));
    }
    let Some(layer) = layers(&manifest)
        .into_iter()
        .find(|l| l.trim_start_matches("sha256:").starts_with(&hex))
    else {
        return Outcome::fail(format!(
            "{given} is not a layer of lab11-app:v1 (the config and manifest digests are not layers)"
        ));
    };
    if sent(&reqs, &layer) {
        Outcome::fail(format!(
            "the registry sent layer {}: that one travelled. Which one did pier say Already exists?",
            short(&layer)
        ))
    } else {
        Outcome::pass(format!("{} stayed in pier's store", short(&layer)))
    }
}

fn v2(ctx: &Ctx) -> Outcome {
    let (d1, m1) = match registry_manifest(ctx, "v1") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let (d2, m2) = match registry_manifest(ctx, "v2") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if d1 == d2 {
        return Outcome::fail("v2 is the same image as v1: change the Dockerfile and build again");
    }
    let (l1, l2) = (layers(&m1), layers(&m2));
    if l1.first() != l2.first() {
        return Outcome::fail("v2 does not start with busybox's layer like v1: keep FROM busybox");
    }
    Outcome::pass(format!(
        "{} of {} layers shared",
        l1.iter().zip(&l2).take_while(|(a, b)| a == b).count(),
        l2.len()
    ))
}

fn rollback(ctx: &Ctx) -> Outcome {
    let (_, m1) = match registry_manifest(ctx, "v1") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let (_, m2) = match registry_manifest(ctx, "v2") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let (rec, code) = match ctx.exited("lab11-rollback") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if rec.image_id == config_digest(&m2) {
        return Outcome::fail("lab11-rollback ran v2: roll back means running v1");
    }
    if rec.image_id != config_digest(&m1) {
        return Outcome::fail(format!(
            "lab11-rollback ran {} ({}), not the registry's lab11-app:v1",
            rec.image,
            short(&rec.image_id)
        ));
    }
    if code != 0 {
        return Outcome::fail(format!("lab11-rollback exited with code {code}"));
    }
    // A pull of v1's manifest after v2's manifest was pushed: the rollback came from the
    // registry, not from what pier still had.
    let reqs = match requests(ctx) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let pushed_v2 = reqs
        .iter()
        .rposition(|r| r.method == "PUT" && r.uri == format!("/v2/{REPO}/manifests/v2"));
    let pulled_v1 = reqs.iter().rposition(|r| {
        r.method == "GET" && r.status == 200 && r.uri == format!("/v2/{REPO}/manifests/v1")
    });
    match (pushed_v2, pulled_v1) {
        (Some(p), Some(g)) if g > p => Outcome::pass("v1 pulled and run"),
        _ => Outcome::fail(
            "v1 was not pulled from the registry after v2 was pushed: remove it locally and pull it by its tag",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_log_is_read() {
        let log = r#"time="2026-11-27T15:36:36.5Z" level=info msg="response completed" go.version=go1.19.8 http.request.host="localhost:5000" http.request.method=GET http.request.uri="/v2/lab11-app/blobs/sha256:21c7" http.response.status=200 http.response.written=0
time="2026-11-27T15:36:36.5Z" level=error msg="response completed with error" err.code="blob unknown" http.request.method=HEAD http.request.uri="/v2/lab11-app/blobs/sha256:e60b" http.response.status=404
time="2026-11-27T15:36:36.5Z" level=info msg="listening on 127.0.0.1:5000""#;
        let reqs = parse_requests(log);
        assert_eq!(reqs.len(), 2);
        assert!(sent(&reqs, "sha256:21c7"));
        assert!(!sent(&reqs, "sha256:e60b"));
        assert_eq!(reqs[1].status, 404);
    }
}
