//! The detached container's monitor: a fresh `pier __monitor` program (not a fork of the
//! `pier run -d` that started it) which, once the container runs, executes the small program
//! `pier-monitor` in the same process (pier's conmon: watch/src/monitor.rs). Measured from the
//! kernel's own accounting of the process (`/proc/PID/status`, `/proc/PID/fd`), while the
//! container it watches keeps logging; and the handover's promises: the container survives
//! it, and still dies with its monitor.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{wait_for, Pier};
use std::path::Path;
use std::time::Duration;

/// The monitor's and the init's PIDs, from `inspect`.
fn monitor_and_init(p: &Pier, id: &str) -> (i64, i64) {
    let info = p.inspect(id);
    let pid = |what: &str| {
        info[what]["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no {what} pid in {info}"))
    };
    (pid("monitor"), pid("init"))
}

/// The monitor's and the init's PIDs, once the monitor has handed over to `pier-monitor`
/// (after `pier run -d` has returned: the start is reported first).
fn handed_over(p: &Pier, id: &str) -> (i64, i64) {
    let (monitor, init) = monitor_and_init(p, id);
    wait_for(
        Duration::from_secs(10),
        || program(monitor).ends_with("/pier-monitor"),
        "the monitor to run pier-monitor",
    );
    (monitor, init)
}

/// The program process `pid` runs (its `/proc/PID/exe`).
fn program(pid: i64) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .display()
        .to_string()
}

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
fn the_monitor_is_the_small_program_that_still_keeps_the_log() {
    let p = Pier::new();
    let id = p.run_detached(&[
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done",
    ]);
    let (monitor, _) = handed_over(&p, &id);
    // Its command line: the small program, then the pier command it executes at the end
    // (the monitor's entry), then the command that started the monitor.
    let cmdline = std::fs::read(format!("/proc/{monitor}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert!(
        args[0].ends_with("pier-monitor"),
        "the monitor's command line: {args:?}"
    );
    assert!(
        args.iter().any(|a| a == "__monitor"),
        "it names pier's monitor entry to execute at the end: {args:?}"
    );
    assert!(args.contains(&id), "it names its container: {args:?}");
    let started_by = args.iter().position(|a| a == "--").map(|i| &args[i + 1..]);
    assert!(
        started_by.is_some_and(|w| w.iter().any(|a| a == "run")),
        "after `--`, the command that started it: {args:?}"
    );
    // The log goes on being written after the handover: lines written before and after it.
    let before = p.ok(&["logs", &id]).lines().count();
    wait_for(
        Duration::from_secs(10),
        || p.ok(&["logs", &id]).lines().count() >= before + 10,
        "ten more lines in the log after the handover",
    );
    // It holds what watching needs and nothing else: its standard streams (/dev/null), the
    // log, the init's pidfd, the output pipes and the attach socket; no directory of the
    // state root, no sealed copy of pier (memfd), nothing its caller left open.
    let log = Path::new(&p.inspect(&id)["LogPath"].as_str().unwrap().to_string()).to_path_buf();
    for entry in std::fs::read_dir(format!("/proc/{monitor}/fd")).unwrap() {
        let entry = entry.unwrap();
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        let target = std::fs::read_link(entry.path()).unwrap();
        let text = target.display().to_string();
        let expected = match fd {
            0..=2 => text == "/dev/null",
            _ => {
                target == log
                    || text == "anon_inode:[pidfd]"
                    || text.starts_with("pipe:[")
                    || text.starts_with("socket:[")
            }
        };
        assert!(expected, "the small monitor holds descriptor {fd}: {text}");
    }
    // Bounds for a debug build (a release build is below): pier's own monitor, watching
    // in-process, held about 2.3 MiB of its own memory and 4.3 MiB of file pages (pier's
    // binary, libc); the small program, trimmed and linked dynamically, about 190 kB and
    // 1.1-1.3 MiB; linked statically (build.rs), about 135 kB and 0.8 MiB, of its own program
    // alone: the kernel maps 64 kB of a file around each page fault, so the few pages the loop
    // runs come with their neighbours.
    let anon = status_kb(monitor, "RssAnon");
    let file = status_kb(monitor, "RssFile");
    assert!(anon < 256, "the monitor's own memory is {anon} kB");
    assert!(file < 1024, "the monitor maps {file} kB of files");
    p.ok(&["rm", "-f", &id]);
}

/// The container's init dies with the thread that created it (`PR_SET_PDEATHSIG`): the
/// handover (an `execve` of a single-threaded process keeps that thread) must not kill it,
/// and the small monitor's death still must.
#[test]
fn the_container_survives_the_handover_and_dies_with_the_small_monitor() {
    let p = Pier::new();
    let id = p.run_detached(&["--network", "none", "busybox", "sleep", "300"]);
    let (monitor, init) = handed_over(&p, &id);
    assert_eq!(threads(monitor), 1, "one thread in the small monitor");
    // Still the init pier started, a child of the same monitor process.
    std::thread::sleep(Duration::from_millis(300));
    let state = p.inspect(&id);
    assert_eq!(state["init"]["pid"].as_i64(), Some(init), "{state}");
    assert_eq!(state["status"].as_str(), Some("running"), "{state}");
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let ppid: i64 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, monitor, "the init's parent is the monitor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(
        Duration::from_secs(10),
        || !Path::new(&format!("/proc/{init}")).exists(),
        "the init to die with its monitor",
    );
    p.ok(&["rm", "-f", &id]);
}

