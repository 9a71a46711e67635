//! Charts for the report, each written as SVG and PNG: grouped bars with error bars,
//! a cumulative distribution (start-up times) and a histogram (jitter).
//!
//! Text in PNGs is rendered with a bundled DejaVu Sans (`assets/`, Bitstream Vera
//! licence) through plotters' `ab_glyph` feature, so no fontconfig/freetype is needed.

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the bundled font once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("registering the bundled DejaVu Sans font failed"))
    }
}

fn draw_err<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {what}: {e:?}")
}

/// One bar: its series (legend entry), height and error interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Series the bar belongs to (e.g. the environment).
    pub series: String,
    /// Bar height (e.g. the median).
    pub value: f64,
    /// Bottom of the error bar.
    pub low: f64,
    /// Top of the error bar.
    pub high: f64,
}

/// Bars drawn side by side under one x-axis label (e.g. one metric).
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// Label under the group.
    pub label: String,
    /// The bars, one per series.
    pub bars: Vec<Bar>,
}

/// Labels and size of a chart.
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
    /// Series names in a fixed order shared by all charts of a report, so that an
    /// environment keeps its colour everywhere; names not listed get colours after these.
    pub palette: &'a [String],
}

impl Chart<'_> {
    /// Colour of `name` in this chart (`local` is its index among the chart's series).
    fn color_of(&self, name: &str, local: usize) -> RGBColor {
        color(
            self.palette
                .iter()
                .position(|p| p == name)
                .unwrap_or(self.palette.len() + local),
        )
    }
}

fn paths(stem: &Path) -> (PathBuf, PathBuf) {
    (stem.with_extension("svg"), stem.with_extension("png"))
}

/// Draws on an SVG and a PNG backend with the same function and returns both paths.
macro_rules! both_backends {
    ($chart:expr, $size:expr, $draw:expr) => {{
        ensure_font()?;
        let (svg, png) = paths($chart.stem);
        if let Some(dir) = svg.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating plot directory {}", dir.display()))?;
        }
        {
            let root = SVGBackend::new(&svg, $size).into_drawing_area();
            $draw(&root)?;
            root.present()
                .map_err(draw_err(&svg.display().to_string()))?;
        }
        {
            let root = BitMapBackend::new(&png, $size).into_drawing_area();
            $draw(&root)?;
            root.present()
                .map_err(draw_err(&png.display().to_string()))?;
        }
        Ok(vec![svg, png])
    }};
}

fn series_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(0x4c, 0x72, 0xb0),
        RGBColor(0xdd, 0x84, 0x52),
        RGBColor(0x55, 0xa8, 0x68),
        RGBColor(0xc4, 0x4e, 0x52),
        RGBColor(0x81, 0x72, 0xb3),
        RGBColor(0x93, 0x78, 0x60),
        RGBColor(0xda, 0x8b, 0xc3),
        RGBColor(0x8c, 0x8c, 0x8c),
    ];
    COLORS[i % COLORS.len()]
}

/// Grouped bar chart with error bars; `reference` draws a dashed-looking horizontal line
/// (e.g. 1.0 on a ratio-to-native chart). Returns the SVG and PNG paths.
pub fn grouped_bars(
    chart: &Chart,
    groups: &[BarGroup],
    reference: Option<f64>,
) -> Result<Vec<PathBuf>> {
    let width = (220 + 160 * groups.len() as u32).clamp(640, 1600);
    both_backends!(chart, (width, 480), |root| draw_bars(
        root, chart, groups, reference
    ))
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    groups: &[BarGroup],
    reference: Option<f64>,
) -> Result<()> {
    let e = draw_err::<DrawingAreaErrorKind<DB::ErrorType>>;
    root.fill(&WHITE).map_err(e(chart.title))?;
    let series = series_names(
        groups
            .iter()
            .flat_map(|g| g.bars.iter().map(|b| b.series.as_str())),
    );
    let top = groups
        .iter()
        .flat_map(|g| &g.bars)
        .map(|b| b.high.max(b.value))
        .chain(reference)
        .fold(0.0f64, f64::max);
    // Headroom above the tallest bar keeps the legend off the bars.
    let top = if top > 0.0 { top * 1.4 } else { 1.0 };
    let n = groups.len().max(1);
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top)
        .map_err(e(chart.title))?;
    // Numeric x labels would be meaningless: group names are drawn under each group below.
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style((FAMILY, 14))
        .draw()
        .map_err(e(chart.title))?;
    let slot = 0.8 / series.len().max(1) as f64;
    for (j, name) in series.iter().enumerate() {
        let c = chart.color_of(name, j);
        let bars: Vec<(f64, &Bar)> = groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let b = g.bars.iter().find(|b| &b.series == name)?;
                Some((i as f64 - 0.4 + slot * j as f64, b))
            })
            .collect();
        ctx.draw_series(bars.iter().map(|(x0, b)| {
            Rectangle::new(
                [(*x0 + slot * 0.05, 0.0), (*x0 + slot * 0.95, b.value)],
                c.filled(),
            )
        }))
        .map_err(e(chart.title))?
        .label(name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.filled()));
        ctx.draw_series(bars.iter().map(|(x0, b)| {
            ErrorBar::new_vertical(
                *x0 + slot / 2.0,
                b.low,
                b.value,
                b.high,
                BLACK.stroke_width(1),
                8,
            )
        }))
        .map_err(e(chart.title))?;
    }
    let style = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, g) in groups.iter().enumerate() {
        let (px, py) = ctx.backend_coord(&(i as f64, 0.0));
        root.draw(&Text::new(g.label.clone(), (px, py + 6), style.clone()))
            .map_err(e(chart.title))?;
    }
    if let Some(r) = reference {
        ctx.draw_series(LineSeries::new(
            [(-0.5, r), (n as f64 - 0.5, r)],
            BLACK.mix(0.5).stroke_width(1),
        ))
        .map_err(e(chart.title))?;
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e(chart.title))?;
    Ok(())
}

