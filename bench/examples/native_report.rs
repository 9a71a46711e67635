//! Runs the static payload natively and in an empty chroot and writes a full report.
//!
//! A demonstration of the pipeline (payload JSON -> samples -> summary, plots, report.md)
//! with no container runtime involved:
//! `cargo run -p pier-bench --example native_report -- PAYLOAD OUT_DIR [REPS]`
//! where PAYLOAD comes from `bench/build-payload.sh`.

use anyhow::{bail, Context, Result};
use pier_bench::environment::{EnvironmentRecord, Inputs};
use pier_bench::record::Sample;
use pier_bench::report::{self, ReportInput};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// How to launch the payload in one environment.
struct Env {
    name: &'static str,
    prefix: Vec<String>,
    payload: String,
    /// Where `jitter --raw` should write, as seen from inside the environment.
    raw_path: String,
}

fn run(env: &Env, args: &[&str]) -> Result<(Value, f64)> {
    let mut cmd = match env.prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&env.payload);
            c
        }
        None => Command::new(&env.payload),
    };
    let launch = pier_bench::clock::realtime_ns();
    let out = cmd.args(args).output().context("spawning payload")?;
    if !out.status.success() {
        bail!(
            "payload {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("parsing payload JSON")?;
    let entry = v["entry_ns"].as_u64().map_or(0.0, |e| e as f64);
    Ok((v, (entry - launch as f64) / 1e6))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: native_report PAYLOAD OUT_DIR [REPS]");
    }
    let payload = PathBuf::from(&args[1]);
    let out = PathBuf::from(&args[2]);
    let reps: u32 = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let root = tempfile::tempdir()?;
    std::fs::copy(&payload, root.path().join("pier-payload")).context("copying payload")?;
    let envs = [
        Env {
            name: "native",
            prefix: vec![],
            payload: payload.display().to_string(),
            raw_path: root.path().join("jitter.txt").display().to_string(),
        },
        Env {
            name: "chroot",
            prefix: vec!["chroot".into(), root.path().display().to_string()],
            payload: "/pier-payload".into(),
            raw_path: "/jitter.txt".into(),
        },
    ];
    let run_id = format!("demo-{}", pier_bench::clock::now_rfc3339());
    let mut samples = Vec::new();
    let mut add = |env: &str, suite: &str, metric: &str, unit: &str, i: u32, value: f64| {
        samples.push(Sample {
            run_id: run_id.clone(),
            suite: suite.into(),
            metric: metric.into(),
            unit: unit.into(),
            environment: env.into(),
            variant: String::new(),
            iteration: i,
            value,
            accelerator: None,
            timestamp: pier_bench::clock::now_rfc3339(),
        });
    };
    for i in 0..reps {
        for env in &envs {
            for _ in 0..10 {
                let (_, ms) = run(env, &["start"])?;
                add(env.name, "startup", "launch_to_entry", "ms", i, ms);
            }
            let (g, _) = run(env, &["gflops", "--size", "1024", "--reps", "3"])?;
            for r in g["results"].as_array().into_iter().flatten() {
                let metric = format!("dgemm_gflops_n{}_t{}", r["size"], r["threads"]);
                add(
                    env.name,
                    "cpu",
                    &metric,
                    "GFLOPS",
                    i,
                    r["best_gflops"].as_f64().unwrap_or(0.0),
                );
            }
            let (s, _) = run(env, &["stream", "--reps", "5"])?;
            for k in ["copy", "triad"] {
                let v = s[format!("{k}_gbs")].as_f64().unwrap_or(0.0);
                add(env.name, "mem", &format!("stream_{k}"), "GB/s", i, v);
            }
            let raw = root.path().join("jitter.txt");
            // Both paths name the same host file: <root>/jitter.txt.
            run(env, &["jitter", "--iters", "2000", "--raw", &env.raw_path])?;
            let text = std::fs::read_to_string(&raw).context("reading raw jitter")?;
            for l in text.lines() {
                add(
                    env.name,
                    "jitter",
                    "work_item",
                    "us",
                    i,
                    l.parse::<f64>()? / 1e3,
                );
            }
            std::fs::remove_file(&raw).context("removing raw jitter file")?;
        }
    }
    let environment = EnvironmentRecord::collect(&Inputs {
        pier_version: env!("CARGO_PKG_VERSION").into(),
        ..Inputs::default()
    })?;
    let files = report::generate(
        &out,
        &ReportInput {
            run_id: &run_id,
            samples: &samples,
            environment: &environment,
            notes: &pier_bench::notes::Notes::default(),
            reference_dir: &pier_bench::reference::default_dir(),
        },
    )?;
    println!("{}", files.report.display());
    Ok(())
}
