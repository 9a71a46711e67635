//! Verdicts on the project's goals that cannot lean: a goal is met only when the whole 95%
//! interval clears it, not met only when the whole interval misses it, and inconclusive
//! otherwise, whatever side the median falls on.

use crate::stats::Interval;

/// Fewer samples than this give no verdict: a bootstrap interval of one or two values
/// only says how far apart they were.
pub const MIN_SAMPLES: usize = 3;

/// A goal on a ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The ratio must be at least this (e.g. pier / native GFLOPS ≥ 0.98).
    AtLeast(f64),
    /// The ratio must be at most this (e.g. pier / crun start-up time ≤ 1).
    AtMost(f64),
}

/// The outcome of a goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval clears the goal.
    Met,
    /// The whole interval misses the goal.
    NotMet,
    /// The interval straddles the goal, or there are too few samples.
    Inconclusive,
}

/// Judges `ci` (the 95% interval of a ratio measured from `n` samples per side) against
/// `goal`.
pub fn judge(ci: Interval, n: usize, goal: Goal) -> Verdict {
    if n < MIN_SAMPLES {
        return Verdict::Inconclusive;
    }
    match goal {
        Goal::AtLeast(g) if ci.low >= g => Verdict::Met,
        Goal::AtLeast(g) if ci.high < g => Verdict::NotMet,
        Goal::AtMost(g) if ci.high <= g => Verdict::Met,
        Goal::AtMost(g) if ci.low > g => Verdict::NotMet,
        _ => Verdict::Inconclusive,
    }
}

/// A short sentence for a table cell: the verdict and why (`n` samples per side).
pub fn describe(v: Verdict, n: usize, goal: Goal) -> String {
    let (clears, misses, g) = match goal {
        Goal::AtLeast(g) => ("≥", "below", g),
        Goal::AtMost(g) => ("≤", "above", g),
    };
    let num = crate::format::num(g);
    match v {
        Verdict::Met => format!("goal met: the whole 95% CI is {clears} {num}"),
        Verdict::NotMet => format!("goal not met: the whole 95% CI is {misses} {num}"),
        Verdict::Inconclusive if n < MIN_SAMPLES => {
            format!("inconclusive: {n} samples are too few for a verdict")
        }
        Verdict::Inconclusive => format!("inconclusive: the 95% CI straddles {num}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(low: f64, high: f64) -> Interval {
        Interval { low, high }
    }

    #[test]
    fn a_wide_interval_is_inconclusive_whatever_the_median() {
        // The old rule called this "met" because the median (0.996) cleared 0.98.
        assert_eq!(
            judge(ci(0.949, 1.05), 5, Goal::AtLeast(0.98)),
            Verdict::Inconclusive
        );
        // ... and the symmetric case, median below, interval reaching above.
        assert_eq!(
            judge(ci(0.818, 1.04), 5, Goal::AtLeast(0.98)),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn whole_interval_decides_both_ways() {
        assert_eq!(judge(ci(0.985, 1.01), 5, Goal::AtLeast(0.98)), Verdict::Met);
        assert_eq!(
            judge(ci(0.90, 0.97), 5, Goal::AtLeast(0.98)),
            Verdict::NotMet
        );
        assert_eq!(judge(ci(0.90, 0.99), 20, Goal::AtMost(1.0)), Verdict::Met);
        assert_eq!(judge(ci(1.01, 1.2), 20, Goal::AtMost(1.0)), Verdict::NotMet);
        assert_eq!(
            judge(ci(0.95, 1.1), 20, Goal::AtMost(1.0)),
            Verdict::Inconclusive
        );
        // Two samples never decide, however tight.
        assert_eq!(
            judge(ci(1.5, 1.5), 2, Goal::AtLeast(0.98)),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn descriptions_name_the_reason() {
        let d = describe(Verdict::Inconclusive, 5, Goal::AtLeast(0.98));
        assert!(d.contains("straddles 0.980"), "{d}");
        let d = describe(Verdict::Met, 5, Goal::AtLeast(0.98));
        assert!(d.starts_with("goal met"), "{d}");
    }
}
