//! Published figures to compare with: the IBM study (Felter et al. 2015) and start-up times.
//!
//! Copies of the CSVs live in `bench/reference/` ([`default_dir`]); their `#` header lines
//! (sources, setup) are skipped when parsing.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the IBM study's figures.
pub const FELTER_CSV: &str = "felter2015.csv";
/// File name of the published start-up times.
pub const STARTUP_CSV: &str = "startup.csv";

/// The reference directory shipped with this crate.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reference")
}

/// One row of `felter2015.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FelterRow {
    /// Metric name in the study (`linpack`, `stream_triad`, `tcp_rr_latency`, ...).
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// `native`, `docker`, `docker-nat`, `kvm`, `kvm-tuned`, ...
    pub environment: String,
    /// Published value.
    pub value: f64,
    /// Published spread (standard deviation) when given.
    pub spread: Option<f64>,
    /// Notes (method).
    pub notes: String,
}

/// One row of `startup.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartupRow {
    /// What was timed.
    pub what: String,
    /// Runtime or hypervisor, with version.
    pub environment: String,
    /// Time in milliseconds.
    pub value_ms: f64,
    /// mean, p50, approx, ...
    pub statistic: String,
    /// Setup described by the source.
    pub setup: String,
    /// Where the figure was published.
    pub source: String,
}

/// The broad kind of an environment, for matching ours with published ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvClass {
    /// Bare metal (or the host, whatever it is).
    Native,
    /// Any container runtime (pier, runc, crun, docker, youki).
    Container,
    /// Any virtual machine (qemu, kvm, firecracker, ...).
    Vm,
}

/// Classifies an environment name, ours or a published one.
pub fn classify(environment: &str) -> EnvClass {
    let e = environment.to_ascii_lowercase();
    const VMS: &[&str] = &[
        "qemu",
        "kvm",
        "vm",
        "firecracker",
        "cloud-hypervisor",
        "lightvm",
    ];
    if e == "native" || e == "host" {
        EnvClass::Native
    } else if VMS.iter().any(|v| e.contains(v)) {
        EnvClass::Vm
    } else {
        EnvClass::Container
    }
}

/// The study's metric that one of ours corresponds to, if any.
pub fn felter_metric(ours: &str) -> Option<&'static str> {
    const SAME: &[&str] = &[
        "stream_copy",
        "stream_triad",
        "tcp_rr_latency",
        "udp_rr_latency",
        "tcp_stream",
        "redis_get_1conn",
        "fio_randread_4k",
    ];
    if ours.starts_with("dgemm") || ours.starts_with("linpack") {
        return Some("linpack");
    }
    SAME.iter().find(|m| ours == **m).copied()
}

fn read_commented<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(path)
        .with_context(|| format!("opening reference CSV {}", path.display()))?;
    r.deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("parsing reference CSV {}", path.display()))
}

/// Reads `felter2015.csv` from `dir`.
pub fn load_felter(dir: &Path) -> Result<Vec<FelterRow>> {
    read_commented(&dir.join(FELTER_CSV))
}

/// Reads `startup.csv` from `dir`.
pub fn load_startup(dir: &Path) -> Result<Vec<StartupRow>> {
    read_commented(&dir.join(STARTUP_CSV))
}

/// Where a reference file's figures come from, read from its `#` header lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Source {
    /// The first header line (the citation).
    pub citation: String,
    /// The text after `Host:` up to the next `;` (the study's machine), if any.
    pub machine: Option<String>,
}

/// The header of `felter2015.csv` in `dir`.
pub fn felter_source(dir: &Path) -> Result<Source> {
    let path = dir.join(FELTER_CSV);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading reference CSV {}", path.display()))?;
    Ok(source_of(&text))
}

fn source_of(text: &str) -> Source {
    let comments: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#').map(str::trim))
        .collect();
    Source {
        citation: comments
            .first()
            .map(|c| c.trim_end_matches('.').to_string())
            .unwrap_or_default(),
        machine: comments.iter().find_map(|c| {
            let rest = c.split_once("Host:")?.1;
            Some(rest.split(';').next().unwrap_or(rest).trim().to_string())
        }),
    }
}

/// A published ratio to native.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRatio {
    /// Study metric.
    pub metric: String,
    /// Study environment.
    pub environment: String,
    /// value / native value.
    pub ratio: f64,
}

/// value / native value for every non-native row whose metric has a native row.
pub fn felter_ratios(rows: &[FelterRow]) -> Vec<PublishedRatio> {
    rows.iter()
        .filter(|r| r.environment != "native")
        .filter_map(|r| {
            let native = rows
                .iter()
                .find(|n| n.metric == r.metric && n.environment == "native")?;
            Some(PublishedRatio {
                metric: r.metric.clone(),
                environment: r.environment.clone(),
                ratio: r.value / native.value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_shipped_reference_files() {
        let f = load_felter(&default_dir()).unwrap();
        let linpack_docker = f
            .iter()
            .find(|r| r.metric == "linpack" && r.environment == "docker")
            .unwrap();
        assert_eq!(linpack_docker.value, 290.87);
        let ratios = felter_ratios(&f);
        let kvm_rr = ratios
            .iter()
            .find(|r| r.metric == "tcp_rr_latency" && r.environment == "kvm")
            .unwrap();
        assert!((kvm_rr.ratio - 67.9 / 37.6).abs() < 1e-12);
        let src = felter_source(&default_dir()).unwrap();
        assert!(src.citation.starts_with("Felter"), "{src:?}");
        assert_eq!(
            src.machine.as_deref(),
            Some("2 x 8-core Sandy Bridge-EP, 252 GB")
        );
        let s = load_startup(&default_dir()).unwrap();
        assert!(s
            .iter()
            .any(|r| r.environment == "crun" && r.value_ms == 16.9));
    }

    #[test]
    fn classifies_and_maps_names() {
        assert_eq!(classify("native"), EnvClass::Native);
        assert_eq!(classify("pier"), EnvClass::Container);
        assert_eq!(classify("docker-nat"), EnvClass::Container);
        assert_eq!(classify("qemu-kvm"), EnvClass::Vm);
        assert_eq!(classify("kvm-tuned"), EnvClass::Vm);
        assert_eq!(classify("qemu 4.2"), EnvClass::Vm);
        assert_eq!(felter_metric("dgemm_gflops_n1024_t2"), Some("linpack"));
        assert_eq!(felter_metric("stream_triad"), Some("stream_triad"));
        assert_eq!(felter_metric("jitter_p99"), None);
    }
}
