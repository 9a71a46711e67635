//! Helpers for the end-to-end tests: drive the built `pier` binary as root against the real
//! kernel, each test with its own state directory, and check that nothing is left behind.
//!
//! Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

pub mod api_service;
pub mod clients;
pub mod cri_containerd;
pub mod http_server;
pub mod registry;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `pier` binary cargo built for these tests.
pub const PIER: &str = env!("CARGO_BIN_EXE_pier");

/// How long one `pier` command may take before the test fails (instead of hanging CI).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A private pier state directory (`--root`) with a busybox image, removed on drop after
/// checking that none of its containers left a mount, a cgroup or a process behind.
pub struct Pier {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// See [`Pier::host_config`].
    host: tempfile::TempDir,
}

impl Pier {
    /// A fresh state directory holding `busybox:latest` as `pier image bootstrap busybox` makes
    /// it: a copy of [`busybox_store`], so every test stays independent while the image is
    /// made once (tests of the bootstrap itself start from [`Pier::empty`]).
    pub fn new() -> Pier {
        let p = Pier::empty();
        let out = Command::new("cp")
            .arg("-a")
            .arg(busybox_store().join("."))
            .arg(&p.root)
            .output()
            .expect("running cp");
        assert!(
            out.status.success(),
            "copying the busybox store into {}: {}",
            p.root.display(),
            text(&out.stderr)
        );
        p
    }

    /// A fresh state directory without images.
    pub fn empty() -> Pier {
        let dir = tempfile::Builder::new()
            .prefix("pier-e2e-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let host = tempfile::Builder::new()
            .prefix("pier-e2e-host-")
            .tempdir()
            .expect("temp dir");
        Pier {
            dir: Some(dir),
            root,
            host,
        }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A `pier --root <root> ARGS` command, not started. What pier would read from the
    /// host beyond its root is private to the test too: credentials (`DOCKER_CONFIG`),
    /// pier's configuration (`PIER_CONFIG`), registry certificates (`PIER_CERTS_D`), all
    /// under [`Self::host_config`], which starts empty; and no proxy from the
    /// environment the tests were started in.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(PIER);
        c.arg("--root").arg(&self.root).args(args);
        c.env_remove("PIER_ROOT");
        let config = self.host_config();
        c.env("DOCKER_CONFIG", config.join("docker"))
            .env("PIER_CONFIG", config.join("pier-config.json"))
            .env("PIER_CERTS_D", config.join("certs.d"));
        for v in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            c.env_remove(v);
        }
        c
    }

    /// The directory holding this test's Docker client config (`docker/config.json`),
    /// pier configuration (`pier-config.json`) and certificates (`certs.d/`): a private
    /// temporary directory, removed with the `Pier`.
    pub fn host_config(&self) -> PathBuf {
        self.host.path().to_path_buf()
    }

