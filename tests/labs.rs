//! The labs' CI cycle, for every lab: `pier lab start` then `check` must FAIL (a checker that
//! cannot fail is a defect), the reference `solution.sh` runs, `check` must pass, and `reset`
//! must leave nothing behind. Each lab runs with its own state directory, so labs run in
//! parallel (except those publishing fixed host ports). Every lab runs: none is skipped.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_testkit::prereq;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

/// Labs with fixed host ports (`Lab::host_ports`) run one at a time: each state directory has
/// its own default bridge, but a host port can be held by one lab only.
static HOST_PORT_LABS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HOST_PORT_LABS.lock().unwrap_or_else(|e| e.into_inner())
}

fn pier() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pier"))
}

/// Runs `pier ARGS` (or a script) with the lab's state directory and pier first on PATH.
/// The credentials file (`DOCKER_CONFIG`) and the trusted registry CAs (`PIER_CERTS_D`) are
/// the state directory's too, so lab 11's login and trust never reach the host's.
fn run(root: &Path, program: &Path, args: &[&str]) -> Output {
    let bin_dir = pier().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(program)
        .args(args)
        .env("PIER_ROOT", root)
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .env("PIER_CERTS_D", root.join("certs.d"))
        .env("PATH", path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Resets the lab even when the test fails half-way.
struct ResetGuard<'a> {
    root: &'a Path,
    n: u32,
}

impl Drop for ResetGuard<'_> {
    fn drop(&mut self) {
        let _ = run(self.root, &pier(), &["lab", "reset", &self.n.to_string()]);
    }
}

/// A temporary state directory whose default bridge network can be created: every state
/// directory other than /var/lib/pier gets a subnet derived from its path, and a bridge some
/// earlier run left on the host may already hold that subnet. On drop, `pier system prune`
/// removes the directory's bridge, so this test leaves none behind.
struct StateRoot {
    dir: tempfile::TempDir,
}

impl StateRoot {
    fn new() -> StateRoot {
        let routes = Command::new("ip")
            .args(["-4", "route", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let subnet = pier_engine::network::Options::for_root(
                dir.path(),
                std::path::Path::new(pier_engine::DEFAULT_ROOT),
            )
            .default_subnet;
            if !routes.lines().any(|l| l.starts_with(&format!("{subnet} "))) {
                return StateRoot { dir };
            }
        }
        panic!("no state directory with a free subnet after 50 tries");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for StateRoot {
    fn drop(&mut self) {
        let _ = run(self.path(), &pier(), &["system", "prune"]);
    }
}

fn cycle(n: u32) {
    let started = Instant::now();
    let lab = pier_labs::find(n).unwrap();
    let tmp = StateRoot::new();
    let root = tmp.path();
    let ctx = pier_labs::Ctx::open(root, &pier()).unwrap();
    let _serial = (!lab.host_ports.is_empty()).then(one_at_a_time);
    let _guard = ResetGuard { root, n };
    let ns = n.to_string();

    let o = run(root, &pier(), &["lab", "start", &ns]);
    assert!(o.status.success(), "lab {n}: start failed\n{}", text(&o));

    let o = run(root, &pier(), &["lab", "check", &ns]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "lab {n}: check must fail before the solution runs\n{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Score 0/"),
        "lab {n}: untouched start should score 0\n{}",
        text(&o)
    );

    assert_korean_reasons(root, n);

    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("labs")
        .join(lab.slug)
        .join("solution.sh");
    let o = run(root, Path::new("bash"), &[script.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "lab {n}: solution.sh failed\n{}",
        text(&o)
    );

    let o = run(root, &pier(), &["lab", "check", &ns]);
    assert!(
        o.status.success(),
        "lab {n}: check fails after the solution\n{}",
        text(&o)
    );

    let o = run(root, &pier(), &["lab", "reset", &ns]);
    assert!(o.status.success(), "lab {n}: reset failed\n{}", text(&o));
    let left: Vec<String> = ctx
        .engine()
        .containers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .filter(|name| name.starts_with(&lab.prefix()))
        .collect();
    assert!(
        left.is_empty(),
        "lab {n}: containers left after reset: {left:?}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&root.display().to_string()),
        "lab {n}: mounts left under {}",
        root.display()
    );
    eprintln!(
        "lab {n}: cycle passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn lab01_cycle() {
    cycle(1);
}
#[test]
fn lab02_cycle() {
    cycle(2);
}
#[test]
fn lab03_cycle() {
    cycle(3);
}
#[test]
fn lab04_cycle() {
    cycle(4);
}
#[test]
fn lab05_cycle() {
    cycle(5);
}
#[test]
fn lab06_cycle() {
    cycle(6);
}
#[test]
fn lab07_cycle() {
    cycle(7);
}
#[test]
fn lab08_cycle() {
    cycle(8);
}
#[test]
fn lab09_cycle() {
    cycle(9);
}
#[test]
fn lab10_cycle() {
    // `pier bench` needs the static payload. scripts/test.sh builds it first: cargo holds the
    // build lock while tests run, so `pier bench` cannot build it from inside this test.
    let target = pier().parent().unwrap().parent().unwrap().to_path_buf();
    // bench/build-payload.sh's output (the triple is pier_bench::payload::TARGET).
    let payload = target.join("x86_64-unknown-linux-gnu/release/pier-payload");
    let Some(_) = prereq::require(
        "the static bench payload (bench/build-payload.sh)",
        prereq::file(payload),
    ) else {
        return;
    };
    // And the harness program `pier bench` runs, from beside pier: built with the workspace
    // (`cargo test --workspace` builds it for pier-bench's own tests).
    let Some(_) = prereq::require(
        "the pier-bench program beside pier (cargo build -p pier-bench)",
        prereq::file(pier().with_file_name("pier-bench")),
    ) else {
        return;
    };
    cycle(10);
}
#[test]
fn lab11_cycle() {
    cycle(11);
}
#[test]
fn lab12_cycle() {
    cycle(12);
}
#[test]
fn lab13_cycle() {
    cycle(13);
}
#[test]
fn lab14_cycle() {
    if has_feature(14) {
        cycle(14);
    }
}
#[test]
fn lab15_cycle() {
    if has_feature(15) {
        cycle(15);
    }
}

/// A lab whose feature the `pier` binary lacks is pending: with a stand-in binary that knows
/// no command (`false`), labs 14 and 15 name what they need and `start` refuses them, saying
/// so; with this build, no lab misses anything.
#[test]
fn labs_needing_a_missing_feature_are_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let this_build = pier_labs::Ctx::open(tmp.path(), &pier()).unwrap();
    let without = pier_labs::Ctx::open(tmp.path(), Path::new("/bin/false")).unwrap();
    for lab in pier_labs::all() {
        assert!(
            lab.missing(&this_build).is_none(),
            "lab {} is pending in this build",
            lab.number
        );
    }
    for (n, needs) in [
        (14, "`pier run --restart/--health-cmd`"),
        (15, "`pier compose`"),
    ] {
        let lab = pier_labs::find(n).unwrap();
        assert_eq!(lab.missing(&without).map(|f| f.name), Some(needs));
        let refused = pier_labs::start(&without, &lab).unwrap_err().to_string();
        assert!(refused.contains(&format!("needs {needs}")), "{refused}");
    }
    assert!(pier_labs::find(13).unwrap().missing(&without).is_none());
}

/// `pier lab list` recomputes the score: a hand-edited progress.json that claims lab 1 done
/// (every task passed, no work on the machine) does not show it done, in either language.
#[test]
fn lab_list_recomputes_a_hand_edited_progress() {
    let tmp = StateRoot::new();
    let root = tmp.path();
    let total = pier_labs::find(1).unwrap().tasks.len();
    std::fs::create_dir_all(root.join("labs")).unwrap();
    let claim = serde_json::json!({
        "labs": {"1": {"started": true, "started_at": "2026-01-01T00:00:00Z",
                       "answers": {}, "score": [total, total]}}
    });
    std::fs::write(root.join("labs/progress.json"), claim.to_string()).unwrap();
    for (lang, done) in [("en", "done"), ("ko", "완료")] {
        let o = Command::new(pier())
            .args(["lab", "list"])
            .env("PIER_ROOT", root)
            .env("PIER_LANG", lang)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some("1"))
            .unwrap_or_else(|| panic!("no line for lab 1\n{out}"));
        assert!(
            !line.trim_end().ends_with(done),
            "lab 1 shows as done from the file alone: {line:?}"
        );
        assert!(
            !line.contains(&format!("{total}/{total}")),
            "lab 1 shows the file's score: {line:?}"
        );
    }
}

/// Whether this build of pier has the feature lab `n` needs (`Lab::needs`). Without it the
/// lab is pending (`pier lab list` says so) and its tests are skipped, saying why; under CI a
/// skipped test fails.
fn has_feature(n: u32) -> bool {
    let lab = pier_labs::find(n).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ctx = pier_labs::Ctx::open(tmp.path(), &pier()).unwrap();
    let missing = lab.missing(&ctx).map(|f| f.name);
    let found = match missing {
        Some(name) => Err(format!(
            "this build of pier lacks {name}, so lab {n} is pending"
        )),
        None => Ok(()),
    };
    prereq::require(&format!("the feature lab {n} is about"), found).is_some()
}

/// Under `PIER_LANG=ko` every line a student sees from `pier lab check N` is Korean: each
/// reason a failed task gives was written in Korean on purpose (not an English reason, nor a
/// machine error in a Korean frame), and so is the hint pointer.
fn assert_korean_reasons(root: &Path, n: u32) {
    let o = Command::new(pier())
        .args(["lab", "check", &n.to_string()])
        .env("PIER_ROOT", root)
        .env("PIER_LANG", "ko")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("점수 0/"),
        "lab {n}: Korean score line\n{}",
        text(&o)
    );
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("✘ ") {
            continue;
        }
        let why = lines.next().unwrap_or_default().trim();
        assert!(
            pier_labs::text::has_hangul(why) && !why.contains(pier_labs::text::MACHINE_ERROR_KO),
            "lab {n}: a reason not written in Korean under PIER_LANG=ko: {why:?} (after {line:?})\n{out}"
        );
    }
}

