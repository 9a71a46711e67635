//! Docker as a bench peer, as root: the bench starts its own dockerd (own socket, data and
//! exec roots, bridge), loads the bench image pier saves, runs the start-up suite's Docker
//! cases (host network and bridge) for two launches each, and afterwards nothing of that
//! dockerd is left: no process, bridge, veth, mount, namespace, cgroup, nft/iptables rule or
//! directory (listings taken before and after are compared).
//!
//! Needs the static payload (`bench/build-payload.sh`), a built `pier`, runc (the bundle's
//! config) and Debian's docker.io (`scripts/setup.sh` installs it): prerequisites, so a
//! missing one fails under CI and is reported as skipped elsewhere.

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
use std::time::Instant;

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
    netns: BTreeSet<String>,
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
            netns: lines(text(&["ip", "netns", "list"])),
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

#[test]
fn docker_start_up_runs_on_a_private_dockerd_and_leaves_nothing() {
    let started = Instant::now();
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
    let mut found = Vec::new();
    for (what, f) in needed {
        match require(what, f) {
            Some(p) => found.push(p),
            None => return,
        }
    }
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
    let after = Listing::take();
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
    assert_eq!(before.netns, after.netns, "network namespaces");
    let mounts: Vec<_> = new_in(&before.mounts, &after.mounts)
        .into_iter()
        .filter(|m| m.starts_with(&*setup.cache.to_string_lossy()))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join(format!("pier-bench-docker-{pid}")))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(
        !Path::new(&format!("/sys/fs/cgroup/pier-bench-docker-{pid}")).exists(),
        "v2 cgroup left"
    );
    eprintln!("docker start-up test in {:.1?}", started.elapsed());
}
