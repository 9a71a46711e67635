//! The `pier-payload` program: one static binary with every workload the harness runs.
//!
//! Each subcommand prints exactly ONE line of JSON on stdout (the harness parses it);
//! progress and human text go to stderr. The binary is built static (glibc,
//! `+crt-static`) so it runs in an empty chroot, a busybox rootfs or an initramfs:
//! `bench/build-payload.sh`, or `pier_bench::payload::build_static` from Rust.
//!
//! A crate of its own, apart from the harness, so that its release build (part of the test
//! suite and of the bench job) compiles only what the workloads need: the DGEMM kernels, the FMA
//! peak kernel, rayon, clap, serde, and pier-record's statistics.

pub mod gflops;
pub mod jitter;
pub mod net;
pub mod peak;
pub mod start;
pub mod stream;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::io::Write;

/// Command line of `pier-payload`.
#[derive(Debug, Parser)]
#[command(
    name = "pier-payload",
    about = "pier bench workloads (one JSON line on stdout)"
)]
pub struct Cli {
    /// Which workload to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The workloads.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Double-precision matrix multiply throughput (GFLOPS).
    Gflops(gflops::Args),
    /// STREAM copy/scale/add/triad memory bandwidth (GB/s).
    Stream(stream::Args),
    /// Print the CLOCK_REALTIME timestamp of program entry and exit.
    Start,
    /// TCP bulk throughput and request/response latency.
    #[command(subcommand)]
    Net(net::NetCommand),
    /// Timing jitter of a fixed small work item.
    Jitter(jitter::Args),
    /// The achievable double-precision peak: an FMA throughput kernel (GFLOP/s).
    Peak(peak::Args),
}

/// Runs the payload with `args` (including argv\[0\]); `entry_ns` is the realtime clock read
/// as the very first thing in `main`, so `start` reports the earliest possible instant.
pub fn run<I, T>(args: I, entry_ns: u128) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Start => start::run(entry_ns),
        Command::Gflops(a) => emit(&gflops::run(&a)?),
        Command::Stream(a) => emit(&stream::run(&a)?),
        Command::Net(c) => net::run(&c),
        Command::Jitter(a) => emit(&jitter::run(&a)?),
        Command::Peak(a) => emit(&peak::run(&a)?),
    }
}

/// Writes `value` as one JSON line on stdout and flushes (the harness may be waiting on it).
pub fn emit<T: Serialize>(value: &T) -> Result<()> {
    let line = serde_json::to_string(value).context("serialising payload result")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").context("writing result to stdout")?;
    out.flush().context("flushing stdout")
}
