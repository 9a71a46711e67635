//! Lab 11: a registry of your own — trust its CA, log in, push, remove, pull back, only the
//! missing layers travel, roll back by tag. The registry speaks TLS with a CA `pier lab start`
//! makes (the student trusts it in pier's certs.d, never by turning verification off) and
//! asks for a password (htpasswd). The checks read pier's certs.d and credentials file, the
//! registry's storage and request log (in the lab's directory) and pier's image store.

mod base;
mod certificates;

use super::ensure_busybox;
use crate::context::Ctx;
use crate::daemon;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa, Msg};
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
"lab11-app:v1, built on lab11-base, is in the lab registry",
"lab11-base 위에 빌드한 lab11-app:v1이 실습 레지스트리에 있다",
),
                after: &["login"],
                answer: None,
                hint: tr(
"Write the Dockerfile of step 2 in the lab's directory, pier build -t lab11-app:v1 ., then pier tag lab11-app:v1 localhost:5000/lab11-app:v1 and pier push localhost:5000/lab11-app:v1",
"실습 디렉터리에 2단계의 Dockerfile을 쓰고 pier build -t lab11-app:v1 . 한 다음, pier tag lab11-app:v1 localhost:5000/lab11-app:v1 과 pier push localhost:5000/lab11-app:v1 을 실행하세요",
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
"lab11-app:v2 is in the registry and shares lab11-base's layer with v1",
"lab11-app:v2가 레지스트리에 있고 lab11-base의 레이어를 v1과 공유한다",
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
    base::plant(ctx)?;
    if !Path::new(REGISTRY_BIN).exists() {
        let why = Msg::new(
            "lab 11 needs a registry: apt-get install docker-registry (scripts/setup.sh installs it)",
            "실습 11에는 레지스트리가 필요합니다: apt-get install docker-registry (scripts/setup.sh가 설치합니다)",
        );
        bail!("{}", why.get(ctx.lang()));
    }
    if TcpStream::connect_timeout(&addr(), Duration::from_millis(200)).is_ok() {
        let why = Msg::new(
            format!("something already listens on 127.0.0.1:{PORT}; lab 11 runs its registry there: stop it first (another lab 11 in another pier root?)"),
            format!("127.0.0.1:{PORT}에서 이미 무언가가 기다리고 있습니다. 실습 11은 그곳에서 레지스트리를 실행하므로 먼저 그것을 멈추세요 (다른 pier 루트에서 실행 중인 실습 11인가요?)"),
        );
        bail!("{}", why.get(ctx.lang()));
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
    std::fs::read_to_string(&path).map_err(|e| {
        Msg::new(
            format!(
                "cannot read the lab's CA {} ({e}): run pier lab start 11",
                path.display()
            ),
            format!(
                "실습의 CA 파일을 읽을 수 없습니다: {} ({e}). pier lab start 11을 실행하세요",
                path.display()
            ),
        )
        .into()
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
                let shown = path.display().to_string();
                return Outcome::passed(shown.clone(), shown);
            }
        }
    }
    let first = dirs
        .first()
        .map_or("/etc/pier/certs.d".into(), |d| d.display().to_string());
    Outcome::failed(
        format!("no certs.d directory holds the lab's ca.crt: copy it to {first}/{HOST}/ca.crt"),
        format!(
            "실습의 ca.crt가 들어 있는 certs.d 디렉터리가 없습니다: {first}/{HOST}/ca.crt로 복사하세요"
        ),
    )
}

