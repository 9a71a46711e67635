//! Container lifecycle: create, start, ps, stop, kill, rm, exec, logs, inspect, wait, top.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cgroup_dir, is_alive, text, wait_with_timeout, Pier};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The container's init PID on the host, from `inspect`.
fn init_pid(p: &Pier, id: &str) -> i32 {
    let info = p.inspect(id);
    info["init"]["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no init pid in inspect: {info}")) as i32
}

#[test]
fn create_start_ps() {
    let p = Pier::new();
    let id = p.ok(&["create", "--name", "later", "busybox", "sleep", "1000"]);
    assert_eq!(id.len(), 64, "create prints the full ID: {id}");
    assert_eq!(p.status("later"), "created");
    assert!(
        !p.ok(&["ps"]).contains("later"),
        "ps shows only running containers"
    );
    let all = p.ok(&["ps", "-a"]);
    let line = all
        .lines()
        .find(|l| l.contains("later"))
        .unwrap_or_else(|| panic!("ps -a: {all}"));
    assert!(
        line.contains("Created") && line.starts_with(&id[..12]),
        "ps -a: {line}"
    );
    assert_eq!(p.ok(&["ps", "-q"]), "", "nothing runs yet");

    assert_eq!(p.ok(&["start", "later"]), "later");
    assert_eq!(p.status("later"), "running");
    assert!(is_alive(init_pid(&p, "later")));
    let ps = p.ok(&["ps"]);
    let line = ps
        .lines()
        .find(|l| l.contains("later"))
        .unwrap_or_else(|| panic!("ps: {ps}"));
    assert!(
        line.contains("Up") && line.contains("busybox") && line.contains("sleep 1000"),
        "ps: {line}"
    );
    assert_eq!(p.ok(&["ps", "-q"]), &id[..12]);
    assert_eq!(p.ok(&["ps", "-q", "--no-trunc"]), id);
}

#[test]
fn stop_sends_term_then_kill_after_timeout() {
    let p = Pier::new();
    // The shell traps TERM (reports it, keeps running): stop must SIGKILL it after -t 1.
    let id = p.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["logs", &id]).contains("ready"),
        "the trap to be set",
    );
    let pid = init_pid(&p, &id);
    let t = Instant::now();
    assert_eq!(p.ok(&["stop", "-t", "1", &id]), id);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < common::scaled(Duration::from_secs(5)),
        "stop -t 1 took {took:?}"
    );
    assert!(
        p.ok(&["logs", &id]).contains("got-term"),
        "SIGTERM should come first"
    );
    let info = p.inspect(&id);
    assert_eq!(info["status"], "exited");
    assert_eq!(info["exit_code"], 137, "killed by SIGKILL");
    assert!(!is_alive(pid), "the init survived stop");
    p.assert_container_gone(&id);
    // Stopping a stopped container is fine.
    p.ok(&["stop", &id]);
}

#[test]
fn stop_of_a_term_handling_container_is_quick() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["logs", &id]).contains("ready"),
        "the trap to be set",
    );
    let t = Instant::now();
    p.ok(&["stop", "-t", "10", &id]);
    assert!(
        t.elapsed() < common::scaled(Duration::from_secs(3)),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(p.inspect(&id)["exit_code"], 0);
}

#[test]
fn kill_sends_the_given_signal() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done",
    ]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["logs", &id]).contains("ready"),
        "the trap to be set",
    );
    p.ok(&["kill", "-s", "USR1", &id]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["logs", &id]).contains("got-usr1"),
        "the USR1 trap to run",
    );
    assert_eq!(p.status(&id), "running", "USR1 is handled, not fatal");
    p.ok(&["kill", "-s", "SIGKILL", &id]);
    assert_eq!(p.ok(&["wait", &id]), "137");
    // Killing a stopped container is an error.
    let out = p.run(&["kill", &id]);
    common::assert_one_line_error(&out, 125, &["not running"]);
    // An unknown signal is refused.
    let id2 = p.run_detached(&["busybox", "sleep", "1000"]);
    let out = p.run(&["kill", "-s", "NOPE", &id2]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("NOPE"),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(p.status(&id2), "running");
}

#[test]
fn rm_of_running_needs_force() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    let pid = init_pid(&p, &id);
    let out = p.run(&["rm", &id]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("running"),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(is_alive(pid), "a refused rm must not stop the container");
    assert_eq!(p.ok(&["rm", "-f", &id]), id);
    assert!(!is_alive(pid));
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "");
    assert!(
        !p.root().join("containers").join(&id).exists(),
        "the container's directory is left"
    );
    p.assert_container_gone(&id);
}

