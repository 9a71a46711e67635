//! Docker as a bench peer, as root: the bench starts its own dockerd (own socket, data and
//! exec roots, bridge), loads the bench image pier saves, runs the start-up suite's Docker
//! cases (host network and bridge) for two launches each, and afterwards nothing of that
//! dockerd is left: no process, bridge, veth, mount (network namespaces included), cgroup,
//! nft/iptables rule or directory (listings taken before and after are compared). The same
//! holds when `pier bench` is interrupted (SIGINT, as Ctrl-C sends) in the middle of Docker's
//! launches.
//!
//! Needs the static payload (`bench/build-payload.sh`), a built `pier`, runc (the bundle's
//! config) and Debian's docker.io (`scripts/setup.sh` installs it): prerequisites, so a
//! missing one fails under CI and is reported as skipped elsewhere.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{pier_binary, static_payload};
use pier_bench::envs::docker::Docker;
use pier_bench::envs::{bundle, Availability, Environment, Setup};
use pier_bench::harness::EnvRef;
use pier_bench::suites::{self, Ctx, Settings};
use pier_testkit::prereq::{self, require};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// The tests here each start a dockerd and then check that nothing new is left on the host
/// (veths, rules, processes): run side by side, one would see the other's veths. One at a time.
static ONE_DOCKERD: Mutex<()> = Mutex::new(());

