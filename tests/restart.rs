//! Restart policies, applied by the container's monitor process (pier has no daemon): the
//! container appends a line to a bind-mounted file on every start, so the runs are counted
//! from the host, not from what pier says.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_one_line_error, is_alive, line_count, scaled, text, wait_for, Pier};
use std::path::Path;
use std::time::Duration;

fn pid_of(info: &serde_json::Value, field: &str) -> i32 {
    info[field]["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("inspect has no {field} pid: {info}")) as i32
}

/// When the events `action` about container `id` happened.
fn event_times(p: &Pier, id: &str, action: &str) -> Vec<std::time::SystemTime> {
    p.events_of(id)
        .iter()
        .filter(|e| e["action"] == action)
        .filter_map(|e| humantime::parse_rfc3339(e["time"].as_str()?).ok())
        .collect()
}

#[test]
fn on_failure_3_restarts_exactly_three_times_then_stays_exited() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--restart", "on-failure:3", "--network", "none"],
        "echo run >> /data/runs; exit 3",
    );
    let file = dir.path().join("runs");
    wait_for(
        Duration::from_secs(15),
        || {
            let info = p.inspect(&id);
            info["restart_count"] == 3 && info["status"] == "exited" && info["restarting"] == false
        },
        "three restarts",
    );
    // Nothing more comes: the policy's count is used up.
    std::thread::sleep(scaled(Duration::from_millis(1500)));
    assert_eq!(line_count(&file), 4, "one run and exactly three restarts");
    let info = p.inspect(&id);
    assert_eq!(info["restart_count"], 3, "{info}");
    assert_eq!(info["exit_code"], 3);
    assert!(info["monitor"].is_null(), "the monitor has gone: {info}");
    let ps = p.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (3)"), "{ps}");
    // Docker's back-off: 100 ms, then 200 ms, then 400 ms between an exit and the restart.
    let died = event_times(&p, &id, "die");
    let restarted = event_times(&p, &id, "restart");
    assert_eq!(
        (died.len(), restarted.len()),
        (4, 3),
        "events: {:#?}",
        p.events_of(&id)
    );
    let delays: Vec<Duration> = (0..3)
        .map(|i| restarted[i].duration_since(died[i]).unwrap_or_default())
        .collect();
    eprintln!("measured back-off: {delays:?}");
    for (i, d) in delays.iter().enumerate() {
        let want = Duration::from_millis(100 << i);
        assert!(*d >= want, "delay {i} was {d:?}, less than {want:?}");
        assert!(
            *d < want + scaled(Duration::from_secs(1)),
            "delay {i}: {d:?}"
        );
    }
    p.ok(&["rm", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn on_failure_does_not_restart_a_clean_exit() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--restart", "on-failure", "--network", "none"],
        "echo run >> /data/runs",
    );
    let file = dir.path().join("runs");
    p.wait_not_running(&id, Duration::from_secs(10));
    std::thread::sleep(scaled(Duration::from_millis(600)));
    assert_eq!(line_count(&file), 1);
    assert_eq!(p.inspect(&id)["restart_count"], 0);
}

