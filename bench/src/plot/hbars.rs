//! Horizontal bars in one or more panels: one row per environment, its label on the left,
//! the bar with its interval, the value printed at its end. Rows marked hollow are drawn as
//! open circles (figures published elsewhere). The lead figure uses several panels, the
//! start-up chart one panel on a log axis.

use super::canvas::{measure, widest, wrap, Canvas, PAD, TEXT};
use super::scale::{decades, Scale};
use super::{both_backends, Chart, Drawn};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One row of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Colour key (series label).
    pub series: String,
    /// Text left of the row.
    pub label: String,
    /// Bar length.
    pub value: f64,
    /// Interval low end.
    pub low: f64,
    /// Interval high end.
    pub high: f64,
    /// Text printed at the end of the bar.
    pub text: String,
    /// An open circle instead of a bar (a published figure, drawn for context).
    pub hollow: bool,
}

/// A panel: a title, rows, and its own axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the rows.
    pub title: String,
    /// The rows, top to bottom.
    pub rows: Vec<Row>,
    /// Logarithmic axis.
    pub log: bool,
    /// A dashed vertical line (1.0 = native on a ratio axis).
    pub reference: Option<f64>,
    /// Lines under the panel (wrapped to its width).
    pub notes: Vec<String>,
    /// The axis range, when panels must share one (else from the rows).
    pub domain: Option<(f64, f64)>,
}

const ROW: i32 = 24;
const BAR: i32 = 14;
const MIN_PLOT: i32 = 240;
const PANEL_TITLE: u32 = 16;
const LINE: i32 = TEXT as i32 + 4;

struct Layout {
    width: i32,
    height: i32,
    panel_w: i32,
    label_w: i32,
    value_w: i32,
    title_h: i32,
    /// Top y of each grid row of panels.
    row_tops: Vec<i32>,
    /// Each panel's wrapped title and notes.
    titles: Vec<Vec<String>>,
    notes: Vec<Vec<String>>,
    footer: Vec<String>,
    footer_top: i32,
}

fn panel_height(title_lines: usize, rows: usize, note_lines: usize) -> i32 {
    title_lines as i32 * (PANEL_TITLE as i32 + 4)
        + 6
        + rows as i32 * ROW
        + 6
        + LINE
        + LINE
        + note_lines as i32 * LINE
        + PAD
}

fn layout(chart: &Chart, panels: &[Panel], columns: usize, footer: &[String]) -> Result<Layout> {
    let columns = columns.clamp(1, panels.len().max(1));
    let label_w = widest(
        panels
            .iter()
            .flat_map(|p| p.rows.iter().map(|r| r.label.as_str())),
        TEXT,
    )?;
    let value_w = widest(
        panels
            .iter()
            .flat_map(|p| p.rows.iter().map(|r| r.text.as_str())),
        TEXT,
    )? + 12;
    let mut panel_w = PAD + label_w + 8 + MIN_PLOT + value_w + PAD;
    let mut width = columns as i32 * panel_w;
    let title_w = measure(chart.title, super::canvas::TITLE)?.0 + 2 * PAD;
    if title_w > width && title_w < 1400 {
        panel_w = title_w / columns as i32 + 1;
        width = columns as i32 * panel_w;
    }
    let inner = panel_w - 2 * PAD;
    let mut titles = Vec::new();
    let mut notes = Vec::new();
    for p in panels {
        titles.push(wrap(&p.title, PANEL_TITLE, inner)?);
        let mut n = Vec::new();
        for note in &p.notes {
            n.extend(wrap(note, TEXT, inner)?);
        }
        notes.push(n);
    }
    let title_h = super::canvas::wrap(chart.title, super::canvas::TITLE, width - 2 * PAD)?.len()
        as i32
        * (super::canvas::TITLE as i32 + 4)
        + PAD
        + 8;
    let mut row_tops = Vec::new();
    let mut y = title_h;
    for (g, chunk) in panels.chunks(columns).enumerate() {
        row_tops.push(y);
        let h = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let k = g * columns + i;
                panel_height(titles[k].len(), p.rows.len(), notes[k].len())
            })
            .max()
            .unwrap_or(0);
        y += h;
    }
    let mut footer_lines = Vec::new();
    for f in footer {
        footer_lines.extend(wrap(f, TEXT, width - 2 * PAD)?);
    }
    let footer_top = y;
    let height = y + footer_lines.len() as i32 * LINE + PAD;
    Ok(Layout {
        width,
        height,
        panel_w,
        label_w,
        value_w,
        title_h,
        row_tops,
        titles,
        notes,
        footer: footer_lines,
        footer_top,
    })
}

