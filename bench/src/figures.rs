//! The report's figures, chosen from a run's summary:
//!
//! * the lead figure, the IBM study's in spirit: per workload (DGEMM, STREAM, network
//!   throughput, network latency, start-up), each environment's performance relative to
//!   native with its interval, the study's own ratios beside as hollow circles;
//! * start-up times on a log axis, horizontal bars with the values printed;
//! * absolute medians per suite (DGEMM with OpenBLAS beside native and the theoretical
//!   peak marked), start-up CDFs, jitter histograms.

use crate::format::{fraction, num};
use crate::peak::{self, Measured, Peak};
use crate::plausibility::{is_flagged, Flag};
use crate::plot::{self, palette::display_name, Bar, BarGroup, Chart, Drawn, Palette, Panel, Row};
use crate::record::{higher_is_better, Sample, SummaryRow, NATIVE};
use crate::reference::PublishedRatio;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Suite name whose samples are start-up times.
pub const STARTUP_SUITE: &str = "startup";
/// Suite name whose samples are jitter durations.
pub const JITTER_SUITE: &str = "jitter";
/// A jitter metric is drawn as a histogram when a group has at least this many samples
/// (raw per-item durations rather than per-run summaries).
pub const HISTOGRAM_MIN_SAMPLES: usize = 100;
/// The series name of the OpenBLAS reference bars.
pub const OPENBLAS: &str = "OpenBLAS (native)";

/// A drawn figure and its caption.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Caption (also the image's alt text).
    pub caption: String,
    /// Files and layout.
    pub drawn: Drawn,
}

/// Every figure of a report.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Performance relative to native, per workload.
    pub lead: Option<Plot>,
    /// Start-up times, log axis.
    pub startup: Option<Plot>,
    /// The rest.
    pub others: Vec<Plot>,
    /// The colours used.
    pub palette: Option<Palette>,
}

impl Figures {
    /// Every plot, lead first.
    pub fn all(&self) -> impl Iterator<Item = &Plot> {
        self.lead.iter().chain(&self.startup).chain(&self.others)
    }
}

/// What the figures are drawn from.
pub struct Input<'a> {
    /// Raw samples (CDFs, histograms).
    pub samples: &'a [Sample],
    /// The summary.
    pub summary: &'a [SummaryRow],
    /// The IBM study's ratios.
    pub published: &'a [PublishedRatio],
    /// Implausible figures.
    pub flags: &'a [Flag],
    /// The theoretical peak, when known.
    pub peak: Option<&'a Peak>,
    /// The measured peak, when the run has one (marked instead of the theoretical one).
    pub measured: Option<&'a Measured>,
}

/// The palette of a summary: every environment label, plus the OpenBLAS series.
pub fn palette_of(summary: &[SummaryRow]) -> Palette {
    let labels: Vec<String> = summary.iter().map(SummaryRow::label).collect();
    Palette::new(labels.iter().map(String::as_str).chain([OPENBLAS]))
}

/// Draws every figure into `dir`.
pub fn draw(dir: &Path, input: &Input) -> Result<Figures> {
    let palette = palette_of(input.summary);
    let mut f = Figures {
        lead: lead(dir, input, &palette)?,
        startup: startup(dir, input, &palette)?,
        others: Vec::new(),
        palette: None,
    };
    if let Some(p) = cpu(dir, input, &palette)? {
        f.others.push(p);
    }
    f.others.extend(by_unit(dir, input, &palette)?);
    f.others.extend(distributions(dir, input, &palette)?);
    f.palette = Some(palette);
    Ok(f)
}

/// The study's environment names as a reader knows them.
fn study_name(env: &str) -> String {
    match env {
        "docker" => "Docker".into(),
        "docker-nat" => "Docker NAT".into(),
        "docker-host-net" => "Docker host net".into(),
        "kvm" => "KVM".into(),
        "kvm-tuned" => "KVM tuned".into(),
        "kvm-untuned" => "KVM untuned".into(),
        e => e.into(),
    }
}

