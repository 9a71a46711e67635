//! The report's section on the pods suite: pod start-up through CRI per runtime handler
//! (median, quartiles, extremes), the ratios of pier's median to runc's and crun's taken in
//! the same run (with a bootstrap interval), and the medians of the phases.

use crate::record::Sample;
use crate::stats::{median, percentile, ratio_of_medians};
use std::fmt::Write;

/// The handlers, in the order of the rows.
const HANDLERS: [&str; 3] = ["pier", "runc", "crun"];

/// The phases, with their names in the table.
const PHASES: [(&str, &str); 6] = [
    ("runp_ms", "RunPodSandbox"),
    ("create_ms", "CreateContainer"),
    ("start_ms", "StartContainer"),
    ("output_ms", "start → first output"),
    ("pod_startup_ms", "whole pod start-up"),
    ("teardown_ms", "stop + remove (after)"),
];

/// One handler's pod start-up figures (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// Pods measured.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// 25th percentile.
    pub p25: f64,
    /// 75th percentile.
    pub p75: f64,
    /// Fastest.
    pub min: f64,
    /// Slowest.
    pub max: f64,
}

impl Spread {
    /// The figures of `xs`; `None` when empty.
    pub fn of(xs: &[f64]) -> Option<Spread> {
        Some(Spread {
            n: xs.len(),
            median: median(xs)?,
            p25: percentile(xs, 25.0)?,
            p75: percentile(xs, 75.0)?,
            min: percentile(xs, 0.0)?,
            max: percentile(xs, 100.0)?,
        })
    }
}

/// The values of `metric` for `handler`.
pub fn values(samples: &[Sample], handler: &str, metric: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.suite == "pods" && s.environment == handler && s.metric == metric)
        .map(|s| s.value)
        .collect()
}

/// pier's median over `peer`'s, with a 95% bootstrap interval.
pub fn ratio(samples: &[Sample], peer: &str) -> Option<(f64, f64, f64)> {
    let (p, q) = (
        values(samples, "pier", "pod_startup_ms"),
        values(samples, peer, "pod_startup_ms"),
    );
    let (r, ci) = ratio_of_medians(&p, &q, 0.95, 2000, 7)?;
    Some((r, ci.low, ci.high))
}

/// Appends the section to `md` when the run has pods samples.
pub fn render(md: &mut String, samples: &[Sample]) {
    let ran: Vec<&str> = HANDLERS
        .into_iter()
        .filter(|h| !values(samples, h, "pod_startup_ms").is_empty())
        .collect();
    if ran.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Pods: start-up through CRI\n\n\
         One private containerd ran every pod, with the runtime handler named in each row (the \
         runc shim with that runtime as its runc). A pod: RunPodSandbox, CreateContainer (busybox \
         `echo ready`), StartContainer, until the line is in the container's CRI log; then stop and \
         remove. The handlers took turns, so the machine's noise fell on all alike.\n\n\
         | handler | pods | median (ms) | p25–p75 (ms) | min–max (ms) |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for h in &ran {
        if let Some(s) = Spread::of(&values(samples, h, "pod_startup_ms")) {
            let _ = writeln!(
                md,
                "| {h} | {} | {:.1} | {:.1}–{:.1} | {:.1}–{:.1} |",
                s.n, s.median, s.p25, s.p75, s.min, s.max
            );
        }
    }
    let mut ratios = Vec::new();
    for peer in ran.iter().filter(|h| **h != "pier") {
        if let Some((r, lo, hi)) = ratio(samples, peer) {
            ratios.push(format!(
                "pier / {peer} = **{r:.2}×** (95% interval {lo:.2}–{hi:.2})"
            ));
        }
    }
    if !ratios.is_empty() {
        let _ = writeln!(
            md,
            "\nMedians' ratios in this run (below 1: pier's pods start sooner): {}.",
            ratios.join("; ")
        );
    }
    let mut head = String::from("\n| phase (median ms) |");
    for h in &ran {
        let _ = write!(head, " {h} |");
    }
    let _ = writeln!(md, "{head}\n| --- |{}", " ---: |".repeat(ran.len()));
    for (metric, label) in PHASES {
        let mut row = format!("| {label} |");
        for h in &ran {
            let m = median(&values(samples, h, metric));
            let _ = write!(row, " {} |", m.map_or("–".into(), |m| format!("{m:.1}")));
        }
        let _ = writeln!(md, "{row}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(env: &str, metric: &str, i: u32, v: f64) -> Sample {
        Sample {
            run_id: "r".into(),
            suite: "pods".into(),
            metric: metric.into(),
            unit: "ms".into(),
            environment: env.into(),
            variant: "cri-containerd".into(),
            iteration: i,
            value: v,
            accelerator: None,
            timestamp: String::new(),
        }
    }

    #[test]
    fn spread_is_the_median_quartiles_and_extremes() {
        let sp = Spread::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            sp,
            Spread {
                n: 5,
                median: 3.0,
                p25: 2.0,
                p75: 4.0,
                min: 1.0,
                max: 5.0
            }
        );
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn renders_spread_ratios_and_phases() {
        let mut samples = Vec::new();
        for i in 1..=5 {
            let f = f64::from(i);
            samples.push(s("pier", "pod_startup_ms", i, 300.0 + f));
            samples.push(s("runc", "pod_startup_ms", i, 400.0 + f));
            samples.push(s("crun", "pod_startup_ms", i, 303.0 + f));
            samples.push(s("pier", "runp_ms", i, 100.0));
            samples.push(s("runc", "runp_ms", i, 150.0));
        }
        let mut md = String::new();
        render(&mut md, &samples);
        assert!(md.contains("## Pods: start-up through CRI"), "{md}");
        assert!(
            md.contains("| pier | 5 | 303.0 | 302.0–304.0 | 301.0–305.0 |"),
            "{md}"
        );
        assert!(md.contains("| runc | 5 | 403.0 |"), "{md}");
        assert!(md.contains("pier / runc = **0.75×**"), "{md}");
        assert!(md.contains("pier / crun = **0.99×**"), "{md}"); // 303 / 306
        assert!(md.contains("| RunPodSandbox | 100.0 | 150.0 | – |"), "{md}");
        let mut none = String::new();
        render(&mut none, &[]);
        assert!(none.is_empty());
    }

    #[test]
    fn a_run_without_a_peer_has_no_ratio() {
        let samples = vec![s("pier", "pod_startup_ms", 1, 300.0)];
        assert_eq!(ratio(&samples, "runc"), None);
        let mut md = String::new();
        render(&mut md, &samples);
        assert!(
            md.contains("| pier | 1 | 300.0 |") && !md.contains("ratios"),
            "{md}"
        );
    }
}
