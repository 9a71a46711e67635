//! Benchmark records on disk: raw samples CSV and the per-metric summary CSV.
//!
//! Raw samples are the source of truth; the summary (medians, bootstrap intervals, ratios
//! to native) can always be recomputed from them with [`summarize`].

use crate::stats;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The environment name every ratio is taken against.
pub const NATIVE: &str = "native";

/// One measured value (one CSV row of `samples.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Identifies the whole `pier bench` run.
    pub run_id: String,
    /// Suite that produced the value (`cpu`, `mem`, `net`, `startup`, `jitter`).
    pub suite: String,
    /// What was measured, e.g. `dgemm_gflops_n1024_t1`, `stream_triad`, `tcp_rr_latency`.
    pub metric: String,
    /// Unit of `value`, e.g. `GFLOPS`, `GB/s`, `Gbit/s`, `us`, `ms`.
    pub unit: String,
    /// Where it ran: `native`, `pier`, `runc`, `crun`, `qemu-kvm`, ...
    pub environment: String,
    /// A sub-configuration, e.g. the network mode (`host`, `bridge`); empty if none.
    pub variant: String,
    /// Repetition number within (metric, environment, variant).
    pub iteration: u32,
    /// The measured value.
    pub value: f64,
    /// VM accelerator (`kvm`, `tcg`) when relevant.
    pub accelerator: Option<String>,
    /// RFC 3339 time the value was taken.
    pub timestamp: String,
}

/// Whether larger values of a unit are better (throughput) or worse (time, latency).
pub fn higher_is_better(unit: &str) -> bool {
    !matches!(
        unit,
        "s" | "ms" | "us" | "ns" | "seconds" | "milliseconds" | "microseconds"
    )
}

/// `env (variant)`, or `env` when there is no variant: how an environment is named in
/// tables, legends and the palette.
pub fn label(env: &str, variant: &str) -> String {
    if variant.is_empty() {
        env.to_string()
    } else {
        format!("{env} ({variant})")
    }
}

/// The values of one (metric, environment, variant) group, in sample order.
pub fn values(samples: &[Sample], metric: &str, env: &str, variant: &str) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.metric == metric && s.environment == env && s.variant == variant)
        .map(|s| s.value)
        .collect()
}

/// One row of `summary.csv`: a (suite, metric, environment, variant) group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Suite.
    pub suite: String,
    /// Metric.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Environment.
    pub environment: String,
    /// Variant (may be empty).
    pub variant: String,
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Lower bound of the 95% bootstrap CI of the median.
    pub ci_low: f64,
    /// Upper bound of the 95% bootstrap CI of the median.
    pub ci_high: f64,
    /// median / native median of the same metric (1.0 for native itself).
    pub ratio_to_native: Option<f64>,
    /// Lower bound of the 95% bootstrap CI of the ratio.
    pub ratio_ci_low: Option<f64>,
    /// Upper bound of the 95% bootstrap CI of the ratio.
    pub ratio_ci_high: Option<f64>,
}

impl SummaryRow {
    /// The row's environment label (`pier (bridge)`).
    pub fn label(&self) -> String {
        label(&self.environment, &self.variant)
    }

    /// The ratio's 95% interval, when there is one.
    pub fn ratio_ci(&self) -> Option<stats::Interval> {
        Some(stats::Interval {
            low: self.ratio_ci_low?,
            high: self.ratio_ci_high?,
        })
    }
}

/// Writes samples to `path` as CSV with a header row.
pub fn write_samples(path: &Path, samples: &[Sample]) -> Result<()> {
    write_csv(path, samples)
}

/// Reads samples written by [`write_samples`].
pub fn read_samples(path: &Path) -> Result<Vec<Sample>> {
    read_csv(path)
}

/// Writes summary rows to `path` as CSV.
pub fn write_summary(path: &Path, rows: &[SummaryRow]) -> Result<()> {
    write_csv(path, rows)
}

