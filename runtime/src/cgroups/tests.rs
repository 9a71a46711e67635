//! Tests against the real kernel (run as root): every test creates its own uniquely named
//! cgroup under "pier/" and a guard destroys it even when an assertion fails.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::*;
use pier_testkit::prereq::{applies_only_on, when};

const MIB: i64 = 1 << 20;

/// Destroys the cgroup (killing what is left inside) when the test ends, pass or fail.
struct Guard(Cgroup);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.destroy().is_ok() {
            self.0.remove_empty_pier_parent();
        }
    }
}

/// Kills a spawned child when the test ends, so a failed assertion leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unique_path() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "pier/cgtest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn create(resources: Option<&LinuxResources>) -> Guard {
    Guard(Cgroup::create(&unique_path(), resources).expect("creating cgroup"))
}

/// Starts `args` inside `cgroup`: a shell waits on stdin until it has been moved in, then
/// execs the program, so the program's whole life (and all its memory) is inside.
fn spawn_in(cgroup: &Cgroup, args: &[&str], stdout: Stdio, stderr: Stdio) -> ChildGuard {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read _ && exec \"$@\"")
        .arg("sh")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawning sh");
    let guard_pid = child.id() as i32;
    let mut stdin = child.stdin.take().unwrap();
    let guard = ChildGuard(child);
    cgroup.add_process(guard_pid).expect("add_process");
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    guard
}

/// Reads a knob by its v1 (controller, file) or v2 file name, whichever this machine uses.
fn knob(cgroup: &Cgroup, v1: (&str, &str), v2: &str) -> String {
    let path = match cgroup {
        Cgroup::V1(_) => cgroup.cgroup_dir(v1.0).unwrap().join(v1.1),
        Cgroup::V2(_) => cgroup.cgroup_dir("memory").unwrap().join(v2),
    };
    files::read(&path).unwrap()
}

fn memory(limit: i64, swap: Option<i64>) -> LinuxResources {
    let mut memory = LinuxMemoryBuilder::default().limit(limit);
    if let Some(swap) = swap {
        memory = memory.swap(swap);
    }
    LinuxResourcesBuilder::default()
        .memory(memory.build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn memory_limit_is_written_and_updated() {
    let cg = create(Some(&memory(64 * MIB, None)));
    assert_eq!(
        knob(&cg.0, ("memory", "memory.limit_in_bytes"), "memory.max"),
        (64 * MIB).to_string()
    );
    assert_eq!(cg.0.stats().unwrap().memory_limit, Some(64 * MIB as u64));

    cg.0.update(&memory(32 * MIB, Some(48 * MIB))).unwrap();
    assert_eq!(
        knob(&cg.0, ("memory", "memory.limit_in_bytes"), "memory.max"),
        (32 * MIB).to_string()
    );
    if let Some(dir) = cg.0.cgroup_dir("memory").filter(|_| cg.0.version() == 1) {
        if dir.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                files::read(&dir.join("memory.memsw.limit_in_bytes")).unwrap(),
                (48 * MIB).to_string()
            );
        }
        // The OOM killer stays on, so an over-limit container dies rather than hangs.
        assert_eq!(
            files::read_flat_keyed(&dir.join("memory.oom_control"), "oom_kill_disable").unwrap(),
            0
        );
    }
    // Growing both again needs memsw written first; the driver orders the writes.
    cg.0.update(&memory(128 * MIB, Some(256 * MIB))).unwrap();
    assert_eq!(
        knob(&cg.0, ("memory", "memory.limit_in_bytes"), "memory.max"),
        (128 * MIB).to_string()
    );
}