#[test]
fn rm_removes_an_exited_container() {
    let p = Pier::new();
    p.ok(&["run", "--name", "done", "busybox", "true"]);
    let id = p.inspect("done")["id"].as_str().expect("id").to_string();
    assert_eq!(p.status("done"), "exited");
    p.ok(&["rm", "done"]);
    assert!(p.run(&["inspect", "done"]).status.code() != Some(0));
    assert!(!p.root().join("containers").join(&id).exists());
    p.assert_container_gone(&id);
}

#[test]
fn run_rm_removes_the_container() {
    let p = Pier::new();
    p.ok(&["run", "--rm", "busybox", "true"]);
    assert_eq!(p.all_ids(), Vec::<String>::new());
    let id = p.run_detached(&["--rm", "busybox", "sh", "-c", "sleep 0.2"]);
    common::wait_for(
        Duration::from_secs(5),
        || p.all_ids().is_empty(),
        "the --rm -d container to remove itself",
    );
    p.assert_container_gone(&id);
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    let p = Pier::new();
    let id = p.run_detached(&["--hostname", "inside", "busybox", "sleep", "1000"]);
    let pid = init_pid(&p, &id);
    assert_eq!(p.ok(&["exec", &id, "hostname"]), "inside");
    // Same PID namespace: PID 1 is the container's sleep.
    assert_eq!(
        p.ok(&["exec", &id, "cat", "/proc/1/cmdline"]),
        "sleep\u{0}1000\u{0}"
    );
    let ps = p.ok(&["exec", &id, "ps", "-o", "pid,comm"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "exec'd ps: {ps}"
    );
    // Exit codes pass through; the environment and working directory apply.
    assert_eq!(
        p.run(&["exec", &id, "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    assert_eq!(
        p.ok(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/etc",
            &id,
            "sh",
            "-c",
            "echo $A; pwd"
        ]),
        "b\n/etc"
    );
    assert_eq!(p.ok(&["exec", "-u", "1000", &id, "id", "-u"]), "1000");
    let out = p.run_with_input(&["exec", "-i", &id, "cat"], Some(b"via stdin\n"));
    assert_eq!(text(&out.stdout), "via stdin\n");

    // While an exec'd process runs, it is in the container's namespaces and cgroup.
    let procs_file = cgroup_dir(&p.inspect(&id), "pids").join("cgroup.procs");
    let child = p
        .command(&["exec", &id, "sleep", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pier exec");
    let mut joined = 0;
    common::wait_for(
        Duration::from_secs(5),
        || {
            let procs = std::fs::read_to_string(&procs_file).unwrap_or_default();
            joined = procs
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .find(|q| {
                    *q != pid
                        && std::fs::read_to_string(format!("/proc/{q}/cmdline")).unwrap_or_default()
                            == "sleep\u{0}3\u{0}"
                })
                .unwrap_or(0);
            joined != 0
        },
        "the exec'd sleep to appear in the container's cgroup.procs",
    );
    for ns in ["pid", "uts", "mnt", "ipc", "net"] {
        let a = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("init ns");
        let b = std::fs::read_link(format!("/proc/{joined}/ns/{ns}")).expect("exec ns");
        assert_eq!(
            a, b,
            "the exec'd process is not in the container's {ns} namespace"
        );
    }
    let me = std::fs::read_link("/proc/self/ns/pid").expect("own ns");
    assert_ne!(
        std::fs::read_link(format!("/proc/{joined}/ns/pid")).expect("exec ns"),
        me
    );
    let out = wait_with_timeout(child, Duration::from_secs(10)).expect("pier exec ends");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
}

#[test]
fn exec_in_a_stopped_container_fails() {
    let p = Pier::new();
    p.ok(&["run", "--name", "gone", "busybox", "true"]);
    let out = p.run(&["exec", "gone", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("not running"),
        "stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn logs_of_a_detached_container() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
    ]);
    assert_eq!(p.ok(&["wait", &id]), "0");
    let out = p.run(&["logs", &id]);
    assert_eq!(text(&out.stdout), "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(text(&out.stderr), "oops\n", "stderr lines go to stderr");
    let id2 = p.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done",
    ]);
    p.ok(&["wait", &id2]);
    assert_eq!(p.ok(&["logs", "--tail", "2", &id2]), "line4\nline5");
    assert_eq!(p.ok(&["logs", "--tail", "0", &id2]), "");
    assert_eq!(p.ok(&["logs", "--tail", "all", &id2]).lines().count(), 5);
    let ts = p.ok(&["logs", "-t", "--tail", "1", &id2]);
    assert!(
        ts.ends_with(" line5") && ts.starts_with("20"),
        "timestamped line: {ts}"
    );
}

#[test]
fn logs_follow_ends_when_the_container_exits() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sh", "-c", "echo first; sleep 1; echo second"]);
    let t = Instant::now();
    let child = p
        .command(&["logs", "-f", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logs -f");
    let out = wait_with_timeout(child, Duration::from_secs(15))
        .expect("logs -f should end when the container exits");
    assert_eq!(text(&out.stdout), "first\nsecond\n");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "logs -f returned before the container ended"
    );
    assert_eq!(p.status(&id), "exited");
}

#[test]
fn logs_of_a_foreground_container() {
    let p = Pier::new();
    let out = p.run(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "one\nthree\n",
        "pier run still prints the output"
    );
    assert_eq!(text(&out.stderr), "two\n");
    // ...and keeps it, as `docker logs` does for a container run in the foreground.
    let logs = p.run(&["logs", "fg"]);
    assert_eq!(text(&logs.stdout), "one\nthree\n");
    assert_eq!(text(&logs.stderr), "two\n");
    // With a terminal the one stream is kept too.
    p.ok(&["run", "-t", "--name", "fgt", "busybox", "echo", "on-a-tty"]);
    assert_eq!(p.ok(&["logs", "fgt"]).trim_end(), "on-a-tty");
}

#[test]
fn a_foreground_container_stops_when_its_reader_goes_away() {
    let p = Pier::new();
    // `pier run ... yes | head -n 2`: head exits, pier's next write fails, and the
    // container's next write fails in turn, so the endless writer ends.
    let mut child = p
        .command(&["run", "--name", "endless", "busybox", "yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pier run");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut two = [0u8; 4];
    std::io::Read::read_exact(&mut stdout, &mut two).expect("read two lines");
    assert_eq!(&two, b"y\ny\n");
    drop(stdout);
    let out = wait_with_timeout(child, Duration::from_secs(15))
        .expect("pier run should end once nobody reads its output");
    assert!(
        out.status.code().is_some(),
        "pier was not killed by SIGPIPE: {:?}",
        out.status
    );
    assert_eq!(p.status("endless"), "exited");
}

#[test]
fn inspect_reports_the_container() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--name",
        "web",
        "--hostname",
        "h1",
        "-e",
        "K=V",
        "busybox",
        "sleep",
        "1000",
    ]);
    let info = p.inspect("web");
    assert_eq!(info["id"], id);
    assert_eq!(info["name"], "web");
    assert_eq!(info["status"], "running");
    assert_eq!(info["image"], "busybox");
    assert!(info["image_id"]
        .as_str()
        .expect("image_id")
        .starts_with("sha256:"));
    assert_eq!(info["args"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(info["oci_config"]["hostname"], "h1");
    let env = info["oci_config"]["process"]["env"]
        .as_array()
        .expect("env");
    assert!(env.iter().any(|e| e == "K=V"), "env: {env:?}");
    assert!(info["started_at"].is_string() && info["created"].is_string());
    assert!(info["exit_code"].is_null());
    assert!(is_alive(info["init"]["pid"].as_i64().expect("pid") as i32));
    assert!(
        cgroup_dir(&info, "pids").is_dir(),
        "the cgroup in inspect should exist"
    );
    assert!(
        std::path::Path::new(info["merged_dir"].as_str().expect("merged_dir"))
            .join("bin/busybox")
            .exists()
    );
    // By ID prefix too.
    assert_eq!(p.inspect(&id[..6])["name"], "web");
    p.ok(&["stop", "-t", "0", "web"]);
    let info = p.inspect("web");
    assert_eq!(info["status"], "exited");
    assert_eq!(info["exit_code"], 137);
    assert!(info["finished_at"].is_string());
    assert!(
        info["cgroup"].is_null() && info["init"].is_null(),
        "a stopped container holds no cgroup or init: {info}"
    );
}

#[test]
fn wait_prints_the_exit_code() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sh", "-c", "sleep 0.3; exit 7"]);
    let t = Instant::now();
    assert_eq!(p.ok(&["wait", &id]), "7");
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "wait returned before the container ended"
    );
}

#[test]
fn top_lists_the_processes() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sh", "-c", "sleep 1031 & sleep 1032"]);
    common::wait_for(
        Duration::from_secs(5),
        || p.ok(&["top", &id]).contains("sleep 1031"),
        "top to show the background sleep",
    );
    let top = p.ok(&["top", &id]);
    let pid = init_pid(&p, &id);
    assert!(
        top.lines().next().expect("header").contains("PID"),
        "top: {top}"
    );
    assert!(
        top.contains("sleep 1032") || top.contains("sh -c"),
        "top: {top}"
    );
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(pid.to_string().as_str())),
        "top should list the init (host PID {pid}): {top}"
    );
    assert_eq!(top.lines().count(), 3, "header + 2 processes: {top}");
}

