//! mem: STREAM copy/scale/add/triad bandwidth in every environment.

use super::{field, payload_cases, Ctx, SuiteOutput};
use anyhow::Result;

/// Runs the mem suite.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let s = ctx.settings;
    let cases = payload_cases(ctx, "mem", ctx.workload_envs(), move |_| {
        (
            vec![
                "stream".into(),
                "--size".into(),
                s.stream_size.to_string(),
                "--reps".into(),
                s.stream_reps.to_string(),
            ],
            parse_stream,
        )
    });
    super::execute(ctx, "mem", cases, ctx.settings.plan())
}

/// `stream_{copy,scale,add,triad}` in GB/s.
pub fn parse_stream(json: &serde_json::Value) -> Result<Vec<(String, &'static str, f64)>> {
    ["copy", "scale", "add", "triad"]
        .iter()
        .map(|k| {
            Ok((
                format!("stream_{k}"),
                "GB/s",
                field(json, &format!("{k}_gbs"))?,
            ))
        })
        .collect()
}
