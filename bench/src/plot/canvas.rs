//! A drawing area that places text by its measured extent and records where it went.

use super::font::family;
use super::{draw_err, TextBox};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Body text size (tick labels, row labels, legends), px.
pub const TEXT: u32 = 14;
/// Chart title size, px.
pub const TITLE: u32 = 20;
/// Outer padding, px.
pub const PAD: i32 = 12;

/// Width and height of `text` at `size` px in this thread's font.
pub fn measure(text: &str, size: u32) -> Result<(i32, i32)> {
    super::font::ensure()?;
    let font = FontDesc::new(
        FontFamily::Name(family()),
        f64::from(size),
        FontStyle::Normal,
    );
    let (w, _) = font
        .box_size(text)
        .map_err(|e| anyhow!("measuring {text:?}: {e:?}"))?;
    // The glyphs' height is the font size (ascenders to descenders).
    Ok((w as i32 + 1, size as i32))
}

/// Splits `text` into lines no wider than `width` px, at spaces.
pub fn wrap(text: &str, size: u32, width: i32) -> Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(l) if measure(&format!("{l} {word}"), size)?.0 <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    Ok(lines)
}

/// The widest of `texts` at `size`.
pub fn widest<'a>(texts: impl IntoIterator<Item = &'a str>, size: u32) -> Result<i32> {
    let mut w = 0;
    for t in texts {
        w = w.max(measure(t, size)?.0);
    }
    Ok(w)
}

/// A drawing area plus the boxes of every text drawn on it.
pub struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    /// Texts drawn so far.
    pub texts: Vec<TextBox>,
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    /// Wraps `area` of `size` pixels.
    pub fn new(area: &'a DrawingArea<DB, Shift>, _size: (u32, u32)) -> Self {
        Canvas {
            area,
            texts: Vec::new(),
        }
    }

    /// Fills the whole area.
    pub fn fill(&self, color: &RGBColor) -> Result<()> {
        self.area.fill(color).map_err(draw_err)
    }

    /// Draws `text` anchored at `at` and records its box.
    pub fn text(
        &mut self,
        text: &str,
        at: (i32, i32),
        size: u32,
        anchor: (HPos, VPos),
    ) -> Result<()> {
        let (w, h) = measure(text, size)?;
        let left = match anchor.0 {
            HPos::Left => at.0,
            HPos::Center => at.0 - w / 2,
            HPos::Right => at.0 - w,
        };
        let top = match anchor.1 {
            VPos::Top => at.1,
            VPos::Center => at.1 - h / 2,
            VPos::Bottom => at.1 - h,
        };
        let style = TextStyle::from((family(), f64::from(size)).into_font())
            .color(&BLACK)
            .pos(Pos::new(anchor.0, anchor.1));
        self.area
            .draw(&Text::new(text.to_string(), at, style))
            .map_err(draw_err)?;
        self.texts.push(TextBox {
            text: text.to_string(),
            left,
            top,
            right: left + w,
            bottom: top + h,
        });
        Ok(())
    }

    /// Draws `text` turned a quarter anticlockwise, centred on `at` (a y axis description).
    pub fn vertical_text(&mut self, text: &str, at: (i32, i32), size: u32) -> Result<()> {
        let (w, h) = measure(text, size)?;
        let style = TextStyle::from(
            (family(), f64::from(size))
                .into_font()
                .transform(FontTransform::Rotate270),
        )
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
        self.area
            .draw(&Text::new(text.to_string(), at, style))
            .map_err(draw_err)?;
        self.texts.push(TextBox {
            text: text.to_string(),
            left: at.0 - h / 2,
            top: at.1 - w / 2,
            right: at.0 - h / 2 + h,
            bottom: at.1 - w / 2 + w,
        });
        Ok(())
    }

    /// A rectangle from `a` to `b` (corners).
    pub fn rect(&self, a: (i32, i32), b: (i32, i32), style: ShapeStyle) -> Result<()> {
        self.area
            .draw(&Rectangle::new([a, b], style))
            .map_err(draw_err)
    }

    /// A polyline.
    pub fn line(&self, points: Vec<(i32, i32)>, style: ShapeStyle) -> Result<()> {
        self.area
            .draw(&PathElement::new(points, style))
            .map_err(draw_err)
    }

    /// A dashed straight line (dashes of 6 px, gaps of 4 px).
    pub fn dashed(&self, a: (i32, i32), b: (i32, i32), style: ShapeStyle) -> Result<()> {
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let len = dx.hypot(dy);
        let mut t = 0.0;
        while t < len {
            let e = (t + 6.0).min(len);
            let p = |s: f64| {
                (
                    a.0 + (dx * s / len).round() as i32,
                    a.1 + (dy * s / len).round() as i32,
                )
            };
            self.line(vec![p(t), p(e)], style)?;
            t += 10.0;
        }
        Ok(())
    }

    /// A circle.
    pub fn circle(&self, center: (i32, i32), radius: i32, style: ShapeStyle) -> Result<()> {
        self.area
            .draw(&Circle::new(center, radius, style))
            .map_err(draw_err)
    }

    /// An interval from `a` to `b` with end caps, in black (no bar colour is darker than
    /// native's grey, so it shows on every bar).
    pub fn interval(&self, a: (i32, i32), b: (i32, i32), cap: i32) -> Result<()> {
        let vertical = a.0 == b.0;
        let caps = |p: (i32, i32)| {
            if vertical {
                vec![(p.0 - cap, p.1), (p.0 + cap, p.1)]
            } else {
                vec![(p.0, p.1 - cap), (p.0, p.1 + cap)]
            }
        };
        let style = BLACK.stroke_width(1);
        self.line(vec![a, b], style)?;
        self.line(caps(a), style)?;
        self.line(caps(b), style)
    }

    /// The chart title, wrapped to `width` and centred; returns the y below it.
    pub fn title(&mut self, title: &str, width: i32) -> Result<i32> {
        let mut y = PAD;
        for line in wrap(title, TITLE, width - 2 * PAD)? {
            self.text(&line, (width / 2, y), TITLE, (HPos::Center, VPos::Top))?;
            y += TITLE as i32 + 4;
        }
        Ok(y + 4)
    }
}