#[test]
fn start_again_after_exit() {
    let p = Pier::new();
    p.ok(&["run", "--name", "again", "busybox", "sh", "-c", "echo run"]);
    p.ok(&["start", "again"]);
    p.ok(&["wait", "again"]);
    // Docker's RestartCount counts the restart policy's restarts, not the user's starts.
    assert_eq!(p.inspect("again")["restart_count"], 0);
    assert_eq!(p.inspect("again")["status"], "exited");
    let out = p.run(&["start", "-a", "again"]);
    assert_eq!(text(&out.stdout), "run\n");
    assert_eq!(out.status.code(), Some(0));
}

/// pier's event log keeps what happened to a container after it is gone: its life
/// (create, start, kill with the signal, die with the code, destroy) and a start that failed,
/// with the error, for a container `pier run` removed again.
#[test]
fn events_outlive_the_container() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "--name",
        "ev",
        "busybox",
        "sleep",
        "600",
    ]);
    p.ok(&["kill", "-s", "TERM", "ev"]);
    // sleep as PID 1 has no SIGTERM handler: the kernel drops the signal.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.status("ev"), "running");
    p.ok(&["rm", "-f", "ev"]);
    let failed = p.run(&[
        "run",
        "--network",
        "none",
        "--name",
        "ev-bad",
        "busybox",
        "/nope",
    ]);
    assert!(!failed.status.success());

    let log = p.ok(&["events", "--container", "ev"]);
    let actions: Vec<&str> = log
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["create", "start", "kill", "kill", "die", "destroy"],
        "{log}"
    );
    assert!(log.contains(&id), "{log}");
    assert!(
        log.contains("signal=SIGTERM") && log.contains("signal=SIGKILL"),
        "{log}"
    );
    assert!(log.contains("exitCode=137"), "{log}");

    let bad = p.ok(&["events", "--container", "ev-bad"]);
    assert!(
        bad.contains("start-failed") && bad.contains("/nope") && bad.contains("destroy"),
        "{bad}"
    );
    assert!(p.all_ids().is_empty(), "both containers are gone");
}

