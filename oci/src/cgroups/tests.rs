//! Tests against the real kernel (run as root): every test creates its own uniquely named
//! cgroup under "pier/" and a guard destroys it even when an assertion fails.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxMemory, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

use super::*;
use pier_testkit::prereq::applies_only_on;
use pier_testkit::time::scaled;

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

/// A cgroup made with the v2 driver on the cgroup2 mount, whatever the machine's layout (on a
/// hybrid one, under /sys/fs/cgroup/unified); `None` (a skip) if no cgroup2 is mounted.
fn create_on_cgroup2() -> Option<Guard> {
    // A machine without cgroup2 is not one these tests are about (not a missing tool).
    let hierarchy = applies_only_on("a cgroup2 mount", detect::v2_hierarchy())?;
    Some(Guard(Cgroup::V2(
        v2::V2Cgroup::create_in(&hierarchy, &unique_path()).unwrap(),
    )))
}

/// Device programs attached to `cgroup`'s own v2 directory (IDs).
fn attached_programs(cgroup: &Cgroup) -> Vec<u32> {
    let dir = cgroup.cgroup_dir("devices").unwrap();
    let fd = std::fs::File::open(&dir).unwrap();
    bpf::attached_device_programs(std::os::fd::AsFd::as_fd(&fd)).unwrap()
}

fn device_rule(allow: bool, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access("rwm");
    if major >= 0 {
        rule = rule.major(major).minor(minor);
    }
    rule.build().unwrap()
}

fn devices(rules: Vec<LinuxDeviceCgroup>) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .unwrap()
}

