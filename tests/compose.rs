//! End-to-end tests of `pier compose`: a three-service application (a web front that proxies
//! to an API, which keeps a counter in a store service on a named volume), built from busybox
//! with compose's `build:`, brought up with one command, reached from the host's loopback,
//! taken down and up again with its data, and removed without a trace by `down -v`; a
//! foreground `up` stopped with Ctrl-C; and bad input refused in one line with nothing made.
//!
//! Traffic goes only to 127.0.0.1 and to the containers' own test networks.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    assert_no_cgroup, assert_no_mounts_under, assert_no_process, assert_one_line_error, free_port,
    links_named, nft_rules_mentioning, scaled, text, wait_for, Pier,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// The application: web (published) -> api (alias `backend`, on both networks) -> store (the
/// counter on volume `data`). Web and store share no network.
const APP: &str = r#"
services:
  web:
    build: ./web
    init: true
    ports:
      - "127.0.0.1:${WEB_PORT:?set WEB_PORT}:80"
    networks: [front]
    depends_on: [api]
  api:
    build:
      context: ./api
    init: true
    networks:
      front:
        aliases: [backend]
      back: {}
    depends_on:
      store:
        condition: service_started
  store:
    build: ./store
    init: true
    volumes:
      - data:/data
    networks: [back]
networks:
  front:
  back:
volumes:
  data:
"#;

/// Each service is `nc -ll` running a script per connection.
fn write_app(dir: &Path, port: u16) {
    let files: &[(&str, &str)] = &[
        ("compose.yaml", APP),
        (".env", &format!("WEB_PORT={port}\n")),
        (
            "web/Dockerfile",
            "FROM busybox\nCOPY web.sh /web.sh\nCMD [\"nc\", \"-ll\", \"-p\", \"80\", \"-e\", \"/bin/sh\", \"/web.sh\"]\n",
        ),
        (
            "web/web.sh",
            // Reads the whole request (unread bytes would turn the close into a reset).
            "read -r request\nwhile read -r h; do [ -z \"$(echo \"$h\" | tr -d '\\r')\" ] && break; done\nreply=$(echo hit | nc -w 3 backend 8000)\nprintf 'HTTP/1.0 200 OK\\r\\n\\r\\nweb got: %s\\n' \"$reply\"\n",
        ),
        (
            "api/Dockerfile",
            "FROM busybox\nCOPY api.sh /api.sh\nCMD [\"nc\", \"-ll\", \"-p\", \"8000\", \"-e\", \"/bin/sh\", \"/api.sh\"]\n",
        ),
        (
            "api/api.sh",
            "read -r line\necho \"count=$(echo INCR | nc -w 3 store 7000)\"\n",
        ),
        (
            "store/Dockerfile",
            "FROM busybox\nCOPY store.sh /store.sh\nCMD [\"nc\", \"-ll\", \"-p\", \"7000\", \"-e\", \"/bin/sh\", \"/store.sh\"]\n",
        ),
        (
            "store/store.sh",
            "read -r cmd\nn=$(cat /data/count 2>/dev/null || echo 0)\nn=$((n + 1))\necho \"$n\" > /data/count\necho \"stored $n\" >&2\necho \"$n\"\n",
        ),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
    }
}

/// `pier compose ARGS` run in `dir`.
fn compose(p: &Pier, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["compose"];
    all.extend_from_slice(args);
    let mut cmd = p.command(&all);
    cmd.current_dir(dir);
    common::run_with_timeout(&mut cmd, None, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("pier compose {args:?}: {e}"))
}

