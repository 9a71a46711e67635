//! The container cannot reach the host's pier binary (the CVE-2019-5736 pattern): pier's
//! processes inside a container run from a sealed copy (a private read-only overlayfs, or a
//! sealed memfd) and are not dumpable until they execute the container's command.
//!
//! Each test plays the attacker: a container process that looks for pier processes in its PID
//! namespace, opens their `/proc/<pid>/exe` and tries to write through it.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_with_timeout, text, wait_for, Pier, COMMAND_TIMEOUT, PIER};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The attacker's loop (busybox sh): over and over, for every process named `pier`, try to
/// open its `/proc/<pid>/exe`; log `<pid> opened <dev>:<ino>:<size>` of what it got (then
/// leave that process alone), or `<pid> <the shell's error>` (each different error once).
/// /tmp/round counts the rounds. Runs until /tmp/go exists. With `$HOLD` set to pier's size:
/// keep the first exe of that size it opens (not a command that replaced pier meanwhile) and,
/// once /tmp/go appears (pier is gone by then), append to it through /proc/self/fd/3 and log
/// the outcome.
const ATTACKER: &str = r#"
log=/tmp/seen
: > $log
n=0
note() { grep -qxF "$1" $log || echo "$1" >> $log; }
try() {
  p=$1
  { {
    id=$(stat -L -c %d:%i:%s /proc/self/fd/3)
    echo "$p opened $id" >> $log
    if [ "${id##*:}" = "$HOLD" ]; then
      while [ ! -e /tmp/go ]; do sleep 0.05; done
      if echo PWNED >> /proc/self/fd/3; then echo "$p wrote" >> $log
      else echo "$p write failed: $(cat /tmp/err)" >> $log; fi
    fi
  } 3< /proc/$p/exe; } 2>/tmp/err || note "$p $(cat /tmp/err)"
}
while [ ! -e /tmp/go ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = 1 ] && continue
    read -r c < $d/comm 2>/dev/null || continue
    [ "$c" = pier ] || continue
    grep -q "^$p opened" $log && continue
    try $p
  done
  n=$((n+1))
  echo $n > /tmp/round
done
echo "attacker done" >> $log
sleep 600
"#;

/// `(dev, ino, size)` of a file, following links.
fn identity(path: &Path) -> (u64, u64, u64) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (m.dev(), m.ino(), m.size())
}

/// What any write to a file changes: its size, its modification time and, which no one can
/// set back, its change time (a SHA-256 of 175 MB takes seconds in a debug build).
fn fingerprint(path: &Path) -> (u64, u64, i64, i64, i64, i64) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// Busybox stat's `%d` is the device number as the kernel's `new_encode_dev` packs it, like
/// std's `dev()`: the `(dev, ino, size)` of every exe the attacker opened.
fn opened(log: &str) -> Vec<(u64, u64, u64)> {
    log.lines()
        .filter_map(|l| l.split_once(" opened ").map(|(_, id)| id))
        .filter_map(|id| {
            let v: Vec<u64> = id.split(':').filter_map(|n| n.parse().ok()).collect();
            (v.len() == 3).then(|| (v[0], v[1], v[2]))
        })
        .collect()
}