fn login(ctx: &Ctx) -> Outcome {
    let path = ctx.workdir(N).join(PASSWORD_FILE);
    let password = match std::fs::read_to_string(&path) {
        Ok(p) => p.trim().to_string(),
        Err(e) => {
            return Outcome::failed(
                format!(
                    "cannot read the lab's password {} ({e}): run pier lab start 11",
                    path.display()
                ),
                format!(
                "실습의 비밀번호 파일을 읽을 수 없습니다: {} ({e}). pier lab start 11을 실행하세요",
                path.display()
            ),
            )
        }
    };
    let store = match CredentialStore::open() {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    let file = store.path().display().to_string();
    match store.get(HOST) {
        Ok(Some(c)) if c.username == USER && c.password == password => Outcome::passed(
            format!("saved in {file}"),
            format!("{file}에 저장됨"),
        ),
        Ok(Some(c)) if c.username != USER => Outcome::failed(
            format!(
                "{file} has a login to {HOST} as {:?}, not {USER}",
                c.username
            ),
            format!(
                "{file}에 있는 {HOST} 로그인의 사용자는 {USER}가 아니라 {:?}입니다",
                c.username
            ),
        ),
        Ok(Some(_)) => Outcome::failed(
            format!(
                "the password saved for {HOST} in {file} is not this lab's (pier lab start makes a new one: log in again)"
            ),
            format!(
                "{file}에 {HOST}용으로 저장된 비밀번호는 이번 실습의 것이 아닙니다 (pier lab start가 새 비밀번호를 만듭니다: 다시 로그인하세요)"
            ),
        ),
        Ok(None) => Outcome::failed(
            format!(
                "{file} has no login to {HOST}: pier login -u {USER} --password-stdin {HOST} < password"
            ),
            format!(
                "{file}에 {HOST} 로그인이 없습니다: pier login -u {USER} --password-stdin {HOST} < password"
            ),
        ),
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
        .map_err(|_| {
            Msg::new(
                format!("the lab registry has no {REPO}:{tag} (did pier push localhost:{PORT}/{REPO}:{tag} succeed?)"),
                format!("실습 레지스트리에 {} 없습니다 (pier push localhost:{PORT}/{REPO}:{tag} 명령이 성공했나요?)", josa(&format!("{REPO}:{tag}"), Josa::IGa)),
            )
        })?
        .trim()
        .to_string();
    Ok((digest.clone(), registry_json(ctx, &digest)?))
}

/// A JSON blob (a manifest, a config) in the registry's storage.
fn registry_json(ctx: &Ctx, digest: &str) -> Result<serde_json::Value> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let blob = storage(ctx).join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2.min(hex.len())]
    ));
    let text =
        std::fs::read_to_string(&blob).with_context(|| format!("reading {}", blob.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", blob.display()))
}

/// The command an image's config runs by default: its Entrypoint then its Cmd.
fn default_command(config: &serde_json::Value) -> Vec<String> {
    ["Entrypoint", "Cmd"]
        .iter()
        .filter_map(|k| config["config"][k].as_array())
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
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

/// lab11-base's layer (made at `pier lab start`), as the local store's manifest names it.
fn base_layer(ctx: &Ctx) -> Result<String> {
    let image = ctx.image(base::BASE)?;
    let manifest = ctx.engine().images()?.manifest(&image)?;
    manifest
        .layers()
        .first()
        .map(|l| l.digest().to_string())
        .ok_or_else(|| anyhow!("the {} image has no layer", base::BASE))
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

/// Every request the registry answered since the lab started, oldest first: its log as the
/// registry itself wrote it. The log is read through the running registry's own descriptor
/// (`/proc/PID/fd/2`), up to the offset the kernel says it has written to (`fdinfo`'s
/// `pos`): a line appended to `registry.log` by hand lies past that offset (and is
/// overwritten by the registry's next line), and a file put in its place is not the one the
/// registry writes to.
fn requests(ctx: &Ctx) -> Result<Vec<Request>> {
    let dir = ctx.workdir(N);
    let not_running = || -> anyhow::Error {
        Msg::new(
            "the lab registry is not running: pier lab start 11 starts it (and starts the lab over)",
            "실습 레지스트리가 실행 중이 아닙니다: pier lab start 11이 레지스트리를 시작합니다 (실습도 처음부터 다시 시작합니다)",
        )
        .into()
    };
    let pid: i32 = std::fs::read_to_string(dir.join(format!("{SERVER}.pid")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(not_running)?;
    // PIDs are reused: it must be the registry this lab started (its command line names the
    // lab's configuration).
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
        return Err(not_running());
    }
    let fdinfo = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/2"))
        .with_context(|| format!("reading the registry's (PID {pid}) log descriptor"))?;
    let written: u64 = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("/proc/{pid}/fdinfo/2 has no pos"))?;
    let log = std::fs::File::open(format!("/proc/{pid}/fd/2"))
        .with_context(|| format!("opening the registry's (PID {pid}) log"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(log, written), &mut text)
        .context("reading the registry's log")?;
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
    let base = match base_layer(ctx) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let layers = layers(&manifest);
    if layers.first() != Some(&base) {
        return Outcome::failed(
            "the lab11-app:v1 in the registry does not start with the layer of this start's lab11-base: is the first line FROM lab11-base (and was it built after the last pier lab start 11)?",
            "레지스트리의 lab11-app:v1이 이번 실습 시작에서 만든 lab11-base의 레이어로 시작하지 않습니다: 첫 줄이 FROM lab11-base인가요? (마지막 pier lab start 11 이후에 빌드했나요?)",
        );
    }
    if layers.len() < 2 {
        return Outcome::failed(
            "the lab11-app:v1 in the registry is lab11-base itself: build it from the Dockerfile of step 2 (its RUN adds a layer)",
            "레지스트리의 lab11-app:v1은 lab11-base 그 자체입니다: 2단계의 Dockerfile로 빌드하세요 (그 RUN이 레이어를 하나 더합니다)",
        );
    }
    Outcome::passed(
        format!("{} layers", layers.len()),
        format!("레이어 {}개", layers.len()),
    )
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
        return Outcome::failed(
            "the registry's lab11-app:v1 has no layer",
            "레지스트리의 lab11-app:v1에 레이어가 없습니다",
        );
    };
    if !sent(&reqs, top) {
        let top = short(top);
        return Outcome::failed(
            format!(
                "the registry never sent lab11-app:v1's own layer {top}: pier still had it, so a pull fetched nothing. Remove the image (both names) before pulling"
            ),
            format!(
                "레지스트리가 lab11-app:v1 고유의 레이어(digest {top})를 보낸 적이 없습니다: pier에 아직 있었기 때문에 pull이 아무것도 가져오지 않았습니다. pull하기 전에 이미지를 (두 이름 모두) 지우세요"
            ),
        );
    }
    match ctx.image(&format!("localhost:{PORT}/{REPO}:v1")) {
        Ok(image) if image.manifest_digest == digest => Outcome::passed(
            "its own layer came back",
            "고유 레이어가 돌아왔습니다",
        ),
        Ok(_) => Outcome::failed(
            format!(
                "localhost:{PORT}/{REPO}:v1 in pier's store is not the image the registry holds as v1: pull it again"
            ),
            format!(
                "pier 저장소의 localhost:{PORT}/{REPO}:v1은 레지스트리가 v1으로 가진 이미지가 아닙니다: 다시 pull하세요"
            ),
        ),
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
        return Outcome::failed(
            format!(
                "{given:?} is not a layer digest (12 or more hex digits, as pier pull prints them)"
            ),
            format!(
                "{} 레이어 다이제스트가 아닙니다 (pier pull이 출력하는 것처럼 16진수 12자리 이상이어야 합니다)",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        );
    }
    let Some(layer) = layers(&manifest)
        .into_iter()
        .find(|l| l.trim_start_matches("sha256:").starts_with(&hex))
    else {
        return Outcome::failed(
            format!(
                "{given} is not a layer of lab11-app:v1 (the config and manifest digests are not layers)"
            ),
            format!(
                "{} lab11-app:v1의 레이어가 아닙니다 (설정과 매니페스트의 다이제스트는 레이어가 아닙니다)",
                josa(&given, Josa::EunNeun)
            ),
        );
    };
    let s = short(&layer);
    if sent(&reqs, &layer) {
        Outcome::failed(
            format!(
                "the registry sent layer {s}: that one travelled. Which one did pier say Already exists?"
            ),
            format!(
                "레지스트리가 그 레이어(digest {s})를 보냈습니다: 전송된 레이어입니다. pier가 Already exists라고 출력한 레이어는 어느 것인가요?"
            ),
        )
    } else {
        Outcome::passed(
            format!("{s} stayed in pier's store"),
            format!("{s}: pier 저장소에 남아 있었음"),
        )
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
        return Outcome::failed(
            "v2 is the same image as v1: change the Dockerfile and build again",
            "v2가 v1과 같은 이미지입니다: Dockerfile을 바꾸고 다시 빌드하세요",
        );
    }
    let (l1, l2) = (layers(&m1), layers(&m2));
    if l1.first() != l2.first() {
        return Outcome::failed(
            "v2 does not start with lab11-base's layer like v1: keep FROM lab11-base",
            "v2가 v1처럼 lab11-base의 레이어로 시작하지 않습니다: FROM lab11-base는 그대로 두세요",
        );
    }
    let shared = l1.iter().zip(&l2).take_while(|(a, b)| a == b).count();
    Outcome::passed(
        format!("{shared} of {} layers shared", l2.len()),
        format!("레이어 {}개 중 {shared}개 공유", l2.len()),
    )
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
        return Outcome::failed(
            "lab11-rollback ran v2: roll back means running v1",
            "lab11-rollback이 v2를 실행했습니다: 롤백은 v1을 실행하는 것입니다",
        );
    }
    if rec.image_id != config_digest(&m1) {
        let (image, id) = (&rec.image, short(&rec.image_id));
        return Outcome::failed(
            format!("lab11-rollback ran {image} ({id}), not the registry's lab11-app:v1"),
            format!(
                "lab11-rollback이 실행한 것은 레지스트리의 lab11-app:v1이 아니라 {image}({id})입니다"
            ),
        );
    }
    // The image's own program (`cat /version`), not a command given in its place (`true`
    // exits 0 too, having shown nothing of v1).
    let wanted = match registry_json(ctx, &config_digest(&m1)) {
        Ok(c) => default_command(&c),
        Err(e) => return e.into(),
    };
    if rec.args != wanted {
        let (ran, wanted) = (rec.args.join(" "), wanted.join(" "));
        return Outcome::failed(
            format!("lab11-rollback ran {ran:?} instead of v1's own command {wanted:?}: run the image without a command"),
            format!(
                "lab11-rollback이 실행한 명령은 v1 자체의 명령 {} 아니라 {ran:?}입니다: 명령을 붙이지 말고 이미지를 실행하세요",
                josa(&format!("{wanted:?}"), Josa::IGa)
            ),
        );
    }
    if code != 0 {
        return Outcome::failed(
            format!("lab11-rollback exited with code {code}"),
            format!(
                "lab11-rollback이 종료 코드 {} 끝났습니다",
                josa(&code.to_string(), Josa::EuroRo)
            ),
        );
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
        (Some(p), Some(g)) if g > p => Outcome::passed("v1 pulled and run", "v1을 pull해서 실행함"),
        _ => Outcome::failed(
            "v1 was not pulled from the registry after v2 was pushed: remove it locally and pull it by its tag",
            "v2를 push한 뒤에 v1을 레지스트리에서 pull하지 않았습니다: 로컬 사본을 지우고 태그로 pull하세요",
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
