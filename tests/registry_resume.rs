//! A pull that is killed in the middle of a blob resumes it the next time with an HTTP
//! `Range` request, against Debian's `docker-registry` over TLS (tests/common/registry.rs).
//!
//! pier pulls through a recording proxy on loopback (plain HTTP, as pier speaks to a
//! loopback registry) that forwards each request to the registry over TLS and can pause
//! the big layer's body after a fixed number of bytes: the test waits until pier has
//! written exactly those bytes to its partial download, kills it (SIGKILL), and pulls
//! again. Proven from the proxy's log and the store:
//! - the second run asks `Range: bytes=N-` with N the bytes the first one got, the
//!   registry answers 206, and the image is whole (its blob hashes to its digest, the
//!   container reads the big file's exact content);
//! - a registry that ignores the range (the proxy drops it: the registry answers 200)
//!   gets the blob downloaded from the start, whole;
//! - a partial download whose bytes were damaged is detected when the blob is complete
//!   and downloaded again from byte 0;
//! - `pier image prune` removes an abandoned partial download, and the next pull starts
//!   from byte 0.
//!
//! Needs: docker-registry, skopeo, htpasswd, a global IPv4 address, /bin/busybox (static).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::http_server::{read_request, Server};
use common::registry::{self, Registry, PASSWORD, USER};
use common::{text, Pier};
use pier_testkit::prereq;
use sha2::Digest as _;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Size of the big file in the image (pseudo-random: it does not compress).
const BIG: usize = 8 << 20;
/// Bytes of the layer's body the proxy lets through before pausing.
const PAUSE_AT: u64 = 3 << 20;

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// What the proxy does with the big layer's download.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Forward everything.
    Pass,
    /// Forward [`PAUSE_AT`] bytes of the layer's body, then send nothing more.
    Pause,
    /// Forward requests without their `Range` header (a registry that ignores it).
    DropRange,
}

struct ProxyState {
    upstream: String,
    agent: ureq::Agent,
    layer: String,
    mode: Mutex<Mode>,
    paused: AtomicBool,
    /// `METHOD path [range]` per request, and the status the registry answered.
    log: Mutex<Vec<String>>,
}

/// A recording, pausing HTTP proxy in front of the TLS registry.
struct Proxy {
    server: Server,
    state: Arc<ProxyState>,
}

impl Proxy {
    fn start(reg: &Registry, layer: &str) -> Proxy {
        let ca = ureq::tls::Certificate::from_pem(reg.ca.pem().as_bytes())
            .unwrap()
            .to_owned();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let state = Arc::new(ProxyState {
            upstream: format!("https://{}", reg.host),
            agent,
            layer: layer.to_string(),
            mode: Mutex::new(Mode::Pass),
            paused: AtomicBool::new(false),
            log: Mutex::default(),
        });
        let s = state.clone();
        let server = Server::start(move |stream, stop| {
            let _ = forward(stream, stop, &s);
        });
        Proxy { server, state }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.paused.store(false, Ordering::SeqCst);
        *self.state.mode.lock().unwrap() = mode;
    }

    fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// The requests for the layer blob logged from `from` on.
    fn layer_gets(&self, from: usize) -> Vec<String> {
        let wanted = format!("GET /v2/resume/app/blobs/{}", self.state.layer);
        self.log()[from..]
            .iter()
            .filter(|l| l.starts_with(&wanted))
            .map(|l| l[wanted.len()..].trim().to_string())
            .collect()
    }
}

