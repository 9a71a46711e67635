//! Helpers for the tests where real OCI clients (Podman, Docker, containerd) drive pier as
//! their runtime: the `pier-runc` name, an image archive for them to load, their daemons, a
//! terminal, and the checks that nothing of a container is left.

use super::{text, wait_with_timeout, Pier, PIER};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `pier-runc` symlink to the pier binary in `dir`: clients take one binary path, and pier
/// answers with runc's command line under that name.
pub fn pier_runc_link(dir: &Path) -> PathBuf {
    let link = dir.join("pier-runc");
    std::os::unix::fs::symlink(PIER, &link).expect("symlinking pier-runc");
    link
}

/// `pier save` of `p`'s busybox image into `dir/busybox.tar` (an OCI layout archive, which
/// `podman load`, `docker load` and `ctr images import` all read).
pub fn busybox_archive(p: &Pier, dir: &Path) -> PathBuf {
    let archive = dir.join("busybox.tar");
    p.ok(&[
        "save",
        "-o",
        archive.to_str().expect("utf-8 path"),
        "busybox",
    ]);
    archive
}

/// The container directories in a runtime state root (`--root`), i.e. what pier still holds
/// (the sealed binary's empty overlay layer, `sealed-exe-layer`, is none).
pub fn state_entries(root: &Path) -> Vec<String> {
    match std::fs::read_dir(root) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.path().is_dir() && e.file_name() != "sealed-exe-layer")
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Cgroup directories (every hierarchy, up to depth 5) whose name contains `fragment` (a
/// container ID): what a runtime leaves when it does not remove a container's cgroup.
pub fn cgroups_named(fragment: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, fragment: &str, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = e.path();
            if e.file_name().to_string_lossy().contains(fragment) {
                out.push(path);
            } else if depth > 1 {
                walk(&path, depth - 1, fragment, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), 5, fragment, &mut out);
    out
}

/// Live processes whose /proc/PID/cgroup mentions `fragment` (a container ID).
pub fn processes_in_cgroups_named(fragment: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cg) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        if cg.contains(fragment) && super::is_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Asserts that nothing of container `id` is left: no directory in the runtime state root,
/// no cgroup, no process, no mount under `dir` but the client's own `allowed` ones (Podman's
/// storage binds its overlay directory onto itself for as long as it lives).
pub fn assert_nothing_left(id: &str, state_root: &Path, dir: &Path, allowed: &[PathBuf]) {
    let state = state_entries(state_root);
    assert!(
        !state.iter().any(|e| e.contains(id)),
        "pier's state root {} still holds {id}: {state:?}",
        state_root.display()
    );
    let cgroups = cgroups_named(id);
    assert!(cgroups.is_empty(), "cgroups left for {id}: {cgroups:?}");
    let procs = processes_in_cgroups_named(id);
    assert!(procs.is_empty(), "processes left for {id}: {procs:?}");
    let mounts: Vec<String> = super::mounts_under(dir)
        .into_iter()
        .filter(|m| !allowed.iter().any(|a| Path::new(m) == a))
        .collect();
    assert!(
        mounts.is_empty(),
        "mounts left under {}: {mounts:?}",
        dir.display()
    );
}

/// A daemon the test started (dockerd, containerd): SIGTERM on drop, SIGKILL if it is still
/// there after 20 s.
pub struct Daemon {
    child: Child,
    name: &'static str,
}

impl Daemon {
    /// Starts `cmd` (its output goes to `log`).
    pub fn start(name: &'static str, mut cmd: Command, log: &Path) -> Daemon {
        let out = std::fs::File::create(log).expect("daemon log file");
        let err = out.try_clone().expect("dup of the log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Daemon { child, name }
    }

    /// Polls `ready` until it holds, for up to `timeout`; panics with the daemon's log.
    pub fn wait_ready(&mut self, timeout: Duration, log: &Path, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + super::scaled(timeout);
        while !ready() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) while starting:\n{}",
                    self.name,
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after {timeout:?}:\n{}",
                self.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// containerd 1.6 puts its shims' sockets (and ctr its default FIFOs) under /run/containerd,
/// whatever its own state directory: the directories missing when noted are removed, when
/// empty, on drop (pier-cri's, which its private containerd uses too).
pub type ShimDirs = pier_cri::private_containerd::ShimDirs;

/// Parent cgroups a client names its containers under (`docker`, `default`, ...), in every
/// hierarchy: notes which exist now and removes, when empty, the ones the test made (runc
/// leaves them too; the test leaves the machine as it found it).
pub struct CgroupParents(Vec<PathBuf>);

impl CgroupParents {
    /// Notes the missing `<hierarchy>/<name>` directories (v1: every hierarchy under
    /// /sys/fs/cgroup; v2: /sys/fs/cgroup itself).
    pub fn note(name: &str) -> CgroupParents {
        let mut candidates = vec![Path::new("/sys/fs/cgroup").join(name)];
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            if h.path().join("cgroup.procs").exists() && h.path().is_dir() {
                candidates.push(h.path().join(name));
            }
        }
        CgroupParents(candidates.into_iter().filter(|d| !d.exists()).collect())
    }
}

impl Drop for CgroupParents {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Runs `cmd` with a new pseudo-terminal as its stdin, stdout, stderr and controlling
/// terminal (what `-it` needs); returns what it printed and its exit status, or panics after
/// `timeout`.
pub fn run_in_terminal(cmd: &mut Command, timeout: Duration) -> (String, ExitStatus) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup of the terminal"));
    cmd.stdin(dup(&slave))
        .stdout(dup(&slave))
        .stderr(dup(&slave));
    // SAFETY: between fork and exec the closure only calls setsid and ioctl, which are
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawning the command in a terminal");
    // Our copy of the slave stays open until the end: once every slave is closed, Linux may
    // answer EIO on the master before the last output was read.
    let master = std::fs::File::from(pty.master);
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .expect("non-blocking terminal master");
    let mut out = Vec::new();
    let drain = |out: &mut Vec<u8>| {
        let mut buf = [0u8; 4096];
        while let Ok(n) = (&master).read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    };
    let deadline = Instant::now() + super::scaled(timeout);
    let status = loop {
        drain(&mut out);
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(50));
    drain(&mut out);
    drop(slave);
    (text(&out), status)
}

/// Runs a client command with captured output and a deadline; returns (stdout, stderr, code).
pub fn client(cmd: &mut Command, timeout: Duration) -> (String, String, Option<i32>) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let out = wait_with_timeout(child, timeout).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

/// [`client`], asserting exit code 0; returns stdout.
pub fn client_ok(cmd: &mut Command, timeout: Duration) -> String {
    let desc = format!("{cmd:?}");
    let (out, err, code) = client(cmd, timeout);
    assert_eq!(
        code,
        Some(0),
        "{desc} failed:\nstdout: {out}\nstderr: {err}"
    );
    out
}