/// Runs `script` in `cgroup`, returning (stdout, stderr).
fn sh_in(cgroup: &Cgroup, script: &str, args: &[&str]) -> (String, String) {
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    let output = child_output(spawn_in(cgroup, &argv, Stdio::piped(), Stdio::piped()));
    (
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// The device rules reach the kernel on whichever version this machine runs (v1
/// devices.list, v2 an attached eBPF program), and the kernel enforces them.
#[test]
fn device_rules_are_enforced() {
    use LinuxDeviceType::{A, C};
    let resources = devices(vec![
        device_rule(false, A, -1, -1),
        device_rule(true, C, 1, 3),
    ]);
    let cg = create(Some(&resources));
    match &cg.0 {
        Cgroup::V1(_) => {
            let Some(dir) = applies_only_on(
                "the v1 devices controller",
                cg.0.cgroup_dir("devices").ok_or("it is not mounted"),
            ) else {
                return;
            };
            assert_eq!(files::read(&dir.join("devices.list")).unwrap(), "c 1:3 rwm");
        }
        Cgroup::V2(_) => assert_eq!(attached_programs(&cg.0).len(), 1),
    }
    // The effect: /dev/null (1:3) opens, /dev/zero (1:5) is refused even to root.
    let (out, err) = sh_in(
        &cg.0,
        "echo ok > /dev/null && echo null-ok; head -c1 /dev/zero > /dev/null",
        &[],
    );
    assert_eq!(out, "null-ok", "stderr: {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// A directory where device nodes can be made and opened (on a mount without `nodev`).
fn node_dir() -> tempfile::TempDir {
    let candidates = [
        std::env::temp_dir(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    ];
    for base in candidates {
        let nodev = nix::sys::statvfs::statvfs(&base)
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NODEV))
            .unwrap_or(true);
        if !nodev {
            return tempfile::tempdir_in(&base).unwrap();
        }
    }
    panic!("no directory without nodev to make device nodes in");
}

/// The attack the v2 program stops: with CAP_MKNOD (which Docker keeps) a process makes a
/// node for the host's first SCSI disk (b 8:0) and opens it. Under Docker's rules mknod
/// works but the open fails with EPERM, while the standard devices (c 1:3) still open. Runs
/// on the cgroup2 mount whatever the machine's layout (on a hybrid one, /sys/fs/cgroup/unified).
#[test]
fn device_program_stops_opening_a_host_disk() {
    let Some(cg) = create_on_cgroup2() else {
        return;
    };
    cg.0.update(&devices(crate::devices::default_cgroup_rules()))
        .unwrap();
    // pier's descriptors are closed by now: the attachment alone keeps the program.
    assert_eq!(attached_programs(&cg.0).len(), 1);
    let dir = node_dir();
    let script = "cd \"$1\" || exit 9
        mknod disk b 8 0 && echo mknod-ok
        head -c1 disk; echo open=$?
        mknod null c 1 3 && head -c1 null && echo null-ok";
    let (out, err) = sh_in(&cg.0, script, &[dir.path().to_str().unwrap()]);
    assert_eq!(out, "mknod-ok\nopen=1\nnull-ok", "stderr: {err}");
    assert!(
        err.contains("disk") && err.contains("Operation not permitted"),
        "opening the disk node did not fail with EPERM: {err}"
    );
}

/// Changing the rules replaces the program: one stays attached, and the new rules hold.
#[test]
fn device_program_update_replaces_the_old_one() {
    use LinuxDeviceType::{A, C};
    let Some(cg) = create_on_cgroup2() else {
        return;
    };
    let probe =
        "head -c1 /dev/zero > /dev/null && echo zero-ok; echo x > /dev/null && echo null-ok";
    cg.0.update(&devices(vec![
        device_rule(false, A, -1, -1),
        device_rule(true, C, 1, 3),
        device_rule(true, C, 1, 5),
    ]))
    .unwrap();
    let first = attached_programs(&cg.0);
    assert_eq!(first.len(), 1);
    assert_eq!(sh_in(&cg.0, probe, &[]).0, "zero-ok\nnull-ok");

    cg.0.update(&devices(vec![
        device_rule(false, A, -1, -1),
        device_rule(true, C, 1, 3),
    ]))
    .unwrap();
    let second = attached_programs(&cg.0);
    assert_eq!(second.len(), 1, "the old program was not detached");
    assert_ne!(first, second);
    let (out, err) = sh_in(&cg.0, probe, &[]);
    assert_eq!(out, "null-ok", "stderr: {err}");
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// A rule no device cgroup accepts is refused with its text, on either version, and leaves
/// neither a cgroup (create) nor a program (update) behind.
#[test]
fn bad_device_rule_is_refused_naming_it() {
    let bad = devices(vec![LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .access("rwx")
        .build()
        .unwrap()]);
    let path = unique_path();
    let err = Cgroup::create(&path, Some(&bad)).unwrap_err();
    assert!(format!("{err:#}").contains("c 1:3 rwx"), "{err:#}");
    assert_rolled_back(&path);

    let Some(cg) = create_on_cgroup2() else {
        return;
    };
    let err = cg.0.update(&bad).unwrap_err();
    assert!(format!("{err:#}").contains("c 1:3 rwx"), "{err:#}");
    assert!(attached_programs(&cg.0).is_empty());
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
    let deadline = Instant::now() + scaled(Duration::from_secs(2));
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
    // Poll rather than sleep a fixed time: under emulation (the cgroup-v2 lane) a fork is slow.
    let deadline = Instant::now() + scaled(Duration::from_secs(20));
    while cg.0.pids().unwrap().len() <= 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let Some(cg) = create_on_cgroup2() else {
        return;
    };
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

/// `pier system prune` makes the shared parent itself, lists it and removes it if empty,
/// while other pier processes make and remove containers' cgroups under it: a creator of the
/// parent whose directory vanishes before it has read the parent's files (v1 cpuset: ENOENT,
/// or ENODEV from a cgroup being removed) makes it again (CI met the ENODEV).
#[test]
fn creating_the_shared_parent_survives_its_concurrent_removal() {
    let base = unique_path();
    let _outer = Guard(Cgroup::create(&base, None).unwrap());
    let parent = format!("{base}/pier");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let parent = parent.clone();
            std::thread::spawn(move || {
                for n in 0..60 {
                    if t % 2 == 0 {
                        let cg = Cgroup::create(&parent, None)
                            .unwrap_or_else(|e| panic!("prune-like creator {t}-{n}: {e:#}"));
                        cg.remove_if_empty();
                    } else {
                        let cg = Cgroup::create(&format!("{parent}/t{t}-{n}"), None)
                            .unwrap_or_else(|e| panic!("creating t{t}-{n}: {e:#}"));
                        cg.destroy().unwrap();
                        cg.remove_empty_pier_parent();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a creator failed");
    }
}

/// v2: a controller the kernel refuses to enable is an error naming it and the directory,
/// not a cgroup silently missing its limits.
#[test]
fn v2_controller_refusal_names_controller_and_directory() {
    let hierarchy = detect::v2_hierarchy().expect("a cgroup2 mount (v2, or unified on hybrid)");
    let parent = Guard(Cgroup::V2(
        v2::V2Cgroup::create_in(&hierarchy, &unique_path()).unwrap(),
    ));
    let dir = parent.0.cgroup_dir("memory").unwrap();
    let err = v2::enable_controller(&dir, "pier_no_such_controller").unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("pier_no_such_controller"), "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");

    // A parent holding a process cannot hand controllers down ("no internal processes"):
    // creating a child under it must fail, name the parent, and leave no directory.
    let _child = spawn_in(&parent.0, &["sleep", "60"], Stdio::null(), Stdio::null());
    let offered = files::read(&dir.join("cgroup.controllers")).unwrap();
    let wanted = ["cpu", "memory", "pids", "io", "cpuset"];
    let child_path = format!(
        "{}/child",
        dir.strip_prefix(&hierarchy.mount_point).unwrap().display()
    );
    let result = v2::V2Cgroup::create_in(&hierarchy, &format!("/{child_path}"));
    if offered.split_whitespace().any(|c| wanted.contains(&c)) {
        let msg = format!("{:#}", result.unwrap_err());
        assert!(msg.contains("enabling the"), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(
            !dir.join("child").exists(),
            "failed create left its directory"
        );
    } else {
        // Hybrid machine: the unified tree offers no controller, so there is nothing to
        // enable and nothing to refuse.
        let child = Guard(Cgroup::V2(result.unwrap()));
        assert!(child.0.exists());
    }
}

/// Fields that cannot be applied are errors naming the field, and leave no directory behind.
#[test]
fn memory_fields_pier_cannot_apply_are_refused() {
    let resources = |memory: LinuxMemory| {
        LinuxResourcesBuilder::default()
            .memory(memory)
            .build()
            .unwrap()
    };
    // Refused on either version.
    let both = [(
        LinuxMemoryBuilder::default()
            .use_hierarchy(false)
            .build()
            .unwrap(),
        "linux.resources.memory.useHierarchy",
    )];
    for (memory, field) in both {
        let path = unique_path();
        let err = Cgroup::create(&path, Some(&resources(memory))).unwrap_err();
        assert!(format!("{err:#}").contains(field), "{field}: {err:#}");
        assert_rolled_back(&path);
    }
    let leaf = LinuxBlockIoBuilder::default()
        .leaf_weight(500u16)
        .build()
        .unwrap();
    let with_leaf = LinuxResourcesBuilder::default()
        .block_io(leaf)
        .build()
        .unwrap();
    let err = Cgroup::create(&unique_path(), Some(&with_leaf)).unwrap_err();
    assert!(format!("{err:#}").contains("leafWeight"), "{err:#}");

    // Refused by the v2 driver (v1 applies them: see the next test). Run against the real
    // cgroup2 mount, which hybrid machines have too (without controllers).
    let hierarchy = detect::v2_hierarchy().expect("a cgroup2 mount (v2, or unified on hybrid)");
    let cg = Guard(Cgroup::V2(
        v2::V2Cgroup::create_in(&hierarchy, &unique_path()).unwrap(),
    ));
    let v2_only = [
        (
            LinuxMemoryBuilder::default()
                .disable_oom_killer(true)
                .build()
                .unwrap(),
            "linux.resources.memory.disableOOMKiller",
        ),
        (
            LinuxMemoryBuilder::default()
                .swappiness(10u64)
                .build()
                .unwrap(),
            "linux.resources.memory.swappiness",
        ),
    ];
    for (memory, field) in v2_only {
        let err = cg.0.update(&resources(memory)).unwrap_err();
        assert!(format!("{err:#}").contains(field), "{field}: {err:#}");
    }
    // The limits the kernel itself dropped get a warning, as with runc, and no refusal.
    let dropped = LinuxMemoryBuilder::default()
        .kernel(64 * MIB)
        .kernel_tcp(MIB)
        .build()
        .unwrap();
    cg.0.update(&resources(dropped)).unwrap();
    // Their "unset" spellings are fine.
    let unset = LinuxMemoryBuilder::default()
        .disable_oom_killer(false)
        .swappiness(0u64)
        .build()
        .unwrap();
    cg.0.update(&resources(unset)).unwrap();
}

/// v1 applies what v2 refuses: the OOM killer switch, swappiness and the TCP buffer limit.
#[test]
fn v1_applies_oom_killer_swappiness_and_kernel_tcp() {
    if detect_version().unwrap() == 2 {
        return; // refused on v2: see memory_fields_pier_cannot_apply_are_refused
    }
    let memory = LinuxMemoryBuilder::default()
        .disable_oom_killer(true)
        .swappiness(7u64)
        .kernel_tcp(8 * MIB)
        .build()
        .unwrap();
    let resources = LinuxResourcesBuilder::default()
        .memory(memory)
        .build()
        .unwrap();
    let cg = create(Some(&resources));
    let dir = cg.0.cgroup_dir("memory").unwrap();
    let oom = files::read(&dir.join("memory.oom_control")).unwrap();
    assert_eq!(
        files::flat_keyed(&oom, "oom_kill_disable"),
        Some(1),
        "{oom}"
    );
    assert_eq!(files::read(&dir.join("memory.swappiness")).unwrap(), "7");
    assert_eq!(
        files::read_u64(&dir.join("memory.kmem.tcp.limit_in_bytes")).unwrap(),
        8 * MIB as u64
    );
    // And turned back on by an update.
    let on = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .disable_oom_killer(false)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    cg.0.update(&on).unwrap();
    let oom = files::read(&dir.join("memory.oom_control")).unwrap();
    assert_eq!(
        files::flat_keyed(&oom, "oom_kill_disable"),
        Some(0),
        "{oom}"
    );
}

/// checkBeforeUpdate refuses a limit below the current usage instead of OOM-killing.
#[test]
fn check_before_update_refuses_a_limit_below_usage() {
    let cg = create(None);
    // A process holding ~8 MiB of written memory in the cgroup.
    let _child = spawn_in(
        &cg.0,
        &[
            "sh",
            "-c",
            "x=$(head -c 8388608 /dev/zero | tr '\\0' a); sleep 60",
        ],
        Stdio::null(),
        Stdio::null(),
    );
    wait_until(|| {
        cg.0.stats()
            .map(|s| s.memory_usage > 4 << 20)
            .unwrap_or(false)
    });
    let tight = |check: bool| {
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(MIB)
                    .check_before_update(check)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let err = cg.0.update(&tight(true)).unwrap_err();
    assert!(format!("{err:#}").contains("checkBeforeUpdate"), "{err:#}");
    assert!(cg.0.stats().unwrap().memory_limit.unwrap_or(u64::MAX) > MIB as u64);
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    // Stretched under emulation (the cgroup-v2 lane: two test binaries at once under TCG).
    let limit = scaled(Duration::from_secs(10));
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