/// One legend entry: a colour and how it is drawn.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    /// Text.
    pub text: String,
    /// Colour.
    pub color: RGBColor,
    /// Drawn as a line (CDF series, reference marks) instead of a filled square.
    pub line: bool,
}

const SWATCH: i32 = 14;
const ENTRY_GAP: i32 = 18;
const LEGEND_ROW: i32 = 22;

/// Rows of legend entries wrapped into `width`: each row lists (entry, x offset).
pub fn legend_rows(entries: &[LegendEntry], width: i32) -> Result<Vec<Vec<(usize, i32)>>> {
    let mut rows: Vec<Vec<(usize, i32)>> = vec![Vec::new()];
    let mut x = 0;
    for (i, e) in entries.iter().enumerate() {
        let w = SWATCH + 6 + measure(&e.text, TEXT)?.0;
        if x > 0 && x + w > width {
            rows.push(Vec::new());
            x = 0;
        }
        if let Some(r) = rows.last_mut() {
            r.push((i, x));
        }
        x += w + ENTRY_GAP;
    }
    Ok(rows)
}

/// Height of the legend of `entries` wrapped into `width`.
pub fn legend_height(entries: &[LegendEntry], width: i32) -> Result<i32> {
    if entries.is_empty() {
        return Ok(0);
    }
    Ok(legend_rows(entries, width)?.len() as i32 * LEGEND_ROW + 4)
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Draws the legend from `(x, y)` wrapped into `width`; returns the y below it.
    pub fn legend(&mut self, entries: &[LegendEntry], x: i32, y: i32, width: i32) -> Result<i32> {
        if entries.is_empty() {
            return Ok(y);
        }
        let rows = legend_rows(entries, width)?;
        for (r, row) in rows.iter().enumerate() {
            let cy = y + r as i32 * LEGEND_ROW + LEGEND_ROW / 2;
            for &(i, dx) in row {
                let e = &entries[i];
                let x0 = x + dx;
                if e.line {
                    self.line(vec![(x0, cy), (x0 + SWATCH, cy)], e.color.stroke_width(3))?;
                } else {
                    self.rect(
                        (x0, cy - SWATCH / 2),
                        (x0 + SWATCH, cy + SWATCH / 2),
                        e.color.filled(),
                    )?;
                }
                self.text(
                    &e.text,
                    (x0 + SWATCH + 6, cy),
                    TEXT,
                    (HPos::Left, VPos::Center),
                )?;
            }
        }
        Ok(y + rows.len() as i32 * LEGEND_ROW + 4)
    }
}
