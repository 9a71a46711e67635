//! Overlaid histograms (fraction of samples per bin, log y) of jitter durations.

use super::canvas::{legend_height, widest, Canvas, LegendEntry, PAD, TEXT};
use super::palette::display_name;
use super::scale::Scale;
use super::{both_backends, Chart, Drawn};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const WIDTH: i32 = 800;
const PLOT_H: i32 = 320;
const LINE: i32 = TEXT as i32 + 4;
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
    let y_probe = Scale {
        lo: FLOOR,
        hi: 1.0,
        log: true,
        from: PLOT_H,
        to: 0,
    };
    let y_ticks = y_probe.ticks(false)?;
    let left = PAD + TEXT as i32 + 8 + widest(y_ticks.iter().map(|t| t.1.as_str()), TEXT)? + 8;
    let right = WIDTH - PAD - 20;
    let x_ticks = Scale {
        lo,
        hi: hi + bin_w,
        log: false,
        from: left,
        to: right,
    }
    .ticks(true)?;
    let title_h = super::canvas::wrap(chart.title, super::canvas::TITLE, WIDTH - 2 * PAD)?.len()
        as i32
        * (super::canvas::TITLE as i32 + 4)
        + PAD
        + 8;
    let plot_top = title_h + legend_height(&legend, WIDTH - 2 * PAD)? + 8;
    let plot_bottom = plot_top + PLOT_H;
    let height = plot_bottom + 6 + 2 * LINE + PAD;
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    both_backends!(
        chart.stem,
        (WIDTH as u32, height as u32),
        names,
        |c: &mut Canvas<_>| -> Result<()> {
            let y = c.title(chart.title, WIDTH)?;
            c.legend(&legend, PAD, y, WIDTH - 2 * PAD)?;
            let xs = Scale {
                lo,
                hi: hi + bin_w,
                log: false,
                from: left,
                to: right,
            };
            let ys = Scale {
                lo: FLOOR,
                hi: 1.0,
                log: true,
                from: plot_bottom,
                to: plot_top,
            };
            let grid = RGBColor(0xE4, 0xE4, 0xE4).stroke_width(1);
            for (v, t) in &y_ticks {
                let py = ys.px(*v);
                c.line(vec![(left, py), (right, py)], grid)?;
                c.text(t, (left - 8, py), TEXT, (HPos::Right, VPos::Center))?;
            }
            for (v, t) in &x_ticks {
                let px = xs.px(*v);
                c.line(
                    vec![(px, plot_bottom), (px, plot_bottom + 4)],
                    BLACK.stroke_width(1),
                )?;
                c.text(t, (px, plot_bottom + 6), TEXT, (HPos::Center, VPos::Top))?;
            }
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
                        (xs.px(x0 + bin_w), plot_bottom),
                        color.filled(),
                    )?;
                }
            }
            c.line(
                vec![(left, plot_top), (left, plot_bottom), (right, plot_bottom)],
                BLACK.stroke_width(1),
            )?;
            c.vertical_text(
                chart.y_label,
                (PAD + TEXT as i32 / 2, (plot_top + plot_bottom) / 2),
                TEXT,
            )?;
            c.text(
                chart.x_label,
                ((left + right) / 2, plot_bottom + 6 + LINE),
                TEXT,
                (HPos::Center, VPos::Top),
            )?;
            Ok(())
        }
    )
}