    /// Runs `pier ARGS` with stdin from /dev/null, killing it after [`COMMAND_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, None)
    }

    /// Runs `pier ARGS` feeding `input` to its stdin.
    pub fn run_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = self.command(args);
        run_with_timeout(&mut cmd, input, COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("pier {args:?}: {e}"))
    }

    /// Runs `pier ARGS`, asserts it succeeded, returns its trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pier {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }

    /// `pier run -d ARGS`: returns the full container ID.
    pub fn run_detached(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let id = self.ok(&all);
        assert!(
            id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "run -d printed {id:?}, not a container ID"
        );
        id
    }

    /// `pier inspect C` as JSON (the one object).
    pub fn inspect(&self, container: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", container]);
        let mut v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}): {out}"));
        v.as_array_mut()
            .and_then(|a| a.pop())
            .expect("inspect prints a one-element array")
    }

    /// The address of a bridged container, from `pier inspect`.
    pub fn ip_of(&self, container: &str) -> std::net::Ipv4Addr {
        let v = self.inspect(container);
        v["network"]["ip"]
            .as_str()
            .unwrap_or_else(|| panic!("no network.ip in inspect of {container}: {v}"))
            .parse()
            .expect("an IPv4 address")
    }

    /// `pier image inspect IMAGE` as JSON (the one object).
    pub fn image_inspect(&self, image: &str) -> serde_json::Value {
        let out = self.ok(&["image", "inspect", image]);
        let mut v: serde_json::Value =
            serde_json::from_str(&out).expect("image inspect prints JSON");
        v.as_array_mut()
            .and_then(|a| a.pop())
            .expect("image inspect prints a one-element array")
    }

    /// The container's status as `inspect` reports it (`running`, `exited`, `created`).
    pub fn status(&self, container: &str) -> String {
        self.inspect(container)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `pier run -d FLAGS... -v DIR:/data busybox sh -c SCRIPT` with a fresh host directory
    /// DIR for the script to write to (a file there counts runs, a counter, ...). Returns the
    /// container's ID and the directory (removed when dropped).
    pub fn run_with_data(&self, flags: &[&str], script: &str) -> (String, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let bind = format!("{}:/data", dir.path().display());
        let mut args: Vec<&str> = flags.to_vec();
        args.extend_from_slice(&["-v", &bind, "busybox", "sh", "-c", script]);
        (self.run_detached(&args), dir)
    }

    /// The events about container `id` in this root's event log, oldest first.
    pub fn events_of(&self, id: &str) -> Vec<serde_json::Value> {
        let log = std::fs::read_to_string(self.root.join("events.jsonl")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["id"] == id)
            .collect()
    }

    /// Full IDs of every container of this root (`ps -a -q --no-trunc`).
    pub fn all_ids(&self) -> Vec<String> {
        self.ok(&["ps", "-a", "-q", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `container` is no longer running (polling `inspect`).
    pub fn wait_not_running(&self, container: &str, timeout: Duration) {
        wait_for(
            timeout,
            || self.status(container) != "running",
            &format!("container {container} to stop"),
        );
    }

    /// Asserts that nothing of container `id` is left on the host: no mount under this root,
    /// no cgroup directory, no process.
    pub fn assert_container_gone(&self, id: &str) {
        assert_no_mounts_under(&self.root);
        assert_no_cgroup(id);
        assert_no_process(id);
    }
}

/// A pier state directory with `busybox:latest` bootstrapped by this `pier` from this host's
/// busybox, made once and shared by the tests of every test binary (in cargo's target
/// directory, keyed by both executables, so a new build or busybox makes a new one). Making
/// the image (tar, gzip, SHA-256) costs 0.25 s natively and tens of seconds in the cgroup-v2
/// lane's emulated guest, where it was most of each test's time; copying it costs little.
pub fn busybox_store() -> &'static Path {
    static STORE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut key = std::collections::hash_map::DefaultHasher::new();
        for exe in [PIER, "/bin/busybox"] {
            let m = std::fs::metadata(exe).unwrap_or_else(|e| panic!("{exe}: {e}"));
            (exe, m.len(), m.modified().ok()).hash(&mut key);
        }
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let store = tmp.join(format!("busybox-store-{:016x}", key.finish()));
        if store.join("images").join("index.json").is_file() {
            return store;
        }
        std::fs::create_dir_all(tmp).expect("creating cargo's test temp dir");
        let work = tempfile::Builder::new()
            .prefix(".busybox-store-")
            .tempdir_in(tmp)
            .expect("temp dir for the busybox store");
        let out = run_with_timeout(
            Command::new(PIER)
                .arg("--root")
                .arg(work.path())
                .args(["image", "bootstrap", "busybox"])
                .env_remove("PIER_ROOT"),
            None,
            COMMAND_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("pier image bootstrap busybox: {e}"));
        assert!(
            out.status.success(),
            "pier image bootstrap busybox: {}",
            text(&out.stderr)
        );
        // Published whole by rename; a test binary that lost the race uses the winner's.
        let work = work.keep();
        if std::fs::rename(&work, &store).is_err() {
            let _ = std::fs::remove_dir_all(&work);
            assert!(
                store.join("images").join("index.json").is_file(),
                "no busybox store at {}",
                store.display()
            );
        }
        store
    })
}