/// The DGEMM metric the lead figure shows: the most threads, then the largest size.
pub fn lead_dgemm(summary: &[SummaryRow]) -> Option<String> {
    summary
        .iter()
        .filter(|r| r.environment == NATIVE && r.metric.starts_with("dgemm_gflops"))
        .max_by_key(|r| (peak::dgemm_threads(&r.metric), peak::dgemm_size(&r.metric)))
        .map(|r| r.metric.clone())
}

/// Our DGEMM metrics (not OpenBLAS's), by thread count, then size.
pub fn dgemm_metrics(summary: &[SummaryRow]) -> Vec<&str> {
    let mut metrics: Vec<&str> = Vec::new();
    for r in summary
        .iter()
        .filter(|r| r.metric.starts_with("dgemm_gflops"))
    {
        if !metrics.contains(&r.metric.as_str()) {
            metrics.push(&r.metric);
        }
    }
    metrics.sort_by_key(|m| (peak::dgemm_threads(m), peak::dgemm_size(m)));
    metrics
}

/// Performance relative to native (higher is better) and its interval.
fn performance(r: &SummaryRow) -> Option<(f64, f64, f64)> {
    let (v, ci) = (r.ratio_to_native?, r.ratio_ci()?);
    Some(if higher_is_better(&r.unit) {
        (v, ci.low, ci.high)
    } else {
        (1.0 / v, 1.0 / ci.high, 1.0 / ci.low)
    })
}

/// One workload of the lead figure.
struct Workload<'a> {
    title: String,
    /// The metric, and whether an environment without it may show its nearest DGEMM size.
    metric: String,
    dgemm: bool,
    study: Option<&'a str>,
    notes: Vec<String>,
}

/// The row of `env` for a workload: the metric itself, or (DGEMM) the same thread count's
/// largest size the environment ran (the emulated VM runs small sizes only).
fn row_for<'a>(
    summary: &'a [SummaryRow],
    w: &Workload,
    env: (&str, &str),
) -> Option<&'a SummaryRow> {
    if w.dgemm {
        return dgemm_row(summary, &w.metric, env.0, env.1);
    }
    summary
        .iter()
        .find(|r| r.environment == env.0 && r.variant == env.1 && r.metric == w.metric)
}

/// The DGEMM row of an environment that stands for `lead` ([`lead_dgemm`]): that metric,
/// else the same thread count's largest size the environment ran.
pub fn dgemm_row<'a>(
    summary: &'a [SummaryRow],
    lead: &str,
    env: &str,
    variant: &str,
) -> Option<&'a SummaryRow> {
    let same = |r: &&SummaryRow| r.environment == env && r.variant == variant;
    if let Some(r) = summary.iter().filter(same).find(|r| r.metric == lead) {
        return Some(r);
    }
    let t = peak::dgemm_threads(lead);
    summary
        .iter()
        .filter(same)
        .filter(|r| r.metric.starts_with("dgemm_gflops") && peak::dgemm_threads(&r.metric) == t)
        .max_by_key(|r| peak::dgemm_size(&r.metric))
}