/// Serves one connection: each request is sent on to the registry, its answer back.
fn forward(stream: TcpStream, stop: &AtomicBool, s: &ProxyState) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some(req) = read_request(&mut reader)? {
        let mode = *s.mode.lock().unwrap();
        let range = req.header("range").unwrap_or("").to_string();
        let url = format!("{}{}", s.upstream, req.path);
        let mut upstream = match req.method.as_str() {
            "HEAD" => s.agent.head(&url).call(),
            _ => {
                let mut r = s.agent.get(&url);
                for name in ["authorization", "accept"] {
                    if let Some(v) = req.header(name) {
                        r = r.header(name, v);
                    }
                }
                if !range.is_empty() && mode != Mode::DropRange {
                    r = r.header("range", &range);
                }
                r.call()
            }
        }
        .map_err(std::io::Error::other)?;
        let status = upstream.status();
        s.log.lock().unwrap().push(
            format!("{} {} {range} -> {}", req.method, req.path, status.as_u16())
                .replace("  ", " "),
        );
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        for (name, value) in upstream.headers() {
            if matches!(
                name.as_str(),
                "content-type"
                    | "content-length"
                    | "content-range"
                    | "docker-content-digest"
                    | "docker-distribution-api-version"
                    | "www-authenticate"
                    | "location"
            ) {
                head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
            }
        }
        let mut body = Vec::new();
        let length = upstream.headers().get("content-length").is_some();
        if !length && req.method != "HEAD" {
            upstream
                .body_mut()
                .as_reader()
                .read_to_end(&mut body)
                .map_err(std::io::Error::other)?;
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        out.write_all(&body)?;
        if req.method == "HEAD" || !length {
            out.flush()?;
            continue;
        }
        let mut reader = upstream.into_body().into_reader();
        let is_layer = req.path.ends_with(&s.layer);
        if is_layer && mode == Mode::Pause {
            let mut first = reader.take(PAUSE_AT);
            std::io::copy(&mut first, &mut out)?;
            out.flush()?;
            s.paused.store(true, Ordering::SeqCst);
            // Nothing more until the test moves on (pier is killed meanwhile).
            while !stop.load(Ordering::Relaxed) && *s.mode.lock().unwrap() == Mode::Pause {
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        std::io::copy(&mut reader, &mut out)?;
        out.flush()?;
    }
    Ok(())
}

/// pier logged in to the proxy (which passes Basic credentials on to the registry).
fn world(proxy: &Proxy) -> Pier {
    let p = Pier::empty();
    let out = p.run_with_input(
        &[
            "login",
            "-u",
            USER,
            "--password-stdin",
            &proxy.server.addr(),
        ],
        Some(PASSWORD.as_bytes()),
    );
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    p
}

/// Starts `pier pull`, waits until the proxy has paused the layer and pier has written
/// all [`PAUSE_AT`] bytes to its partial download, and kills it. Returns that file.
fn pull_and_kill(p: &Pier, proxy: &Proxy, image: &str) -> std::path::PathBuf {
    proxy.set_mode(Mode::Pause);
    let mut child = p
        .command(&["pull", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = p.root().join("images/ingest").join(&proxy.state.layer[7..]);
    common::wait_for(
        Duration::from_secs(60),
        || {
            proxy.state.paused.load(Ordering::SeqCst)
                && std::fs::metadata(&partial).is_ok_and(|m| m.len() == PAUSE_AT)
        },
        "pier to write the first bytes of the layer to its partial download",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::metadata(&partial).unwrap().len(),
        PAUSE_AT,
        "the partial download survives pier's death"
    );
    partial
}

/// The image is whole: its layer blob in the store hashes to its digest, and a container
/// reads the big file's exact content.
fn assert_intact(p: &Pier, image: &str, layer: &str, big_hash: &str) {
    let blob = p.root().join("images/blobs/sha256").join(&layer[7..]);
    let data = std::fs::read(&blob).unwrap();
    assert_eq!(
        format!("sha256:{}", sha256_hex(&data)),
        layer,
        "stored blob"
    );
    let out = p.ok(&["run", "--rm", image, "sha256sum", "/big.bin"]);
    assert!(out.starts_with(big_hash), "{out} (want {big_hash})");
    let ingest = p.root().join("images/ingest");
    let left = std::fs::read_dir(&ingest).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no partial download left in {}", ingest.display());
    common::assert_no_mounts_under(p.root());
}

/// A one-layer image: static busybox and [`BIG`] pseudo-random bytes in `/big.bin`;
/// returns the rootfs tar and the big file's SHA-256.
fn rootfs_tar() -> (Vec<u8>, String) {
    let mut big = Vec::with_capacity(BIG);
    let mut block = sha2::Sha256::digest(b"resume").to_vec();
    while big.len() < BIG {
        block = sha2::Sha256::digest(&block).to_vec();
        big.extend_from_slice(&block);
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        if kind == tar::EntryType::Symlink {
            h.set_link_name(link).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    };
    let busybox = std::fs::read("/bin/busybox").unwrap();
    add("bin", tar::EntryType::Directory, 0o755, b"", "");
    add("bin/busybox", tar::EntryType::Regular, 0o755, &busybox, "");
    for tool in ["sh", "sha256sum"] {
        add(
            &format!("bin/{tool}"),
            tar::EntryType::Symlink,
            0o777,
            b"",
            "busybox",
        );
    }
    add("big.bin", tar::EntryType::Regular, 0o644, &big, "");
    (b.into_inner().unwrap(), sha256_hex(&big))
}

#[test]
fn a_killed_pull_resumes_its_blob_with_range() {
    let Some(_) = prereq::require(
        "docker-registry (apt-get install docker-registry)",
        prereq::file("/usr/bin/docker-registry"),
    ) else {
        return;
    };
    for tool in ["skopeo", "htpasswd"] {
        let Some(_) = prereq::require(tool, prereq::tool(tool)) else {
            return;
        };
    }
    let Some(_) = prereq::require("static busybox", prereq::file("/bin/busybox")) else {
        return;
    };
    let Some(ip) = prereq::require("a non-loopback IPv4 address", registry::host_ip()) else {
        return;
    };
    let reg = Registry::start(ip);

    // The image: imported into a scratch pier, saved, pushed by skopeo.
    let (tar, big_hash) = rootfs_tar();
    let src = Pier::empty();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs.tar");
    std::fs::write(&rootfs, &tar).unwrap();
    src.ok(&["import", rootfs.to_str().unwrap(), "resume/app:1"]);
    let archive = work.path().join("app.tar");
    src.ok(&["save", "-o", archive.to_str().unwrap(), "resume/app:1"]);
    reg.push(
        &[],
        &format!("oci-archive:{}:resume/app:1", archive.display()),
        "resume/app:1",
    );
    drop(work);
    let manifest = reg.raw_manifest("resume/app:1");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = layers[0]["digest"].as_str().unwrap().to_string();
    let size = layers[0]["size"].as_u64().unwrap();
    assert!(size > 2 * PAUSE_AT, "the pause is mid-blob: {size} bytes");

    let proxy = Proxy::start(&reg, &layer);
    let image = format!("{}/resume/app:1", proxy.server.addr());

    // Killed mid-blob, then pulled again: one request, from where it stopped.
    let p = world(&proxy);
    pull_and_kill(&p, &proxy, &image);
    proxy.set_mode(Mode::Pass);
    let from = proxy.log().len();
    p.ok(&["pull", &image]);
    assert_eq!(
        proxy.layer_gets(from),
        [format!("bytes={PAUSE_AT}- -> 206")],
        "the second pull asked for the rest of the blob only: {:?}",
        proxy.log()
    );
    assert_intact(&p, &image, &layer, &big_hash);

    // A registry that ignores Range answers 200: the blob is taken from the start.
    let q = world(&proxy);
    pull_and_kill(&q, &proxy, &image);
    proxy.set_mode(Mode::DropRange);
    let from = proxy.log().len();
    q.ok(&["pull", &image]);
    assert_eq!(
        proxy.layer_gets(from),
        [format!("bytes={PAUSE_AT}- -> 200")],
        "asked for a range, got the whole blob, used it"
    );
    assert_intact(&q, &image, &layer, &big_hash);

    // A damaged partial download: found out when the blob is whole, downloaded again.
    let r = world(&proxy);
    let partial = pull_and_kill(&r, &proxy, &image);
    let mut bytes = std::fs::read(&partial).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&partial, &bytes).unwrap();
    proxy.set_mode(Mode::Pass);
    let from = proxy.log().len();
    r.ok(&["pull", &image]);
    assert_eq!(
        proxy.layer_gets(from),
        [format!("bytes={PAUSE_AT}- -> 206"), "-> 200".to_string()],
        "resumed, found wrong, downloaded again from the start"
    );
    assert_intact(&r, &image, &layer, &big_hash);

    // An abandoned partial download is removed by image prune; the next pull starts over.
    let t = world(&proxy);
    let partial = pull_and_kill(&t, &proxy, &image);
    let out = t.ok(&["image", "prune", "-f"]);
    assert!(
        out.contains(&format!("deleted partial download: {layer}")),
        "{out}"
    );
    assert!(!partial.exists(), "pruned");
    proxy.set_mode(Mode::Pass);
    let from = proxy.log().len();
    t.ok(&["pull", &image]);
    assert_eq!(proxy.layer_gets(from), ["-> 200"]);
    assert_intact(&t, &image, &layer, &big_hash);
}
