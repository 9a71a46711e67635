//! `gflops`: double-precision GEMM throughput, the stand-in for the IBM study's Linpack.
//!
//! GFLOPS = 2 N^3 / time for C = A B with square N x N row-major matrices. The default
//! kernel is the `gemm` crate (AVX2/AVX-512 micro-kernels, rayon parallelism), which
//! measured faster than `matrixmultiply` on the development machine; `matrixmultiply`
//! stays selectable for comparison (its thread count comes from `MATMUL_NUM_THREADS`,
//! read once per process, so `--threads` does not apply to it).

use anyhow::{bail, Context, Result};
use pier_record::stats::{self, XorShift64};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Arguments of `pier-payload gflops`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Matrix sizes N (repeatable).
    #[arg(long = "size", default_values_t = [256usize, 512, 1024, 2048])]
    pub sizes: Vec<usize>,
    /// Thread counts to run each size with (repeatable); default: 1 and all CPUs.
    #[arg(long = "threads")]
    pub threads: Vec<usize>,
    /// Timed repetitions per (size, threads), after one untimed warm-up.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// GEMM implementation.
    #[arg(long, value_enum, default_value_t = Kernel::Gemm)]
    pub kernel: Kernel,
}

/// Which DGEMM implementation to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    /// The `gemm` crate (sarah-ek).
    Gemm,
    /// The `matrixmultiply` crate (bluss) with its `threading` feature.
    Matrixmultiply,
}

/// One (size, threads) measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Matrix dimension N.
    pub size: usize,
    /// Threads used.
    pub threads: usize,
    /// Timed repetitions.
    pub reps: usize,
    /// Best repetition.
    pub best_gflops: f64,
    /// Median repetition.
    pub median_gflops: f64,
    /// Every repetition, in run order.
    pub gflops: Vec<f64>,
}

/// The JSON line printed by `gflops`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// Always `"gflops"`.
    pub suite: String,
    /// Kernel name (`gemm`, `matrixmultiply`, or `numpy-openblas` from the Python script).
    pub kernel: String,
    /// CPUs available to the process.
    pub cpu_threads: usize,
    /// The kernel's result matched a naive product.
    pub verified: bool,
    /// One entry per (size, threads).
    pub results: Vec<Point>,
}

/// Row-major square matrix filled with values in [-1, 1).
fn random_matrix(n: usize, rng: &mut XorShift64) -> Vec<f64> {
    (0..n * n)
        .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
        .collect()
}

/// C = A B for row-major `m x k` A and `k x n` B, with the chosen kernel.
fn multiply(
    kernel: Kernel,
    threads: usize,
    (m, k, n): (usize, usize, usize),
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
) -> Result<()> {
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        bail!("matrix buffers do not match {m}x{k} * {k}x{n}");
    }
    let (ki, ni) = (k as isize, n as isize);
    match kernel {
        Kernel::Gemm => {
            let par = if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            // SAFETY: the slices were checked above to hold exactly m*k, k*n and m*n
            // elements; the strides (column stride 1, row stride = row length) describe
            // dense row-major storage inside them; `c` is uniquely borrowed.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    ni,
                    false,
                    a.as_ptr(),
                    1,
                    ki,
                    b.as_ptr(),
                    1,
                    ni,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            }
        }
        Kernel::Matrixmultiply => {
            // SAFETY: same bounds/stride argument as above; beta = 0 so `c` is write-only.
            unsafe {
                matrixmultiply::dgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    ki,
                    1,
                    b.as_ptr(),
                    ni,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    ni,
                    1,
                )
            }
        }
    }
    Ok(())
}

/// Checks the kernel against a naive triple loop on an odd-sized product (edge tiles).
fn verify_small(kernel: Kernel, threads: usize) -> Result<()> {
    let (m, k, n) = (37, 29, 41);
    let mut rng = XorShift64::new(42);
    let a: Vec<f64> = (0..m * k).map(|_| rng.below(7) as f64 - 3.0).collect();
    let b: Vec<f64> = (0..k * n).map(|_| rng.below(7) as f64 - 3.0).collect();
    let mut c = vec![f64::NAN; m * n];
    multiply(kernel, threads, (m, k, n), &a, &b, &mut c)?;
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            // Small integers: the product is exact in f64.
            if c[i * n + j] != want {
                bail!("{kernel:?} wrong at ({i},{j}): {} != {want}", c[i * n + j]);
            }
        }
    }
    Ok(())
}

/// Spot-checks a few entries of a large product against naive dot products.
fn verify_entries(n: usize, a: &[f64], b: &[f64], c: &[f64]) -> Result<()> {
    for &(i, j) in &[(0, 0), (n - 1, n - 1), (n / 3, n / 2), (n / 2, 1)] {
        let want: f64 = (0..n).map(|p| a[i * n + p] * b[p * n + j]).sum();
        let got = c[i * n + j];
        if (got - want).abs() > 1e-9 * (n as f64) {
            bail!("N={n}: entry ({i},{j}) = {got}, naive = {want}");
        }
    }
    Ok(())
}

fn measure(kernel: Kernel, n: usize, threads: usize, reps: usize) -> Result<Point> {
    let mut rng = XorShift64::new(n as u64);
    let a = random_matrix(n, &mut rng);
    let b = random_matrix(n, &mut rng);
    let mut c = vec![0.0; n * n];
    multiply(kernel, threads, (n, n, n), &a, &b, &mut c)?; // warm-up: page faults, packing
    verify_entries(n, &a, &b, &c)?;
    let flop = 2.0 * (n as f64).powi(3);
    let mut gflops = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        multiply(kernel, threads, (n, n, n), &a, &b, &mut c)?;
        gflops.push(flop / t.elapsed().as_secs_f64() / 1e9);
    }
    let best = stats::max(&gflops).unwrap_or(0.0);
    let median = stats::median(&gflops).unwrap_or(0.0);
    eprintln!("gflops {kernel:?} N={n} threads={threads}: best {best:.1} median {median:.1}");
    Ok(Point {
        size: n,
        threads,
        reps: gflops.len(),
        best_gflops: best,
        median_gflops: median,
        gflops,
    })
}

/// Runs every (threads, size) combination.
pub fn run(args: &Args) -> Result<Output> {
    let all = pier_record::environment::cpu_threads();
    let mut threads = if args.threads.is_empty() {
        vec![1, all]
    } else {
        args.threads.clone()
    };
    threads.dedup();
    if args.kernel == Kernel::Matrixmultiply {
        // Its thread count is fixed per process by MATMUL_NUM_THREADS.
        let env = std::env::var("MATMUL_NUM_THREADS").ok();
        threads = vec![env.and_then(|v| v.parse().ok()).unwrap_or(all).clamp(1, 4)];
    }
    let mut results = Vec::new();
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
            .context("building rayon thread pool")?;
        pool.install(|| -> Result<()> {
            verify_small(args.kernel, t)?;
            for &n in &args.sizes {
                results.push(measure(args.kernel, n, t, args.reps)?);
            }
            Ok(())
        })?;
    }
    Ok(Output {
        suite: "gflops".into(),
        kernel: match args.kernel {
            Kernel::Gemm => "gemm",
            Kernel::Matrixmultiply => "matrixmultiply",
        }
        .into(),
        cpu_threads: all,
        verified: true,
        results,
    })
}
