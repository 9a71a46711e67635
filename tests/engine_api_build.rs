//! `pier system service`: builds, networks and volumes through the Engine API, driven by the
//! real Debian `docker` client (classic builder, DOCKER_BUILDKIT=0) and `curl`; hostile build
//! contexts are sent raw with curl, and what they aim at on the host is checked untouched.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{links_named, nft_rules_mentioning, unique_id, Pier};
use pier_testkit::prereq::{require, tool};
use std::path::Path;
use std::process::{Command, Output};

fn clients() -> bool {
    let docker = require("the docker client (docker.io)", tool("docker"));
    let curl = require("curl", tool("curl"));
    docker.is_some() && curl.is_some()
}

/// `docker ARGS` on the service with the classic builder, in `dir`.
fn docker_in(svc: &Service, dir: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()))
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, rel: &str, content: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[test]
fn docker_build_with_args_target_and_file_through_the_socket() {
    if !clients() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "hello.txt", "from the context\n");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo built-by-run > /run.txt\nCMD [\"cat\", \"/hello.txt\", \"/run.txt\"]\n",
    );
    write(
        ctx.path(),
        "other/Dockerfile",
        "FROM busybox AS stage\nARG A=unset\nRUN echo \"arg=$A\" > /a.txt\nCMD [\"cat\", \"/a.txt\"]\n\
         FROM stage AS never\nRUN false\n",
    );

    let out = docker_in(
        &svc,
        ctx.path(),
        &["build", "-t", "apib:1", "-t", "apib:2", "."],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("Step 1/4 : FROM busybox"), "{stdout}");
    assert!(stdout.contains("Successfully tagged apib:2"), "{stdout}");
    assert_eq!(
        svc.docker_ok(&["run", "--rm", "apib:1"]),
        "from the context\nbuilt-by-run\n"
    );
    assert!(
        p.ok(&["images"]).contains("apib"),
        "pier sees the built image"
    );

    // -f, --build-arg, --target: the last stage (RUN false) is never built.
    let out = docker_in(
        &svc,
        ctx.path(),
        &[
            "build",
            "-f",
            "other/Dockerfile",
            "--build-arg",
            "A=b",
            "--target",
            "stage",
            "-t",
            "apib:stage",
            ".",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(svc.docker_ok(&["run", "--rm", "apib:stage"]), "arg=b\n");

    // -q: the image ID only, the one the image has.
    let out = docker_in(&svc, ctx.path(), &["build", "-q", "-t", "apib:q", "."]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        svc.docker_ok(&["image", "inspect", "--format", "{{.Id}}", "apib:q"])
            .trim(),
        id
    );

    // A failing step: the message in the stream, the CLI exits non-zero, no build container
    // is left.
    write(
        ctx.path(),
        "bad/Dockerfile",
        "FROM busybox\nRUN echo before; exit 3\n",
    );
    let out = docker_in(&svc, ctx.path(), &["build", "-f", "bad/Dockerfile", "."]);
    assert!(!out.status.success());
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("before"), "RUN output is streamed: {all}");
    assert!(all.contains("returned a non-zero code: 3"), "{all}");
    write(ctx.path(), "bad2/Dockerfile", "FROM busybox\nNOPE x\n");
    let out = docker_in(&svc, ctx.path(), &["build", "-f", "bad2/Dockerfile", "."]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).to_lowercase().contains("nope"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        p.ok(&["ps", "-a", "-q"]).trim(),
        "",
        "no build container left"
    );

    let (code, body) = svc.curl(&["-X", "POST"], "/v1.41/build/prune");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("SpaceReclaimed"), "{body}");
    // The contexts were removed with their requests.
    let left: Vec<_> = std::fs::read_dir(p.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("api-build-"))
        .collect();
    assert!(left.is_empty(), "build contexts left: {left:?}");
}

