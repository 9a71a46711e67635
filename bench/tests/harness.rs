//! The harness end to end, as root: environment detection (with reasons), the interleaved
//! plan, and one real short run of every suite (tiny sizes, one run) in every environment.
//!
//! Container environments need the static payload (`bench/build-payload.sh`), a built `pier`
//! binary (`cargo build -p pier`) in the workspace's target directory, and runc, crun and
//! podman (`scripts/setup.sh test`): prerequisites the test setup provides, so a missing one
//! fails the test under CI and is reported as skipped elsewhere ([`prereq`]).

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{pier_binary, static_payload};
use pier_bench::envs::docker::Docker;
use pier_bench::envs::native::Native;
use pier_bench::envs::oci_peer::OciPeer;
use pier_bench::envs::pier::{PierRun, PierRuntime};
use pier_bench::envs::podman::Podman;
use pier_bench::envs::{bundle, cgroup_workaround, Availability, Environment, Setup};
use pier_bench::harness::{self, Case, EnvRef, Plan, Step};
use pier_bench::suites::{self, Ctx, Settings};
use pier_testkit::prereq::{self, require};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The payload of a plain cargo build (dynamic: fine for native runs only; `cargo test
/// --workspace` builds it for the payload crate's own tests), or why there is none.
pub fn dynamic_payload() -> Result<PathBuf, String> {
    ["debug", "release"]
        .iter()
        .map(|p| common::target_dir().join(p).join("pier-payload"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no pier-payload in {}/{{debug,release}} (cargo build -p pier-payload)",
                common::target_dir().display()
            )
        })
}

#[test]
fn unavailable_environments_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        payload: dir.path().join("no-payload"),
        pier: dir.path().join("no-pier"),
        cache: dir.path().to_path_buf(),
    };
    let native = Native::new(&setup);
    let r = native.availability();
    assert!(r.reason().unwrap().contains("no-payload"), "{r:?}");
    let peer = OciPeer::new("no-such-runtime-xyz", &setup, None, Availability::Available);
    assert!(peer
        .availability()
        .reason()
        .unwrap()
        .contains("not installed"));
    let pier = PierRun::new(&setup, Availability::Available);
    assert!(pier.availability().reason().unwrap().contains("no-pier"));
    let podman = Podman::new(&setup, None);
    assert!(!podman.availability().is_available());
    // A bundle that could not be prepared makes the peers unavailable with that reason.
    let runc = OciPeer::new(
        "sh",
        &setup,
        None,
        Availability::Unavailable("no rootfs".into()),
    );
    assert_eq!(runc.availability().reason(), Some("no rootfs"));
    // Docker says why too: no image to load (before any dockerd starts), or the bundle's reason.
    let docker = Docker::new(&setup, Availability::Unavailable("no rootfs".into()));
    assert_eq!(docker.availability().reason(), Some("no rootfs"));
    let docker = Docker::new(&setup, Availability::Available);
    let why = docker.availability().reason().unwrap().to_string();
    assert!(why.contains("pier save"), "{why}");
    assert!(
        !setup.cache.join("docker").exists(),
        "no dockerd state made"
    );
}

#[test]
fn plan_interleaves_environments_after_warm_up() {
    let steps = harness::schedule(&[2, 2, 2], Plan { warmup: 1, runs: 2 });
    let order: Vec<(usize, bool)> = steps.iter().map(|s| (s.case, s.warmup)).collect();
    assert_eq!(
        order,
        vec![
            (0, true),
            (1, true),
            (2, true),
            (0, false),
            (1, false),
            (2, false),
            // The next round starts one case later: no case always follows the same one.
            (1, false),
            (2, false),
            (0, false)
        ]
    );
    // A case with fewer runs (the emulated VM) drops out of later rounds only.
    let steps = harness::schedule(&[3, 1], Plan { warmup: 0, runs: 3 });
    assert_eq!(
        steps,
        vec![
            Step {
                case: 0,
                iteration: 0,
                warmup: false
            },
            Step {
                case: 1,
                iteration: 0,
                warmup: false
            },
            Step {
                case: 0,
                iteration: 1,
                warmup: false
            },
            Step {
                case: 0,
                iteration: 2,
                warmup: false
            },
        ]
    );
}

#[test]
fn a_failing_case_is_dropped_and_the_others_go_on() {
    let maker = harness::SampleMaker {
        run_id: "t".into(),
        suite: "cpu".into(),
    };
    let calls = RefCell::new(Vec::new());
    let mut cases = vec![
        Case {
            label: "bad".into(),
            runs: 5,
            warmup: true,
            run: Box::new(|_| {
                calls.borrow_mut().push("bad");
                anyhow::bail!("boom")
            }),
        },
        Case {
            label: "good".into(),
            runs: 5,
            warmup: true,
            run: Box::new(|i| {
                calls.borrow_mut().push("good");
                Ok(vec![maker.make("m", "ms", "native", "", i, 1.0, None)])
            }),
        },
    ];
    let (samples, failures) =
        harness::execute("cpu", &mut cases, Plan { warmup: 1, runs: 5 }, false);
    drop(cases);
    assert_eq!(samples.len(), 5, "warm-up results are discarded");
    assert_eq!(failures.len(), 1);
    assert!(failures[0].error.contains("boom") && failures[0].error.contains("dropped"));
    let bad = calls.borrow().iter().filter(|c| **c == "bad").count();
    assert_eq!(bad as u32, harness::MAX_FAILURES);
}

