//! Attacks on the host's disk, memory and time through pier's own work: a container's output
//! filling the disk through its log, `pier logs --tail` loading a whole log, a compose file
//! that costs quadratic time to parse. Each test makes the attack and asserts the bound.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_one_line_error, text, Pier};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The container's log files (the live one and the rotated ones) with their sizes.
fn log_files(p: &Pier, container: &str) -> Vec<(PathBuf, u64)> {
    let log = PathBuf::from(p.inspect(container)["LogPath"].as_str().expect("LogPath"));
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| (e.path(), e.metadata().unwrap().len()))
        .collect();
    files.sort();
    files
}

/// Runs `lines` lines of 11 bytes through a detached container, then `last-line`.
fn flood(p: &Pier, name: &str, log_opts: &[&str], lines: u64) {
    let script = format!("yes 0123456789 | head -n {lines}; echo last-line");
    let mut args = vec!["--name", name, "--network", "none"];
    args.extend_from_slice(log_opts);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    p.run_detached(&args);
    p.wait_not_running(name, Duration::from_secs(300));
}

/// 30 MB of output with max-size 1m and max-file 2 leaves at most 2 MiB of log, and `pier
/// logs` still shows the newest lines. Before: no bound, and one JSON entry per line made 6 MB
/// of output a 296 MB log.
#[test]
fn a_container_cannot_fill_the_disk_through_its_log() {
    let p = Pier::new();
    flood(
        &p,
        "flood",
        &["--log-opt", "max-size=1m", "--log-opt", "max-file=2"],
        2_800_000, // 30.8 MB
    );
    let shown = &p.inspect("flood")["HostConfig"]["LogConfig"];
    assert_eq!(shown["Type"], "json-file");
    assert_eq!(shown["Config"]["max-size"], "1m");
    assert_eq!(shown["Config"]["max-file"], "2");
    let files = log_files(&p, "flood");
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    assert!(files.len() <= 2, "more than max-file files: {files:?}");
    assert!(
        total <= 2 << 20,
        "{total} bytes of log for max-size=1m max-file=2: {files:?}"
    );

    let all = p.ok(&["logs", "flood"]);
    assert!(
        all.ends_with("0123456789\nlast-line"),
        "{:?}",
        &all[all.len() - 40..]
    );
    // Lines share entries: the files hold about 11 bytes of output in 12 (JSON writes a
    // newline as two bytes). One entry per 11-byte line took ~80 bytes: 14 %.
    assert!(
        all.len() as u64 * 10 > total * 8,
        "{} bytes of output kept in {total} bytes of log",
        all.len()
    );
    assert_eq!(p.ok(&["logs", "--tail", "1", "flood"]), "last-line");
    assert_eq!(
        p.ok(&["logs", "--tail", "2", "flood"]),
        "0123456789\nlast-line"
    );
}

