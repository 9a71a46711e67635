//! `pier runtime` driven the way a container manager drives runc: `create` with the manager's
//! own pipes as the container's stdio, `--pid-file`, `--console-socket`, `--preserve-fds` and
//! socket activation, `--log --log-format json`, `start`, `state`, `list`, `ps`, `exec`
//! (`--process`, `--detach`), `pause`/`resume`, `update`, `events`, `kill`, `delete`, the
//! lifecycle hooks, `features`, `spec`, and the `pier-runc` name.
//!
//! Like conmon and containerd's shim, this test process makes itself a child subreaper: a
//! container's init, orphaned when `create` returns, is then its child, and its exit code
//! is read with waitpid as a manager reads it.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier, PIER};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Makes this test process the reaper of orphaned containers (once).
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// A bundle (busybox rootfs) and a private runtime state directory.
struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
    state: PathBuf,
    pier: Pier,
}

impl Bundle {
    fn new() -> Bundle {
        become_subreaper();
        let pier = Pier::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().canonicalize().expect("canonical").join("bundle");
        common::copy_busybox_rootfs(&pier, &path.join("rootfs"));
        let state = dir.path().canonicalize().expect("canonical").join("state");
        Bundle {
            _dir: dir,
            path,
            state,
            pier,
        }
    }