/// Builds every non-VM environment. The tools and artefacts each one needs are prerequisites
/// (see the module's doc): a missing one leaves its environments out, reported as a skip, and
/// fails the test under CI. An environment whose prerequisites are there must be available.
fn environments(setup: &Setup, static_payload: Result<PathBuf, String>) -> Vec<EnvRef> {
    let mut envs: Vec<EnvRef> = vec![Rc::new(RefCell::new(Native::new(setup)))];
    let needed = [
        (
            "the static bench payload (bench/build-payload.sh), for every container",
            static_payload,
        ),
        (
            "the pier binary (cargo build -p pier)",
            prereq::file(&setup.pier),
        ),
        // The bundle's config.json comes from `runc spec`.
        ("runc, for the bench bundle", prereq::tool("runc")),
    ];
    if needed
        .into_iter()
        .any(|(what, found)| require(what, found).is_none())
    {
        return envs;
    }
    let b = Rc::new(bundle::prepare(setup).expect("preparing the bench image and bundle"));
    let ready = Availability::Available;
    envs.push(Rc::new(RefCell::new(PierRun::new(setup, ready.clone()))));
    envs.push(Rc::new(RefCell::new(PierRuntime::new(
        setup,
        Some(b.clone()),
        ready.clone(),
    ))));
    for peer in ["runc", "crun"] {
        if require(peer, prereq::tool(peer)).is_some() {
            envs.push(Rc::new(RefCell::new(OciPeer::new(
                peer,
                setup,
                Some(b.clone()),
                ready.clone(),
            ))));
        }
    }
    if require("podman", prereq::tool("podman")).is_some() {
        envs.push(Rc::new(RefCell::new(Podman::new(
            setup,
            Some(&b.rootfs_tar),
        ))));
    }
    for e in &envs {
        let e = e.borrow();
        let label = suites::label_of(&*e);
        assert_eq!(e.availability(), Availability::Available, "{label}");
    }
    envs
}

/// Removes the temporary pier root's bridge and firewall table, even if the test fails.
struct NetworkWorld(PathBuf);

impl Drop for NetworkWorld {
    fn drop(&mut self) {
        if self.0.join("networks").exists() {
            if let Err(e) = pier_bench::envs::pier::teardown_network(&self.0) {
                eprintln!("cleanup of {}: {e:#}", self.0.display());
            }
        }
    }
}