/// `pier run -d --init`: PID 1 of the container is pier's reaper for the container's whole
/// life. From the host, its exe is not the pier file (another device: the private overlayfs,
/// or a sealed memfd) and cannot be opened for writing; from the container, it cannot even be
/// opened (not dumpable).
fn init_reaper_check(seal: Option<&str>) {
    let p = Pier::new();
    let before = fingerprint(Path::new(PIER));
    let mut run = p.command(&["run", "-d", "--init", "busybox", "sleep", "300"]);
    if let Some(m) = seal {
        run.env("PIER_EXE_SEAL", m);
    }
    let out = run_with_timeout(&mut run, None, COMMAND_TIMEOUT).expect("pier run");
    assert!(out.status.success(), "pier run: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let pid = p.inspect(&id)["init"]["pid"]
        .as_i64()
        .expect("inspect shows the init's pid");
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(
        comm.trim(),
        "pier",
        "PID 1 of an --init container is pier's reaper"
    );

    let host = identity(Path::new(PIER));
    let reaper = identity(&exe);
    assert_eq!(reaper.2, host.2, "the reaper runs a copy of pier");
    assert_ne!(
        (reaper.0, reaper.1),
        (host.0, host.1),
        "the reaper's /proc/{pid}/exe ({}) is the host's pier binary",
        std::fs::read_link(&exe).unwrap_or_default().display()
    );
    let write = std::fs::OpenOptions::new().append(true).open(&exe);
    assert!(
        write.is_err(),
        "{} opened for writing (even root on the host must not)",
        exe.display()
    );
    if seal == Some("memfd") {
        let f = std::fs::File::open(&exe).expect("open the memfd copy");
        let seals = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GET_SEALS).expect("F_GET_SEALS");
        let wanted =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        assert_eq!(seals & wanted, wanted, "memfd seals {seals:#x}");
    }

    let out = p.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "stat -L -c %d:%i /proc/1/exe && echo OPENED; true",
    ]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !said.contains("OPENED"),
        "the container reached into pier's reaper: {said}"
    );
    assert!(said.contains("Permission denied"), "{said}");
    p.ok(&["rm", "-f", &id]);
    assert_eq!(
        fingerprint(Path::new(PIER)),
        before,
        "the pier binary changed"
    );
}

#[test]
fn init_reaper_runs_sealed_and_out_of_reach() {
    init_reaper_check(None);
}

#[test]
fn init_reaper_runs_from_a_sealed_memfd_when_asked() {
    init_reaper_check(Some("memfd"));
}

/// `pier exec` while the container watches: the attacker (with CAP_SYS_PTRACE, so that being
/// non-dumpable does not stop it first) catches `pier exec`'s process in the container between
/// fork and execve and opens its exe. What it gets must be pier's sealed copy, never the file
/// on the host.
#[test]
fn pier_exec_window_shows_only_a_sealed_copy() {
    let p = Pier::new();
    let before = fingerprint(Path::new(PIER));
    let host = identity(Path::new(PIER));
    let id = p.run_detached(&["--cap-add", "SYS_PTRACE", "busybox", "sh", "-c", ATTACKER]);
    let deadline = Instant::now() + common::scaled(Duration::from_secs(90));
    let mut log = String::new();
    let mut execs = 0;
    // The window is short (a few hundred microseconds): exec until the attacker caught one.
    while Instant::now() < deadline && execs < 300 {
        for _ in 0..5 {
            p.ok(&["exec", &id, "true"]);
            execs += 1;
        }
        log = p.ok(&["exec", &id, "cat", "/tmp/seen"]);
        if opened(&log).iter().any(|o| o.2 == host.2) {
            break;
        }
    }
    let caught: Vec<_> = opened(&log).into_iter().filter(|o| o.2 == host.2).collect();
    assert!(
        !caught.is_empty(),
        "the attacker never caught pier exec's process in {execs} execs; its log:\n{log}"
    );
    for c in &caught {
        assert_ne!(
            (c.0, c.1),
            (host.0, host.1),
            "the container opened the host's pier binary through pier exec's process:\n{log}"
        );
    }
    p.ok(&["rm", "-f", &id]);
    assert_eq!(
        fingerprint(Path::new(PIER)),
        before,
        "the pier binary changed"
    );
}

/// The low-level containers of a test, deleted (forcibly) when dropped.
struct RuntimeContainers<'a> {
    pier: &'a Path,
    root: &'a Path,
    ids: Vec<String>,
}

