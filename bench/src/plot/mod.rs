//! Charts for the report, each written as SVG and PNG: grouped bars, horizontal bar panels
//! (the lead figure, start-up on a log axis), cumulative distributions and histograms.
//!
//! Every text is placed by this module from its measured extent ([`canvas`]), so layouts
//! grow to fit their labels instead of overlapping them, and each drawing returns where
//! its texts went ([`Drawn::layout_problems`] checks them). Colours come from one
//! [`Palette`] per report, so an environment has the same colour in every figure.
//!
//! Text in PNGs is rendered with a bundled DejaVu Sans (`assets/`, Bitstream Vera
//! licence) through plotters' `ab_glyph` feature, so no fontconfig/freetype is needed;
//! the same font measures the texts. Korean-labelled figures use an installed Korean font
//! instead ([`font`]). SVGs name `sans-serif`, which browsers draw a little
//! narrower than DejaVu at plotters' SVG font size, so the measured boxes are conservative.

mod bars;
mod canvas;
mod cdf;
mod font;
mod frame;
mod hbars;
mod histogram;
pub mod palette;
mod scale;

pub use bars::{grouped_bars, Bar, BarGroup};
pub use cdf::cdf;
pub use font::{korean, KoreanText};
pub use hbars::{panels, Panel, Row};
pub use histogram::histogram;
pub use palette::Palette;
pub use scale::decades;

use anyhow::anyhow;
use std::path::{Path, PathBuf};

/// Labels and colours of a chart.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Output path without extension; `.svg` and `.png` are appended.
    pub stem: &'a Path,
    /// Title above the plot.
    pub title: &'a str,
    /// X axis description.
    pub x_label: &'a str,
    /// Y axis description.
    pub y_label: &'a str,
    /// The report's colours.
    pub palette: &'a Palette,
}

/// Where one text was drawn, in pixels (right and bottom exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBox {
    /// The text.
    pub text: String,
    /// Left edge.
    pub left: i32,
    /// Top edge.
    pub top: i32,
    /// Right edge.
    pub right: i32,
    /// Bottom edge.
    pub bottom: i32,
}

impl TextBox {
    /// Whether two boxes share any pixel.
    pub fn overlaps(&self, o: &TextBox) -> bool {
        self.left < o.right && o.left < self.right && self.top < o.bottom && o.top < self.bottom
    }
}

/// A drawn chart: its files, its size and where every text went.
#[derive(Debug, Clone)]
pub struct Drawn {
    /// The SVG and the PNG.
    pub files: Vec<PathBuf>,
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Every text drawn, with its measured box.
    pub texts: Vec<TextBox>,
    /// The series drawn (colour keys), in legend order.
    pub series: Vec<String>,
}

impl Drawn {
    /// The file with extension `ext`.
    pub fn file(&self, ext: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == ext))
            .map(PathBuf::as_path)
    }

    /// Texts that leave the canvas or overlap another text; empty when the layout is clean.
    pub fn layout_problems(&self) -> Vec<String> {
        let (w, h) = (self.size.0 as i32, self.size.1 as i32);
        let mut out = Vec::new();
        for (i, t) in self.texts.iter().enumerate() {
            if t.left < 0 || t.top < 0 || t.right > w || t.bottom > h {
                out.push(format!("{t:?} leaves the {w}x{h} canvas"));
            }
            for o in &self.texts[i + 1..] {
                if t.overlaps(o) {
                    out.push(format!("{t:?} overlaps {o:?}"));
                }
            }
        }
        out
    }
}