#[test]
fn always_restarts_a_dead_process_but_not_after_stop() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &["--restart", "always", "--network", "none"],
        "echo run >> /data/runs; exec sleep 300",
    );
    let file = dir.path().join("runs");
    wait_for(
        Duration::from_secs(5),
        || line_count(&file) == 1,
        "the first run",
    );
    let first = p.inspect(&id);
    let (init, cgroup) = (pid_of(&first, "init"), common::cgroup_dir(&first, "pids"));
    // Killed from outside pier (not a user's stop): the policy brings it back.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the container's init");
    wait_for(
        Duration::from_secs(10),
        || line_count(&file) == 2 && p.status(&id) == "running",
        "the restart",
    );
    let second = p.inspect(&id);
    assert_eq!(second["restart_count"], 1, "{second}");
    assert_ne!(pid_of(&second, "init"), init, "a new init");
    assert!(!is_alive(init));
    // The restart re-created the cgroup (same path: the container's ID) with only the new run.
    let procs = std::fs::read_to_string(common::cgroup_dir(&second, "pids").join("cgroup.procs"))
        .expect("cgroup.procs");
    assert_eq!(cgroup, common::cgroup_dir(&second, "pids"));
    assert!(
        !procs.lines().any(|l| l.trim() == init.to_string()),
        "{procs}"
    );
    // A user's stop ends the loop.
    p.ok(&["stop", "-t", "1", &id]);
    std::thread::sleep(scaled(Duration::from_millis(1500)));
    assert_eq!(line_count(&file), 2, "no restart after pier stop");
    let info = p.inspect(&id);
    assert_eq!(info["status"], "exited");
    assert_eq!(info["stopped_by_user"], true);
    assert!(info["monitor"].is_null(), "{info}");
    // `pier start` is the user's again: the policy applies anew.
    p.ok(&["start", &id]);
    wait_for(
        Duration::from_secs(5),
        || line_count(&file) == 3,
        "the start",
    );
    assert_eq!(p.inspect(&id)["restart_count"], 0);
    p.ok(&["rm", "-f", &id]);
    std::thread::sleep(scaled(Duration::from_millis(500)));
    assert_eq!(
        line_count(&file),
        3,
        "rm -f does not let the monitor restart it"
    );
    p.assert_container_gone(&id);
}

/// `pier stop` on a container that is between two runs (its process just exited, the monitor
/// waits out the back-off, or the next run is starting) is never lost: once stop returns, the
/// container is down and stays down. The command exits at once, so most of the container's
/// life is spent in those windows; the stops land at different moments of it.
#[test]
fn stop_between_two_runs_is_never_lost() {
    let p = Pier::new();
    for (attempt, offset_ms) in [0u64, 30, 90, 170, 260].into_iter().enumerate() {
        let (id, dir) = p.run_with_data(
            &["--restart", "always", "--network", "none"],
            "echo run >> /data/runs",
        );
        let file = dir.path().join("runs");
        wait_for(
            Duration::from_secs(5),
            || line_count(&file) >= 2,
            "a first restart",
        );
        std::thread::sleep(Duration::from_millis(offset_ms));
        p.ok(&["stop", "-t", "1", &id]);
        let runs = line_count(&file);
        std::thread::sleep(scaled(Duration::from_millis(1500)));
        assert_eq!(
            line_count(&file),
            runs,
            "attempt {attempt} (stop {offset_ms} ms in): the container ran again after pier stop"
        );
        let info = p.inspect(&id);
        assert_eq!(info["status"], "exited", "attempt {attempt}: {info}");
        assert_eq!(info["restarting"], false, "attempt {attempt}: {info}");
        assert!(info["monitor"].is_null(), "attempt {attempt}: {info}");
        p.ok(&["rm", &id]);
    }
}

#[test]
fn ps_shows_restarting_and_stop_ends_the_back_off() {
    let p = Pier::new();
    let (id, dir) = p.run_with_data(
        &[
            "--name",
            "flappy",
            "--restart",
            "unless-stopped",
            "--network",
            "none",
        ],
        "echo run >> /data/runs; exit 1",
    );
    let file = dir.path().join("runs");
    // The back-off grows (0.1, 0.2, 0.4, 0.8, 1.6 s...): ps soon catches it waiting.
    let mut seen = String::new();
    wait_for(
        Duration::from_secs(10),
        || {
            seen = p.ok(&["ps"]);
            seen.lines()
                .any(|l| l.contains("flappy") && l.contains("Restarting (1)"))
        },
        "ps to show Restarting (1)",
    );
    p.ok(&["stop", "flappy"]);
    let after = line_count(&file);
    std::thread::sleep(scaled(Duration::from_secs(2)));
    assert_eq!(line_count(&file), after, "no run after the stop");
    let info = p.inspect(&id);
    assert_eq!(info["restarting"], false, "{info}");
    assert!(info["monitor"].is_null(), "{info}");
    let ps = p.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (1)"), "{ps}");
    p.ok(&["rm", &id]);
    p.assert_container_gone(&id);
}