fn one_dockerd_at_a_time() -> MutexGuard<'static, ()> {
    ONE_DOCKERD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text(cmd: &[&str]) -> String {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// What the host holds that a dockerd could leave behind.
#[derive(Debug)]
struct Listing {
    links: BTreeSet<String>,
    firewall: BTreeSet<String>,
    mounts: BTreeSet<String>,
}

impl Listing {
    fn take() -> Listing {
        let lines = |s: String| -> BTreeSet<String> { s.lines().map(str::to_string).collect() };
        let links = text(&["ip", "-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect();
        // Counters change between listings: rules only.
        let mut firewall = lines(text(&["nft", "list", "ruleset"]));
        firewall.extend(
            lines(text(&["iptables-save"]))
                .into_iter()
                .filter(|l| !l.starts_with('#') && !l.starts_with(':')),
        );
        Listing {
            links,
            firewall,
            mounts: std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .map(str::to_string)
                .collect(),
        }
    }
}

fn new_in<'a>(before: &'a BTreeSet<String>, after: &'a BTreeSet<String>) -> Vec<&'a String> {
    after.difference(before).collect()
}

/// The static payload, the pier binary, then runc, dockerd and docker; `None` (skipped, or
/// failed under CI) when one is missing.
fn prerequisites() -> Option<Vec<std::path::PathBuf>> {
    let needed = [
        (
            "the static bench payload (bench/build-payload.sh)",
            static_payload(),
        ),
        ("the pier binary (cargo build -p pier)", pier_binary()),
        ("runc, for the bench bundle", prereq::tool("runc")),
        ("dockerd (Debian's docker.io)", prereq::tool("dockerd")),
        ("the docker client (docker.io)", prereq::tool("docker")),
    ];
    needed
        .into_iter()
        .map(|(what, found)| require(what, found))
        .collect()
}

#[test]
fn docker_start_up_runs_on_a_private_dockerd_and_leaves_nothing() {
    let _alone = one_dockerd_at_a_time();
    let started = Instant::now();
    let Some(found) = prerequisites() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let setup = Setup {
        payload: found[0].clone(),
        pier: found[1].clone(),
        cache: cache.path().canonicalize().unwrap(),
    };
    let before = Listing::take();
    bundle::prepare(&setup).expect("preparing the bench image and bundle");
    let pid = std::process::id();
    let bridge = format!("pbdk{pid}");
    let dir = setup.cache.join("docker").join(pid.to_string());
    {
        let docker = Rc::new(RefCell::new(Docker::new(&setup, Availability::Available)));
        assert_eq!(
            docker.borrow().availability(),
            Availability::Available,
            "the bench's dockerd"
        );
        // The things the checks below look for exist while it runs (so they can fail).
        let running = Listing::take();
        assert!(running.links.contains(&bridge), "bridge {bridge} made");
        assert!(
            !pier_bench::envs::docker::daemon::processes_naming(&dir).is_empty(),
            "dockerd runs with its state in {}",
            dir.display()
        );
        // Never the user's Docker: its own socket, and no docker0 made.
        assert!(
            before.links.contains("docker0") || !running.links.contains("docker0"),
            "dockerd made a docker0"
        );
        let mut settings = Settings::tiny();
        settings.startup_runs = 2;
        let env: EnvRef = docker.clone();
        let ctx = Ctx {
            settings: &settings,
            run_id: "test",
            setup: &setup,
            envs: vec![env],
            vm: None,
            docker: Some(docker.clone()),
            progress: false,
        };
        let out = suites::startup::run(&ctx);
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        for variant in ["run", "run-bridge"] {
            let of = |metric: &str| -> Vec<f64> {
                out.samples
                    .iter()
                    .filter(|s| s.environment == "docker" && s.variant == variant)
                    .filter(|s| s.metric == metric)
                    .map(|s| s.value)
                    .collect()
            };
            let (exit, entry) = (of("launch_to_exit"), of("launch_to_entry"));
            assert_eq!(exit.len(), 2, "docker ({variant}): {:?}", out.samples);
            assert_eq!(entry.len(), 2, "docker ({variant})");
            for (x, e) in exit.iter().zip(&entry) {
                // A Go client, dockerd, containerd and runc: more than a millisecond, less
                // than half a minute; the payload starts before the client returns.
                assert!((1.0..30_000.0).contains(x), "launch → exit {x} ms");
                assert!(*e > 0.0 && e < x, "launch → entry {e} ms, exit {x} ms");
            }
        }
        drop(ctx);
    }
    // Dropped: the dockerd is stopped and everything of it removed.
    assert_nothing_left(&before, &setup.cache, pid);
    eprintln!("docker start-up test in {:.1?}", started.elapsed());
}

/// Asserts that nothing of the dockerd of bench process `pid` (state under `cache`) is left,
/// comparing with the listing taken `before` it started.
fn assert_nothing_left(before: &Listing, cache: &Path, pid: u32) {
    let after = Listing::take();
    let dir = cache.join("docker").join(pid.to_string());
    let bridge = format!("pbdk{pid}");
    let left = pier_bench::envs::docker::daemon::processes_naming(&dir);
    assert!(left.is_empty(), "processes of the dockerd left: {left:?}");
    assert!(!after.links.contains(&bridge), "bridge {bridge} left");
    let veths: Vec<_> = new_in(&before.links, &after.links)
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect();
    assert!(veths.is_empty(), "veths left: {veths:?}");
    let rules: Vec<_> = new_in(&before.firewall, &after.firewall)
        .into_iter()
        .filter(|l| l.to_lowercase().contains("docker") || l.contains(&bridge))
        .collect();
    assert!(rules.is_empty(), "firewall rules left: {rules:?}");
    // Docker's network namespaces are nsfs bind mounts under its exec root.
    let mounts: Vec<_> = new_in(&before.mounts, &after.mounts)
        .into_iter()
        .filter(|m| m.starts_with(&*cache.to_string_lossy()))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let name = format!("pier-bench-docker-{pid}");
    let mut cgroups = vec![Path::new("/sys/fs/cgroup").join(&name)];
    cgroups.extend(
        std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|h| h.path().join(&name)),
    );
    cgroups.retain(|p| p.exists());
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(!dir.exists(), "{} left", dir.display());
}

/// Ctrl-C in the middle of Docker's launches: `pier bench` stops its dockerd, removes all of
/// it, and exits with 130.
#[test]
fn ctrl_c_during_dockers_launches_leaves_nothing() {
    let _alone = one_dockerd_at_a_time();
    let Some(found) = prerequisites() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().canonicalize().unwrap();
    let before = Listing::take();
    let mut bench = Command::new(&found[1])
        .args([
            "bench", "--suite", "startup", "--env", "docker", "--runs", "50",
        ])
        .arg("--no-progress")
        .arg("--payload")
        .arg(&found[0])
        .arg("--cache")
        .arg(&cache_dir)
        .arg("--out")
        .arg(cache_dir.join("results"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting pier bench");
    let pid = bench.id();
    let dir = cache_dir.join("docker").join(pid.to_string());
    // Interrupted once a `docker run --rm` of the measurements is under way.
    let deadline = Instant::now() + pier_testkit::time::scaled(std::time::Duration::from_secs(90));
    let launching = || {
        pier_bench::envs::docker::daemon::processes_naming(&dir)
            .iter()
            .any(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"--rm"))
            })
    };
    while !launching() {
        if Instant::now() > deadline || bench.try_wait().unwrap().is_some() {
            let _ = bench.kill();
            let out = bench.wait_with_output().unwrap();
            panic!(
                "no docker run under way: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + pier_testkit::time::scaled(std::time::Duration::from_secs(60));
    let status = loop {
        if let Some(s) = bench.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = bench.kill();
            panic!("pier bench did not exit after SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut bench.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "exit status after SIGINT: {err}");
    assert!(err.contains("removing the bench's dockerd"), "{err}");
    assert_nothing_left(&before, &cache_dir, pid);
    // pier's bench root is the test's own: its network world goes with it.
    let root = cache_dir.join("pier-root");
    if root.join("networks").exists() {
        pier_bench::envs::pier::teardown_network(&root).unwrap();
    }
}
