//! Pull bench: the same ~100 MB multi-layer image (scripts/layered-image.sh: Debian 12 plus a
//! layer of random data) pulled from a private TLS registry (tests/common/registry.rs:
//! docker-registry, htpasswd login) by pier, skopeo, podman and Docker, cold each time, in
//! interleaved rounds; medians with their spread and bootstrap 95% intervals, and each
//! tool's median as a ratio to pier's. A program, not a timed test:
//!
//! ```sh
//! cargo build --release -p pier
//! cargo run -p pier --example pull_bench -- [--runs N] [--bulk-mb M] [--fs ext4|tmpfs]
//!     [--fs-gib G] [--pier target/release/pier] [--out DIR]
//! ```
//!
//! Every store is on the same file system, the bench's own ([`scratch_fs`]: by default a
//! journaled ext4 on a sparse loop file under /var/tmp, or a tmpfs), and nothing is deleted
//! until the last round is over (deleting a tree first slows the next extraction on some
//! file systems: whoever came after a delete would pay for it). Cold means: pier and podman
//! pull into a fresh, empty store each run (`--root`; podman's `--runroot` too); skopeo
//! copies to a fresh `oci:` directory (download and verify only: it does not unpack, so it
//! is a floor, not a peer); Docker pulls with a fresh dockerd whose data root is fresh and
//! empty. Before each pull the file system is synced (untimed), so no tool's writeback is
//! charged to the next. Each tool trusts the
//! registry's CA the way it is told to (pier and podman: a certs.d directory; skopeo:
//! `--src-cert-dir`; dockerd 20.10 reads certs.d only from /etc/docker/certs.d, so its
//! private daemon gets `SSL_CERT_FILE` naming the system bundle plus the CA instead:
//! verification stays on and the host's /etc/docker is not touched). Results go to
//! `DIR/<timestamp>/` (default `results/pull`): `samples.csv`, `environment.json` (machine,
//! kernel, cgroup layout, tool versions, the stores' file system and whether it has a
//! journal), `summary.txt`.

// A bench program reports a broken setup by panicking, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tests/common/registry.rs"]
mod registry;
mod scratch_fs;

use pier_record::environment::{EnvironmentRecord, Inputs};
use pier_record::record::{write_samples, Sample};
use pier_record::stats;
use pier_record::storage::StorageRecord;
use registry::{Registry, PASSWORD, USER};
use scratch_fs::{FsKind, ScratchFs};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    runs: u32,
    bulk_mb: u32,
    pier: PathBuf,
    out: PathBuf,
    fs: FsKind,
    fs_gib: Option<u64>,
}

fn options() -> Options {
    let mut o = Options {
        runs: 5,
        bulk_mb: 40,
        pier: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pier"),
        out: PathBuf::from("results/pull"),
        fs: FsKind::Ext4,
        fs_gib: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).expect("every option takes a value");
        match pair[0].as_str() {
            "--runs" => o.runs = value.parse().expect("--runs N"),
            "--bulk-mb" => o.bulk_mb = value.parse().expect("--bulk-mb M"),
            "--pier" => o.pier = PathBuf::from(value),
            "--out" => o.out = PathBuf::from(value),
            "--fs" => o.fs = FsKind::parse(value),
            "--fs-gib" => o.fs_gib = Some(value.parse().expect("--fs-gib G")),
            other => {
                panic!("unknown option {other}: --runs, --bulk-mb, --fs, --fs-gib, --pier, --out")
            }
        }
    }
    o
}

