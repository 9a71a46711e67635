//! `pier system service`: the Docker Engine API on a Unix socket, driven by the real Debian
//! `docker` client (never the host's dockerd: DOCKER_HOST points at the test's socket) and
//! by `curl --unix-socket`; containers made through the socket are pier's own (`pier ps`).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::path::Path;
use std::time::Duration;

fn is_service_gone(socket: &Path, pid: u32) -> bool {
    !socket.exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_docker_cli_drives_pier_through_the_socket() {
    let (Some(_), Some(_)) = (
        require("the docker client (docker.io)", tool("docker")),
        require("curl", tool("curl")),
    ) else {
        return;
    };
    let p = Pier::new();
    let svc = Service::start(&p);

    let version = svc.docker_ok(&["version"]);
    assert!(version.contains("Server: pier"), "{version}");
    assert!(version.contains("1.41"), "{version}");

    assert_eq!(
        svc.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]),
        "hi\n"
    );
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "", "--rm removed it");

    let id = svc.docker_ok(&[
        "run",
        "-d",
        "--name",
        "x",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 1000",
    ]);
    let id = id.trim();
    assert!(p.ok(&["ps"]).contains(" x"), "pier ps shows the container");
    assert!(svc.docker_ok(&["ps"]).contains(&id[..12]));
    assert_eq!(
        svc.docker_ok(&["inspect", "--format", "{{.State.Status}}", "x"])
            .trim(),
        "running"
    );
    wait_for(
        Duration::from_secs(10),
        || svc.docker(&["logs", "x"]).stdout == b"out\n",
        "docker logs",
    );
    assert_eq!(
        svc.docker(&["logs", "x"]).stderr,
        b"err\n",
        "stderr stays stderr"
    );
    // And the other way: a container made by pier shows in docker ps.
    p.ok(&[
        "run",
        "-d",
        "--name",
        "made-by-pier",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(svc.docker_ok(&["ps"]).contains("made-by-pier"));
    svc.docker_ok(&["stop", "-t", "1", "x", "made-by-pier"]);
    assert_eq!(p.status("x"), "exited");
    svc.docker_ok(&["rm", "x", "made-by-pier"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
    assert!(svc.docker_ok(&["images"]).contains("busybox"));

    // curl: ping, a 404 in Docker's shape, malformed JSON, unsupported fields, a huge body.
    let (code, body) = svc.curl(&[], "/_ping");
    assert_eq!((code, body.as_str()), (200, "OK"));
    let (code, body) = svc.curl(&[], "/v1.41/containers/nope/json");
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("no such container"),
        "{body}"
    );
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
    let (code, body) = post("{not json");
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#);
    assert_eq!(code, 400);
    assert!(body.contains("HostConfig.Privileged"), "{body}");
    let big = format!(
        r#"{{"Image":"busybox","Labels":{{"a":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let big_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big_file.path(), big).unwrap();
    let (code, _) = post(&format!("@{}", big_file.path().display()));
    assert_eq!(code, 413);
    assert_eq!(
        p.ok(&["ps", "-a", "-q"]).trim(),
        "",
        "no container from refused requests"
    );
    assert_eq!(svc.curl(&[], "/_ping").0, 200, "the service keeps serving");

    let (socket, pid) = (svc.socket.clone(), svc.child.id());
    drop(svc);
    assert!(
        is_service_gone(&socket, pid),
        "the socket and the service are gone"
    );
}
