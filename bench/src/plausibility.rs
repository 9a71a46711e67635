//! Figures that cannot be true: a container (or VM) faster than the host it runs on, pier's
//! host networking (the host's own stack) different from native, DGEMM above the machine's
//! peak. On a shared machine these come from noise (a disturbed native run), so the report
//! flags them, in a table with the command that measures them again, instead of presenting
//! them as findings.
//!
//! The DGEMM bound is the peak the FMA kernel measured at the start of the cpu suite, plus
//! [`peak::MEASURED_TOLERANCE`]; a run without one (older runs) falls back on the computed
//! peak, which a core under turbo exceeds.

use crate::format::num;
use crate::peak::{self, Measured, Peak};
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
    /// DGEMM above the peak the FMA kernel measured (plus the tolerance).
    AboveMeasuredPeak,
    /// DGEMM above the computed peak, in a run without a measured one.
    AbovePeak,
}

/// The DGEMM bounds of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds<'a> {
    /// The computed peak, from `/proc/cpuinfo`.
    pub computed: Option<&'a Peak>,
    /// The measured peak; when present, the only DGEMM bound.
    pub measured: Option<&'a Measured>,
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
    /// The figure (`0.773× native [0.332–1.55]`, `91.25 GFLOPS`).
    pub what: String,
    /// The bound it crosses, for the peak kinds (`60.12 GFLOPS for 1 thread(s)`).
    pub bound: Option<String>,
}

/// One row of the report's table: the flagged figures of one metric and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Their suite.
    pub suite: String,
    /// Their metric.
    pub metric: String,
    /// `label figure` of each environment.
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

fn reason(kind: Kind, suite: &str, bound: Option<&str>) -> String {
    let why = match suite {
        "net" => "traffic through a container's (or VM's) network path cannot beat the host's own loopback",
        "startup" => "nothing starts faster than the plain fork and exec native measures",
        _ => "the same instructions on the same cores cannot run faster than on the host",
    };
    let bound = bound.unwrap_or("?");
    match kind {
        Kind::BeatsNativeBeyondNoise => {
            format!("faster than native beyond the noise, but {why}: native's runs were disturbed")
        }
        Kind::BeatsNativeWithinNoise => {
            format!("median faster than native, but {why}; the interval includes 1: noise")
        }
        Kind::HostNetworkDiffers => "different from native beyond the noise, but host networking \
             is the host's own loopback, the very path native measures"
            .into(),
        Kind::AboveMeasuredPeak => format!(
            "above the measured peak, {bound} (+{:.0}%): no code does more FLOP on these cores \
             than the FMA kernel, so this run or the peak's was disturbed",
            peak::MEASURED_TOLERANCE * 100.0
        ),
        Kind::AbovePeak => format!(
            "above the computed peak, {bound}, in a run without a measured one: \
             /proc/cpuinfo's clock is below the turbo clock, or the FMA units are not two"
        ),
    }
}