impl Drop for Pier {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        let mut problems = Vec::new();
        let ids = match run_with_timeout(
            self.command(&["ps", "-a", "-q", "--no-trunc"])
                .stdin(Stdio::null()),
            None,
            COMMAND_TIMEOUT,
        ) {
            Ok(o) => text(&o.stdout).lines().map(str::to_string).collect(),
            Err(e) => {
                problems.push(format!("ps -a: {e}"));
                Vec::new()
            }
        };
        for id in &ids {
            if let Err(e) =
                run_with_timeout(&mut self.command(&["rm", "-f", id]), None, COMMAND_TIMEOUT)
            {
                problems.push(format!("rm -f {id}: {e}"));
            }
        }
        match run_with_timeout(
            &mut self.command(&["system", "prune"]),
            None,
            COMMAND_TIMEOUT,
        ) {
            Ok(o) if o.status.success() => {}
            Ok(o) => problems.push(format!("system prune failed: {}", text(&o.stderr))),
            Err(e) => problems.push(format!("system prune: {e}")),
        }
        let mounts = mounts_under(&self.root);
        for m in &mounts {
            // Do not leave the machine dirty even when the test fails.
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if !mounts.is_empty() {
            problems.push(format!("mounts left after rm -f + prune: {mounts:?}"));
        }
        for id in &ids {
            let cgroups = cgroup_dirs_of(id);
            if !cgroups.is_empty() {
                problems.push(format!("cgroups left for {id}: {cgroups:?}"));
            }
            let procs = processes_of(id);
            if !procs.is_empty() {
                problems.push(format!("processes left for {id}: {procs:?}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.close() {
                problems.push(format!("removing {}: {e}", self.root.display()));
            }
        }
        if !problems.is_empty() && !failing {
            panic!(
                "clean-up of {} found problems:\n{}",
                self.root.display(),
                problems.join("\n")
            );
        }
    }
}

/// Runs `cmd` with stdout and stderr captured and stdin fed from `input` (or /dev/null); kills
/// it and returns an error after `timeout`.
pub fn run_with_timeout(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, String> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    wait_with_timeout(child, timeout)
}

pub use pier_testkit::time::scaled;

/// Collects a spawned child's output (stdout/stderr must be piped); kills it after `timeout`
/// ([`scaled`]).
///
/// The output is complete when the child has exited: whatever it wrote is in the pipes then.
/// A detached container (or its watcher) may hold a copy of a pipe and keep it open, so the
/// pipes are read without blocking and drained once more at the child's exit, never waited
/// on for their end.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Result<Output, String> {
    let timeout = scaled(timeout);
    let mut pipes = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn PipeRead>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn PipeRead>),
    ];
    for pipe in pipes.iter().flatten() {
        set_nonblocking(pipe.fd())?;
    }
    let mut bufs = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + timeout;
    loop {
        let exited = child.try_wait().map_err(|e| format!("wait: {e}"))?;
        // After the exit, this drain takes the rest of what the child wrote.
        for (pipe, buf) in pipes.iter_mut().zip(bufs.iter_mut()) {
            if let Some(p) = pipe {
                if drain(p.as_mut(), buf)? {
                    *pipe = None;
                }
            }
        }
        if let Some(status) = exited {
            let [stdout, stderr] = bufs;
            return Ok(Output {
                status,
                stdout,
                stderr,
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {timeout:?}"));
        }
        let mut fds: Vec<nix::poll::PollFd> = pipes
            .iter()
            .flatten()
            .map(|p| nix::poll::PollFd::new(p.fd(), nix::poll::PollFlags::POLLIN))
            .collect();
        // Wakes on output; the 10 ms bound notices the exit (there is no fd for it here).
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10u8));
    }
}

/// A child's stdout or stderr pipe.
trait PipeRead: Read + std::os::fd::AsFd {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
}
impl PipeRead for std::process::ChildStdout {}
impl PipeRead for std::process::ChildStderr {}

fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), String> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("F_GETFL: {e}"))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("F_SETFL: {e}"))?;
    Ok(())
}

/// Reads what `pipe` holds now into `buf`; true at its end (every writer closed it).
fn drain(pipe: &mut dyn PipeRead, buf: &mut Vec<u8>) -> Result<bool, String> {
    let mut chunk = [0u8; 16384];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the child's output: {e}")),
        }
    }
}

/// Bytes as (lossy) text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compiles C `source` into a static executable `dir/name` with the system's `cc` (static, so
/// it runs in any container rootfs). `None` if no C compiler or static libc is installed.
pub fn static_c_program(dir: &Path, name: &str, source: &str) -> Option<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("writing the C source");
    let exe = dir.join(name);
    let out = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("cc -static failed: {}", text(&out.stderr));
        return None;
    }
    Some(exe)
}

/// Copies the files of `p`'s busybox image into `dest` (created), with `cp -a` so that
/// symlinks, modes and owners stay: a root filesystem for bundles and imports to start from.
pub fn copy_busybox_rootfs(p: &Pier, dest: &Path) {
    let layer = p.image_inspect("busybox")["LayerDirs"][0]
        .as_str()
        .expect("busybox layer dir")
        .to_string();
    std::fs::create_dir_all(dest).expect("creating the rootfs directory");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(format!("{layer}/."))
        .arg(dest)
        .status()
        .expect("running cp");
    assert!(cp.success(), "cp -a {layer}/. {} failed", dest.display());
}

