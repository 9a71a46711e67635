//! The suite's own shell scripts, tested where a fresh machine differs from a warm one: they pass
//! shellcheck, the cgroup-v2 lane's accelerator probe falls back to TCG whatever a KVM guest
//! does (aborts on an MSR, hangs, or cannot open the device), and the guest image builder,
//! run into an empty cache directory, prints its result alone on stdout although the tools it
//! runs print there too. Stand-in `qemu-system-x86_64`, `mmdebstrap` and `mkfs.ext4` on PATH
//! play the parts of the real ones, so these run in seconds; the lane itself runs the real ones.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_testkit::prereq::{require, tool};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The checkout (the root package's directory).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every shell script of the suite and the main job, under shellcheck (warnings are errors).
#[test]
fn the_scripts_pass_shellcheck() {
    let Some(shellcheck) = require("shellcheck", tool("shellcheck")) else {
        return;
    };
    let r = repo();
    let mut scripts: Vec<PathBuf> = ["scripts", "scripts/v2-guest"]
        .iter()
        .flat_map(|d| std::fs::read_dir(r.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && std::fs::read(p)
                    .map(|b| {
                        b.starts_with(b"#!/bin/")
                            || b.starts_with(b"#!/usr/bin/env bash")
                            || b.starts_with(b"# shellcheck shell=")
                    })
                    .unwrap_or(false)
        })
        .collect();
    scripts.push(r.join("bench/build-payload.sh"));
    scripts.push(r.join(".ci/run"));
    scripts.sort();
    for must in [
        "scripts/test.sh",
        "scripts/v2-lane.sh",
        "scripts/v2-guest/qemu.sh",
    ] {
        assert!(
            scripts.contains(&r.join(must)),
            "{must} not checked: {scripts:?}"
        );
    }
    let out = Command::new(shellcheck)
        .arg("-x")
        .args(&scripts)
        .current_dir(&r)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A stand-in `qemu-system-x86_64`: what it does is `$FAKE_QEMU` (abort | hang | boot | refuse);
/// it records its PID and arguments in `$FAKE_DIR`.
const FAKE_QEMU: &str = r#"#!/bin/sh
echo $$ > "$FAKE_DIR/pid"
echo "$@" > "$FAKE_DIR/args"
serial=
while [ $# -gt 0 ]; do
  case "$1" in -serial) serial=${2#file:}; shift ;; esac
  shift
done
case "$FAKE_QEMU" in
  abort)
    echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0" >&2
    echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3045: kvm_buf_set_msrs: Assertion failed." >&2
    kill -ABRT $$ ;;
  refuse) echo "Could not access KVM kernel module: Permission denied" >&2; exit 1 ;;
  hang) exec sleep 600 ;;
  boot) echo "[    0.9] Run /init as init process" >> "$serial"; exec sleep 600 ;;
esac
"#;

/// Runs the lane's `choose_accel` (scripts/v2-guest/qemu.sh) under `set -euo pipefail`, as the
/// lane does, with the stand-in QEMU in mode `mode` and the KVM device `device`; then stops
/// whatever runs. Returns the script's output, "accel<TAB>why<TAB>qemu-still-set" on success.
fn probe(mode: &str, device: &Path) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_executable(&bin.join("qemu-system-x86_64"), FAKE_QEMU);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = r#"
set -euo pipefail
. scripts/v2-guest/qemu.sh
image=$FAKE_DIR/image disk=$FAKE_DIR/disk.qcow2 repo=$PWD
console=$FAKE_DIR/console.log qemu_log=$FAKE_DIR/qemu.log qemu=
choose_accel
running=${qemu:+running}
stop_qemu
printf '%s\t%s\t%s\n' "$accel" "$why" "$running"
"#;
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(repo())
        .env("PATH", path)
        .env("FAKE_QEMU", mode)
        .env("FAKE_DIR", dir.path())
        .env("PIER_KVM_DEVICE", device)
        .env("PIER_KVM_PROBE_SECONDS", "3")
        .output()
        .unwrap();
    let pid_file = dir.path().join("pid");
    (out, pid_file, dir)
}

/// A device file the probe may open (the real /dev/kvm would make the probe depend on it).
fn openable_device(dir: &Path) -> PathBuf {
    let d = dir.join("kvm");
    std::fs::write(&d, "").unwrap();
    d
}