/// Runs a command to success, returning how long it took.
fn timed(mut c: Command, what: &str) -> Duration {
    c.stdin(Stdio::null());
    let start = Instant::now();
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Unmounts whatever is mounted strictly under `dir` (podman's storage bind-mounts its
/// overlay directory), deepest first.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let prefix = format!("{}/", dir.display());
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
}

/// A dockerd of the bench's own: exec root, socket and logs in `dir`, its data in
/// `data_root`, the client's config (its login) in `client`; no bridge, no firewall rules;
/// it trusts the system bundle plus the registry's CA.
struct Dockerd {
    child: Child,
    dir: PathBuf,
    client: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path, data_root: &Path, client: &Path, ca_pem: &str) -> Result<Dockerd, String> {
        let dockerd = which("dockerd").ok_or("dockerd is not installed")?;
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all(client).unwrap();
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .map_err(|e| format!("reading the system CA bundle: {e}"))?;
        std::fs::write(dir.join("ca-bundle.crt"), format!("{system}\n{ca_pem}")).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}\n").unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(data_root)
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .env("SSL_CERT_FILE", dir.join("ca-bundle.crt"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
            client: client.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut c = d.client();
            c.arg("version").stdout(Stdio::null()).stderr(Stdio::null());
            if c.status().map(|s| s.success()).unwrap_or(false) {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dockerd did not answer in 60 s: see {}",
                    dir.join("dockerd.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn client(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", &self.client);
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM: dockerd unmounts its layers and stops its containerd before exiting.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its data root stays until the bench's file system goes; its own directory
        // goes with the bench's work directory.
        unmount_under(&self.dir);
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn version(cmd: &[&str]) -> String {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

fn main() {
    let o = options();
    assert!(
        o.pier.is_file(),
        "{} is missing: cargo build --release -p pier (or --pier PATH)",
        o.pier.display()
    );
    let ip = registry::host_ip().unwrap();
    let work = tempfile::Builder::new()
        .prefix("pier-pull-bench-")
        .tempdir()
        .unwrap();
    let w = work.path();
    // Sized for every round's stores at once (nothing is deleted before the end): pier's
    // blobs and tree, podman's and Docker's trees, skopeo's blobs, about 1 GiB a round.
    let need_gib = u64::from(o.runs + 1) * (1 + u64::from(o.bulk_mb) / 40);
    let fs = ScratchFs::make(o.fs, o.fs_gib.unwrap_or((need_gib * 2).max(16)), need_gib);
    eprintln!("stores on {}: {}", fs.path().display(), fs.backing);
    eprintln!(
        "making the image ({} MiB of random data on Debian 12)",
        o.bulk_mb
    );
    let layout = registry::layered_image(&w.join("layout"), o.bulk_mb).unwrap();
    let reg = Registry::start(ip);
    let name = "bench/debian:pull";
    reg.push(
        &["--dest-compress", "--format", "v2s2"],
        &format!("oci:{}:layered", layout.display()),
        name,
    );
    let manifest = reg.raw_manifest(name);
    let compressed: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    let layers = manifest["layers"].as_array().unwrap().len();
    let image = format!("{}/{name}", reg.host);
    eprintln!(
        "{image}: {layers} layers, {:.1} MB compressed",
        compressed as f64 / 1e6
    );

    // pier: certs.d and a login in private files.
    let pier_home = w.join("pier-home");
    let certs = pier_home.join("certs.d").join(&reg.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), reg.ca.pem()).unwrap();
    let pier = |root: &Path, args: &[&str]| {
        let mut c = Command::new(&o.pier);
        c.arg("--root")
            .arg(root)
            .args(args)
            .env("DOCKER_CONFIG", pier_home.join("docker"))
            .env("PIER_CERTS_D", pier_home.join("certs.d"))
            .env("PIER_CONFIG", pier_home.join("config.json"))
            .env_remove("SSL_CERT_FILE");
        c
    };
    let mut login = pier(
        &w.join("login-root"),
        &["login", "-u", USER, "--password-stdin"],
    );
    login
        .arg(&reg.host)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = login.spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "pier login");

    // podman: its certs.d layout too.
    let podman_certs = w.join("podman-certs");
    std::fs::create_dir_all(&podman_certs).unwrap();
    std::fs::write(podman_certs.join("ca.crt"), reg.ca.pem()).unwrap();
    let creds = format!("{USER}:{PASSWORD}");

    // Docker: a fresh daemon (and data root) per run; the client's login is shared.
    let docker_client = w.join("docker-client");
    let docker_run = |label: &str| {
        Dockerd::start(
            &w.join(format!("dockerd-{label}")),
            &fs.path().join(format!("docker-{label}")),
            &docker_client,
            &reg.ca.pem(),
        )
    };
    let docker = match docker_run("login") {
        Ok(d) => {
            let mut c = d.client();
            c.args(["login", "-u", USER, "--password-stdin", &reg.host])
                .stdin(Stdio::piped())
                .stdout(Stdio::null());
            let mut child = c.spawn().unwrap();
            writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
            assert!(child.wait().unwrap().success(), "docker login");
            true
        }
        Err(e) => {
            eprintln!("docker skipped: {e}");
            false
        }
    };
    let has_podman = which("podman").is_some();
    if !has_podman {
        eprintln!("podman skipped: not installed");
    }

    let mut tools = vec!["pier", "skopeo"];
    if has_podman {
        tools.push("podman");
    }
    if docker {
        tools.push("docker");
    }
    let run_id = pier_record::clock::now_rfc3339();
    let mut samples = Vec::new();
    // Round 0 warms the registry's page cache and is not recorded.
    for round in 0..=o.runs {
        for tool in &tools {
            let scratch = fs.path().join(format!("{tool}-{round}"));
            std::fs::create_dir_all(&scratch).unwrap();
            // Started before the sync, so its own start-up writes are not timed either.
            let daemon = (*tool == "docker").then(|| docker_run(&round.to_string()).unwrap());
            fs.sync();
            let took = match *tool {
                "pier" => timed(pier(&scratch, &["pull", &image]), "pier pull"),
                "skopeo" => {
                    let mut c = Command::new("skopeo");
                    c.args(["copy", "--src-cert-dir"])
                        .arg(&podman_certs)
                        .args(["--src-creds", &creds])
                        .arg(format!("docker://{image}"))
                        .arg(format!("oci:{}:x", scratch.join("oci").display()));
                    timed(c, "skopeo copy")
                }
                "podman" => {
                    let mut c = Command::new("podman");
                    c.arg("--root")
                        .arg(scratch.join("root"))
                        .arg("--runroot")
                        .arg(scratch.join("run"))
                        .args(["--storage-driver", "overlay", "pull", "--cert-dir"])
                        .arg(&podman_certs)
                        .args(["--creds", &creds, "--quiet", &image]);
                    timed(c, "podman pull")
                }
                "docker" => {
                    let mut c = daemon.as_ref().unwrap().client();
                    c.args(["pull", "--quiet", &image]);
                    timed(c, "docker pull")
                }
                _ => unreachable!(),
            };
            drop(daemon);
            eprintln!(
                "round {round}{}: {tool} {:.2} s",
                if round == 0 { " (warm-up)" } else { "" },
                took.as_secs_f64()
            );
            if round > 0 {
                samples.push(Sample {
                    run_id: run_id.clone(),
                    suite: "pull".into(),
                    metric: "pull_seconds".into(),
                    unit: "s".into(),
                    environment: tool.to_string(),
                    variant: String::new(),
                    iteration: round,
                    value: took.as_secs_f64(),
                    accelerator: None,
                    timestamp: pier_record::clock::now_rfc3339(),
                });
            }
        }
    }

    let values = |tool: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.environment == tool)
            .map(|s| s.value)
            .collect()
    };
    let pier_values = values("pier");
    let mut summary = format!(
        "pull of {image}: {layers} layers, {:.1} MB compressed, {} cold runs each\n\
         {:<8} {:>8} {:>8} {:>8} {:>17} {:>8} {:>17}\n",
        compressed as f64 / 1e6,
        o.runs,
        "tool",
        "median",
        "min",
        "max",
        "median 95% CI",
        "/pier",
        "ratio 95% CI"
    );
    for tool in &tools {
        let v = values(tool);
        let ci = stats::median_ci95(&v).unwrap();
        let (ratio, rci) = stats::ratio_of_medians(&v, &pier_values, 0.95, 2000, 7).unwrap();
        summary.push_str(&format!(
            "{:<8} {:>7.2}s {:>7.2}s {:>7.2}s {:>7.2}s-{:>6.2}s {:>7.2}x {:>7.2}x-{:>6.2}x\n",
            tool,
            stats::median(&v).unwrap(),
            stats::min(&v).unwrap(),
            stats::max(&v).unwrap(),
            ci.low,
            ci.high,
            ratio,
            rci.low,
            rci.high
        ));
    }
    summary.push_str(
        "skopeo copies to an oci: directory: download and verify only, no unpacking (a floor).\n",
    );
    let storage = StorageRecord::of(fs.path(), Some(fs.backing.clone())).unwrap();
    summary.push_str(&format!(
        "stores on {} ({}, journal: {}), {}\n",
        storage.fs_type,
        storage.source,
        storage
            .journal
            .map_or("n/a", |j| if j { "yes" } else { "no" }),
        fs.backing
    ));
    print!("{summary}");

    let dir = o.out.join(run_id.replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    write_samples(&dir.join("samples.csv"), &samples).unwrap();
    let mut env = EnvironmentRecord::collect(&Inputs {
        pier_version: version(&[o.pier.to_str().unwrap(), "--version"]),
        ..Inputs::default()
    })
    .unwrap();
    if !docker {
        env.docker_version = None;
    }
    env.storage = Some(storage);
    std::fs::write(
        dir.join("environment.json"),
        serde_json::to_string_pretty(&env).unwrap(),
    )
    .unwrap();
    let versions = format!(
        "skopeo: {}\npodman: {}\ndockerd: {}\n",
        version(&["skopeo", "--version"]),
        version(&["podman", "--version"]),
        version(&["dockerd", "--version"])
    );
    std::fs::write(dir.join("summary.txt"), format!("{summary}{versions}")).unwrap();
    eprintln!("results in {}", dir.display());
    drop(reg);
    drop(fs);
}
