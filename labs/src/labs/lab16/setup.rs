//! What `pier lab start 16` makes in the lab's directory, and what `pier lab reset 16` takes
//! away: the student's containerd, its pods, and what they leave on the host.
//!
//! Made at the start (the plumbing; the handler is the student's): `pier-runc` (pier under a
//! runc name), the CNI network (`cni/10-lab16.conflist`: a bridge `lab16br0`, addresses from
//! 10.216.16.0/24, no portmap and no masquerade, so no iptables rule), and `images.tar`, the
//! images containerd will run (the pause image built from busybox's `sleep`, and busybox).
//!
//! Taken away at reset, in the order that lets each step work: the pods, through CRI (CNI
//! tears their veths down); containerd (found by its socket or its configuration under the
//! lab's directory); what pier still runs for a pod containerd could not remove; the shims;
//! the mounts under the directory (rootfs, shm, network namespaces); the bridge; the pods'
//! cgroup parent. Then it checks that none of them is left.

use super::{endpoint, BUSYBOX, PAUSE, POD_CGROUP};
use crate::context::Ctx;
use crate::text::Msg;
use anyhow::{bail, Context, Result};
use pier_engine::container::mountinfo::mounts_under;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The CNI bridge the lab's pods are plugged into.
pub const BRIDGE: &str = "lab16br0";

/// Its subnet.
const SUBNET: &str = "10.216.16.0/24";

/// The programs the lab runs.
const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
const CNI_BRIDGE: &str = "/usr/lib/cni/bridge";

/// Prepares the lab's directory (see the module's documentation).
pub fn prepare(ctx: &Ctx, dir: &Path) -> Result<()> {
    for (program, package) in [
        (CONTAINERD, "containerd"),
        (CTR, "containerd"),
        (CNI_BRIDGE, "containernetworking-plugins"),
    ] {
        if !Path::new(program).exists() {
            let why = Msg::new(
                format!("lab 16 needs {program}: apt-get install {package} (scripts/setup.sh installs it)"),
                format!("실습 16에는 {program}이 필요합니다: apt-get install {package} (scripts/setup.sh가 설치합니다)"),
            );
            bail!("{}", why.get(ctx.lang()));
        }
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        let why = Msg::new(
            format!("the bridge {BRIDGE} exists already: is lab 16 running in another pier root? Reset it there first (pier lab reset 16)"),
            format!("브리지 {BRIDGE}가 이미 있습니다. 다른 pier 루트에서 실습 16이 실행 중인가요? 먼저 그곳에서 초기화하세요 (pier lab reset 16)"),
        );
        bail!("{}", why.get(ctx.lang()));
    }
    // pier under a runc name: a symbolic link works wherever the lab's directory is (a hard
    // link, as `pier runtime install-link` makes, must stay on the binary's filesystem).
    let exe = ctx
        .pier()
        .canonicalize()
        .with_context(|| format!("resolving {}", ctx.pier().display()))?;
    let link = dir.join("pier-runc");
    std::os::unix::fs::symlink(&exe, &link)
        .with_context(|| format!("linking {} to {}", link.display(), exe.display()))?;

    let cni = dir.join("cni");
    std::fs::create_dir_all(&cni).with_context(|| format!("creating {}", cni.display()))?;
    let conflist = cni.join("10-lab16.conflist");
    let text =
        pier_cri::containerd_config::cni_bridge_conflist(BRIDGE, SUBNET, &dir.join("cni-ipam"));
    std::fs::write(&conflist, text).with_context(|| format!("writing {}", conflist.display()))?;

    // The pause image: busybox's sleep, which does what Kubernetes' pause does but reap.
    let build = dir.join("pause-build");
    std::fs::create_dir_all(&build).with_context(|| format!("creating {}", build.display()))?;
    std::fs::write(
        build.join("Dockerfile"),
        "FROM busybox\nENTRYPOINT [\"sleep\", \"inf\"]\n",
    )
    .with_context(|| format!("writing {}/Dockerfile", build.display()))?;
    ctx.pier_output(&["build", "-q", "-t", PAUSE, &build.to_string_lossy()])?;
    std::fs::remove_dir_all(&build).with_context(|| format!("removing {}", build.display()))?;
    ctx.pier_output(&["tag", "busybox", BUSYBOX])?;
    let archive = dir.join("images.tar");
    ctx.pier_output(&["save", "-o", &archive.to_string_lossy(), PAUSE, BUSYBOX])?;
    Ok(())
}

