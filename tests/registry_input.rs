//! How `pier pull` meets registries that are slow, flaky or hostile, with a fake registry on
//! loopback (tests/common/http_server.rs) serving an image the test makes: layers fetched
//! several at a time and resumed with HTTP `Range` after a cut; a proxy from
//! `HTTPS_PROXY` used and `NO_PROXY` honoured; and bad input (a blob whose digest does not
//! match, a truncated blob, an oversized manifest, a token server that hangs, a redirect
//! to another host) each refused with one clear line, leaving nothing in the store.
//!
//! Nothing here needs a tool beyond pier: the registry, token server, redirect target and
//! proxy are threads of the test.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::http_server::{read_request, reply, Server};
use common::{text, Pier};
use sha2::Digest as _;
use std::collections::HashSet;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// An image made by the test: uncompressed layers of incompressible bytes.
#[derive(Clone)]
struct TestImage {
    manifest: Vec<u8>,
    /// Config and layers, by digest.
    blobs: Vec<(String, Vec<u8>)>,
    layers: Vec<String>,
}

impl TestImage {
    /// An image with one file of `size` pseudo-random bytes per layer.
    fn new(sizes: &[usize]) -> TestImage {
        let mut layers = Vec::new();
        let mut blobs = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let mut data = Vec::with_capacity(*size);
            let mut block = sha2::Sha256::digest(format!("layer {i}").as_bytes()).to_vec();
            while data.len() < *size {
                block = sha2::Sha256::digest(&block).to_vec();
                data.extend_from_slice(&block);
            }
            data.truncate(*size);
            let mut tar = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            tar.append_data(&mut h, format!("file{i}"), &data[..])
                .unwrap();
            let blob = tar.into_inner().unwrap();
            let digest = sha256(&blob);
            layers.push(digest.clone());
            blobs.push((digest, blob));
        }
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/file0"]},
            "rootfs": {"type": "layers", "diff_ids": layers},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = sha256(&config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": blobs.iter().map(|(d, b)| serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": d,
                "size": b.len(),
            })).collect::<Vec<_>>(),
        });
        blobs.push((config_digest, config));
        TestImage {
            manifest: serde_json::to_vec(&manifest).unwrap(),
            blobs,
            layers,
        }
    }
}

/// How the fake registry misbehaves.
#[derive(Clone, Default)]
struct Behaviour {
    /// Each layer download takes at least this long (so downloads overlap).
    layer_delay: Duration,
    /// The first full download of each layer is cut halfway; `Range` requests are honoured.
    cut_first: bool,
    /// Every download of a layer is cut halfway, and `Range` is ignored.
    cut_always: bool,
    /// Layers are served with one byte changed.
    corrupt: bool,
    /// The manifest is this many bytes (padding inside the JSON).
    manifest_size: Option<usize>,
    /// Bearer token auth with the token server at `/token`.
    auth: bool,
    /// The token server never answers.
    hang_token: bool,
    /// Blob requests are redirected to `http://127.0.0.1:<port>/blobdata/<digest>`.
    redirect_to: Option<u16>,
}

/// What the fake registry saw.
#[derive(Default)]
struct Seen {
    /// `METHOD path [range]` per request.
    log: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Layers whose first download was cut already.
    cut: Mutex<HashSet<String>>,
}

struct FakeRegistry {
    server: Server,
    seen: Arc<Seen>,
}

impl FakeRegistry {
    fn start(image: &TestImage, behaviour: Behaviour) -> FakeRegistry {
        let seen = Arc::new(Seen::default());
        let (image, seen2) = (image.clone(), seen.clone());
        let port = Arc::new(AtomicUsize::new(0));
        let port2 = port.clone();
        let server = Server::start(move |stream, stop| {
            let port = port2.load(Ordering::Relaxed) as u16;
            let _ = serve(stream, stop, port, &image, &behaviour, &seen2);
        });
        port.store(server.port() as usize, Ordering::Relaxed);
        FakeRegistry { server, seen }
    }

    fn name(&self) -> String {
        format!("{}/app:t", self.server.addr())
    }