/// The monitor holds the container: its init has PR_SET_PDEATHSIG, so a SIGKILLed monitor
/// takes the container (and its health-check process) with it; the next pier command finds
/// the record of a running container without a live monitor and cleans up after it.
#[test]
fn killing_the_monitor_leaves_no_zombie_and_no_unrecorded_container() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--restart",
        "always",
        "--health-cmd",
        "true",
        "--health-interval",
        "100ms",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    let info = p.inspect(&id);
    let (monitor, init) = (pid_of(&info, "monitor"), pid_of(&info, "init"));
    let root = p.root().display().to_string();
    // The monitor's children: the container's init and the health-check process.
    let children = |parent: i32| -> Vec<i32> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        let rest = s[s.rfind(')')? + 2..].to_string();
                        rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                    })
                    == Some(parent)
            })
            .collect()
    };
    let kids = children(monitor);
    assert!(kids.contains(&init), "init {init} among {kids:?}");
    assert!(kids.len() >= 2, "the health-check process too: {kids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the monitor");
    // Gone entirely: not running, and not a zombie either (PID 1 reaps the orphans).
    wait_for(
        Duration::from_secs(10),
        || {
            kids.iter()
                .chain([&monitor])
                .all(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        },
        "the monitor, the container and the checker to be gone and reaped",
    );
    common::assert_no_process(&id);
    // No pier process of this root is left (a restart would need one).
    let stray: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| text(&c).replace('\0', " "))
        .filter(|c| c.contains(&root) && c.contains(" run -d"))
        .collect();
    assert!(stray.is_empty(), "left: {stray:?}");
    // The record says what happened, after any pier command.
    let ps = p.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    let info = p.inspect(&id);
    assert!(
        info["monitor"].is_null() && info["init"].is_null(),
        "{info}"
    );
    assert!(
        info["error"].as_str().unwrap_or("").contains("watcher"),
        "{info}"
    );
    p.ok(&["rm", &id]);
    p.assert_container_gone(&id);
}

#[test]
fn bad_restart_and_health_flags_are_one_line_errors_and_leave_nothing() {
    let p = Pier::new();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--restart", "sometimes"], &["--restart", "sometimes"]),
        (&["--restart", "always:3"], &["--restart"]),
        (&["--restart", "on-failure:x"], &["--restart"]),
        (&["--health-interval", "-1s"], &["--health-interval"]),
        (&["--health-timeout", "soon"], &["--health-timeout"]),
        (&["--health-retries", "-2"], &["--health-retries"]),
        (
            &["--no-healthcheck", "--health-cmd", "true"],
            &["--no-healthcheck"],
        ),
        (&["--rm", "--restart", "always"], &["--restart", "--rm"]),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        assert_one_line_error(&p.run(&args), 125, needles);
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        if !flags.contains(&"--rm") {
            assert_one_line_error(&p.run(&args), 125, needles);
        }
    }
    // A foreground run cannot keep a policy: its pier process is the monitor and ends.
    assert_one_line_error(
        &p.run(&["run", "--restart", "always", "busybox", "true"]),
        125,
        &["--restart", "-d"],
    );
    assert_one_line_error(
        &p.run(&["update", "--restart", "sometimes", "nosuch"]),
        125,
        &["--restart"],
    );
    assert_eq!(p.all_ids(), Vec::<String>::new(), "nothing created");
    let dirs = std::fs::read_dir(p.root().join("containers"))
        .expect("containers dir")
        .count();
    assert_eq!(dirs, 0);
}
