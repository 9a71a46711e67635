//! The memory a detached container costs in the process that watches it: pier's monitor
//! beside Podman's conmon and containerd's shim (`containerd-shim-runc-v2`), N containers
//! each (`sleep`), same machine, one run. Per process: `VmRSS`, `RssAnon`, `RssFile` (from
//! `/proc/PID/status`) and `Pss` (from `/proc/PID/smaps_rollup`: the shared pages divided
//! among the processes that map them, the fair per-container figure); the table gives the
//! mean per container.
//!
//! `cargo run -p pier-bench --example monitor_memory -- PIER_BINARY [N]`
//!
//! Everything is private and removed at the end: pier's root, Podman's storage, run and
//! temporary directories (and a `containers.conf` of its own), a containerd with its own root,
//! state and socket. The image is a rootfs made of this host's static busybox. A side whose
//! tool is missing or fails is reported and skipped.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One process's memory, kB.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    vm_rss: u64,
    rss_anon: u64,
    rss_file: u64,
    pss: u64,
}

/// The `field:` value of a `/proc` key-value file, in kB.
fn kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn memory_of(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))?;
    let get = |text: &str, f: &str| kb(text, f).with_context(|| format!("no {f} for PID {pid}"));
    Ok(Memory {
        vm_rss: get(&status, "VmRSS")?,
        rss_anon: get(&status, "RssAnon")?,
        rss_file: get(&status, "RssFile")?,
        pss: get(&rollup, "Pss")?,
    })
}

fn mean(all: &[Memory]) -> Memory {
    let n = all.len().max(1) as u64;
    let sum = |f: fn(&Memory) -> u64| all.iter().map(f).sum::<u64>() / n;
    Memory {
        vm_rss: sum(|m| m.vm_rss),
        rss_anon: sum(|m| m.rss_anon),
        rss_file: sum(|m| m.rss_file),
        pss: sum(|m| m.pss),
    }
}

/// Runs `c`; its standard output, or its standard error as the error.
fn output(mut c: Command) -> Result<String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {:?}", c.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            c.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// PIDs of the processes whose command line starts with `program` and mentions `marker`.
fn processes(program: &str, marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let text = String::from_utf8_lossy(&c).replace('\0', " ");
                text.starts_with(program) && text.contains(marker)
            })
        })
        .collect()
}

/// A rootfs of the host's static busybox (`sh`, `sleep`), and its tar for `podman import`.
fn rootfs(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).context("making the rootfs")?;
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).context("copying busybox")?;
    for tool in ["sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool))
            .context("linking busybox")?;
    }
    let tar = dir.join("rootfs.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".");
    output(c)?;
    Ok((root, tar))
}

/// pier's monitors of `n` containers (`pier run -d`); removed after measuring.
fn pier(pier: &Path, dir: &Path, n: usize) -> Result<Vec<Memory>> {
    let root = dir.join("pier");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(pier);
        c.arg("--root").arg(&root).args(args);
        c
    };
    output(cmd(&["image", "bootstrap", "busybox"]))?;
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = output(cmd(&[
            "run",
            "-d",
            "--network",
            "none",
            "busybox",
            "sleep",
            "100000",
        ]))?;
        ids.push(id.trim().to_string());
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut out = Vec::new();
    for id in &ids {
        let info: serde_json::Value = serde_json::from_str(&output(cmd(&["inspect", id]))?)?;
        let pid = info[0]["monitor"]["pid"]
            .as_u64()
            .context("pier inspect names no monitor")?;
        out.push(memory_of(pid as u32)?);
    }
    let mut rm = cmd(&["rm", "-f"]);
    rm.args(&ids);
    output(rm)?;
    Ok(out)
}

