//! The Docker ecosystem's own clients on pier's Engine API socket: docker-compose 1.29
//! (Debian's, docker-py underneath) bringing up a two-service application, and the Python
//! Docker SDK from PyPI (in a venv the test makes) building, running and exec'ing. Each
//! checks the effect (the page is served, the volume holds the data, the exec's exit code)
//! and that nothing is left after `down -v` or `remove`.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::api_service::Service;
use common::{free_port, links_named, text, wait_for, Pier};
use pier_testkit::prereq::{require, tool};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// `docker-compose -p PROJECT ARGS` in `dir`, against the service.
fn compose(svc: &Service, dir: &Path, project: &str, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .arg("-p")
        .arg(project)
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", format!("unix://{}", svc.socket.display()))
        .env("DOCKER_CONFIG", dir.join(".docker"))
        .output()
        .unwrap()
}

fn compose_ok(svc: &Service, dir: &Path, project: &str, args: &[&str]) -> String {
    let out = compose(svc, dir, project, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// What an HTTP GET of `/` on `port` of the host returns (busybox httpd's page).
fn http_get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn docker_compose_brings_up_a_two_service_application_through_the_socket() {
    let (Some(_), Some(_)) = (
        require("the docker client (docker.io)", tool("docker")),
        require(
            "docker-compose (Debian's docker-compose)",
            tool("docker-compose"),
        ),
    ) else {
        return;
    };
    let p = Pier::new();
    let svc = Service::start(&p);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::create_dir(dir.path().join("web")).unwrap();
    std::fs::write(
        dir.path().join("web/Dockerfile"),
        "FROM busybox\n\
         RUN mkdir -p /www && echo hello-from-compose > /www/index.html\n\
         CMD [\"sh\", \"-c\", \"echo web-started; exec httpd -f -p 80 -h /www\"]\n",
    )
    .unwrap();
    // db becomes healthy only once it has written its state into the named volume; web
    // waits for that (depends_on: service_healthy), as a real application waits for its
    // database.
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!(
            "version: \"3.8\"\n\
             services:\n\
             \x20 db:\n\
             \x20   image: busybox\n\
             \x20   command: sh -c \"sleep 1; echo ready > /data/state; sleep 3600\"\n\
             \x20   volumes:\n\
             \x20     - dbdata:/data\n\
             \x20   healthcheck:\n\
             \x20     test: [\"CMD\", \"test\", \"-f\", \"/data/state\"]\n\
             \x20     interval: 1s\n\
             \x20     retries: 30\n\
             \x20 web:\n\
             \x20   build: ./web\n\
             \x20   ports:\n\
             \x20     - \"{port}:80\"\n\
             \x20   depends_on:\n\
             \x20     db:\n\
             \x20       condition: service_healthy\n\
             volumes:\n\
             \x20 dbdata:\n"
        ),
    )
    .unwrap();
    let project = format!("pc{}", std::process::id());
    compose_ok(&svc, dir.path(), &project, &["up", "-d", "--build"]);

    // Both services run, once each, db healthy (web started only after that).
    let ps = compose_ok(&svc, dir.path(), &project, &["ps"]);
    let rows: Vec<&str> = ps.lines().filter(|l| l.starts_with(&project)).collect();
    assert_eq!(rows.len(), 2, "one row per service: {ps}");
    assert!(
        rows.iter()
            .any(|r| r.contains("_db_1") && r.contains("Up (healthy)")),
        "{ps}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("_web_1") && r.contains(&format!("{port}->80/tcp"))),
        "{ps}"
    );
    // The published port serves the built image's page; the logs and an exec reach the
    // containers; the volume holds what db wrote.
    let mut page = None;
    wait_for(
        Duration::from_secs(20),
        || {
            page = http_get(port);
            page.as_deref()
                .is_some_and(|b| b.contains("hello-from-compose"))
        },
        "the web service's page on the published port",
    );
    wait_for(
        Duration::from_secs(10),
        || compose_ok(&svc, dir.path(), &project, &["logs", "web"]).contains("web-started"),
        "web's output in docker-compose logs",
    );
    let state = compose_ok(
        &svc,
        dir.path(),
        &project,
        &["exec", "-T", "db", "cat", "/data/state"],
    );
    assert_eq!(state.trim(), "ready");
    let containers = p.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(
        containers.contains(&format!("{project}_db_1")),
        "{containers}"
    );

    // down -v removes the containers, the network (and its bridge) and the volume.
    let nets: serde_json::Value =
        serde_json::from_str(&p.ok(&["network", "inspect", &format!("{project}_default")]))
            .unwrap();
    let bridge = nets[0]["bridge"].as_str().unwrap().to_string();
    compose_ok(&svc, dir.path(), &project, &["down", "-v"]);
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "", "no container left");
    assert!(
        !p.ok(&["volume", "ls", "-q"]).contains(&project),
        "the volume is removed"
    );
    assert!(
        !p.ok(&["network", "ls"]).contains(&project),
        "the network is removed"
    );
    assert!(links_named(&bridge).is_empty(), "bridge {bridge} is gone");
}

#[test]
fn the_python_docker_sdk_builds_runs_and_execs_through_the_socket() {
    let Some(python) = require("python3 with venv (python3-venv)", tool("python3")) else {
        return;
    };
    let p = Pier::new();
    let svc = Service::start(&p);
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    // The SDK from PyPI (the package registries are reachable), in a venv of the test's own.
    let made = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    let made = require(
        "a Python venv (python3-venv)",
        if made.status.success() {
            Ok(())
        } else {
            Err(text(&made.stderr))
        },
    );
    if made.is_none() {
        return;
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "docker"])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install docker: {}",
        text(&pip.stderr)
    );

    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG GREETING=none\nRUN echo \"$GREETING\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    let script = dir.path().join("sdk.py");
    std::fs::write(
        &script,
        r#"import sys, docker
client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="1.41")
assert client.ping()
img, _ = client.images.build(path=sys.argv[2], tag="sdk-img:1", buildargs={"GREETING": "hello-sdk"})
print("built", img.tags)
print("run", client.containers.run("sdk-img:1", remove=True).decode().strip())
c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 300"], detach=True,
                          name="sdk-c", labels={"t": "sdk"})
c.reload()
print("status", c.status)
code, out = c.exec_run(["sh", "-c", "echo from-exec; exit 3"])
print("exec", code, out.decode().strip())
print("logs", c.logs().decode().strip())
print("list", [x.name for x in client.containers.list(filters={"label": "t=sdk"})])
c.remove(force=True)
client.images.remove("sdk-img:1")
print("left", len(client.containers.list(all=True)))
"#,
    )
    .unwrap();
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(&svc.socket)
        .arg(&ctx)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "built ['sdk-img:1']",
        "run hello-sdk",
        "status running",
        "exec 3 from-exec",
        "logs started",
        "list ['sdk-c']",
        "left 0",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");
    assert!(
        !p.ok(&["images"]).contains("sdk-img"),
        "the image is removed"
    );
}