    fn log(&self) -> Vec<String> {
        self.seen.log.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    stop: &AtomicBool,
    port: u16,
    image: &TestImage,
    b: &Behaviour,
    seen: &Seen,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some(req) = read_request(&mut reader)? {
        let range = req.header("range").unwrap_or("").to_string();
        seen.log.lock().unwrap().push(
            format!("{} {} {range}", req.method, req.path)
                .trim()
                .to_string(),
        );
        if req.path.starts_with("/token") {
            if b.hang_token {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            reply(&mut out, "200 OK", "", br#"{"token":"t0ken"}"#)?;
            continue;
        }
        if b.auth && req.header("authorization") != Some("Bearer t0ken") {
            let challenge = format!(
                "Www-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"\r\n"
            );
            reply(&mut out, "401 Unauthorized", &challenge, b"")?;
            continue;
        }
        if req.path == "/v2/" {
            reply(&mut out, "200 OK", "", b"{}")?;
        } else if req.path == "/v2/app/manifests/t" {
            let mut manifest = image.manifest.clone();
            if let Some(size) = b.manifest_size {
                let mut v: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
                v["annotations"] = serde_json::json!({"pad": "x".repeat(size)});
                manifest = serde_json::to_vec(&v).unwrap();
            }
            let ct = "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n";
            reply(&mut out, "200 OK", ct, &manifest)?;
        } else if let Some(digest) = req.path.strip_prefix("/v2/app/blobs/") {
            let Some((_, data)) = image.blobs.iter().find(|(d, _)| d == digest) else {
                reply(&mut out, "404 Not Found", "", b"")?;
                continue;
            };
            if let Some(to) = b.redirect_to {
                let location = format!("Location: http://127.0.0.1:{to}/blobdata/{digest}\r\n");
                reply(&mut out, "307 Temporary Redirect", &location, b"")?;
                continue;
            }
            if !image.layers.iter().any(|l| l == digest) {
                reply(&mut out, "200 OK", "", data)?;
                continue;
            }
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(b.layer_delay);
            let result = serve_layer(&mut out, digest, data, &range, b, seen);
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            if !result? {
                return Ok(());
            }
        } else {
            reply(&mut out, "404 Not Found", "", b"")?;
        }
    }
    Ok(())
}

/// Sends a layer as `b` says; `false` if the connection was cut.
fn serve_layer(
    out: &mut TcpStream,
    digest: &str,
    data: &[u8],
    range: &str,
    b: &Behaviour,
    seen: &Seen,
) -> std::io::Result<bool> {
    let mut data = data.to_vec();
    if b.corrupt {
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
    }
    let start: Option<usize> = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok());
    let cut = b.cut_always || (b.cut_first && seen.cut.lock().unwrap().insert(digest.into()));
    match start {
        Some(n) if !b.cut_always => {
            let headers = format!(
                "Content-Range: bytes {n}-{}/{}\r\n",
                data.len() - 1,
                data.len()
            );
            reply(out, "206 Partial Content", &headers, &data[n..])?;
            Ok(true)
        }
        _ if cut => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )?;
            out.write_all(&data[..data.len() / 2])?;
            out.flush()?;
            let _ = out.shutdown(std::net::Shutdown::Both);
            Ok(false)
        }
        _ => {
            reply(out, "200 OK", "", &data)?;
            Ok(true)
        }
    }
}

/// pier's store holds no blob, layer, image or staging directory.
fn assert_store_clean(p: &Pier) {
    let images = p.root().join("images");
    for d in ["blobs/sha256", "layers", "tmp"] {
        let n = std::fs::read_dir(images.join(d))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(n, 0, "images/{d} is empty");
    }
    assert_eq!(p.ok(&["images", "-q"]), "", "no image");
}

/// `pier pull NAME` fails with one line containing each of `wanted`; returns it.
fn pull_fails(p: &Pier, name: &str, wanted: &[&str]) -> String {
    let out = p.run(&["pull", name]);
    let err = text(&out.stderr).trim().to_string();
    assert!(!out.status.success(), "the pull should fail: {err}");
    println!("pier pull {name}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for w in wanted {
        assert!(err.contains(w), "{w:?} in {err}");
    }
    err
}

fn layer_gets(log: &[String], digest: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l.starts_with(&format!("GET /v2/app/blobs/{digest}")))
        .cloned()
        .collect()
}

