//! Grouped vertical bars with intervals: one group per metric, one bar per environment.
//! Group labels may hold several lines (`\n`); the chart widens until every label fits
//! its group's width.

use super::canvas::{widest, Canvas, LegendEntry, TEXT};
use super::frame::{Frame, Width, LINE};
use super::palette::display_name;
use super::{both_backends, Chart, Drawn};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One bar: its series (legend entry), height and interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Series the bar belongs to (the environment label).
    pub series: String,
    /// Bar height (e.g. the median).
    pub value: f64,
    /// Bottom of the interval.
    pub low: f64,
    /// Top of the interval.
    pub high: f64,
}

/// Bars drawn side by side under one label (e.g. one metric).
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// Label under the group (lines separated by `\n`).
    pub label: String,
    /// The bars, one per series.
    pub bars: Vec<Bar>,
    /// A dashed mark across the group (e.g. the theoretical peak), named by the chart.
    pub mark: Option<f64>,
}

const MIN_WIDTH: i32 = 640;
const BAR_W: i32 = 16;
const MARK: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// Draws the groups; `reference` adds a dashed line across the chart (1.0 on a ratio
/// chart), `mark_label` names the groups' marks in the legend.
pub fn grouped_bars(
    chart: &Chart,
    groups: &[BarGroup],
    reference: Option<f64>,
    mark_label: Option<&str>,
) -> Result<Drawn> {
    let mut series: Vec<String> = Vec::new();
    for b in groups.iter().flat_map(|g| &g.bars) {
        if !series.contains(&b.series) {
            series.push(b.series.clone());
        }
    }
    series.sort_by_key(|s| chart.palette.order(s));
    let mut legend: Vec<LegendEntry> = series
        .iter()
        .map(|s| LegendEntry {
            text: display_name(s),
            color: chart.palette.color(s),
            line: false,
        })
        .collect();
    if let Some(m) = mark_label.filter(|_| groups.iter().any(|g| g.mark.is_some())) {
        legend.push(LegendEntry {
            text: m.to_string(),
            color: MARK,
            line: true,
        });
    }
    let top = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.high.max(b.value)).chain(g.mark))
        .chain(reference)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let label_lines: Vec<Vec<&str>> = groups
        .iter()
        .map(|g| g.label.split('\n').collect())
        .collect();
    let lines = label_lines.iter().map(Vec::len).max().unwrap_or(1) as i32;
    let label_w = widest(label_lines.iter().flatten().copied(), TEXT)?;
    let n = groups.len().max(1) as i32;
    // Each group is as wide as its widest label line (so labels never touch) and its bars.
    let mut slot = (label_w + 16).max(series.len() as i32 * BAR_W + 24).max(60);
    let mut frame = Frame::new(
        chart,
        &legend,
        (0.0, top, false),
        Width::Plot(n * slot),
        lines,
    )?;
    if frame.width < MIN_WIDTH {
        slot += (MIN_WIDTH - frame.width) / n;
        frame = Frame::new(
            chart,
            &legend,
            (0.0, top, false),
            Width::Plot(n * slot),
            lines,
        )?;
    }
    both_backends!(
        chart.stem,
        frame.size(),
        series.clone(),
        |c: &mut Canvas<_>| -> Result<()> {
            frame.draw(c, chart, &legend)?;
            let ys = frame.y_scale();
            let (left, bottom) = (frame.left, frame.bottom);
            for (i, g) in groups.iter().enumerate() {
                let x0 = left + i as i32 * slot;
                let present: Vec<&String> = series
                    .iter()
                    .filter(|s| g.bars.iter().any(|b| &b.series == *s))
                    .collect();
                let bw = ((slot - 16) / present.len().max(1) as i32).min(40);
                let start = x0 + (slot - bw * present.len() as i32) / 2;
                for (j, s) in present.iter().enumerate() {
                    let Some(b) = g.bars.iter().find(|b| &b.series == *s) else {
                        continue;
                    };
                    let bx = start + j as i32 * bw;
                    if b.value.is_finite() {
                        c.rect(
                            (bx + 1, ys.px(b.value)),
                            (bx + bw - 1, bottom),
                            chart.palette.color(s).filled(),
                        )?;
                    }
                    if b.high > b.low {
                        let cx = bx + bw / 2;
                        c.interval(
                            (cx, ys.px(b.low)),
                            (cx, ys.px(b.high)),
                            (bw / 4).clamp(2, 6),
                        )?;
                    }
                }
                if let Some(m) = g.mark {
                    let py = ys.px(m);
                    c.dashed((x0 + 4, py), (x0 + slot - 4, py), MARK.stroke_width(2))?;
                }
                for (k, line) in label_lines[i].iter().enumerate() {
                    c.text(
                        line,
                        (x0 + slot / 2, bottom + 6 + k as i32 * LINE),
                        TEXT,
                        (HPos::Center, VPos::Top),
                    )?;
                }
            }
            if let Some(r) = reference {
                let py = ys.px(r);
                c.dashed(
                    (left, py),
                    (frame.right, py),
                    RGBColor(0x55, 0x55, 0x55).stroke_width(1),
                )?;
            }
            Ok(())
        }
    )
}