/// A tar with the given entries: (path, symlink target or None, content).
fn tar_of(entries: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, link, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match link {
            Some(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_link_name(target).unwrap();
                h.set_path(path).unwrap_or_else(|_| {
                    // `set_path` refuses `..`: write the raw name as an attacker would.
                    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                });
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(content.len() as u64);
                if h.set_path(path).is_err() {
                    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                }
                h.set_cksum();
                b.append(&h, content.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// POSTs `tar` to `/build?QUERY` with curl: (status, body).
fn post_context(svc: &Service, dir: &Path, tar: &[u8], query: &str) -> (u16, String) {
    let file = dir.join(format!("ctx-{}.tar", unique_id("t")));
    std::fs::write(&file, tar).unwrap();
    let at = format!("@{}", file.display());
    svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
            &at,
        ],
        &format!("/v1.41/build?{query}"),
    )
}

#[test]
fn hostile_build_contexts_read_and_write_nothing_on_the_host() {
    if !clients() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let work = tempfile::tempdir().unwrap();
    // A host file the contexts aim at, with a marker no image has.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret");
    let marker = unique_id("host-secret");
    std::fs::write(&secret, &marker).unwrap();
    let secret_path = secret.to_str().unwrap();

    // `../` climbs out of the extraction directory: refused before anything is built, and
    // nothing lands beside the state root.
    let escape_name = unique_id("escaped");
    let tar = tar_of(&[
        ("Dockerfile", None, "FROM busybox\n"),
        (&format!("../{escape_name}"), None, "x"),
        (&format!("../../{escape_name}"), None, "x"),
    ]);
    let (code, body) = post_context(&svc, work.path(), &tar, "t=evil");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(".."), "{body}");
    for dir in [
        p.root().to_path_buf(),
        p.root().parent().unwrap().to_path_buf(),
    ] {
        assert!(
            !dir.join(&escape_name).exists(),
            "written outside the context in {}",
            dir.display()
        );
    }

    // A symlink out of the context, then a write through it: refused, nothing written.
    let tar = tar_of(&[
        ("Dockerfile", None, "FROM busybox\n"),
        ("out", Some(secret_dir.path().to_str().unwrap()), ""),
        ("out/secret", None, "overwritten"),
    ]);
    let (code, body) = post_context(&svc, work.path(), &tar, "t=evil");
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        marker,
        "host file unchanged"
    );

    // An absolute symlink COPYed: resolved inside the context, so the host file is not read.
    let tar = tar_of(&[
        (
            "Dockerfile",
            None,
            "FROM busybox\nCOPY link /s\nCMD [\"cat\", \"/s\"]\n",
        ),
        ("link", Some(secret_path), ""),
    ]);
    let (code, body) = post_context(&svc, work.path(), &tar, "t=evil:copy");
    assert_eq!(code, 200, "errors of the build itself come in the stream");
    assert!(!body.contains(&marker), "the host file was read: {body}");
    assert!(body.contains("errorDetail"), "{body}");
    let listed = svc.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!listed.contains("evil:copy"), "{listed}");

    // The Dockerfile itself a symlink to the host file: not found in the context.
    let tar = tar_of(&[("Dockerfile", Some(secret_path), "")]);
    let (code, body) = post_context(&svc, work.path(), &tar, "");
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("Cannot locate specified Dockerfile"),
        "{body}"
    );
    assert!(!body.contains(&marker), "{body}");

    // A dockerfile parameter outside the context, bad build args.
    let tar = tar_of(&[("Dockerfile", None, "FROM busybox\n")]);
    let q = format!("dockerfile={}", secret_path.replace('/', "%2F"));
    let (code, body) = post_context(&svc, work.path(), &tar, &q);
    assert_eq!(code, 400, "{body}");
    let (code, body) = post_context(&svc, work.path(), &tar, "dockerfile=..%2FDockerfile");
    assert_eq!(code, 400, "{body}");
    let (code, body) = post_context(&svc, work.path(), &tar, "buildargs=notjson");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("buildargs"), "{body}");
    let (code, body) = post_context(&svc, work.path(), b"this is not a tar", "");
    assert_eq!(code, 400, "{body}");

    // The service still serves, and kept nothing of the refused contexts.
    assert_eq!(svc.curl(&[], "/_ping").0, 200);
    let left: Vec<_> = std::fs::read_dir(p.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("api-build-"))
        .collect();
    assert!(left.is_empty(), "build contexts left: {left:?}");
}