/// The stand-in QEMU is gone once the probe returned (not running, not a zombie).
fn assert_gone(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file).expect("the stand-in QEMU ran");
    let proc = format!("/proc/{}", pid.trim());
    assert!(
        !Path::new(&proc).exists(),
        "the probed QEMU ({}) is still there",
        pid.trim()
    );
}

fn fields(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "the probe failed the lane (exit {:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
        .trim_end_matches('\n')
        .split('\t')
        .map(str::to_string)
        .collect()
}

/// QEMU aborting under KVM (seen: `failed to set MSR 0x10a`, an assertion in kvm_buf_set_msrs)
/// is a fallback to TCG naming QEMU's words, not an exit of the lane under `set -e`.
#[test]
fn a_kvm_guest_that_aborts_falls_back_to_tcg() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, pid, _d) = probe("abort", &openable_device(scratch.path()));
    let f = fields(&out);
    assert_eq!(f[0], "tcg", "{f:?}");
    assert!(
        f[1].contains("exited") && f[1].contains("MSR 0x10a"),
        "{f:?}"
    );
    assert_eq!(f[2], "", "nothing may be left running: {f:?}");
    assert_gone(&pid);
}

/// A KVM guest that never reaches init is stopped after the probe's time and TCG is used.
#[test]
fn a_kvm_guest_that_hangs_falls_back_to_tcg_and_is_stopped() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, pid, _d) = probe("hang", &openable_device(scratch.path()));
    let f = fields(&out);
    assert_eq!(f[0], "tcg", "{f:?}");
    assert!(f[1].contains("did not reach init"), "{f:?}");
    assert_eq!(f[2], "", "{f:?}");
    assert_gone(&pid);
}

/// QEMU refusing to start under KVM, and a device that cannot be opened: TCG.
#[test]
fn kvm_that_cannot_start_falls_back_to_tcg() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, _pid, _d) = probe("refuse", &openable_device(scratch.path()));
    let f = fields(&out);
    assert_eq!(f[0], "tcg", "{f:?}");
    assert!(f[1].contains("Permission denied"), "{f:?}");

    let (out, pid, _d) = probe("boot", &scratch.path().join("no-such-device"));
    let f = fields(&out);
    assert_eq!(f[0], "tcg", "{f:?}");
    assert!(f[1].contains("cannot be opened"), "{f:?}");
    assert!(!pid.exists(), "QEMU was started without a usable device");
}

/// A guest that reaches init under KVM keeps running as the lane's guest, with `-cpu host`.
#[test]
fn a_kvm_guest_that_boots_is_kept() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, pid, d) = probe("boot", &openable_device(scratch.path()));
    let f = fields(&out);
    assert_eq!(f[0], "kvm", "{f:?}");
    assert_eq!(f[2], "running", "the booted guest is the lane's: {f:?}");
    let args = std::fs::read_to_string(d.path().join("args")).unwrap();
    assert!(args.contains("-accel kvm -cpu host"), "{args}");
    assert_gone(&pid);
}

/// The guest image builder, run into an empty cache directory with tools that print on stdout
/// (mkfs.ext4 says "Creating regular file ..." there even with -q), prints one line: the
/// directory it built, which holds the image, the kernel and the initramfs; a second run
/// reuses it and prints the same line.
#[test]
fn the_guest_builder_prints_only_its_result_from_an_empty_cache() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // mmdebstrap ... SUITE TARGET SOURCES...: a root with a kernel and an initramfs, and the
    // copies the builder's last hook makes beside it.
    write_executable(
        &bin.join("mmdebstrap"),
        r#"#!/bin/sh
echo "I: mmdebstrap chatter on stdout"
while [ "$1" != bookworm ]; do shift; done
root=$2
mkdir -p "$root/boot"
echo kernel > "$root/boot/vmlinuz-6.1.0-test"; echo initrd > "$root/boot/initrd.img-6.1.0-test"
cp "$root"/boot/vmlinuz-* "$root/../vmlinuz"; cp "$root"/boot/initrd.img-* "$root/../initrd.img"
"#,
    );
    write_executable(
        &bin.join("mkfs.ext4"),
        r#"#!/bin/sh
for a; do case "$a" in *.img) img=$a ;; esac; done
echo "Creating regular file $img"
echo ext4 > "$img"
"#,
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = dir.path().join("cache");
    let build = || {
        let out = Command::new(repo().join("scripts/v2-guest/build-image.sh"))
            .arg(&cache)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "build-image.sh failed:\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let first = build();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be the directory alone: {first:?}"
    );
    let built = Path::new(lines[0]);
    assert!(built.starts_with(&cache), "{first:?}");
    for f in ["rootfs.img", "vmlinuz", "initrd.img", "ready"] {
        assert!(built.join(f).is_file(), "{} has no {f}", built.display());
    }
    assert!(
        !built.join("rootfs").exists(),
        "the unpacked tree is removed"
    );
    assert_eq!(build(), first, "the second run reuses the first's build");
}

