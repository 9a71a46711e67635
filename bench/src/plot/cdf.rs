//! Empirical cumulative distributions on a logarithmic x axis (start-up times).

use super::canvas::{Canvas, LegendEntry};
use super::frame::{Frame, Width};
use super::palette::display_name;
use super::{both_backends, Chart, Drawn};
use anyhow::Result;
use plotters::prelude::*;

/// One step line per series (values ≤ 0 are dropped: the axis is logarithmic).
pub fn cdf(chart: &Chart, series: &[(String, Vec<f64>)]) -> Result<Drawn> {
    let mut series: Vec<(String, Vec<f64>)> = series
        .iter()
        .map(|(n, v)| {
            let mut v: Vec<f64> = v
                .iter()
                .copied()
                .filter(|x| *x > 0.0 && x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            (n.clone(), v)
        })
        .collect();
    series.sort_by_key(|(n, _)| chart.palette.order(n));
    let (lo, hi) = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.3, hi * 1.3)
    } else {
        (0.1, 10.0)
    };
    let legend: Vec<LegendEntry> = series
        .iter()
        .map(|(n, _)| LegendEntry {
            text: display_name(n),
            color: chart.palette.color(n),
            line: true,
        })
        .collect();
    let frame = Frame::new(chart, &legend, (0.0, 1.0, false), Width::Fixed(800), 1)?;
    let xs = frame.x_scale(lo, hi, true);
    let x_ticks = xs.ticks(true)?;
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    both_backends!(
        chart.stem,
        frame.size(),
        names,
        |c: &mut Canvas<_>| -> Result<()> {
            frame.draw(c, chart, &legend)?;
            frame.x_ticks(c, &xs, &x_ticks, true)?;
            let ys = frame.y_scale();
            for (name, v) in &series {
                let n = v.len() as f64;
                // Step function: each sample raises the CDF by 1/n.
                let pts: Vec<(i32, i32)> = v
                    .iter()
                    .enumerate()
                    .flat_map(|(i, x)| {
                        [
                            (xs.px(*x), ys.px(i as f64 / n)),
                            (xs.px(*x), ys.px((i + 1) as f64 / n)),
                        ]
                    })
                    .collect();
                c.line(pts, chart.palette.color(name).stroke_width(2))?;
            }
            Ok(())
        }
    )
}