/// Peak memory of `pier logs --tail 1` (KiB), measured by /usr/bin/time.
fn tail_peak_kib(p: &Pier, container: &str) -> (String, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "PEAK %M"])
        .arg(common::PIER)
        .arg("--root")
        .arg(p.root())
        .args(["logs", "--tail", "1", container])
        .env_remove("PIER_ROOT")
        .output()
        .expect("/usr/bin/time (Debian package time)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let peak = err
        .lines()
        .find_map(|l| l.strip_prefix("PEAK "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak in {err:?}"));
    (text(&out.stdout), peak)
}

/// `--tail 1` of an 80 MB log reads backwards from the end: its memory does not grow with
/// the log. Before: every entry was loaded (731 MB for `--tail 1` of a 296 MB log).
#[test]
fn logs_tail_runs_in_constant_memory() {
    let time = Path::new("/usr/bin/time");
    let found = time
        .exists()
        .then_some(())
        .ok_or("not installed (Debian package time)");
    if pier_testkit::prereq::require("/usr/bin/time", found).is_none() {
        return;
    }
    let p = Pier::new();
    flood(
        &p,
        "big",
        &["--log-opt", "max-size=200m", "--log-opt", "max-file=1"],
        7_300_000, // 80.3 MB
    );
    let total: u64 = log_files(&p, "big").iter().map(|(_, n)| n).sum();
    assert!(total > 80_000_000, "the log is only {total} bytes");
    let (last, peak_kib) = tail_peak_kib(&p, "big");
    assert_eq!(last.trim_end(), "last-line");
    eprintln!("pier logs --tail 1 of a {total}-byte log: peak RSS {peak_kib} KiB");
    assert!(
        peak_kib < 64 << 10,
        "pier logs --tail 1 of a {total}-byte log peaked at {peak_kib} KiB"
    );
}

#[test]
fn bad_log_options_are_refused_naming_the_option() {
    let p = Pier::new();
    for (opt, needle) in [
        (
            "max-size=lots",
            "--log-opt max-size=lots: max-size: invalid size",
        ),
        ("max-file=0", "--log-opt max-file=0: max-file"),
        ("mode=non-blocking", "unknown log option \"mode\""),
    ] {
        let out = p.run(&[
            "create",
            "--name",
            "bad",
            "--log-opt",
            opt,
            "busybox",
            "true",
        ]);
        assert_one_line_error(&out, 125, &[needle]);
        assert!(p.all_ids().is_empty(), "a container was left for {opt}");
    }
}

fn compose_in(p: &Pier, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["compose"];
    all.extend_from_slice(args);
    let mut cmd = p.command(&all);
    cmd.current_dir(dir);
    common::run_with_timeout(&mut cmd, None, Duration::from_secs(120)).unwrap()
}

/// Compose's `logging` options reach the container; a bad one is refused naming it.
#[test]
fn compose_logging_options() {
    let p = Pier::new();
    let dir = tempfile::tempdir().unwrap();
    let file = "services:\n  talk:\n    image: busybox\n    network_mode: none\n    \
                command: sh -c 'yes 0123456789 | head -n 280000; echo done'\n    \
                logging:\n      driver: json-file\n      options:\n        \
                max-size: 256k\n        max-file: \"2\"\n";
    std::fs::write(dir.path().join("compose.yaml"), file).unwrap();
    let out = compose_in(&p, dir.path(), &["-p", "lg", "up"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let total: u64 = log_files(&p, "lg-talk-1").iter().map(|(_, n)| n).sum();
    assert!(total <= 512 << 10, "{total} bytes of log for 256k x 2");
    assert_eq!(p.ok(&["logs", "--tail", "1", "lg-talk-1"]), "done");
    compose_in(&p, dir.path(), &["-p", "lg", "down"]);

    let bad = file.replace("256k", "huge");
    std::fs::write(dir.path().join("compose.yaml"), bad).unwrap();
    let out = compose_in(&p, dir.path(), &["-p", "lg", "up"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("logging.options.max-size"), "{err}");
    assert!(p.all_ids().is_empty());
}

/// The compose file of issue 23: 200 KB of nested `[` took 37 s to parse (quadratic). It is
/// refused at once, naming the limit; a file over the size limit is refused unread.
#[test]
fn a_hostile_compose_file_is_refused_quickly() {
    let p = Pier::new();
    let dir = tempfile::tempdir().unwrap();
    let nested = format!("services:\n  a:\n    image: {}\n", "[".repeat(200_000));
    std::fs::write(dir.path().join("compose.yaml"), nested).unwrap();
    let start = Instant::now();
    let out = compose_in(&p, dir.path(), &["config"]);
    let took = start.elapsed();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("nested more than 128 levels deep"), "{err}");
    assert!(took < Duration::from_secs(1), "refusing it took {took:?}");

    let big = format!(
        "services:\n  a:\n    image: busybox\n#{}\n",
        "x".repeat(5 << 20)
    );
    std::fs::write(dir.path().join("compose.yaml"), big).unwrap();
    let out = compose_in(&p, dir.path(), &["config"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("larger than the limit of 4 MiB"), "{err}");
}