#[test]
fn networks_and_volumes_through_the_socket() {
    if !clients() || require("nft", tool("nft")).is_none() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let net = unique_id("apinet");

    let id = svc.docker_ok(&["network", "create", "--label", "lab=12", &net]);
    assert_eq!(id.trim(), net);
    let listed = svc.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "label=lab=12",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(listed.trim(), net);
    let out = svc.docker(&["network", "create", &net]);
    assert!(
        !out.status.success(),
        "a second network of that name is refused"
    );
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    // The bridge's name is pier's own (Docker's `Options` holds only what the creator set).
    let inspected: serde_json::Value =
        serde_json::from_str(&p.ok(&["network", "inspect", &net])).unwrap();
    let bridge = inspected[0]["bridge"].as_str().unwrap().to_string();
    assert!(!links_named(&bridge).is_empty(), "bridge {bridge} exists");

    // A container on the network reaches another by name; one connected later too.
    let a = svc.docker_ok(&[
        "run",
        "-d",
        "--network",
        &net,
        "--name",
        "srv-a",
        "busybox",
        "sleep",
        "1000",
    ]);
    let c = svc.docker_ok(&["run", "-d", "--name", "srv-c", "busybox", "sleep", "1000"]);
    svc.docker_ok(&["network", "connect", "--alias", "cee", &net, "srv-c"]);
    for target in ["srv-a", "srv-c", "cee"] {
        let out = svc.docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            target,
        ]);
        assert!(
            out.status.success(),
            "ping {target}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let inspect = svc.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{len .Containers}}",
        &net,
    ]);
    assert_eq!(inspect.trim(), "2");
    svc.docker_ok(&["network", "disconnect", &net, "srv-c"]);
    let out = svc.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "srv-c",
    ]);
    assert!(!out.status.success(), "srv-c is gone from the network");
    let out = svc.docker(&["network", "rm", &net]);
    assert!(
        !out.status.success(),
        "a network with a container attached stays"
    );
    svc.docker_ok(&["rm", "-f", "srv-a", "srv-c"]);
    svc.docker_ok(&["network", "rm", &net]);
    let (code, _) = svc.curl(&[], &format!("/v1.41/networks/{net}"));
    assert_eq!(code, 404);
    assert!(links_named(&bridge).is_empty(), "bridge removed");
    for id in [&a, &c] {
        let short = &id.trim()[..8];
        assert!(links_named(short).is_empty(), "veths of {short} removed");
        assert_eq!(nft_rules_mentioning(short), 0, "rules of {short} removed");
    }
    assert_eq!(
        nft_rules_mentioning(&bridge),
        0,
        "rules of {bridge} removed"
    );
    let pruned_net = unique_id("apiprune");
    svc.docker_ok(&["network", "create", &pruned_net]);
    let out = svc.docker_ok(&["network", "prune", "-f"]);
    assert!(out.contains(&pruned_net), "{out}");

    // Volumes: one container writes, another reads; in use, it stays.
    let vol = unique_id("apivol");
    svc.docker_ok(&["volume", "create", "--label", "k=v", &vol]);
    svc.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "sh",
        "-c",
        "echo hello > /d/f",
    ]);
    let mount = format!("type=volume,src={vol},dst=/d,readonly");
    assert_eq!(
        svc.docker_ok(&["run", "--rm", "--mount", &mount, "busybox", "cat", "/d/f"]),
        "hello\n"
    );
    let listed = svc.docker_ok(&["volume", "ls", "-q", "--filter", "label=k=v"]);
    assert_eq!(listed.trim(), vol);
    svc.docker_ok(&[
        "create",
        "--name",
        "user",
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "true",
    ]);
    let (code, body) = svc.curl(&["-X", "DELETE"], &format!("/v1.41/volumes/{vol}"));
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("in use"), "{body}");
    let (code, body) = svc.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Name":"x","DriverOpts":{"type":"nfs"}}"#,
        ],
        "/v1.41/volumes/create",
    );
    assert_eq!(code, 400, "{body}");
    svc.docker_ok(&["rm", "user"]);
    svc.docker_ok(&["volume", "rm", &vol]);
    let (code, _) = svc.curl(&[], &format!("/v1.41/volumes/{vol}"));
    assert_eq!(code, 404);
    let spare = unique_id("apispare");
    svc.docker_ok(&["volume", "create", &spare]);
    let out = svc.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&spare), "{out}");
    assert_eq!(svc.docker_ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn a_client_that_goes_away_stops_its_build() {
    if !clients() {
        return;
    }
    let p = Pier::new();
    let svc = Service::start(&p);
    let work = tempfile::tempdir().unwrap();
    let tar = tar_of(&[(
        "Dockerfile",
        None,
        "FROM busybox\nRUN while true; do echo tick; sleep 0.2; done\n",
    )]);
    let file = work.path().join("ctx.tar");
    std::fs::write(&file, tar).unwrap();
    // curl gives up after 3 s, in the middle of the endless RUN step.
    let out = Command::new("curl")
        .args(["-s", "--max-time", "3", "--unix-socket"])
        .arg(&svc.socket)
        .args(["-X", "POST", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg("http://pier/v1.41/build?t=endless")
        .output()
        .unwrap();
    assert!(!out.status.success(), "curl timed out");
    assert!(
        text(&out.stdout).contains("tick"),
        "RUN output streamed live: {}",
        text(&out.stdout)
    );
    // The build stops: its RUN container goes, its context goes, no image is made.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = p.ok(&["ps", "-a", "-q"]);
        let contexts = std::fs::read_dir(p.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("api-build-"))
            .count();
        if left.trim().is_empty() && contexts == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build went on after its client left: containers {left:?}, contexts {contexts}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!p.ok(&["images"]).contains("endless"));
    assert_eq!(svc.curl(&[], "/_ping").0, 200, "the service keeps serving");
}
