//! What a container cannot see or change: masked and read-only /proc and /sys, the minimal
//! /dev, capabilities, seccomp, the network and mount namespaces.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};
use pier_testkit::prereq::{applies_only_on, require};

/// Runs a shell script in a fresh container, returning (exit code, stdout, stderr).
fn sh(p: &Pier, script: &str) -> (Option<i32>, String, String) {
    let out = p.run(&["run", "--rm", "busybox", "sh", "-c", script]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn proc_and_sys_paths_are_masked() {
    let p = Pier::new();
    // Docker's masked paths that exist on this host: files read as empty, directories list
    // as empty (or they cannot be read at all).
    let mut candidates = vec![
        "/proc/interrupts".to_string(),
        "/proc/kcore".to_string(),
        "/proc/keys".to_string(),
        "/proc/timer_list".to_string(),
        "/proc/sched_debug".to_string(),
        "/proc/latency_stats".to_string(),
        "/proc/acpi".to_string(),
        "/proc/scsi".to_string(),
        "/sys/firmware".to_string(),
    ];
    // Per-CPU interrupt and thermal throttle counts (a side channel between containers,
    // GHSA-6fw5-f8r9-fgfm): in Docker's current list.
    for cpu in 0..4 {
        candidates.push(format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle"));
    }
    let present: Vec<&str> = candidates
        .iter()
        .map(String::as_str)
        .filter(|c| std::path::Path::new(c).exists())
        .collect();
    assert!(
        present.contains(&"/proc/interrupts"),
        "/proc/interrupts exists on every Linux host"
    );
    for path in present {
        let script = format!("if [ -d {path} ]; then ls -A {path} 2>/dev/null | wc -l; else cat {path} 2>/dev/null | wc -c; fi");
        let (_, out, _) = sh(&p, &script);
        assert_eq!(out.trim(), "0", "{path} should be masked in the container");
    }
}

#[test]
fn proc_sys_is_read_only() {
    let p = Pier::new();
    let (code, out, err) = sh(&p, "echo changed > /proc/sys/kernel/hostname; echo rc=$?; hostname; echo 1 > /proc/sysrq-trigger; echo sysrq=$?");
    assert_eq!(code, Some(0), "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines.first().copied(),
        Some("rc=0"),
        "writing /proc/sys must fail: {out}"
    );
    assert_ne!(
        lines.get(1).copied(),
        Some("changed"),
        "the hostname changed through /proc/sys"
    );
    assert_ne!(
        lines.get(2).copied(),
        Some("sysrq=0"),
        "/proc/sysrq-trigger must not be writable"
    );
}

#[test]
fn sys_is_read_only() {
    let p = Pier::new();
    let (_, out, _) = sh(&p, "touch /sys/x; echo a=$?; echo 1 > /sys/kernel/mm/ksm/run; echo b=$?; mount | grep ' /sys '");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "a=0", "creating a file in /sys must fail");
    assert_ne!(lines[1], "b=0", "writing a /sys knob must fail");
    assert!(
        lines[2].contains("(ro,"),
        "/sys should be mounted read-only: {}",
        lines[2]
    );
}

#[test]
fn only_the_minimal_devices() {
    let p = Pier::new();
    let (code, out, err) = sh(&p, "ls -A /dev");
    assert_eq!(code, Some(0), "stderr: {err}");
    let devs: Vec<&str> = out.lines().collect();
    let allowed = [
        "console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm",
        "stderr", "stdin", "stdout", "tty", "urandom", "zero",
    ];
    for d in &devs {
        assert!(
            allowed.contains(d),
            "unexpected /dev/{d} in the container (all: {devs:?})"
        );
    }
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(devs.contains(&d), "/dev/{d} missing: {devs:?}");
    }
    // The standard devices work.
    let (_, out, _) = sh(
        &p,
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c",
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["4", "4"]);
}

#[test]
fn host_block_devices_cannot_be_opened() {
    let p = Pier::new();
    // The first disk of the host, made inside the container with mknod: the devices cgroup
    // (or the missing CAP_MKNOD) must stop reading it.
    let disk = std::fs::read_to_string("/proc/partitions").expect("/proc/partitions");
    let first = disk.lines().skip(2).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 4).then(|| (f[0].to_string(), f[1].to_string()))
    });
    let Some((major, minor)) = applies_only_on(
        "a host with a block device",
        first.ok_or("/proc/partitions lists none"),
    ) else {
        return;
    };
    let (_, out, _) = sh(&p, &format!("mknod /tmp/disk b {major} {minor} 2>/dev/null; head -c 512 /tmp/disk 2>/dev/null | wc -c"));
    assert_eq!(
        out.trim(),
        "0",
        "the container read the host's disk {major}:{minor}"
    );
}

/// The escape the device filter stops (v1 devices controller, or the eBPF program on v2):
/// the container keeps CAP_MKNOD as under Docker, so it can make a node for the host's first
/// SCSI disk, but opening it is refused; the standard devices and a new pty still work.
#[test]
fn a_mknod_host_disk_cannot_be_opened_but_standard_devices_can() {
    let p = Pier::new();
    let (code, out, err) = sh(&p, "mknod /x b 8 0 && echo mknod-ok && head -c 1 /x");
    assert_eq!(
        out.trim(),
        "mknod-ok",
        "mknod (allowed, as Docker does) failed: {err}"
    );
    assert_ne!(code, Some(0), "reading the host disk node succeeded");
    assert!(
        err.contains("Operation not permitted"),
        "opening b 8:0 did not fail with EPERM: {err}"
    );
    let (code, out, err) = sh(
        &p,
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && exec 3<>/dev/ptmx && echo ptmx-ok",
    );
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["4", "ptmx-ok"]);
}