fn workload_panel(input: &Input, palette: &Palette, w: &Workload) -> Option<Panel> {
    let mut envs: Vec<(String, String)> = Vec::new();
    for r in input.summary.iter().filter(|r| r.suite != JITTER_SUITE) {
        let e = (r.environment.clone(), r.variant.clone());
        if !envs.contains(&e) {
            envs.push(e);
        }
    }
    envs.sort_by_key(|(e, v)| {
        (
            e != NATIVE,
            palette.order(&crate::record::label(e, v)),
            crate::record::label(e, v),
        )
    });
    let mut rows = Vec::new();
    for (e, v) in &envs {
        let Some(r) = row_for(input.summary, w, (e, v)) else {
            continue;
        };
        let Some((perf, lo, hi)) = performance(r) else {
            continue;
        };
        let mut label = display_name(&r.label());
        if r.metric != w.metric {
            if let Some(n) = peak::dgemm_size(&r.metric) {
                label.push_str(&format!(", N={n}"));
            }
        }
        let mut text = fraction(perf);
        if is_flagged(input.flags, r) {
            text.push_str(" noise?");
        }
        rows.push(Row {
            series: r.label(),
            label,
            value: perf,
            low: lo,
            high: hi,
            text,
            hollow: false,
        });
    }
    if rows.len() < 2 {
        return None;
    }
    if let Some(m) = w.study {
        let better = input
            .summary
            .iter()
            .find(|r| r.metric == w.metric)
            .is_none_or(|r| higher_is_better(&r.unit));
        for p in input.published.iter().filter(|p| p.metric == m) {
            let perf = if better { p.ratio } else { 1.0 / p.ratio };
            rows.push(Row {
                series: p.environment.clone(),
                label: format!("IBM 2015: {}", study_name(&p.environment)),
                value: perf,
                low: perf,
                high: perf,
                text: num(perf),
                hollow: true,
            });
        }
    }
    // A log axis only when most environments would otherwise be invisible slivers (start-up:
    // 20 to 2000 times native); elsewhere a linear axis shows the few percent that matter,
    // and the printed value tells a sliver's size.
    let ours: Vec<&Row> = rows.iter().filter(|r| !r.hollow).collect();
    let tiny = ours.iter().filter(|r| r.value < 0.1).count();
    Some(Panel {
        title: w.title.clone(),
        log: tiny * 2 > ours.len(),
        rows,
        reference: Some(1.0),
        notes: w.notes.clone(),
        domain: None,
    })
}

const NET_NOTE: &str = "The IBM study's network figures cross a 10 GbE link between two machines; \
                        here both ends are on one host, so they are not drawn: not comparable.";

fn lead(dir: &Path, input: &Input, palette: &Palette) -> Result<Option<Plot>> {
    let mut workloads = Vec::new();
    if let Some(m) = lead_dgemm(input.summary) {
        let (n, t) = (
            peak::dgemm_size(&m).unwrap_or(0),
            peak::dgemm_threads(&m).unwrap_or(0),
        );
        workloads.push(Workload {
            title: format!(
                "DGEMM, N={n}, {t} thread{} (GFLOPS)",
                if t == 1 { "" } else { "s" }
            ),
            metric: m,
            dgemm: true,
            study: Some("linpack"),
            notes: vec!["The study's figure is Linpack (Intel MKL, N=45000).".into()],
        });
    }
    for (title, metric, study, notes) in [
        ("STREAM triad (GB/s)", "stream_triad", Some("stream_triad"), vec![]),
        ("Network throughput (TCP stream)", "tcp_stream", None, vec![NET_NOTE.to_string()]),
        ("Network latency (TCP request/response)", "tcp_rr_latency", None, vec![NET_NOTE.to_string()]),
        (
            "Start-up (launch → exit)",
            "launch_to_exit",
            None,
            vec!["The IBM study has no start-up figure; published start-up times are in the report's context table.".to_string()],
        ),
    ] {
        workloads.push(Workload {
            title: title.into(),
            metric: metric.into(),
            dgemm: false,
            study,
            notes,
        });
    }
    let panels: Vec<Panel> = workloads
        .iter()
        .filter_map(|w| workload_panel(input, palette, w))
        .collect();
    if panels.is_empty() {
        return Ok(None);
    }
    let caption = "Performance relative to native, per workload (1 = native, higher is better): \
                   median with 95% CI";
    let mut footer = vec![
        "Latency and start-up are drawn as native time ÷ time, so higher is better in every panel. \
         Values below 0.1 are written 1/x (x times slower)."
            .to_string(),
        "Hollow circles: Felter et al. 2015 (IBM), measured on 2 × 8-core Sandy Bridge-EP with Docker and KVM: \
         another machine, drawn for context, not compared."
            .to_string(),
    ];
    if !input.flags.is_empty() {
        footer.push("noise? = an implausible figure (faster than native, or host networking unlike native): see the report.".into());
    }
    let drawn = plot::panels(
        &Chart {
            stem: &dir.join("relative_to_native"),
            title: caption,
            x_label: "relative to native (higher is better)",
            y_label: "",
            palette,
        },
        &panels,
        2,
        &footer,
    )?;
    Ok(Some(Plot {
        caption: caption.into(),
        drawn,
    }))
}

