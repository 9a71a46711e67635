//! The Engine API's files and images through the socket, driven by the real `docker` client
//! and `curl`: `docker cp` both ways (and the archive attacks it must stop), save/load,
//! tag/rmi/history/prune, pull/push through a registry the test starts, and bad input
//! (after each, the service keeps serving).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn prerequisites() -> bool {
    let (Some(_), Some(_)) = (
        require("the docker client (docker.io)", tool("docker")),
        require("curl", tool("curl")),
    ) else {
        return false;
    };
    true
}

/// Every file under `dir` with its content (symlinks as their target), to compare before
/// and after an attack.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let content = if m.is_dir() {
                stack.push(p.clone());
                b"<dir>".to_vec()
            } else if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                fs::read(&p).unwrap()
            };
            out.insert(p, content);
        }
    }
    out
}

/// A tar of `(name, type, data or link target)` with the names written raw (the tar crate
/// refuses to write `..` and absolute names, which is what these tests need to send).
fn raw_tar(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_700_000_000);
        if *kind == tar::EntryType::Symlink {
            h.as_old_mut().linkname[..data.len()].copy_from_slice(data);
            h.set_size(0);
        } else {
            h.set_size(data.len() as u64);
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if *kind != tar::EntryType::Symlink {
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// PUT `tar` into `path` of `container`: (status, body).
fn put_archive(svc: &Service, container: &str, path: &str, tar: &[u8]) -> (u16, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), tar).unwrap();
    svc.curl(
        &[
            "-XPUT",
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
            &format!("@{}", file.path().display()),
        ],
        &format!("/v1.41/containers/{container}/archive?path={path}&noOverwriteDirNonDir=true"),
    )
}

fn serving(svc: &Service) {
    assert_eq!(svc.curl(&[], "/_ping").0, 200, "the service keeps serving");
}

/// Nothing is left in the image store's staging directory (archives spooled, trees copied).
/// (A stream whose client has gone ends at its next write: its staging may outlive the
/// reply by the time the copy before that write takes.)
fn assert_no_staging_left(p: &Pier) {
    let tmp = p.root().join("images/tmp");
    wait_for(
        Duration::from_secs(10),
        || fs::read_dir(&tmp).map_or(true, |d| d.count() == 0),
        "no staging left in the image store",
    );
}