/// scripts/test.sh's `step`: a failing step is reported and fails the suite, also where it is
/// called as `step ... || failed+=(...)` (set -e is off there: a step once swallowed the host's
/// failed tests that way and the suite exited 0).
#[test]
fn a_failing_step_fails_the_suite() {
    let script = std::fs::read_to_string(repo().join("scripts/test.sh")).unwrap();
    let start = script
        .find("\nstep() {")
        .expect("scripts/test.sh defines step")
        + 1;
    let end = start + script[start..].find("\n}\n").expect("the end of step") + 3;
    let step = &script[start..end];
    let run = |body: &str| {
        let out = Command::new("bash")
            .args([
                "-c",
                &format!("set -euo pipefail\ntimings=''\n{step}\n{body}"),
            ])
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout))
    };
    let (code, out) = run("failed=()\nstep one false || failed+=(one)\nstep two true\necho \"failed=${failed[*]}\"\necho \"$timings\"");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("failed=one"), "{out}");
    assert!(out.contains("(failed, exit 1)"), "{out}");
    let (code, out) = run("step one false\necho after");
    assert_eq!(code, Some(1), "a failing step must end the suite: {out}");
    assert!(!out.contains("after"), "{out}");
}

/// The guest's plan runner (scripts/v2-guest/run-plan.sh) runs every test binary of the plan
/// exactly once, two at a time and never more, one summary line each that the other runner's
/// lines never cut, and counts the failures: stand-in "test binaries" record when they ran.
#[test]
fn the_lane_runs_its_plan_two_binaries_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let lane = dir.path().join("lane");
    std::fs::create_dir(&lane).unwrap();
    let record = dir.path().join("record");
    let exe = dir.path().join("fake-test");
    // Prints libtest's summary, records its start and end (ns), fails when its filter says so.
    write_executable(
        &exe,
        &format!(
            r#"#!/bin/sh
echo "start $2 $(date +%s%N)" >> {record}
sleep 0.6
echo "end $2 $(date +%s%N)" >> {record}
if [ "$3" = fail ]; then echo "test it::fails ... FAILED"; echo "test result: FAILED. 0 passed; 1 failed"; exit 101; fi
echo "test result: ok. 1 passed; 0 failed"
"#,
            record = record.display()
        ),
    );
    let names = ["a", "b", "c", "d", "e"];
    let plan: String = names
        .iter()
        .map(|n| {
            let filters = if *n == "c" {
                format!("{n} fail")
            } else {
                n.to_string()
            };
            format!(
                "pier-{n}\t{}\t{}\t{filters}\n",
                dir.path().display(),
                exe.display()
            )
        })
        .collect();
    std::fs::write(lane.join("plan"), plan).unwrap();

    let out = Command::new(repo().join("scripts/v2-guest/run-plan.sh"))
        .arg(&lane)
        .arg("2")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one binary failed:\n{stdout}{}",
        text(&out.stderr)
    );

    // Each binary's summary line, whole, once.
    for n in names {
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(&format!(" pier-{n} (")))
            .collect();
        assert_eq!(lines.len(), 1, "pier-{n}:\n{stdout}");
        let want = if n == "c" {
            "pier-lane: FAIL pier-c ("
        } else {
            "pier-lane: ok   "
        };
        assert!(lines[0].starts_with(want), "{}", lines[0]);
        assert!(lines[0].contains("test result:"), "{}", lines[0]);
        assert!(lane.join("out").join(format!("pier-{n}.log")).is_file());
    }
    assert!(stdout.contains("test it::fails ... FAILED"), "{stdout}");
    let status = std::fs::read_to_string(lane.join("status")).unwrap();
    assert!(
        status.starts_with("pier-lane: 5 test binaries, 1 failed, "),
        "{status}"
    );

    // Never more than two at once, and two at once at some point.
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[2].parse().unwrap(), if f[0] == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(events.len(), 2 * names.len(), "each ran once: {events:?}");
    events.sort_by_key(|&(t, d)| (t, d));
    let (mut running, mut most) = (0, 0);
    for (_, d) in &events {
        running += d;
        most = most.max(running);
    }
    assert_eq!(
        most, 2,
        "at most and at least two binaries at once: {events:?}"
    );
}