fn startup(dir: &Path, input: &Input, palette: &Palette) -> Result<Option<Plot>> {
    let mut panels = Vec::new();
    for (metric, title) in [
        ("launch_to_entry", "launch → first instruction"),
        ("launch_to_exit", "launch → exit"),
    ] {
        let mut rows: Vec<&SummaryRow> = input
            .summary
            .iter()
            .filter(|r| r.suite == STARTUP_SUITE && r.metric == metric)
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by_key(|r| {
            (
                r.environment != NATIVE,
                palette.order(&r.label()),
                r.label(),
            )
        });
        panels.push(Panel {
            title: format!("{title} (ms, log scale)"),
            rows: rows
                .iter()
                .map(|r| Row {
                    series: r.label(),
                    label: display_name(&r.label()),
                    value: r.median,
                    low: r.ci_low,
                    high: r.ci_high,
                    text: format!("{} ms", num(r.median)),
                    hollow: false,
                })
                .collect(),
            log: true,
            reference: None,
            notes: Vec::new(),
            domain: None,
        });
    }
    if panels.is_empty() {
        return Ok(None);
    }
    // One axis for both panels, so that the eye compares bars across them.
    let all: Vec<f64> = panels
        .iter()
        .flat_map(|p| p.rows.iter().flat_map(|r| [r.low, r.value, r.high]))
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if let (Some(lo), Some(hi)) = (crate::stats::min(&all), crate::stats::max(&all)) {
        let d = plot::decades(lo, hi);
        for p in &mut panels {
            p.domain = Some(d);
        }
    }
    let caption = "Start-up time: median with 95% CI, log axis";
    let drawn = plot::panels(
        &Chart {
            stem: &dir.join("startup_ms"),
            title: caption,
            x_label: "milliseconds (log scale)",
            y_label: "",
            palette,
        },
        &panels,
        panels.len(),
        &[],
    )?;
    Ok(Some(Plot {
        caption: caption.into(),
        drawn,
    }))
}

/// `N=1024` / `2 threads` for a DGEMM metric.
fn dgemm_label(metric: &str) -> String {
    match (peak::dgemm_size(metric), peak::dgemm_threads(metric)) {
        (Some(n), Some(t)) => format!("N={n}\n{t} thread{}", if t == 1 { "" } else { "s" }),
        _ => metric.to_string(),
    }
}

