//! Figures that cannot be true: a container (or VM) faster than the host it runs on, pier's
//! host networking (the host's own stack) different from native, DGEMM above the machine's
//! theoretical peak. On a shared machine these come from noise (a disturbed native run),
//! so the report flags them with a rerun suggestion instead of presenting them as findings.

use crate::peak::{self, Peak};
use crate::record::{higher_is_better, SummaryRow, NATIVE};

/// A median this much better than native (3%) reads as a finding; below it, as noise.
const TOLERANCE: f64 = 0.03;

/// Suites whose environments share the host's hardware, so none can beat native.
const BOUNDED_SUITES: &[&str] = &["cpu", "mem", "net", "startup"];

/// Why a figure cannot be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Faster than native with an interval excluding 1.
    BeatsNativeBeyondNoise,
    /// A median faster than native, the interval including 1.
    BeatsNativeWithinNoise,
    /// pier's host networking unlike native beyond the noise.
    HostNetworkDiffers,
    /// DGEMM above the theoretical peak.
    AbovePeak,
}

/// A figure the report must not present as a finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// Suite of the figure.
    pub suite: String,
    /// Metric.
    pub metric: String,
    /// Environment label (`pier (host)`).
    pub label: String,
    /// Environment name as `pier bench --env` takes it.
    pub env: String,
    /// Samples behind the figure.
    pub n: usize,
    /// Why it cannot be true.
    pub kind: Kind,
    /// The figure (`pier (host) tcp_rr_latency 0.773x native [0.332–1.55]`).
    pub figure: String,
}

/// Flagged figures of one suite and kind, with one command that measures them again.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Their suite.
    pub suite: String,
    /// The figures.
    pub figures: Vec<String>,
    /// Why they cannot be true.
    pub reason: String,
    /// `pier bench ...` with more runs.
    pub rerun: String,
}

/// Whether `row` is flagged.
pub fn is_flagged(flags: &[Flag], row: &SummaryRow) -> bool {
    flags
        .iter()
        .any(|f| f.metric == row.metric && f.label == row.label() && f.suite == row.suite)
}

fn bench_env(environment: &str) -> &str {
    if environment.starts_with("qemu") {
        "vm"
    } else {
        environment
    }
}

fn reason(kind: Kind, suite: &str) -> String {
    let why = match suite {
        "net" => "traffic through a container's (or VM's) network path cannot beat the host's own loopback",
        "startup" => "nothing starts faster than the plain fork and exec native measures",
        _ => "the same instructions on the same cores cannot run faster than on the host",
    };
    match kind {
        Kind::BeatsNativeBeyondNoise => {
            format!("Faster than native beyond the noise, but {why}: native's runs were disturbed")
        }
        Kind::BeatsNativeWithinNoise => format!(
            "Medians faster than native, but {why}; the intervals include 1: noise, not a finding"
        ),
        Kind::HostNetworkDiffers => {
            "Different from native beyond the noise, but host networking is the \
             host's own loopback, the very path native measures"
                .into()
        }
        Kind::AbovePeak => {
            "Above the theoretical peak: the peak's assumptions (clock, two FMA units) \
             do not hold for this CPU, or the clock was read low"
                .into()
        }
    }
}

/// The flags grouped by suite and kind, each group with one rerun command.
pub fn groups(flags: &[Flag]) -> Vec<Group> {
    let mut keys: Vec<(&str, Kind)> = flags.iter().map(|f| (f.suite.as_str(), f.kind)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(suite, kind)| {
            let members: Vec<&Flag> = flags
                .iter()
                .filter(|f| f.suite == suite && f.kind == kind)
                .collect();
            let mut envs = vec![NATIVE.to_string()];
            for f in &members {
                if !envs.contains(&f.env) {
                    envs.push(f.env.clone());
                }
            }
            let runs = members.iter().map(|f| f.n * 3).max().unwrap_or(0).max(15);
            Group {
                suite: suite.to_string(),
                figures: members.iter().map(|f| f.figure.clone()).collect(),
                reason: reason(kind, suite),
                rerun: format!(
                    "pier bench --suite {suite} --env {} --runs {runs}",
                    envs.join(",")
                ),
            }
        })
        .collect()
}

fn flag(r: &SummaryRow, kind: Kind, what: String) -> Flag {
    Flag {
        suite: r.suite.clone(),
        metric: r.metric.clone(),
        label: r.label(),
        env: bench_env(&r.environment).to_string(),
        n: r.n,
        kind,
        figure: format!("{} {} {what}", r.label(), r.metric),
    }
}

