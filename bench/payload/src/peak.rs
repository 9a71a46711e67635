//! `peak`: the machine's achievable double-precision peak, measured with an FMA throughput
//! kernel instead of assumed from `/proc/cpuinfo`'s clock (which under turbo is neither the
//! clock a loaded core runs at nor, on a VM, any clock at all).
//!
//! Each thread runs [`CHAINS`] independent multiply-add chains on the widest vector unit the
//! CPU has (AVX-512F, else AVX2 with FMA, else SSE2 multiply then add): enough chains to
//! cover the FMA latency times the number of FMA units, so the units never wait for a
//! result. After a warm-up (the clock settles at its sustained value), the threads run many
//! short windows together, each started at one barrier; a window's figure is the FLOP of every
//! thread over the wall time from the first thread's start to the last one's end, and the best
//! window is the achievable peak. Short windows because the machine is shared: at a load of
//! 9 on 2 cores, 80 ms windows never ran undisturbed (23 GFLOP/s with 2 threads) while some
//! 4 ms ones did (116 GFLOP/s), as some of the DGEMM repetitions, which are as short, do.
//!
//! Every chain computes `x = x * 1 + 1` from 0, with the 1s hidden from the optimiser, so a
//! call of `n` iterations returns exactly `CHAINS × lanes × n`: the kernel checks that it ran
//! every FMA it counts.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Independent accumulators per thread: above latency (4–5 cycles) × units (2) on current
/// x86 cores, and within the 16 vector registers of AVX2 (with the two operands).
pub const CHAINS: usize = 12;

/// Iterations of one kernel call: 6.3 MFLOP with AVX-512, about 0.1 ms, so a 4 ms window ends
/// close to its deadline.
const CHUNK: u64 = 1 << 15;

/// Arguments of `pier-payload peak`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Thread counts to measure (repeatable); default: 1 and all CPUs.
    #[arg(long = "threads")]
    pub threads: Vec<usize>,
    /// Seconds of warm-up before the windows, for the clock to settle.
    #[arg(long, default_value_t = 0.2)]
    pub warmup: f64,
    /// Measured windows per thread count.
    #[arg(long, default_value_t = 100)]
    pub windows: usize,
    /// Seconds per window.
    #[arg(long, default_value_t = 0.004)]
    pub window: f64,
    /// Use this instruction set instead of the widest one (`avx512`, `avx2`, `sse2`).
    #[arg(long, value_enum)]
    pub isa: Option<Isa>,
}

/// The vector instruction set the kernel runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    /// 512-bit FMA: 8 doubles × 2 FLOP per instruction.
    Avx512,
    /// 256-bit FMA: 4 doubles × 2 FLOP.
    Avx2,
    /// 128-bit multiply then add: 2 doubles × 2 FLOP per pair.
    Sse2,
}

impl Isa {
    /// The widest one this CPU has.
    pub fn widest() -> Isa {
        if std::arch::is_x86_feature_detected!("avx512f") {
            Isa::Avx512
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            Isa::Avx2
        } else {
            Isa::Sse2
        }
    }

    /// Whether this CPU has it.
    pub fn available(self) -> bool {
        match self {
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Isa::Sse2 => std::arch::is_x86_feature_detected!("sse2"),
        }
    }