fn cpu(dir: &Path, input: &Input, palette: &Palette) -> Result<Option<Plot>> {
    let metrics = dgemm_metrics(input.summary);
    let bar = |series: String, r: &SummaryRow| Bar {
        series,
        value: r.median,
        low: r.ci_low,
        high: r.ci_high,
    };
    let groups: Vec<BarGroup> = metrics
        .iter()
        .map(|m| {
            let mut bars = Vec::new();
            for r in input.summary.iter().filter(|r| r.metric == *m) {
                bars.push(bar(r.label(), r));
                if r.environment == NATIVE {
                    let ob = format!("openblas_{m}");
                    if let Some(o) = input
                        .summary
                        .iter()
                        .find(|o| o.metric == ob && o.environment == NATIVE)
                    {
                        bars.push(bar(OPENBLAS.into(), o));
                    }
                }
            }
            BarGroup {
                label: dgemm_label(m),
                bars,
                mark: peak::dgemm_threads(m).and_then(|t| match (input.measured, input.peak) {
                    (Some(measured), _) => Some(measured.gflops(t)),
                    (None, p) => p.map(|p| p.gflops(t)),
                }),
            }
        })
        .collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let caption = "DGEMM: median GFLOPS with 95% CI, OpenBLAS beside native";
    let drawn = plot::grouped_bars(
        &Chart {
            stem: &dir.join("cpu_gflops"),
            title: caption,
            x_label: "matrix size and threads",
            y_label: "GFLOPS",
            palette,
        },
        &groups,
        None,
        Some(if input.measured.is_some() {
            "measured peak"
        } else {
            "theoretical peak"
        }),
    )?;
    Ok(Some(Plot {
        caption: caption.into(),
        drawn,
    }))
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Absolute medians per (suite, unit), except DGEMM and start-up (drawn above).
fn by_unit(dir: &Path, input: &Input, palette: &Palette) -> Result<Vec<Plot>> {
    let mut by: BTreeMap<(String, String), Vec<BarGroup>> = BTreeMap::new();
    for r in input.summary.iter().filter(|r| {
        r.suite != STARTUP_SUITE
            && !r.metric.contains("dgemm_gflops")
            && !r.metric.ends_with("_iperf3")
    }) {
        let groups = by.entry((r.suite.clone(), r.unit.clone())).or_default();
        let b = Bar {
            series: r.label(),
            value: r.median,
            low: r.ci_low,
            high: r.ci_high,
        };
        match groups.iter_mut().find(|g| g.label == r.metric) {
            Some(g) => g.bars.push(b),
            None => groups.push(BarGroup {
                label: r.metric.clone(),
                bars: vec![b],
                mark: None,
            }),
        }
    }
    let mut out = Vec::new();
    for ((suite, unit), groups) in by {
        let caption = format!("{suite}: median {unit} with 95% CI");
        let drawn = plot::grouped_bars(
            &Chart {
                stem: &dir.join(format!("{}_{}", slug(&suite), slug(&unit))),
                title: &caption,
                x_label: "metric",
                y_label: &unit,
                palette,
            },
            &groups,
            None,
            None,
        )?;
        out.push(Plot { caption, drawn });
    }
    Ok(out)
}

/// Start-up CDFs and jitter histograms, one per metric.
fn distributions(dir: &Path, input: &Input, palette: &Palette) -> Result<Vec<Plot>> {
    let mut out = Vec::new();
    for suite in [STARTUP_SUITE, JITTER_SUITE] {
        let mut metrics: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        for s in input.samples.iter().filter(|s| s.suite == suite) {
            metrics
                .entry((s.metric.clone(), s.unit.clone()))
                .or_default()
                .entry(crate::record::label(&s.environment, &s.variant))
                .or_default()
                .push(s.value);
        }
        for ((metric, unit), series) in metrics {
            let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
            if suite == STARTUP_SUITE {
                let caption = format!("{metric}: cumulative distribution");
                let drawn = plot::cdf(
                    &Chart {
                        stem: &dir.join(format!("{}_{}_cdf", slug(suite), slug(&metric))),
                        title: &caption,
                        x_label: &format!("{unit} (log scale)"),
                        y_label: "fraction of launches",
                        palette,
                    },
                    &series,
                )?;
                out.push(Plot { caption, drawn });
            } else if series.iter().any(|(_, v)| v.len() >= HISTOGRAM_MIN_SAMPLES) {
                let caption = format!("{metric}: histogram (log scale)");
                let drawn = plot::histogram(
                    &Chart {
                        stem: &dir.join(format!("{}_{}_histogram", slug(suite), slug(&metric))),
                        title: &caption,
                        x_label: &unit,
                        y_label: "fraction of samples",
                        palette,
                    },
                    &series,
                    60,
                )?;
                out.push(Plot { caption, drawn });
            }
        }
    }
    Ok(out)
}
