//! Axes: a linear or logarithmic map from values to pixels, and tick values thinned until
//! their labels do not touch.

use super::canvas::{measure, TEXT};
use anyhow::Result;

/// Values `lo..hi` onto pixels `from..to` (either direction).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Smallest value.
    pub lo: f64,
    /// Largest value.
    pub hi: f64,
    /// Logarithmic (values must be > 0).
    pub log: bool,
    /// Pixel of `lo`.
    pub from: i32,
    /// Pixel of `hi`.
    pub to: i32,
}

impl Scale {
    /// Pixel of `v` (clamped to the axis).
    pub fn px(&self, v: f64) -> i32 {
        let t = if self.log {
            (v.max(self.lo).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.from + (f64::from(self.to - self.from) * t).round() as i32
    }

    /// Tick values with labels, as many as fit: labels of a horizontal axis keep 8 px apart
    /// side by side, those of a vertical one 4 px apart one above the other.
    pub fn ticks(&self, horizontal: bool) -> Result<Vec<(f64, String)>> {
        let candidates: Vec<Vec<f64>> = if self.log {
            log_candidates(self.lo, self.hi)
        } else {
            (2..=10).rev().map(|n| nice(self.lo, self.hi, n)).collect()
        };
        let mut last = Vec::new();
        for c in candidates {
            let labelled: Vec<(f64, String)> = c.iter().map(|v| (*v, label(*v))).collect();
            if self.fits(&labelled, horizontal)? {
                return Ok(labelled);
            }
            last = labelled;
        }
        // Nothing fits: keep the two ends only.
        if last.len() > 2 {
            let ends = [last[0].clone(), last[last.len() - 1].clone()];
            if self.fits(&ends, horizontal)? {
                return Ok(ends.to_vec());
            }
        }
        Ok(last.into_iter().take(1).collect())
    }

    fn fits(&self, ticks: &[(f64, String)], horizontal: bool) -> Result<bool> {
        for pair in ticks.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let gap = (self.px(b.0) - self.px(a.0)).abs();
            let need = if horizontal {
                (measure(&a.1, TEXT)?.0 + measure(&b.1, TEXT)?.0) / 2 + 8
            } else {
                TEXT as i32 + 4
            };
            if gap < need {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// "Nice" linear ticks (1, 2, 5 × 10^k steps) covering `lo..hi` with about `n` intervals.
pub fn nice(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    // Also catches NaN bounds.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Candidate tick sets of a log axis, densest first: 1-2-5 per decade (skipped over five
/// decades or more, where it only clutters), then every decade, then every second and
/// third decade; for less than three decades, linear ticks first.
fn log_candidates(lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let decades: Vec<f64> = (a..=b).map(|k| 10f64.powi(k)).filter(within).collect();
    let mut out = Vec::new();
    let dense: Vec<f64> = (a..=b)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(within)
        .collect();
    if decades.len() < 3 {
        out.extend(
            (2..=8)
                .rev()
                .map(|n| nice(lo, hi, n))
                .filter(|t| t.iter().all(|v| *v > 0.0)),
        );
    }
    if decades.len() < 5 {
        out.push(dense);
    }
    for every in 1..=3 {
        out.push(decades.iter().copied().step_by(every).collect());
    }
    out.retain(|c| !c.is_empty());
    out
}

/// A tick label: plain decimals without trailing zeros, scientific outside 1e-4..1e6.
pub fn label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A log axis's range: whole decades around `lo..hi` (both > 0), one more below when
/// `lo` sits within a factor of two of its decade (a bar there would be a sliver).
pub fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let mut a = lo.log10().floor();
    if lo / 10f64.powf(a) < 2.0 {
        a -= 1.0;
    }
    (10f64.powf(a), 10f64.powf(hi.log10().ceil().max(a + 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_fit() {
        assert_eq!(
            nice(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(label(0.0001), "0.0001");
        assert_eq!(label(2.5), "2.5");
        assert_eq!(label(1e-5), "1e-5");
        assert_eq!(decades(0.9, 2865.0), (0.1, 10000.0));
        assert_eq!(decades(1.16, 2865.0), (0.1, 10000.0));
        assert_eq!(decades(3.0, 50.0), (1.0, 100.0));
        let s = Scale {
            lo: 0.1,
            hi: 10000.0,
            log: true,
            from: 0,
            to: 300,
        };
        let t = s.ticks(true).unwrap();
        assert!(t.len() >= 3, "{t:?}");
        assert!(s.fits(&t, true).unwrap());
        assert_eq!(
            t.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            ["0.1", "1", "10", "100", "1000", "10000"]
        );
        // A narrow axis keeps fewer labels rather than overlapping them.
        let narrow = Scale { to: 60, ..s };
        assert!(narrow.fits(&narrow.ticks(true).unwrap(), true).unwrap());
        assert_eq!(s.px(0.1), 0);
        assert_eq!(s.px(10000.0), 300);
        assert_eq!(s.px(10.0), 120);
    }
}