    /// Doubles per vector.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 8,
            Isa::Avx2 => 4,
            Isa::Sse2 => 2,
        }
    }

    /// What the report prints.
    pub fn describe(self) -> String {
        let what = match self {
            Isa::Avx512 => "AVX-512F FMA",
            Isa::Avx2 => "AVX2 FMA",
            Isa::Sse2 => "SSE2 multiply + add",
        };
        format!("{what}, {CHAINS} chains of {} doubles", self.lanes())
    }

    /// FLOP of one kernel call of `iters` iterations (a multiply and an add per lane).
    pub fn flop(self, iters: u64) -> f64 {
        (CHAINS * self.lanes() * 2) as f64 * iters as f64
    }

    /// Runs `iters` iterations of every chain; returns the sum of all lanes of all chains
    /// (`CHAINS × lanes × iters` when every FMA ran).
    pub fn kernel(self, iters: u64) -> f64 {
        // The multiplier and addend are 1, but the optimiser must not know it: `x * 1 + 1`
        // would become an add (one FLOP, not two).
        let (mul, add) = (black_box(1.0), black_box(1.0));
        match self {
            // SAFETY: the guard just detected AVX-512F on this CPU, the only feature the
            // function enables. (`run` refuses an ISA the CPU lacks, so the fallback below
            // never runs in place of a wider kernel whose FLOP would then be miscounted.)
            Isa::Avx512 if self.available() => unsafe { x86::fma512(iters, mul, add) },
            // SAFETY: the guard just detected AVX2 and FMA, the features the function enables.
            Isa::Avx2 if self.available() => unsafe { x86::fma256(iters, mul, add) },
            // SAFETY: SSE2 is part of x86_64, so every CPU this binary runs on has it.
            _ => unsafe { x86::muladd128(iters, mul, add) },
        }
    }
}

mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    /// 12 chains of 512-bit FMA.
    #[target_feature(enable = "avx512f")]
    pub fn fma512(iters: u64, mul: f64, add: f64) -> f64 {
        let (m, a) = (_mm512_set1_pd(mul), _mm512_set1_pd(add));
        let mut acc = [_mm512_setzero_pd(); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_pd(*x, m, a);
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_pd(*x)).sum()
    }

    /// 12 chains of 256-bit FMA.
    #[target_feature(enable = "avx2,fma")]
    pub fn fma256(iters: u64, mul: f64, add: f64) -> f64 {
        let (m, a) = (_mm256_set1_pd(mul), _mm256_set1_pd(add));
        let mut acc = [_mm256_setzero_pd(); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_pd(*x, m, a);
            }
        }
        let mut lanes = [0.0f64; 4];
        let mut sum = 0.0;
        for x in acc {
            // SAFETY: `lanes` holds exactly the 4 doubles an unaligned 256-bit store writes.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), x) };
            sum += lanes.iter().sum::<f64>();
        }
        sum
    }

    /// 12 chains of 128-bit multiply then add (x86_64 always has SSE2).
    #[target_feature(enable = "sse2")]
    pub fn muladd128(iters: u64, mul: f64, add: f64) -> f64 {
        let (m, a) = (_mm_set1_pd(mul), _mm_set1_pd(add));
        let mut acc = [_mm_setzero_pd(); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm_add_pd(_mm_mul_pd(*x, m), a);
            }
        }
        let mut lanes = [0.0f64; 2];
        let mut sum = 0.0;
        for x in acc {
            // SAFETY: `lanes` holds exactly the 2 doubles an unaligned 128-bit store writes.
            unsafe { _mm_storeu_pd(lanes.as_mut_ptr(), x) };
            sum += lanes.iter().sum::<f64>();
        }
        sum
    }
}

/// The peak of one thread count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Threads run together.
    pub threads: usize,
    /// The best window, GFLOP/s of all threads together.
    pub best_gflops: f64,
    /// Every window, in run order.
    pub gflops: Vec<f64>,
}

/// The JSON line printed by `peak`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// Always `"peak"`.
    pub suite: String,
    /// The instruction set used.
    pub isa: Isa,
    /// [`Isa::describe`].
    pub kernel: String,
    /// CPUs available to the process.
    pub cpu_threads: usize,
    /// Seconds of each window.
    pub window_seconds: f64,
    /// One entry per thread count.
    pub results: Vec<Point>,
}

/// FLOP, start and end of one thread in one window.
type Window = (f64, Instant, Instant);