/// Each event names the container's init as the kernel showed it when it happened (PID, the
/// start time of that PID, its cgroup) and is sealed: while the container runs, the start's
/// init is the live process in the container's cgroup; the signals and the exit of that run
/// name the same process (also for a command that exits at once); a line written by hand is
/// in the log but not read as sealed.
#[test]
fn events_name_the_init_and_only_sealed_lines_are_believed() {
    use pier_engine::container::events::{Action, EventLog, InitSeen};
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "--name",
        "seen",
        "busybox",
        "sleep",
        "600",
    ]);
    let log = EventLog::at(p.root());
    let sealed = log.read_sealed().unwrap();
    let start = sealed
        .iter()
        .find(|e| e.id == id && e.action == Action::Start)
        .expect("a sealed start");
    let init = start.init.clone().expect("the start names the init");
    assert_eq!(
        InitSeen::of(init.pid),
        Some(init.clone()),
        "the live process"
    );
    assert!(
        init.cgroup.contains(&id),
        "its cgroup is the container's: {init:?}"
    );
    p.ok(&["stop", "-t", "1", "seen"]);
    let sealed = log.read_sealed().unwrap();
    let run: Vec<_> = sealed
        .iter()
        .filter(|e| e.id == id && matches!(e.action, Action::Kill | Action::Die))
        .collect();
    assert_eq!(run.len(), 3, "SIGTERM, SIGKILL, die: {run:?}");
    assert!(
        run.iter().all(|e| e.init.as_ref() == Some(&init)),
        "{run:?}"
    );
    assert_ne!(
        InitSeen::of(init.pid),
        Some(init.clone()),
        "the process is gone"
    );
    // A copy of the die line with another exit code: still in the log, not sealed.
    let text = std::fs::read_to_string(log.path()).unwrap();
    let die = text
        .lines()
        .find(|l| l.contains("\"action\":\"die\"") && l.contains(&id))
        .unwrap();
    let forged = die.replace("\"exit_code\":137", "\"exit_code\":0");
    assert_ne!(forged, die);
    std::fs::write(log.path(), format!("{text}{forged}\n")).unwrap();
    assert_eq!(log.read().unwrap().len(), sealed.len() + 1);
    assert_eq!(log.read_sealed().unwrap(), sealed);
    p.ok(&["rm", "seen"]);
    // A command that exits at once: its start and exit still name its process.
    let quick = p.run(&[
        "run",
        "--network",
        "none",
        "--name",
        "quick",
        "busybox",
        "true",
    ]);
    assert!(quick.status.success());
    let sealed = log.read_sealed().unwrap();
    let quick: Vec<_> = sealed.iter().filter(|e| e.name == "quick").collect();
    let start = quick.iter().find(|e| e.action == Action::Start).unwrap();
    let die = quick.iter().find(|e| e.action == Action::Die).unwrap();
    assert!(start.init.is_some() && start.init == die.init, "{quick:?}");
    p.ok(&["rm", "quick"]);
}
