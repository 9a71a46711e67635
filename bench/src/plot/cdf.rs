//! Empirical cumulative distributions on a logarithmic x axis (start-up times).

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
    let y_probe = Scale {
        lo: 0.0,
        hi: 1.0,
        log: false,
        from: PLOT_H,
        to: 0,
    };
    let y_ticks = y_probe.ticks(false)?;
    let left = PAD + TEXT as i32 + 8 + widest(y_ticks.iter().map(|t| t.1.as_str()), TEXT)? + 8;
    let right = WIDTH - PAD - 20;
    let x_ticks = Scale {
        lo,
        hi,
        log: true,
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
                hi,
                log: true,
                from: left,
                to: right,
            };
            let ys = Scale {
                lo: 0.0,
                hi: 1.0,
                log: false,
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
                c.line(vec![(px, plot_top), (px, plot_bottom)], grid)?;
                c.text(t, (px, plot_bottom + 6), TEXT, (HPos::Center, VPos::Top))?;
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