#[test]
fn capabilities_are_dockers_default_set() {
    let p = Pier::new();
    let (_, out, _) = sh(&p, "grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status");
    let caps: std::collections::HashMap<&str, &str> =
        out.lines().filter_map(|l| l.split_once(":\t")).collect();
    assert_eq!(
        caps.get("CapEff").copied(),
        Some("00000000a80425fb"),
        "status: {out}"
    );
    assert_eq!(
        caps.get("CapBnd").copied(),
        Some("00000000a80425fb"),
        "status: {out}"
    );
    assert_eq!(
        caps.get("CapAmb").copied(),
        Some("0000000000000000"),
        "status: {out}"
    );
    // A non-root user has no effective capabilities.
    let out = p.ok(&[
        "run",
        "--rm",
        "-u",
        "1000",
        "busybox",
        "grep",
        "^CapEff",
        "/proc/self/status",
    ]);
    assert!(out.ends_with("0000000000000000"), "{out}");
}

#[test]
fn cap_drop_and_cap_add_change_the_set() {
    let p = Pier::new();
    let out = p.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "sh",
        "-c",
        "chown 1000 /tmp; echo rc=$?",
    ]);
    assert_ne!(out, "rc=0", "chown without CAP_CHOWN must fail");
    let out = p.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "grep",
        "^CapEff",
        "/proc/self/status",
    ]);
    assert!(
        out.ends_with("00000000a82425fb"),
        "CAP_SYS_ADMIN (bit 21) added: {out}"
    );
}

#[test]
fn seccomp_and_caps_block_namespace_and_mount_escapes() {
    let p = Pier::new();
    let (_, out, _) = sh(&p, "unshare -U true 2>/dev/null; echo unshare=$?; mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null; echo mount=$?");
    assert!(
        !out.contains("unshare=0"),
        "unshare -U must fail in a container: {out}"
    );
    assert!(
        !out.contains("mount=0"),
        "mount must fail in a container even as root: {out}"
    );
}

/// Calls io_uring_setup(4, params) and prints the outcome: io_uring submits I/O the seccomp
/// filter never sees, which is why Docker 25.0 took it out of its default profile.
const IO_URING_PROBE: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    unsigned char params[120]; /* struct io_uring_params */
    memset(params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 4, params);
    if (fd >= 0) { printf("io_uring_setup=ok\n"); return 0; }
    printf("io_uring_setup=errno%d\n", errno);
    return 1;
}
"#;

#[test]
fn default_seccomp_profile_blocks_io_uring() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(probe) = require(
        "a C compiler with a static libc (cc -static)",
        common::static_c_program(dir.path(), "uring", IO_URING_PROBE).ok_or("cc -static failed"),
    ) else {
        return;
    };
    // On the host the call works, so a refusal in the container is the profile's doing.
    let host = std::process::Command::new(&probe)
        .output()
        .expect("run probe");
    let host_result = text(&host.stdout).trim().to_string();
    let usable = pier_testkit::prereq::when(
        host_result == "io_uring_setup=ok",
        format!("{host_result}; see /proc/sys/kernel/io_uring_disabled"),
    );
    if applies_only_on("a host where io_uring works", usable).is_none() {
        return;
    }
    let p = Pier::new();
    let vol = format!("{}:/probe:ro", dir.path().display());
    let out = p.run(&["run", "--rm", "-v", &vol, "busybox", "/probe/uring"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("io_uring_setup=errno{}", libc::EPERM),
        "io_uring_setup must be refused with EPERM; stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn network_none_has_only_loopback() {
    let p = Pier::new();
    let none = |script: &str| {
        let out = p.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (_, out, _) = none("tail -n +3 /proc/net/dev | cut -d: -f1");
    let ifaces: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(ifaces, ["lo"], "the container sees the host's interfaces?");
    let (_, out, _) = none("ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1; echo $?");
    assert_eq!(out.trim(), "0", "loopback should be up");
}

#[test]
fn container_mounts_stay_in_its_namespace() {
    let p = Pier::new();
    let id = p.run_detached(&["--tmpfs", "/scratch", "busybox", "sleep", "1000"]);
    let merged = p.inspect(&id)["merged_dir"]
        .as_str()
        .expect("merged_dir")
        .to_string();
    let host = common::mounts_under(std::path::Path::new(&merged));
    // The overlay itself is mounted on the host (so pier can tear it down); /proc, /dev, /sys
    // and the tmpfs are only in the container's mount namespace.
    assert_eq!(
        host,
        std::slice::from_ref(&merged),
        "container mounts leaked to the host"
    );
    let inside = p.ok(&["exec", &id, "cat", "/proc/mounts"]);
    assert!(
        inside.contains(" /scratch tmpfs") && inside.contains(" /proc proc"),
        "container mounts: {inside}"
    );
}

#[test]
fn ipc_and_uts_are_private() {
    let p = Pier::new();
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    let pid = p.inspect(&id)["init"]["pid"].as_i64().expect("pid");
    for ns in ["ipc", "uts", "mnt", "pid", "net", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).expect("own ns");
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("container ns");
        if ns == "cgroup" && host == theirs {
            // A cgroup namespace is optional in Docker's defaults on cgroup v1.
            continue;
        }
        assert_ne!(
            host, theirs,
            "the container shares the host's {ns} namespace"
        );
    }
}
