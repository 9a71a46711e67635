//! Building the static payload (`pier_bench::payload`): the ELF check, and (ignored: a release
//! build takes minutes) a real static build run in an empty chroot.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::Command;

#[test]
fn cargo_built_test_binary_is_dynamic_per_elf_header() {
    // This test executable is linked dynamically, as cargo builds by default; the static
    // build is checked by the ignored test below.
    let exe = std::env::current_exe().unwrap();
    assert!(!pier_bench::payload::is_static_elf(&exe).unwrap());
}

/// Builds the static payload (release, minutes) and runs it in an empty chroot.
#[test]
#[ignore = "release build takes minutes; run with --ignored"]
fn static_payload_runs_in_empty_chroot() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = pier_bench::payload::build_static(&root).unwrap();
    assert!(pier_bench::payload::is_static_elf(&bin).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&bin, dir.path().join("pier-payload")).unwrap();
    let out = Command::new("chroot")
        .arg(dir.path())
        .args(["/pier-payload", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["entry_ns"].as_u64().unwrap() > 0);
}