    /// Writes config.json: `args`, with `terminal`, and `extra` merged at the top level.
    fn configure(&self, args: &[&str], terminal: bool, extra: Value) {
        let mut config = json!({
            "ociVersion": "1.2.0",
            "process": {
                "terminal": terminal,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
                "cwd": "/",
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
            }
        });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        std::fs::write(
            self.path.join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("writing config.json");
    }

    /// `pier --root <pier root> runtime --root <state> ARGS`, not started.
    fn runtime(&self, args: &[&str]) -> Command {
        let mut c = Command::new(PIER);
        c.arg("--root")
            .arg(self.pier.root())
            .arg("runtime")
            .arg("--root")
            .arg(&self.state)
            .args(args);
        c.env_remove("PIER_ROOT").env_remove("LISTEN_PID");
        c
    }

    /// Runs a runtime command with captured output (stdin /dev/null).
    fn run(&self, args: &[&str]) -> Output {
        common::run_with_timeout(&mut self.runtime(args), None, common::COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("pier runtime {args:?}: {e}"))
    }

    /// Runs a runtime command and asserts it succeeded; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pier runtime {args:?} failed ({:?}): {}",
            out.status.code(),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a command whose container keeps the runtime's stdio (create, run --detach, exec
    /// --detach) with stdio on /dev/null, so no pipe outlives it; asserts it succeeded.
    fn detached(&self, args: &[&str]) {
        let mut child = self
            .runtime(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let status = child.wait().expect("wait");
        assert!(status.success(), "pier runtime {args:?} failed");
    }

    fn state_of(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }

    /// The container's directory for `controller` from its state.json (what pier recorded).
    fn cgroup_dir(&self, id: &str, controller: &str) -> PathBuf {
        let state: pier_oci::container::StateFile = serde_json::from_slice(
            &std::fs::read(self.state.join(id).join("state.json")).expect("state.json"),
        )
        .expect("state.json parses");
        state
            .cgroup
            .expect("a cgroup")
            .cgroup_dir(controller)
            .expect("the controller's directory")
    }
}

/// Waits for `pid` (our child since we are the subreaper) and returns its exit code.
fn reap(pid: i32) -> i32 {
    let pid = Pid::from_raw(pid);
    for _ in 0..3000 {
        match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waitpid({pid}): {e}"),
        }
    }
    panic!("{pid} did not exit within 30 s");
}

fn pid_file(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a PID in the pid file")
}

#[test]
fn a_manager_creates_starts_feeds_reaps_and_deletes_a_container() {
    let b = Bundle::new();
    b.configure(
        &[
            "sh",
            "-c",
            "read line; echo \"got $line\"; echo to-err >&2; exit 7",
        ],
        false,
        json!({}),
    );
    let id = common::unique_id("rtcli");
    let pidfile = b.path.join("init.pid");
    // The manager's pipes become the container's stdio.
    let mut create = b
        .runtime(&[
            "create",
            "--pid-file",
            pidfile.to_str().unwrap(),
            &id,
            "--bundle",
            b.path.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn create");
    let mut stdin = create.stdin.take().expect("stdin");
    let mut stdout = create.stdout.take().expect("stdout");
    let mut stderr = create.stderr.take().expect("stderr");
    let status = create
        .wait()
        .expect("create exits while the container waits");
    assert!(status.success(), "create failed");
    let pid = pid_file(&pidfile);
    let s = b.state_of(&id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["pid"], pid);
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["bundle"], b.path.to_str().unwrap());
    assert_eq!(s["rootfs"], b.path.join("rootfs").to_str().unwrap());
    assert!(
        humantime::parse_rfc3339(s["created"].as_str().unwrap()).is_ok(),
        "created is RFC 3339: {s}"
    );
    let list: Value = serde_json::from_str(&b.ok(&["list", "--format", "json"])).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "list: {list}"
    );
    let table = b.ok(&["list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("created")),
        "{table}"
    );

    b.ok(&["start", &id]);
    assert_eq!(b.state_of(&id)["status"], "running");
    let ps: Vec<i32> = serde_json::from_str(&b.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(ps, vec![pid], "ps lists the init");
    stdin.write_all(b"hello\n").expect("feeding the container");
    drop(stdin);
    let code = reap(pid);
    assert_eq!(code, 7, "the manager reaps the container's exit code");
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert_eq!(
        out, "got hello\n",
        "the container wrote to the manager's pipe"
    );
    assert_eq!(err, "to-err\n");

    let s = b.state_of(&id);
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["pid"], 0);
    let kill = b.run(&["kill", &id, "KILL"]);
    assert!(!kill.status.success());
    // runc's phrase, which containerd's shim looks for ("process already finished").
    assert!(
        text(&kill.stderr).contains("container not running"),
        "{}",
        text(&kill.stderr)
    );
    b.ok(&["kill", "--all", &id, "9"]);
    let memory = b.cgroup_dir(&id, "memory");
    assert!(memory.exists());
    b.ok(&["delete", &id]);
    assert!(!b.state.join(&id).exists(), "state directory removed");
    assert!(!memory.exists(), "cgroup removed");
    let gone = b.run(&["state", &id]);
    assert!(text(&gone.stderr).contains("does not exist"));
    // Deleting what does not exist: an error, unless forced (what managers retry with).
    assert!(!b.run(&["delete", &id]).status.success());
    b.ok(&["delete", "--force", &id]);
}

#[test]
fn the_terminal_goes_to_the_console_socket() {
    let b = Bundle::new();
    b.configure(
        &[
            "sh",
            "-c",
            "tty; [ -t 0 ] && echo is-a-tty; read x; echo \"typed $x\"",
        ],
        true,
        json!({}),
    );
    let id = common::unique_id("rtcli");
    let socket = b.path.join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind");
    let pidfile = b.path.join("init.pid");
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        common::recv_fd(&conn).1
    });
    b.detached(&[
        "create",
        "--bundle",
        b.path.to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let master = std::fs::File::from(receiver.join().expect("the master"));
    b.ok(&["start", &id]);
    let mut master_w = master.try_clone().unwrap();
    master_w.write_all(b"abc\n").unwrap();
    let pid = pid_file(&pidfile);
    let reader = std::thread::spawn(move || {
        let mut master = master;
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&out).contains("typed abc") {
                break;
            }
        }
        text(&out)
    });
    assert_eq!(reap(pid), 0);
    let out = reader.join().unwrap();
    assert!(
        out.contains("is-a-tty"),
        "the process has the terminal: {out:?}"
    );
    assert!(
        out.contains("/dev/pts/0"),
        "the terminal comes from the container's own devpts: {out:?}"
    );
    assert!(
        out.contains("typed abc"),
        "input through the master: {out:?}"
    );
    drop(master_w);
    b.ok(&["delete", &id]);
}