/// The lane's plan resolver (scripts/v2-guest/resolve-plan.py) turns entries into lines of
/// executables from cargo's build report, and refuses a filter that matches no test (which
/// would run nothing in the guest and still say "ok") or a target the build did not make.
#[test]
fn a_plan_filter_that_matches_no_test_is_refused() {
    let Some(_) = require("python3", tool("python3")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lane = dir.path().join("lane");
    std::fs::create_dir(&lane).unwrap();
    // A stand-in test binary: `--list FILTER` lists the tests whose names contain FILTER.
    let exe = dir.path().join("fake-test");
    write_executable(
        &exe,
        "#!/bin/sh\nfor t in limits::memory_is_enforced limits::pids_are_capped; do\n  \
         case $t in *\"$2\"*) echo \"$t: test\";; esac\ndone\n",
    );
    let report = serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": "path+file:///x#pier@0.1.0",
        "manifest_path": dir.path().join("Cargo.toml"),
        "target": {"kind": ["test"], "name": "limits"},
        "profile": {"test": true},
        "executable": exe,
    });
    std::fs::write(lane.join("artifacts.json"), format!("{report}\n")).unwrap();
    let resolve = |entries: &[&str]| {
        Command::new(repo().join("scripts/v2-guest/resolve-plan.py"))
            .arg(&lane)
            .args(entries)
            .output()
            .unwrap()
    };

    let out = resolve(&["pier/limits memory pids"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = std::fs::read_to_string(lane.join("plan.partial")).unwrap();
    assert_eq!(
        plan,
        format!(
            "pier-limits\t{}\t{}\tmemory pids\n",
            dir.path().display(),
            exe.display()
        )
    );

    let out = resolve(&["pier/limits memory memroy"]);
    assert!(!out.status.success(), "a filter matching nothing passed");
    assert!(
        text(&out.stderr).contains("the filter 'memroy' of pier/limits matches no test"),
        "{}",
        text(&out.stderr)
    );

    let out = resolve(&["pier/limit"]);
    assert!(!out.status.success(), "an unknown target passed");
    assert!(
        text(&out.stderr).contains("no test target named 'pier/limit'"),
        "{}",
        text(&out.stderr)
    );
}

/// Runs `qemu_pin PACKAGES` from scripts/qemu-pin.sh with stand-in `apt-cache` (candidate
/// `candidate`) and `dpkg-query` (qemu-utils at `installed`, or not installed) first on PATH;
/// returns the apt arguments it chose, one per line.
fn qemu_pin(installed: Option<&str>, candidate: &str, packages: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_executable(
        &dir.path().join("apt-cache"),
        &format!("#!/bin/sh\necho \"$2:\"\necho '  Installed: (none)'\necho '  Candidate: {candidate}'\n"),
    );
    let dpkg = match installed {
        Some(v) => format!("#!/bin/sh\nprintf 'install ok installed {v}'\n"),
        None => "#!/bin/sh\nexit 1\n".to_string(),
    };
    write_executable(&dir.path().join("dpkg-query"), &dpkg);
    let script = repo().join("scripts/qemu-pin.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". '{}'; qemu_pin {packages}; printf '%s\\n' \"${{qemu_apt_args[@]}}\"",
            script.display()
        ))
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu_pin: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A new machine of this project's kind has qemu-utils 10.0 from backports, which breaks
/// Debian 12's qemu-system-x86 7.2: apt refused the pair and the whole set-up failed. The pin
/// installs qemu-utils at qemu-system-x86's version; it is left alone where it already matches,
/// is absent, or QEMU is not being installed.
#[test]
fn qemu_utils_from_another_release_is_pinned_to_the_system_emulators() {
    let bpo = "1:10.0.2+ds-2+deb13u1~bpo12+1";
    let deb12 = "1:7.2+dfsg-7+deb12u18+b3";
    assert_eq!(
        qemu_pin(Some(bpo), deb12, "busybox-static qemu-system-x86 chromium"),
        format!("--allow-downgrades\nqemu-utils={deb12}\n")
    );
    assert_eq!(qemu_pin(Some(deb12), deb12, "qemu-system-x86"), "\n");
    assert_eq!(qemu_pin(None, deb12, "qemu-system-x86 qemu-utils"), "\n");
    assert_eq!(qemu_pin(Some(bpo), deb12, "runc crun"), "\n");
}