#[test]
fn layers_download_in_parallel_and_a_cut_download_resumes_with_range() {
    let image = TestImage::new(&[600_000, 700_000, 800_000, 900_000]);
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            layer_delay: Duration::from_millis(400),
            cut_first: true,
            ..Behaviour::default()
        },
    );
    let p = Pier::empty();
    let out = p.ok(&["pull", &reg.name()]);
    let max = reg.seen.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "3 layers at a time by default, {max} were"
    );
    let log = reg.log();
    for layer in &image.layers {
        let gets = layer_gets(&log, layer);
        let half = image
            .blobs
            .iter()
            .find(|(d, _)| d == layer)
            .unwrap()
            .1
            .len()
            / 2;
        assert_eq!(
            gets,
            vec![
                format!("GET /v2/app/blobs/{layer}"),
                format!("GET /v2/app/blobs/{layer} bytes={half}-"),
            ],
            "cut at half, then resumed from there"
        );
        let short = &layer[7..19];
        assert!(out.contains(&format!("{short}: Pull complete")), "{out}");
    }
    // The resumed layers are whole: each unpacked file is the one the layer holds.
    for (i, layer) in image.layers.iter().enumerate() {
        let blob = &image.blobs.iter().find(|(d, _)| d == layer).unwrap().1;
        let mut tar = tar::Archive::new(&blob[..]);
        let mut entry = tar.entries().unwrap().next().unwrap().unwrap();
        let mut want = Vec::new();
        entry.read_to_end(&mut want).unwrap();
        let unpacked = p
            .root()
            .join("images/layers")
            .join(&layer[7..])
            .join(format!("diff/file{i}"));
        assert_eq!(
            std::fs::read(&unpacked).unwrap(),
            want,
            "{}",
            unpacked.display()
        );
    }

    // Pulled again into the same store: every layer already exists, nothing downloaded.
    let before = reg.log().len();
    let again = p.ok(&["pull", &reg.name()]);
    for layer in &image.layers {
        assert!(
            again.contains(&format!("{}: Already exists", &layer[7..19])),
            "{again}"
        );
        assert_eq!(layer_gets(&reg.log()[before..], layer).len(), 0);
    }

    // max-concurrent-downloads 1: one at a time.
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            layer_delay: Duration::from_millis(100),
            ..Behaviour::default()
        },
    );
    let q = Pier::empty();
    std::fs::write(
        q.host_config().join("pier-config.json"),
        r#"{"max-concurrent-downloads": 1}"#,
    )
    .unwrap();
    q.ok(&["pull", "-q", &reg.name()]);
    assert_eq!(reg.seen.max_in_flight.load(Ordering::SeqCst), 1);
}

#[test]
fn corrupt_and_truncated_blobs_are_refused_and_leave_nothing() {
    let image = TestImage::new(&[300_000, 400_000]);
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            corrupt: true,
            ..Behaviour::default()
        },
    );
    let p = Pier::empty();
    pull_fails(&p, &reg.name(), &["digest mismatch", "layer blob sha256:"]);
    assert_store_clean(&p);

    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            cut_always: true,
            ..Behaviour::default()
        },
    );
    let err = pull_fails(&p, &reg.name(), &["the connection broke after"]);
    // Resumed once (each try must make progress), then given up on.
    let first = &image.layers[0];
    assert!(layer_gets(&reg.log(), first).len() >= 2, "{err}");
    assert_store_clean(&p);
}

#[test]
fn an_oversized_manifest_is_refused() {
    let image = TestImage::new(&[1000]);
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            manifest_size: Some(5 << 20),
            ..Behaviour::default()
        },
    );
    let p = Pier::empty();
    pull_fails(
        &p,
        &reg.name(),
        &["manifest t on", "larger than 4194304 bytes"],
    );
    assert_store_clean(&p);
}

#[test]
fn a_token_server_that_hangs_is_given_up_on() {
    let image = TestImage::new(&[1000]);
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            auth: true,
            hang_token: true,
            ..Behaviour::default()
        },
    );
    let p = Pier::empty();
    let start = Instant::now();
    pull_fails(&p, &reg.name(), &["token server", "/token", "at most 15 s"]);
    assert!(start.elapsed() < Duration::from_secs(25));
    assert_store_clean(&p);
}