#[test]
fn preserved_and_activated_descriptors_reach_the_process_and_no_other() {
    let b = Bundle::new();
    b.configure(
        &[
            "sh",
            "-c",
            "echo \"$LISTEN_FDS $LISTEN_PID\"; echo three >&3; echo four >&4; \
             { echo five >&5; } 2>/dev/null && echo fd5-leaked || echo fd5-closed",
        ],
        false,
        json!({}),
    );
    let id = common::unique_id("rtcli");
    let files: Vec<PathBuf> = (3..=5).map(|n| b.path.join(format!("fd{n}"))).collect();
    for f in &files {
        std::fs::write(f, "").unwrap();
    }
    // The shell opens 3, 4, 5 and execs pier with LISTEN_PID naming pier itself (same PID).
    let cmd = b.runtime(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path.to_str().unwrap(),
        &id,
    ]);
    let program = cmd.get_program().to_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let script = format!(
        "exec 3>>'{}' 4>>'{}' 5>>'{}'; LISTEN_PID=$$ LISTEN_FDS=1 exec '{}' {}",
        files[0].display(),
        files[1].display(),
        files[2].display(),
        program.to_string_lossy(),
        args.join(" ")
    );
    let out = common::run_with_timeout(
        Command::new("sh").args(["-c", &script]),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("1 1"),
        "LISTEN_FDS=1 LISTEN_PID=1 inside: {stdout:?}"
    );
    assert!(
        stdout.contains("fd5-closed"),
        "fd 5 was not passed: {stdout:?}"
    );
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "three\n");
    assert_eq!(std::fs::read_to_string(&files[1]).unwrap(), "four\n");
    assert_eq!(std::fs::read_to_string(&files[2]).unwrap(), "");
}

#[test]
fn errors_go_to_the_log_file_in_the_format_asked() {
    let b = Bundle::new();
    let log = b.path.join("log.json");
    let out = b.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        "/nonexistent-bundle",
        "c1",
    ]);
    assert!(!out.status.success());
    let line = std::fs::read_to_string(&log).expect("the log file");
    let v: Value = serde_json::from_str(line.lines().last().unwrap()).expect("a JSON line");
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("/nonexistent-bundle"),
        "{v}"
    );
    assert!(humantime::parse_rfc3339(v["time"].as_str().unwrap()).is_ok());
    assert!(text(&out.stderr).contains("/nonexistent-bundle"));

    let text_log = b.path.join("log.txt");
    let out = b.run(&["--log", text_log.to_str().unwrap(), "state", "../escape"]);
    assert!(!out.status.success());
    let line = std::fs::read_to_string(&text_log).expect("the text log");
    assert!(
        line.starts_with("time=\"") && line.contains("level=error msg=\"invalid container ID"),
        "{line}"
    );
}

