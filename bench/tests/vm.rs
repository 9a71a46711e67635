//! The VM environment end to end, as root: a real Debian kernel booted by qemu with pier's
//! initramfs. The payload here is a busybox shell script standing in for `pier-payload`,
//! so these tests do not depend on the payload's build. The guest kernel is cached in
//! `$PIER_TEST_CACHE` (default `/var/tmp/pier-test-cache`) so that only the first run
//! downloads it.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_bench::envs::vm::{self, Accel, Vm, VmConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A stand-in payload: `json` prints two JSON lines and exits 3; `net` reports the vCPU
/// count and serves one TCP connection on port 5001 with busybox nc.
const PAYLOAD: &str = r#"#!/bin/sh
case "$1" in
    json) echo '{"ok":1}'; echo "{\"args\":\"$2 $3\"}"; exit 3 ;;
    net) echo "{\"listening\":5001,\"cpus\":$(nproc)}"; echo pier-net-hello | nc -l -p 5001 ;;
    *) exit 0 ;;
esac
"#;

fn cache_dir() -> PathBuf {
    std::env::var_os("PIER_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pier-test-cache"))
}

/// Writes the stand-in payload into `dir` and prepares a small TCG guest.
fn prepare(dir: &Path, accel: Option<Accel>) -> Vm {
    prepare_with(dir, accel, 1)
}

fn prepare_with(dir: &Path, accel: Option<Accel>, cpus: u32) -> Vm {
    let payload = dir.join("payload");
    std::fs::write(&payload, PAYLOAD).unwrap();
    let mut cfg = VmConfig::new(payload, cache_dir());
    cfg.cpus = cpus;
    cfg.memory_mb = 192;
    cfg.accel = accel;
    Vm::prepare(&cfg).unwrap()
}

