//! The labs' CI cycle, for every lab: `pier lab start` then `check` must FAIL (a checker that
//! cannot fail is a defect), the reference `solution.sh` runs, `check` must pass, and `reset`
//! must leave nothing behind. Each lab runs with its own state directory, so labs run in
//! parallel (except those publishing fixed host ports). Every lab runs: none is skipped.

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
            let subnet = pier_runtime::network::Options::for_root(dir.path()).default_subnet;
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
    let payload = target
        .join(pier_bench::payload::build::TARGET)
        .join("release/pier-payload");
    let Some(_) = prereq::require(
        "the static bench payload (bench/build-payload.sh)",
        prereq::file(payload),
    ) else {
        return;
    };
    cycle(10);
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
