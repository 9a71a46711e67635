//! Descriptive statistics and bootstrap confidence intervals for benchmark samples.
//!
//! All functions take unsorted slices and return `None` on empty input instead of
//! panicking, so a suite that produced no samples shows up as a gap, not a crash.

/// Number of bootstrap resamples used by the convenience functions.
pub const DEFAULT_RESAMPLES: usize = 2000;
/// Seed for the bootstrap PRNG: fixed so that a report is reproducible from its CSV.
pub const DEFAULT_SEED: u64 = 0x005e_ed0f_91e7;

/// A tiny xorshift64* generator: enough for resampling indices, no `rand` dependency.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// Creates a generator; a zero seed (a fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    /// Next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform index in `0..n` (`n > 0`); the modulo bias is negligible for sample sizes.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Percentile `p` in `[0, 100]` of already sorted data, linear interpolation between
/// closest ranks (the "type 7" definition used by numpy and R by default).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Percentile `p` in `[0, 100]` of unsorted data (see [`percentile_sorted`]).
pub fn percentile(xs: &[f64], p: f64) -> Option<f64> {
    percentile_sorted(&sorted(xs), p)
}

/// Median (50th percentile; mean of the two middle values for even lengths).
pub fn median(xs: &[f64]) -> Option<f64> {
    percentile(xs, 50.0)
}

/// Smallest value.
pub fn min(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().reduce(f64::min)
}

/// Largest value.
pub fn max(xs: &[f64]) -> Option<f64> {
    xs.iter().copied().reduce(f64::max)
}

/// Arithmetic mean.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        None
    } else {
        Some(xs.iter().sum::<f64>() / xs.len() as f64)
    }
}

/// Sample standard deviation (n - 1 denominator); 0 for a single sample.
pub fn stddev(xs: &[f64]) -> Option<f64> {
    let m = mean(xs)?;
    if xs.len() < 2 {
        return Some(0.0);
    }
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// A closed interval `[low, high]`, e.g. a 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies inside the interval (bounds included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

fn resample_median(xs: &[f64], rng: &mut XorShift64, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..xs.len()).map(|_| xs[rng.below(xs.len())]));
    buf.sort_by(f64::total_cmp);
    percentile_sorted(buf, 50.0).unwrap_or(f64::NAN)
}

fn interval_of(mut stats: Vec<f64>, level: f64) -> Option<Interval> {
    stats.retain(|x| x.is_finite());
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0 * 100.0;
    Some(Interval {
        low: percentile_sorted(&stats, tail)?,
        high: percentile_sorted(&stats, 100.0 - tail)?,
    })
}

/// Percentile-bootstrap confidence interval of the median at `level` (e.g. 0.95).
pub fn bootstrap_median_ci(
    xs: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    if xs.is_empty() {
        return None;
    }
    let mut rng = XorShift64::new(seed);
    let mut buf = Vec::with_capacity(xs.len());
    let stats = (0..resamples.max(1))
        .map(|_| resample_median(xs, &mut rng, &mut buf))
        .collect();
    interval_of(stats, level)
}

/// 95% bootstrap CI of the median with the default resample count and seed.
pub fn median_ci95(xs: &[f64]) -> Option<Interval> {
    bootstrap_median_ci(xs, 0.95, DEFAULT_RESAMPLES, DEFAULT_SEED)
}

/// Ratio of medians `median(a) / median(b)` with a bootstrap interval at `level`,
/// resampling both groups independently (they are separate runs, not paired).
pub fn ratio_of_medians(
    a: &[f64],
    b: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<(f64, Interval)> {
    let (ma, mb) = (median(a)?, median(b)?);
    if mb == 0.0 {
        return None;
    }
    let mut rng = XorShift64::new(seed);
    let (mut ba, mut bb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let stats = (0..resamples.max(1))
        .map(|_| resample_median(a, &mut rng, &mut ba) / resample_median(b, &mut rng, &mut bb))
        .collect();
    Some((ma / mb, interval_of(stats, level)?))
}

/// A one-struct summary of a sample set, as used by the summary CSV and JSON outputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Minimum.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// Mean.
    pub mean: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
    /// Sample standard deviation.
    pub stddev: f64,
}

impl Summary {
    /// Summarises `xs`; `None` when empty.
    pub fn of(xs: &[f64]) -> Option<Self> {
        let s = sorted(xs);
        Some(Self {
            n: s.len(),
            min: *s.first()?,
            median: percentile_sorted(&s, 50.0)?,
            mean: mean(&s)?,
            p99: percentile_sorted(&s, 99.0)?,
            p999: percentile_sorted(&s, 99.9)?,
            max: *s.last()?,
            stddev: stddev(&s)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn basic_statistics_match_known_values() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(mean(&xs).unwrap(), 5.0));
        // Sample stddev of this classic set: sqrt(32 / 7).
        assert!(close(stddev(&xs).unwrap(), (32.0f64 / 7.0).sqrt()));
        assert!(close(median(&xs).unwrap(), 4.5));
        assert!(close(median(&[3.0, 1.0, 2.0]).unwrap(), 2.0));
        assert_eq!(min(&xs), Some(2.0));
        assert_eq!(max(&xs), Some(9.0));
        assert_eq!(median(&[]), None);
        assert_eq!(stddev(&[1.0]), Some(0.0));
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let xs: Vec<f64> = (1..=10).map(f64::from).collect();
        // numpy.percentile(range(1, 11), [0, 25, 90, 99, 100]) = 1, 3.25, 9.1, 9.91, 10
        assert!(close(percentile(&xs, 0.0).unwrap(), 1.0));
        assert!(close(percentile(&xs, 25.0).unwrap(), 3.25));
        assert!(close(percentile(&xs, 90.0).unwrap(), 9.1));
        assert!(close(percentile(&xs, 99.0).unwrap(), 9.91));
        assert!(close(percentile(&xs, 100.0).unwrap(), 10.0));
    }

    #[test]
    fn bootstrap_ci_brackets_median_and_is_deterministic() {
        let xs: Vec<f64> = (0..101).map(|i| 100.0 + f64::from(i % 17)).collect();
        let m = median(&xs).unwrap();
        let ci = median_ci95(&xs).unwrap();
        assert!(ci.contains(m), "{ci:?} should contain {m}");
        assert!(ci.high - ci.low < 10.0);
        assert_eq!(ci, median_ci95(&xs).unwrap());
        // Constant data: the interval collapses onto the value.
        let c = median_ci95(&[3.0; 20]).unwrap();
        assert_eq!((c.low, c.high), (3.0, 3.0));
    }

    #[test]
    fn ratio_of_medians_and_interval() {
        let a: Vec<f64> = (0..50).map(|i| 90.0 + f64::from(i % 5)).collect();
        let b: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i % 5) * 2.0).collect();
        let (r, ci) = ratio_of_medians(&a, &b, 0.95, 1000, 7).unwrap();
        assert!(close(r, 92.0 / 104.0));
        assert!(ci.contains(r));
        assert!(ci.low > 0.8 && ci.high < 1.0);
        assert!(ratio_of_medians(&a, &[0.0], 0.95, 10, 1).is_none());
    }

    #[test]
    fn summary_and_prng() {
        let s = Summary::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 2.0, 3.0));
        assert!(Summary::of(&[]).is_none());
        let mut r = XorShift64::new(0);
        let v: Vec<usize> = (0..1000).map(|_| r.below(10)).collect();
        assert!((0..10).all(|k| v.contains(&k)));
    }
}