#[test]
fn process_joins_then_kill_all_and_destroy_leave_nothing() {
    let cg = create(None);
    let mut child = spawn_in(&cg.0, &["sleep", "60"], Stdio::null(), Stdio::null());
    let pid = child.0.id() as i32;
    assert!(cg.0.pids().unwrap().contains(&pid));
    // On v1 the process must be in every hierarchy's directory (cpuset too, which only
    // accepts tasks once its cpus/mems were initialised).
    if let Cgroup::V1(v1) = &cg.0 {
        for (name, dir) in &v1.dirs {
            let pids = files::read_pids(&dir.join("cgroup.procs")).unwrap();
            assert!(
                pids.contains(&pid),
                "pid {pid} missing from {name} ({})",
                dir.display()
            );
        }
    }

    cg.0.kill_all().unwrap();
    assert!(cg.0.pids().unwrap().is_empty());
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    cg.0.destroy().unwrap();
    assert!(!cg.0.exists());
    for dir in cg.0.driver().leaf_dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    cg.0.destroy().expect("destroying twice is fine");
}

#[test]
fn pids_limit_stops_forks() {
    let resources = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    let cg = create(Some(&resources));
    assert_eq!(cg.0.stats().unwrap().pids_limit, Some(5));
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait";
    let child = spawn_in(&cg.0, &["sh", "-c", script], Stdio::null(), Stdio::piped());
    let output = child_output(child);
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains("fork") || stderr.contains("resource temporarily unavailable"),
        "expected a fork failure, stderr: {stderr}"
    );
    let events = cg.0.cgroup_dir("pids").unwrap().join("pids.events");
    assert!(
        files::read_flat_keyed(&events, "max").unwrap() >= 1,
        "pids.events counts no refusal"
    );
}

/// Waits for a guarded child and collects its output.
fn child_output(mut child: ChildGuard) -> std::process::Output {
    let stderr = child.0.stderr.take();
    let stdout = child.0.stdout.take();
    let read = |pipe: Option<Box<dyn std::io::Read>>| {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            p.read_to_end(&mut buf).unwrap();
        }
        buf
    };
    let stdout = read(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read>));
    let stderr = read(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read>));
    let status = child.0.wait().unwrap();
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

#[test]
fn exceeding_memory_limit_is_oom_killed() {
    // memory+swap equal to memory: no escaping into swap where the machine has some.
    let cg = create(Some(&memory(16 * MIB, Some(16 * MIB))));
    assert_eq!(cg.0.oom_kill_count().unwrap(), 0);
    // dd reads 64 MiB of zeroes into one buffer, touching every page of it.
    let child = spawn_in(
        &cg.0,
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        Stdio::null(),
        Stdio::null(),
    );
    let output = child_output(child);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGKILL),
        "dd was not OOM-killed: {:?}",
        output.status
    );
    assert!(cg.0.oom_kill_count().unwrap() >= 1);
    assert!(cg.0.stats().unwrap().memory_max_usage.unwrap_or(0) <= 16 * MIB as u64);
}

#[test]
fn cpu_quota_period_and_shares_are_written() {
    let cpu = LinuxCpuBuilder::default()
        .quota(50_000)
        .period(100_000u64)
        .shares(512u64)
        .build()
        .unwrap();
    let cg = create(Some(
        &LinuxResourcesBuilder::default().cpu(cpu).build().unwrap(),
    ));
    match &cg.0 {
        Cgroup::V1(_) => {
            assert_eq!(knob(&cg.0, ("cpu", "cpu.cfs_quota_us"), ""), "50000");
            assert_eq!(knob(&cg.0, ("cpu", "cpu.cfs_period_us"), ""), "100000");
            assert_eq!(knob(&cg.0, ("cpu", "cpu.shares"), ""), "512");
        }
        Cgroup::V2(_) => {
            assert_eq!(knob(&cg.0, ("", ""), "cpu.max"), "50000 100000");
            assert_eq!(
                knob(&cg.0, ("", ""), "cpu.weight"),
                v2::shares_to_weight(512).to_string()
            );
        }
    }
    // A shorter period with a matching quota (the write order matters on v1).
    let cpu = LinuxCpuBuilder::default()
        .quota(10_000)
        .period(20_000u64)
        .build()
        .unwrap();
    cg.0.update(&LinuxResourcesBuilder::default().cpu(cpu).build().unwrap())
        .unwrap();
    let quota = knob(&cg.0, ("cpu", "cpu.cfs_quota_us"), "cpu.max");
    assert!(quota.starts_with("10000"), "quota now {quota}");
}

