//! Bad input: a one-line error naming the problem, a non-zero exit code (125 for pier's own
//! errors, 126/127 for a command that cannot run), and no container left behind.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_no_mounts_under, assert_one_line_error, first_stderr_line, text, Pier};

/// Asserts this root has no container (record, directory or mount).
fn assert_nothing_left(p: &Pier) {
    assert_eq!(
        p.all_ids(),
        Vec::<String>::new(),
        "a failed command left a container"
    );
    let dirs: Vec<_> = std::fs::read_dir(p.root().join("containers"))
        .expect("containers dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(dirs.is_empty(), "container directories left: {dirs:?}");
    assert_no_mounts_under(p.root());
}

#[test]
fn unknown_image() {
    let p = Pier::new();
    let out = p.run(&["run", "--rm", "nosuchimage", "true"]);
    assert_one_line_error(&out, 125, &["nosuchimage"]);
    let out = p.run(&["run", "nosuchimage:v9", "true"]);
    assert_one_line_error(&out, 125, &["nosuchimage"]);
    assert_nothing_left(&p);
}

#[test]
fn bad_limits() {
    let p = Pier::new();
    assert_one_line_error(
        &p.run(&["run", "--rm", "--memory", "12q", "busybox", "true"]),
        125,
        &["--memory", "12q"],
    );
    assert_one_line_error(
        &p.run(&["run", "--memory", "1k", "busybox", "true"]),
        125,
        &["--memory"],
    );
    assert_one_line_error(
        &p.run(&["run", "--rm", "--cpus", "0", "busybox", "true"]),
        125,
        &["--cpus", "0"],
    );
    assert_one_line_error(
        &p.run(&["run", "--cpus=-1", "busybox", "true"]),
        125,
        &["--cpus"],
    );
    assert_one_line_error(
        &p.run(&["run", "--cpus", "lots", "busybox", "true"]),
        125,
        &["--cpus", "lots"],
    );
    assert_nothing_left(&p);
}

#[test]
fn bind_source_that_does_not_exist() {
    let p = Pier::new();
    let missing = p.root().join("no-such-dir");
    let vol = format!("{}:/data", missing.display());
    assert_one_line_error(
        &p.run(&["run", "--rm", "-v", &vol, "busybox", "true"]),
        125,
        &[missing.to_str().unwrap(), "does not exist"],
    );
    assert!(
        !missing.exists(),
        "pier must not create a missing bind source"
    );
    assert_one_line_error(
        &p.run(&["run", "-v", "nocolon", "busybox", "true"]),
        125,
        &["nocolon"],
    );
    assert_one_line_error(
        &p.run(&["run", "-v", "/tmp:relative", "busybox", "true"]),
        125,
        &["relative"],
    );
    assert_nothing_left(&p);
}

#[test]
fn unknown_flag() {
    let p = Pier::new();
    let out = p.run(&["run", "--rm", "--bogus", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    // clap adds a usage hint below; the first line names the problem.
    let first = first_stderr_line(&out);
    assert!(first.contains("--bogus"), "first line: {first}");
    let out = p.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        first_stderr_line(&out).contains("frobnicate"),
        "{}",
        text(&out.stderr)
    );
    assert_nothing_left(&p);
}

#[test]
fn command_not_found_in_the_image() {
    let p = Pier::new();
    assert_one_line_error(
        &p.run(&["run", "--rm", "busybox", "nosuchcmd"]),
        127,
        &["nosuchcmd", "not found"],
    );
    assert_one_line_error(
        &p.run(&["run", "busybox", "nosuchcmd"]),
        127,
        &["nosuchcmd"],
    );
    assert_one_line_error(
        &p.run(&["run", "busybox", "/no/such/path"]),
        127,
        &["/no/such/path"],
    );
    // Not executable: 126, as Docker.
    assert_one_line_error(
        &p.run(&["run", "busybox", "/etc/passwd"]),
        126,
        &["/etc/passwd", "permission denied"],
    );
    assert_nothing_left(&p);
}

#[test]
fn name_already_in_use() {
    let p = Pier::new();
    let id = p.run_detached(&["--name", "taken", "busybox", "sleep", "1000"]);
    let out = p.run(&["run", "--name", "taken", "busybox", "true"]);
    assert_one_line_error(&out, 125, &["taken", "already in use"]);
    let out = p.run(&["create", "--name", "taken", "busybox", "true"]);
    assert_one_line_error(&out, 125, &["taken"]);
    assert_eq!(
        p.all_ids(),
        std::slice::from_ref(&id),
        "only the first container exists"
    );
    assert_eq!(
        p.status("taken"),
        "running",
        "the existing container was disturbed"
    );
    assert_one_line_error(
        &p.run(&["run", "--name", "bad name", "busybox", "true"]),
        125,
        &["bad name"],
    );
    assert_eq!(p.all_ids(), [id]);
}

#[test]
fn other_bad_options() {
    let p = Pier::new();
    assert_one_line_error(
        &p.run(&["run", "-w", "relative", "busybox", "true"]),
        125,
        &["relative", "absolute"],
    );
    assert_one_line_error(
        &p.run(&["run", "-u", "nosuchuser", "busybox", "true"]),
        125,
        &["nosuchuser"],
    );
    assert_one_line_error(
        &p.run(&["run", "--tmpfs", "rel", "busybox", "true"]),
        125,
        &["rel"],
    );
    assert_one_line_error(
        &p.run(&["run", "--env-file", "/no/such/env", "busybox", "true"]),
        125,
        &["/no/such/env"],
    );
    assert_one_line_error(
        &p.run(&["run", "--network", "bogus", "busybox", "true"]),
        125,
        &["bogus"],
    );
    assert_one_line_error(
        &p.run(&["stats", "--no-stream", "--format", "xml"]),
        125,
        &["xml"],
    );
    assert_nothing_left(&p);
}

#[test]
fn unknown_capability() {
    let p = Pier::new();
    assert_one_line_error(
        &p.run(&["run", "--rm", "--cap-add", "NOPE", "busybox", "true"]),
        125,
        &["NOPE"],
    );
    assert_nothing_left(&p);
}

#[test]
fn unknown_container() {
    let p = Pier::new();
    for cmd in ["inspect", "logs", "stop", "start", "wait", "top"] {
        assert_one_line_error(&p.run(&[cmd, "nosuch"]), 125, &["nosuch"]);
    }
    assert_one_line_error(&p.run(&["exec", "nosuch", "true"]), 125, &["nosuch"]);
    let out = p.run(&["rm", "nosuch"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn needs_root() {
    let p = Pier::new();
    // Run pier as nobody. Its root must not be touched.
    let before = std::fs::read_dir(p.root()).expect("root").count();
    for args in [vec!["ps", "-a"], vec!["run", "--rm", "busybox", "true"]] {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            common::PIER,
            "--root",
        ])
        .arg(p.root())
        .args(&args);
        let out = common::run_with_timeout(&mut cmd, None, common::COMMAND_TIMEOUT)
            .expect("setpriv pier");
        assert_one_line_error(&out, 125, &["needs root"]);
    }
    assert_eq!(std::fs::read_dir(p.root()).expect("root").count(), before);
    assert_nothing_left(&p);
}