impl RuntimeContainers<'_> {
    /// `pier runtime ARGS` with the test's binary copy, output to a file (a container started
    /// by it keeps pier's stdio), waited for at most [`COMMAND_TIMEOUT`].
    fn runtime(&self, args: &[&str], env: Option<(&str, &str)>) -> (bool, String) {
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let mut c = Command::new(self.pier);
        c.arg("--root").arg(self.root).arg("runtime").args(args);
        c.env_remove("PIER_ROOT").env_remove("PIER_EXE_SEAL");
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"));
        let mut child = c.spawn().expect("spawn pier runtime");
        let deadline = Instant::now() + common::scaled(COMMAND_TIMEOUT);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pier runtime {args:?} timed out");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = std::fs::read_to_string(log.path()).unwrap_or_default();
        (status.success(), out)
    }

    fn ok(&self, args: &[&str], env: Option<(&str, &str)>) -> String {
        let (ok, out) = self.runtime(args, env);
        assert!(ok, "pier runtime {args:?} failed: {out}");
        out
    }

    fn init_pid(&self, id: &str) -> i64 {
        let state: serde_json::Value =
            serde_json::from_str(&self.ok(&["state", id], None)).expect("state is JSON");
        state["pid"].as_i64().expect("state has the pid")
    }
}

impl Drop for RuntimeContainers<'_> {
    fn drop(&mut self) {
        for id in self.ids.iter().rev() {
            let _ = self.runtime(&["delete", "--force", id], None);
        }
    }
}

/// A bundle at `dir`: busybox's files and a config running `args`, with the extra capability
/// `cap`, in a new PID namespace or the one at `pid_ns`.
fn bundle(
    p: &Pier,
    dir: &Path,
    args: &[&str],
    env: &[&str],
    cap: Option<&str>,
    pid_ns: Option<&str>,
) {
    common::copy_busybox_rootfs(p, &dir.join("rootfs"));
    let mut caps = serde_json::to_value(pier_oci::security::caps::default_linux_capabilities())
        .expect("caps as JSON");
    if let Some(cap) = cap {
        for set in ["bounding", "effective", "permitted"] {
            caps[set]
                .as_array_mut()
                .expect("capability set")
                .push(cap.into());
        }
    }
    let mut pid = serde_json::json!({"type": "pid"});
    if let Some(path) = pid_ns {
        pid["path"] = path.into();
    }
    let mut environment = vec!["PATH=/bin:/usr/bin:/sbin:/usr/sbin".to_string()];
    environment.extend(env.iter().map(|e| e.to_string()));
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": environment,
            "cwd": "/",
            "capabilities": caps,
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": "sealed",
        "mounts": serde_json::to_value(pier_engine::container::spec::default_mounts()).expect("mounts"),
        "linux": {
            "namespaces": [pid, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]
        }
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).expect("config"),
    )
    .expect("writing config.json");
}

