//! End-to-end tests of image interchange: `pier save/load/export/push/pull/login`.
//!
//! Needs (see scripts/setup.sh): busybox-static (base image), skopeo (interop),
//! docker-registry (a real registry on loopback), apache2-utils (htpasswd, bcrypt).
//! Each test uses private PIER_ROOT temp dirs; registries and servers it starts are
//! killed and their directories removed by guards, even when the test fails.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::http_server::Server;
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PIER: &str = env!("CARGO_BIN_EXE_pier");

/// pier with its state, Docker client configuration (credentials) and pier configuration
/// all under `root`: the host's ~/.docker and /etc are never read or written.
fn pier(root: &Path, args: &[&str]) -> Output {
    Command::new(PIER)
        .args(args)
        .env("PIER_ROOT", root)
        .env("DOCKER_CONFIG", root.join("docker"))
        .env("PIER_CONFIG", root.join("pier-config.json"))
        .env("PIER_CERTS_D", root.join("certs.d"))
        .stdin(Stdio::null())
        .output()
        .expect("running pier")
}

fn pier_ok(root: &Path, args: &[&str]) -> String {
    let out = pier(root, args);
    assert!(
        out.status.success(),
        "pier {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pier_err(root: &Path, args: &[&str]) -> String {
    let out = pier(root, args);
    assert!(!out.status.success(), "pier {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh state root with busybox:latest.
fn root_with_busybox() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    pier_ok(root.path(), &["image", "bootstrap", "busybox"]);
    root
}

/// (image ID, manifest digest) of an image.
fn ids(root: &Path, image: &str) -> (String, String) {
    let v: Value = serde_json::from_str(&pier_ok(root, &["image", "inspect", image])).unwrap();
    (
        v[0]["Id"].as_str().unwrap().to_string(),
        v[0]["ManifestDigest"].as_str().unwrap().to_string(),
    )
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Nothing published and nothing staged: no images, blobs, layers or staging dirs.
fn assert_store_empty(root: &Path) {
    assert_eq!(pier_ok(root, &["images", "-q"]).trim(), "", "no images");
    let images = root.join("images");
    for d in ["blobs/sha256", "layers", "tmp"] {
        assert_eq!(count_files(&images.join(d)), 0, "{d} is empty");
    }
}

fn tar_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn write_tar(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        } else {
            h.set_size(data.len() as u64);
        }
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

#[test]
fn save_then_load_keeps_image_id_and_manifest_digest() {
    let src = root_with_busybox();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("bb.tar");
    pier_ok(src.path(), &["tag", "busybox", "other/name:v2"]);
    pier_ok(
        src.path(),
        &[
            "save",
            "-o",
            archive.to_str().unwrap(),
            "busybox",
            "other/name:v2",
        ],
    );
    let entries = tar_entries(&archive);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["oci-layout", "index.json", "manifest.json"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let index: Value =
        serde_json::from_slice(&entries.iter().find(|(n, _)| n == "index.json").unwrap().1)
            .unwrap();
    let refs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(refs, ["busybox:latest", "other/name:v2"]);
    let docker: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(docker[0]["RepoTags"][1], "other/name:v2");
    // Every blob is named by its content.
    for (name, data) in &entries {
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(sha256(data), format!("sha256:{hex}"));
        }
    }

    let dst = tempfile::tempdir().unwrap();
    let out = pier_ok(dst.path(), &["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.contains("Loaded image: other/name:v2"), "{out}");
    assert_eq!(ids(dst.path(), "busybox"), ids(src.path(), "busybox"));
    assert_eq!(ids(dst.path(), "other/name:v2"), ids(src.path(), "busybox"));
    let hello = pier_ok(dst.path(), &["run", "--rm", "busybox", "echo", "loaded"]);
    assert_eq!(hello.trim(), "loaded");

    // Saving again gives the same bytes (reproducible archive), and stdin works.
    let again = work.path().join("again.tar");
    pier_ok(
        dst.path(),
        &[
            "save",
            "-o",
            again.to_str().unwrap(),
            "busybox",
            "other/name:v2",
        ],
    );
    assert_eq!(fs::read(&archive).unwrap(), fs::read(&again).unwrap());
    let third = tempfile::tempdir().unwrap();
    let out = Command::new(PIER)
        .args(["load"])
        .env("PIER_ROOT", third.path())
        .stdin(fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids(third.path(), "busybox"), ids(src.path(), "busybox"));
}

#[test]
fn skopeo_reads_what_pier_saves_and_pier_loads_it_back_unchanged() {
    assert!(
        Command::new("skopeo").arg("--version").output().is_ok(),
        "skopeo is required (apt-get install skopeo)"
    );
    let src = root_with_busybox();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let archive = w.join("bb.tar");
    pier_ok(
        src.path(),
        &["save", "-o", archive.to_str().unwrap(), "busybox"],
    );
    let (id, manifest) = ids(src.path(), "busybox");
    let skopeo = |args: &[String]| {
        let out = Command::new("skopeo").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dir = format!("oci:{}:busybox:latest", w.join("dir").display());
    skopeo(&[
        "copy".into(),
        "--preserve-digests".into(),
        format!("oci-archive:{}:busybox:latest", archive.display()),
        dir.clone(),
    ]);
    let inspect: Value = serde_json::from_str(&skopeo(&["inspect".into(), dir.clone()])).unwrap();
    assert_eq!(
        inspect["Digest"],
        manifest.as_str(),
        "skopeo sees the same manifest"
    );
    let back = w.join("back.tar");
    skopeo(&[
        "copy".into(),
        "--preserve-digests".into(),
        dir.clone(),
        format!("oci-archive:{}:busybox:latest", back.display()),
    ]);
    let dst = tempfile::tempdir().unwrap();
    pier_ok(dst.path(), &["load", "-i", back.to_str().unwrap()]);
    assert_eq!(ids(dst.path(), "busybox"), (id.clone(), manifest));

    // A docker-save style archive (legacy layout, symlinked layer.tar) keeps the image ID.
    let docker = w.join("docker.tar");
    skopeo(&[
        "copy".into(),
        dir,
        format!("docker-archive:{}:busybox:latest", docker.display()),
    ]);
    let dst2 = tempfile::tempdir().unwrap();
    let out = pier_ok(dst2.path(), &["load", "-i", docker.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(ids(dst2.path(), "busybox").0, id);
    assert_eq!(
        pier_ok(dst2.path(), &["run", "--rm", "busybox", "echo", "ok"]).trim(),
        "ok"
    );
}

#[test]
fn docker_save_archive_with_gzip_layer_loads() {
    // Built by hand as `docker save` (legacy) does: <id>/layer.tar (gzipped here),
    // <config hex>.json, manifest.json.
    let src = root_with_busybox();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("bb.tar");
    pier_ok(
        src.path(),
        &["save", "-o", archive.to_str().unwrap(), "busybox"],
    );
    let entries = tar_entries(&archive);
    let docker: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .unwrap()
            .1,
    )
    .unwrap();
    let get = |name: &str| entries.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let config_name = docker[0]["Config"].as_str().unwrap();
    let config = get(config_name);
    let layer = get(docker[0]["Layers"][0].as_str().unwrap());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).unwrap();
    let gz = gz.finish().unwrap();
    let config_file = format!("{}.json", &config_name["blobs/sha256/".len()..]);
    let manifest = serde_json::json!([{
        "Config": config_file,
        "RepoTags": ["docker.io/library/busybox:gz"],
        "Layers": ["0123abcd/layer.tar"],
    }]);
    let legacy = work.path().join("legacy.tar");
    write_tar(
        &legacy,
        &[
            ("0123abcd/".into(), vec![]),
            ("0123abcd/layer.tar".into(), gz),
            (config_file.clone(), config.clone()),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    let dst = tempfile::tempdir().unwrap();
    let out = pier_ok(dst.path(), &["load", "-i", legacy.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:gz"), "{out}");
    assert_eq!(ids(dst.path(), "busybox:gz").0, sha256(&config));
    assert_eq!(
        pier_ok(dst.path(), &["run", "--rm", "busybox:gz", "echo", "gz"]).trim(),
        "gz"
    );

    // The config named by a digest that does not match its content is refused.
    let mut bad_config = config.clone();
    bad_config.push(b' ');
    let bad = work.path().join("bad.tar");
    write_tar(
        &bad,
        &[
            ("0123abcd/layer.tar".into(), layer),
            (config_file.clone(), bad_config),
            (
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
            ),
        ],
    );
    let clean = tempfile::tempdir().unwrap();
    let err = pier_err(clean.path(), &["load", "-i", bad.to_str().unwrap()]);
    assert!(
        err.contains("digest mismatch") && err.contains(&config_file),
        "{err}"
    );
    assert_store_empty(clean.path());
}

#[test]
fn bad_archives_are_refused_by_name_and_leave_nothing() {
    let src = root_with_busybox();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let archive = w.join("bb.tar");
    pier_ok(
        src.path(),
        &["save", "-o", archive.to_str().unwrap(), "busybox"],
    );
    let bytes = fs::read(&archive).unwrap();
    let entries = tar_entries(&archive);
    let (_, manifest_digest) = ids(src.path(), "busybox");
    let manifest: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n.ends_with(&manifest_digest[7..]))
            .unwrap()
            .1,
    )
    .unwrap();
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer_name = format!("blobs/sha256/{}", &layer_digest[7..]);

    // 1. Truncated in the middle of the layer blob.
    let truncated = w.join("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // 2. A layer blob whose content no longer matches its name.
    let tampered = w.join("tampered.tar");
    let mut t = entries.clone();
    for (name, data) in t.iter_mut() {
        if *name == layer_name {
            let n = data.len() / 2;
            data[n] ^= 0xff;
        }
    }
    write_tar(&tampered, &t);
    // 3. A manifest with a layer media type pier does not handle (encrypted); the index is
    //    rewritten to point at the new manifest so only the media type is wrong.
    let unknown = w.join("unknown.tar");
    let mut m = manifest.clone();
    m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+encrypted".into();
    let m_bytes = serde_json::to_vec(&m).unwrap();
    let m_digest = sha256(&m_bytes);
    let mut u: Vec<(String, Vec<u8>)> = entries
        .iter()
        .filter(|(n, _)| n != "index.json" && n != "manifest.json")
        .cloned()
        .collect();
    u.push((format!("blobs/sha256/{}", &m_digest[7..]), m_bytes.clone()));
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": m_digest, "size": m_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "encrypted:latest"}}]});
    u.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    write_tar(&unknown, &u);
    // 4. Not an archive at all.
    let garbage = w.join("garbage.tar");
    fs::write(&garbage, vec![b'x'; 5000]).unwrap();

    for (file, why) in [
        (&truncated, "truncated"),
        (&tampered, "digest mismatch"),
        (&unknown, "unsupported layer media type"),
        (&garbage, "tar"),
    ] {
        let dst = tempfile::tempdir().unwrap();
        let err = pier_err(dst.path(), &["load", "-i", file.to_str().unwrap()]);
        assert!(err.contains(why), "{}: {err}", file.display());
        assert!(
            err.contains(file.to_str().unwrap()),
            "names the file: {err}"
        );
        if why != "truncated" && why != "tar" {
            assert!(err.contains(&layer_digest), "names the blob: {err}");
        }
        assert_store_empty(dst.path());
    }
}

#[test]
fn export_writes_the_containers_merged_filesystem() {
    let root = root_with_busybox();
    let r = root.path();
    pier_ok(
        r,
        &[
            "run",
            "--name",
            "exp",
            "busybox",
            "sh",
            "-c",
            "echo hi > /created && rm -f /bin/vi",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("fs.tar");
    let result = pier(r, &["export", "exp", "-o", out.to_str().unwrap()]);
    pier_ok(r, &["rm", "-f", "exp"]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let entries = tar_entries(&out);
    let find = |n: &str| {
        entries
            .iter()
            .find(|(name, _)| name == n)
            .map(|e| e.1.clone())
    };
    assert_eq!(find("created").as_deref(), Some(&b"hi\n"[..]));
    assert!(find("bin/busybox").is_some(), "image content is there");
    assert!(find("bin/vi").is_none(), "a deleted file is gone");
    assert!(
        !entries.iter().any(|(n, _)| n.contains(".wh.")),
        "no whiteouts in a flat export"
    );
    // The export imports as a working image.
    pier_ok(r, &["import", out.to_str().unwrap(), "exported"]);
    assert_eq!(
        pier_ok(r, &["run", "--rm", "exported", "cat", "/created"]).trim(),
        "hi"
    );
}

/// A `docker-registry` on a free loopback port; killed and its directory removed on drop.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: Option<&str>) -> Registry {
        assert!(
            Path::new("/usr/bin/docker-registry").exists(),
            "the docker-registry package is required (apt-get install docker-registry)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(entry) = htpasswd {
            let file = dir.path().join("htpasswd");
            fs::write(&file, entry).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pier-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Completed requests with this method whose URI contains `uri_part`.
    fn requests(&self, method: &str, uri_part: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("response completed"))
            .filter(|l| l.contains(&format!("http.request.method={method} ")))
            .filter(|l| l.contains(uri_part))
            .count()
    }

    /// The registry's file holding blob `digest`.
    fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = &digest[7..];
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP PUT to the registry (for documents pier itself never pushes).
fn registry_put(port: u16, path: &str, content_type: &str, body: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "PUT {path}: {answer}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn push_and_pull_through_a_real_registry() {
    let reg = Registry::start(None);
    let src = root_with_busybox();
    let s = src.path();
    let name = format!("{}/pier/bb:v1", reg.host());
    pier_ok(s, &["tag", "busybox", &name]);
    let out = pier_ok(s, &["push", &name]);
    assert!(out.contains(": Pushed"), "{out}");
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/pier/bb]",
            reg.host()
        )),
        "{out}"
    );
    assert_eq!(
        out.matches(": Pushed").count(),
        1,
        "a line per layer, none for the config: {out}"
    );
    let uploads = reg.requests("PUT", "/blobs/uploads/");
    assert_eq!(uploads, 2, "config and layer uploaded once each");

    // Idempotent: the second push HEADs each blob and sends none.
    let out = pier_ok(s, &["push", &name]);
    assert!(!out.contains("Pushed"), "{out}");
    assert!(out.contains(": Layer already exists"), "{out}");
    assert_eq!(
        reg.requests("PUT", "/blobs/uploads/"),
        uploads,
        "no blob re-sent"
    );
    assert_eq!(
        reg.requests("POST", "/blobs/uploads/"),
        2,
        "no upload started"
    );

    // Pushed to another repository of the same registry: both blobs are mounted from the
    // first (POST ...?mount=&from=, answered 201 Created), none is uploaded again.
    let other = format!("{}/pier/other:v1", reg.host());
    pier_ok(s, &["tag", "busybox", &other]);
    let out = pier_ok(s, &["push", &other]);
    // One line for the one layer (docker push shows none for the config); the log below
    // proves both blobs were mounted.
    assert_eq!(out.matches(": Mounted from pier/bb").count(), 1, "{out}");
    let mounts: Vec<String> = reg
        .log()
        .lines()
        .filter(|l| l.contains("response completed") && l.contains("mount=sha256"))
        .map(str::to_string)
        .collect();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(
        mounts
            .iter()
            .all(|l| l.contains("from=pier") && l.contains("http.response.status=201")),
        "{mounts:?}"
    );
    assert_eq!(reg.requests("PUT", "/blobs/uploads/"), uploads, "no upload");

    // Pull into a fresh store: the same image, and it runs.
    let dst = tempfile::tempdir().unwrap();
    pier_ok(dst.path(), &["pull", &name]);
    assert_eq!(ids(dst.path(), &name), ids(s, "busybox"));
    assert_eq!(
        pier_ok(dst.path(), &["run", "--rm", &name, "echo", "pulled"]).trim(),
        "pulled"
    );

    // Pull into a store that has the layers already: no layer download.
    let (_, manifest_digest) = ids(s, "busybox");
    let manifest: Value = serde_json::from_slice(
        &fs::read(s.join("images/blobs/sha256").join(&manifest_digest[7..])).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layer_gets = reg.requests("GET", &format!("/blobs/{layer}"));
    assert_eq!(layer_gets, 1);
    let has = root_with_busybox();
    let out = pier_ok(has.path(), &["pull", &name]);
    assert!(out.contains(": Already exists"), "{out}");
    assert_eq!(reg.requests("GET", &format!("/blobs/{layer}")), layer_gets);
    assert_eq!(ids(has.path(), &name), ids(s, "busybox"));

    // Docker v2 schema 2 manifests, and an index whose linux/amd64 entry is one.
    let mut docker_manifest = manifest.clone();
    docker_manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    docker_manifest["config"]["mediaType"] =
        "application/vnd.docker.container.image.v1+json".into();
    docker_manifest["layers"][0]["mediaType"] =
        "application/vnd.docker.image.rootfs.diff.tar".into();
    let docker_bytes = serde_json::to_vec(&docker_manifest).unwrap();
    let docker_digest = sha256(&docker_bytes);
    registry_put(
        reg.port,
        "/v2/pier/bb/manifests/docker",
        "application/vnd.docker.distribution.manifest.v2+json",
        &docker_bytes,
    );
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
             "size": fs::metadata(s.join("images/blobs/sha256").join(&manifest_digest[7..])).unwrap().len(),
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": docker_digest,
             "size": docker_bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    registry_put(
        reg.port,
        "/v2/pier/bb/manifests/multi",
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).unwrap(),
    );
    let multi = format!("{}/pier/bb:multi", reg.host());
    let d2 = tempfile::tempdir().unwrap();
    pier_ok(d2.path(), &["pull", &multi]);
    let (id, digest) = ids(d2.path(), &multi);
    assert_eq!(digest, docker_digest, "the linux/amd64 entry was picked");
    assert_eq!(id, ids(s, "busybox").0);
    assert_eq!(
        pier_ok(d2.path(), &["run", "--rm", &multi, "echo", "docker"]).trim(),
        "docker"
    );
    // --platform picks another entry: the arm64 one is the OCI manifest pushed first.
    let d4 = tempfile::tempdir().unwrap();
    pier_ok(d4.path(), &["pull", "--platform", "linux/arm64", &multi]);
    assert_eq!(
        ids(d4.path(), &multi).1,
        manifest_digest,
        "the linux/arm64 entry"
    );
    let err = pier_err(d4.path(), &["pull", "--platform", "linux/s390x", &multi]);
    assert!(
        err.contains("no linux/s390x image") && err.contains("linux/arm64"),
        "{err}"
    );
    // By digest: the index's digest pins the same image, stored without a tag and found
    // again as name@digest (Docker's RepoDigests).
    let index_digest = sha256(&serde_json::to_vec(&index).unwrap());
    let pinned = format!("{}/pier/bb@{index_digest}", reg.host());
    let d3 = tempfile::tempdir().unwrap();
    let out = pier_ok(d3.path(), &["pull", &pinned]);
    assert!(out.contains(&index_digest), "{out}");
    assert_eq!(
        pier_ok(d3.path(), &["run", "--rm", &pinned, "echo", "pinned"]).trim(),
        "pinned"
    );
    let wrong = format!("{}/pier/bb@sha256:{}", reg.host(), "0".repeat(64));
    assert!(pier_err(d3.path(), &["pull", &wrong]).contains("has no manifest"));
    // ... and pushed back unchanged (the Docker manifest keeps its bytes and digest).
    let again = format!("{}/pier/again:1", reg.host());
    pier_ok(d2.path(), &["tag", &multi, &again]);
    let out = pier_ok(d2.path(), &["push", &again]);
    assert!(out.contains(&docker_digest), "{out}");

    // A corrupted blob in the registry is rejected and leaves nothing in the store.
    let data = reg.blob_data(&layer);
    let mut bytes = fs::read(&data).unwrap();
    let n = bytes.len() / 3;
    bytes[n] ^= 0x55;
    fs::write(&data, bytes).unwrap();
    let clean = tempfile::tempdir().unwrap();
    let err = pier_err(clean.path(), &["pull", &name]);
    assert!(
        err.contains("digest mismatch") && err.contains(&layer),
        "{err}"
    );
    assert_store_empty(clean.path());

    // A name without a registry is Docker Hub's (unreachable here: the error says where).
    let err = pier_err(s, &["push", "busybox"]);
    assert!(err.contains("registry-1.docker.io"), "{err}");
}

#[test]
fn a_large_layer_is_uploaded_in_chunks_and_comes_back_intact() {
    let reg = Registry::start(None);
    let src = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // 40 MB of incompressible bytes: three 16 MiB PATCH chunks.
    let mut data = vec![0u8; 40 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let rootfs = work.path().join("big.tar");
    write_tar(&rootfs, &[("big".into(), data.clone())]);
    let name = format!("{}/big:1", reg.host());
    pier_ok(src.path(), &["import", rootfs.to_str().unwrap(), &name]);
    pier_ok(src.path(), &["push", &name]);
    assert_eq!(reg.requests("PATCH", "/blobs/uploads/"), 3, "{}", reg.log());
    let dst = tempfile::tempdir().unwrap();
    pier_ok(dst.path(), &["pull", &name]);
    assert_eq!(ids(dst.path(), &name), ids(src.path(), &name));
    let v: Value =
        serde_json::from_str(&pier_ok(dst.path(), &["image", "inspect", &name])).unwrap();
    let layer = PathBuf::from(v[0]["LayerDirs"][0].as_str().unwrap());
    assert!(
        fs::read(layer.join("big")).unwrap() == data,
        "content intact"
    );
}

#[test]
fn basic_auth_needs_credentials_from_login_or_flag() {
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "wonderland"])
        .output()
        .expect("htpasswd is required (apt-get install apache2-utils)");
    assert!(out.status.success());
    let reg = Registry::start(Some(&String::from_utf8_lossy(&out.stdout)));
    let src = root_with_busybox();
    let s = src.path();
    let name = format!("{}/secret:1", reg.host());
    pier_ok(s, &["tag", "busybox", &name]);

    let err = pier_err(s, &["push", &name]);
    assert!(
        err.contains("requires authentication") && err.contains("pier login"),
        "{err}"
    );
    let err = pier_err(s, &["push", "--creds", "alice:wrong", &name]);
    assert!(err.contains("401"), "{err}");
    pier_ok(s, &["push", "--creds", "alice:wonderland", &name]);

    let dst = tempfile::tempdir().unwrap();
    let d = dst.path();
    assert!(pier_err(d, &["pull", &name]).contains("requires authentication"));
    let err = pier_err(d, &["login", &reg.host(), "-u", "alice", "-p", "nope"]);
    assert!(err.contains("401"), "{err}");
    let auth = d.join("docker/config.json");
    assert!(!auth.exists(), "failed login saves nothing");
    let mut login = Command::new(PIER)
        .args(["login", &reg.host(), "-u", "alice", "--password-stdin"])
        .env("PIER_ROOT", d)
        .env("DOCKER_CONFIG", d.join("docker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(b"wonderland\n")
        .unwrap();
    assert!(login.wait().unwrap().success());
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&auth).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!fs::read_to_string(&auth).unwrap().contains("wonderland"));
    pier_ok(d, &["pull", &name]);
    assert_eq!(ids(d, &name), ids(s, "busybox"));
    pier_ok(d, &["logout", &reg.host()]);
    assert!(pier_err(d, &["pull", &name]).contains("requires authentication"));
}

/// A tiny registry (bearer-token auth, blobs redirected to another path, and a layer
/// download that stalls on request)
/// serving one image from files; for what docker-registry cannot do without TLS certs.
struct FakeRegistry {
    _server: Server,
    port: u16,
}

impl FakeRegistry {
    /// Serves `blobs` (digest -> bytes) and the manifest `manifest` under `tag` in
    /// repository `repo`; requires `Authorization: Bearer good-token`, handed out by
    /// `/token` to alice:wonderland. With `stall`, blob downloads send half the body and
    /// then hang.
    fn start(
        repo: &str,
        tag: &str,
        manifest: Vec<u8>,
        blobs: Vec<(String, Vec<u8>)>,
        stall: bool,
    ) -> FakeRegistry {
        let (repo, tag) = (repo.to_string(), tag.to_string());
        // The token realm names the port, known once the server listens.
        let port = Arc::new(AtomicU16::new(0));
        let port2 = port.clone();
        let server = Server::start(move |stream, stop| {
            let port = port2.load(Ordering::Relaxed);
            let _ = serve(stream, port, &repo, &tag, &manifest, &blobs, stall, stop);
        });
        port.store(server.port(), Ordering::Relaxed);
        FakeRegistry {
            port: server.port(),
            _server: server,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn serve(
    stream: TcpStream,
    port: u16,
    repo: &str,
    tag: &str,
    manifest: &[u8],
    blobs: &[(String, Vec<u8>)],
    stall: bool,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                auth = v.trim().to_string();
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
        let reply = |out: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
            write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}\r\n",
                body.len()
            )?;
            out.write_all(body)
        };
        if path.starts_with("/token") {
            if auth == "basic ywxpy2u6d29uzgvybgfuza==" {
                // base64("alice:wonderland"), lowercased with the header above.
                reply(
                    &mut out,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    br#"{"token":"good-token"}"#,
                )?;
            } else {
                reply(&mut out, "401 Unauthorized", "", b"")?;
            }
            continue;
        }
        // Blob content, where blob requests are redirected (as to a storage backend);
        // pier must not send the registry's token there.
        if let Some(digest) = path.strip_prefix("/blobdata/") {
            assert!(auth.is_empty(), "credentials leaked to a redirect target");
            match blobs.iter().find(|(d, _)| d == digest) {
                Some((_, data)) if stall && data.len() > 10_000 => {
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        data.len()
                    )?;
                    out.write_all(&data[..data.len() / 2])?;
                    out.flush()?;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    return Ok(());
                }
                Some((_, data)) => reply(&mut out, "200 OK", "", data)?,
                None => reply(&mut out, "404 Not Found", "", b"")?,
            }
            continue;
        }
        if auth != "bearer good-token" {
            let challenge = format!(
                "Www-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\",scope=\"repository:{repo}:pull\"\r\n"
            );
            reply(&mut out, "401 Unauthorized", &challenge, b"")?;
            continue;
        }
        if path == format!("/v2/{repo}/manifests/{tag}") {
            reply(
                &mut out,
                "200 OK",
                "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
                manifest,
            )?;
            continue;
        }
        match path.strip_prefix(&format!("/v2/{repo}/blobs/")) {
            Some(digest) => {
                let location = format!("Location: /blobdata/{digest}\r\n");
                reply(&mut out, "307 Temporary Redirect", &location, b"")?
            }
            None => reply(&mut out, "404 Not Found", "", b"")?,
        }
    }
}

/// busybox's manifest and blobs from a store.
fn image_files(root: &Path) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let (id, manifest_digest) = ids(root, "busybox");
    let blob = |d: &str| fs::read(root.join("images/blobs/sha256").join(&d[7..])).unwrap();
    let manifest = blob(&manifest_digest);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let mut blobs = vec![(id.clone(), blob(&id))];
    for l in m["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        blobs.push((d.to_string(), blob(d)));
    }
    (manifest, blobs)
}

#[test]
fn bearer_token_flow_and_interrupted_pull_leave_no_half_blob() {
    let src = root_with_busybox();
    let (manifest, blobs) = image_files(src.path());
    let reg = FakeRegistry::start("team/bb", "t", manifest.clone(), blobs.clone(), false);
    let name = format!("127.0.0.1:{}/team/bb:t", reg.port);
    let dst = tempfile::tempdir().unwrap();
    let err = pier_err(dst.path(), &["pull", &name]);
    assert!(
        err.contains("token server") && err.contains("pier login"),
        "{err}"
    );
    pier_ok(dst.path(), &["pull", "--creds", "alice:wonderland", &name]);
    assert_eq!(ids(dst.path(), &name), ids(src.path(), "busybox"));
    drop(reg);

    // Killed mid-download: the partial blob stays in the ingest area (for the next pull to
    // resume, tests/registry_resume.rs), never under blobs/; the next pier command removes
    // the dead pull's staging directory, and image prune the partial blob.
    let reg = FakeRegistry::start("team/bb", "t", manifest, blobs, true);
    let name = format!("127.0.0.1:{}/team/bb:t", reg.port);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut child = Command::new(PIER)
        .args(["pull", "--creds", "alice:wonderland", &name])
        .env("PIER_ROOT", r)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ingest = r.join("images/ingest");
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let found = fs::read_dir(&ingest).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|b| fs::metadata(b).map(|m| m.len() > 0).unwrap_or(false))
        });
        if let Some(b) = found {
            break b;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the pull never started downloading");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.exists());
    assert_eq!(
        count_files(&r.join("images/blobs/sha256")),
        0,
        "no blob published"
    );
    assert_eq!(count_files(&r.join("images/layers")), 0);
    drop(reg);
    assert_store_empty(r);
    assert!(partial.exists(), "kept for the next pull");
    pier_ok(r, &["image", "prune", "-f"]);
    assert_eq!(count_files(&ingest), 0, "image prune removes it");
}
