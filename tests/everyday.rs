//! The everyday Docker commands beyond run/ps/rm: the prune family with `-f`, `cp`, `rename`,
//! `restart`, `diff`, `commit` and `attach`.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_one_line_error, text, Pier};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn prune_commands_take_force_and_keep_what_is_used() {
    let p = Pier::new();
    // system prune -f was refused by the argument parser before.
    p.ok(&["system", "prune", "-f"]);

    // Containers: the stopped one goes, the running one stays.
    p.ok(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let done = p.inspect("done")["Id"].as_str().expect("Id").to_string();
    let running = p.run_detached(&[
        "--name",
        "busy",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    let out = p.ok(&["container", "prune", "-f"]);
    // Docker lists the full IDs, then the space.
    assert_eq!(
        lines(&out)[..3],
        ["Deleted Containers:", done.as_str(), ""],
        "{out}"
    );
    assert!(
        lines(&out)[3].starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_eq!(p.all_ids(), [running]);

    // Images: an untagged one goes with image prune; -a also takes tagged unused ones.
    let ctx = tempfile::tempdir().expect("temp dir");
    let dockerfile = ctx.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM busybox\nRUN echo 1 > /one\n").unwrap();
    let ctx_path = ctx.path().to_string_lossy().into_owned();
    let first = p.ok(&["build", "-q", "-t", "mine", &ctx_path]);
    std::fs::write(&dockerfile, "FROM busybox\nRUN echo 2 > /two\n").unwrap();
    p.ok(&["build", "-q", "-t", "mine", &ctx_path]); // `first` loses its name
    p.ok(&["tag", "busybox", "spare:1"]);
    let out = p.ok(&["image", "prune", "-f"]);
    // Docker's wording: a section, lower-case `deleted:` lines, then the space.
    assert_eq!(lines(&out)[0], "Deleted Images:", "{out}");
    assert!(
        lines(&out).contains(&format!("deleted: {first}").as_str()),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(p.run(&["image", "inspect", &first]).status.code() != Some(0));
    p.ok(&["image", "inspect", "mine"]);
    p.ok(&["image", "prune", "-a", "-f"]);
    assert!(p.run(&["image", "inspect", "mine"]).status.code() != Some(0));
    // busybox (and its other name spare:1) is used by the running container.
    p.ok(&["image", "inspect", "spare:1"]);
    p.ok(&["image", "inspect", "busybox"]);

    // Networks: unused ones go; one a stopped container is set to join stays.
    p.ok(&["network", "create", "unused-net"]);
    p.ok(&["network", "create", "kept-net"]);
    p.ok(&[
        "create",
        "--name",
        "later",
        "--network",
        "kept-net",
        "busybox",
        "true",
    ]);
    let out = p.ok(&["network", "prune", "-f"]);
    assert_eq!(lines(&out), ["Deleted Networks:", "unused-net"]);
    let ls = p.ok(&["network", "ls"]);
    assert!(
        ls.contains("kept-net") && !ls.contains("unused-net"),
        "{ls}"
    );
    p.ok(&["network", "rm", "-f", "no-such-net"]);
    assert_eq!(
        p.run(&["network", "rm", "no-such-net"]).status.code(),
        Some(125)
    );
    p.ok(&["rm", "later"]);
    p.ok(&["network", "rm", "kept-net"]);

    p.ok(&["builder", "prune", "-f"]);
    p.ok(&["volume", "prune", "-f"]);
    p.ok(&["rm", "-f", "busy"]);
}

#[test]
fn cp_copies_both_ways_inside_the_container_root() {
    let p = Pier::new();
    let host = tempfile::tempdir().expect("temp dir");
    let h = host.path();
    std::fs::write(h.join("note"), "from host\n").unwrap();
    std::fs::create_dir(h.join("tree")).unwrap();
    std::fs::write(h.join("tree/leaf"), "leaf\n").unwrap();
    let id = p.run_detached(&[
        "--name",
        "box",
        "-v",
        "box-data:/data",
        "busybox",
        "sh",
        "-c",
        "ln -s / /escape; ln -s /etc /etclink; cp /bin/busybox /suid; chmod 4755 /suid; \
         echo inside > /data/in; sleep 60",
    ]);
    common::wait_for(
        Duration::from_secs(10),
        || {
            p.run(&["exec", "box", "test", "-e", "/data/in"])
                .status
                .success()
        },
        "the container's setup",
    );
    let hs = |name: &str| h.join(name).to_string_lossy().into_owned();

    // Host -> container: a file into a directory, a directory's contents into a new one.
    p.ok(&["cp", &hs("note"), "box:/tmp/"]);
    p.ok(&["cp", &format!("{}/.", hs("tree")), "box:/data/newtree"]);
    let out = p.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "cat /tmp/note /data/newtree/leaf; stat -c %u /tmp/note",
    ]);
    assert_eq!(out, "from host\nleaf\n0");
    // The volume got it (cp sees the container's mounts).
    let vol: serde_json::Value =
        serde_json::from_str(&p.ok(&["volume", "inspect", "box-data"])).unwrap();
    let vol_dir = std::path::PathBuf::from(vol[0]["Mountpoint"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(vol_dir.join("newtree/leaf")).unwrap(),
        "leaf\n"
    );

    // Container -> host, through a symlink resolved inside the container.
    p.ok(&["cp", "box:/etclink/passwd", &hs("passwd")]);
    let copied = std::fs::read_to_string(h.join("passwd")).unwrap();
    assert_ne!(
        copied,
        std::fs::read_to_string("/etc/passwd").unwrap(),
        "the host's passwd"
    );
    assert!(
        copied.starts_with("root:x:0:0:root:/root:/bin/sh"),
        "{copied}"
    );
    p.ok(&["cp", "box:/data", &hs("data-copy")]);
    assert_eq!(
        std::fs::read_to_string(h.join("data-copy/in")).unwrap(),
        "inside\n"
    );

    // The escape attempts: /escape points at the container's own root, never the host's.
    let marker = format!("pier-cp-escape-{}", std::process::id());
    p.ok(&["cp", &hs("note"), &format!("box:/escape/tmp/{marker}")]);
    let leaked = std::path::Path::new("/tmp").join(&marker);
    let escaped = leaked.exists();
    let _ = std::fs::remove_file(&leaked);
    assert!(
        !escaped,
        "cp wrote through a container symlink onto the host"
    );
    p.ok(&["exec", "box", "test", "-f", &format!("/tmp/{marker}")]);
    let out = p.run(&["cp", "box:/escape/etc/shadow", &hs("shadow")]);
    assert_one_line_error(&out, 125, &["no such file"]);
    assert!(!h.join("shadow").exists());

    // A set-uid program does not stay set-uid on the host.
    p.ok(&["cp", "-a", "box:/suid", &hs("suid")]);
    assert_eq!(
        std::fs::metadata(h.join("suid")).unwrap().mode() & 0o7777,
        0o755
    );

    // A stopped container: its layer and its volume are still reachable.
    p.ok(&["stop", "-t", "0", "box"]);
    p.ok(&["cp", &hs("note"), "box:/data/after-stop"]);
    assert_eq!(
        std::fs::read_to_string(vol_dir.join("after-stop")).unwrap(),
        "from host\n"
    );
    p.ok(&["cp", "box:/tmp/note", &hs("back")]);
    assert_eq!(
        std::fs::read_to_string(h.join("back")).unwrap(),
        "from host\n"
    );
    p.assert_container_gone(&id);

    // Bad paths are one-line errors.
    assert_one_line_error(
        &p.run(&["cp", "box:/nope", &hs("x")]),
        125,
        &["no such file", "/nope"],
    );
    assert_one_line_error(
        &p.run(&["cp", &hs("note"), "box:/no/such/dir/f"]),
        125,
        &["does not exist"],
    );
    assert_one_line_error(
        &p.run(&["cp", &hs("note"), &hs("x")]),
        125,
        &["CONTAINER:PATH"],
    );
}

#[test]
fn rename_and_restart() {
    let p = Pier::new();
    p.ok(&["create", "--name", "old", "busybox", "true"]);
    p.ok(&["create", "--name", "taken", "busybox", "true"]);
    p.ok(&["rename", "old", "new"]);
    assert_eq!(p.inspect("new")["name"], "new");
    assert_one_line_error(
        &p.run(&["rename", "new", "taken"]),
        125,
        &["taken", "already in use"],
    );
    assert_one_line_error(&p.run(&["rename", "new", "bad/name"]), 125, &["bad/name"]);
    assert_one_line_error(
        &p.run(&["rename", "ghost", "x2"]),
        125,
        &["no such container: ghost"],
    );

    p.run_detached(&[
        "--name",
        "svc",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    let before = p.inspect("svc");
    p.ok(&["restart", "-t", "1", "svc"]);
    let after = p.inspect("svc");
    assert_eq!(after["status"], "running");
    assert_ne!(
        after["init"]["pid"], before["init"]["pid"],
        "the process was not restarted"
    );
    // Docker's RestartCount counts the restart policy's restarts; a user's restart resets it.
    assert_eq!(after["restart_count"].as_u64(), Some(0));
    p.ok(&["rm", "-f", "svc"]);
}

#[test]
fn diff_lists_added_changed_and_deleted_files() {
    let p = Pier::new();
    p.ok(&[
        "run",
        "--name",
        "changer",
        "-v",
        "scratch:/data",
        "busybox",
        "sh",
        "-c",
        "echo new > /added; echo more >> /etc/passwd; rm /bin/ls; echo v > /data/in-volume",
    ]);
    let out = p.ok(&["diff", "changer"]);
    let got = lines(&out);
    for want in ["A /added", "C /etc", "C /etc/passwd", "C /bin", "D /bin/ls"] {
        assert!(got.contains(&want), "{want:?} missing from:\n{out}");
    }
    // Nothing the runtime made to mount over, nothing in a volume.
    for unwanted in [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/dev",
        "/data",
    ] {
        assert!(
            !got.iter()
                .any(|l| l.ends_with(unwanted) || l.contains(&format!("{unwanted}/"))),
            "{unwanted} in:\n{out}"
        );
    }
    assert_eq!(p.ok(&["container", "diff", "changer"]), out);
    let out = p.run(&["diff", "nobody"]);
    assert_one_line_error(&out, 125, &["nobody"]);
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn system_prune_all_takes_unused_images_networks_and_volumes() {
    let p = Pier::new();
    p.ok(&["tag", "busybox", "unused:1"]);
    let net = format!("prune-net-{}", std::process::id());
    p.ok(&["network", "create", &net]);
    p.ok(&["volume", "create", "named"]);
    // An anonymous volume whose container is gone.
    p.ok(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let anon_id = p.inspect("anon")["Id"].as_str().expect("Id").to_string();
    let anon_vol = p.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    let running = p.run_detached(&[
        "--name",
        "keep",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);

    // Without -a: tagged images stay; without --volumes: volumes stay.
    let out = p.ok(&["system", "prune", "-f"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains(&anon_id),
        "{out}"
    );
    assert!(
        out.contains("Deleted Networks:") && out.contains(&net),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    p.ok(&["image", "inspect", "unused:1"]);
    assert_eq!(
        sorted(&p.ok(&["volume", "ls", "-q"])),
        sorted(&format!("{anon_vol}\nnamed"))
    );

    // -a --volumes: every image no container uses, anonymous volumes (named ones stay, as
    // in Docker 23+).
    p.ok(&["stop", "-t", "0", "keep"]);
    p.ok(&["system", "prune", "-a", "--volumes", "-f"]);
    assert!(p.all_ids().is_empty());
    assert_eq!(p.ok(&["images", "-q"]), "");
    assert_eq!(p.ok(&["volume", "ls", "-q"]), "named");
    assert_eq!(p.ok(&["network", "ls", "--format", "{{.Name}}"]), "bridge");
    p.assert_container_gone(&running);
    p.ok(&["volume", "rm", "named"]);
}

fn sorted(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn commit_makes_an_image_of_the_container_changes() {
    let p = Pier::new();
    p.ok(&[
        "run",
        "--name",
        "maker",
        "--network",
        "none",
        "-v",
        "kept-out:/data",
        "busybox",
        "sh",
        "-c",
        "echo hello > /greeting; rm /bin/vi; echo v > /data/in-volume",
    ]);
    let id = p.ok(&[
        "commit",
        "-m",
        "add a greeting",
        "-c",
        r#"CMD ["cat", "/greeting"]"#,
        "-c",
        "ENV MODE=prod",
        "-c",
        "LABEL made=commit",
        "maker",
        "greeter:1",
    ]);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The file made in the container is in the image, CMD runs it, the deletion holds,
    // nothing of the volume or of the runtime's mount points came along.
    assert_eq!(
        p.ok(&["run", "--rm", "--network", "none", "greeter:1"]),
        "hello"
    );
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "greeter:1",
            "sh",
            "-c",
            "echo $MODE; test -e /bin/vi || echo no-vi; ls /data | wc -l",
        ]),
        "prod\nno-vi\n0"
    );
    let img = p.image_inspect("greeter:1");
    assert_eq!(img["Config"]["config"]["Labels"]["made"], "commit");
    // history: the commit on top, with its message.
    let top = p.ok(&["history", "greeter:1"]);
    let first = top.lines().nth(1).expect("a history row");
    assert!(first.starts_with(&id[7..19]), "{top}");
    assert!(first.contains("add a greeting"), "{top}");
    // `container commit` and an untagged commit.
    let untagged = p.ok(&["container", "commit", "maker"]);
    assert!(p
        .ok(&["images", "--filter", "dangling=true", "-q"])
        .contains(&untagged[7..19]));

    let images_before = p.ok(&["images", "-q"]);
    assert_one_line_error(
        &p.run(&["commit", "-c", "RUN rm -rf /", "maker", "bad:1"]),
        125,
        &["RUN rm -rf /", "only CMD"],
    );
    assert_one_line_error(&p.run(&["commit", "ghost", "x:1"]), 125, &["ghost"]);
    assert_eq!(
        p.ok(&["images", "-q"]),
        images_before,
        "a failed commit left an image"
    );
    p.ok(&["rm", "-v", "maker"]);
    p.ok(&["volume", "rm", "kept-out"]);
}

/// `pier attach NAME` in the background, given time to open the log (it reads from its end).
fn spawn_attach(p: &Pier, name: &str) -> std::process::Child {
    let child = p
        .command(&["attach", name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pier attach");
    // Ready once it catches SIGINT (its --sig-proxy handler): a SIGINT sent before that is
    // lost where the suite runs with SIGINT ignored (a background job), and attach then
    // waits for a container that never got it. The handler comes just before the log is
    // opened, so a moment more after it.
    let catches_sigint = || {
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
            .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
    };
    common::wait_for(
        Duration::from_secs(10),
        catches_sigint,
        "pier attach to install its signal handler",
    );
    std::thread::sleep(common::scaled(Duration::from_millis(300)));
    child
}

#[test]
fn attach_streams_new_output_and_returns_the_exit_code() {
    let p = Pier::new();
    p.run_detached(&[
        "--name",
        "talker",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo before; while [ ! -e /go ]; do sleep 0.1; done; echo one; echo two >&2; exit 3",
    ]);
    common::wait_for(
        Duration::from_secs(10),
        || p.ok(&["logs", "talker"]).contains("before"),
        "the first line",
    );
    let child = spawn_attach(&p, "talker");
    p.ok(&["exec", "talker", "touch", "/go"]);
    let out = common::wait_with_timeout(child, Duration::from_secs(20))
        .expect("attach ends with the container");
    assert_eq!(text(&out.stdout), "one\n", "only what came after attaching");
    assert_eq!(text(&out.stderr), "two\n");
    assert_eq!(out.status.code(), Some(3));
    assert_one_line_error(&p.run(&["attach", "talker"]), 125, &["talker", "exited"]);
    assert_one_line_error(&p.run(&["attach", "ghost"]), 125, &["ghost"]);

    // Ctrl-C on attach reaches the container (Docker's --sig-proxy).
    p.run_detached(&[
        "--name",
        "trapper",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got INT; exit 7' INT; echo ready; while true; do sleep 0.1; done",
    ]);
    common::wait_for(
        Duration::from_secs(10),
        || p.ok(&["logs", "trapper"]).contains("ready"),
        "the trap",
    );
    let child = spawn_attach(&p, "trapper");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to attach");
    let out = common::wait_with_timeout(child, Duration::from_secs(20))
        .expect("attach ends with the container");
    assert_eq!(text(&out.stdout), "got INT\n");
    assert_eq!(out.status.code(), Some(7));
    p.ok(&["rm", "talker", "trapper"]);
}
