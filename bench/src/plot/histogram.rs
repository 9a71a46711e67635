//! Overlaid histograms (fraction of samples per bin, log y) of jitter durations.

use super::canvas::{Canvas, LegendEntry};
use super::frame::{Frame, Width};
use super::palette::display_name;
use super::{both_backends, Chart, Drawn};
use anyhow::Result;
use plotters::prelude::*;

const FLOOR: f64 = 1e-5;

/// `c` at 45% over white: what a histogram bar looks like where it overlaps nothing.
fn blend(c: RGBColor) -> RGBColor {
    let f = |v: u8| (f64::from(v) * 0.45 + 255.0 * 0.55) as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// Histograms of each series over a common range from the minimum to the 99.5th
/// percentile; samples above it are counted in the last bin so the tail stays visible.
pub fn histogram(chart: &Chart, series: &[(String, Vec<f64>)], bins: usize) -> Result<Drawn> {
    let mut series: Vec<&(String, Vec<f64>)> = series.iter().collect();
    series.sort_by_key(|(n, _)| chart.palette.order(n));
    let all: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let lo = crate::stats::min(&all).unwrap_or(0.0);
    let hi = crate::stats::percentile(&all, 99.5)
        .unwrap_or(1.0)
        .max(lo + 1e-9);
    let bins = bins.max(1);
    let bin_w = (hi - lo) / bins as f64;
    let legend: Vec<LegendEntry> = series
        .iter()
        .map(|(n, _)| LegendEntry {
            text: display_name(n),
            color: blend(chart.palette.color(n)),
            line: false,
        })
        .collect();
    let frame = Frame::new(chart, &legend, (FLOOR, 1.0, true), Width::Fixed(800), 1)?;
    let xs = frame.x_scale(lo, hi + bin_w, false);
    let x_ticks = xs.ticks(true)?;
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    both_backends!(
        chart.stem,
        frame.size(),
        names,
        |c: &mut Canvas<_>| -> Result<()> {
            frame.draw(c, chart, &legend)?;
            frame.x_ticks(c, &xs, &x_ticks, false)?;
            let ys = frame.y_scale();
            for (name, values) in &series {
                let mut counts = vec![0usize; bins + 1];
                for v in values {
                    let b = (((v - lo) / bin_w).floor().max(0.0) as usize).min(bins);
                    counts[b] += 1;
                }
                let n = values.len().max(1) as f64;
                let color = chart.palette.color(name).mix(0.45);
                for (b, k) in counts.iter().enumerate().filter(|(_, k)| **k > 0) {
                    let x0 = lo + b as f64 * bin_w;
                    c.rect(
                        (xs.px(x0), ys.px(*k as f64 / n)),
                        (xs.px(x0 + bin_w), frame.bottom),
                        color.filled(),
                    )?;
                }
            }
            Ok(())
        }
    )
}