/// Draws `panels`, `columns` to a row, with `footer` lines under them.
pub fn panels(chart: &Chart, panels: &[Panel], columns: usize, footer: &[String]) -> Result<Drawn> {
    let l = layout(chart, panels, columns, footer)?;
    let columns = columns.clamp(1, panels.len().max(1));
    let mut series: Vec<String> = Vec::new();
    for r in panels.iter().flat_map(|p| &p.rows).filter(|r| !r.hollow) {
        if !series.contains(&r.series) {
            series.push(r.series.clone());
        }
    }
    let size = (l.width as u32, l.height as u32);
    both_backends!(
        chart.stem,
        size,
        series,
        |c: &mut Canvas<_>| -> Result<()> {
            c.title(chart.title, l.width)?;
            let _ = l.title_h;
            for (k, p) in panels.iter().enumerate() {
                let origin = ((k % columns) as i32 * l.panel_w, l.row_tops[k / columns]);
                draw_panel(c, chart, p, &l, k, origin)?;
            }
            for (i, f) in l.footer.iter().enumerate() {
                c.text(
                    f,
                    (PAD, l.footer_top + i as i32 * LINE),
                    TEXT,
                    (HPos::Left, VPos::Top),
                )?;
            }
            Ok(())
        }
    )
}

fn domain(p: &Panel) -> (f64, f64) {
    if let Some(d) = p.domain {
        return d;
    }
    let vals = p
        .rows
        .iter()
        .flat_map(|r| [r.value, r.low, r.high])
        .chain(p.reference)
        .filter(|v| v.is_finite() && (!p.log || *v > 0.0));
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return if p.log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if p.log {
        decades(lo, hi)
    } else {
        (0.0, if hi > 0.0 { hi * 1.05 } else { 1.0 })
    }
}

fn draw_panel<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    chart: &Chart,
    p: &Panel,
    l: &Layout,
    k: usize,
    (ox, oy): (i32, i32),
) -> Result<()> {
    let mut y = oy;
    for line in &l.titles[k] {
        c.text(
            line,
            (ox + l.panel_w / 2, y),
            PANEL_TITLE,
            (HPos::Center, VPos::Top),
        )?;
        y += PANEL_TITLE as i32 + 4;
    }
    y += 6;
    let rows_top = y;
    let rows_bottom = rows_top + p.rows.len() as i32 * ROW;
    let bar_left = ox + PAD + l.label_w + 8;
    let bar_right = ox + l.panel_w - PAD - l.value_w;
    let (lo, hi) = domain(p);
    let scale = Scale {
        lo,
        hi,
        log: p.log,
        from: bar_left,
        to: bar_right,
    };
    let ticks = scale.ticks(true)?;
    for (v, _) in &ticks {
        let x = scale.px(*v);
        c.line(
            vec![(x, rows_top), (x, rows_bottom)],
            RGBColor(0xDD, 0xDD, 0xDD).stroke_width(1),
        )?;
    }
    c.line(
        vec![(bar_left, rows_bottom), (bar_right, rows_bottom)],
        BLACK.stroke_width(1),
    )?;
    c.line(
        vec![(bar_left, rows_top), (bar_left, rows_bottom)],
        BLACK.stroke_width(1),
    )?;
    for (v, text) in &ticks {
        let x = scale.px(*v);
        c.line(
            vec![(x, rows_bottom), (x, rows_bottom + 4)],
            BLACK.stroke_width(1),
        )?;
        c.text(text, (x, rows_bottom + 6), TEXT, (HPos::Center, VPos::Top))?;
    }
    c.text(
        chart.x_label,
        ((bar_left + bar_right) / 2, rows_bottom + 6 + LINE),
        TEXT,
        (HPos::Center, VPos::Top),
    )?;
    if let Some(r) = p.reference.filter(|r| *r >= lo && *r <= hi) {
        let x = scale.px(r);
        c.dashed(
            (x, rows_top - 2),
            (x, rows_bottom),
            RGBColor(0x55, 0x55, 0x55).stroke_width(1),
        )?;
    }
    for (i, r) in p.rows.iter().enumerate() {
        let cy = rows_top + i as i32 * ROW + ROW / 2;
        c.text(
            &r.label,
            (bar_left - 8, cy),
            TEXT,
            (HPos::Right, VPos::Center),
        )?;
        let drawable = r.value.is_finite() && (!p.log || r.value > 0.0);
        let mut end = bar_left;
        if drawable {
            let x = scale.px(r.value);
            if r.hollow {
                c.circle((x, cy), 5, WHITE.filled())?;
                c.circle((x, cy), 5, BLACK.stroke_width(2))?;
                end = x + 6;
            } else {
                let x0 = scale.px(if p.log { lo } else { 0.0 });
                c.rect(
                    (x0, cy - BAR / 2),
                    (x.max(x0 + 1), cy + BAR / 2),
                    chart.palette.color(&r.series).filled(),
                )?;
                end = x;
            }
            if r.low.is_finite() && r.high.is_finite() && r.high > r.low {
                let (a, b) = (scale.px(r.low), scale.px(r.high));
                c.interval((a, cy), (b, cy), 4)?;
                end = end.max(b);
            }
        }
        c.text(&r.text, (end + 6, cy), TEXT, (HPos::Left, VPos::Center))?;
    }
    let mut ny = rows_bottom + 6 + 2 * LINE;
    for line in &l.notes[k] {
        c.text(line, (ox + PAD, ny), TEXT, (HPos::Left, VPos::Top))?;
        ny += LINE;
    }
    Ok(())
}