/// A container ID unique to this test process, for `pier runtime` (which has no name
/// generator): `<prefix>-<pid>-<n>`.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Receives one message with one descriptor (SCM_RIGHTS) on a connected Unix socket, as a
/// console socket or a seccomp agent does: the message's bytes and the descriptor.
pub fn recv_fd(conn: &std::os::unix::net::UnixStream) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = vec![0u8; 8192];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (n, fd) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::empty(),
        )
        .expect("recvmsg");
        let fd = msg
            .cmsgs()
            .expect("cmsgs")
            .find_map(|c| match c {
                nix::sys::socket::ControlMessageOwned::ScmRights(f) => f.first().copied(),
                _ => None,
            })
            .expect("a descriptor in the message");
        (msg.bytes, fd)
    };
    buf.truncate(n);
    // SAFETY: the descriptor arrived with this message; nothing else owns it.
    (buf, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// A tmpfs the test mounted on the host, unmounted on drop (pass or fail).
pub struct HostTmpfs(pub PathBuf);

impl HostTmpfs {
    /// Mounts a 1 MiB tmpfs at the new directory `dir/name`.
    pub fn mount_at(dir: &Path, name: &str) -> HostTmpfs {
        let path = dir.join(name);
        std::fs::create_dir(&path).expect("creating the tmpfs mount point");
        nix::mount::mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .expect("mounting a tmpfs on the host");
        HostTmpfs(path)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Lines in a file (0 if it does not exist yet): containers append one per run.
pub fn line_count(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Polls `cond` every 20 ms; panics with `what` after `timeout` ([`scaled`]).
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool, what: &str) {
    let timeout = scaled(timeout);
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Mount points (from /proc/mounts) at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").expect("reading /proc/mounts");
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        // /proc/mounts escapes spaces and such as octal; temp dirs have none.
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect()
}

/// Asserts /proc/mounts has nothing at or under `dir`.
pub fn assert_no_mounts_under(dir: &Path) {
    let left = mounts_under(dir);
    assert!(
        left.is_empty(),
        "mounts left under {}: {left:?}",
        dir.display()
    );
}

/// Every directory named `pier` in the cgroup trees (v1: one per hierarchy, possibly nested,
/// e.g. memory/process_api/<hash>/pier; v2: under the unified tree), up to depth 5.
pub fn pier_cgroup_parents() -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if !t.is_dir() {
                continue;
            }
            let path = e.path();
            if e.file_name() == "pier" {
                out.push(path);
            } else if depth > 1 {
                walk(&path, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 5, &mut out);
    out
}

/// Cgroup directories named after container `id` (`.../pier/<id>`), in every hierarchy.
pub fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    pier_cgroup_parents()
        .into_iter()
        .map(|p| p.join(id))
        .filter(|p| p.exists())
        .collect()
}

/// Asserts no cgroup directory of container `id` remains.
pub fn assert_no_cgroup(id: &str) {
    let left = cgroup_dirs_of(id);
    assert!(
        left.is_empty(),
        "cgroup directories left for container {id}: {left:?}"
    );
}

/// PIDs of live processes in a cgroup of container `id` (per /proc/<pid>/cgroup).
pub fn processes_of(id: &str) -> Vec<i32> {
    let needle = format!("/pier/{id}");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        if cg
            .lines()
            .any(|l| l.ends_with(&needle) || l.contains(&format!("{needle}/")))
            && !is_zombie(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// Asserts no process of container `id` is alive.
pub fn assert_no_process(id: &str) {
    let left = processes_of(id);
    assert!(
        left.is_empty(),
        "processes of container {id} still alive: {left:?}"
    );
}

/// Whether `pid` exists and is a zombie (or is gone).
pub fn is_zombie(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .map(|i| stat[i + 1..].trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => true,
    }
}

/// Whether a live (non-zombie) process `pid` exists.
pub fn is_alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// The container's cgroup directory for `controller` (v1) or its one directory (v2), from the
/// `cgroup` field of `pier inspect`.
pub fn cgroup_dir(inspect: &serde_json::Value, controller: &str) -> PathBuf {
    let cg = &inspect["cgroup"];
    if let Some(dir) = cg["V1"]["dirs"][controller].as_str() {
        return PathBuf::from(dir);
    }
    if let Some(dir) = cg["V2"]["dir"].as_str() {
        return PathBuf::from(dir);
    }
    panic!("inspect has no cgroup directory for {controller}: {cg}");
}

/// Whether the container's cgroup is on cgroup v2.
pub fn is_v2(inspect: &serde_json::Value) -> bool {
    inspect["cgroup"].get("V2").is_some()
}

/// CPU time the container's cgroup has used, in nanoseconds (v1 cpuacct.usage, v2 cpu.stat).
pub fn cpu_usage_ns(inspect: &serde_json::Value) -> u64 {
    if is_v2(inspect) {
        let stat =
            std::fs::read_to_string(cgroup_dir(inspect, "cpu").join("cpu.stat")).expect("cpu.stat");
        let usec: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .expect("usage_usec")
            .trim()
            .parse()
            .expect("number");
        usec * 1000
    } else {
        let s = std::fs::read_to_string(cgroup_dir(inspect, "cpuacct").join("cpuacct.usage"))
            .expect("cpuacct.usage");
        s.trim().parse().expect("number")
    }
}

/// The number in a cgroup file (`pids.max` may hold `max`: `None`).
pub fn read_cgroup_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .parse()
        .ok()
}

/// The first line of stderr: pier's errors are one line.
pub fn first_stderr_line(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Asserts the command failed with `code` and printed exactly one line on stderr that contains
/// every one of `needles`.
pub fn assert_one_line_error(out: &Output, code: i32, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "the error should be one line: {err:?}"
    );
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
}

/// Every entry under `dir` (relative path -> type, mode, size, mtime and, for regular files,
/// the SHA-256 of the content), sorted, for before/after comparisons. Hard links (busybox's
/// applets) are hashed once.
pub fn hash_tree(dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let mut by_inode = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("reading {}: {e}", d.display()))
            .flatten()
        {
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if meta.file_type().is_symlink() {
                format!(
                    "-> {}",
                    std::fs::read_link(&path).expect("readlink").display()
                )
            } else if meta.is_file() {
                by_inode
                    .entry((meta.dev(), meta.ino()))
                    .or_insert_with(|| {
                        hex::encode(Sha256::digest(std::fs::read(&path).expect("read")))
                    })
                    .clone()
            } else {
                "special".to_string()
            };
            out.push((
                rel,
                format!(
                    "{what} mode={:o} size={} mtime={}",
                    meta.mode(),
                    meta.size(),
                    meta.mtime()
                ),
            ));
        }
    }
    out.sort();
    out
}

/// IDs (64 hex digits) of every container cgroup under a `pier` parent, in any hierarchy.
pub fn container_cgroup_ids() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for parent in pier_cgroup_parents() {
        let Ok(rd) = std::fs::read_dir(&parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) && e.path().is_dir()
            {
                out.insert(name);
            }
        }
    }
    out
}

