//! `stream`: McCalpin's STREAM kernels (copy, scale, add, triad) in GB/s.
//!
//! Arrays default to 20 M doubles (160 MB each), over 4x a 32 MB last-level cache as
//! STREAM's rules require. Each array is split statically across threads, and each thread
//! first-touches its own part so pages land on its NUMA node. Bandwidth counts the bytes
//! STREAM counts (2 arrays for copy/scale, 3 for add/triad); the best repetition is kept.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Arguments of `pier-payload stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Elements per array (f64).
    #[arg(long, default_value_t = 20_000_000)]
    pub size: usize,
    /// Repetitions of the four kernels; the best time of each is reported.
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    /// Worker threads (default: all CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The JSON line printed by `stream`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// Always `"stream"`.
    pub suite: String,
    /// Elements per array.
    pub size: usize,
    /// Threads used.
    pub threads: usize,
    /// Repetitions.
    pub reps: usize,
    /// Best copy bandwidth, GB/s (1e9 bytes per second).
    pub copy_gbs: f64,
    /// Best scale bandwidth, GB/s.
    pub scale_gbs: f64,
    /// Best add bandwidth, GB/s.
    pub add_gbs: f64,
    /// Best triad bandwidth, GB/s.
    pub triad_gbs: f64,
    /// Triad bandwidth of every repetition, GB/s.
    pub triad_samples_gbs: Vec<f64>,
}

const SCALAR: f64 = 3.0;

/// Runs `f(chunk_a, chunk_b, chunk_c)` on matching chunks of the three arrays, one per thread.
fn par3(
    threads: usize,
    a: &mut [f64],
    b: &mut [f64],
    c: &mut [f64],
    f: impl Fn(&mut [f64], &mut [f64], &mut [f64]) + Sync,
) {
    let chunk = a.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for ((ca, cb), cc) in a
            .chunks_mut(chunk)
            .zip(b.chunks_mut(chunk))
            .zip(c.chunks_mut(chunk))
        {
            let f = &f;
            s.spawn(move || f(ca, cb, cc));
        }
    });
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Runs the four kernels `reps` times and validates the final array contents.
pub fn run(args: &Args) -> Result<Output> {
    let n = args.size;
    if n < 1000 {
        bail!("stream --size {n} is too small to measure memory bandwidth");
    }
    let threads = args
        .threads
        .unwrap_or_else(pier_record::environment::cpu_threads)
        .max(1);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    // Allocate without touching, then first-touch in parallel.
    for v in [&mut a, &mut b, &mut c] {
        v.reserve_exact(n);
        v.resize(n, 0.0);
    }
    par3(threads, &mut a, &mut b, &mut c, |a, b, c| {
        a.fill(1.0);
        b.fill(2.0);
        c.fill(0.0);
    });
    let reps = args.reps.max(2);
    let mut best = [f64::INFINITY; 4];
    let mut triad = Vec::with_capacity(reps);
    let bytes = [2.0, 2.0, 3.0, 3.0].map(|w| w * 8.0 * n as f64);
    for _ in 0..reps {
        let t = [
            timed(|| {
                par3(threads, &mut a, &mut b, &mut c, |a, _, c| {
                    c.copy_from_slice(a)
                })
            }),
            timed(|| {
                par3(threads, &mut a, &mut b, &mut c, |_, b, c| {
                    b.iter_mut()
                        .zip(c.iter())
                        .for_each(|(b, c)| *b = SCALAR * c)
                })
            }),
            timed(|| {
                par3(threads, &mut a, &mut b, &mut c, |a, b, c| {
                    c.iter_mut()
                        .zip(a.iter().zip(b.iter()))
                        .for_each(|(c, (a, b))| *c = a + b)
                })
            }),
            timed(|| {
                par3(threads, &mut a, &mut b, &mut c, |a, b, c| {
                    a.iter_mut()
                        .zip(b.iter().zip(c.iter()))
                        .for_each(|(a, (b, c))| *a = b + SCALAR * c)
                })
            }),
        ];
        for k in 0..4 {
            best[k] = best[k].min(t[k]);
        }
        triad.push(bytes[3] / t[3] / 1e9);
    }
    validate(reps, &a, &b, &c)?;
    let gbs = |k: usize| bytes[k] / best[k] / 1e9;
    eprintln!(
        "stream n={n} threads={threads}: copy {:.1} scale {:.1} add {:.1} triad {:.1} GB/s",
        gbs(0),
        gbs(1),
        gbs(2),
        gbs(3)
    );
    Ok(Output {
        suite: "stream".into(),
        size: n,
        threads,
        reps,
        copy_gbs: gbs(0),
        scale_gbs: gbs(1),
        add_gbs: gbs(2),
        triad_gbs: gbs(3),
        triad_samples_gbs: triad,
    })
}

/// STREAM's own check: replay the recurrences on scalars and compare every element.
/// Reading all arrays also keeps the compiler from discarding the kernels.
fn validate(reps: usize, a: &[f64], b: &[f64], c: &[f64]) -> Result<()> {
    let (mut ea, mut eb, mut ec) = (1.0f64, 2.0f64, 0.0f64);
    for _ in 0..reps {
        ec = ea;
        eb = SCALAR * ec;
        ec = ea + eb;
        ea = eb + SCALAR * ec;
    }
    let ok = |xs: &[f64], e: f64| xs.iter().all(|x| ((x - e) / e).abs() < 1e-13);
    if !(ok(a, ea) && ok(b, eb) && ok(c, ec)) {
        bail!("stream validation failed: arrays do not hold the expected values");
    }
    Ok(())
}
