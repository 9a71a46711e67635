//! Bind mounts, a read-only root filesystem and tmpfs mounts.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};

#[test]
fn read_only_bind_mount_rejects_writes() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("f"), "original\n").expect("write");
    let vol = format!("{}:/data:ro", dir.path().display());
    let out = p.run(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "cat /data/f; echo changed > /data/f",
    ]);
    assert_eq!(
        text(&out.stdout),
        "original\n",
        "the bind mount should show the host file"
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "writing a :ro bind mount must fail"
    );
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "stderr: {}",
        text(&out.stderr)
    );
    let out = p.run(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "touch /data/new",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("f")).expect("read"),
        "original\n",
        "the host file changed"
    );
    assert!(
        !dir.path().join("new").exists(),
        "a file was created through a :ro mount"
    );
}

#[test]
fn read_only_volume_covers_mounts_below_its_source() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    // A tmpfs below the volume's source, as a disk or another volume could be.
    let tmpfs = common::HostTmpfs::mount_at(dir.path(), "sub");
    let sub = tmpfs.0.clone();
    let vol = format!("{}:/dst:ro", dir.path().display());
    let out = p.run(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "echo x > /dst/sub/f; echo top > /dst/g",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "writing below a :ro volume must fail"
    );
    assert_eq!(
        text(&out.stderr).matches("Read-only file system").count(),
        2,
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        !sub.join("f").exists(),
        "the container wrote into the host's tmpfs through a :ro volume"
    );
    assert!(!dir.path().join("g").exists());
    // The tmpfs itself stays writable on the host, and the same volume without :ro works.
    std::fs::write(sub.join("host"), "h").expect("the host's tmpfs must stay writable");
    let rw = format!("{}:/dst", dir.path().display());
    p.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "busybox",
        "sh",
        "-c",
        "echo y > /dst/sub/rw",
    ]);
    assert!(sub.join("rw").exists());
}

#[test]
fn read_write_bind_mount_writes_reach_the_host() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("in"), "from-host\n").expect("write");
    let vol = format!("{}:/data", dir.path().display());
    let out = p.ok(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "cat /data/in; echo from-container > /data/out; rm /data/in",
    ]);
    assert_eq!(out, "from-host");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).expect("the container's file on the host"),
        "from-container\n"
    );
    assert!(
        !dir.path().join("in").exists(),
        "the deletion should reach the host"
    );
}

#[test]
fn bind_mount_of_a_single_file() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("conf");
    std::fs::write(&f, "k=v\n").expect("write");
    let vol = format!("{}:/etc/app.conf:ro", f.display());
    assert_eq!(
        p.ok(&["run", "--rm", "-v", &vol, "busybox", "cat", "/etc/app.conf"]),
        "k=v"
    );
}

#[test]
fn read_only_rootfs_rejects_writes_but_tmpfs_is_writable() {
    let p = Pier::new();
    let script = "touch /x 2>/dev/null; echo root=$?; echo y > /etc/passwd 2>/dev/null; echo etc=$?; touch /run/ok; echo run=$?; ls /run; mount | grep ' /run '";
    let out = p.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/run",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "root=0", "writing / must fail with --read-only");
    assert_ne!(lines[1], "etc=0", "writing /etc must fail with --read-only");
    assert_eq!(lines[2], "run=0", "the tmpfs must stay writable");
    assert_eq!(lines[3], "ok");
    assert!(
        lines[4].starts_with("tmpfs on /run type tmpfs (rw"),
        "mount: {}",
        lines[4]
    );
    // The read-only container wrote nothing to its writable layer.
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "test -e /x || echo clean"
        ]),
        "clean"
    );
}

#[test]
fn tmpfs_options_apply() {
    let p = Pier::new();
    let out = p.ok(&["run", "--rm", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c", "head -c 2000000 /dev/zero > /scratch/big 2>/dev/null; echo rc=$?; du -k /scratch/big | cut -f1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines[0], "rc=0",
        "writing 2 MB into a 1 MiB tmpfs must fail"
    );
    let kb: u64 = lines[1].trim().parse().expect("size");
    assert!(kb <= 1024, "the tmpfs grew to {kb} KiB");
}

#[test]
fn writable_layer_is_kept_until_rm() {
    let p = Pier::new();
    p.ok(&[
        "run",
        "--name",
        "w",
        "busybox",
        "sh",
        "-c",
        "echo kept > /state",
    ]);
    p.ok(&["start", "-a", "w"]);
    let upper = std::path::PathBuf::from(p.inspect("w")["upper_dir"].as_str().expect("upper_dir"));
    assert_eq!(
        std::fs::read_to_string(upper.join("state")).expect("the write survives the exit"),
        "kept\n"
    );
    p.ok(&["rm", "w"]);
    assert!(!upper.exists(), "rm should delete the writable layer");
}