/// Checks every row of a summary; `peak` (when known) bounds DGEMM.
pub fn check(summary: &[SummaryRow], peak: Option<&Peak>) -> Vec<Flag> {
    let mut flags = Vec::new();
    for r in summary {
        if let (Some(p), Some(t)) = (peak, peak::dgemm_threads(&r.metric)) {
            let limit = p.gflops(t);
            if r.metric.contains("dgemm") && r.median > limit {
                let what = format!(
                    "{} GFLOPS, peak {} for {t} thread(s)",
                    crate::format::num(r.median),
                    crate::format::num(limit)
                );
                flags.push(flag(r, Kind::AbovePeak, what));
            }
        }
        if r.environment == NATIVE || !BOUNDED_SUITES.contains(&r.suite.as_str()) {
            continue;
        }
        let (Some(v), Some(ci)) = (r.ratio_to_native, r.ratio_ci()) else {
            continue;
        };
        let better = higher_is_better(&r.unit);
        let beats_native = if better { ci.low > 1.0 } else { ci.high < 1.0 };
        let median_beats = if better {
            v > 1.0 + TOLERANCE
        } else {
            v < 1.0 / (1.0 + TOLERANCE)
        };
        let what = format!(
            "{}× native [{}–{}]",
            crate::format::num(v),
            crate::format::num(ci.low),
            crate::format::num(ci.high)
        );
        let kind = if beats_native {
            Kind::BeatsNativeBeyondNoise
        } else if median_beats {
            Kind::BeatsNativeWithinNoise
        } else if r.suite == "net" && r.variant == "host" && (ci.low > 1.0 || ci.high < 1.0) {
            Kind::HostNetworkDiffers
        } else {
            continue;
        };
        flags.push(flag(r, kind, what));
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        suite: &str,
        metric: &str,
        unit: &str,
        env: &str,
        variant: &str,
        ratio: (f64, f64, f64),
    ) -> SummaryRow {
        SummaryRow {
            suite: suite.into(),
            metric: metric.into(),
            unit: unit.into(),
            environment: env.into(),
            variant: variant.into(),
            n: 5,
            median: 50.0,
            min: 40.0,
            max: 60.0,
            ci_low: 45.0,
            ci_high: 55.0,
            ratio_to_native: Some(ratio.0),
            ratio_ci_low: Some(ratio.1),
            ratio_ci_high: Some(ratio.2),
        }
    }

    #[test]
    fn a_container_faster_than_loopback_is_noise() {
        // The reference run's published-port latency: 0.55x native, interval below 1.
        let r = row(
            "net",
            "tcp_rr_latency",
            "us",
            "pier",
            "published",
            (0.551, 0.40, 0.80),
        );
        let f = check(std::slice::from_ref(&r), None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::BeatsNativeBeyondNoise);
        assert_eq!(
            f[0].figure,
            "pier (published) tcp_rr_latency 0.551× native [0.400–0.800]"
        );
        let g = groups(&f);
        assert!(g[0].reason.contains("loopback"), "{}", g[0].reason);
        assert_eq!(
            g[0].rerun,
            "pier bench --suite net --env native,pier --runs 15"
        );
        assert!(is_flagged(&f, &r));
        // A median well below native's but an interval reaching 1 (native itself was noisy):
        // still not a finding.
        let m = row(
            "net",
            "tcp_rr_latency",
            "us",
            "pier",
            "host",
            (0.773, 0.33, 1.55),
        );
        let f = check(&[m], None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::BeatsNativeWithinNoise);
        assert!(groups(&f)[0].reason.contains("noise, not a finding"));
        // Throughput above native on a bridge: the same.
        let t = row(
            "net",
            "tcp_stream",
            "Gbit/s",
            "pier",
            "bridge",
            (1.3, 1.1, 1.5),
        );
        assert_eq!(check(&[t], None).len(), 1);
    }

    #[test]
    fn host_network_slower_than_native_is_noise() {
        let r = row(
            "net",
            "tcp_stream",
            "Gbit/s",
            "pier",
            "host",
            (0.7, 0.6, 0.8),
        );
        let f = check(&[r], None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::HostNetworkDiffers);
        assert!(groups(&f)[0].reason.contains("host's own loopback"));
        // The bridge may be slower than native: that is overhead, not noise.
        let b = row(
            "net",
            "tcp_stream",
            "Gbit/s",
            "pier",
            "bridge",
            (0.7, 0.6, 0.8),
        );
        assert!(check(&[b], None).is_empty());
    }

    #[test]
    fn ordinary_figures_pass() {
        let rows = [
            row(
                "cpu",
                "dgemm_gflops_n1024_t2",
                "GFLOPS",
                "pier",
                "",
                (0.99, 0.95, 1.04),
            ),
            // Faster than native by less than the tolerance: noise that reads as noise.
            row("mem", "stream_copy", "GB/s", "crun", "", (1.02, 0.95, 1.1)),
            row(
                "startup",
                "launch_to_exit",
                "ms",
                "pier",
                "runtime",
                (17.6, 15.0, 19.0),
            ),
            row(
                "mem",
                "stream_triad",
                "GB/s",
                "qemu-tcg",
                "",
                (0.09, 0.08, 0.1),
            ),
            // Jitter tails are not bounded by native: not checked.
            row("jitter", "jitter_max", "us", "pier", "", (0.5, 0.3, 0.7)),
        ];
        assert!(check(&rows, None).is_empty());
        // A container DGEMM faster than native beyond the noise is.
        let fast = row(
            "cpu",
            "dgemm_gflops_n256_t1",
            "GFLOPS",
            "runc",
            "",
            (1.2, 1.1, 1.3),
        );
        let slow = row(
            "cpu",
            "dgemm_gflops_n256_t1",
            "GFLOPS",
            "qemu-kvm",
            "",
            (1.3, 1.2, 1.4),
        );
        let f = check(&[fast, slow], None);
        assert_eq!(f.len(), 2);
        // One group, one command for both environments.
        let g = groups(&f);
        assert_eq!(g.len(), 1);
        assert_eq!(
            g[0].rerun,
            "pier bench --suite cpu --env native,runc,vm --runs 15"
        );
    }

    #[test]
    fn dgemm_above_the_peak_is_flagged() {
        let p = Peak {
            isa: "test",
            flop_per_cycle: 16.0,
            mhz: 2000.0,
            mhz_source: "test".into(),
            cores: 2,
        };
        let mut r = row(
            "cpu",
            "dgemm_gflops_n1024_t1",
            "GFLOPS",
            NATIVE,
            "",
            (1.0, 0.9, 1.1),
        );
        r.median = 40.0; // above 32 GFLOPS for one core
        let f = check(std::slice::from_ref(&r), Some(&p));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::AbovePeak);
        assert!(groups(&f)[0].reason.contains("theoretical peak"));
        r.median = 30.0;
        assert!(check(&[r], Some(&p)).is_empty());
    }
}
