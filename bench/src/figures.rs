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

/// The language of the figures' texts: English for the report, Korean for the Korean book's
/// copies of the reference run's figures (`pier bench report DIR --plots-only ko OUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (the report's).
    #[default]
    En,
    /// Korean, drawn in an installed Korean font.
    Ko,
}

impl Lang {
    /// `en` or `ko`, whichever is this language's.
    fn pick(self, en: &str, ko: &str) -> String {
        match self {
            Lang::En => en.to_string(),
            Lang::Ko => ko.to_string(),
        }
    }
}

/// Draws every figure into `dir`.
pub fn draw(dir: &Path, input: &Input) -> Result<Figures> {
    draw_in(dir, input, Lang::En)
}

/// Draws every figure into `dir` with its texts in `lang`.
pub fn draw_in(dir: &Path, input: &Input, lang: Lang) -> Result<Figures> {
    let _font = match lang {
        Lang::En => None,
        Lang::Ko => Some(plot::korean()?),
    };
    let palette = palette_of(input.summary);
    let mut f = Figures {
        lead: lead(dir, input, &palette, lang)?,
        startup: startup(dir, input, &palette, lang)?,
        others: Vec::new(),
        palette: None,
    };
    if let Some(p) = cpu(dir, input, &palette, lang)? {
        f.others.push(p);
    }
    f.others.extend(by_unit(dir, input, &palette, lang)?);
    f.others.extend(distributions(dir, input, &palette, lang)?);
    f.palette = Some(palette);
    Ok(f)
}