/// The files process `pid` maps (the paths of `/proc/PID/maps`, without the kernel's own
/// `[heap]`, `[stack]`, `[vdso]`...).
fn mapped_files(pid: i64) -> std::collections::BTreeSet<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// `pier-monitor` is linked statically (build.rs): while the container runs, the only file it
/// maps is its own program, no dynamic loader and no shared C library, whose pages were most
/// of its memory. A build that links it dynamically again fails here.
#[test]
fn the_small_monitor_maps_no_shared_library() {
    let p = Pier::new();
    let id = p.run_detached(&["--network", "none", "busybox", "sleep", "300"]);
    let (monitor, _) = handed_over(&p, &id);
    let files = mapped_files(monitor);
    let exe = program(monitor);
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        vec![exe],
        "the small monitor maps files other than its program"
    );
    p.ok(&["rm", "-f", &id]);
}

/// `Threads:` of `/proc/PID/status`.
fn threads(pid: i64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// What pier does after the small monitor hands a run back: the exit of a container the OOM
/// killer ended is recorded as one, and `--rm -d` removes the container.
#[test]
fn after_the_handover_pier_records_an_oom_kill_and_removes_an_rm_container() {
    let p = Pier::new();
    // Holds ~100 MB in a shell variable: far past 32 MiB.
    let hog = "sleep 1; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}";
    let id = p.run_detached(&[
        "--network",
        "none",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        hog,
    ]);
    handed_over(&p, &id);
    wait_for(
        Duration::from_secs(30),
        || p.inspect(&id)["status"] == "exited",
        "the hog to be killed",
    );
    let info = p.inspect(&id);
    assert_eq!(info["oom_killed"], true, "inspect: {info}");
    assert_eq!(info["exit_code"], 137, "inspect: {info}");
    assert!(
        !p.ok(&["logs", &id]).contains("survived"),
        "the allocation should not have succeeded"
    );
    p.ok(&["rm", &id]);

    let id = p.run_detached(&[
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo bye",
    ]);
    wait_for(
        Duration::from_secs(20),
        || !p.ok(&["ps", "-aq"]).contains(&id[..12]),
        "the --rm container to remove itself",
    );
}

/// `pier ARGS` of `p`'s state root, run from the binary at `bin` (a link to the tests' pier).
fn pier_at(p: &Pier, bin: &Path, args: &[&str]) -> String {
    let template = p.command(args);
    let mut c = std::process::Command::new(bin);
    c.args(template.get_args());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = common::run_with_timeout(&mut c, None, common::COMMAND_TIMEOUT).unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        common::text(&out.stderr)
    );
    common::text(&out.stdout).trim().to_string()
}

/// Where `pier-monitor` is not beside pier, or cannot be executed, pier watches the container
/// in its own process, as before the small program existed: the log is written, and `pier
/// system info` says which monitor is used.
#[test]
fn without_a_usable_small_program_pier_watches_in_process() {
    let p = Pier::new();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let pier = dir.path().join("pier");
    if std::fs::hard_link(common::PIER, &pier).is_err() {
        std::fs::copy(common::PIER, &pier).unwrap();
    }
    let info = pier_at(&p, &pier, &["system", "info"]);
    assert!(
        info.contains("monitor:        pier itself"),
        "system info without pier-monitor: {info}"
    );
    let logging = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done";
    // First with no program beside pier, then with one that cannot be executed (the exec
    // fails after the descriptors were passed: pier takes them back and watches on).
    for unusable in [false, true] {
        if unusable {
            std::fs::write(dir.path().join("pier-monitor"), b"").unwrap();
        }
        let id = pier_at(
            &p,
            &pier,
            &[
                "run",
                "-d",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                logging,
            ],
        );
        let (monitor, _) = monitor_and_init(&p, &id);
        wait_for(
            Duration::from_secs(10),
            || p.ok(&["logs", &id]).lines().count() >= 10,
            "ten lines in the log",
        );
        let exe = program(monitor);
        assert!(
            !exe.ends_with("pier-monitor"),
            "the monitor runs {exe} (unusable program: {unusable})"
        );
        p.ok(&["rm", "-f", &id]);
    }
}