/// A request's path and the Authorization header it carried.
type HeadersSeen = (String, Option<String>);

#[test]
fn a_redirect_to_another_host_does_not_carry_the_authorization() {
    let image = TestImage::new(&[200_000, 300_000]);
    // The storage host: records each request's headers, serves the blobs.
    let storage_log: Arc<Mutex<Vec<HeadersSeen>>> = Arc::default();
    let (log2, blobs) = (storage_log.clone(), image.blobs.clone());
    let storage = Server::start(move |stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        while let Ok(Some(req)) = read_request(&mut reader) {
            let auth = req.header("authorization").map(str::to_string);
            log2.lock().unwrap().push((req.path.clone(), auth));
            let digest = req.path.trim_start_matches("/blobdata/");
            match blobs.iter().find(|(d, _)| d == digest) {
                Some((_, data)) => reply(&mut out, "200 OK", "", data).unwrap(),
                None => reply(&mut out, "404 Not Found", "", b"").unwrap(),
            }
        }
    });
    let reg = FakeRegistry::start(
        &image,
        Behaviour {
            auth: true,
            redirect_to: Some(storage.port()),
            ..Behaviour::default()
        },
    );
    let p = Pier::empty();
    p.ok(&["pull", &reg.name()]);
    let log = storage_log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "config and two layers fetched there: {log:?}");
    for (path, auth) in &log {
        assert_eq!(auth, &None, "{path} got the registry's Authorization");
    }
    assert!(
        reg.log().iter().any(|l| l.starts_with("GET /token")),
        "the registry did require a token"
    );
}

/// A CONNECT proxy on loopback recording the targets it was asked for.
fn connect_proxy() -> (Server, Arc<Mutex<Vec<String>>>) {
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let targets2 = targets.clone();
    let server = Server::start(move |stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let Ok(Some(req)) = read_request(&mut reader) else {
            return;
        };
        if req.method != "CONNECT" {
            return;
        }
        targets2.lock().unwrap().push(req.path.clone());
        let Ok(upstream) = TcpStream::connect(&req.path) else {
            return;
        };
        let mut client = stream;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let (mut up_read, mut client_write) =
            (upstream.try_clone().unwrap(), client.try_clone().unwrap());
        let back = std::thread::spawn(move || {
            let _ = std::io::copy(&mut up_read, &mut client_write);
            let _ = client_write.shutdown(std::net::Shutdown::Write);
        });
        // Bytes the reader buffered past the CONNECT head go first.
        let mut up_write = upstream;
        let buffered = reader.buffer().to_vec();
        let _ = up_write.write_all(&buffered);
        let mut rest = reader.into_inner();
        let mut buf = [0u8; 8192];
        loop {
            match rest.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up_write.shutdown(std::net::Shutdown::Write);
        let _ = back.join();
    });
    (server, targets)
}

#[test]
fn https_proxy_is_used_and_no_proxy_honoured() {
    let image = TestImage::new(&[100_000]);
    let reg = FakeRegistry::start(&image, Behaviour::default());
    let (proxy, targets) = connect_proxy();
    let proxy_url = format!("http://{}", proxy.addr());
    let pull = |p: &Pier, no_proxy: Option<&str>| {
        let mut cmd = p.command(&["pull", "-q", &reg.name()]);
        cmd.env("HTTPS_PROXY", &proxy_url);
        if let Some(n) = no_proxy {
            cmd.env("NO_PROXY", n);
        }
        let out = common::run_with_timeout(&mut cmd, None, common::COMMAND_TIMEOUT).unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let p = Pier::empty();
    pull(&p, None);
    let seen = targets.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| t == &reg.server.addr()),
        "every connection went through the proxy to the registry: {seen:?}"
    );
    assert!(reg
        .log()
        .iter()
        .any(|l| l.starts_with("GET /v2/app/blobs/")));

    targets.lock().unwrap().clear();
    let q = Pier::empty();
    pull(&q, Some("127.0.0.1"));
    assert_eq!(
        targets.lock().unwrap().len(),
        0,
        "NO_PROXY=127.0.0.1 goes direct"
    );
}
