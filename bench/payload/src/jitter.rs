//! `jitter`: how much a fixed small work item's duration varies.
//!
//! The work item is a fixed number of dependent floating-point multiply-adds (the default
//! 6000 took 9.8 us median on the EPYC development VM). It is fixed, not calibrated, so
//! that every environment runs the same instructions; interruptions (timer ticks, vCPU
//! preemption, host noise) show up as the tail of the distribution.

use anyhow::{Context, Result};
use pier_record::stats::{self, Summary};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `pier-payload jitter`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Timed work items.
    #[arg(long, default_value_t = 10_000)]
    pub iters: usize,
    /// Dependent multiply-adds per work item.
    #[arg(long, default_value_t = 6000)]
    pub work: u64,
    /// Also write every sample (ns, one per line) to this file.
    #[arg(long)]
    pub raw: Option<PathBuf>,
}

/// The JSON line printed by `jitter` (durations in ns).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// Always `"jitter"`.
    pub suite: String,
    /// Multiply-adds per work item.
    pub work: u64,
    /// Samples taken.
    pub iters: usize,
    /// Minimum, ns.
    pub min_ns: f64,
    /// Median, ns.
    pub median_ns: f64,
    /// 99th percentile, ns.
    pub p99_ns: f64,
    /// 99.9th percentile, ns.
    pub p999_ns: f64,
    /// Maximum, ns.
    pub max_ns: f64,
    /// Mean, ns.
    pub mean_ns: f64,
    /// Sample standard deviation, ns.
    pub stddev_ns: f64,
    /// Where raw samples were written, if asked.
    pub raw: Option<PathBuf>,
}

/// The work item: a dependent chain the CPU cannot overlap or the compiler fold away.
#[inline(never)]
fn work_item(units: u64) -> f64 {
    let mut x = black_box(1.000_000_1f64);
    for _ in 0..units {
        x = x * 0.999_999_9 + 1e-7;
    }
    black_box(x)
}

/// Times `iters` work items after a short warm-up.
pub fn run(args: &Args) -> Result<Output> {
    for _ in 0..100 {
        work_item(args.work);
    }
    let mut ns = Vec::with_capacity(args.iters.max(1));
    for _ in 0..args.iters.max(1) {
        let t = Instant::now();
        work_item(args.work);
        ns.push(t.elapsed().as_nanos() as f64);
    }
    if let Some(path) = &args.raw {
        write_raw(path, &ns)?;
    }
    let s = Summary::of(&ns).context("no jitter samples")?;
    eprintln!(
        "jitter: median {:.0} ns, p99 {:.0}, p99.9 {:.0}, max {:.0}",
        s.median, s.p99, s.p999, s.max
    );
    Ok(Output {
        suite: "jitter".into(),
        work: args.work,
        iters: s.n,
        min_ns: s.min,
        median_ns: s.median,
        p99_ns: s.p99,
        p999_ns: s.p999,
        max_ns: s.max,
        mean_ns: s.mean,
        stddev_ns: stats::stddev(&ns).unwrap_or(0.0),
        raw: args.raw.clone(),
    })
}

fn write_raw(path: &PathBuf, ns: &[f64]) -> Result<()> {
    let f = std::fs::File::create(path)
        .with_context(|| format!("creating raw jitter file {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    for x in ns {
        writeln!(w, "{x}").with_context(|| format!("writing {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}
