//! jitter: a fixed ~10 µs work item timed many times per run; the run's median and tail
//! percentiles are the samples.

use super::{field, payload_cases, Ctx, SuiteOutput};
use anyhow::Result;

/// Runs the jitter suite.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let s = ctx.settings;
    let cases = payload_cases(ctx, "jitter", ctx.workload_envs(), move |_| {
        (
            vec![
                "jitter".into(),
                "--iters".into(),
                s.jitter_iters.to_string(),
            ],
            parse_jitter,
        )
    });
    super::execute(ctx, "jitter", cases, ctx.settings.plan())
}

/// `jitter_{median,p99,p999,max}` in µs.
pub fn parse_jitter(json: &serde_json::Value) -> Result<Vec<(String, &'static str, f64)>> {
    [
        ("median", "median_ns"),
        ("p99", "p99_ns"),
        ("p999", "p999_ns"),
        ("max", "max_ns"),
    ]
    .iter()
    .map(|(m, k)| Ok((format!("jitter_{m}"), "us", field(json, k)? / 1000.0)))
    .collect()
}
