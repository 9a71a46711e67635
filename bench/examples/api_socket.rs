//! `docker run --rm busybox true` through pier's Engine API socket (`pier system service`)
//! against the same client through a private dockerd (Debian's docker.io, its own data-root,
//! exec-root, socket and bridge, started and removed by [`Daemon`]), same image, same machine,
//! rounds interleaved; medians with their spread (p25-p75) and the ratio, in one run.
//!
//! `cargo run -p pier-bench --example api_socket -- PIER_BINARY [ROUNDS] [CACHE_DIR]`
//!
//! Both sides are driven by the same docker client (`/usr/bin/docker`, the Debian package's),
//! so the client's own start-up is in all numbers. `podman system service` is the third side,
//! with private storage, run and temporary directories and a `containers.conf` of its own
//! (file locks, and ulimits this root may set). A daemon that cannot start is reported and
//! skipped.

use anyhow::{bail, Context, Result};
use pier_bench::envs::docker::daemon::Daemon;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The docker client both sides are driven with.
const CLIENT: &str = "/usr/bin/docker";

/// `pier system service` on a private root and socket; stopped on drop.
struct PierService {
    child: Child,
    socket: PathBuf,
}

impl PierService {
    fn start(pier: &Path, root: &Path, socket: &Path) -> Result<PierService> {
        let _ = std::fs::remove_file(socket);
        let child = Command::new(pier)
            .arg("--root")
            .arg(root)
            .args(["system", "service", "--socket"])
            .arg(socket)
            .stderr(Stdio::null())
            .spawn()
            .context("starting pier system service")?;
        let svc = PierService {
            child,
            socket: socket.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("pier system service did not make {}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(svc)
    }
}

impl Drop for PierService {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the child this program started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// `podman system service` with everything under `dir` (storage, run-time state, locks,
/// configuration), busybox loaded from `archive`; stopped on drop.
struct PodmanService {
    child: Child,
    socket: PathBuf,
}

impl PodmanService {
    fn podman(dir: &Path) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", dir.join("containers.conf"))
            .env_remove("DOCKER_CONFIG")
            .arg("--root")
            .arg(dir.join("storage"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .arg("--tmpdir")
            .arg(dir.join("tmp"));
        c
    }

    fn start(dir: &Path, archive: &Path) -> Result<PodmanService> {
        std::fs::create_dir_all(dir)?;
        // The explicit ulimits keep podman from raising them beyond root's hard limits here
        // (as the bench's podman environment passes them to `podman run`).
        std::fs::write(
            dir.join("containers.conf"),
            "[engine]\nlock_type = \"file\"\n[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
        )?;
        let out = Self::podman(dir)
            .arg("load")
            .arg("-i")
            .arg(archive)
            .output()?;
        if !out.status.success() {
            bail!(
                "podman load: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let socket = dir.join("podman.sock");
        let _ = std::fs::remove_file(&socket);
        let child = Self::podman(dir)
            .args(["system", "service", "--time", "0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting podman system service")?;
        let svc = PodmanService { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !svc.socket.exists() {
            if Instant::now() > deadline {
                bail!(
                    "podman system service did not make {}",
                    svc.socket.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(svc)
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the child this program started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One `docker run --rm busybox true` on `socket`: its wall time.
fn one_run(socket: &Path) -> Result<Duration> {
    let config = std::env::temp_dir().join("pier-bench-api-client");
    let start = Instant::now();
    let out = Command::new(CLIENT)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["run", "--rm", "busybox", "true"])
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", &config)
        .stdin(Stdio::null())
        .output()
        .context("running the docker client")?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "docker run on {}: {}",
            socket.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// (median, p25, p75) in milliseconds.
fn stats(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i].as_secs_f64() * 1e3
    };
    (at(0.5), at(0.25), at(0.75))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(pier) = args.first().map(PathBuf::from) else {
        bail!("usage: api_socket PIER_BINARY [ROUNDS] [CACHE_DIR]");
    };
    let rounds: usize = args.get(1).map_or(Ok(20), |r| r.parse())?;
    let cache = PathBuf::from(
        args.get(2)
            .cloned()
            .unwrap_or_else(|| "/var/tmp/pier-bench-api".into()),
    );
    std::fs::create_dir_all(&cache)?;
    let root = cache.join("pier-root");
    if !root.join("images/index.json").is_file() {
        let ok = Command::new(&pier)
            .arg("--root")
            .arg(&root)
            .args(["image", "bootstrap", "busybox"])
            .status()?;
        if !ok.success() {
            bail!("pier image bootstrap busybox failed");
        }
    }
    let archive = cache.join("busybox.tar");
    let _ = std::fs::remove_file(&archive);
    let ok = Command::new(&pier)
        .arg("--root")
        .arg(&root)
        .args(["save", "-o"])
        .arg(&archive)
        .arg("busybox")
        .status()?;
    if !ok.success() {
        bail!("pier save busybox failed");
    }

    let service = PierService::start(&pier, &root, &cache.join("pier.sock"))?;
    let daemon = match Daemon::start(&cache, &archive) {
        Ok(d) => Some(d),
        Err(e) => {
            println!("dockerd: not measured: it could not start: {e:#}");
            None
        }
    };
    let dockerd_socket = daemon.as_ref().map(|d| d.dir().join("docker.sock"));
    if let Some(s) = &dockerd_socket {
        if !s.exists() {
            bail!("dockerd's socket is not at {}", s.display());
        }
    }
    let podman = match PodmanService::start(&cache.join("podman"), &archive) {
        Ok(p) => Some(p),
        Err(e) => {
            println!("podman system service: not measured: it could not start: {e:#}");
            None
        }
    };
    let podman_socket = podman.as_ref().map(|p| p.socket.clone());

    // Warm-up: image caches, the first container of each.
    for _ in 0..2 {
        one_run(&service.socket)?;
        if let Some(s) = &dockerd_socket {
            one_run(s)?;
        }
        if let Some(s) = &podman_socket {
            one_run(s)?;
        }
    }
    let (mut pier_times, mut docker_times, mut podman_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        pier_times.push(one_run(&service.socket)?);
        if let Some(s) = &dockerd_socket {
            docker_times.push(one_run(s)?);
        }
        if let Some(s) = &podman_socket {
            podman_times.push(one_run(s)?);
        }
    }
    let (pm, p25, p75) = stats(&mut pier_times);
    println!("docker run --rm busybox true, {rounds} rounds interleaved, client {CLIENT}");
    println!("  pier system service  median {pm:7.1} ms  (p25 {p25:.1}, p75 {p75:.1})");
    if !docker_times.is_empty() {
        let (dm, d25, d75) = stats(&mut docker_times);
        println!("  dockerd              median {dm:7.1} ms  (p25 {d25:.1}, p75 {d75:.1})");
        println!(
            "  ratio pier / dockerd: {:.2} (p25/p75 of each: {:.2} .. {:.2})",
            pm / dm,
            p25 / d75,
            p75 / d25
        );
    }
    if !podman_times.is_empty() {
        let (qm, q25, q75) = stats(&mut podman_times);
        println!("  podman system service median {qm:6.1} ms  (p25 {q25:.1}, p75 {q75:.1})");
        println!(
            "  ratio pier / podman: {:.2} (p25/p75 of each: {:.2} .. {:.2})",
            pm / qm,
            p25 / q75,
            p75 / q25
        );
    }
    drop(podman);
    drop(daemon);
    drop(service);
    Ok(())
}
