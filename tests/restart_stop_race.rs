//! `pier stop` against a `--restart always` monitor that is between two runs: whatever the
//! instant the stop lands (the run exiting, its exit being recorded, the policy deciding, the
//! back-off, the next run being started), the container must not run again after `stop`
//! returns. The runs are counted from the host: the container appends a line to a
//! bind-mounted file each time it starts.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{line_count, scaled, Pier};
use std::path::Path;
use std::time::{Duration, Instant};

/// Polls `file` every millisecond until it has `lines` lines (the moment a run wrote its line,
/// to within a millisecond, so each attempt's offset lands where it is meant to).
fn wait_lines(file: &Path, lines: usize) {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while line_count(file) < lines {
        assert!(Instant::now() < deadline, "no run {lines} within 10 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One container, stopped at every millisecond from 0 to 45 after its first restart wrote its
/// line: the run's exit, the record of it, the policy's decision and the start of the next run
/// all happen in that span. Each stop must be final.
#[test]
fn stop_at_every_instant_of_a_restart_is_final() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--restart", "always", "--network", "none"],
        "echo run >> /data/runs",
    );
    let file = dir.path().join("runs");
    for offset_ms in 0u64..=45 {
        if offset_ms > 0 {
            p.ok(&["start", &id]);
        }
        // The first run and the first restart (100 ms of back-off later).
        let before = line_count(&file);
        let first = if offset_ms == 0 { 0 } else { before };
        wait_lines(&file, first + 2);
        std::thread::sleep(Duration::from_millis(offset_ms));
        p.ok(&["stop", "-t", "1", &id]);
        let runs = line_count(&file);
        // The next restart would come 200 ms (or 400 ms) after the last exit.
        std::thread::sleep(scaled(Duration::from_millis(700)));
        assert_eq!(
            line_count(&file),
            runs,
            "stop {offset_ms} ms after the first restart: the container ran again after pier stop"
        );
        let info = p.inspect(&id);
        assert_eq!(info["status"], "exited", "offset {offset_ms} ms: {info}");
        assert_eq!(info["restarting"], false, "offset {offset_ms} ms: {info}");
        assert!(info["monitor"].is_null(), "offset {offset_ms} ms: {info}");
    }
    p.ok(&["rm", &id]);
}