/// Reads summary rows written by [`write_summary`].
pub fn read_summary(path: &Path) -> Result<Vec<SummaryRow>> {
    read_csv(path)
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("creating CSV file {}", path.display()))?;
    for r in rows {
        w.serialize(r)
            .with_context(|| format!("writing a row to {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("flushing {}", path.display()))
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::Reader::from_path(path)
        .with_context(|| format!("opening CSV file {}", path.display()))?;
    r.deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

type Key = (String, String, String, String, String);

/// Groups samples by (suite, metric, unit, environment, variant) and summarises each group.
///
/// The native reference for a group is the native group of the same metric with the same
/// variant if there is one, else the native group with an empty variant (native has no
/// network mode, for instance).
pub fn summarize(samples: &[Sample]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for s in samples {
        let key = (
            s.suite.clone(),
            s.metric.clone(),
            s.unit.clone(),
            s.environment.clone(),
            s.variant.clone(),
        );
        groups.entry(key).or_default().push(s.value);
    }
    let native_of = |k: &Key| -> Option<&Vec<f64>> {
        let with = |variant: &str| {
            groups.get(&(
                k.0.clone(),
                k.1.clone(),
                k.2.clone(),
                NATIVE.to_string(),
                variant.to_string(),
            ))
        };
        with(&k.4).or_else(|| with("")).or_else(|| {
            groups
                .iter()
                .find(|(g, _)| g.0 == k.0 && g.1 == k.1 && g.2 == k.2 && g.3 == NATIVE)
                .map(|(_, v)| v)
        })
    };
    let mut rows = Vec::new();
    for (k, values) in &groups {
        let Some(sum) = stats::Summary::of(values) else {
            continue;
        };
        let ci = stats::median_ci95(values);
        let ratio = native_of(k).and_then(|nat| {
            stats::ratio_of_medians(
                values,
                nat,
                0.95,
                stats::DEFAULT_RESAMPLES,
                stats::DEFAULT_SEED,
            )
        });
        rows.push(SummaryRow {
            suite: k.0.clone(),
            metric: k.1.clone(),
            unit: k.2.clone(),
            environment: k.3.clone(),
            variant: k.4.clone(),
            n: sum.n,
            median: sum.median,
            min: sum.min,
            max: sum.max,
            ci_low: ci.map_or(sum.median, |c| c.low),
            ci_high: ci.map_or(sum.median, |c| c.high),
            ratio_to_native: ratio.map(|r| r.0),
            ratio_ci_low: ratio.map(|r| r.1.low),
            ratio_ci_high: ratio.map(|r| r.1.high),
        });
    }
    // Native first within each metric, so tables read "baseline, then the others".
    rows.sort_by(|a, b| {
        (
            &a.suite,
            &a.metric,
            a.environment != NATIVE,
            &a.environment,
            &a.variant,
        )
            .cmp(&(
                &b.suite,
                &b.metric,
                b.environment != NATIVE,
                &b.environment,
                &b.variant,
            ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(env: &str, variant: &str, i: u32, value: f64) -> Sample {
        Sample {
            run_id: "run-1".into(),
            suite: "mem".into(),
            metric: "stream_triad".into(),
            unit: "GB/s".into(),
            environment: env.into(),
            variant: variant.into(),
            iteration: i,
            value,
            accelerator: (env == "qemu-kvm").then(|| "kvm".to_string()),
            timestamp: "2026-11-23T17:00:00Z".into(),
        }
    }

    #[test]
    fn samples_round_trip_through_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        let mut samples: Vec<Sample> = (0..5).map(|i| sample("native", "", i, 10.5)).collect();
        samples.push(sample("qemu-kvm", "virtio, \"quoted\"", 0, 9.25));
        write_samples(&path, &samples).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("run_id,suite,metric,unit,environment,variant,iteration,"));
        assert_eq!(read_samples(&path).unwrap(), samples);
    }

    #[test]
    fn summary_ratios_and_round_trip() {
        let mut samples = Vec::new();
        for i in 0..10 {
            samples.push(sample("native", "", i, 40.0 + f64::from(i % 3)));
            samples.push(sample("pier", "host", i, 20.0 + f64::from(i % 3) * 0.5));
        }
        let rows = summarize(&samples);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].environment, "native");
        assert_eq!(rows[0].ratio_to_native, Some(1.0));
        assert_eq!(rows[1].median, 20.5);
        let r = rows[1].ratio_to_native.unwrap();
        assert!((r - 20.5 / 41.0).abs() < 1e-12);
        assert!(rows[1].ratio_ci_low.unwrap() <= r && r <= rows[1].ratio_ci_high.unwrap());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        write_summary(&path, &rows).unwrap();
        assert_eq!(read_summary(&path).unwrap(), rows);
    }

    #[test]
    fn units_know_their_direction() {
        assert!(higher_is_better("GB/s"));
        assert!(!higher_is_better("us"));
    }
}