/// The flags as table rows, one per suite, kind and metric, each with one rerun command.
pub fn rows(flags: &[Flag]) -> Vec<Row> {
    let mut keys: Vec<(&str, Kind, &str)> = flags
        .iter()
        .map(|f| (f.suite.as_str(), f.kind, f.metric.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(suite, kind, metric)| {
            let members: Vec<&Flag> = flags
                .iter()
                .filter(|f| f.suite == suite && f.kind == kind && f.metric == metric)
                .collect();
            let mut envs = vec![NATIVE.to_string()];
            for f in &members {
                if !envs.contains(&f.env) {
                    envs.push(f.env.clone());
                }
            }
            let runs = members.iter().map(|f| f.n * 3).max().unwrap_or(0).max(15);
            Row {
                suite: suite.to_string(),
                metric: metric.to_string(),
                figures: members
                    .iter()
                    .map(|f| format!("{} {}", f.label, f.what))
                    .collect(),
                reason: reason(
                    kind,
                    suite,
                    members.first().and_then(|f| f.bound.as_deref()),
                ),
                rerun: format!(
                    "pier bench --suite {suite} --env {} --runs {runs}",
                    envs.join(",")
                ),
            }
        })
        .collect()
}

fn flag(r: &SummaryRow, kind: Kind, what: String, bound: Option<String>) -> Flag {
    Flag {
        suite: r.suite.clone(),
        metric: r.metric.clone(),
        label: r.label(),
        env: bench_env(&r.environment).to_string(),
        n: r.n,
        kind,
        what,
        bound,
    }
}

/// The DGEMM bound of `r`, if it is a DGEMM figure above it.
fn above_peak(r: &SummaryRow, bounds: Bounds) -> Option<Flag> {
    if !r.metric.contains("dgemm") {
        return None;
    }
    let t = peak::dgemm_threads(&r.metric)?;
    let (kind, limit, allowed) = match (bounds.measured, bounds.computed) {
        (Some(m), _) => {
            let g = m.gflops(t);
            (
                Kind::AboveMeasuredPeak,
                g,
                g * (1.0 + peak::MEASURED_TOLERANCE),
            )
        }
        (None, Some(p)) => (Kind::AbovePeak, p.gflops(t), p.gflops(t)),
        (None, None) => return None,
    };
    (r.median > allowed).then(|| {
        flag(
            r,
            kind,
            format!("{} GFLOPS", num(r.median)),
            Some(format!("{} GFLOPS for {t} thread(s)", num(limit))),
        )
    })
}

/// Checks every row of a summary; the peak `bounds` (when known) bound DGEMM.
pub fn check(summary: &[SummaryRow], bounds: Bounds) -> Vec<Flag> {
    let mut flags = Vec::new();
    for r in summary {
        flags.extend(above_peak(r, bounds));
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
        let what = format!("{}× native [{}–{}]", num(v), num(ci.low), num(ci.high));
        let kind = if beats_native {
            Kind::BeatsNativeBeyondNoise
        } else if median_beats {
            Kind::BeatsNativeWithinNoise
        } else if r.suite == "net" && r.variant == "host" && (ci.low > 1.0 || ci.high < 1.0) {
            Kind::HostNetworkDiffers
        } else {
            continue;
        };
        flags.push(flag(r, kind, what, None));
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
        let f = check(std::slice::from_ref(&r), Bounds::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::BeatsNativeBeyondNoise);
        assert_eq!(f[0].what, "0.551× native [0.400–0.800]");
        let g = rows(&f);
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
        let f = check(&[m], Bounds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::BeatsNativeWithinNoise);
        assert!(rows(&f)[0].reason.contains("interval includes 1: noise"));
        // Throughput above native on a bridge: the same.
        let t = row(
            "net",
            "tcp_stream",
            "Gbit/s",
            "pier",
            "bridge",
            (1.3, 1.1, 1.5),
        );
        assert_eq!(check(&[t], Bounds::default()).len(), 1);
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
        let f = check(&[r], Bounds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::HostNetworkDiffers);
        assert!(rows(&f)[0].reason.contains("host's own loopback"));
        // The bridge may be slower than native: that is overhead, not noise.
        let b = row(
            "net",
            "tcp_stream",
            "Gbit/s",
            "pier",
            "bridge",
            (0.7, 0.6, 0.8),
        );
        assert!(check(&[b], Bounds::default()).is_empty());
    }

    #[test]
    fn ordinary_figures_pass() {
        let ordinary = [
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
        assert!(check(&ordinary, Bounds::default()).is_empty());
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
        let f = check(&[fast, slow], Bounds::default());
        assert_eq!(f.len(), 2);
        // One row, one command for both environments.
        let g = rows(&f);
        assert_eq!(g.len(), 1);
        assert_eq!(
            g[0].rerun,
            "pier bench --suite cpu --env native,runc,vm --runs 15"
        );
    }

    fn measured(one: f64, two: f64) -> Measured {
        Measured {
            isa: "avx2".into(),
            kernel: "test".into(),
            points: vec![
                crate::peak::MeasuredPoint {
                    threads: 1,
                    gflops: one,
                },
                crate::peak::MeasuredPoint {
                    threads: 2,
                    gflops: two,
                },
            ],
        }
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
        let computed = Bounds {
            computed: Some(&p),
            measured: None,
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
        let f = check(std::slice::from_ref(&r), computed);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::AbovePeak);
        let g = rows(&f);
        assert!(
            g[0].reason
                .contains("above the computed peak, 32.00 GFLOPS for 1 thread(s)"),
            "{}",
            g[0].reason
        );
        r.median = 30.0;
        assert!(check(std::slice::from_ref(&r), computed).is_empty());
    }

    #[test]
    fn the_measured_peak_replaces_the_computed_one() {
        // The reference run: 1-thread DGEMM at 85 GFLOPS, above a computed 83.2 (nominal
        // clock) but below what the FMA kernel reached at the turbo clock.
        let p = Peak {
            isa: "test",
            flop_per_cycle: 32.0,
            mhz: 2600.0,
            mhz_source: "test".into(),
            cores: 2,
        };
        let m = measured(95.0, 180.0);
        let both = Bounds {
            computed: Some(&p),
            measured: Some(&m),
        };
        let mut r = row(
            "cpu",
            "dgemm_gflops_n1024_t1",
            "GFLOPS",
            NATIVE,
            "",
            (1.0, 0.9, 1.1),
        );
        r.median = 85.22;
        assert_eq!(
            check(
                std::slice::from_ref(&r),
                Bounds {
                    measured: None,
                    ..both
                }
            )
            .len(),
            1
        );
        assert!(check(std::slice::from_ref(&r), both).is_empty());
        // Within the tolerance above the measured peak: not flagged; beyond it: flagged.
        r.median = 99.0;
        assert!(check(std::slice::from_ref(&r), both).is_empty());
        r.median = 100.0;
        let f = check(std::slice::from_ref(&r), both);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::AboveMeasuredPeak);
        assert_eq!(f[0].what, "100.0 GFLOPS");
        let g = rows(&f);
        assert!(
            g[0].reason
                .contains("above the measured peak, 95.00 GFLOPS for 1 thread(s) (+5%)"),
            "{}",
            g[0].reason
        );
        assert_eq!(g[0].figures, ["native 100.0 GFLOPS"]);
        // The all-thread figure is bounded by the all-thread peak.
        let mut t2 = r.clone();
        t2.metric = "dgemm_gflops_n1024_t2".into();
        t2.median = 150.0;
        assert!(check(&[t2], both).is_empty());
    }
}