/// conmon of `n` containers of Podman (runc, private storage); removed after measuring.
fn podman(dir: &Path, tar: &Path, n: usize) -> Result<Vec<Memory>> {
    let state = dir.join("podman");
    std::fs::create_dir_all(&state)?;
    std::fs::write(
        state.join("containers.conf"),
        "[engine]\nlock_type = \"file\"\n",
    )?;
    let args = |c: &mut Command| {
        c.env_remove("DOCKER_CONFIG")
            .env("CONTAINERS_CONF", state.join("containers.conf"))
            .arg("--root")
            .arg(state.join("storage"))
            .arg("--runroot")
            .arg(state.join("run"))
            .arg("--tmpdir")
            .arg(state.join("tmp"));
    };
    // `podman import` writes a blob cache under /var/lib/containers whatever --root says: a
    // tmpfs over /var/lib, in a private mount namespace, takes it.
    let mut import = Command::new("unshare");
    import
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount -t tmpfs monitor-memory /var/lib && exec \"$@\"")
        .arg("sh")
        .arg("podman");
    args(&mut import);
    import
        .arg("import")
        .arg(tar)
        .arg("localhost/monitor-memory");
    output(import)?;
    let mut result = Ok(());
    for i in 0..n {
        let mut c = Command::new("podman");
        args(&mut c);
        c.args(["run", "-d", "--runtime", "runc", "--network", "none"])
            .args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
            ])
            .arg(format!("--name=monitor-memory-{i}"))
            .args(["localhost/monitor-memory", "sleep", "100000"]);
        if let Err(e) = output(c) {
            result = Err(e);
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let marker = state.join("storage").display().to_string();
    let measured: Result<Vec<Memory>> = processes("/usr/bin/conmon", &marker)
        .into_iter()
        .map(memory_of)
        .collect();
    let mut rm = Command::new("podman");
    args(&mut rm);
    rm.args(["rm", "-f", "-a", "-t", "0"]);
    let _ = output(rm);
    result?;
    measured
}

/// A private containerd; killed (with its shims' containers removed) on drop.
struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Result<Containerd> {
        let dir = dir.join("containerd");
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("c.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n",
                dir.display(),
                socket.display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("log"))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting containerd")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("containerd did not make {} within 20 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Containerd { child, socket })
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.socket)
            .args(["-n", "monitor-memory"])
            .args(args);
        c
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for i in 0..64 {
            let id = format!("mm{i}");
            let _ = output(self.ctr(&["task", "kill", "-s", "KILL", &id]));
            std::thread::sleep(Duration::from_millis(50));
            let _ = output(self.ctr(&["task", "delete", &id]));
            let _ = output(self.ctr(&["container", "delete", &id]));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// containerd-shim-runc-v2 of `n` containers (`ctr run -d --rootfs`).
fn containerd(dir: &Path, rootfs: &Path, n: usize) -> Result<Vec<Memory>> {
    let d = Containerd::start(dir)?;
    let rootfs = rootfs.display().to_string();
    for i in 0..n {
        let id = format!("mm{i}");
        output(d.ctr(&[
            "run",
            "-d",
            "--env",
            "PATH=/bin",
            "--rootfs",
            &rootfs,
            &id,
            "/bin/sleep",
            "100000",
        ]))?;
    }
    std::thread::sleep(Duration::from_secs(1));
    processes("/usr/bin/containerd-shim-runc-v2", "monitor-memory")
        .into_iter()
        .map(memory_of)
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(pier_binary) = args.get(1).map(PathBuf::from) else {
        bail!("usage: monitor_memory PIER_BINARY [N]");
    };
    let n: usize = args.get(2).map_or(Ok(3), |s| s.parse()).context("N")?;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let (rootfs, tar) = rootfs(dir.path())?;
    let sides: [(&str, Result<Vec<Memory>>); 3] = [
        ("pier monitor", pier(&pier_binary, dir.path(), n)),
        ("conmon (podman)", podman(dir.path(), &tar, n)),
        (
            "containerd-shim-runc-v2",
            containerd(dir.path(), &rootfs, n),
        ),
    ];
    println!("Per container, mean of {n} (kB): the watching process of a detached `sleep`.\n");
    println!("| process | VmRSS | RssAnon | RssFile | Pss |");
    println!("|---|---:|---:|---:|---:|");
    for (name, result) in sides {
        match result {
            Ok(all) if !all.is_empty() => {
                let m = mean(&all);
                println!(
                    "| {name} | {} | {} | {} | {} |",
                    m.vm_rss, m.rss_anon, m.rss_file, m.pss
                );
            }
            Ok(_) => println!("| {name} | not found | | | |"),
            Err(e) => println!("| {name} | skipped: {e:#} | | | |"),
        }
    }
    Ok(())
}