/// Empirical CDF of each series on a logarithmic x axis (values must be > 0, others are
/// dropped). Returns the SVG and PNG paths.
pub fn cdf(chart: &Chart, series: &[(String, Vec<f64>)]) -> Result<Vec<PathBuf>> {
    both_backends!(chart, (800, 480), |root| draw_cdf(root, chart, series))
}

fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    let e = draw_err::<DrawingAreaErrorKind<DB::ErrorType>>;
    root.fill(&WHITE).map_err(e(chart.title))?;
    let all = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| *v > 0.0);
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.3, hi * 1.3)
    } else {
        (0.1, 10.0)
    };
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)
        .map_err(e(chart.title))?;
    // Few labels: a log axis otherwise labels every minor tick and they overlap.
    ctx.configure_mesh()
        .x_labels(10)
        .x_label_formatter(&|x| {
            format!("{x:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style((FAMILY, 14))
        .draw()
        .map_err(e(chart.title))?;
    for (j, (name, values)) in series.iter().enumerate() {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| *x > 0.0).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        // Step function: each sample raises the CDF by 1/n.
        let pts = v
            .iter()
            .enumerate()
            .flat_map(|(i, x)| [(*x, i as f64 / n), (*x, (i + 1) as f64 / n)]);
        let c = chart.color_of(name, j);
        ctx.draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(e(chart.title))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2)));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(e(chart.title))?;
    Ok(())
}

/// Overlaid histograms (fraction of samples per bin, log y) of each series over a common
/// range from the minimum to the 99.5th percentile; samples above it are counted in the
/// last bin so the tail stays visible. Returns the SVG and PNG paths.
pub fn histogram(
    chart: &Chart,
    series: &[(String, Vec<f64>)],
    bins: usize,
) -> Result<Vec<PathBuf>> {
    both_backends!(chart, (800, 480), |root| draw_histogram(
        root, chart, series, bins
    ))
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[(String, Vec<f64>)],
    bins: usize,
) -> Result<()> {
    let e = draw_err::<DrawingAreaErrorKind<DB::ErrorType>>;
    root.fill(&WHITE).map_err(e(chart.title))?;
    let all: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let lo = crate::stats::min(&all).unwrap_or(0.0);
    let hi = crate::stats::percentile(&all, 99.5)
        .unwrap_or(1.0)
        .max(lo + 1e-9);
    let bins = bins.max(1);
    let width = (hi - lo) / bins as f64;
    let floor = 1e-5;
    let mut ctx = ChartBuilder::on(root)
        .caption(chart.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi + width, (floor..1.0).log_scale())
        .map_err(e(chart.title))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .label_style((FAMILY, 14))
        .draw()
        .map_err(e(chart.title))?;
    for (j, (name, values)) in series.iter().enumerate() {
        let mut counts = vec![0usize; bins + 1];
        for v in values {
            let b = (((v - lo) / width).floor().max(0.0) as usize).min(bins);
            counts[b] += 1;
        }
        let n = values.len().max(1) as f64;
        let c = chart.color_of(name, j);
        ctx.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, k)| **k > 0)
                .map(|(b, k)| {
                    let x0 = lo + b as f64 * width;
                    Rectangle::new(
                        [(x0, floor), (x0 + width, *k as f64 / n)],
                        c.mix(0.45).filled(),
                    )
                }),
        )
        .map_err(e(chart.title))?
        .label(name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.mix(0.45).filled()));
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e(chart.title))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_files(files: &[PathBuf]) {
        assert_eq!(files.len(), 2);
        let svg = std::fs::read_to_string(&files[0]).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let png = std::fs::read(&files[1]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 2000, "PNG suspiciously small: {}", png.len());
    }

    #[test]
    fn draws_bars_cdf_and_histogram() {
        let dir = tempfile::tempdir().unwrap();
        let bar = |s: &str, v: f64| Bar {
            series: s.into(),
            value: v,
            low: v * 0.95,
            high: v * 1.05,
        };
        let groups = vec![
            BarGroup {
                label: "stream_triad".into(),
                bars: vec![bar("native", 1.0), bar("pier", 0.98)],
            },
            BarGroup {
                label: "dgemm".into(),
                bars: vec![bar("native", 1.0), bar("qemu-kvm", 0.9)],
            },
        ];
        let stem = dir.path().join("ratios");
        let files = grouped_bars(
            &Chart {
                stem: &stem,
                title: "Ratio to native",
                x_label: "metric",
                y_label: "ratio",
                palette: &[],
            },
            &groups,
            Some(1.0),
        )
        .unwrap();
        check_files(&files);

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
        let stem = dir.path().join("startup_cdf");
        check_files(
            &cdf(
                &Chart {
                    stem: &stem,
                    title: "Start-up",
                    x_label: "ms",
                    y_label: "fraction",
                    palette: &[],
                },
                &series,
            )
            .unwrap(),
        );
        let stem = dir.path().join("jitter");
        check_files(
            &histogram(
                &Chart {
                    stem: &stem,
                    title: "Jitter",
                    x_label: "us",
                    y_label: "fraction",
                    palette: &[],
                },
                &series,
                40,
            )
            .unwrap(),
        );
    }
}