/// The study's environment names as a reader knows them.
fn study_name(env: &str, lang: Lang) -> String {
    match env {
        "docker" => "Docker".into(),
        "docker-nat" => "Docker NAT".into(),
        "docker-host-net" => lang.pick("Docker host net", "Docker 호스트 네트워크"),
        "kvm" => "KVM".into(),
        "kvm-tuned" => lang.pick("KVM tuned", "KVM 튜닝"),
        "kvm-untuned" => lang.pick("KVM untuned", "KVM 튜닝 없음"),
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

fn workload_panel(input: &Input, palette: &Palette, w: &Workload, lang: Lang) -> Option<Panel> {
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
            text.push(' ');
            text.push_str(&lang.pick("noise?", "잡음?"));
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
                label: format!("IBM 2015: {}", study_name(&p.environment, lang)),
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
const NET_NOTE_KO: &str = "IBM 연구의 네트워크 수치는 두 머신 사이의 10 GbE 링크를 거칩니다. \
                           여기서는 양 끝이 한 호스트에 있어 비교할 수 없으므로 그리지 않습니다.";

fn lead(dir: &Path, input: &Input, palette: &Palette, lang: Lang) -> Result<Option<Plot>> {
    let mut workloads = Vec::new();
    if let Some(m) = lead_dgemm(input.summary) {
        let (n, t) = (
            peak::dgemm_size(&m).unwrap_or(0),
            peak::dgemm_threads(&m).unwrap_or(0),
        );
        workloads.push(Workload {
            title: match lang {
                Lang::En => format!(
                    "DGEMM, N={n}, {t} thread{} (GFLOPS)",
                    if t == 1 { "" } else { "s" }
                ),
                Lang::Ko => format!("DGEMM, N={n}, 스레드 {t}개 (GFLOPS)"),
            },
            metric: m,
            dgemm: true,
            study: Some("linpack"),
            notes: vec![lang.pick(
                "The study's figure is Linpack (Intel MKL, N=45000).",
                "연구의 수치는 Linpack입니다 (Intel MKL, N=45000).",
            )],
        });
    }
    let net_note = lang.pick(NET_NOTE, NET_NOTE_KO);
    for (title, metric, study, notes) in [
        ("STREAM triad (GB/s)".to_string(), "stream_triad", Some("stream_triad"), vec![]),
        (lang.pick("Network throughput (TCP stream)", "네트워크 처리량 (TCP 스트림)"), "tcp_stream", None, vec![net_note.clone()]),
        (lang.pick("Network latency (TCP request/response)", "네트워크 지연 시간 (TCP 요청/응답)"), "tcp_rr_latency", None, vec![net_note.clone()]),
        (
            lang.pick("Start-up (launch → exit)", "시작 (실행 → 종료)"),
            "launch_to_exit",
            None,
            vec![lang.pick(
                "The IBM study has no start-up figure; published start-up times are in the report's context table.",
                "IBM 연구에는 시작 시간 수치가 없습니다. 발표된 시작 시간은 보고서의 맥락 표에 있습니다.",
            )],
        ),
    ] {
        workloads.push(Workload {
            title,
            metric: metric.into(),
            dgemm: false,
            study,
            notes,
        });
    }
    let panels: Vec<Panel> = workloads
        .iter()
        .filter_map(|w| workload_panel(input, palette, w, lang))
        .collect();
    if panels.is_empty() {
        return Ok(None);
    }
    let caption = lang.pick(
        "Performance relative to native, per workload (1 = native, higher is better): \
         median with 95% CI",
        "작업별 네이티브 대비 성능 (1 = 네이티브, 높을수록 좋음): 중앙값과 95% 신뢰 구간",
    );
    let mut footer = vec![
        lang.pick(
            "Latency and start-up are drawn as native time ÷ time, so higher is better in every panel. \
             Values below 0.1 are written 1/x (x times slower).",
            "지연 시간과 시작 시간은 네이티브 시간 ÷ 시간으로 그려, 모든 패널에서 높을수록 좋습니다. \
             0.1보다 작은 값은 1/x(x배 느림)로 적습니다.",
        ),
        lang.pick(
            "Hollow circles: Felter et al. 2015 (IBM), measured on 2 × 8-core Sandy Bridge-EP with Docker and KVM: \
             another machine, drawn for context, not compared.",
            "속이 빈 원: Felter 외 2015 (IBM), 2 × 8코어 Sandy Bridge-EP에서 Docker와 KVM으로 측정한 값입니다. \
             다른 머신이므로 맥락으로만 그리고 비교하지 않습니다.",
        ),
    ];
    if !input.flags.is_empty() {
        footer.push(lang.pick(
            "noise? = an implausible figure (faster than native, or host networking unlike native): see the report.",
            "잡음? = 믿기 어려운 수치 (네이티브보다 빠르거나, 호스트 네트워크가 네이티브와 다름): 보고서를 보십시오.",
        ));
    }
    let drawn = plot::panels(
        &Chart {
            stem: &dir.join("relative_to_native"),
            title: &caption,
            x_label: &lang.pick(
                "relative to native (higher is better)",
                "네이티브 대비 (높을수록 좋음)",
            ),
            y_label: "",
            palette,
        },
        &panels,
        2,
        &footer,
    )?;
    Ok(Some(Plot { caption, drawn }))
}

fn startup(dir: &Path, input: &Input, palette: &Palette, lang: Lang) -> Result<Option<Plot>> {
    let mut panels = Vec::new();
    for (metric, title) in [
        (
            "launch_to_entry",
            lang.pick("launch → first instruction", "실행 → 첫 명령어"),
        ),
        ("launch_to_exit", lang.pick("launch → exit", "실행 → 종료")),
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
            title: match lang {
                Lang::En => format!("{title} (ms, log scale)"),
                Lang::Ko => format!("{title} (ms, 로그 눈금)"),
            },
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
    let caption = lang.pick(
        "Start-up time: median with 95% CI, log axis",
        "시작 시간: 중앙값과 95% 신뢰 구간, 로그 축",
    );
    let drawn = plot::panels(
        &Chart {
            stem: &dir.join("startup_ms"),
            title: &caption,
            x_label: &lang.pick("milliseconds (log scale)", "밀리초 (로그 눈금)"),
            y_label: "",
            palette,
        },
        &panels,
        panels.len(),
        &[],
    )?;
    Ok(Some(Plot { caption, drawn }))
}

/// `N=1024` / `2 threads` for a DGEMM metric.
fn dgemm_label(metric: &str, lang: Lang) -> String {
    match (peak::dgemm_size(metric), peak::dgemm_threads(metric)) {
        (Some(n), Some(t)) if lang == Lang::Ko => format!("N={n}\n스레드 {t}개"),
        (Some(n), Some(t)) => format!("N={n}\n{t} thread{}", if t == 1 { "" } else { "s" }),
        _ => metric.to_string(),
    }
}

fn cpu(dir: &Path, input: &Input, palette: &Palette, lang: Lang) -> Result<Option<Plot>> {
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
                label: dgemm_label(m, lang),
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
    let caption = lang.pick(
        "DGEMM: median GFLOPS with 95% CI, OpenBLAS beside native",
        "DGEMM: GFLOPS 중앙값과 95% 신뢰 구간, 네이티브 옆에 OpenBLAS",
    );
    let peak = if input.measured.is_some() {
        lang.pick("measured peak", "측정한 최대 성능")
    } else {
        lang.pick("theoretical peak", "이론상 최대 성능")
    };
    let drawn = plot::grouped_bars(
        &Chart {
            stem: &dir.join("cpu_gflops"),
            title: &caption,
            x_label: &lang.pick("matrix size and threads", "행렬 크기와 스레드 수"),
            y_label: "GFLOPS",
            palette,
        },
        &groups,
        None,
        Some(&peak),
    )?;
    Ok(Some(Plot { caption, drawn }))
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
fn by_unit(dir: &Path, input: &Input, palette: &Palette, lang: Lang) -> Result<Vec<Plot>> {
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
        let caption = match lang {
            Lang::En => format!("{suite}: median {unit} with 95% CI"),
            Lang::Ko => format!("{suite}: {unit} 중앙값과 95% 신뢰 구간"),
        };
        let drawn = plot::grouped_bars(
            &Chart {
                stem: &dir.join(format!("{}_{}", slug(&suite), slug(&unit))),
                title: &caption,
                x_label: &lang.pick("metric", "지표"),
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
fn distributions(dir: &Path, input: &Input, palette: &Palette, lang: Lang) -> Result<Vec<Plot>> {
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
                let caption = match lang {
                    Lang::En => format!("{metric}: cumulative distribution"),
                    Lang::Ko => format!("{metric}: 누적 분포"),
                };
                let drawn = plot::cdf(
                    &Chart {
                        stem: &dir.join(format!("{}_{}_cdf", slug(suite), slug(&metric))),
                        title: &caption,
                        x_label: &match lang {
                            Lang::En => format!("{unit} (log scale)"),
                            Lang::Ko => format!("{unit} (로그 눈금)"),
                        },
                        y_label: &lang.pick("fraction of launches", "실행 비율"),
                        palette,
                    },
                    &series,
                )?;
                out.push(Plot { caption, drawn });
            } else if series.iter().any(|(_, v)| v.len() >= HISTOGRAM_MIN_SAMPLES) {
                let caption = match lang {
                    Lang::En => format!("{metric}: histogram (log scale)"),
                    Lang::Ko => format!("{metric}: 히스토그램 (로그 눈금)"),
                };
                let drawn = plot::histogram(
                    &Chart {
                        stem: &dir.join(format!("{}_{}_histogram", slug(suite), slug(&metric))),
                        title: &caption,
                        x_label: &unit,
                        y_label: &lang.pick("fraction of samples", "표본 비율"),
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