/// Like [`compose`], asserting success; returns stdout.
fn compose_ok(p: &Pier, dir: &Path, args: &[&str]) -> String {
    let out = compose(p, dir, args);
    assert!(
        out.status.success(),
        "pier compose {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// GET / from the host's loopback, retrying while the front starts.
fn get(port: u16) -> String {
    let deadline = Instant::now() + scaled(Duration::from_secs(15));
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(
            &format!("127.0.0.1:{port}").parse().expect("address"),
            Duration::from_secs(2),
        ) {
            Ok(mut s) => {
                s.set_read_timeout(Some(scaled(Duration::from_secs(10))))
                    .ok();
                let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                let mut body = String::new();
                let _ = s.read_to_string(&mut body);
                if body.contains("count=") {
                    return body;
                }
                last = format!("reply {body:?}");
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no answer on 127.0.0.1:{port}: {last}");
}

fn ids(p: &Pier, dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = compose_ok(p, dir, &["ps", "-a", "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Names of the root's volumes or networks (the first column of `ls`).
fn names(p: &Pier, what: &str) -> Vec<String> {
    let out = p.ok(&[what, "ls"]);
    let col = usize::from(what == "volume");
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(col).map(str::to_string))
        .collect()
}

#[test]
fn three_services_answer_keep_their_data_and_leave_nothing_after_down_v() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("project dir");
    let app = dir.path().join("shop");
    let port = free_port();
    write_app(&app, port);

    let up = compose(&p, &app, &["up", "-d"]);
    assert!(up.status.success(), "up: {}", text(&up.stderr));
    let progress = text(&up.stderr);
    // Dependencies first: store, then api, then web.
    let pos = |s: &str| {
        progress
            .find(&format!("Container {s}  Started"))
            .unwrap_or_else(|| panic!("{s} started: {progress}"))
    };
    assert!(pos("shop-store-1") < pos("shop-api-1") && pos("shop-api-1") < pos("shop-web-1"));
    assert!(get(port).contains("count=1"), "first request");
    assert!(get(port).contains("count=2"), "second request");

    let ps = compose_ok(&p, &app, &["ps"]);
    for n in ["shop-web-1", "shop-api-1", "shop-store-1"] {
        assert!(ps.contains(n), "ps lists {n}: {ps}");
    }
    assert!(
        ps.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "ps: {ps}"
    );
    let inspect = p.inspect("shop-api-1");
    assert_eq!(
        inspect["config"]["labels"]["com.docker.compose.project"],
        "shop"
    );
    assert_eq!(
        inspect["config"]["labels"]["com.docker.compose.service"],
        "api"
    );
    assert_eq!(
        inspect["config"]["labels"]["com.docker.compose.container-number"],
        "1"
    );

    // The store's log, prefixed with its service.
    let logs = compose_ok(&p, &app, &["logs", "store"]);
    assert!(logs.contains("store-1  | stored 2"), "logs: {logs:?}");
    // The front cannot reach the store: they share no network.
    let isolated = compose(
        &p,
        &app,
        &["exec", "-T", "web", "nc", "-w", "2", "store", "7000"],
    );
    assert!(!isolated.status.success(), "web reached store");

    // A second `up` changes nothing.
    let before = ids(&p, &app);
    let again = compose(&p, &app, &["up", "-d"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(ids(&p, &app), before, "up again keeps the same containers");
    assert_eq!(
        text(&again.stderr).matches("Running").count(),
        3,
        "{}",
        text(&again.stderr)
    );

    // down, then up: the data is still there.
    compose_ok(&p, &app, &["down"]);
    assert!(ids(&p, &app).is_empty());
    assert_eq!(names(&p, "volume"), ["shop_data"], "down keeps the volume");
    compose_ok(&p, &app, &["up", "-d"]);
    assert!(
        get(port).contains("count=3"),
        "the counter survived down/up"
    );

    let last = ids(&p, &app);
    compose_ok(&p, &app, &["down", "-v"]);
    assert!(ids(&p, &app).is_empty(), "no container");
    assert!(names(&p, "volume").is_empty(), "no volume");
    assert_eq!(names(&p, "network"), ["bridge"], "only the default network");
    assert_no_mounts_under(p.root());
    for id in &last {
        assert_no_cgroup(id);
        assert_no_process(id);
        assert!(links_named(&id[..8]).is_empty(), "veth of {id} left");
        assert_eq!(nft_rules_mentioning(&id[..12]), 0, "rules of {id} left");
    }
    assert!(
        TcpStream::connect_timeout(
            &format!("127.0.0.1:{port}").parse().expect("address"),
            Duration::from_millis(500)
        )
        .is_err(),
        "nothing answers on the port any more"
    );
}

#[test]
fn foreground_up_prints_prefixed_logs_and_ctrl_c_stops_the_project() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("project dir");
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  talker:\n    image: busybox\n    init: true\n    command: sh -c 'echo hello from talker; sleep 3600'\n",
    )
    .expect("write");
    let mut cmd = p.command(&["compose", "-p", "fg", "up"]);
    cmd.current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn pier compose up");
    let pid = child.id() as i32;
    wait_for(
        scaled(Duration::from_secs(20)),
        || {
            let out = p.run(&["inspect", "fg-talker-1"]);
            out.status.success() && text(&out.stdout).contains("\"status\": \"running\"")
        },
        "fg-talker-1 to run",
    );
    // Let the log follower print the greeting, then press Ctrl-C.
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = common::wait_with_timeout(child, Duration::from_secs(30)).expect("up ends");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("talker-1  | hello from talker"),
        "prefixed output: {stdout:?}"
    );
    assert!(
        text(&out.stderr).contains("Gracefully stopping"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        p.status("fg-talker-1"),
        "exited",
        "Ctrl-C stopped the container"
    );
    let id = p.inspect("fg-talker-1")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_no_process(&id);

    // On a terminal (util-linux's `script` gives the command one) the prefix is coloured.
    let line = format!(
        "{} --root {} compose -p fg logs",
        common::PIER,
        p.root().display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .current_dir(dir.path());
    let out = common::run_with_timeout(&mut script, None, Duration::from_secs(30))
        .expect("script runs pier compose logs");
    let shown = text(&out.stdout);
    assert!(
        shown.contains("\x1b[36mtalker-1  | \x1b[0mhello from talker"),
        "coloured prefix on a terminal: {shown:?}"
    );
}

/// Every bad-input case: one line on stderr, exit 125, and nothing created.
fn refused(p: &Pier, dir: &Path, args: &[&str], needles: &[&str]) {
    let before_nets = names(p, "network");
    let before_vols = names(p, "volume");
    let before_ids = p.all_ids();
    let out = compose(p, dir, args);
    assert_one_line_error(&out, 125, needles);
    assert_eq!(p.all_ids(), before_ids, "no container created");
    assert_eq!(names(p, "network"), before_nets, "no network created");
    assert_eq!(names(p, "volume"), before_vols, "no volume created");
}

fn project(files: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("project dir");
    std::fs::write(dir.path().join("compose.yaml"), files).expect("write");
    dir
}

#[test]
fn yaml_syntax_error_names_its_line() {
    let p = Pier::new();
    let d = project("services:\n  web:\n    image: busybox\n   command: [oops\n");
    refused(&p, d.path(), &["up", "-d"], &["compose.yaml", "line 4"]);
}

#[test]
fn unknown_dependency_and_cycle_are_refused() {
    let p = Pier::new();
    let d = project("services:\n  web:\n    image: busybox\n    depends_on: [db]\n");
    refused(
        &p,
        d.path(),
        &["up", "-d"],
        &["\"web\"", "undefined service \"db\""],
    );
    let d = project(
        "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n",
    );
    refused(
        &p,
        d.path(),
        &["up", "-d"],
        &["dependency cycle", "a -> b -> c -> a"],
    );
}

#[test]
fn a_port_published_by_another_project_is_refused() {
    let p = Pier::new();
    let port = free_port().to_string();
    let file = format!(
        "services:\n  web:\n    image: busybox\n    init: true\n    command: sleep 3600\n    ports: [\"{port}:80\"]\n    volumes: [data:/data]\nvolumes:\n  data:\n"
    );
    let d = project(&file);
    compose_ok(&p, d.path(), &["-p", "first", "up", "-d"]);
    refused(
        &p,
        d.path(),
        &["-p", "second", "up", "-d"],
        &[&port, "first-web-1"],
    );
    compose_ok(&p, d.path(), &["-p", "first", "down", "-v"]);
}

#[test]
fn down_v_refuses_a_volume_another_container_uses() {
    let p = Pier::new();
    let d = project(
        "services:\n  app:\n    image: busybox\n    init: true\n    command: sleep 3600\n    volumes: [data:/data]\nvolumes:\n  data:\n",
    );
    compose_ok(&p, d.path(), &["-p", "vol", "up", "-d"]);
    p.ok(&[
        "create",
        "--name",
        "outsider",
        "-v",
        "vol_data:/d",
        "busybox",
        "true",
    ]);
    let before = p.all_ids();
    let out = compose(&p, d.path(), &["-p", "vol", "down", "-v"]);
    assert_one_line_error(&out, 125, &["vol_data", "outsider"]);
    assert_eq!(p.all_ids(), before, "nothing removed");
    assert_eq!(p.status("vol-app-1"), "running");
    p.ok(&["rm", "outsider"]);
    compose_ok(&p, d.path(), &["-p", "vol", "down", "-v"]);
    assert!(names(&p, "volume").is_empty());
}

#[test]
fn run_rm_exec_and_config() {
    let p = Pier::new();
    let d = project(
        "services:\n  box:\n    image: busybox\n    init: true\n    command: sleep 3600\n    environment:\n      GREETING: ${GREETING:-hello}\n    frobnicate: 1\n",
    );
    let cfg = compose(&p, d.path(), &["config"]);
    assert!(cfg.status.success());
    assert!(
        text(&cfg.stdout).contains("GREETING: hello"),
        "{}",
        text(&cfg.stdout)
    );
    assert!(
        text(&cfg.stderr).contains("\"box\"") && text(&cfg.stderr).contains("frobnicate"),
        "unknown key warned about: {}",
        text(&cfg.stderr)
    );
    let out = compose_ok(
        &p,
        d.path(),
        &[
            "-p",
            "r",
            "run",
            "--rm",
            "box",
            "sh",
            "-c",
            "echo $GREETING",
        ],
    );
    assert_eq!(out.trim(), "hello");
    assert!(p.all_ids().is_empty(), "run --rm left no container");
    compose_ok(&p, d.path(), &["-p", "r", "up", "-d"]);
    let out = compose_ok(&p, d.path(), &["-p", "r", "exec", "-T", "box", "hostname"]);
    assert!(!out.trim().is_empty());
    compose_ok(&p, d.path(), &["-p", "r", "down"]);
}

#[test]
fn service_healthy_waits_and_an_unhealthy_service_holds_back_its_dependants() {
    let p = Pier::new();
    let d = project(
        r#"
services:
  db:
    image: busybox
    init: true
    command: sh -c 'sleep 1; touch /ready; sleep 3600'
    restart: on-failure:2
    healthcheck:
      test: test -f /ready
      interval: 1s
      retries: 30
  app:
    image: busybox
    init: true
    command: sleep 3600
    depends_on:
      db:
        condition: service_healthy
  sick:
    image: busybox
    init: true
    command: sleep 3600
    healthcheck:
      test: ["CMD", "sh", "-c", "echo not ready; exit 1"]
      interval: 1s
      retries: 2
  waiter:
    image: busybox
    command: sleep 3600
    depends_on:
      sick:
        condition: service_healthy
"#,
    );
    let out = compose(&p, d.path(), &["-p", "h", "up", "-d", "app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let progress = text(&out.stderr);
    // The container by its real name, as Docker prints it.
    assert!(
        progress.contains("Container h-db-1  Waiting (service_healthy)")
            && progress.contains("Container h-db-1  Healthy"),
        "{progress}"
    );
    assert!(
        progress.find("Healthy") < progress.find("Container h-app-1  Started"),
        "app started after db was healthy: {progress}"
    );
    assert!(compose_ok(&p, d.path(), &["-p", "h", "ps"]).contains("(healthy)"));
    assert_eq!(
        p.inspect("h-db-1")["config"]["restart"]["name"],
        "on-failure",
        "restart: reaches the container"
    );

    let out = compose(&p, d.path(), &["-p", "h", "up", "-d", "waiter"]);
    // Progress lines first (sick was started, then waited on), the error last.
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    let last = err.trim_end().lines().last().unwrap_or_default();
    for needle in ["pier: ", "\"waiter\"", "h-sick-1 is unhealthy", "not ready"] {
        assert!(last.contains(needle), "{needle:?} in the error line: {err}");
    }
    let ps = compose_ok(&p, d.path(), &["-p", "h", "ps", "-a"]);
    assert!(ps.contains("(unhealthy)"), "the reason shows in ps: {ps}");
    assert!(
        !ps.contains("h-waiter-1"),
        "the dependant was not created: {ps}"
    );
    compose_ok(&p, d.path(), &["-p", "h", "down"]);
}

#[test]
fn a_changed_service_is_recreated_and_the_others_are_left_running() {
    let p = Pier::new();
    let file = |greeting: &str| {
        format!(
            "services:\n  keep:\n    image: busybox\n    init: true\n    command: sleep 3600\n  change:\n    image: busybox\n    init: true\n    command: sleep 3600\n    environment:\n      GREETING: {greeting}\n    scale: 2\n"
        )
    };
    let d = project(&file("hello"));
    compose_ok(&p, d.path(), &["-p", "c", "up", "-d"]);
    let id = |name: &str| p.inspect(name)["id"].as_str().expect("id").to_string();
    let (keep, change1, change2) = (id("c-keep-1"), id("c-change-1"), id("c-change-2"));
    std::fs::write(d.path().join("compose.yaml"), file("bonjour")).expect("write");
    let out = compose(&p, d.path(), &["-p", "c", "up", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let progress = text(&out.stderr);
    assert!(
        progress.contains("Container c-keep-1  Running"),
        "{progress}"
    );
    assert!(
        progress.contains("Container c-change-2  Recreate"),
        "{progress}"
    );
    assert_eq!(
        id("c-keep-1"),
        keep,
        "the unchanged service keeps its container"
    );
    assert_ne!(
        id("c-change-1"),
        change1,
        "the changed service is recreated"
    );
    assert_ne!(id("c-change-2"), change2);
    let env = compose_ok(
        &p,
        d.path(),
        &["-p", "c", "exec", "-T", "--index", "2", "change", "env"],
    );
    assert!(env.contains("GREETING=bonjour"), "{env}");
    // Scaled down: the surplus replica goes.
    std::fs::write(
        d.path().join("compose.yaml"),
        file("bonjour").replace("scale: 2", "scale: 1"),
    )
    .expect("write");
    compose_ok(&p, d.path(), &["-p", "c", "up", "-d"]);
    assert!(p.run(&["inspect", "c-change-2"]).status.code() != Some(0));
    compose_ok(&p, d.path(), &["-p", "c", "down"]);
    assert!(p.all_ids().is_empty());
}

#[test]
fn an_override_file_and_repeated_f_are_laid_over_the_file() {
    let p = Pier::empty();
    let d = project("services:\n  web:\n    image: busybox\n    environment:\n      A: one\n");
    std::fs::write(
        d.path().join("compose.override.yaml"),
        "services:\n  web:\n    environment:\n      B: two\n",
    )
    .expect("write");
    std::fs::write(
        d.path().join("other.yaml"),
        "services:\n  web:\n    image: example/other\n",
    )
    .expect("write");
    let cfg = compose_ok(&p, d.path(), &["config"]);
    assert!(cfg.contains("A: one") && cfg.contains("B: two"), "{cfg}");
    // With -f, the override file is not read: only the files given, in order.
    let cfg = compose_ok(
        &p,
        d.path(),
        &["-f", "compose.yaml", "-f", "other.yaml", "config"],
    );
    assert!(
        cfg.contains("image: example/other") && !cfg.contains("B: two"),
        "{cfg}"
    );
}

#[test]
fn orphans_are_named_and_left_without_remove_orphans_and_removed_with_it() {
    let p = Pier::new();
    let two = "services:\n  a:\n    image: busybox\n    init: true\n    command: sleep 3600\n  b:\n    image: busybox\n    init: true\n    command: sleep 3600\n";
    let one = "services:\n  a:\n    image: busybox\n    init: true\n    command: sleep 3600\n";
    let warning = "Found orphan containers ([o-b-1]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.";
    let d = project(two);
    compose_ok(&p, d.path(), &["-p", "o", "up", "-d"]);
    std::fs::write(d.path().join("compose.yaml"), one).expect("write");

    // Without the flag: warned about by name, and left running, by up and by down.
    let out = compose(&p, d.path(), &["-p", "o", "up", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(warning), "{}", text(&out.stderr));
    assert_eq!(p.status("o-b-1"), "running");
    let out = compose(&p, d.path(), &["-p", "o", "down"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(warning), "{}", text(&out.stderr));
    assert_eq!(p.status("o-b-1"), "running", "down left the orphan");
    assert!(p.run(&["inspect", "o-a-1"]).status.code() != Some(0));

    // down --remove-orphans: the orphan goes too, and with it the network it held.
    compose_ok(&p, d.path(), &["-p", "o", "down", "--remove-orphans"]);
    assert!(p.all_ids().is_empty(), "nothing left: {:?}", p.all_ids());
    assert!(!names(&p, "network").iter().any(|n| n.starts_with("o_")));

    // up --remove-orphans: the orphan is removed, the service kept.
    std::fs::write(d.path().join("compose.yaml"), two).expect("write");
    compose_ok(&p, d.path(), &["-p", "o", "up", "-d"]);
    std::fs::write(d.path().join("compose.yaml"), one).expect("write");
    let out = compose(&p, d.path(), &["-p", "o", "up", "-d", "--remove-orphans"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let progress = text(&out.stderr);
    assert!(!progress.contains("Found orphan"), "{progress}");
    assert!(progress.contains("Container o-b-1  Removed"), "{progress}");
    assert!(p.run(&["inspect", "o-b-1"]).status.code() != Some(0));
    assert_eq!(p.status("o-a-1"), "running");
    compose_ok(&p, d.path(), &["-p", "o", "down"]);
    assert!(p.all_ids().is_empty());
}

#[test]
fn exit_code_from_returns_the_testers_code_and_stops_the_project() {
    let p = Pier::new();
    let d = project(
        "services:\n  store:\n    image: busybox\n    init: true\n    command: sleep 3600\n  tester:\n    image: busybox\n    command: sh -c 'sleep 1; echo testing; exit 3'\n    depends_on: [store]\n",
    );
    refused(
        &p,
        d.path(),
        &["-p", "x", "up", "-d", "--abort-on-container-exit"],
        &["--abort-on-container-exit and --detach are incompatible options"],
    );
    let started = Instant::now();
    let out = compose(
        &p,
        d.path(),
        &["-p", "x", "up", "--exit-code-from", "tester"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the tester's exit code:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("testing"),
        "its output shown: {}",
        text(&out.stdout)
    );
    assert!(
        started.elapsed() < scaled(Duration::from_secs(30)),
        "up returned when the tester exited, not when store's sleep ended"
    );
    assert_eq!(p.status("x-store-1"), "exited", "the project was stopped");
    assert_eq!(p.status("x-tester-1"), "exited");

    // Plain --abort-on-container-exit: the code of the container that exited.
    let out = compose(
        &p,
        d.path(),
        &["-p", "x", "up", "--abort-on-container-exit"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(p.status("x-store-1"), "exited");
    compose_ok(&p, d.path(), &["-p", "x", "down"]);
    assert!(p.all_ids().is_empty());
}