/// One thread: the warm-up, then `windows` windows, each started at `barrier`.
fn worker(
    isa: Isa,
    barrier: &Barrier,
    warmup: Duration,
    windows: usize,
    window: Duration,
) -> Result<Vec<Window>> {
    let want = isa.kernel(CHUNK);
    let run_for = |d: Duration| -> Result<Window> {
        let t = Instant::now();
        let mut flop = 0.0;
        while t.elapsed() < d {
            let got = isa.kernel(CHUNK);
            if got != want {
                bail!("the {isa:?} kernel summed {got}, not {want}: an FMA went missing");
            }
            flop += isa.flop(CHUNK);
        }
        Ok((flop, t, Instant::now()))
    };
    barrier.wait();
    run_for(warmup)?;
    let mut out = Vec::with_capacity(windows);
    for _ in 0..windows {
        barrier.wait();
        out.push(run_for(window)?);
    }
    Ok(out)
}

/// Runs `threads` threads together; GFLOP/s of each window.
fn measure(isa: Isa, threads: usize, args: &Args) -> Result<Point> {
    let threads = threads.max(1);
    let windows = args.windows.max(1);
    let secs = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s).with_context(|| format!("--{what} {s} is not a duration"))
    };
    let (warmup, window) = (secs(args.warmup, "warmup")?, secs(args.window, "window")?);
    let barrier = Barrier::new(threads);
    let per_thread: Vec<Vec<Window>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| worker(isa, &barrier, warmup, windows, window)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(_) => bail!("a peak thread panicked"),
            })
            .collect::<Result<_>>()
    })?;
    let gflops: Vec<f64> = (0..windows)
        .map(|w| {
            // From the first start to the last end: threads that ran one after the other
            // (one waiting for a core) count as one at a time, not as parallel.
            let flop: f64 = per_thread.iter().map(|t| t[w].0).sum();
            let start = per_thread.iter().map(|t| t[w].1).min();
            let end = per_thread.iter().map(|t| t[w].2).max();
            let span = match (start, end) {
                (Some(s), Some(e)) => e.duration_since(s),
                _ => Duration::ZERO,
            };
            flop / span.as_secs_f64().max(1e-9) / 1e9
        })
        .collect();
    let best = gflops.iter().copied().fold(0.0, f64::max);
    eprintln!("peak {isa:?} threads={threads}: best {best:.1} GFLOP/s");
    Ok(Point {
        threads,
        best_gflops: best,
        gflops,
    })
}

/// Measures every thread count.
pub fn run(args: &Args) -> Result<Output> {
    let all = pier_record::environment::cpu_threads();
    let isa = args.isa.unwrap_or_else(Isa::widest);
    if !isa.available() {
        bail!("this CPU lacks {isa:?}");
    }
    let mut threads = if args.threads.is_empty() {
        vec![1, all]
    } else {
        args.threads.clone()
    };
    threads.dedup();
    let results = threads
        .iter()
        .map(|&t| measure(isa, t, args))
        .collect::<Result<_>>()?;
    Ok(Output {
        suite: "peak".into(),
        isa,
        kernel: isa.describe(),
        cpu_threads: all,
        window_seconds: args.window,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counted_fma_runs() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Sse2] {
            if !isa.available() {
                continue;
            }
            // x = x * 1 + 1 from 0, 1000 times, in every lane of every chain.
            let sum = isa.kernel(1000);
            assert_eq!(sum, (CHAINS * isa.lanes() * 1000) as f64, "{isa:?}");
            // A multiply and an add per lane and iteration.
            assert_eq!(isa.flop(1000), sum * 2.0, "{isa:?}");
        }
        assert_eq!(Isa::Avx512.flop(1), 192.0);
        assert_eq!(Isa::Sse2.flop(10), 480.0);
    }

    #[test]
    fn measures_one_and_two_threads() {
        let args = Args {
            threads: vec![1, 2],
            warmup: 0.01,
            windows: 3,
            window: 0.01,
            isa: None,
        };
        let out = run(&args).unwrap();
        assert_eq!(out.isa, Isa::widest());
        assert_eq!(out.results.len(), 2);
        for p in &out.results {
            assert_eq!(p.gflops.len(), 3);
            assert!(p.best_gflops > 0.0, "{p:?}");
            assert_eq!(p.best_gflops, p.gflops.iter().copied().fold(0.0, f64::max));
        }
    }
}