#[test]
fn throttled_cpu_shows_in_stats() {
    let cpu = LinuxCpuBuilder::default()
        .quota(10_000)
        .period(100_000u64)
        .build()
        .unwrap();
    let cg = create(Some(
        &LinuxResourcesBuilder::default().cpu(cpu).build().unwrap(),
    ));
    let before = cg.0.stats().unwrap();
    let started = Instant::now();
    let child = spawn_in(
        &cg.0,
        &["sh", "-c", "while :; do :; done"],
        Stdio::null(),
        Stdio::null(),
    );
    std::thread::sleep(Duration::from_millis(600));
    let after = cg.0.stats().unwrap();
    drop(child);
    let pct = cpu_percent(&before, &after, started.elapsed());
    assert!(after.cpu_usage_ns > 0);
    // 10% quota: the busy loop gets about 10% of one core, never much more (less when the
    // machine is busy, hence only an upper bound).
    assert!(pct > 0.0 && pct < 25.0, "cpu% {pct}");
    assert!(after.cpu_throttled_periods >= 1, "{after:?}");
}

#[test]
fn invalid_value_error_names_file_and_value_and_rolls_back() {
    let path = unique_path();
    let cpu = LinuxCpuBuilder::default().cpus("999").build().unwrap();
    let resources = LinuxResourcesBuilder::default().cpu(cpu).build().unwrap();
    let err = Cgroup::create(&path, Some(&resources)).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("writing 999 to ") && text.contains("cpuset.cpus"),
        "{text}"
    );
    assert_rolled_back(&path);
}

#[test]
fn cpuset_inherits_parent_values() {
    let cg = create(None);
    if let Some(dir) = cg.0.cgroup_dir("cpuset").filter(|_| cg.0.version() == 1) {
        let parent = dir.parent().unwrap();
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = files::read(&dir.join(file)).unwrap();
            assert!(!mine.is_empty(), "{file} empty");
            assert_eq!(mine, files::read(&parent.join(file)).unwrap());
        }
    }
}

#[test]
fn device_rules_are_applied_on_v1() {
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap();
    let null = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwm")
        .build()
        .unwrap();
    let resources = LinuxResourcesBuilder::default()
        .devices(vec![deny_all, null])
        .build()
        .unwrap();
    let cg = create(Some(&resources));
    // v2 has no devices controller; pier applies no device rules there (see v2.rs).
    let Some(dir) = applies_only_on(
        "cgroup v1",
        when(cg.0.version() == 1, "pier's cgroups are v2 here").and_then(|()| {
            cg.0.cgroup_dir("devices")
                .ok_or_else(|| "the devices controller is not mounted".to_string())
        }),
    ) else {
        return;
    };
    assert_eq!(files::read(&dir.join("devices.list")).unwrap(), "c 1:3 rwm");
    // The effect: /dev/null (1:3) opens, /dev/zero (1:5) is refused even to root.
    let script = "echo ok > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null";
    let child = spawn_in(&cg.0, &["sh", "-c", script], Stdio::piped(), Stdio::piped());
    let output = child_output(child);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "null-ok");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

