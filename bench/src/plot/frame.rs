//! The frame of a chart with one plot area: the title, the legend, a y axis with grid lines
//! and labels, the axis lines and both axis descriptions. Bars, CDFs and histograms draw
//! inside it.

use super::canvas::{legend_height, measure, widest, wrap, Canvas, LegendEntry, PAD, TEXT, TITLE};
use super::scale::Scale;
use super::Chart;
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// Height of the plot area, px.
const PLOT_H: i32 = 300;
/// A text line, px.
pub const LINE: i32 = TEXT as i32 + 4;
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);

/// How wide a chart is.
#[derive(Debug, Clone, Copy)]
pub enum Width {
    /// The whole chart, px; the plot area takes what the y labels leave.
    Fixed(i32),
    /// The plot area, px; the chart adds the y labels' margin (and grows for the title).
    Plot(i32),
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Chart width.
    pub width: i32,
    /// Chart height.
    pub height: i32,
    /// Plot area's left edge (the y axis).
    pub left: i32,
    /// Plot area's right edge.
    pub right: i32,
    /// Plot area's top.
    pub top: i32,
    /// Plot area's bottom (the x axis).
    pub bottom: i32,
    y: (f64, f64, bool),
    y_ticks: Vec<(f64, String)>,
    below: i32,
}

impl Frame {
    /// Lays out a chart whose y axis spans `y` = (low, high, logarithmic), with `below`
    /// lines of labels under the x axis (tick labels or group names).
    pub fn new(
        chart: &Chart,
        legend: &[LegendEntry],
        y: (f64, f64, bool),
        width: Width,
        below: i32,
    ) -> Result<Frame> {
        let y_ticks = Scale {
            lo: y.0,
            hi: y.1,
            log: y.2,
            from: PLOT_H,
            to: 0,
        }
        .ticks(false)?;
        let left = PAD + TEXT as i32 + 8 + widest(y_ticks.iter().map(|t| t.1.as_str()), TEXT)? + 8;
        let title_w = measure(chart.title, TITLE)?.0 + 2 * PAD;
        let (width, right) = match width {
            Width::Fixed(w) => (w, w - PAD - 20),
            Width::Plot(p) => ((left + p + PAD).max(title_w.min(1400)), left + p),
        };
        let title_h =
            wrap(chart.title, TITLE, width - 2 * PAD)?.len() as i32 * (TITLE as i32 + 4) + PAD + 8;
        let top = title_h + legend_height(legend, width - 2 * PAD)? + 8;
        let bottom = top + PLOT_H;
        Ok(Frame {
            width,
            height: bottom + 6 + below * LINE + 4 + LINE + PAD,
            left,
            right,
            top,
            bottom,
            y,
            y_ticks,
            below,
        })
    }

    /// The y axis's scale.
    pub fn y_scale(&self) -> Scale {
        Scale {
            lo: self.y.0,
            hi: self.y.1,
            log: self.y.2,
            from: self.bottom,
            to: self.top,
        }
    }

    /// The size for [`super::both_backends`].
    pub fn size(&self) -> (u32, u32) {
        (self.width as u32, self.height as u32)
    }

    /// Draws the title, legend, y grid and labels, axis lines and descriptions.
    pub fn draw<DB: DrawingBackend>(
        &self,
        c: &mut Canvas<DB>,
        chart: &Chart,
        legend: &[LegendEntry],
    ) -> Result<()> {
        let y = c.title(chart.title, self.width)?;
        c.legend(legend, PAD, y, self.width - 2 * PAD)?;
        let ys = self.y_scale();
        for (v, t) in &self.y_ticks {
            let py = ys.px(*v);
            c.line(
                vec![(self.left, py), (self.right, py)],
                GRID.stroke_width(1),
            )?;
            c.text(t, (self.left - 8, py), TEXT, (HPos::Right, VPos::Center))?;
        }
        c.line(
            vec![
                (self.left, self.top),
                (self.left, self.bottom),
                (self.right, self.bottom),
            ],
            BLACK.stroke_width(1),
        )?;
        c.vertical_text(
            chart.y_label,
            (PAD + TEXT as i32 / 2, (self.top + self.bottom) / 2),
            TEXT,
        )?;
        c.text(
            chart.x_label,
            (
                (self.left + self.right) / 2,
                self.bottom + 6 + self.below * LINE + 4,
            ),
            TEXT,
            (HPos::Center, VPos::Top),
        )
    }

    /// Labels `ticks` under the x axis of scale `xs`, with vertical grid lines or short marks.
    pub fn x_ticks<DB: DrawingBackend>(
        &self,
        c: &mut Canvas<DB>,
        xs: &Scale,
        ticks: &[(f64, String)],
        grid: bool,
    ) -> Result<()> {
        for (v, t) in ticks {
            let px = xs.px(*v);
            if grid {
                c.line(
                    vec![(px, self.top), (px, self.bottom)],
                    GRID.stroke_width(1),
                )?;
            } else {
                c.line(
                    vec![(px, self.bottom), (px, self.bottom + 4)],
                    BLACK.stroke_width(1),
                )?;
            }
            c.text(t, (px, self.bottom + 6), TEXT, (HPos::Center, VPos::Top))?;
        }
        Ok(())
    }

    /// The x scale over the plot area.
    pub fn x_scale(&self, lo: f64, hi: f64, log: bool) -> Scale {
        Scale {
            lo,
            hi,
            log,
            from: self.left,
            to: self.right,
        }
    }
}
