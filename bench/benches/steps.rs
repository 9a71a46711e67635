//! Criterion micro-benchmarks of the steps pier takes to start a container, so start-up
//! can be explained step by step: cgroup create+destroy, overlay mount+unmount, namespace
//! creation (with and without a network namespace), veth set-up on a bridge.
//!
//! Run as root: `cargo bench -p pier-bench` (results in target/criterion; `pier bench`
//! quotes the latest medians in its report). Everything created is removed again.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use pier_engine::network::{ConnectRequest, NetworkManager};
use pier_oci::cgroups::Cgroup;
use std::time::Duration;

fn cgroup(c: &mut Criterion) {
    let name = format!("pier/bench-{}", std::process::id());
    c.bench_function("cgroup_create_destroy", |b| {
        b.iter(|| {
            let cg = Cgroup::create(&name, None).expect("creating a cgroup");
            cg.destroy().expect("destroying the cgroup");
        })
    });
}

fn overlay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lower = dir.path().join("lower");
    let upper_root = dir.path().join("rw");
    let target = dir.path().join("merged");
    for d in [&lower, &upper_root, &target] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(lower.join("file"), b"x").expect("write");
    c.bench_function("overlay_mount_unmount", |b| {
        b.iter(|| {
            pier_engine::image::overlay::mount_overlay_volatile(
                std::slice::from_ref(&lower),
                &upper_root.join("upper"),
                &upper_root.join("work"),
                &target,
            )
            .expect("mounting overlay");
            pier_engine::image::unmount(&target).expect("unmounting overlay");
        })
    });
}

/// clone(2) a child in new namespaces that exits at once; waits for it.
fn clone_and_wait(flags: CloneFlags) {
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: the child runs only a closure that returns immediately (no allocation,
    // no locks), on its own stack, and is reaped before the stack is freed.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| 0),
            &mut stack,
            flags,
            Some(nix::sys::signal::Signal::SIGCHLD as i32),
        )
    }
    .expect("clone");
    waitpid(pid, None).expect("waitpid");
}

fn namespaces(c: &mut Criterion) {
    let base = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    c.bench_function("clone_mnt_pid_uts_ipc", |b| b.iter(|| clone_and_wait(base)));
    c.bench_function("clone_mnt_pid_uts_ipc_net", |b| {
        b.iter(|| clone_and_wait(base | CloneFlags::CLONE_NEWNET))
    });
}

/// Removes the test network (bridge, firewall rules, state) when dropped.
struct TestNetwork<'a>(&'a NetworkManager);

impl Drop for TestNetwork<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(NET);
        // The temporary root's firewall table would outlive it otherwise.
        let _ = self.0.firewall().destroy();
    }
}

const NET: &str = "benchnet";

fn veth(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("tempdir");
    let nm = NetworkManager::open(root.path(), std::path::Path::new(pier_engine::DEFAULT_ROOT))
        .expect("opening a network manager");
    nm.create(NET, None, None)
        .expect("creating the test network");
    let _net = TestNetwork(&nm);
    c.bench_function("veth_connect_release", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                // The container side needs a network namespace: a child in a new netns.
                let mut child = std::process::Command::new("unshare")
                    .args(["--net", "sleep", "30"])
                    .spawn()
                    .expect("spawning a netns holder");
                std::thread::sleep(Duration::from_millis(20));
                let id = format!(
                    "{:064x}",
                    u128::from(std::process::id()) << 32 | u128::from(i as u32)
                );
                let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", child.id()));
                let req = ConnectRequest {
                    container_id: &id,
                    container_name: "bench",
                    network: NET,
                    netns_path: &netns,
                    ports: &[],
                    hosts_file: None,
                    share_hosts: false,
                    aliases: &[],
                };
                let t = std::time::Instant::now();
                let r = nm.connect(&req);
                let rel = nm.release_container(&id);
                total += t.elapsed();
                let _ = child.kill();
                let _ = child.wait();
                r.expect("connecting a veth");
                rel.expect("releasing the veth");
            }
            total
        })
    });
}

criterion_group! {
    name = steps;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = cgroup, overlay, namespaces, veth
}
criterion_main!(steps);
