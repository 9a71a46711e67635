//! Health checks run for real by the container's monitor, as an exec into the container:
//! the image's HEALTHCHECK and the `--health-*` flags, the state in `inspect` and `ps`.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{scaled, wait_for, Pier};
use std::time::Duration;

fn health(p: &Pier, c: &str) -> serde_json::Value {
    p.inspect(c)["health"].clone()
}

fn health_events(p: &Pier, id: &str) -> Vec<String> {
    p.events_of(id)
        .iter()
        .filter(|e| e["action"] == "health_status")
        .map(|e| e["health"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_failing_check_turns_unhealthy_after_retries_and_a_passing_one_healthy() {
    let p = Pier::new();
    // Passes only once /tmp/ok exists in the container: the check really runs inside it.
    // The interval is stretched on a slow machine, so `starting` lasts long enough to be seen.
    let interval = format!("{}ms", scaled(Duration::from_millis(200)).as_millis());
    let id = p.run_detached(&[
        "--name",
        "checked",
        "--network",
        "none",
        "--health-cmd",
        "echo probing; test -e /tmp/ok",
        "--health-interval",
        &interval,
        "--health-retries",
        "3",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(health(&p, &id)["Status"], "starting");
    assert!(p.ok(&["ps"]).contains("(health: starting)"));
    wait_for(
        Duration::from_secs(10),
        || health(&p, &id)["Status"] == "unhealthy",
        "unhealthy",
    );
    let h = health(&p, &id);
    let streak = h["FailingStreak"].as_u64().unwrap_or(0);
    assert!(streak >= 3, "{h}");
    let log = h["Log"].as_array().cloned().unwrap_or_default();
    for r in &log {
        assert_eq!(r["ExitCode"], 1, "{h}");
        assert_eq!(r["Output"], "probing\n", "{h}");
    }
    // Unhealthy exactly at the third failure (checks go on meanwhile: read the times).
    if streak <= 5 {
        let end = |i: usize| {
            humantime::parse_rfc3339(log[i]["End"].as_str().unwrap_or("")).expect("End time")
        };
        let turned = p
            .events_of(&id)
            .iter()
            .find(|e| e["health"] == "unhealthy")
            .and_then(|e| humantime::parse_rfc3339(e["time"].as_str()?).ok())
            .expect("an unhealthy event");
        assert!(turned >= end(2), "not before the 3rd failure: {h}");
        if log.len() > 3 {
            assert!(turned < end(3), "at the 3rd failure, not later: {h}");
        }
    }
    assert!(p.ok(&["ps"]).contains("(unhealthy)"));
    p.ok(&["exec", &id, "touch", "/tmp/ok"]);
    wait_for(
        Duration::from_secs(10),
        || health(&p, &id)["Status"] == "healthy",
        "healthy",
    );
    let h = health(&p, &id);
    assert_eq!(h["FailingStreak"], 0);
    assert!(
        h["Log"].as_array().map_or(0, |l| l.len()) <= 5,
        "at most 5 kept: {h}"
    );
    let ps = p.ok(&["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    // Docker's spelling, for scripts that read `.State.Health.Status`.
    assert_eq!(p.inspect(&id)["State"]["Health"]["Status"], "healthy");
    assert_eq!(health_events(&p, &id), vec!["unhealthy", "healthy"]);
    p.ok(&["rm", "-f", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn a_check_that_overruns_its_timeout_fails() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "--health-cmd",
        "sleep 31",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_for(
        Duration::from_secs(10),
        || health(&p, &id)["Status"] == "unhealthy",
        "unhealthy after a timeout",
    );
    let h = health(&p, &id);
    assert!(
        h["Log"][0]["Output"]
            .as_str()
            .unwrap_or("")
            .contains("exceeded timeout"),
        "{h}"
    );
    // Each overrunning check was killed, not left running in the container: at most the
    // check in progress runs (one every 100 ms + 300 ms, for over a second by now).
    std::thread::sleep(scaled(Duration::from_secs(1)));
    let top = p.ok(&["top", &id]);
    assert!(top.matches("sleep 31").count() <= 1, "{top}");
    p.ok(&["rm", "-f", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn the_images_healthcheck_runs_and_no_healthcheck_disables_it() {
    let p = Pier::new();
    let ctx = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD false\n",
    )
    .expect("Dockerfile");
    p.ok(&["build", "-t", "sick", &ctx.path().display().to_string()]);
    let sick = p.run_detached(&["--network", "none", "sick", "sleep", "300"]);
    wait_for(
        Duration::from_secs(10),
        || health(&p, &sick)["Status"] == "unhealthy",
        "the image's check to fail",
    );
    let off = p.run_detached(&[
        "--network",
        "none",
        "--no-healthcheck",
        "sick",
        "sleep",
        "300",
    ]);
    std::thread::sleep(scaled(Duration::from_secs(1)));
    assert!(health(&p, &off).is_null(), "{}", health(&p, &off));
    let ps = p.ok(&["ps", "--no-trunc"]);
    let line = ps.lines().find(|l| l.contains(&off)).expect("in ps");
    assert!(!line.contains("health"), "{line}");
    // The flags override the image's check field by field: a passing command.
    let fine = p.run_detached(&[
        "--network",
        "none",
        "--health-cmd",
        "true",
        "sick",
        "sleep",
        "300",
    ]);
    wait_for(
        Duration::from_secs(10),
        || health(&p, &fine)["Status"] == "healthy",
        "the user's command to pass at the image's interval",
    );
    for c in [&sick, &off, &fine] {
        p.ok(&["rm", "-f", c]);
    }
    for c in [&sick, &off, &fine] {
        p.assert_container_gone(c);
    }
}