fn paths(stem: &Path) -> (PathBuf, PathBuf) {
    (stem.with_extension("svg"), stem.with_extension("png"))
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Draws with `$draw(&mut Canvas)` on an SVG and a PNG backend of `$size` and returns a
/// [`Drawn`] (texts recorded from the SVG pass; both passes place them identically).
macro_rules! both_backends {
    ($stem:expr, $size:expr, $series:expr, $draw:expr) => {{
        $crate::plot::font::ensure()?;
        let size: (u32, u32) = $size;
        let (svg, png) = $crate::plot::paths($stem);
        if let Some(dir) = svg.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating plot directory {}: {e}", dir.display()))?;
        }
        let texts = {
            let root = SVGBackend::new(&svg, size).into_drawing_area();
            let mut canvas = $crate::plot::canvas::Canvas::new(&root, size);
            canvas.fill(&WHITE)?;
            $draw(&mut canvas)?;
            let texts = std::mem::take(&mut canvas.texts);
            drop(canvas);
            root.present()
                .map_err(|e| anyhow::anyhow!("writing {}: {e:?}", svg.display()))?;
            texts
        };
        {
            let root = BitMapBackend::new(&png, size).into_drawing_area();
            let mut canvas = $crate::plot::canvas::Canvas::new(&root, size);
            canvas.fill(&WHITE)?;
            $draw(&mut canvas)?;
            drop(canvas);
            root.present()
                .map_err(|e| anyhow::anyhow!("writing {}: {e:?}", png.display()))?;
        }
        Ok($crate::plot::Drawn {
            files: vec![svg, png],
            size,
            texts,
            series: $series,
        })
    }};
}
pub(crate) use both_backends;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(d: &Drawn) {
        let svg = std::fs::read_to_string(d.file("svg").unwrap()).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let png = std::fs::read(d.file("png").unwrap()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 2000, "PNG suspiciously small: {}", png.len());
        assert!(d.layout_problems().is_empty(), "{:#?}", d.layout_problems());
        assert!(!d.texts.is_empty());
    }

    #[test]
    fn draws_every_kind_without_overlapping_text() {
        let dir = tempfile::tempdir().unwrap();
        let palette = Palette::new(["native", "pier", "qemu-kvm", "OpenBLAS (native)"]);
        let stems: Vec<PathBuf> = ["bars", "cdf", "hist", "panels"]
            .iter()
            .map(|s| dir.path().join(s))
            .collect();
        let chart = |i: usize| Chart {
            stem: &stems[i],
            title: "A title",
            x_label: "x",
            y_label: "y",
            palette: &palette,
        };
        let bar = |s: &str, v: f64| Bar {
            series: s.into(),
            value: v,
            low: v * 0.95,
            high: v * 1.05,
        };
        // Long group labels: the chart must widen instead of overlapping them.
        let groups: Vec<BarGroup> = (0..6)
            .map(|i| BarGroup {
                label: format!("openblas_dgemm_gflops_n{}_t{}", 256 << (i / 2), 1 + i % 2),
                bars: vec![
                    bar("native", 50.0),
                    bar("OpenBLAS (native)", 48.0),
                    bar("pier", 49.0),
                ],
                mark: Some(100.0),
            })
            .collect();
        let bars = grouped_bars(&chart(0), &groups, Some(1.0), Some("peak")).unwrap();
        check(&bars);
        assert!(bars.size.0 > 1000, "six long labels in {} px", bars.size.0);
        let series = vec![
            (
                "pier".to_string(),
                (1..200).map(|i| 20.0 + f64::from(i) * 0.1).collect(),
            ),
            (
                "qemu-kvm".to_string(),
                (1..200).map(|i| 300.0 + f64::from(i)).collect(),
            ),
        ];
        check(&cdf(&chart(1), &series).unwrap());
        check(&histogram(&chart(2), &series, 40).unwrap());
        let row = |s: &str, v: f64, hollow: bool| Row {
            series: s.into(),
            label: s.into(),
            value: v,
            low: v * 0.9,
            high: v * 1.1,
            text: crate::format::num(v),
            hollow,
        };
        let panel = |log: bool| Panel {
            title: "DGEMM (N=1024, 2 threads)".into(),
            rows: vec![
                row("native", 1.0, false),
                row("qemu-kvm", 0.004, false),
                row("IBM 2015: KVM", 0.98, true),
            ],
            log,
            reference: Some(1.0),
            notes: vec![
                "a note long enough to need wrapping across the width of one panel of the figure"
                    .into(),
            ],
            domain: None,
        };
        let drawn = panels(
            &chart(3),
            &[panel(false), panel(true), panel(false)],
            2,
            &["footer".into()],
        )
        .unwrap();
        check(&drawn);
        assert!(
            drawn.texts.iter().any(|t| t.text == "0.001"),
            "no log ticks"
        );
    }

    #[test]
    fn overlapping_or_escaping_text_is_reported() {
        let b = |l, t, r, bo| TextBox {
            text: "x".into(),
            left: l,
            top: t,
            right: r,
            bottom: bo,
        };
        let d = Drawn {
            files: vec![],
            size: (100, 50),
            texts: vec![b(0, 0, 20, 14), b(10, 5, 30, 19), b(90, 40, 110, 54)],
            series: vec![],
        };
        let p = d.layout_problems();
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].contains("overlaps") && p[1].contains("leaves"));
    }
}