#[test]
fn cpuset_limits_where_processes_run() {
    let cpu = LinuxCpuBuilder::default().cpus("0").build().unwrap();
    let cg = create(Some(
        &LinuxResourcesBuilder::default().cpu(cpu).build().unwrap(),
    ));
    let child = spawn_in(&cg.0, &["sleep", "60"], Stdio::null(), Stdio::null());
    // The shell execs sleep only after joining; wait until the exec happened.
    let status_path = format!("/proc/{}/status", child.0.id());
    let deadline = Instant::now() + Duration::from_secs(2);
    let status = loop {
        let status = std::fs::read_to_string(&status_path).unwrap();
        if status.contains("Name:\tsleep") || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(allowed.split_whitespace().nth(1), Some("0"), "{allowed}");
    drop(child);
}

#[test]
fn kill_all_catches_a_forking_process() {
    let resources = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .build()
        .unwrap();
    let cg = create(Some(&resources));
    let script = "while :; do sleep 30 & done";
    let _child = spawn_in(&cg.0, &["sh", "-c", script], Stdio::null(), Stdio::null());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        cg.0.pids().unwrap().len() > 2,
        "the loop should have forked"
    );
    cg.0.kill_all().unwrap();
    assert!(cg.0.pids().unwrap().is_empty());
    cg.0.destroy().unwrap();
    assert!(!cg.0.exists());
}

#[test]
fn unsupported_limits_are_refused_not_ignored() {
    let hugepages = oci_spec::runtime::LinuxHugepageLimitBuilder::default()
        .page_size("2MB")
        .limit(1 << 21)
        .build()
        .unwrap();
    let resources = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![hugepages])
        .build()
        .unwrap();
    let path = unique_path();
    let err = Cgroup::create(&path, Some(&resources)).unwrap_err();
    assert!(format!("{err:#}").contains("hugepageLimits"), "{err:#}");
    assert_rolled_back(&path);
}

/// Checks that no directory for the relative `path` exists in any hierarchy.
fn assert_rolled_back(path: &str) {
    let dirs: Vec<PathBuf> = match detect_version().unwrap() {
        2 => vec![v2::placement(&detect::v2_hierarchy().unwrap(), path)],
        _ => detect::v1_hierarchies()
            .unwrap()
            .iter()
            .map(|h| h.current_dir.join(path))
            .collect(),
    };
    assert!(!dirs.is_empty());
    for dir in dirs {
        assert!(
            !dir.exists(),
            "{} left behind by a failed create",
            dir.display()
        );
    }
}

#[test]
fn block_io_weight_is_written() {
    let io = LinuxBlockIoBuilder::default()
        .weight(500u16)
        .build()
        .unwrap();
    let resources = LinuxResourcesBuilder::default()
        .block_io(io)
        .build()
        .unwrap();
    match Cgroup::create(&unique_path(), Some(&resources)) {
        Ok(cg) => {
            let cg = Guard(cg);
            let dir =
                cg.0.cgroup_dir(if cg.0.version() == 1 { "blkio" } else { "io" })
                    .unwrap();
            let written = [
                "blkio.weight",
                "blkio.bfq.weight",
                "io.bfq.weight",
                "io.weight",
            ]
            .iter()
            .filter_map(|f| files::read(&dir.join(f)).ok())
            .collect::<Vec<_>>()
            .join(" ");
            assert!(
                written.contains("500")
                    || written.contains(&v2::blkio_weight_to_io_weight(500).to_string())
            );
        }
        // Only acceptable failure: the kernel has no weight knob, and the error says so.
        Err(e) => assert!(format!("{e:#}").contains("neither"), "{e:#}"),
    }
}

#[test]
fn freeze_and_thaw() {
    let cg = create(None);
    let child = spawn_in(&cg.0, &["sleep", "60"], Stdio::null(), Stdio::null());
    let pid = child.0.id();
    cg.0.freeze().unwrap();
    let state = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("State:"))
            .unwrap()
            .to_string()
    };
    match &cg.0 {
        Cgroup::V1(_) => assert_eq!(knob(&cg.0, ("freezer", "freezer.state"), ""), "FROZEN"),
        Cgroup::V2(_) => assert!(knob(&cg.0, ("", ""), "cgroup.events").contains("frozen 1")),
    }
    // A frozen task sits in the freezer's sleep; it is still alive.
    assert!(!state(pid).contains("zombie"));
    cg.0.thaw().unwrap();
    if cg.0.version() == 1 {
        assert_eq!(knob(&cg.0, ("freezer", "freezer.state"), ""), "THAWED");
    }
    cg.0.kill_all().unwrap();
}

