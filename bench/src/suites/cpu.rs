//! cpu: DGEMM GFLOPS at a few sizes, one thread and all threads, in every environment;
//! plus numpy/OpenBLAS natively as a tuned-BLAS reference row when numpy is importable.
//!
//! First of all, natively, the payload's FMA kernel measures the achievable peak (1 thread
//! and all threads), the yardstick of "of peak" and the bound of the plausibility check:
//! `/proc/cpuinfo`'s clock is not the one a loaded core runs at.
//!
//! A sample is the best of the payload's repetitions in one run (peak capability, the
//! figure Linpack reports); the spread across runs gives the interval.

use super::{field, payload_cases, Ctx, SuiteOutput};
use crate::harness::Case;
use crate::peak::Measured;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// The OpenBLAS reference script, embedded so the installed binary can write it out.
const OPENBLAS_SCRIPT: &str = include_str!("../../openblas_dgemm.py");

/// Runs the cpu suite.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let threads = crate::environment::cpu_threads();
    let mut notes = Vec::new();
    let measured_peak = match measure_peak(ctx, threads) {
        Ok(m) => {
            eprintln!("bench: measured peak: {}", m.describe());
            Some(m)
        }
        Err(e) => {
            notes.push(format!("Measured peak: none, the FMA kernel failed: {e:#}"));
            None
        }
    };
    let s = ctx.settings;
    let mut cases = payload_cases(ctx, "cpu", ctx.workload_envs(), move |env| {
        let sizes = if env.accelerator().is_some() {
            &s.vm_gflops_sizes
        } else {
            &s.gflops_sizes
        };
        (gflops_args(sizes, threads, s.gflops_reps), parse_gflops)
    });
    match numpy_version() {
        Some(v) => {
            notes.push(format!(
                "OpenBLAS reference: numpy {v} DGEMM, natively (metric openblas_dgemm_*)"
            ));
            cases.push(openblas_case(ctx, threads));
        }
        None => notes.push("OpenBLAS reference skipped: python3 cannot import numpy".into()),
    }
    let mut out = super::execute(ctx, "cpu", cases, ctx.settings.plan());
    out.notes = notes;
    out.measured_peak = measured_peak;
    out
}

/// Arguments of `pier-payload peak`: 1 thread and `threads`, ~0.6 s each.
pub fn peak_args(threads: usize) -> Vec<String> {
    let mut a = vec!["peak".to_string(), "--threads".into(), "1".into()];
    if threads > 1 {
        a.extend(["--threads".into(), threads.to_string()]);
    }
    a
}

/// Runs the payload's FMA kernel natively (the peak is the host's, whatever `--env` says).
fn measure_peak(ctx: &Ctx, threads: usize) -> Result<Measured> {
    let mut c = Command::new(&ctx.setup.payload);
    c.args(peak_args(threads));
    let run = crate::envs::run_timed(c, "pier-payload peak", ctx.settings.timeout)?;
    let json = run.json(crate::record::NATIVE)?;
    Measured::from_payload(&json).map_err(anyhow::Error::msg)
}

/// Payload arguments: every size at 1 thread and at `threads`.
pub fn gflops_args(sizes: &[usize], threads: usize, reps: usize) -> Vec<String> {
    let mut a = vec!["gflops".to_string()];
    for n in sizes {
        a.extend(["--size".into(), n.to_string()]);
    }
    a.extend(["--threads".into(), "1".into()]);
    if threads > 1 {
        a.extend(["--threads".into(), threads.to_string()]);
    }
    a.extend(["--reps".into(), reps.to_string()]);
    a
}

/// `dgemm_gflops_n{size}_t{threads}` = best GFLOPS of each point.
pub fn parse_gflops(json: &serde_json::Value) -> Result<Vec<(String, &'static str, f64)>> {
    points(json, "dgemm")
}

fn points(json: &serde_json::Value, prefix: &str) -> Result<Vec<(String, &'static str, f64)>> {
    if json["verified"] == serde_json::json!(false) {
        bail!("the DGEMM result did not verify");
    }
    let results = json["results"]
        .as_array()
        .context("gflops output lacks results")?;
    results
        .iter()
        .map(|p| {
            Ok((
                format!(
                    "{prefix}_gflops_n{}_t{}",
                    field(p, "size")?,
                    field(p, "threads")?
                ),
                "GFLOPS",
                field(p, "best_gflops")?,
            ))
        })
        .collect()
}

/// numpy's version if `python3 -c 'import numpy'` works.
pub fn numpy_version() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import numpy; print(numpy.__version__)"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn openblas_case<'a>(ctx: &'a Ctx<'a>, threads: usize) -> Case<'a> {
    let maker = ctx.maker("cpu");
    let script = ctx.setup.cache.join("openblas_dgemm.py");
    Case {
        label: "native (openblas)".into(),
        runs: ctx.settings.runs,
        warmup: false,
        run: Box::new(move |i| {
            std::fs::write(&script, OPENBLAS_SCRIPT)
                .with_context(|| format!("writing {}", script.display()))?;
            let mut c = Command::new("python3");
            // The machine's OpenBLAS tuning variables would make the comparison unfair.
            c.env_remove("OPENBLAS_CORETYPE")
                .env_remove("OPENBLAS_L2_SIZE")
                .arg(&script);
            let args = gflops_args(
                &ctx.settings.gflops_sizes,
                threads,
                ctx.settings.gflops_reps,
            );
            c.args(&args[1..]);
            let run = crate::envs::run_timed(c, "python3 openblas_dgemm.py", ctx.settings.timeout)?;
            let json = run.json("numpy")?;
            Ok(points(&json, "openblas_dgemm")?
                .into_iter()
                .map(|(m, u, v)| maker.make(&m, u, crate::record::NATIVE, "", i, v, None))
                .collect())
        }),
    }
}
