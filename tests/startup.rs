//! Start-up of `pier run`: `PIER_TRACE=1` shows where the time goes, one line per phase on
//! stderr, and nothing when unset.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};

#[test]
fn pier_trace_times_each_phase_of_pier_run() {
    let p = Pier::new();
    let out = common::run_with_timeout(
        p.command(&["run", "--rm", "busybox", "echo", "hi"])
            .env("PIER_TRACE", "1"),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier run");
    assert!(out.status.success(), "run failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n", "the trace stays off stdout");
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().all(|l| l.starts_with("pier-trace: ")),
        "only trace lines on stderr: {stderr}"
    );
    let phases = common::traced_phases(&stderr);
    common::assert_each_phase_once(
        &phases,
        &[
            "sealed re-exec",
            "rootfs (overlay mount)",
            "network attach",
            "clone",
            "init: mounts",
            "init: pivot_root",
            "create",
            "start (until execve)",
            "command runs",
            "tear-down: network",
            "finish (tear-down, record)",
        ],
    );

    let out = common::run_with_timeout(
        p.command(&["run", "--rm", "busybox", "echo", "hi"])
            .env_remove("PIER_TRACE"),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier run");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "",
        "nothing on stderr without PIER_TRACE"
    );
}

/// A trace reader that went away (`PIER_TRACE=1 pier run ... 2>&1 | head -1`) must not kill
/// pier with SIGPIPE halfway through a start: the run completes and leaves nothing.
#[test]
fn pier_trace_to_a_closed_pipe_changes_nothing() {
    let p = Pier::new();
    let mut child = p
        .command(&["run", "--rm", "busybox", "echo", "hi"])
        .env("PIER_TRACE", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pier run");
    // Nobody reads the trace.
    drop(child.stderr.take());
    let out = common::wait_with_timeout(child, common::COMMAND_TIMEOUT).expect("pier run");
    assert!(
        out.status.success(),
        "pier run with its trace going nowhere: {:?}",
        out.status
    );
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "", "no container left");
}