#[test]
fn serialized_handle_reopens_the_same_cgroup() {
    let cg = create(None);
    let json = serde_json::to_string(&cg.0).unwrap();
    let reopened: Cgroup = serde_json::from_str(&json).unwrap();
    assert_eq!(reopened, cg.0);
    assert!(reopened.exists());
    assert_eq!(reopened.version(), detect_version().unwrap());
    assert!(PathBuf::from(reopened.path_for_display()).is_dir());
}

#[test]
fn paths_that_escape_are_refused() {
    assert!(Cgroup::create("pier/../../escape", None).is_err());
    assert!(Cgroup::create("/", None).is_err());
}

/// The v2 driver against a real cgroup2 filesystem: on a hybrid machine the (controller-less)
/// unified hierarchy still has cgroup.procs, cgroup.freeze, cgroup.kill and cgroup.events, so
/// joining, freezing, killing and removal run the same code as on a v2 machine.
#[test]
fn v2_driver_on_the_real_cgroup2_mount() {
    let Some(hierarchy) = applies_only_on("a cgroup2 mount", detect::v2_hierarchy()) else {
        return;
    };
    let cg = Guard(Cgroup::V2(
        v2::V2Cgroup::create_in(&hierarchy, &unique_path()).unwrap(),
    ));
    let mut child = spawn_in(&cg.0, &["sleep", "60"], Stdio::null(), Stdio::null());
    let pid = child.0.id() as i32;
    assert_eq!(cg.0.pids().unwrap(), vec![pid]);
    cg.0.freeze().unwrap();
    assert!(knob(&cg.0, ("", ""), "cgroup.events").contains("frozen 1"));
    cg.0.thaw().unwrap();
    cg.0.kill_all().unwrap();
    assert_eq!(child.0.wait().unwrap().signal(), Some(libc::SIGKILL));
    cg.0.destroy().unwrap();
    assert!(!cg.0.exists());
}

/// The shared "pier" parent goes with its last child, and only a parent of that name.
#[test]
fn empty_pier_parent_is_removed_with_its_last_child() {
    // A private "pier" parent, nested under this test's own cgroup, so that other tests'
    // containers in the real shared parent cannot keep it alive.
    let base = unique_path();
    let _outer = Guard(Cgroup::create(&base, None).unwrap());
    let rel = |leaf: &str| format!("{base}/{leaf}");
    let a = Cgroup::create(&rel("pier/a"), None).unwrap();
    let b = Cgroup::create(&rel("pier/b"), None).unwrap();
    let other = Cgroup::create(&rel("other/c"), None).unwrap();
    let parents = |cg: &Cgroup| -> Vec<PathBuf> {
        cg.driver()
            .leaf_dirs()
            .iter()
            .filter_map(|d| d.parent().map(PathBuf::from))
            .collect()
    };

    a.destroy().unwrap();
    a.remove_empty_pier_parent();
    assert!(
        parents(&b).iter().all(|p| p.exists()),
        "b still uses the parent"
    );
    b.destroy().unwrap();
    b.remove_empty_pier_parent();
    for p in parents(&b) {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    other.destroy().unwrap();
    other.remove_empty_pier_parent();
    for p in parents(&other) {
        assert!(p.exists(), "{} is not pier's to remove", p.display());
        files::remove_dir(&p).unwrap();
    }
}

/// Creators retry when a concurrent removal takes the shared parent from under them.
#[test]
fn creation_survives_a_concurrent_parent_removal() {
    let base = unique_path();
    let _outer = Guard(Cgroup::create(&base, None).unwrap());
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let base = base.clone();
            std::thread::spawn(move || {
                for n in 0..40 {
                    let cg = Cgroup::create(&format!("{base}/pier/t{t}-{n}"), None)
                        .unwrap_or_else(|e| panic!("creating t{t}-{n}: {e:#}"));
                    cg.destroy().unwrap();
                    cg.remove_empty_pier_parent();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a creator failed");
    }
}