#[test]
fn hooks_run_at_their_six_points_with_the_state() {
    let b = Bundle::new();
    let seen = b.path.join("seen");
    std::fs::create_dir(&seen).unwrap();
    let host_hook = |name: &str| {
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("cat > {d}/{name}.json; readlink /proc/self/ns/mnt > {d}/{name}.mnt", d = seen.display())]})
    };
    b.configure(
        &["sleep", "3600"],
        false,
        json!({"hooks": {
            "prestart": [host_hook("prestart")],
            "createRuntime": [host_hook("createRuntime")],
            "createContainer": [host_hook("createContainer")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/startContainer.json"]}],
            "poststart": [host_hook("poststart")],
            "poststop": [host_hook("poststop")]
        }}),
    );
    let id = common::unique_id("rtcli");
    let pidfile = b.path.join("init.pid");
    b.detached(&[
        "create",
        "--bundle",
        b.path.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = pid_file(&pidfile);
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let read = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(seen.join(format!("{name}.json")))
                .unwrap_or_else(|e| panic!("{name} hook did not run: {e}")),
        )
        .unwrap()
    };
    let mnt = |name: &str| {
        PathBuf::from(
            std::fs::read_to_string(seen.join(format!("{name}.mnt")))
                .unwrap()
                .trim(),
        )
    };
    for name in ["prestart", "createRuntime", "createContainer"] {
        let s = read(name);
        assert_eq!(s["status"], "creating", "{name}: {s}");
        assert_eq!(s["pid"], pid, "{name}: {s}");
        assert_eq!(s["id"], id.as_str());
    }
    assert_eq!(
        mnt("prestart"),
        host_mnt,
        "prestart runs in the runtime's namespace"
    );
    assert_eq!(mnt("createRuntime"), host_mnt);
    assert_ne!(
        mnt("createContainer"),
        host_mnt,
        "createContainer runs in the container's mount namespace"
    );
    assert!(
        !seen.join("poststart.json").exists(),
        "poststart before start"
    );
    b.ok(&["start", &id]);
    assert_eq!(read("poststart")["status"], "running");
    // startContainer ran inside the container (after pivot_root): its file is in the
    // container's /tmp, read through the init's root.
    let inside = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/startContainer.json"))
        .expect("startContainer hook output inside the container");
    let s: Value = serde_json::from_str(&inside).unwrap();
    assert_eq!(s["pid"], pid);
    b.ok(&["kill", &id, "KILL"]);
    reap(pid);
    b.ok(&["delete", &id]);
    assert_eq!(read("poststop")["status"], "stopped");

    // A failing prestart hook fails create and leaves nothing behind.
    b.configure(
        &["true"],
        false,
        json!({"hooks": {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no-way >&2; exit 1"]}]}}),
    );
    let id2 = common::unique_id("rtcli");
    let out = b.run(&["create", "--bundle", b.path.to_str().unwrap(), &id2]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("prestart hook") && err.contains("no-way"),
        "{err} / {:?} / {}",
        out.status,
        text(&out.stdout)
    );
    assert!(!b.state.join(&id2).exists());
    common::assert_no_process(&id2);
}

#[test]
fn exec_pause_update_and_events_on_a_running_container() {
    let b = Bundle::new();
    b.configure(&["sleep", "3600"], false, json!({}));
    let id = common::unique_id("rtcli");
    let pidfile = b.path.join("init.pid");
    b.detached(&[
        "run",
        "--detach",
        "--bundle",
        b.path.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = pid_file(&pidfile);
    assert_eq!(b.state_of(&id)["status"], "running");

    // exec from the command line: exit code, user, environment.
    let out = b.run(&["exec", &id, "sh", "-c", "exit 9"]);
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(
        b.ok(&["exec", "--user", "1000:1000", &id, "id", "-u"])
            .trim(),
        "1000"
    );
    assert_eq!(
        b.ok(&["exec", "-e", "FOO=bar", &id, "sh", "-c", "echo $FOO"])
            .trim(),
        "bar"
    );
    // exec --cgroup: `/` (runc's "the container's own") runs the process in the container's
    // cgroup, like the init; a sub-cgroup is refused by name.
    let init_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let own = format!("--cgroup=/pier/{id}");
    for flag in ["--cgroup=/", "--cgroup=memory,pids:/", own.as_str()] {
        assert_eq!(
            b.ok(&["exec", flag, &id, "cat", "/proc/self/cgroup"]),
            b.ok(&["exec", &id, "cat", "/proc/self/cgroup"]),
            "{flag}"
        );
    }
    assert!(init_cgroup.contains(&id), "{init_cgroup}");
    let out = b.run(&["exec", "--cgroup", "sub", &id, "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--cgroup sub"),
        "{}",
        text(&out.stderr)
    );
    // The process object's own limits and umask apply to the exec'd process.
    let limited = b.path.join("limited.json");
    std::fs::write(
        &limited,
        json!({"terminal": false, "user": {"uid": 0, "gid": 0, "umask": 63}, "cwd": "/",
               "env": ["PATH=/bin"], "args": ["sh", "-c", "ulimit -n; umask"],
               "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64}]})
        .to_string(),
    )
    .unwrap();
    let out = b.ok(&["exec", "--process", limited.to_str().unwrap(), &id]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["64", "0077"],
        "{out}"
    );
    // exec --process --detach --pid-file: the process runs in the container's PID namespace
    // after the runtime returned.
    let process = b.path.join("process.json");
    std::fs::write(
        &process,
        json!({"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
               "env": ["PATH=/bin"], "args": ["sleep", "3600"]})
        .to_string(),
    )
    .unwrap();
    let exec_pid_file = b.path.join("exec.pid");
    b.detached(&[
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--pid-file",
        exec_pid_file.to_str().unwrap(),
        &id,
    ]);
    let exec_pid = pid_file(&exec_pid_file);
    assert!(common::is_alive(exec_pid), "the exec'd process runs");
    assert_eq!(
        std::fs::read_link(format!("/proc/{exec_pid}/ns/pid")).unwrap(),
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        "in the container's PID namespace"
    );
    let ps: Vec<i32> = serde_json::from_str(&b.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(ps.contains(&exec_pid), "ps lists it: {ps:?}");

    // pause / resume: the freezer.
    b.ok(&["pause", &id]);
    assert_eq!(b.state_of(&id)["status"], "paused");
    let v2 = pier_oci::cgroups::detect_version().unwrap() == 2;
    let freezer = if v2 {
        b.cgroup_dir(&id, "memory").join("cgroup.freeze")
    } else {
        b.cgroup_dir(&id, "freezer").join("freezer.state")
    };
    let frozen = std::fs::read_to_string(&freezer).unwrap();
    assert!(
        frozen.trim() == "1" || frozen.trim() == "FROZEN",
        "{frozen}"
    );
    b.ok(&["resume", &id]);
    assert_eq!(b.state_of(&id)["status"], "running");

    // update from flags and from a resources document on stdin.
    b.ok(&["update", "--memory", "64m", &id]);
    let memory_file = if v2 {
        b.cgroup_dir(&id, "memory").join("memory.max")
    } else {
        b.cgroup_dir(&id, "memory").join("memory.limit_in_bytes")
    };
    assert_eq!(
        std::fs::read_to_string(&memory_file).unwrap().trim(),
        "67108864"
    );
    let out = common::run_with_timeout(
        &mut b.runtime(&["update", "--resources", "-", &id]),
        Some(br#"{"pids": {"limit": 50}}"#),
        common::COMMAND_TIMEOUT,
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pids_max = b.cgroup_dir(&id, "pids").join("pids.max");
    assert_eq!(std::fs::read_to_string(&pids_max).unwrap().trim(), "50");

    // events --stats: runc's JSON.
    let ev: Value = serde_json::from_str(b.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 67108864);
    assert_eq!(ev["data"]["pids"]["limit"], 50);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 2);
    assert!(ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);

    // kill --all reaches the exec'd process too; delete refuses a running container.
    let refused = b.run(&["delete", &id]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("not stopped"));
    b.ok(&["kill", "--all", &id, "KILL"]);
    // A PID namespace's init ends only once every process of the namespace is reaped: the
    // exec'd process (ours since its runtime left) first.
    reap(exec_pid);
    reap(pid);
    b.ok(&["delete", &id]);
    assert!(!b.state.join(&id).exists());
}

#[test]
fn features_spec_and_the_runc_name() {
    let b = Bundle::new();
    let features: Value = serde_json::from_str(&b.ok(&["features"])).unwrap();
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert_eq!(features["hooks"].as_array().unwrap().len(), 6);
    let spec_dir = tempfile::tempdir().unwrap();
    b.ok(&["spec", "--bundle", spec_dir.path().to_str().unwrap()]);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(spec_dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["hostname"], "pier");
    assert!(
        !b.run(&["spec", "--bundle", spec_dir.path().to_str().unwrap()])
            .status
            .success(),
        "spec does not overwrite a config.json"
    );
    // Under a runc name the whole command line is runc's.
    let link = spec_dir.path().join("pier-runc");
    std::os::unix::fs::symlink(PIER, &link).unwrap();
    b.configure(&["sh", "-c", "echo via-the-runc-name"], false, json!({}));
    let id = common::unique_id("rtcli");
    let out = common::run_with_timeout(
        Command::new(&link).arg("--root").arg(&b.state).args([
            "run",
            "--bundle",
            b.path.to_str().unwrap(),
            &id,
        ]),
        None,
        common::COMMAND_TIMEOUT,
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "via-the-runc-name\n");
    assert!(!b.state.join(&id).exists(), "run deleted the container");
    // A command that cannot start: runc's words, which clients and their users look for.
    b.configure(&["no-such-command"], false, json!({}));
    let id = common::unique_id("rtcli");
    let out = common::run_with_timeout(
        Command::new(&link).arg("--root").arg(&b.state).args([
            "create",
            "--bundle",
            b.path.to_str().unwrap(),
            &id,
        ]),
        None,
        common::COMMAND_TIMEOUT,
    )
    .unwrap();
    assert!(!out.status.success());
    // (stderr holds a logrus line, whose quotes are escaped)
    let err = text(&out.stderr);
    assert!(
        err.contains("runc create failed: unable to start container process: exec: ")
            && err.contains("no-such-command")
            && err.contains("executable file not found in $PATH"),
        "{err}"
    );
    assert!(
        !b.state.join(&id).exists(),
        "a failed create leaves nothing"
    );
    let out = b.run(&["exec", "no-such-container", "true"]);
    assert!(
        text(&out.stderr).contains("exec failed: container no-such-container does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pier_trace_times_each_start_up_phase_of_runtime_run() {
    let b = Bundle::new();
    b.configure(&["echo", "hi"], false, json!({}));
    let id = common::unique_id("trace");
    let out = common::run_with_timeout(
        b.runtime(&["run", "--bundle", b.path.to_str().expect("utf-8"), &id])
            .env("PIER_TRACE", "1"),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier runtime run");
    assert!(out.status.success(), "run failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n", "the trace stays off stdout");
    let phases = common::traced_phases(&text(&out.stderr));
    common::assert_each_phase_once(
        &phases,
        &[
            "sealed re-exec",
            "config",
            "cgroup create",
            "clone",
            "init: mounts",
            "init: pivot_root",
            "init: wait for cgroup placement",
            "create",
            "start (until execve)",
            "command runs",
            "delete",
        ],
    );
    assert!(
        text(&out.stderr)
            .lines()
            .all(|l| l.starts_with("pier-trace: ")),
        "only trace lines on stderr: {}",
        text(&out.stderr)
    );
    // On v2 the init is born in its cgroup (clone3 with CLONE_INTO_CGROUP); on v1 it moves
    // itself in through `tasks` (no RCU grace period): never a write to cgroup.procs.
    let v2 = pier_oci::cgroups::detect_version().expect("cgroup version") == 2;
    assert!(
        !phases
            .iter()
            .any(|p| p == "cgroup placement (cgroup.procs)"),
        "cgroup v{}: {phases:?}",
        if v2 { 2 } else { 1 }
    );
    assert_eq!(
        phases.iter().any(|p| p == "init: cgroup placement (tasks)"),
        !v2,
        "cgroup v{}: {phases:?}",
        if v2 { 2 } else { 1 }
    );

    // Unset: not one line.
    let id = common::unique_id("quiet");
    let out = common::run_with_timeout(
        b.runtime(&["run", "--bundle", b.path.to_str().expect("utf-8"), &id])
            .env_remove("PIER_TRACE"),
        None,
        common::COMMAND_TIMEOUT,
    )
    .expect("pier runtime run");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "",
        "nothing on stderr without PIER_TRACE"
    );
}

/// The init makes its mounts while pier places it in its cgroup: the command must still start
/// inside it (its own cgroup namespace rooted there, its limit visible and in force), and
/// without a cgroup namespace its /proc/self/cgroup names the container's cgroup.
#[test]
fn the_command_starts_in_its_cgroup_under_its_limit() {
    let b = Bundle::new();
    let limit = 48 * 1024 * 1024;
    let show = "cat /proc/self/cgroup; echo limit; \
                cat /sys/fs/cgroup/memory.max 2>/dev/null || \
                cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    b.configure(
        &["sh", "-c", show],
        false,
        json!({
            "mounts": mounts,
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "network"}],
                "resources": {"memory": {"limit": limit}}
            }
        }),
    );
    let id = common::unique_id("placed");
    let out = b.ok(&["run", "--bundle", b.path.to_str().expect("utf-8"), &id]);
    let (cgroups, shown_limit) = out.split_once("limit\n").expect("two parts");
    assert!(!cgroups.trim().is_empty(), "no /proc/self/cgroup: {out}");
    for line in cgroups.lines() {
        // Placed after the unshare, the path would lead out of the namespace's root ("/..").
        assert!(
            line.ends_with(":/") || line.split(':').nth(1) == Some("name=systemd"),
            "inside its cgroup namespace the container's cgroup is the root: {line:?} in {out}"
        );
    }
    assert_eq!(
        shown_limit.trim(),
        limit.to_string(),
        "the cgroup mounted is the container's, with its limit: {out}"
    );

    // Without a cgroup namespace: the full path, the container's own cgroup.
    mounts.truncate(1);
    b.configure(
        &["cat", "/proc/self/cgroup"],
        false,
        json!({
            "mounts": mounts,
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}],
                "resources": {"memory": {"limit": limit}}
            }
        }),
    );
    let id = common::unique_id("placed");
    let out = b.ok(&["run", "--bundle", b.path.to_str().expect("utf-8"), &id]);
    // The memory hierarchy on v1 (a hybrid machine also has a "0::" line pier does not use).
    let memory_line = out
        .lines()
        .find(|l| l.split(':').nth(1) == Some("memory"))
        .or_else(|| out.lines().find(|l| l.starts_with("0::")))
        .unwrap_or_else(|| panic!("no memory or unified line: {out}"));
    assert!(
        memory_line.ends_with(&format!("/{id}")),
        "the command runs in the container's cgroup from the start: {memory_line:?}"
    );
}

/// What a path holds, for "nothing was created or grown here": absent, or its entries (to
/// depth 2) with their sizes.
fn snapshot(path: &Path) -> Option<Vec<(PathBuf, u64)>> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            let meta = e.metadata().ok();
            out.push((path.clone(), meta.as_ref().map_or(0, |m| m.len())));
            if depth > 0 && meta.is_some_and(|m| m.is_dir()) {
                walk(&path, depth - 1, out);
            }
        }
    }
    path.symlink_metadata().ok()?;
    let mut out = Vec::new();
    walk(path, 1, &mut out);
    out.sort();
    Some(out)
}

/// The runc entry point as Docker and containerd call it: a `pier-runc` made by `pier runtime
/// install-link` (a hard link, so a harness that resolves the path still reaches it under
/// that name) given only `--root R`. It runs the container as runc, and writes nothing
/// outside R: not in pier's root (even with $PIER_ROOT set), not in /var/lib/pier (its
/// events log, a `runtime/` directory), not in /run/pier or the default /run/pier-runtime.
#[test]
fn the_runc_entry_point_keeps_its_name_and_writes_only_under_its_root() {
    let b = Bundle::new();
    // Beside the binary: a hard link must stay on its filesystem.
    let bin_dir = tempfile::Builder::new()
        .prefix("pier-runc-link-")
        .tempdir_in(Path::new(PIER).parent().unwrap())
        .unwrap();
    let link = bin_dir.path().join("pier-runc");
    let out = b.run(&[
        "install-link",
        bin_dir.path().join("pier-link").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "a name without runc is refused");
    b.ok(&["install-link", link.to_str().unwrap()]);
    assert_eq!(
        link.canonicalize().unwrap(),
        link,
        "a hard link resolves to itself"
    );
    b.configure(&["sh", "-c", "echo via-the-link"], false, json!({}));
    let elsewhere = [
        PathBuf::from("/var/lib/pier"),
        PathBuf::from("/run/pier"),
        PathBuf::from("/run/pier-runtime"),
        b.pier.root().to_path_buf(),
    ];
    let before: Vec<_> = elsewhere.iter().map(|p| snapshot(p)).collect();
    let root = b.path.parent().unwrap().join("client-root");
    let id = common::unique_id("rtcli");
    let out = common::run_with_timeout(
        Command::new(&link)
            .env("PIER_ROOT", b.pier.root())
            .arg("--root")
            .arg(&root)
            .args(["run", "--bundle", b.path.to_str().unwrap(), &id]),
        None,
        common::COMMAND_TIMEOUT,
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "via-the-link\n");
    assert!(root.is_dir(), "the state went under --root");
    assert!(!root.join(&id).exists(), "run deleted the container");
    for (path, was) in elsewhere.iter().zip(before) {
        assert_eq!(
            snapshot(path),
            was,
            "the runtime entry point wrote in {}",
            path.display()
        );
    }
}

/// A startContainer hook without `env` runs with the command's environment (as under runc:
/// it runs in the container just before the command), a runtime hook without `env` with the
/// runtime's; and a startContainer hook that fails makes `start` fail (the command never
/// runs), with the hook's words.
#[test]
fn start_container_hooks_get_the_process_env_and_their_failure_fails_start() {
    let b = Bundle::new();
    let seen = b.path.join("seen");
    std::fs::create_dir(&seen).unwrap();
    b.configure(
        &["sleep", "3600"],
        false,
        json!({"hooks": {
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "env > /tmp/hook.env"]}],
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c",
                format!("env > {}/poststart.env", seen.display())]}]
        }}),
    );
    let id = common::unique_id("rtcli");
    let pidfile = b.path.join("init.pid");
    b.detached(&[
        "create",
        "--bundle",
        b.path.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = pid_file(&pidfile);
    let mut runtime = b.runtime(&["start", &id]);
    runtime.env("PIER_TEST_RUNTIME_ENV", "from-the-runtime");
    let out = common::run_with_timeout(&mut runtime, None, common::COMMAND_TIMEOUT).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inside = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/hook.env"))
        .expect("the startContainer hook's environment");
    assert!(
        inside.lines().any(|l| l == "TERM=xterm")
            && inside.lines().any(|l| l == "PATH=/bin:/usr/bin"),
        "the process's environment: {inside}"
    );
    let poststart = std::fs::read_to_string(seen.join("poststart.env")).unwrap();
    assert!(
        poststart
            .lines()
            .any(|l| l == "PIER_TEST_RUNTIME_ENV=from-the-runtime"),
        "the runtime's environment: {poststart}"
    );
    b.ok(&["kill", &id, "KILL"]);
    reap(pid);
    b.ok(&["delete", &id]);

    // A failing startContainer hook: start fails naming it; the command did not run.
    b.configure(
        &["sh", "-c", "echo ran > /tmp/ran; sleep 100"],
        false,
        json!({"hooks": {"startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "echo hook-says-no >&2; exit 3"]}]}}),
    );
    let id = common::unique_id("rtcli");
    b.detached(&[
        "create",
        "--bundle",
        b.path.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = pid_file(&pidfile);
    let out = b.run(&["start", &id]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "start succeeded: {err}");
    assert!(
        err.contains("startContainer hook") && err.contains("hook-says-no"),
        "{err}"
    );
    reap(pid);
    assert_ne!(b.state_of(&id)["status"], "running");
    b.ok(&["delete", "--force", &id]);
    common::assert_no_process(&id);
}

/// `start` waits for the command's execve (the exec FIFO's end): with pier's `--init` reaper,
/// which keeps running as PID 1, it still returns as soon as the command runs.
#[test]
fn start_returns_once_the_command_runs_under_the_init_reaper() {
    let b = Bundle::new();
    b.configure(&["sleep", "3600"], false, json!({}));
    let id = common::unique_id("rtcli");
    let pidfile = b.path.join("init.pid");
    b.detached(&[
        "create",
        "--init",
        "--bundle",
        b.path.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = pid_file(&pidfile);
    let t = std::time::Instant::now();
    b.ok(&["start", &id]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "start took {:?}",
        t.elapsed()
    );
    assert_eq!(b.state_of(&id)["status"], "running");
    b.ok(&["kill", &id, "KILL"]);
    reap(pid);
    b.ok(&["delete", &id]);
    common::assert_no_process(&id);
}