/// The whole CVE-2019-5736 attack, on the low-level runtime (as Kubernetes uses runc: a new
/// container joins the PID namespace of a running one, a pod's). The attacker container A
/// watches its PID namespace; container B is created into it, and B's init waits there (pier,
/// before its execve) until `start`. The attacker opens that init's exe, waits until B ran
/// and no pier process is left, then writes through the descriptor. The pier binary used is a
/// private copy, so a successful attack damages nothing else.
fn shared_pid_namespace_attack(attacker_cap: Option<&str>, seal: Option<&str>) {
    let p = Pier::new();
    let bin_dir = tempfile::Builder::new()
        .prefix("pier-e2e-bin-")
        .tempdir()
        .expect("temp dir");
    let pier = bin_dir.path().join("pier");
    std::fs::copy(PIER, &pier).expect("copying the pier binary");
    let before = fingerprint(&pier);
    let host = identity(&pier);
    let bundles = tempfile::Builder::new()
        .prefix("pier-e2e-bundles-")
        .tempdir()
        .expect("temp dir");

    let mut containers = RuntimeContainers {
        pier: &pier,
        root: p.root(),
        ids: Vec::new(),
    };
    let seal_env = seal.map(|m| ("PIER_EXE_SEAL", m));
    let a_dir = bundles.path().join("a");
    bundle(
        &p,
        &a_dir,
        &["sh", "-c", ATTACKER],
        &[&format!("HOLD={}", host.2)],
        attacker_cap,
        None,
    );
    let a = common::unique_id("sealed-a");
    containers.ok(
        &["create", "-b", a_dir.to_str().expect("utf-8"), &a],
        seal_env,
    );
    containers.ids.push(a.clone());
    containers.ok(&["start", &a], None);
    let a_pid = containers.init_pid(&a);
    let log_path = a_dir.join("rootfs/tmp/seen");
    wait_for(
        Duration::from_secs(10),
        || log_path.exists(),
        "the attacker to start",
    );

    let b_dir = bundles.path().join("b");
    let pid_ns = format!("/proc/{a_pid}/ns/pid");
    bundle(&p, &b_dir, &["true"], &[], None, Some(&pid_ns));
    let b = common::unique_id("sealed-b");
    containers.ok(
        &["create", "-b", b_dir.to_str().expect("utf-8"), &b],
        seal_env,
    );
    containers.ids.push(b.clone());
    // B's init, as the attacker sees it (its PID in A's namespace).
    let b_pid = containers.init_pid(&b);
    let status = std::fs::read_to_string(format!("/proc/{b_pid}/status")).expect("status");
    let ns_pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last())
        .expect("NSpid")
        .to_string();
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The attacker rewrites the file each round: an empty read is a read in between.
    let round = || {
        std::fs::read_to_string(a_dir.join("rootfs/tmp/round"))
            .ok()
            .and_then(|r| r.trim().parse::<u64>().ok())
    };
    // B's init is ready (waiting for `start`) now: give the attacker two full rounds at it,
    // unless it got hold of its exe already (it then waits for /tmp/go).
    let mut ready_round = None;
    wait_for(
        Duration::from_secs(10),
        || {
            ready_round = round();
            ready_round.is_some()
        },
        "the attacker's round counter",
    );
    let ready_round = ready_round.unwrap_or_default();
    wait_for(
        Duration::from_secs(20),
        || {
            round().is_some_and(|r| r >= ready_round + 2)
                || read_log().contains(&format!("{ns_pid} opened"))
        },
        "the attacker to try B's init",
    );
    assert!(
        read_log()
            .lines()
            .any(|l| l.starts_with(&format!("{ns_pid} "))),
        "the attacker never saw B's init (PID {ns_pid} in its namespace):\n{}",
        read_log()
    );
    // B runs its command and is deleted: no process runs the pier binary any more.
    containers.ok(&["start", &b], None);
    wait_for(
        Duration::from_secs(10),
        || common::is_zombie(b_pid as i32),
        "B's command to exit",
    );
    containers.ok(&["delete", &b], None);
    containers.ids.retain(|i| i != &b);
    std::fs::write(a_dir.join("rootfs/tmp/go"), "").expect("telling the attacker to go");
    wait_for(
        Duration::from_secs(20),
        || read_log().contains("attacker done"),
        "the attacker to finish",
    );
    let log = read_log();
    drop(containers);

    assert_eq!(
        fingerprint(&pier),
        before,
        "the attacker changed pier:\n{log}"
    );
    assert!(
        !log.contains(" wrote"),
        "the attacker wrote to pier's exe:\n{log}"
    );
    let caught = opened(&log);
    for c in &caught {
        assert_ne!(
            (c.0, c.1),
            (host.0, host.1),
            "the attacker opened the pier binary itself:\n{log}"
        );
    }
    if attacker_cap.is_none() {
        // Not dumpable: not even an open.
        assert!(
            caught.iter().all(|c| c.2 != host.2),
            "the attacker opened B's init's exe:\n{log}"
        );
        assert!(log.contains("Permission denied"), "{log}");
    } else {
        // CAP_SYS_PTRACE gets past non-dumpable: the seal alone must hold.
        assert!(
            caught.iter().any(|c| c.2 == host.2),
            "the attacker did not get B's init's exe:\n{log}"
        );
        assert!(log.contains(" write failed: "), "{log}");
    }
}

#[test]
fn shared_pid_namespace_attacker_cannot_even_open_pier() {
    shared_pid_namespace_attack(None, None);
}

#[test]
fn shared_pid_namespace_attacker_with_ptrace_cannot_write_the_overlay_copy() {
    shared_pid_namespace_attack(Some("CAP_SYS_PTRACE"), Some("overlay"));
}

#[test]
fn shared_pid_namespace_attacker_with_ptrace_cannot_write_the_memfd_copy() {
    shared_pid_namespace_attack(Some("CAP_SYS_PTRACE"), Some("memfd"));
}
