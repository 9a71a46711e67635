//! `pier bench --suite pods` end to end, as root: one private containerd with the handlers
//! pier, runc and crun, one measured pod each (`--pods-n 1`), and the run's files: a
//! samples.csv row for every phase of every handler, the report's section with the ratios,
//! the machine record; and nothing of the containerd or its pods left on the host.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::PIER;
use pier_record::environment::EnvironmentRecord;
use pier_record::record::read_samples;
use pier_testkit::prereq::{file, require, tool};
use std::path::Path;
use std::process::Command;

/// What the suite needs (scripts/setup.sh test installs the tools; the workspace build
/// makes pier-bench), or `None` when missing outside CI.
fn prerequisites() -> Option<()> {
    require("containerd", tool("containerd"))?;
    require("ctr (containerd)", tool("ctr"))?;
    require("containerd-shim-runc-v2", tool("containerd-shim-runc-v2"))?;
    require("runc", tool("runc"))?;
    require("crun", tool("crun"))?;
    require(
        "CNI plugins (containernetworking-plugins)",
        file("/usr/lib/cni/bridge"),
    )?;
    require("iptables (CNI's portmap)", tool("iptables"))?;
    require("a C compiler for the pause program (gcc)", tool("cc"))?;
    require(
        "the pier-bench program beside pier (cargo build -p pier-bench)",
        file(Path::new(PIER).with_file_name("pier-bench")),
    )?;
    Some(())
}

const HANDLERS: [&str; 3] = ["pier", "runc", "crun"];
const METRICS: [&str; 6] = [
    "pod_startup_ms",
    "runp_ms",
    "create_ms",
    "start_ms",
    "output_ms",
    "teardown_ms",
];

#[test]
fn pods_suite_measures_each_handler_and_leaves_nothing() {
    let Some(()) = prerequisites() else { return };
    // The cache beside the pier binary: `pier runtime install-link` makes a hard link,
    // which must stay on the binary's filesystem.
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let run = Command::new(PIER)
        .args(["bench", "--suite", "pods", "--pods-n", "1", "--no-progress"])
        .arg("--out")
        .arg(out_dir.path())
        .arg("--cache")
        .arg(cache.path())
        .env_remove("PIER_ROOT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "pier bench failed:\n{stderr}");
    let dir = out_dir.path().join("latest");
    let samples = read_samples(&dir.join("samples.csv")).unwrap();
    // Exactly one row per handler and metric: the measured pod (the warm-up is not kept).
    for h in HANDLERS {
        for m in METRICS {
            let rows: Vec<_> = samples
                .iter()
                .filter(|s| s.environment == h && s.metric == m)
                .collect();
            assert_eq!(rows.len(), 1, "{h} {m}: {rows:?}\n{stderr}");
            let r = rows[0];
            assert_eq!(
                (
                    r.suite.as_str(),
                    r.variant.as_str(),
                    r.unit.as_str(),
                    r.iteration
                ),
                ("pods", "cri-containerd", "ms", 1),
                "{r:?}"
            );
            assert!(r.value.is_finite() && r.value >= 0.0, "{r:?}");
        }
        let v = |m: &str| {
            samples
                .iter()
                .find(|s| s.environment == h && s.metric == m)
                .unwrap()
                .value
        };
        // The whole is the phases end to end: it cannot be shorter than the three calls.
        let calls = v("runp_ms") + v("create_ms") + v("start_ms");
        assert!(
            v("pod_startup_ms") >= calls && v("runp_ms") > 0.0,
            "{h}: start-up {} < runp + create + start {calls}",
            v("pod_startup_ms")
        );
    }
    assert_eq!(
        samples.len(),
        HANDLERS.len() * METRICS.len(),
        "no other rows: {samples:?}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for want in [
        "## Pods: start-up through CRI",
        "| pier | 1 |",
        "| runc | 1 |",
        "| crun | 1 |",
        "pier / runc = **",
        "pier / crun = **",
        "| StartContainer |",
    ] {
        assert!(
            report.contains(want),
            "{want:?} missing from the report:\n{report}"
        );
    }
    // The machine the figures come from.
    let machine = EnvironmentRecord::read(&dir.join("environment.json")).unwrap();
    assert!(!machine.kernel.is_empty() && !machine.cgroup.is_empty());
    // Nothing left: the suite's bridge, cgroup parent, mounts under the cache, containerd.
    assert!(
        !Path::new("/sys/class/net/pbpods0").exists(),
        "the pods' bridge is left"
    );
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("pier-bench-pods"))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    common::assert_no_mounts_under(cache.path());
    let containerds = Command::new("pgrep")
        .args([
            "-f",
            &format!("containerd --config {}", cache.path().display()),
        ])
        .output()
        .unwrap();
    assert!(
        containerds.stdout.is_empty(),
        "containerd still runs: {}",
        String::from_utf8_lossy(&containerds.stdout)
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("pods-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the containerd's directory is left: {leftovers:?}"
    );
}