#[test]
fn docker_cp_both_ways_keeps_content_and_modes() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&["run", "-d", "--name", "c", "busybox", "sleep", "1000"]);
    let host = tempfile::tempdir().unwrap();
    let h = host.path();

    // Host to container: a file into an existing directory, a directory to a new name.
    fs::write(h.join("a.txt"), "hello\n").unwrap();
    fs::set_permissions(h.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(h.join("d")).unwrap();
    fs::write(h.join("d/b.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(h.join("d/b.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(h.join("a.txt"), Some(1234), Some(1234)).unwrap();
    svc.docker_ok(&["cp", h.join("a.txt").to_str().unwrap(), "c:/tmp/"]);
    svc.docker_ok(&["cp", h.join("d").to_str().unwrap(), "c:/tmp/d2"]);
    assert_eq!(p.ok(&["exec", "c", "cat", "/tmp/a.txt"]), "hello");
    assert_eq!(
        p.ok(&[
            "exec",
            "c",
            "stat",
            "-c",
            "%a %u:%g",
            "/tmp/a.txt",
            "/tmp/d2/b.sh"
        ]),
        "640 0:0\n755 0:0",
        "modes kept; owned by root without -a, as docker cp"
    );
    // -a (copyUIDGID): the archive's owners.
    svc.docker_ok(&[
        "cp",
        "-a",
        h.join("a.txt").to_str().unwrap(),
        "c:/tmp/kept.txt",
    ]);
    assert_eq!(
        p.ok(&["exec", "c", "stat", "-c", "%u:%g", "/tmp/kept.txt"]),
        "1234:1234"
    );

    // Container to host: a directory with a file and a symlink, then its contents (`/.`).
    p.ok(&[
        "exec",
        "c",
        "sh",
        "-c",
        "mkdir /out && echo x > /out/f && chmod 600 /out/f && ln -s f /out/l",
    ]);
    svc.docker_ok(&["cp", "c:/out", h.join("out").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(h.join("out/f")).unwrap(), "x\n");
    assert_eq!(
        fs::metadata(h.join("out/f")).unwrap().mode() & 0o7777,
        0o600
    );
    assert_eq!(fs::read_link(h.join("out/l")).unwrap(), Path::new("f"));
    fs::create_dir(h.join("contents")).unwrap();
    svc.docker_ok(&["cp", "c:/out/.", h.join("contents").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(h.join("contents/f")).unwrap(), "x\n");
    svc.docker_ok(&["cp", "c:/tmp/a.txt", h.join("back.txt").to_str().unwrap()]);
    assert_eq!(fs::read_to_string(h.join("back.txt")).unwrap(), "hello\n");
    // A missing path: Docker's 404 in its words.
    let out = svc.docker(&["cp", "c:/nope", h.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Could not find the file /nope in container c"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // HEAD: the stat header, base64 JSON with Go's mode bits.
    let out = Command::new("curl")
        .args(["-s", "-I", "--unix-socket"])
        .arg(&svc.socket)
        .arg("http://pier/v1.41/containers/c/archive?path=/out")
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("X-Docker-Container-Path-Stat: ")
                .or_else(|| l.strip_prefix("x-docker-container-path-stat: "))
        })
        .unwrap_or_else(|| panic!("no stat header in {head}"));
    use base64::Engine as _;
    let stat: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stat["name"], "out");
    assert_eq!(stat["mode"].as_u64().unwrap(), (1 << 31) | 0o755, "{stat}");

    // A stopped container: the same copy through its mounted layers.
    svc.docker_ok(&["stop", "-t", "1", "c"]);
    svc.docker_ok(&[
        "cp",
        "c:/tmp/a.txt",
        h.join("stopped.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read_to_string(h.join("stopped.txt")).unwrap(),
        "hello\n"
    );
    svc.docker_ok(&["cp", h.join("a.txt").to_str().unwrap(), "c:/tmp/after.txt"]);
    svc.docker_ok(&["start", "c"]);
    assert_eq!(p.ok(&["exec", "c", "cat", "/tmp/after.txt"]), "hello");

    svc.docker_ok(&["rm", "-f", "c"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
    assert_no_staging_left(&p);
}

#[test]
fn archive_put_attacks_write_nothing_outside_the_container() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let canary = tempfile::tempdir().unwrap();
    fs::write(canary.path().join("keep"), "canary").unwrap();
    let before = snapshot(canary.path());
    let c = canary.path().to_str().unwrap().to_string();
    svc.docker_ok(&["run", "-d", "--name", "t", "busybox", "sleep", "1000"]);
    use tar::EntryType::{Regular, Symlink};

    // `../` entries: with enough of them, an escape from any directory lands in the canary.
    let climb = format!("../../../../../../../../../..{c}/escaped");
    for (tar, why) in [
        (raw_tar(&[(climb.as_str(), Regular, b"x")]), ".."),
        (raw_tar(&[("a/../../b", Regular, b"x")]), ".."),
        (
            raw_tar(&[(&format!("{c}/absolute"), Regular, b"x")]),
            "absolute",
        ),
        // A symlink entry, then a file written through it.
        (
            raw_tar(&[("l", Symlink, c.as_bytes()), ("l/through", Regular, b"x")]),
            "l/through",
        ),
        (raw_tar(&[(".wh.keep", Regular, b"")]), ".wh."),
    ] {
        let (code, body) = put_archive(&svc, "t", "/tmp", &tar);
        assert_eq!(code, 400, "{body}");
        let message = serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(why), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(snapshot(canary.path()), before, "nothing written outside");
        serving(&svc);
    }
    assert_eq!(
        p.ok(&["exec", "t", "ls", "/tmp"]).trim(),
        "",
        "a refused archive leaves nothing in the container either"
    );

    // A symlink the container made, naming the host's canary directory, as the destination:
    // it resolves inside the container, where there is no such directory (404)...
    p.ok(&["exec", "t", "ln", "-s", &c, "/hostlink"]);
    let good = raw_tar(&[("f", Regular, b"inside\n")]);
    let (code, body) = put_archive(&svc, "t", "/hostlink", &good);
    assert_eq!(code, 404, "{body}");
    // ...and once the container has that directory, the file lands in the container's.
    p.ok(&["exec", "t", "mkdir", "-p", &c]);
    let (code, body) = put_archive(&svc, "t", "/hostlink", &good);
    assert_eq!(code, 200, "{body}");
    assert_eq!(p.ok(&["exec", "t", "cat", &format!("{c}/f")]), "inside");
    assert_eq!(
        snapshot(canary.path()),
        before,
        "the host's directory untouched"
    );
    // The docker client follows the link the same way, inside the container.
    let h = tempfile::tempdir().unwrap();
    fs::write(h.path().join("g"), "via docker\n").unwrap();
    svc.docker_ok(&["cp", h.path().join("g").to_str().unwrap(), "t:/hostlink/"]);
    assert_eq!(p.ok(&["exec", "t", "cat", &format!("{c}/g")]), "via docker");
    assert_eq!(
        snapshot(canary.path()),
        before,
        "the host's directory untouched"
    );

    // A directory is not replaced by a file (noOverwriteDirNonDir), nor the other way.
    p.ok(&["exec", "t", "mkdir", "-p", "/tmp/dir"]);
    let (code, body) = put_archive(&svc, "t", "/tmp", &raw_tar(&[("dir", Regular, b"x")]));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("cannot overwrite the directory"), "{body}");
    serving(&svc);

    // A read-only root filesystem takes nothing, and says why.
    svc.docker_ok(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "ro",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (code, body) = put_archive(&svc, "ro", "/tmp", &good);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("read-only"), "{body}");
    assert!(p.run(&["exec", "ro", "test", "-e", "/tmp/f"]).status.code() == Some(1));

    svc.docker_ok(&["rm", "-f", "t", "ro"]);
    assert_no_staging_left(&p);
}

#[test]
fn images_tag_history_save_load_rmi_and_prune() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let id = p.image_inspect("busybox")["Id"]
        .as_str()
        .unwrap()
        .to_string();

    svc.docker_ok(&["tag", "busybox", "mine/bb:1"]);
    assert_eq!(p.image_inspect("mine/bb:1")["Id"], id.as_str());
    let (code, body) = svc.curl(&[], "/v1.41/images/mine/bb:1/history");
    assert_eq!(code, 200, "{body}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows[0]["Id"], id.as_str(), "the top row is the image");
    assert!(rows[0]["Tags"].to_string().contains("mine/bb:1"), "{body}");
    assert!(svc.docker_ok(&["history", "mine/bb:1"]).contains("IMAGE"));

    // save | load round trip: the same image ID comes back under its name.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bb.tar");
    svc.docker_ok(&["save", "-o", archive.to_str().unwrap(), "mine/bb:1"]);
    assert!(fs::metadata(&archive).unwrap().len() > 100_000);
    let out = svc.docker_ok(&["rmi", "mine/bb:1"]);
    assert!(out.contains("Untagged: mine/bb:1"), "{out}");
    assert!(p.run(&["image", "inspect", "mine/bb:1"]).status.code() != Some(0));
    let out = svc.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: mine/bb:1"), "{out}");
    assert_eq!(p.image_inspect("mine/bb:1")["Id"], id.as_str());
    // Several images in one archive (`names` repeated), as `docker save a b` asks.
    svc.docker_ok(&["tag", "busybox", "other:2"]);
    let both = dir.path().join("both.tar");
    let (code, _) = svc.curl(
        &["-o", both.to_str().unwrap()],
        "/v1.41/images/get?names=mine/bb:1&names=other:2",
    );
    assert_eq!(code, 200);
    let mut names = Vec::new();
    for e in tar::Archive::new(fs::File::open(&both).unwrap())
        .entries()
        .unwrap()
    {
        let mut e = e.unwrap();
        if e.path().unwrap() == Path::new("manifest.json") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            names.push(text);
        }
    }
    assert!(
        names[0].contains("mine/bb:1") && names[0].contains("other:2"),
        "{names:?}"
    );
    let (code, body) = svc.curl(&[], "/v1.41/images/get?names=busybox&names=nothere:1");
    assert_eq!(
        code, 404,
        "a missing image is named before any byte is sent: {body}"
    );
    svc.docker_ok(&["rmi", "other:2"]);
    // A truncated archive is a clear 400, and loads nothing.
    let half = dir.path().join("half.tar");
    fs::write(&half, &fs::read(&archive).unwrap()[..50_000]).unwrap();
    let out = svc.docker(&["load", "-i", half.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loading the archive"), "{err}");
    serving(&svc);

    // In use by a container: 409 without force.
    svc.docker_ok(&["create", "--name", "user", "mine/bb:1", "true"]);
    let (code, body) = svc.curl(&["-XDELETE"], "/v1.41/images/mine/bb:1");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("must force"), "{body}");
    svc.docker_ok(&["rm", "user"]);

    // Prune: a dangling image goes; named ones stay unless -a.
    let rootfs = dir.path().join("rootfs.tar");
    {
        let mut b = tar::Builder::new(fs::File::create(&rootfs).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "one", &b"one"[..]).unwrap();
        b.finish().unwrap();
    }
    let old = p.ok(&["import", rootfs.to_str().unwrap(), "dangle:1"]);
    // Untag it by retagging another image under the name: the old one dangles.
    svc.docker_ok(&["tag", "busybox", "dangle:1"]);
    let out = svc.docker_ok(&["image", "prune", "-f"]);
    assert!(
        out.contains(&old.trim_start_matches("sha256:")[..12]) || out.contains(&old),
        "{out}"
    );
    assert!(
        p.run(&["image", "inspect", &old]).status.code() != Some(0),
        "pruned"
    );
    assert!(
        svc.docker_ok(&["images"]).contains("mine/bb"),
        "named images stay"
    );
    let out = svc.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: mine/bb:1"), "{out}");
    assert_eq!(
        svc.docker_ok(&["images", "-q"]).trim(),
        "",
        "nothing uses any image"
    );
    assert_no_staging_left(&p);
}

/// A `docker-registry` on a free loopback port (plain HTTP, which pier uses for loopback
/// registries); killed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// With `htpasswd`, an `htpasswd` line: the registry asks for Basic credentials.
    fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            fs::write(&file, line).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pier-test\n    path: {}\n",
                file.display()
            ));
        }
        fs::write(&config, text).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        wait_for(
            Duration::from_secs(20),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "docker-registry listening",
        );
        reg
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_push_and_pull_through_pier_and_a_local_registry() {
    if !prerequisites() || require("docker-registry", tool("docker-registry")).is_none() {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("localhost:{}/pier/bb:v1", reg.port);

    let src = Pier::new();
    let svc = Service::start(&src);
    svc.docker_ok(&["tag", "busybox", &name]);
    let out = svc.docker_ok(&["push", &name]);
    assert!(out.contains("The push refers to repository"), "{out}");
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let digest = src.image_inspect(&name)["ManifestDigest"]
        .as_str()
        .unwrap()
        .to_string();
    // Again: the registry has every blob.
    let out = svc.docker_ok(&["push", &name]);
    assert!(out.contains("Layer already exists"), "{out}");
    // An image that is not here: Docker's 404.
    let out = svc.docker(&["push", &format!("localhost:{}/pier/none:1", reg.port)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist locally"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(svc);

    // Into an empty store through another service: the layers are downloaded.
    let dst = Pier::empty();
    let svc = Service::start(&dst);
    // A client that goes away as its pull starts: the pull finishes on its own (its
    // progress goes nowhere), leaving no descriptor and no staging behind.
    serving(&svc);
    let before = fd_count(svc.child.id());
    let (repo, tag) = name.rsplit_once(':').unwrap();
    curl_then_vanish(
        &svc,
        &["-XPOST"],
        &format!("/v1.41/images/create?fromImage={repo}&tag={tag}"),
        Duration::from_millis(50),
    );
    let staging = dst.root().join("images/tmp");
    wait_for(
        Duration::from_secs(20),
        || {
            dst.run(&["image", "inspect", &name]).status.success()
                && fd_count(svc.child.id()) <= before
                && fs::read_dir(&staging).map_or(true, |d| d.count() == 0)
        },
        "the abandoned pull finished, its descriptors and staging gone",
    );
    serving(&svc);
    svc.docker_ok(&["rmi", &name]);
    let out = svc.docker_ok(&["pull", &name]);
    assert!(out.contains("Pulling from pier/bb"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(dst.image_inspect(&name)["ManifestDigest"], digest.as_str());
    assert_eq!(
        svc.docker_ok(&["run", "--rm", &name, "echo", "pulled"]),
        "pulled\n"
    );
    // A name the registry does not have: the client prints the error and fails.
    let started = Instant::now();
    let out = svc.docker(&["pull", &format!("localhost:{}/pier/none:1", reg.port)]);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    serving(&svc);
    assert_no_staging_left(&dst);
}

fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// `curl` on the socket, killed after `after` (a client that goes away mid-stream).
fn curl_then_vanish(svc: &Service, args: &[&str], path: &str, after: Duration) {
    let mut child = Command::new("curl")
        .args(["-s", "-N", "-o", "/dev/null", "--unix-socket"])
        .arg(&svc.socket)
        .args(args)
        .arg(format!("http://pier{path}"))
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_input_gets_clear_errors_and_the_service_keeps_serving() {
    if !prerequisites() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let pid = svc.child.id();
    let message = |body: &str| -> String {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // A path the API does not have: Docker's 404 ("page not found").
    let (code, body) = svc.curl(&[], "/v1.41/containers/x/teleport");
    assert_eq!(code, 404);
    assert!(message(&body).contains("page not found"), "{body}");
    serving(&svc);

    let post = |data: &str| {
        svc.curl(
            &[
                "-XPOST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                data,
            ],
            "/v1.41/containers/create",
        )
    };
    let (code, body) = post(r#"{"Image": "busybox", "Cmd": ["true"]"#);
    assert_eq!(code, 400, "{body}");
    assert!(message(&body).contains("malformed JSON"), "{body}");
    // A field Docker does not define is ignored, as dockerd ignores it...
    let (code, body) = post(r#"{"Image": "busybox", "Cmd": ["true"], "NotDockers": 1}"#);
    assert_eq!(code, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    svc.docker_ok(&["rm", &id]);
    // ...one Docker defines and pier does not translate is refused by name.
    let (code, body) = post(r#"{"Image": "busybox", "MacAddress": "02:42:ac:11:00:02"}"#);
    assert_eq!(code, 400, "{body}");
    assert!(message(&body).starts_with("MacAddress "), "{body}");
    let (code, body) =
        post(r#"{"Image": "busybox", "HostConfig": {"Devices": [{"PathOnHost": "/dev/sda"}]}}"#);
    assert_eq!(code, 400, "{body}");
    assert!(message(&body).starts_with("HostConfig.Devices "), "{body}");

    // A huge body: 413, without reading all of it, quickly.
    let big = tempfile::NamedTempFile::new().unwrap();
    fs::write(big.path(), vec![b' '; 64 << 20]).unwrap();
    let started = Instant::now();
    let (code, body) = post(&format!("@{}", big.path().display()));
    assert_eq!(code, 413, "{body}");
    assert!(message(&body).contains("larger than"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    serving(&svc);
    assert_eq!(
        p.ok(&["ps", "-a", "-q"]),
        "",
        "no container from refused requests"
    );

    // Clients that go away mid-stream: follow, attach, save. Nothing of theirs stays open.
    svc.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]);
    serving(&svc);
    let before = fd_count(pid);
    for _ in 0..3 {
        curl_then_vanish(
            &svc,
            &[],
            "/v1.41/containers/ticker/logs?follow=1&stdout=1&stderr=1",
            Duration::from_millis(500),
        );
        curl_then_vanish(
            &svc,
            &["-XPOST"],
            "/v1.41/containers/ticker/attach?stream=1&stdout=1&stderr=1",
            Duration::from_millis(500),
        );
        // A slow reader of a save: the tar is larger than the pipe between them.
        curl_then_vanish(
            &svc,
            &["--limit-rate", "10K"],
            "/v1.41/images/busybox/get",
            Duration::from_millis(500),
        );
        serving(&svc);
    }
    wait_for(
        Duration::from_secs(15),
        || fd_count(pid) <= before,
        "the service's descriptors back to where they were",
    );
    assert!(
        svc.docker_ok(&["logs", "ticker"]).contains("tick"),
        "still serving streams"
    );
    // The service ignores SIGPIPE for itself; the containers it starts keep the default.
    let status = p.ok(&["exec", "ticker", "cat", "/proc/1/status"]);
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SigIgn {ignored:x}"
    );
    // A client that reads the start of a reply and closes: the service's next writes fail
    // (EPIPE), which must end that reply, not the service (pier runs with SIGPIPE's default).
    for path in [
        "/images/busybox/get",
        "/containers/ticker/archive?path=/bin",
    ] {
        for _ in 0..5 {
            use std::io::{Read, Write};
            let mut c = std::os::unix::net::UnixStream::connect(&svc.socket).unwrap();
            write!(c, "GET /v1.41{path} HTTP/1.1\r\nHost: pier\r\n\r\n").unwrap();
            let mut head = [0u8; 100];
            c.read_exact(&mut head).unwrap();
            drop(c);
            std::thread::sleep(Duration::from_millis(100));
        }
        serving(&svc);
    }

    svc.docker_ok(&["rm", "-f", "ticker"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");
    assert_no_staging_left(&p);
}

#[test]
fn docker_push_sends_the_clients_credentials_in_x_registry_auth() {
    if !prerequisites() || require("docker-registry", tool("docker-registry")).is_none() {
        return;
    }
    let Some(_) = require("htpasswd (apache2-utils)", tool("htpasswd")) else {
        return;
    };
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "wonderland"])
        .output()
        .unwrap();
    let reg = Registry::start(Some(&String::from_utf8_lossy(&out.stdout)));
    let name = format!("localhost:{}/secret/bb:1", reg.port);
    let p = Pier::new();
    let svc = Service::start(&p);
    svc.docker_ok(&["tag", "busybox", &name]);
    // The client's own configuration holds the credentials, as `docker login` saves them;
    // the client sends them with the push.
    let config = tempfile::tempdir().unwrap();
    let docker = |auth: &str, args: &[&str]| {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(auth);
        fs::write(
            config.path().join("config.json"),
            format!(
                r#"{{"auths": {{"localhost:{}": {{"auth": "{encoded}"}}}}}}"#,
                reg.port
            ),
        )
        .unwrap();
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()))
            .env("DOCKER_CONFIG", config.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = docker("alice:wrong", &["push", &name]);
    assert!(!out.status.success(), "wrong credentials refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") || err.contains("unauthorized"), "{err}");
    let out = docker("alice:wonderland", &["push", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pushed"));
    // And pull: the layers are here already, the manifest needs the credentials.
    svc.docker_ok(&["rmi", &name]);
    let out = docker("alice:wonderland", &["pull", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        p.image_inspect(&name)["Id"],
        p.image_inspect("busybox")["Id"]
    );
}