fn process_alive(pid: u32) -> bool {
    // A zombie would still have /proc/<pid>; Drop and wait() reap qemu, so this means gone.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn payload_runs_in_the_guest_and_reports_json_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let vm = prepare(dir.path(), Some(Accel::Tcg));
    assert_eq!(vm.accel(), Accel::Tcg);
    eprintln!("{}", vm.describe());
    // Dependencies load first: virtio_ring before virtio_pci, failover before virtio_net.
    let names: Vec<String> = vm
        .kernel()
        .modules
        .iter()
        .map(|m| m.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let at = |n: &str| names.iter().position(|m| m == n);
    if let (Some(pci), Some(net)) = (at("virtio_pci"), at("virtio_net")) {
        assert!(at("virtio_ring").unwrap() < pci, "{names:?}");
        assert!(at("net_failover").unwrap() < net, "{names:?}");
    }
    assert!(vm.describe().contains("QEMU emulator version"));
    let run = vm
        .run(&["json", "it's", "a b"], Duration::from_secs(60))
        .unwrap();
    eprintln!(
        "TCG: launch->init {:.0} ms (guest kernel {:.2} s), launch->exit {:.0} ms",
        run.boot_ms, run.guest_boot_s, run.total_ms
    );
    assert_eq!(run.exit_code, 3);
    assert!(run.warnings.is_empty(), "init warned: {:?}", run.warnings);
    assert_eq!(run.results, vec![r#"{"ok":1}"#, r#"{"args":"it's a b"}"#]);
    let v: serde_json::Value = serde_json::from_str(&run.results[0]).unwrap();
    assert_eq!(v["ok"], 1);
    assert!(run.boot_ms > 0.0 && run.boot_ms < run.total_ms);
    assert!(run.guest_boot_s > 0.0);
}

/// The KVM probe's verdict matches what this machine can do, with nothing about the machine
/// written into the test: the test first boots the guest under KVM itself (the oracle, given
/// the probe's time limit), then checks that the probe chose KVM where that works, and fell
/// back to TCG, reporting it as such and why, where it does not.
#[test]
fn kvm_probe_picks_kvm_where_it_boots_and_reports_the_tcg_fallback_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    // Warm the kernel and initramfs caches first, so only the probe is timed.
    prepare(dir.path(), Some(Accel::Tcg));
    let kvm = prepare(dir.path(), Some(Accel::Kvm));
    let kvm_boots = kvm
        .run(&["json"], vm::KVM_PROBE_TIMEOUT)
        .map_err(|e| format!("{e:#}"));
    let vm = prepare(dir.path(), None);
    let verdict = vm.verdict();
    eprintln!(
        "guest forced onto KVM: {}; probe: {} ({})",
        match &kvm_boots {
            Ok(run) => format!("ran in {:.0} ms", run.total_ms),
            Err(e) => format!("failed ({e})"),
        },
        verdict.accel,
        verdict.reason
    );
    let took = verdict.probe_time.expect("a probe ran");
    assert!(
        took < vm::KVM_PROBE_TIMEOUT + Duration::from_secs(1),
        "{took:?}"
    );
    match kvm_boots {
        Ok(run) => {
            assert_eq!(run.exit_code, 3, "the payload ran to its end under KVM");
            assert_eq!(vm.accel(), Accel::Kvm, "KVM works here: {}", verdict.reason);
            assert!(
                verdict.reason.contains("a KVM guest reached init"),
                "{}",
                verdict.reason
            );
            assert!(vm.describe().ends_with("; kvm"), "{}", vm.describe());
        }
        Err(why) => {
            assert_eq!(
                vm.accel(),
                Accel::Tcg,
                "KVM cannot run the guest here ({why}), yet the probe chose it"
            );
            assert!(
                verdict.reason.contains("KVM probe guest failed")
                    || verdict.reason.contains("/dev/kvm cannot be opened"),
                "the fallback says why: {}",
                verdict.reason
            );
            assert!(
                vm.describe().ends_with("; tcg (software emulation)"),
                "{}",
                vm.describe()
            );
        }
    }
}

#[test]
fn host_reaches_a_server_in_the_guest_and_everything_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    // Two vCPUs, as the container gets in the net suite.
    let vm = prepare_with(dir.path(), Some(Accel::Tcg), 2);
    let mut guest = vm
        .start_with_network(&["net"], None, Duration::from_secs(60))
        .unwrap();
    let pid = guest.pid();
    let (tap, bridge) = {
        let (t, b) = guest.interfaces();
        (t.to_string(), b.to_string())
    };
    assert!(vm::net::interface_exists(&tap) && vm::net::interface_exists(&bridge));
    assert_eq!(guest.guest_ip().to_string(), "10.213.77.2");

    let first = guest.next_result(Duration::from_secs(30)).unwrap();
    assert_eq!(first.as_deref(), Some(r#"{"listening":5001,"cpus":2}"#));
    // nc starts listening just after printing; retry the connect briefly.
    let addr = SocketAddr::from((guest.guest_ip(), 5001));
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connecting to {addr}: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    assert_eq!(line, "pier-net-hello\n");
    (&stream).write_all(b"bye\n").unwrap();
    drop(stream);

    let run = guest.wait(Duration::from_secs(30)).unwrap();
    assert_eq!(run.exit_code, 0);
    assert!(run.warnings.is_empty(), "init warned: {:?}", run.warnings);
    // nc printed what the host sent: both directions worked.
    assert_eq!(run.results, vec![r#"{"listening":5001,"cpus":2}"#, "bye"]);
    assert!(!process_alive(pid), "qemu {pid} is gone");
    assert!(!vm::net::interface_exists(&tap), "{tap} removed");
    assert!(!vm::net::interface_exists(&bridge), "{bridge} removed");
}

#[test]
fn dropping_a_running_guest_kills_qemu_and_removes_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let vm = prepare(dir.path(), Some(Accel::Tcg));
    let guest = vm
        .start_with_network(
            &["net"],
            Some("10.213.79.0".parse().unwrap()),
            Duration::from_secs(60),
        )
        .unwrap();
    let pid = guest.pid();
    let (tap, bridge) = {
        let (t, b) = guest.interfaces();
        (t.to_string(), b.to_string())
    };
    assert!(process_alive(pid));
    drop(guest);
    assert!(!process_alive(pid), "qemu {pid} killed");
    assert!(!vm::net::interface_exists(&tap), "{tap} removed");
    assert!(!vm::net::interface_exists(&bridge), "{bridge} removed");
}

#[test]
fn a_guest_that_overruns_its_timeout_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let vm = prepare(dir.path(), Some(Accel::Tcg));
    let started = Instant::now();
    // 300 ms cannot boot a kernel under emulation.
    let err = vm.run(&["json"], Duration::from_millis(300)).unwrap_err();
    assert!(format!("{err:#}").contains("timed out"), "{err:#}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_network_start_that_fails_removes_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let vm = prepare(dir.path(), Some(Accel::Tcg));
    // The guest cannot boot in 300 ms, so start_with_network fails after creating the link.
    let subnet = Some("10.213.81.0".parse().unwrap());
    let err = match vm.start_with_network(&["net"], subnet, Duration::from_millis(300)) {
        Ok(_) => panic!("a guest booted in 300 ms"),
        Err(e) => e,
    };
    assert!(format!("{err:#}").contains("timed out"), "{err:#}");
    // Other tests reuse this process's interface names, but this subnet is ours alone:
    // the bridge holding it is gone.
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "to", "10.213.81.0/24"])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "10.213.81.0/24 still assigned");
}
