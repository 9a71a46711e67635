//! The detached container's monitor is a fresh `pier __monitor` program, not a fork of the
//! `pier run -d` that started it, and keeps only the memory watching needs (about a tenth
//! of what the forked monitor held): measured from the kernel's own accounting of the process
//! (`/proc/PID/status`), while the container it watches keeps logging.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{wait_for, Pier};
use std::time::Duration;

/// A field of `/proc/PID/status` in kB.
fn status_kb(pid: i64, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"))
}

#[test]
fn the_monitor_is_a_fresh_small_program_that_still_keeps_the_log() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done",
    ]);
    let info = p.inspect(&id);
    let monitor = info["monitor"]["pid"].as_i64().expect("a monitor pid");
    // Executed afresh: its command line is the monitor's entry, not `pier run -d ...`.
    let cmdline = std::fs::read(format!("/proc/{monitor}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(
        args.get(1).map(String::as_str),
        Some("__monitor"),
        "the monitor's command line: {args:?}"
    );
    assert!(args.contains(&id), "it names its container: {args:?}");
    let started_by = args.iter().position(|a| a == "--").map(|i| &args[i + 1..]);
    assert!(
        started_by.is_some_and(|w| w.iter().any(|a| a == "run")),
        "after `--`, the command that started it: {args:?}"
    );
    // The log goes on being written after the trim (code dropped is mapped again on use).
    wait_for(
        Duration::from_secs(10),
        || p.ok(&["logs", &id]).lines().count() >= 10,
        "ten lines in the log",
    );
    // Bounds for a debug build (a release build is far below): the forked monitor of this
    // build held about 3 MiB of its own memory and 17 MiB of pier's file pages; this one about
    // 2 MiB and 4 MiB.
    let anon = status_kb(monitor, "RssAnon");
    let file = status_kb(monitor, "RssFile");
    assert!(anon < 2560, "the monitor's own memory is {anon} kB");
    assert!(file < 8192, "the monitor maps {file} kB of files");
    p.ok(&["rm", "-f", &id]);
}
