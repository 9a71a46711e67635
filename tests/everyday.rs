//! The everyday Docker commands beyond run/ps/rm: the prune family with `-f`, `cp`, `rename`,
//! `restart` and `diff`.

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
    assert!(out.contains("done"), "{out}");
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
    assert!(out.contains(&first[7..19]) || out.contains(&first), "{out}");
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