/// Runs `pier ARGS` and returns stdout, asserting success.
fn pier_ok(root: &Path, args: &[&str]) -> String {
    let o = run(root, &pier(), args);
    assert!(o.status.success(), "pier {args:?} failed\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `pier lab check N`'s output, asserting it did NOT pass.
fn check_fails(root: &Path, n: u32) -> String {
    let o = run(root, &pier(), &["lab", "check", &n.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The mistakes the lab texts say the checker recognises get their specific hint.
#[test]
fn checker_names_common_mistakes() {
    let tmp = StateRoot::new();
    let root = tmp.path();
    let _g1 = ResetGuard { root, n: 1 };
    let _g2 = ResetGuard { root, n: 2 };
    let _g3 = ResetGuard { root, n: 3 };
    let _g4 = ResetGuard { root, n: 4 };

    // Lab 1: the name instead of the ID; a parent task not done yet.
    pier_ok(root, &["lab", "start", "1"]);
    let out = check_fails(root, 1);
    assert!(
        out.contains("parent failed: finish task sleeper first"),
        "{out}"
    );
    pier_ok(
        root,
        &[
            "run",
            "-d",
            "--name",
            "lab1-sleeper",
            "busybox",
            "sleep",
            "600",
        ],
    );
    pier_ok(root, &["lab", "answer", "1", "id", "lab1-sleeper"]);
    let out = check_fails(root, 1);
    assert!(out.contains("that is the container's name"), "{out}");

    // Lab 2: the PID inside instead of the host PID; the hostname not set.
    pier_ok(root, &["lab", "start", "2"]);
    pier_ok(
        root,
        &["run", "-d", "--name", "lab2-box", "busybox", "sleep", "600"],
    );
    pier_ok(root, &["lab", "answer", "2", "pid", "1"]);
    let out = check_fails(root, 2);
    assert!(
        out.contains("not lab2 (remove it and run it again with --hostname lab2)"),
        "{out}"
    );
    assert!(out.contains("1 is the PID inside the container"), "{out}");

    // Lab 3: a quota of a whole CPU instead of half.
    pier_ok(root, &["lab", "start", "3"]);
    pier_ok(
        root,
        &[
            "run", "-d", "--name", "lab3-cpu", "--cpus", "1", "busybox", "sleep", "600",
        ],
    );
    let out = check_fails(root, 3);
    assert!(out.contains("allows 1.00 CPU, not 0.5"), "{out}");

    // Lab 4: merged_dir instead of upper_dir.
    pier_ok(root, &["lab", "start", "4"]);
    pier_ok(
        root,
        &[
            "run",
            "--name",
            "lab4-writer",
            "busybox",
            "sh",
            "-c",
            "echo hi > /hello.txt",
        ],
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&pier_ok(root, &["inspect", "lab4-writer"])).unwrap();
    let merged = inspect[0]["merged_dir"].as_str().unwrap().to_string();
    pier_ok(root, &["lab", "answer", "4", "upper", &merged]);
    let out = check_fails(root, 4);
    assert!(out.contains("that is merged_dir"), "{out}");
    assert!(out.contains("no whiteout for /bin/vi"), "{out}");

    // An answer key the lab does not ask for is refused.
    let o = run(root, &pier(), &["lab", "answer", "4", "pid", "1"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("it asks for: upper"),
        "{}",
        text(&o)
    );
}

// ---- Shortcuts: for each task the issue named as weak, the cheapest way to pass it without
// doing the step (type a plausible number, write the file from the host, answer without
// provoking the event, point at someone else's file) must fail that task.

/// Lab `n`, started in a state directory of its own; reset (then the directory pruned) when
/// dropped, even if the test fails half-way.
struct Started {
    tmp: StateRoot,
    n: u32,
}

impl Started {
    fn new(n: u32) -> Started {
        let tmp = StateRoot::new();
        pier_ok(tmp.path(), &["lab", "start", &n.to_string()]);
        Started { tmp, n }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `pier ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        pier_ok(self.root(), args)
    }

    /// `pier run --name NAME [FLAGS] busybox sh -c SCRIPT`, whatever its exit code.
    fn sh(&self, name: &str, flags: &[&str], script: &str) -> Output {
        let mut args = vec!["run", "--name", name];
        args.extend_from_slice(flags);
        args.extend(["busybox", "sh", "-c", script]);
        run(self.root(), &pier(), &args)
    }

    /// A field of `pier inspect NAME`.
    fn inspect(&self, name: &str, field: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0][field].as_str().unwrap().to_string()
    }

    /// The lab's directory (`pier lab dir N`).
    fn dir(&self) -> PathBuf {
        PathBuf::from(self.ok(&["lab", "dir", &self.n.to_string()]).trim())
    }

    fn answer(&self, key: &str, value: &str) {
        self.ok(&["lab", "answer", &self.n.to_string(), key, value]);
    }

    /// `pier lab check N`'s output, whatever the score.
    fn check(&self) -> String {
        let o = run(self.root(), &pier(), &["lab", "check", &self.n.to_string()]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = run(self.root(), &pier(), &["lab", "reset", &self.n.to_string()]);
    }
}

/// What `pier lab check` said about task `id`: `Ok(note)` if it passed, `Err(why)` if not.
fn task(out: &str, id: &str) -> Result<String, String> {
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        let (passed, rest) = match (line.strip_prefix("✔ "), line.strip_prefix("✘ ")) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => continue,
        };
        if rest.split_whitespace().next() != Some(id) {
            continue;
        }
        return if passed {
            Ok(rest.to_string())
        } else {
            Err(lines.next().unwrap_or_default().trim().to_string())
        };
    }
    panic!("no task {id} in the report:\n{out}");
}

/// Asserts that task `id` failed and its reason contains `why`.
fn assert_fails(out: &str, id: &str, why: &str) {
    match task(out, id) {
        Err(reason) => assert!(
            reason.contains(why),
            "task {id} failed, but not because {why:?}: {reason:?}\n{out}"
        ),
        Ok(note) => panic!("task {id} passed ({note}) but should fail ({why})\n{out}"),
    }
}

/// Asserts that task `id` passed.
fn assert_passes(out: &str, id: &str) {
    if let Err(why) = task(out, id) {
        panic!("task {id} should pass: {why}\n{out}");
    }
}

const SERVE_BIG: &str = "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=100 2>/dev/null";

/// Lab 1: the image's ID is not the container's.
#[test]
fn lab01_image_id_is_not_the_container_id() {
    let lab = Started::new(1);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab1-sleeper",
        "busybox",
        "sleep",
        "600",
    ]);
    let image: serde_json::Value =
        serde_json::from_str(&lab.ok(&["image", "inspect", "busybox"])).unwrap();
    let image_id = image[0]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    lab.answer("id", &image_id[..12]);
    assert_fails(&lab.check(), "id", "is not lab1-sleeper's ID");
}

/// Lab 2: a PID 1 that was never sent SIGTERM, or was killed without one, does not pass the
/// signal tasks; a container that merely prints "caught SIGTERM" does not pass `trap`.
#[test]
fn lab02_signals_must_be_sent() {
    let lab = Started::new(2);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab2-init",
        "busybox",
        "sleep",
        "600",
    ]);
    let out = lab.check();
    assert_fails(&out, "sigterm", "no SIGTERM sent to lab2-init");
    assert!(
        out.contains("parent failed: finish task sigterm first"),
        "{out}"
    );
    // Straight to SIGKILL: the container ended, but the experiment was skipped.
    lab.ok(&["kill", "-s", "KILL", "lab2-init"]);
    lab.ok(&["wait", "lab2-init"]);
    assert_fails(&lab.check(), "sigterm", "no SIGTERM sent to lab2-init");
    // A fake: prints the line and exits 143 without any signal.
    lab.sh("lab2-trap", &[], "echo caught SIGTERM; exit 143");
    assert_fails(&lab.check(), "trap", "exists but is exited");
}

/// Lab 2, the shortcuts of issue 21: a script that prints "caught SIGTERM" itself (the word
/// `trap` in a comment, no handler) fails `trap`, whether it then exits or runs on, and so
/// does one with a handler that prints the line before any signal; a file touched in the
/// container's upper directory from the host fails `nsenter`, and so does a file in a `/tmp`
/// that is not the container's own tmpfs.
#[test]
fn lab02_trap_and_nsenter_need_the_real_mechanism() {
    let lab = Started::new(2);
    let pid_of = |name: &str| -> i32 {
        let v: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", name])).unwrap();
        v[0]["init"]["pid"].as_i64().unwrap() as i32
    };
    let fake = |script: &str| {
        let _ = run(lab.root(), &pier(), &["rm", "-f", "lab2-trap"]);
        lab.ok(&[
            "run",
            "-d",
            "--name",
            "lab2-trap",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        std::thread::sleep(std::time::Duration::from_secs(1));
        lab.ok(&["kill", "-s", "TERM", "lab2-trap"]);
        std::thread::sleep(std::time::Duration::from_secs(3));
        lab.check()
    };
    // The issue's fake: the line, then an exit; no handler ever ran.
    let out = fake("echo caught SIGTERM; sleep 2 # trap");
    assert_fails(&out, "trap", "exists but is exited");
    // The same, running on: the kernel says it has no SIGTERM handler.
    let out = fake("echo caught SIGTERM; while :; do sleep 1; done # trap");
    assert_fails(&out, "trap", "has no SIGTERM handler");
    // A handler (that prints nothing), and the line printed by the script before any signal.
    let out = fake("trap : TERM; echo caught SIGTERM; while :; do sleep 1; done");
    assert_fails(&out, "trap", "when no SIGTERM had just been sent");
    // The real handler passes (the cycle runs the text's command; this one is the same).
    let out = fake("trap 'echo caught SIGTERM' TERM; while :; do sleep 1; done");
    assert_passes(&out, "trap");

    // nsenter: the file touched from the host in the upper directory, under the tmpfs.
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab2-box",
        "--hostname",
        "lab2",
        "--tmpfs",
        "/tmp",
        "busybox",
        "sleep",
        "600",
    ]);
    let upper = PathBuf::from(lab.inspect("lab2-box", "upper_dir"));
    std::fs::create_dir_all(upper.join("tmp")).unwrap();
    std::fs::write(upper.join("tmp/nsenter-was-here"), "").unwrap();
    assert_fails(&lab.check(), "nsenter", "was written from the host");
    // Entered for real, but into a box whose /tmp is its writable layer (the host can write
    // there): it does not count either.
    lab.ok(&["rm", "-f", "lab2-box"]);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab2-box",
        "--hostname",
        "lab2",
        "busybox",
        "sleep",
        "600",
    ]);
    let pid = pid_of("lab2-box").to_string();
    let o = Command::new("nsenter")
        .args(["-t", &pid, "-a", "touch", "/tmp/nsenter-was-here"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_fails(&lab.check(), "nsenter", "is not a tmpfs");
}

/// Lab 3: the book's CPU figure typed for a container that does not spin, and a typed memory
/// figure far from what the cgroup charges, fail; a container that prints the error without
/// making the node fails `device`.
#[test]
fn lab03_typed_figures_and_a_faked_device_error_fail() {
    let lab = Started::new(3);
    // The quota is right, but nothing runs: the cgroup measures ~0% CPU, whatever the load.
    lab.ok(&[
        "run", "-d", "--name", "lab3-cpu", "--cpus", "0.5", "busybox", "sleep", "600",
    ]);
    lab.answer("cpu", "49.93");
    lab.answer("mem", "6MiB");
    lab.sh(
        "lab3-dev",
        &[],
        "echo 'mknod: head: /disk: Operation not permitted'; exit 1",
    );
    let out = lab.check();
    assert_passes(&out, "quota");
    assert_fails(&out, "stats", "points from what lab3-cpu uses");
    assert_fails(&out, "mem", "far from what lab3-cpu's cgroup charges");
    assert_fails(&out, "device", "no block device /disk");
}

/// Lab 3: the cgroup version is no longer a one-in-two guess: the answer is the file of
/// lab3-cpu's own cgroup (named by its ID) that holds its quota. The version alone, a
/// neighbour's container's file (another ID) and the other version's file name all fail.
#[test]
fn lab03_quota_file_cannot_be_guessed() {
    let lab = Started::new(3);
    lab.ok(&[
        "run", "-d", "--name", "lab3-cpu", "--cpus", "0.5", "busybox", "sleep", "600",
    ]);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab3-other",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "600",
    ]);
    let v2 = pier_oci::cgroups::detect_version().unwrap() == 2;
    let (file, other) = if v2 {
        ("cpu.max", "cpu.cfs_quota_us")
    } else {
        ("cpu.cfs_quota_us", "cpu.max")
    };
    let dir_of = |name: &str| -> PathBuf {
        let v: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", name])).unwrap();
        let key = if v2 { "dir" } else { "cpu" };
        fn find(v: &serde_json::Value, key: &str) -> Option<String> {
            match v {
                serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| match x {
                    serde_json::Value::String(s)
                        if k.split(',').any(|c| c == key) && s.starts_with("/sys") =>
                    {
                        Some(s.clone())
                    }
                    _ => find(x, key),
                }),
                serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, key)),
                _ => None,
            }
        }
        PathBuf::from(find(&v, key).unwrap())
    };
    for (guess, why) in [
        (
            if v2 {
                "v2".to_string()
            } else {
                "v1".to_string()
            },
            "is not the quota file",
        ),
        (
            dir_of("lab3-other").join(file).display().to_string(),
            "is not the quota file",
        ),
        (
            dir_of("lab3-cpu").join(other).display().to_string(),
            "the file of the other cgroup version",
        ),
    ] {
        lab.answer("quota-file", &guess);
        assert_fails(&lab.check(), "file", why);
    }
    lab.answer(
        "quota-file",
        dir_of("lab3-cpu").join(file).to_str().unwrap(),
    );
    assert_passes(&lab.check(), "file");
}

/// Lab 4: the upper directory is not the image's layer.
#[test]
fn lab04_upper_dir_is_not_the_image_layer() {
    let lab = Started::new(4);
    lab.sh(
        "lab4-writer",
        &[],
        "echo hi > /hello.txt; echo lab4user:x:4004:4004::/home:/bin/sh >> /etc/passwd",
    );
    // The copy's inode, not the image's file's.
    let upper = PathBuf::from(lab.inspect("lab4-writer", "upper_dir"));
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(upper.join("etc/passwd")).unwrap().ino()
    };
    lab.answer("passwd-inode", &ino.to_string());
    assert_fails(
        &lab.check(),
        "image",
        "upper directory, which holds the CHANGED file",
    );
    // The layer's path, which the text prints and which is the same on every machine, is
    // not the answer any more.
    let image: serde_json::Value =
        serde_json::from_str(&lab.ok(&["image", "inspect", "busybox"])).unwrap();
    lab.answer("passwd-inode", image[0]["LayerDirs"][0].as_str().unwrap());
    assert_fails(&lab.check(), "image", "is not an inode number");
}

/// Lab 4: the layer's changes written into lab4-writer's upper directory from the host (a new
/// file, a copy of /etc/passwd with the line, a whiteout made with mknod) fail: the kernel
/// changed those inodes after the container's run, which pier's event log bounds.
#[test]
fn lab04_changes_written_from_the_host_fail() {
    use std::os::unix::fs::MetadataExt;
    let lab = Started::new(4);
    let after_the_run = || std::thread::sleep(std::time::Duration::from_secs(2));
    // A container that changed nothing, and hello.txt written from the host.
    lab.sh("lab4-writer", &[], "true");
    let upper = PathBuf::from(lab.inspect("lab4-writer", "upper_dir"));
    after_the_run();
    std::fs::write(upper.join("hello.txt"), "hi\n").unwrap();
    assert_fails(&lab.check(), "newfile", "when lab4-writer was not running");

    // hello.txt for real; the copy-up and the whiteout faked from the host.
    lab.ok(&["rm", "lab4-writer"]);
    lab.sh("lab4-writer", &[], "echo hi > /hello.txt");
    let upper = PathBuf::from(lab.inspect("lab4-writer", "upper_dir"));
    after_the_run();
    let image: serde_json::Value =
        serde_json::from_str(&lab.ok(&["image", "inspect", "busybox"])).unwrap();
    let layer = PathBuf::from(image[0]["LayerDirs"][0].as_str().unwrap());
    let mut passwd = std::fs::read_to_string(layer.join("etc/passwd")).unwrap();
    passwd.push_str("lab4user:x:4004:4004::/home:/bin/sh\n");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/passwd"), passwd).unwrap();
    std::fs::create_dir_all(upper.join("bin")).unwrap();
    let o = Command::new("mknod")
        .arg(upper.join("bin/vi"))
        .args(["c", "0", "0"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::symlink_metadata(upper.join("bin/vi"))
            .unwrap()
            .rdev(),
        0
    );
    let out = lab.check();
    assert_passes(&out, "newfile");
    assert_fails(&out, "copyup", "when lab4-writer was not running");
    assert_fails(&out, "whiteout", "when lab4-writer was not running");
}

const LAB5_DOCKERFILE: &str = "FROM busybox\nCOPY hello.sh /app/hello.sh\nRUN chmod +x /app/hello.sh\nENV GREETING=Hello\nCMD [\"/app/hello.sh\"]\n";

/// Lab 5, started, with lab5-app:v1 built from the lab's Dockerfile; the entries of its
/// rootfs.diff_ids.
fn lab05_built() -> (Started, Vec<String>) {
    let lab = Started::new(5);
    let dir = lab.dir();
    std::fs::write(dir.join("Dockerfile"), LAB5_DOCKERFILE).unwrap();
    lab.ok(&["build", "-t", "lab5-app:v1", dir.to_str().unwrap()]);
    let v: serde_json::Value =
        serde_json::from_str(&lab.ok(&["image", "inspect", "lab5-app:v1"])).unwrap();
    let ids = v[0]["Config"]["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (lab, ids)
}

/// Lab 5: the layer count the text used to ask for (3, the same everywhere), busybox's layer
/// and RUN's layer are not COPY's layer; neither is COPY's layer from another start of the
/// lab (a neighbour's answer: `pier lab start` plants a random line in hello.sh, so each
/// start's COPY layer has its own digest). A command typed after the image prints the
/// greeting without the image's command running: `run` fails.
#[test]
fn lab05_copy_layer_is_this_starts_own() {
    let (lab, ids) = lab05_built();
    assert_eq!(ids.len(), 3, "{ids:?}");
    lab.answer("copy-layer", "3");
    let out = lab.check();
    assert_passes(&out, "image");
    assert_fails(&out, "layers", "not a count (ENV and CMD add no layer)");
    lab.answer("copy-layer", &ids[0]);
    assert_fails(&lab.check(), "layers", "that is busybox's layer");
    lab.answer("copy-layer", &ids[2]);
    assert_fails(&lab.check(), "layers", "made by a later step (RUN)");

    // A neighbour's COPY layer: the same Dockerfile, built after another start.
    let (other, other_ids) = lab05_built();
    drop(other);
    assert_ne!(ids[1], other_ids[1], "two starts made the same COPY layer");
    lab.answer("copy-layer", &other_ids[1]);
    assert_fails(&lab.check(), "layers", "is not a layer of lab5-app:v1");
    lab.answer("copy-layer", &ids[1][..19]);
    assert_passes(&lab.check(), "layers");

    // The greeting typed after the image instead of the image's command.
    lab.ok(&[
        "run",
        "--name",
        "lab5-run",
        "lab5-app:v1",
        "echo",
        "Hello from lab 5",
    ]);
    assert_fails(&lab.check(), "run", "instead of the image's own command");
}

/// Lab 6: a server outside the container does not count; a file that is not the 100 MB one
/// fails; a typed rate far from the checker's own download fails.
#[test]
fn lab06_measure_needs_the_containers_own_server() {
    let _serial = one_at_a_time();
    let lab = Started::new(6);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab6-bridge",
        "busybox",
        "sleep",
        "600",
    ]);
    let host = ["--network", "host"];
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab6-host",
        host[0],
        host[1],
        "busybox",
        "sleep",
        "600",
    ]);
    // The host-mode file served by ANOTHER container on the host network, not lab6-host.
    let other = format!("{SERVE_BIG} && httpd -f -p 8086 -h /www");
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab6-other",
        host[0],
        host[1],
        "busybox",
        "sh",
        "-c",
        &other,
    ]);
    // The bridge server serves a 1 MB file.
    let small = SERVE_BIG.replace("count=100", "count=1") + " && httpd -p 80 -h /www";
    lab.ok(&["exec", "lab6-bridge", "sh", "-c", &small]);
    lab.answer("bridge-mbps", "500");
    lab.answer("host-mbps", "700");
    let out = lab.check();
    assert_fails(&out, "measure", "not 100 MB");
    assert_fails(
        &out,
        "measure-host",
        "no process of lab6-host listens on port 8086",
    );
    // The right file, but a typed rate 1000x off.
    lab.ok(&["exec", "lab6-bridge", "sh", "-c", SERVE_BIG]);
    lab.answer("bridge-mbps", "0.5");
    assert_fails(
        &lab.check(),
        "measure",
        "too far from the checker's own downloads",
    );
}

/// Lab 6: the gateway (10.88.0.1 on every default install, printed in the text) is no longer
/// an answer; the host end of lab6-bridge's veth pair is, and it is read from the kernel:
/// the text's example name, the container's own `eth0`, and another container's veth fail.
#[test]
fn lab06_veth_is_the_containers_own() {
    let lab = Started::new(6);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab6-bridge",
        "busybox",
        "sleep",
        "600",
    ]);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab6-other",
        "busybox",
        "sleep",
        "600",
    ]);
    let o = run(
        lab.root(),
        &pier(),
        &["lab", "answer", "6", "gateway", "10.88.0.1"],
    );
    assert!(!o.status.success(), "{}", text(&o));
    lab.answer("veth", "pier72eb3ecfa1c");
    assert_fails(
        &lab.check(),
        "veth",
        "is not the host's end of lab6-bridge's eth0",
    );
    lab.answer("veth", "eth0");
    assert_fails(&lab.check(), "veth", "eth0 is the container's end");
    // The host end of a container's eth0: the host interface whose index is its @ifN.
    let host_end = |name: &str| {
        let link = lab.ok(&["exec", name, "ip", "-o", "link", "show", "eth0"]);
        let index = link.split_whitespace().nth(1).unwrap();
        let index = index.trim_end_matches(':').split_once("@if").unwrap().1;
        let host = Command::new("ip").args(["-o", "link"]).output().unwrap();
        String::from_utf8_lossy(&host.stdout)
            .lines()
            .find_map(|l| {
                let (i, rest) = l.split_once(": ")?;
                (i == index).then(|| rest.split(['@', ':']).next().unwrap().to_string())
            })
            .unwrap()
    };
    lab.answer("veth", &host_end("lab6-other"));
    assert_fails(
        &lab.check(),
        "veth",
        "is not the host's end of lab6-bridge's eth0",
    );
    lab.answer("veth", &host_end("lab6-bridge"));
    assert_passes(&lab.check(), "veth");
}

/// Lab 7: the error message typed without provoking the conflict fails; so does a message
/// that does not name the container holding the port.
#[test]
fn lab07_clash_needs_a_refused_start() {
    let _serial = one_at_a_time();
    let lab = Started::new(7);
    let page = "mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www";
    lab.ok(&[
        "run", "-d", "--name", "lab7-web", "-p", "8080:80", "busybox", "sh", "-c", page,
    ]);
    lab.answer(
        "error",
        "host port 0.0.0.0:8080/tcp is already published by pier container 0123456789ab",
    );
    assert_fails(
        &lab.check(),
        "clash",
        "shows no refused start of lab7-clash",
    );
    let o = lab.sh("lab7-clash", &["-d", "-p", "8080:80"], "httpd -f -p 80");
    assert!(
        !o.status.success(),
        "the clash must be refused\n{}",
        text(&o)
    );
    // The refusal happened, but the answer still names a made-up owner.
    assert_fails(
        &lab.check(),
        "clash",
        "names the container holding the port",
    );
}

/// Kills and reaps a process this test started, even if the test fails half-way.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lab 7: a web server on the host serving a copy of the lab page on port 8080, beside a
/// lab7-web that publishes nothing, fails `web`; answering lab7-web's port for lab7-any fails
/// `any`. The checker puts a file with a random name into the container's /www and fetches
/// it through the host port: only the container's own server has it.
#[test]
fn lab07_the_page_must_come_from_the_container() {
    let _serial = one_at_a_time();
    let lab = Started::new(7);
    let page = "mkdir -p /www && echo hello from lab7 > /www/index.html && httpd -f -p 80 -h /www";
    lab.ok(&[
        "run", "-d", "--name", "lab7-web", "busybox", "sh", "-c", page,
    ]);
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !run(
        lab.root(),
        &pier(),
        &["exec", "lab7-web", "test", "-f", "/www/index.html"],
    )
    .status
    .success()
    {
        assert!(Instant::now() < deadline, "lab7-web made no /www");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from lab7\n").unwrap();
    let host = Child(
        Command::new("busybox")
            .args(["httpd", "-f", "-p", "127.0.0.1:8080", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect("127.0.0.1:8080").is_err() {
        assert!(Instant::now() < deadline, "the host's httpd did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_fails(&lab.check(), "web", "but not from lab7-web");
    drop(host);

    // lab7-web published; lab7-any's port answered with lab7-web's.
    lab.ok(&["rm", "-f", "lab7-web"]);
    lab.ok(&[
        "run", "-d", "--name", "lab7-web", "-p", "8080:80", "busybox", "sh", "-c", page,
    ]);
    lab.ok(&[
        "run", "-d", "--name", "lab7-any", "-p", "80", "busybox", "sh", "-c", page,
    ]);
    lab.answer("port", "8080");
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = lab.check();
        if task(&out, "web").is_ok() {
            assert_fails(&out, "any", "but not from lab7-any");
            break;
        }
        assert!(Instant::now() < deadline, "lab7-web never served\n{out}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Lab 8: a log.txt written from the host fails `data` (and `gone`), whatever hostname it
/// names, even if a lab8-writer existed.
#[test]
fn lab08_file_written_from_the_host_fails() {
    let lab = Started::new(8);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(
        lab.dir().join("log.txt"),
        format!("written by {}\nwritten by 0123456789ab\n", host.trim()),
    )
    .unwrap();
    let out = lab.check();
    assert_fails(
        &out,
        "data",
        "no container lab8-writer with that hostname ran",
    );
    assert!(
        out.contains("parent failed: finish task data first"),
        "{out}"
    );
    // A lab8-writer that ran (and was removed) but did not write the file.
    lab.sh("lab8-writer", &[], "true");
    lab.ok(&["rm", "lab8-writer"]);
    assert_fails(
        &lab.check(),
        "data",
        "no container lab8-writer with that hostname ran",
    );
}

/// Lab 8: the issue's two shortcuts. A `notes.txt` touched in lab8-scratch's upper dir from
/// the host fails `scratch`; a line naming a real, removed lab8-writer, appended from the
/// host after that writer ended, fails `data` (and so `gone` and `reader`): the kernel's
/// ctime of each file says it changed after the container ended.
#[test]
fn lab08_host_touched_files_fail_by_their_ctime() {
    let lab = Started::new(8);
    let o = lab.sh("lab8-scratch", &[], "true");
    assert!(o.status.success(), "{}", text(&o));
    let upper = PathBuf::from(lab.inspect("lab8-scratch", "upper_dir"));
    std::fs::write(upper.join("notes.txt"), "draft\n").unwrap();
    let out = lab.check();
    assert_fails(&out, "scratch", "after lab8-scratch ended");

    let dir = lab.dir();
    let mount = format!("{}:/data", dir.display());
    let o = lab.sh("lab8-writer", &["-v", &mount], "true");
    assert!(o.status.success(), "{}", text(&o));
    let id = lab.inspect("lab8-writer", "id");
    lab.ok(&["rm", "lab8-writer"]);
    std::fs::write(dir.join("log.txt"), format!("written by {}\n", &id[..12])).unwrap();
    let out = lab.check();
    assert_fails(&out, "data", "when no lab8-writer it names was running");
    assert!(
        out.contains("parent failed: finish task data first"),
        "{out}"
    );

    // The same writer's line, written by the container itself, passes.
    std::fs::remove_file(dir.join("log.txt")).unwrap();
    let o = lab.sh(
        "lab8-writer",
        &["-v", &mount],
        "echo written by $(hostname) >> /data/log.txt",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_passes(&lab.check(), "data");
}

/// `pier run --name NAME [FLAGS] lab9-app COMMAND...` in lab 9, which must succeed.
fn lab09_app(lab: &Started, name: &str, flags: &[&str], command: &[&str]) {
    let mut args = vec!["run", "--name", name];
    args.extend_from_slice(flags);
    args.push("lab9-app");
    args.extend_from_slice(command);
    lab.ok(&args);
}

/// Lab 9: the image's name, or a container's ID, is not the image ID.
#[test]
fn lab09_image_name_is_not_its_id() {
    let lab = Started::new(9);
    let env_file = lab.dir().join("prod.env");
    std::fs::write(&env_file, "APP_MODE=prod\nAPP_PORT=80\n").unwrap();
    let print = "echo mode=$APP_MODE port=$APP_PORT";
    lab09_app(
        &lab,
        "lab9-dev",
        &["-e", "APP_MODE=dev", "-e", "APP_PORT=8080"],
        &["sh", "-c", print],
    );
    lab09_app(
        &lab,
        "lab9-prod",
        &["--env-file", env_file.to_str().unwrap()],
        &["sh", "-c", print],
    );
    let out = lab.check();
    assert_passes(&out, "dev");
    assert_passes(&out, "prod");
    lab.answer("image", "lab9-app");
    assert_fails(&lab.check(), "same", "that is the image's name");
    lab.answer("image", &lab.inspect("lab9-dev", "id"));
    assert_fails(&lab.check(), "same", "a container's ID");
}

/// Lab 9: the values the text used to print, the same on every machine, fail: busybox's
/// image ID (the text's) for `same`, busybox's PATH for `path`; so does another start's
/// lab9-app ID (a neighbour's answer), and a command that prints the values typed into it
/// instead of the environment's.
#[test]
fn lab09_answers_are_this_starts_own() {
    let lab = Started::new(9);
    // The greeting typed into the command: the right output, the environment unused.
    lab09_app(
        &lab,
        "lab9-dev",
        &["-e", "APP_MODE=dev", "-e", "APP_PORT=8080"],
        &["echo", "mode=dev", "port=8080"],
    );
    assert_fails(&lab.check(), "dev", "not values typed into the command");
    lab.ok(&["rm", "lab9-dev"]);
    let env_file = lab.dir().join("prod.env");
    std::fs::write(&env_file, "APP_MODE=prod\nAPP_PORT=80\n").unwrap();
    let print = "echo mode=$APP_MODE port=$APP_PORT";
    lab09_app(
        &lab,
        "lab9-dev",
        &["-e", "APP_MODE=dev", "-e", "APP_PORT=8080"],
        &["sh", "-c", print],
    );
    lab09_app(
        &lab,
        "lab9-prod",
        &["--env-file", env_file.to_str().unwrap()],
        &["sh", "-c", print],
    );
    let busybox: serde_json::Value =
        serde_json::from_str(&lab.ok(&["image", "inspect", "busybox"])).unwrap();
    lab.answer("image", busybox[0]["Id"].as_str().unwrap());
    assert_fails(&lab.check(), "same", "that is busybox's ID");
    let other = Started::new(9);
    let theirs: serde_json::Value =
        serde_json::from_str(&other.ok(&["image", "inspect", "lab9-app"])).unwrap();
    drop(other);
    let mine = lab.inspect("lab9-dev", "image_id");
    let theirs = theirs[0]["Id"].as_str().unwrap().to_string();
    assert_ne!(mine, theirs, "two starts built the same lab9-app");
    lab.answer("image", &theirs);
    assert_fails(&lab.check(), "same", "is not the ID of the image");
    lab.answer("image", &mine);
    assert_passes(&lab.check(), "same");

    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab9-live",
        "-e",
        "APP_MODE=live",
        "lab9-app",
        "sleep",
        "600",
    ]);
    lab.answer(
        "path",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    assert_fails(&lab.check(), "path", "that is busybox's PATH");
    let path = lab.ok(&["exec", "lab9-live", "sh", "-c", "echo $PATH"]);
    lab.answer("path", path.trim());
    assert_passes(&lab.check(), "path");
}

/// One row of a `summary.csv` whose samples all equal `median`.
fn summary_row(
    suite: &str,
    metric: &str,
    environment: &str,
    variant: &str,
    median: f64,
) -> pier_record::record::SummaryRow {
    pier_record::record::SummaryRow {
        suite: suite.into(),
        metric: metric.into(),
        unit: if suite == "cpu" { "GFLOPS" } else { "ms" }.into(),
        environment: environment.into(),
        variant: variant.into(),
        n: 5,
        median,
        min: median,
        max: median,
        ci_low: median,
        ci_high: median,
        ratio_to_native: None,
        ratio_ci_low: None,
        ratio_ci_high: None,
    }
}

/// Lab 10: the reference run in the repository is not the student's run; figures that are
/// plausible but not copied from the run fail; the VM and accelerator answers must match the
/// run. Uses a small run written here (summary.csv, environment.json, report.md), not a
/// real `pier bench`, which the cycle test runs.
#[test]
fn lab10_numbers_must_come_from_the_run() {
    let lab = Started::new(10);
    // The repository's reference run predates this lab's start.
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/latest/report.md");
    lab.answer("report", reference.to_str().unwrap());
    assert_fails(&lab.check(), "report", "before you started this lab");

    let dir = lab.dir().join("results/run");
    std::fs::create_dir_all(&dir).unwrap();
    let cpu = "dgemm_gflops_n256_t1";
    pier_record::record::write_summary(
        &dir.join("summary.csv"),
        &[
            summary_row("cpu", cpu, "native", "", 61.234),
            summary_row("cpu", cpu, "pier", "", 60.876),
            summary_row("cpu", cpu, "qemu-tcg", "", 0.2567),
            summary_row("startup", "launch_to_exit", "pier", "run", 40.0),
            summary_row("startup", "launch_to_exit", "pier", "run-bridge", 60.0),
        ],
    )
    .unwrap();
    let mut env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reference.with_file_name("environment.json")).unwrap(),
    )
    .unwrap();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    env["date"] = serde_json::Value::String(now.to_string());
    env["qemu_accelerator"] = serde_json::Value::String("tcg".into());
    std::fs::write(dir.join("environment.json"), env.to_string()).unwrap();
    std::fs::write(dir.join("report.md"), "# pier bench report\n").unwrap();
    lab.answer("report", dir.join("report.md").to_str().unwrap());
    // Written by hand, today, but no container of pier bench ran for it: refused. The bench's
    // state is looked for where PIER_BENCH_CACHE says; an empty cache here.
    let cache = tempfile::tempdir().unwrap();
    let check = || {
        let o = Command::new(pier())
            .args(["lab", "check", "10"])
            .env("PIER_ROOT", lab.root())
            .env("PIER_BENCH_CACHE", cache.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_fails(&check(), "report", "was not measured by pier bench");
    // From here on the figures: the bench's event log shows the 10 start-ups the summary
    // counts (5 + 5), as a real run leaves them.
    let root = cache.path().join("pier-root");
    std::fs::create_dir_all(&root).unwrap();
    let mut events = String::new();
    for i in 0..10 {
        let at = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
        events.push_str(&format!(
            "{{\"time\":\"{at}\",\"action\":\"die\",\"id\":\"{i:064}\",\"name\":\"b{i}\",\"image\":\"localhost/pier-bench-busybox:latest\",\"exit_code\":0}}\n"
        ));
    }
    std::fs::write(root.join("events.jsonl"), events).unwrap();
    // Plausible, not copied: a round GFLOPS figure, a start-up of 1 s, the reference run's
    // VM figure, the other accelerator.
    lab.answer("native-gflops", "60");
    lab.answer("startup-ms", "1000");
    lab.answer("vm-gflops", "0.226");
    lab.answer("accelerator", "kvm");
    let out = check();
    assert_passes(&out, "report");
    assert_fails(&out, "native", "none of the native GFLOPS medians");
    assert_fails(&out, "startup", "away from the report's pier run start-up");
    assert_fails(&out, "vm", "not a GFLOPS median of the VM");
    assert_fails(&out, "accel", "is not what this run used");
    // Copied from the run (as the report prints them), they pass; the native figure given
    // again as pier's does not.
    lab.answer("native-gflops", "61.23");
    lab.answer("container-gflops", "61.23");
    lab.answer("startup-ms", "75");
    lab.answer("vm-gflops", "0.257");
    lab.answer("accelerator", "tcg");
    let out = check();
    for id in ["native", "startup", "vm", "accel"] {
        assert_passes(&out, id);
    }
    assert_fails(&out, "container", "not in the pier column");
    lab.answer("container-gflops", "60.88");
    assert_passes(&check(), "container");
}

/// Lab 11: an untrusted CA or a wrong password passes nothing (trust and login are checked
/// in the files pier reads, certs.d and the credentials file); a push without the round trip (pull while pier still has the image) does not pass
/// `pull`; naming the layer that did travel fails `skipped`; running v2 is not a rollback.
#[test]
fn lab11_pull_must_fetch_and_rollback_must_run_v1() {
    let _serial = one_at_a_time();
    let lab = Started::new(11);
    let dir = lab.dir();
    // Untrusted, the registry's certificate is refused; trusted but anonymous, the
    // registry refuses. Neither passes a task.
    let err = run(
        lab.root(),
        &pier(),
        &["pull", "localhost:5000/lab11-app:v1"],
    );
    assert!(!err.status.success());
    // Not masked by the loopback fall back to plain HTTP (which this server answers 400).
    let said = String::from_utf8_lossy(&err.stderr);
    assert!(said.contains("certificate is not trusted"), "{said}");
    let out = lab.check();
    assert_fails(&out, "trust", "no certs.d directory holds the lab's ca.crt");
    let certs = lab.root().join("certs.d/localhost:5000");
    std::fs::create_dir_all(&certs).unwrap();
    // Another CA (a previous lab's) is not this one.
    std::fs::write(
        certs.join("ca.crt"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert_fails(&lab.check(), "trust", "no certs.d directory holds");
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap();
    let out = lab.check();
    assert_passes(&out, "trust");
    assert_fails(&out, "login", "has no login to localhost:5000");
    let login = |password: &str| {
        let mut c = Command::new(pier());
        c.args([
            "login",
            "-u",
            "student",
            "--password-stdin",
            "localhost:5000",
        ])
        .env("PIER_ROOT", lab.root())
        .env("DOCKER_CONFIG", lab.root().join("docker-config"))
        .env("PIER_CERTS_D", lab.root().join("certs.d"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(
        !login("not-the-password").status.success(),
        "a wrong password is refused"
    );
    assert_fails(&lab.check(), "login", "has no login");
    let password = std::fs::read_to_string(dir.join("password")).unwrap();
    let o = login(password.trim());
    assert!(o.status.success(), "{}", text(&o));
    assert_passes(&lab.check(), "login");
    let build = |version: &str, tag: &str| {
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM lab11-base\nRUN echo {version} > /version\nCMD [\"cat\", \"/version\"]\n"
            ),
        )
        .unwrap();
        lab.ok(&["build", "-t", tag, dir.to_str().unwrap()]);
        lab.ok(&["push", tag]);
    };
    build("v1", "localhost:5000/lab11-app:v1");
    // Pulled without removing it first: nothing travels.
    let pulled = lab.ok(&["pull", "localhost:5000/lab11-app:v1"]);
    let travelled = pulled
        .lines()
        .find_map(|l| l.strip_suffix(": Already exists"))
        .filter(|_| !pulled.contains(": Pull complete"))
        .map(str::to_string);
    assert!(
        travelled.is_some(),
        "a pull of a present image fetches nothing\n{pulled}"
    );
    let out = lab.check();
    assert_passes(&out, "push");
    assert_fails(
        &out,
        "pull",
        "the registry never sent lab11-app:v1's own layer",
    );
    // The round trip done, but the answer names the layer that was downloaded.
    lab.ok(&["rmi", "localhost:5000/lab11-app:v1"]);
    let pulled = lab.ok(&["pull", "localhost:5000/lab11-app:v1"]);
    let fetched = pulled
        .lines()
        .find_map(|l| l.strip_suffix(": Pull complete"))
        .expect("the own layer is pulled");
    lab.answer("layer", fetched);
    let out = lab.check();
    assert_passes(&out, "pull");
    assert_fails(&out, "skipped", "that one travelled");
    // v2 pushed, then v2 run under the rollback's name.
    build("v2", "localhost:5000/lab11-app:v2");
    lab.ok(&[
        "run",
        "--name",
        "lab11-rollback",
        "localhost:5000/lab11-app:v2",
    ]);
    let out = lab.check();
    assert_passes(&out, "v2");
    assert_fails(&out, "rollback", "ran v2");
    // v1 run, but from what pier still had: not pulled after v2 was pushed.
    lab.ok(&["rm", "lab11-rollback"]);
    lab.ok(&[
        "run",
        "--name",
        "lab11-rollback",
        "localhost:5000/lab11-app:v1",
    ]);
    assert_fails(
        &lab.check(),
        "rollback",
        "not pulled from the registry after v2",
    );
}

/// The layer digests (`sha256:...`) of image `name` in the state directory `root`.
fn layers(root: &Path, name: &str) -> Vec<String> {
    let ctx = pier_labs::Ctx::open(root, &pier()).unwrap();
    let image = ctx.image(name).unwrap();
    let manifest = ctx.engine().images().unwrap().manifest(&image).unwrap();
    manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect()
}

/// Lab 11's shortcuts: the layer digest the text prints (busybox's, the same on every machine)
/// or one from an earlier start's base image is not the layer this pull skipped; an image
/// built FROM busybox (whose layer the text shows) is not built on this start's base; a
/// "sent" line written into the registry's log by hand is not the registry's; and
/// the rollback run with a command of its own (`true`, exit 0) did not run v1's program.
#[test]
fn lab11_text_digest_and_a_foreign_command_fail() {
    let _serial = one_at_a_time();
    // A neighbour's answer: the base layer of another start (each start plants its own).
    let neighbour = Started::new(11);
    let theirs = layers(neighbour.root(), "lab11-base");
    drop(neighbour);
    let lab = Started::new(11);
    let ours = layers(lab.root(), "lab11-base");
    assert_ne!(theirs, ours, "two starts made the same base layer");
    let dir = lab.dir();
    let certs = lab.root().join("certs.d/localhost:5000");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap();
    let password = std::fs::read_to_string(dir.join("password")).unwrap();
    let mut login = Command::new(pier())
        .args([
            "login",
            "-u",
            "student",
            "--password-stdin",
            "localhost:5000",
        ])
        .env("PIER_ROOT", lab.root())
        .env("DOCKER_CONFIG", lab.root().join("docker-config"))
        .env("PIER_CERTS_D", lab.root().join("certs.d"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(login.stdin.take().unwrap(), "{}", password.trim()).unwrap();
    }
    assert!(login.wait().unwrap().success());
    let build = |from: &str, version: &str, tag: &str| {
        std::fs::write(
            dir.join("Dockerfile"),
            format!("FROM {from}\nRUN echo {version} > /version\nCMD [\"cat\", \"/version\"]\n"),
        )
        .unwrap();
        lab.ok(&["build", "-t", tag, dir.to_str().unwrap()]);
        lab.ok(&["push", tag]);
    };
    // Built on busybox, as the text used to say: its first layer is the one everybody has.
    // (Its RUN writes another version: a layer identical to the next build's would stay in
    // pier's store and the next pull would not fetch it.)
    build("busybox", "v0", "localhost:5000/lab11-app:v1");
    assert_fails(&lab.check(), "push", "this start's lab11-base");
    // Built on this start's base, removed and pulled back: the text's digest (busybox's,
    // which is no layer of this image) and busybox's real one both fail.
    build("lab11-base", "v1", "localhost:5000/lab11-app:v1");
    // Pushed but never pulled back: a line written into the registry's log by hand, saying
    // it sent the image's own layer, is not the registry's.
    let top = layers(lab.root(), "localhost:5000/lab11-app:v1")
        .pop()
        .unwrap();
    let forged = format!(
        "time=\"2026-11-27T15:36:36.5Z\" level=info msg=\"response completed\" http.request.host=\"localhost:5000\" http.request.method=GET http.request.uri=\"/v2/lab11-app/blobs/{top}\" http.response.status=200\n"
    );
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("registry.log"))
        .unwrap();
    std::io::Write::write_all(&mut log, forged.as_bytes()).unwrap();
    drop(log);
    assert_fails(&lab.check(), "pull", "the registry never sent");
    // Nor is a log put in the registry's log's place.
    let real = std::fs::read_to_string(dir.join("registry.log")).unwrap();
    std::fs::remove_file(dir.join("registry.log")).unwrap();
    std::fs::write(dir.join("registry.log"), format!("{real}{forged}")).unwrap();
    assert_fails(&lab.check(), "pull", "the registry never sent");
    lab.ok(&["rmi", "localhost:5000/lab11-app:v1"]);
    let pulled = lab.ok(&["pull", "localhost:5000/lab11-app:v1"]);
    let skipped = pulled
        .lines()
        .find_map(|l| l.strip_suffix(": Already exists"))
        .expect("the base layer is not pulled")
        .to_string();
    assert!(
        ours[0].contains(&skipped),
        "{skipped} is not lab11-base's layer"
    );
    let busybox = layers(lab.root(), "busybox");
    for guess in [
        "e60b7a8b7d68",
        "5d1f3c0a9e42",
        &busybox[0][7..19],
        &theirs[0][7..19],
    ] {
        lab.answer("layer", guess);
        assert_fails(&lab.check(), "skipped", "is not a layer of lab11-app:v1");
    }
    lab.answer("layer", &skipped);
    assert_passes(&lab.check(), "skipped");
    // The rollback: v2 pushed, v1 pulled again, then run with `true` instead of its command.
    build("lab11-base", "v2", "localhost:5000/lab11-app:v2");
    lab.ok(&["rmi", "localhost:5000/lab11-app:v1"]);
    lab.ok(&["pull", "localhost:5000/lab11-app:v1"]);
    lab.ok(&[
        "run",
        "--name",
        "lab11-rollback",
        "localhost:5000/lab11-app:v1",
        "true",
    ]);
    assert_fails(&lab.check(), "rollback", "instead of v1's own command");
}

/// Lab 12: the init's PID is not the monitor's; a rootfs not exported from lab12-export
/// (its marker typed from the container's ID) fails; state files written by hand, with no lifecycle in the event log, fail.
#[test]
fn lab12_states_need_the_lifecycle() {
    let lab = Started::new(12);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-box",
        "busybox",
        "sleep",
        "600",
    ]);
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", "lab12-box"])).unwrap();
    let init = v[0]["init"]["pid"].as_i64().unwrap().to_string();
    lab.answer("monitor", &init);
    assert_fails(
        &lab.check(),
        "monitor",
        "is lab12-box's init (sleep) itself",
    );
    // A rootfs copied from the image's layer, with a made-up marker; and states typed by hand.
    let dir = lab.dir();
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    std::fs::copy("/bin/busybox", bundle.join("rootfs/bin/sh")).unwrap();
    std::fs::write(bundle.join("rootfs/exported-from"), "0123456789ab\n").unwrap();
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.2.0","process":{"args":["sleep","3600"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"}}"#,
    )
    .unwrap();
    lab.sh(
        "lab12-export",
        &[],
        "hostname > /exported-from; cat /proc/sys/kernel/random/uuid >> /exported-from",
    );
    assert_fails(&lab.check(), "bundle", "is not the file lab12-export wrote");
    // The container's ID, read in pier ps and typed by hand, is not its file either.
    let id = lab.inspect("lab12-export", "id");
    std::fs::write(
        bundle.join("rootfs/exported-from"),
        format!("{}\n", &id[..12]),
    )
    .unwrap();
    assert_fails(&lab.check(), "bundle", "is not the file lab12-export wrote");
    std::fs::remove_file(bundle.join("rootfs/exported-from")).unwrap();
    lab.ok(&[
        "cp",
        "lab12-export:/exported-from",
        bundle.join("rootfs/exported-from").to_str().unwrap(),
    ]);
    let canonical = bundle.canonicalize().unwrap();
    for status in ["created", "running", "stopped"] {
        let state = serde_json::json!({
            "ociVersion": "1.2.0", "id": "lab12-oci", "status": status, "pid": 4242,
            "bundle": canonical,
        });
        std::fs::write(dir.join(format!("{status}.json")), state.to_string()).unwrap();
    }
    let out = lab.check();
    assert_passes(&out, "bundle");
    assert_fails(&out, "lifecycle", "has no create of lab12-oci");
}

/// Lab 12's socket task: the same two containers made with `pier run`, the sibling label
/// right, fail: only what came through the service's socket carries its mark.
#[test]
fn lab12_socket_needs_the_api() {
    let lab = Started::new(12);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-docker",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = lab.inspect("lab12-docker", "id");
    let label = format!("lab12.sibling={id}");
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-curl",
        "--label",
        &label,
        "busybox",
        "sleep",
        "600",
    ]);
    assert_fails(
        &lab.check(),
        "socket",
        "lab12-docker was not created through pier's socket",
    );
}

/// Lab 12's shortcuts: the blind guess `parent 1` (the usual adopter, the same on every
/// machine), and the chain with the monitor right but the adopter guessed wrong, fail; the
/// chain read from this machine's process tree passes. The socket task's label typed on a
/// `pier run` (`--label io.pier.api=1`) fails: the monitor is `pier run`'s, not the
/// service's.
#[test]
fn lab12_guessed_parent_and_typed_label_fail() {
    let lab = Started::new(12);
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-box",
        "busybox",
        "sleep",
        "600",
    ]);
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", "lab12-box"])).unwrap();
    let init = v[0]["init"]["pid"].as_i64().unwrap();
    let monitor = v[0]["monitor"]["pid"].as_i64().unwrap();
    lab.answer("monitor", &monitor.to_string());
    lab.answer("parent", "1");
    let out = lab.check();
    assert_passes(&out, "monitor");
    assert_fails(&out, "parent", "must start at lab12-box's init");
    lab.answer("parent", &format!("{init} {monitor} 4242 1"));
    assert_fails(
        &lab.check(),
        "parent",
        &format!("the parent of PID {monitor} is not 4242"),
    );
    // The real chain, read from /proc as ps would.
    let mut chain = vec![init];
    while *chain.last().unwrap() > 1 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", chain.last().unwrap())).unwrap();
        let ppid: i64 = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        chain.push(ppid);
    }
    let chain: Vec<String> = chain.iter().map(i64::to_string).collect();
    lab.answer("parent", &chain.join(" "));
    assert_passes(&lab.check(), "parent");
    // Both socket containers made by pier run, with the service's label typed by hand.
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-docker",
        "--label",
        "io.pier.api=1",
        "busybox",
        "sleep",
        "600",
    ]);
    let id = lab.inspect("lab12-docker", "id");
    let label = format!("lab12.sibling={id}");
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "lab12-curl",
        "--label",
        "io.pier.api=1",
        "--label",
        &label,
        "busybox",
        "sleep",
        "600",
    ]);
    assert_fails(
        &lab.check(),
        "socket",
        "lab12-docker's monitor is not one the service started",
    );
}

/// Lab 13's server as step 5 runs it (the lab's page on port 80), with `flags`.
fn lab13_web(lab: &Started, flags: &[&str]) {
    let page = "mkdir -p /www && echo hello from lab13 > /www/index.html && httpd -f -p 80 -h /www";
    let mut args = vec!["run", "-d", "--name", "lab13-web"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", page]);
    lab.ok(&args);
}

/// Lab 13: a printed refusal is not a refused unshare; a write without --read-only, the
/// broken image tagged as fixed, an unpublished server, and a job run straight with enough
/// memory (no OOM provoked) all fail.
#[test]
fn lab13_fixes_are_checked_by_their_effect() {
    let _serial = one_at_a_time();
    let lab = Started::new(13);
    lab.sh(
        "lab13-unshare",
        &[],
        "echo 'unshare: unshare(0x40000000): Operation not permitted'; exit 1",
    );
    lab.ok(&[
        "run",
        "--name",
        "lab13-ro",
        "busybox",
        "touch",
        "/etc/hacked",
    ]);
    let dir = lab.dir();
    lab.ok(&["build", "-t", "lab13-app:broken", dir.to_str().unwrap()]);
    lab.ok(&["tag", "lab13-app:broken", "lab13-app:fixed"]);
    lab13_web(&lab, &[]);
    lab.sh(
        "lab13-oom",
        &["--memory", "128m"],
        "head -c 48m /dev/zero > /dev/shm/data && echo done",
    );
    let out = lab.check();
    assert_fails(&out, "unshare", "should run busybox's unshare itself");
    assert_fails(&out, "readonly", "without --read-only");
    assert_fails(&out, "exec", "still not executable");
    assert_fails(&out, "port", "publishes nothing on host port 8013");
    assert_fails(&out, "oom", "no OOM kill of lab13-oom");
}

/// A host process the test started, killed when the test ends.
struct HostProcess(std::process::Child);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lab 13's shortcuts: a guessed CapEff, a `false` named like the command, a host web server
/// on the lab's port, and an image that only prints the line all fail; what decides is the
/// kernel (the live process's capability sets, the refusal it printed, the TCP table of the
/// container's network namespace) and the code `pier lab start` planted.
#[test]
fn lab13_shortcuts_fail() {
    let _serial = one_at_a_time();
    let Some(busybox) = prereq::require("busybox on the host", prereq::tool("busybox")) else {
        return;
    };
    let lab = Started::new(13);
    let dir = lab.dir();
    let capability = std::fs::read_to_string(dir.join("capability")).unwrap();
    let capability = capability.trim();

    // caps: the value the text used to show, with every capability dropped or with the one
    // this start chose.
    let nocap = |flags: &[&str]| {
        let _ = run(lab.root(), &pier(), &["rm", "-f", "lab13-nocap"]);
        let mut args = vec!["run", "-d", "--name", "lab13-nocap"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "sleep", "600"]);
        lab.ok(&args);
    };
    lab.answer("capeff", "0");
    nocap(&["--cap-drop", "ALL"]);
    assert_fails(&lab.check(), "caps", &format!("not {capability} alone"));
    nocap(&["--cap-drop", "ALL", "--cap-add", capability]);
    assert_fails(&lab.check(), "caps", "0 is not lab13-nocap's CapEff");

    // unshare and readonly: `false` given the words the check used to look for, and a
    // --read-only container whose /etc is a writable tmpfs.
    let _ = run(
        lab.root(),
        &pier(),
        &[
            "run",
            "--name",
            "lab13-unshare",
            "busybox",
            "false",
            "unshare",
        ],
    );
    let _ = run(
        lab.root(),
        &pier(),
        &[
            "run",
            "--name",
            "lab13-ro",
            "--read-only",
            "busybox",
            "false",
            "/etc/hacked",
        ],
    );
    let out = lab.check();
    assert_fails(&out, "unshare", "should run busybox's unshare itself");
    assert_fails(&out, "readonly", "should try busybox's touch /etc/hacked");
    lab.ok(&["rm", "lab13-ro"]);
    lab.ok(&[
        "run",
        "--name",
        "lab13-ro",
        "--read-only",
        "--tmpfs",
        "/etc",
        "busybox",
        "touch",
        "/etc/hacked",
    ]);
    assert_fails(&lab.check(), "readonly", "is on a mount of lab13-ro");

    // exec: an image that prints the line without the lab's script.
    let fake = tempfile::tempdir().unwrap();
    std::fs::write(
        fake.path().join("Dockerfile"),
        "FROM busybox\nCMD [\"echo\", \"lab13 app started\"]\n",
    )
    .unwrap();
    lab.ok(&[
        "build",
        "-t",
        "lab13-app:fixed",
        fake.path().to_str().unwrap(),
    ]);
    assert_fails(&lab.check(), "exec", "not /start.sh");
    // ... nor one that prints this start's code and only names the script.
    let script = std::fs::read_to_string(dir.join("start.sh")).unwrap();
    let line = script.lines().last().unwrap().trim_start_matches("echo ");
    std::fs::write(
        fake.path().join("Dockerfile"),
        format!("FROM busybox\nCMD [\"echo\", \"{line}\", \"/start.sh\"]\n"),
    )
    .unwrap();
    lab.ok(&[
        "build",
        "-t",
        "lab13-app:fixed",
        fake.path().to_str().unwrap(),
    ]);
    assert_fails(&lab.check(), "exec", "not /start.sh");

    // port: the lab's page served by the host itself on 127.0.0.1:8013, beside a lab13-web
    // container that publishes nothing, then beside one that publishes the port but serves
    // nothing.
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from lab13\n").unwrap();
    let _host = HostProcess(
        Command::new(busybox)
            .args(["httpd", "-f", "-p", "127.0.0.1:8013", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );
    lab13_web(&lab, &[]);
    let answered = (0..40).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        pier_labs::probe::http_get("127.0.0.1:8013".parse().unwrap())
            .is_ok_and(|r| r.contains("hello from lab13"))
    });
    assert!(
        answered,
        "the host's httpd does not answer on 127.0.0.1:8013"
    );
    assert_fails(&lab.check(), "port", "publishes nothing on host port 8013");
    // Published on another host address, the container leaves 127.0.0.1:8013 to the host's
    // server: what answers there is not lab13-web, whatever its page says.
    let addrs = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    let host_ip = addrs
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .expect("no global IPv4 address on the host");
    lab.ok(&["rm", "-f", "lab13-web"]);
    let elsewhere = format!("{host_ip}:8013:80");
    lab13_web(&lab, &["-p", &elsewhere]);
    assert_fails(
        &lab.check(),
        "port",
        "what answers on 127.0.0.1:8013 is not lab13-web",
    );

    // oom: the job run with enough memory, and its OOM kill written into pier's event log by
    // hand (the die line of that run, made to say oomKilled).
    lab.sh(
        "lab13-oom",
        &["--memory", "128m"],
        "head -c 48m /dev/zero > /dev/shm/data && echo done",
    );
    let log = pier_engine::container::events::EventLog::at(lab.root());
    let mut forged = log
        .read()
        .unwrap()
        .into_iter()
        .rfind(|e| e.name == "lab13-oom" && e.exit_code == Some(0))
        .unwrap();
    forged.oom_killed = true;
    forged.exit_code = Some(137);
    log.append(&forged).unwrap();
    assert_fails(&lab.check(), "oom", "the kernel's log (dmesg) reports none");
}

/// Lab 14: a script that only prints the line, a grace period other than the lab's, a typed
/// stop time, --init missing where it is needed (or present where it must not be), a
/// command that never fails, no restart policy, and a probe that never passed all fail.
#[test]
fn lab14_lifecycle_needs_the_signals_and_the_policies() {
    if !has_feature(14) {
        return;
    }
    let lab = Started::new(14);
    // `pier run -d --name NAME FLAGS busybox ARGS`.
    let detached = |name: &str, flags: &[&str], args: &[&str]| {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(flags);
        all.push("busybox");
        all.extend_from_slice(args);
        lab.ok(&all);
    };
    let sleeper = ["sleep", "3600"];
    let orphans = pier_labs::labs::lab14::ORPHANS;
    lab.sh("lab14-inside", &[], "echo PID 1 is still here");
    detached("lab14-pid1", &[], &sleeper);
    lab.ok(&["stop", "-t", "1", "lab14-pid1"]);
    detached("lab14-tini", &[], &sleeper);
    lab.ok(&["stop", "-t", "1", "lab14-tini"]);
    detached("lab14-zombies", &[], &sleeper);
    detached("lab14-reaped", &[], &["sh", "-c", orphans]);
    detached("lab14-flaky", &["--restart", "on-failure:3"], &["true"]);
    detached(
        "lab14-always",
        &["--restart", "on-failure"],
        &["sh", "-c", "sleep 1; echo bye"],
    );
    let probe = ["--health-cmd", "false", "--health-interval", "1s"];
    detached("lab14-web", &probe, &sleeper);
    lab.answer("stop-seconds", "30");
    std::thread::sleep(pier_testkit::time::scaled(std::time::Duration::from_secs(
        5,
    )));
    let out = lab.check();
    assert_fails(&out, "inside", "not the script of step 1");
    assert_fails(&out, "grace", "the SIGKILL came 1.");
    assert_fails(&out, "init-stop", "runs without --init");
    assert_fails(&out, "zombies", "not the program of step 4");
    assert!(
        out.contains("parent failed: finish task zombies first"),
        "{out}"
    );
    assert_fails(&out, "on-failure", "exited 0 once");
    assert_fails(&out, "always", "restart policy is on-failure");
    assert_fails(&out, "health", "never healthy");
    // The right grace period, but a typed time; orphans reaped by nobody under --init's name.
    let grace = std::fs::read_to_string(lab.dir().join("grace")).unwrap();
    lab.ok(&["rm", "lab14-pid1"]);
    detached("lab14-pid1", &[], &sleeper);
    lab.ok(&["stop", "-t", grace.trim(), "lab14-pid1"]);
    lab.ok(&["rm", "-f", "lab14-zombies"]);
    detached("lab14-zombies", &[], &["sh", "-c", orphans]);
    std::thread::sleep(pier_testkit::time::scaled(std::time::Duration::from_secs(
        3,
    )));
    let out = lab.check();
    assert_fails(&out, "grace", "is not what pier stop took");
    assert_passes(&out, "zombies");
    assert_fails(&out, "reaped", "runs without --init");
}

/// Lab 14's shortcuts. Containers only created, never run, with event lines written by hand
/// (as `pier events` shows them, or a sealed line of a container that ran, its ID and name
/// changed) pass none of the four tasks the log proves; the log keeps the lines, the checker
/// refuses them. Then the grace period the text shows (3 s): stopping with it fails, and so
/// does typing 3 after a stop with the grace period `pier lab start` chose.
#[test]
fn lab14_hand_written_events_and_the_text_s_grace_fail() {
    if !has_feature(14) {
        return;
    }
    let lab = Started::new(14);
    let create = |name: &str, flags: &[&str], args: &[&str]| {
        let mut all = vec!["create", "--name", name];
        all.extend_from_slice(flags);
        all.push("busybox");
        all.extend_from_slice(args);
        lab.ok(&all);
    };
    create("lab14-flaky", &["--restart", "on-failure:3"], &["true"]);
    create("lab14-pid1", &[], &["sleep", "3600"]);
    create("lab14-tini", &["--init"], &["sleep", "3600"]);
    create(
        "lab14-always",
        &["--restart", "always"],
        &["sh", "-c", "sleep 1; echo bye"],
    );
    // A container that really ran: its sealed `die` line is the template of the forgeries.
    lab.sh("lab14-real", &[], "exit 3");
    let log = lab.root().join("events.jsonl");
    let real: serde_json::Value = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "die" && e["name"] == "lab14-real")
        .unwrap();
    assert!(
        real["seal"].is_string() && real["init"]["start_time"].is_u64(),
        "{real}"
    );
    let t0 = std::time::SystemTime::now();
    let mut lines = Vec::new();
    let mut line = |name: &str, at: f64, action: &str, extra: serde_json::Value| {
        let mut e = real.clone();
        e["id"] = lab.inspect(name, "Id").into();
        e["name"] = name.into();
        e["time"] =
            pier_oci::time::rfc3339_nanos(t0 + std::time::Duration::from_secs_f64(at)).into();
        e["action"] = action.into();
        e.as_object_mut().unwrap().remove("exit_code");
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        lines.push(e.to_string());
    };
    use serde_json::json;
    for run in 0..4 {
        let at = f64::from(run);
        if run > 0 {
            line("lab14-flaky", at - 0.5, "restart", json!({}));
        }
        line("lab14-flaky", at, "start", json!({}));
        line("lab14-flaky", at + 0.1, "die", json!({"exit_code": 3}));
    }
    line("lab14-pid1", 0.0, "kill", json!({"signal": "SIGTERM"}));
    line("lab14-pid1", 3.0, "kill", json!({"signal": "SIGKILL"}));
    line("lab14-pid1", 3.01, "die", json!({"exit_code": 137}));
    line("lab14-tini", 0.0, "kill", json!({"signal": "SIGTERM"}));
    line("lab14-tini", 0.05, "die", json!({"exit_code": 143}));
    line("lab14-always", 1.0, "die", json!({"exit_code": 0}));
    line("lab14-always", 1.5, "restart", json!({}));
    // And lines as `pier events` prints them, without init or seal.
    line(
        "lab14-always",
        2.0,
        "restart",
        json!({"seal": null, "init": null}),
    );
    let mut text = std::fs::read_to_string(&log).unwrap();
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let shown = lab.ok(&["events", "--container", "lab14-flaky"]);
    assert!(
        shown.contains("restart"),
        "the lines are in the log: {shown}"
    );
    let out = lab.check();
    assert_fails(&out, "on-failure", "no restart of lab14-flaky");
    assert_fails(&out, "grace", "no SIGTERM sent to lab14-pid1");
    assert_fails(&out, "init-stop", "no SIGTERM sent to lab14-tini");
    assert_fails(&out, "always", "no restart of lab14-always");

    // The grace period of the text: 3 s is never the one `pier lab start` chose (4 to 9 s).
    let grace = std::fs::read_to_string(lab.dir().join("grace")).unwrap();
    let grace = grace.trim();
    assert!(
        grace.parse::<u64>().is_ok_and(|g| (4..=9).contains(&g)),
        "{grace}"
    );
    // A new lab14-pid1, stopped with `-t SECONDS`.
    let stopped_after = |seconds: &str| {
        lab.ok(&["rm", "lab14-pid1"]);
        lab.ok(&[
            "run",
            "-d",
            "--name",
            "lab14-pid1",
            "busybox",
            "sleep",
            "3600",
        ]);
        lab.ok(&["stop", "-t", seconds, "lab14-pid1"]);
    };
    stopped_after("3");
    lab.answer("stop-seconds", "3");
    assert_fails(&lab.check(), "grace", "the SIGKILL came 3.");
    // The chosen grace period, but the time typed from the text.
    stopped_after(grace);
    assert_fails(&lab.check(), "grace", "3 s is not what pier stop took");
}

/// Lab 15: the first compose file (no healthcheck) fails `gated` and `discovery` (web never
/// reached the store); `down` without `-v` fails `down-v`; visits written from the host fail
/// `survived`.
#[test]
fn lab15_compose_needs_the_application() {
    if !has_feature(15) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Started::new(15);
    let dir = lab.dir();
    let file = dir.join("compose.yaml").to_str().unwrap().to_string();
    let compose = |args: &[&str]| {
        let mut all = vec!["compose", "-f", file.as_str()];
        all.extend_from_slice(args);
        lab.ok(&all)
    };
    compose(&["up", "-d"]);
    compose(&["down"]);
    compose(&["up", "-d"]);
    std::thread::sleep(pier_testkit::time::scaled(std::time::Duration::from_secs(
        3,
    )));
    let volume: serde_json::Value =
        serde_json::from_str(&lab.ok(&["volume", "inspect", "lab15_data"])).unwrap();
    let data = PathBuf::from(volume[0]["Mountpoint"].as_str().unwrap());
    let token = std::fs::read_to_string(data.join("token")).unwrap();
    lab.answer("token", token.trim());
    let out = lab.check();
    assert_passes(&out, "up");
    assert_fails(&out, "down-v", "pier compose down kept it");
    assert_fails(&out, "gated", "no (healthy)");
    assert_fails(
        &out,
        "discovery",
        "shows no token fetched from http://store/",
    );
    assert_passes(&out, "survived");
    // Visits made up on the host.
    let visits = std::fs::read_to_string(data.join("visits")).unwrap();
    std::fs::write(data.join("visits"), format!("{visits}0123456789ab\n")).unwrap();
    assert_fails(&lab.check(), "survived", "does not know");
    compose(&["down", "-v"]);
}

/// Lab 15's shortcut: the project's containers run by hand with compose's labels (a first
/// store removed, a second store and a web, the volume filled from the host) pass nothing:
/// compose did not make them from the lab's file, so `up` fails and the tasks after it with
/// it, and `down-v` finds no store of the project in the log.
#[test]
fn lab15_containers_run_by_hand_with_compose_labels_fail() {
    if !has_feature(15) {
        return;
    }
    let _serial = one_at_a_time();
    let lab = Started::new(15);
    let dir = lab.dir();
    let labels = |service: &str| -> Vec<String> {
        [
            "com.docker.compose.project=lab15".to_string(),
            format!("com.docker.compose.service={service}"),
            "com.docker.compose.container-number=1".to_string(),
            "com.docker.compose.oneoff=False".to_string(),
            format!("com.docker.compose.project.working_dir={}", dir.display()),
            format!(
                "com.docker.compose.project.config_files={}",
                dir.join("compose.yaml").display()
            ),
            format!("com.docker.compose.config-hash={}", "ab".repeat(32)),
        ]
        .into_iter()
        .flat_map(|l| ["--label".to_string(), l])
        .collect()
    };
    lab.ok(&["network", "create", "lab15_default"]);
    lab.ok(&["volume", "create", "lab15_data"]);
    let store = |extra: &[&str]| {
        let l = labels("store");
        let mut args: Vec<&str> = vec!["run", "-d", "--name", "lab15-store-1"];
        args.extend(l.iter().map(String::as_str));
        args.extend([
            "--network",
            "lab15_default",
            "--network-alias",
            "store",
            "-v",
            "lab15_data:/data",
        ]);
        args.extend_from_slice(extra);
        args.extend(["busybox", "httpd", "-f", "-p", "80", "-h", "/data"]);
        lab.ok(&args);
    };
    store(&[]);
    // As `down -v` would: the first store and its volume removed, a new volume for the next.
    lab.ok(&["rm", "-f", "lab15-store-1"]);
    lab.ok(&["volume", "rm", "lab15_data"]);
    lab.ok(&["volume", "create", "lab15_data"]);
    store(&["--health-cmd", "true", "--health-interval", "1s"]);
    std::thread::sleep(pier_testkit::time::scaled(std::time::Duration::from_secs(
        2,
    )));
    let l = labels("web");
    let mut args: Vec<&str> = vec!["run", "-d", "--name", "lab15-web-1"];
    args.extend(l.iter().map(String::as_str));
    args.extend([
        "--network",
        "lab15_default",
        "-p",
        "8015:80",
        "busybox",
        "sh",
        "-c",
        "wget -q -O /tmp/t http://store/token; echo web got the token from store:; cat /tmp/t; echo; exec httpd -f -p 80 -h /tmp",
    ]);
    // The volume filled from the host: a token and the visits of stores the log knows.
    let volume: serde_json::Value =
        serde_json::from_str(&lab.ok(&["volume", "inspect", "lab15_data"])).unwrap();
    let data = PathBuf::from(volume[0]["Mountpoint"].as_str().unwrap());
    std::fs::write(data.join("token"), "0123456789ab\n").unwrap();
    let store_id = lab.inspect("lab15-store-1", "Id");
    std::fs::write(data.join("visits"), format!("{}\n", &store_id[..12])).unwrap();
    lab.ok(&args);
    lab.answer("token", "0123456789ab");
    std::thread::sleep(pier_testkit::time::scaled(std::time::Duration::from_secs(
        2,
    )));
    let out = lab.check();
    assert_fails(&out, "up", "was not made by pier compose");
    assert_fails(&out, "down-v", "no store container created and removed");
    for task in ["gated", "discovery", "survived"] {
        assert!(
            out.contains(&format!("✘ {task}"))
                && out.contains("parent failed: finish task up first"),
            "{task}: {out}"
        );
    }
    lab.ok(&["rm", "-f", "lab15-store-1", "lab15-web-1"]);
}

/// Lab 16's CNI bridge (`lab16br0`) and cgroup parent are one per machine: its tests run one
/// at a time.
static LAB16: Mutex<()> = Mutex::new(());

/// What lab 16 runs: Debian's containerd and ctr, CNI's bridge plugin.
fn lab16_prerequisites() -> Option<std::sync::MutexGuard<'static, ()>> {
    for (what, path) in [
        ("containerd (Debian's containerd)", "/usr/bin/containerd"),
        ("ctr (Debian's containerd)", "/usr/bin/ctr"),
        (
            "CNI's bridge plugin (containernetworking-plugins)",
            "/usr/lib/cni/bridge",
        ),
    ] {
        prereq::require(what, prereq::file(path))?;
    }
    Some(LAB16.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Asserts that no lab 16 leaves anything on the host: its bridge, its pods' cgroup parent,
/// a containerd or shim serving a lab 16 directory.
fn assert_lab16_left_nothing() {
    assert!(
        !Path::new("/sys/class/net/lab16br0").exists(),
        "lab 16 left its bridge lab16br0"
    );
    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("lab16-pods"))
        .chain([PathBuf::from("/sys/fs/cgroup/lab16-pods")])
        .filter(|d| d.exists())
        .collect();
    assert!(cgroups.is_empty(), "lab 16 left cgroups {cgroups:?}");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if !comm.starts_with("containerd")
            || stat.rsplit(')').next().unwrap_or("").starts_with(" Z")
        {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let ours = |t: &str| t.contains("/labs/work/16");
        assert!(
            !ours(&String::from_utf8_lossy(&cmdline)) && !ours(&cwd.to_string_lossy()),
            "lab 16 left process {pid} ({})",
            comm.trim()
        );
    }
}

#[test]
fn lab16_cycle() {
    let Some(_serial) = lab16_prerequisites() else {
        return;
    };
    cycle(16);
    assert_lab16_left_nothing();
}

/// The host PID of the pier container `id` the lab's shim ran.
fn lab16_pid(lab: &Started, id: &str) -> String {
    let state = lab.dir().join("pier-state/k8s.io");
    let v: serde_json::Value =
        serde_json::from_str(&lab.ok(&["runtime", "--root", state.to_str().unwrap(), "state", id]))
            .unwrap();
    v["pid"].as_i64().unwrap().to_string()
}

/// Lab 16's shortcuts: the app's PID or the shim's for the pause; the namespaces' names
/// without their links, the host's links, the app's own mount namespace, too few links; an
/// app container left in the pause's PID namespace (crictl's default); a pod run with
/// containerd's default handler. Each fails with its own reason; the true answers pass.
#[test]
fn lab16_shortcuts_fail() {
    let Some(_serial) = lab16_prerequisites() else {
        return;
    };
    let lab = Started::new(16);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/16-orchestration/solution.sh");
    let o = run(lab.root(), Path::new("bash"), &[script.to_str().unwrap()]);
    assert!(o.status.success(), "solution.sh failed\n{}", text(&o));
    let dir = lab.dir();
    let endpoint = format!("unix://{}", dir.join("containerd.sock").display());
    let cri = |args: &[&str]| {
        let mut all = vec!["cri", "-r", endpoint.as_str()];
        all.extend_from_slice(args);
        lab.ok(&all)
    };
    let web = cri(&["ps", "-q"]).lines().next().unwrap().to_string();
    let pod: serde_json::Value = serde_json::from_str(&cri(&["inspect", &web])).unwrap();
    let pod_id = pod["info"]["info"]["sandboxID"]
        .as_str()
        .unwrap()
        .to_string();
    let web_pid = lab16_pid(&lab, &web);
    let pause_pid = lab16_pid(&lab, &pod_id);

    lab.answer("pause", &web_pid);
    assert_fails(&lab.check(), "pause", "is a container of the pod");
    let stat = std::fs::read_to_string(format!("/proc/{pause_pid}/stat")).unwrap();
    let shim = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    lab.answer("pause", &shim);
    assert_fails(&lab.check(), "pause", "is the pod's shim");
    lab.answer("pause", &pause_pid);
    assert_passes(&lab.check(), "pause");

    let link = |pid: &str, t: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{t}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let right = ["ipc", "net", "uts"].map(|t| link(&pause_pid, t)).join(" ");
    for (answer, why) in [
        ("ipc net uts".to_string(), "is not a namespace link"),
        (
            ["ipc", "net", "uts"].map(|t| link("self", t)).join(" "),
            "is your own shell's",
        ),
        (
            format!("{right} {}", link(&web_pid, "mnt")),
            "is web's own mnt namespace",
        ),
        (link(&pause_pid, "net"), "more of the pause's namespaces"),
    ] {
        lab.answer("shared", &answer);
        assert_fails(&lab.check(), "shared", why);
    }
    lab.answer("shared", &right);
    assert_passes(&lab.check(), "shared");

    // An app left in the pause's PID namespace: CRI's default, not kubelet's.
    std::fs::write(
        dir.join("web-2.json"),
        r#"{"metadata": {"name": "web", "attempt": 2},
            "image": {"image": "localhost/lab16-busybox:1"},
            "command": ["sleep", "600"]}"#,
    )
    .unwrap();
    let pod_json = dir.join("pod.json");
    let web2 = cri(&[
        "create",
        &pod_id,
        dir.join("web-2.json").to_str().unwrap(),
        pod_json.to_str().unwrap(),
    ]);
    cri(&["start", web2.trim()]);
    assert_fails(&lab.check(), "app", "shares the pause's PID namespace");

    // The same pod under containerd's default handler (runc).
    cri(&["stopp", &pod_id]);
    cri(&["rmp", &pod_id]);
    cri(&["runp", pod_json.to_str().unwrap()]);
    assert_fails(&lab.check(), "pod", "(default: runc), not pier");
    drop(lab);
    assert_lab16_left_nothing();
}

/// Lab 16's reset is certain even when containerd died first, leaving its pods to pier and
/// the shims: pier's containers are deleted, the shims stopped, the mounts, the bridge and
/// the cgroups removed.
#[test]
fn lab16_reset_after_containerd_was_killed() {
    let Some(_serial) = lab16_prerequisites() else {
        return;
    };
    let lab = Started::new(16);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/16-orchestration/solution.sh");
    let o = run(lab.root(), Path::new("bash"), &[script.to_str().unwrap()]);
    assert!(o.status.success(), "solution.sh failed\n{}", text(&o));
    let dir = lab.dir();
    let socket = dir.join("containerd.sock");
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        if comm.trim() == "containerd" && cwd == dir {
            Command::new("kill").args(["-9", &pid]).status().unwrap();
            killed += 1;
        }
    }
    assert_eq!(killed, 1, "the lab's containerd was not found");
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while pier_cri::Client::connect(&format!("unix://{}", socket.display()))
        .and_then(|mut c| c.version())
        .is_ok()
    {
        assert!(Instant::now() < deadline, "containerd still answers");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pier_state = dir.join("pier-state/k8s.io");
    let running = lab.ok(&[
        "runtime",
        "--root",
        pier_state.to_str().unwrap(),
        "list",
        "-q",
    ]);
    assert!(
        running.lines().count() >= 2,
        "the pod's containers should outlive containerd: {running}"
    );
    let reset = lab.ok(&["lab", "reset", "16"]);
    assert!(reset.contains("pier container"), "{reset}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&dir.display().to_string()),
        "mounts left under {}",
        dir.display()
    );
    assert_lab16_left_nothing();
}
