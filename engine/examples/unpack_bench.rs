//! Layer extraction bench: times [`unpack_layer`] on a tar file, each run into a fresh,
//! empty directory (the way the store stages a layer), and prints every run and the median.
//! A program, not a timed test:
//!
//! ```sh
//! # a Debian-like tree: ~10,000 entries, ~190 MB
//! tar --numeric-owner -C / -cf /tmp/layer.tar usr/share/doc usr/share/perl usr/share/zoneinfo usr/share/i18n usr/share/vim
//! cargo run --release -p pier-engine --example unpack_bench -- /tmp/layer.tar [--runs N] [--dir DIR]
//! ```
//!
//! Run it as root (owners are restored). The tar is read from the page cache after the
//! first run, and every run starts after a `sync`, so the numbers measure extraction, not
//! the disk the tar sits on nor the writeback of the run before. Each run's CPU time (user
//! and system) is printed beside its wall time: on a busy machine it is the steadier one.

// A bench program reports a broken setup by panicking, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_engine::image::layer::unpack_layer;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut tar: Option<PathBuf> = None;
    let mut runs = 5u32;
    let mut dir = std::env::temp_dir();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().expect("--runs N").parse().expect("--runs N"),
            "--dir" => dir = args.next().expect("--dir DIR").into(),
            _ => tar = Some(a.into()),
        }
    }
    let tar = tar.expect("usage: unpack_bench LAYER.tar [--runs N] [--dir DIR]");
    let mut times: Vec<Duration> = Vec::new();
    let mut cpu: Vec<Duration> = Vec::new();
    // Every run's tree is kept until the end: ext4 skips inodes freed in the last 30 s when
    // it allocates new ones (`recently_deleted`), so deleting a run's ~10,000 files right
    // before the next run makes that run's creates slower and slower.
    let mut trees = Vec::new();
    for run in 1..=runs {
        let dest = tempfile::tempdir_in(&dir).unwrap();
        let input = BufReader::with_capacity(1 << 20, File::open(&tar).unwrap());
        // The previous run's data is written back first, so one run's writeback does not
        // throttle the next one.
        nix::unistd::sync();
        let (user0, sys0) = cpu_times();
        let start = Instant::now();
        let stats = unpack_layer(input, dest.path()).unwrap();
        let took = start.elapsed();
        let (user1, sys1) = cpu_times();
        println!(
            "run {run}: {} entries, {} MB in {:.3} s (CPU: user {:.3} s, system {:.3} s)",
            stats.entries,
            stats.size >> 20,
            took.as_secs_f64(),
            (user1 - user0).as_secs_f64(),
            (sys1 - sys0).as_secs_f64(),
        );
        trees.push(dest);
        times.push(took);
        cpu.push((user1 - user0) + (sys1 - sys0));
    }
    times.sort();
    cpu.sort();
    if let (Some(wall), Some(cpu)) = (times.get(times.len() / 2), cpu.get(cpu.len() / 2)) {
        println!(
            "median of {runs}: {:.3} s wall, {:.3} s CPU",
            wall.as_secs_f64(),
            cpu.as_secs_f64()
        );
    }
}

/// User and system CPU time this process has used so far: on a shared machine the wall
/// time moves with the neighbours' load, the CPU time much less.
fn cpu_times() -> (Duration, Duration) {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    (d(usage.user_time()), d(usage.system_time()))
}