/// Removes what the student's containerd made; one line per thing removed. Fails, naming
/// them, if anything is left.
pub fn teardown(ctx: &Ctx, dir: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    if dir.join("containerd.sock").exists() {
        if let Ok(mut c) = pier_cri::Client::connect(&endpoint(ctx)) {
            for pod in c.pods().unwrap_or_default() {
                let name = pod.metadata.map(|m| m.name).unwrap_or_default();
                let _ = c.stop_pod(&pod.id);
                let _ = c.remove_pod(&pod.id);
                removed.push(format!("pod {name}"));
            }
        }
    }
    for pid in processes(dir, |comm| comm == "containerd") {
        stop(pid);
        removed.push(format!("containerd (PID {pid})"));
    }
    // Containers pier still runs (containerd died before it could remove its pods).
    let state = dir.join("pier-state/k8s.io");
    if state.is_dir() {
        let root = state.to_string_lossy().into_owned();
        let ids = ctx
            .pier_output(&["runtime", "--root", &root, "list", "-q"])
            .unwrap_or_default();
        for id in ids.lines().filter(|l| !l.trim().is_empty()) {
            let _ = ctx.pier_output(&["runtime", "--root", &root, "delete", "--force", id]);
            removed.push(format!("pier container {}", &id[..id.len().min(13)]));
        }
    }
    for pid in processes(dir, |comm| comm.starts_with("containerd-shim")) {
        stop(pid);
        removed.push(format!("containerd shim (PID {pid})"));
    }
    let mut mounts = mounts_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in &mounts {
        let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        removed.push(format!("mount {}", m.display()));
    }
    if bridge_exists() {
        let _ = Command::new("ip")
            .args(["link", "del", BRIDGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        removed.push(format!("bridge {BRIDGE}"));
    }
    for cg in cgroup_dirs() {
        remove_tree(&cg);
        removed.push(format!("cgroup {}", cg.display()));
    }

    let mut left = Vec::new();
    for pid in processes(dir, |comm| comm.starts_with("containerd")) {
        left.push(format!("process {pid}"));
    }
    for m in mounts_under(dir) {
        left.push(format!("mount {}", m.display()));
    }
    if bridge_exists() {
        left.push(format!("bridge {BRIDGE}"));
    }
    for cg in cgroup_dirs() {
        left.push(format!("cgroup {}", cg.display()));
    }
    if !left.is_empty() {
        bail!("reset of lab 16 left things behind: {}", left.join(", "));
    }
    Ok(removed)
}

fn bridge_exists() -> bool {
    Path::new("/sys/class/net").join(BRIDGE).exists()
}

/// The pods' cgroup parent in every hierarchy where it exists.
fn cgroup_dirs() -> Vec<PathBuf> {
    let rel = POD_CGROUP.trim_start_matches('/');
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(rel)];
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        dirs.push(h.path().join(rel));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Removes a cgroup directory and the empty ones below it, deepest first.
fn remove_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The processes whose name passes `name` and that belong to the lab: their command line
/// names the lab's directory (`--config /…/config.toml`, a shim's `-address`), or they run
/// in it (`containerd --config config.toml` started there).
pub fn processes(dir: &Path, name: impl Fn(&str) -> bool) -> Vec<i32> {
    let dir_text = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !name(comm.trim()) || !alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let in_cmdline = String::from_utf8_lossy(&cmdline).contains(&dir_text);
        let in_dir = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .is_ok_and(|cwd| cwd.starts_with(dir) || cwd.to_string_lossy().starts_with(&dir_text));
        if in_cmdline || in_dir {
            found.push(pid);
        }
    }
    found
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            != Some("Z")
    })
}

/// SIGTERM, then SIGKILL after 10 s.
fn stop(pid: i32) {
    // SAFETY: kill(2) on a PID just found to be the lab's (its command line or working
    // directory names the lab's directory).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        // Reap it if it is our child (it is not when the student's shell started it).
        // SAFETY: waitpid with WNOHANG on one PID; no memory is shared.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