/// Whether some e2e test's state directory (`$TMPDIR/pier-e2e-*`) has container `id`.
fn known_to_some_test(id: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return false;
    };
    rd.flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("pier-e2e-")
            && e.path().join("containers").join(id).exists()
    })
}

/// Asserts no container cgroup made since `before` (a [`container_cgroup_ids`] snapshot) is
/// orphaned, for failures where the container's ID is never printed. Tests run in parallel,
/// so a new cgroup counts only if no test's state directory has its container, and it is
/// still there a moment later (a container being created or removed has both for a while).
pub fn assert_no_orphan_cgroups_since(before: &std::collections::BTreeSet<String>) {
    let suspects = || -> Vec<String> {
        container_cgroup_ids()
            .difference(before)
            .filter(|id| !known_to_some_test(id))
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut left = suspects();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = suspects();
    }
    assert!(
        left.is_empty(),
        "cgroups of no container are left: {:?}",
        left.iter().map(|id| cgroup_dirs_of(id)).collect::<Vec<_>>()
    );
}

/// A host TCP port that is free now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Network interfaces of the host whose name contains `fragment` (a container's veth is
/// `pier` + the first 8 characters of its ID + 3 more).
pub fn links_named(fragment: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link");
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        })
        .filter(|n| n.contains(fragment))
        .collect()
}

/// How many lines of the host's nftables ruleset mention `fragment`.
pub fn nft_rules_mentioning(fragment: &str) -> usize {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft list ruleset");
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(fragment))
        .count()
}

/// The phases `PIER_TRACE` reported on `stderr`, in order; fails on a trace line without a
/// duration in ms.
pub fn traced_phases(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("pier-trace: "))
        .map(|rest| {
            let (phase, ms) = rest
                .strip_suffix(" ms")
                .and_then(|r| r.rsplit_once(' '))
                .unwrap_or_else(|| panic!("trace line without a duration: {rest:?}"));
            assert!(
                ms.parse::<f64>().is_ok_and(|v| v >= 0.0),
                "duration of {phase:?} is not a number of ms: {ms:?}"
            );
            phase.to_string()
        })
        .collect()
}

/// Asserts that each of `wanted` appears exactly once among the traced `phases`.
pub fn assert_each_phase_once(phases: &[String], wanted: &[&str]) {
    for w in wanted {
        assert_eq!(
            phases.iter().filter(|p| p == w).count(),
            1,
            "phase {w:?} once in {phases:?}"
        );
    }
}