#[test]
fn every_suite_runs_once_in_every_environment() {
    let started = std::time::Instant::now();
    // On this thread only: children started from it inherit the private mount namespace.
    eprintln!("{}", cgroup_workaround::apply_if_hybrid().describe());
    let cache = tempfile::tempdir().unwrap();
    let static_payload = static_payload();
    // Without the static payload, native runs only, with the payload of a plain build.
    let payload = match &static_payload {
        Ok(p) => p.clone(),
        Err(_) => {
            let Some(p) = require("a pier-payload build", dynamic_payload()) else {
                return;
            };
            p
        }
    };
    let setup = Setup {
        payload,
        pier: pier_binary().unwrap_or_else(|_| PathBuf::from("/nonexistent/pier")),
        cache: cache.path().to_path_buf(),
    };
    let _world = NetworkWorld(setup.pier_root());
    // podman must not write the host's image-copy cache (its store is the bench's own).
    let host_cache = Path::new("/var/lib/containers/cache");
    let cache_before = modified_under(host_cache);
    let envs = environments(&setup, static_payload);
    let names: Vec<String> = envs
        .iter()
        .map(|e| suites::label_of(&*e.borrow()))
        .collect();
    eprintln!("environments: {names:?}");
    let every_env: std::collections::BTreeSet<String> =
        envs.iter().map(|e| e.borrow().name()).collect();
    let settings = Settings::tiny();
    let ctx = Ctx {
        settings: &settings,
        run_id: "test",
        setup: &setup,
        envs,
        vm: None,
        docker: None,
        progress: false,
    };
    let workload = ctx.workload_envs().len();
    for (suite, out) in [
        ("cpu", suites::cpu::run(&ctx)),
        ("mem", suites::mem::run(&ctx)),
        ("jitter", suites::jitter::run(&ctx)),
        ("startup", suites::startup::run(&ctx)),
        ("net", suites::net::run(&ctx)),
    ] {
        assert!(out.failures.is_empty(), "{suite}: {:?}", out.failures);
        let envs_seen: std::collections::BTreeSet<String> =
            out.samples.iter().map(|s| s.environment.clone()).collect();
        eprintln!("{suite}: {} samples from {envs_seen:?}", out.samples.len());
        assert!(out
            .samples
            .iter()
            .all(|s| s.suite == suite && s.value.is_finite() && s.value > 0.0));
        match suite {
            "cpu" => {
                assert!(out
                    .samples
                    .iter()
                    .any(|s| s.metric == "dgemm_gflops_n64_t1"));
                // The FMA kernel ran first, natively, with 1 thread and all of them.
                let m = out
                    .measured_peak
                    .as_ref()
                    .expect("the cpu suite measured no peak");
                assert!(
                    ["avx512", "avx2", "sse2"].contains(&m.isa.as_str()),
                    "{m:?}"
                );
                assert!(m.gflops(1) > 0.0, "{m:?}");
            }
            "mem" => assert_eq!(
                out.samples
                    .iter()
                    .filter(|s| s.metric == "stream_triad")
                    .count(),
                workload
            ),
            "startup" => {
                // One launch per environment (plus pier run on the bridge), two metrics each.
                let launched: std::collections::BTreeSet<String> = out
                    .samples
                    .iter()
                    .filter(|s| s.metric == "launch_to_entry")
                    .map(|s| s.environment.clone())
                    .collect();
                assert_eq!(launched, every_env, "startup ran in every environment");
                for s in out.samples.iter().filter(|s| s.metric == "launch_to_entry") {
                    assert!(s.value < 5000.0, "{s:?}");
                }
            }
            "net" => {
                assert!(out
                    .samples
                    .iter()
                    .any(|s| s.metric == "tcp_stream" && s.environment == "native"));
                if names.iter().any(|n| n == "pier (run)") {
                    for v in ["host", "bridge", "bridge-c2c", "published"] {
                        assert!(
                            out.samples
                                .iter()
                                .any(|s| s.metric == "tcp_rr_latency" && s.variant == v),
                            "no pier {v} sample"
                        );
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        modified_under(host_cache),
        cache_before,
        "podman wrote to {}",
        host_cache.display()
    );
    eprintln!("all suites in {:.1?}", started.elapsed());
}

/// Files under `dir` (one level) with their modification times.
fn modified_under(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect();
    out.sort();
    out
}

/// The VM in every suite (tiny sizes, one run). Ignored by default: it boots about ten
/// guests, under TCG emulation on this machine (see the timing it prints). The guest kernel
/// is cached in `$PIER_TEST_CACHE` (default `/var/tmp/pier-test-cache`).
#[test]
#[ignore]
fn every_suite_runs_once_in_the_vm() {
    let started = std::time::Instant::now();
    let Some(payload) = require(
        "the static bench payload (bench/build-payload.sh)",
        static_payload(),
    ) else {
        return;
    };
    let Some(_) = require("qemu", prereq::tool("qemu-system-x86_64")) else {
        return;
    };
    let cache = std::env::var_os("PIER_TEST_CACHE")
        .map_or_else(|| PathBuf::from("/var/tmp/pier-test-cache"), PathBuf::from);
    std::fs::create_dir_all(&cache).unwrap();
    let setup = Setup {
        payload,
        pier: PathBuf::from("/nonexistent/pier"),
        cache,
    };
    let vm = Rc::new(RefCell::new(pier_bench::envs::vm_env::VmEnv::new(
        &setup, 2, 512,
    )));
    assert_eq!(vm.borrow().availability(), Availability::Available);
    let accel = vm.borrow().accelerator().unwrap();
    let name = vm.borrow().name();
    assert_eq!(name, format!("qemu-{accel}"));
    let envs: Vec<EnvRef> = vec![Rc::new(RefCell::new(Native::new(&setup))), vm.clone()];
    let settings = Settings::tiny();
    let ctx = Ctx {
        settings: &settings,
        run_id: "test",
        setup: &setup,
        envs,
        vm: Some(vm.clone()),
        docker: None,
        progress: false,
    };
    for (suite, out) in [
        ("cpu", suites::cpu::run(&ctx)),
        ("mem", suites::mem::run(&ctx)),
        ("jitter", suites::jitter::run(&ctx)),
        ("startup", suites::startup::run(&ctx)),
        ("net", suites::net::run(&ctx)),
    ] {
        assert!(out.failures.is_empty(), "{suite}: {:?}", out.failures);
        let vm_samples: Vec<_> = out
            .samples
            .iter()
            .filter(|s| s.environment == name)
            .collect();
        assert!(!vm_samples.is_empty(), "{suite}: no VM sample");
        // Every VM sample says which accelerator produced it.
        assert!(vm_samples
            .iter()
            .all(|s| s.accelerator.as_deref() == Some(accel.as_str())));
        eprintln!("{suite}: {} VM samples", vm_samples.len());
    }
    eprintln!("VM suites in {:.1?}", started.elapsed());
}
