//! `report.md`: what was measured and how, the machine, summary tables, plots, and a
//! side-by-side with the IBM study (Felter et al. 2015) and published start-up times.
//!
//! [`generate`] writes a complete result directory from raw samples:
//! `samples.csv`, `summary.csv`, `environment.json`, `plots/*.{svg,png}` and `report.md`.

use crate::environment::EnvironmentRecord;
use crate::plot::{self, Bar, BarGroup, Chart};
use crate::record::{self, Sample, SummaryRow, NATIVE};
use crate::reference::{self, classify, felter_metric};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Suite name whose samples are start-up times (drawn as a CDF).
pub const STARTUP_SUITE: &str = "startup";
/// Suite name whose samples are jitter durations (drawn as a histogram).
pub const JITTER_SUITE: &str = "jitter";
/// A jitter metric is drawn as a histogram when a group has at least this many samples
/// (i.e. raw per-item durations rather than per-run summaries).
pub const HISTOGRAM_MIN_SAMPLES: usize = 100;

/// Everything the report is made from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Identifier of the run (shown in the title).
    pub run_id: &'a str,
    /// Raw samples of every suite and environment.
    pub samples: &'a [Sample],
    /// The machine record.
    pub environment: &'a EnvironmentRecord,
    /// Directory holding `felter2015.csv` and `startup.csv`
    /// (usually [`reference::default_dir`]).
    pub reference_dir: &'a Path,
}

/// Paths of the files [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `report.md`.
    pub report: PathBuf,
    /// `samples.csv` (raw).
    pub samples_csv: PathBuf,
    /// `summary.csv`.
    pub summary_csv: PathBuf,
    /// `environment.json`.
    pub environment_json: PathBuf,
    /// Every plot (SVG and PNG).
    pub plots: Vec<PathBuf>,
}

/// Writes the whole result directory `out_dir` (created if missing).
pub fn generate(out_dir: &Path, input: &ReportInput) -> Result<ReportFiles> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating result directory {}", out_dir.display()))?;
    let files = ReportFiles {
        report: out_dir.join("report.md"),
        samples_csv: out_dir.join("samples.csv"),
        summary_csv: out_dir.join("summary.csv"),
        environment_json: out_dir.join("environment.json"),
        plots: Vec::new(),
    };
    let summary = record::summarize(input.samples);
    record::write_samples(&files.samples_csv, input.samples)?;
    record::write_summary(&files.summary_csv, &summary)?;
    input.environment.write(&files.environment_json)?;
    let plots_dir = out_dir.join("plots");
    let plots = draw_plots(&plots_dir, input.samples, &summary)?;
    let felter = reference::load_felter(input.reference_dir)?;
    let startup = reference::load_startup(input.reference_dir)?;
    let text = render(input, &summary, &plots, &felter, &startup);
    pier_runtime::state::write_atomic(&files.report, text.as_bytes())?;
    Ok(ReportFiles {
        plots: plots.into_iter().flat_map(|p| p.files).collect(),
        ..files
    })
}

/// A plot with its caption, for linking from the report.
struct Plot {
    caption: String,
    files: Vec<PathBuf>,
}

fn label(env: &str, variant: &str) -> String {
    if variant.is_empty() {
        env.to_string()
    } else {
        format!("{env} ({variant})")
    }
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

fn draw_plots(dir: &Path, samples: &[Sample], summary: &[SummaryRow]) -> Result<Vec<Plot>> {
    let mut plots = Vec::new();
    // Summary rows come native-first, so native always gets the first colour.
    let mut palette: Vec<String> = Vec::new();
    for r in summary {
        let l = label(&r.environment, &r.variant);
        if !palette.contains(&l) {
            palette.push(l);
        }
    }
    let palette = &palette[..];
    // 1. Every metric relative to native, environments side by side.
    let mut ratio_groups: Vec<BarGroup> = Vec::new();
    // Start-up ratios (tens to hundreds) would flatten everything else: they get a CDF.
    for r in summary
        .iter()
        .filter(|r| r.environment != NATIVE && r.suite != STARTUP_SUITE)
    {
        let (Some(v), Some(lo), Some(hi)) = (r.ratio_to_native, r.ratio_ci_low, r.ratio_ci_high)
        else {
            continue;
        };
        let bar = Bar {
            series: label(&r.environment, &r.variant),
            value: v,
            low: lo,
            high: hi,
        };
        match ratio_groups.iter_mut().find(|g| g.label == r.metric) {
            Some(g) => g.bars.push(bar),
            None => ratio_groups.push(BarGroup {
                label: r.metric.clone(),
                bars: vec![bar],
            }),
        }
    }
    if !ratio_groups.is_empty() {
        let stem = dir.join("ratio_to_native");
        let caption = "Median relative to native, 95% bootstrap CI (1.0 = native)";
        let files = plot::grouped_bars(
            &Chart {
                stem: &stem,
                title: caption,
                x_label: "metric",
                y_label: "ratio to native",
                palette,
            },
            &ratio_groups,
            Some(1.0),
        )?;
        plots.push(Plot {
            caption: caption.into(),
            files,
        });
    }
    // 2. Absolute medians per (suite, unit), environments side by side.
    let mut by_unit: BTreeMap<(String, String), Vec<BarGroup>> = BTreeMap::new();
    for r in summary {
        let groups = by_unit
            .entry((r.suite.clone(), r.unit.clone()))
            .or_default();
        let bar = Bar {
            series: label(&r.environment, &r.variant),
            value: r.median,
            low: r.ci_low,
            high: r.ci_high,
        };
        match groups.iter_mut().find(|g| g.label == r.metric) {
            Some(g) => g.bars.push(bar),
            None => groups.push(BarGroup {
                label: r.metric.clone(),
                bars: vec![bar],
            }),
        }
    }
    for ((suite, unit), groups) in &by_unit {
        let stem = dir.join(format!("{}_{}", slug(suite), slug(unit)));
        let caption = format!("{suite}: median {unit} with 95% CI");
        let files = plot::grouped_bars(
            &Chart {
                stem: &stem,
                title: &caption,
                x_label: "metric",
                y_label: unit,
                palette,
            },
            groups,
            None,
        )?;
        plots.push(Plot { caption, files });
    }
    // 3. Start-up CDFs and 4. jitter histograms, one per metric.
    for (suite, kind) in [(STARTUP_SUITE, "cdf"), (JITTER_SUITE, "histogram")] {
        let mut metrics: BTreeMap<(String, String), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.suite == suite) {
            metrics
                .entry((s.metric.clone(), s.unit.clone()))
                .or_default()
                .entry(label(&s.environment, &s.variant))
                .or_default()
                .push(s.value);
        }
        for ((metric, unit), series) in metrics {
            let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
            let stem = dir.join(format!("{}_{}_{kind}", slug(suite), slug(&metric)));
            let files = if kind == "cdf" {
                let caption = format!("{metric}: cumulative distribution");
                let c = Chart {
                    stem: &stem,
                    title: &caption,
                    x_label: &unit,
                    y_label: "fraction",
                    palette,
                };
                (caption.clone(), plot::cdf(&c, &series)?)
            } else {
                if series.iter().all(|(_, v)| v.len() < HISTOGRAM_MIN_SAMPLES) {
                    continue;
                }
                let caption = format!("{metric}: histogram (log scale)");
                let c = Chart {
                    stem: &stem,
                    title: &caption,
                    x_label: &unit,
                    y_label: "fraction of samples",
                    palette,
                };
                (caption.clone(), plot::histogram(&c, &series, 60)?)
            };
            plots.push(Plot {
                caption: files.0,
                files: files.1,
            });
        }
    }
    Ok(plots)
}

/// Formats a number with about four significant digits.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "-".into()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn render(
    input: &ReportInput,
    summary: &[SummaryRow],
    plots: &[Plot],
    felter: &[reference::FelterRow],
    startup: &[reference::StartupRow],
) -> String {
    let mut md = String::new();
    let env = input.environment;
    let _ = writeln!(md, "# pier bench report: run `{}`\n", input.run_id);
    md.push_str(METHOD);
    let _ = writeln!(md, "\n## Machine\n\n| field | value |\n| --- | --- |");
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "not present".into());
    for (k, v) in [
        ("date", env.date.clone()),
        ("CPU", env.cpu_model.clone()),
        ("CPU flags", env.cpu_flags.join(" ")),
        (
            "logical CPUs (available)",
            format!("{} ({})", env.logical_cpus, env.available_cpus),
        ),
        (
            "memory",
            format!("{:.1} GiB", env.memory_bytes as f64 / (1u64 << 30) as f64),
        ),
        ("kernel", env.kernel.clone()),
        ("cgroup", env.cgroup.clone()),
        ("pier", env.pier_version.clone()),
        ("qemu", opt(&env.qemu_version)),
        ("qemu accelerator", opt(&env.qemu_accelerator)),
        ("runc", opt(&env.runc_version)),
        ("crun", opt(&env.crun_version)),
    ] {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "/"));
    }
    render_summary(&mut md, summary);
    if !plots.is_empty() {
        let _ = writeln!(md, "\n## Plots\n");
        for p in plots {
            let svg = p
                .files
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == "svg"));
            let png = p
                .files
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == "png"));
            let rel = |f: Option<&PathBuf>| {
                f.and_then(|f| f.file_name())
                    .map(|n| format!("plots/{}", n.to_string_lossy()))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                md,
                "![{}]({})\n\n({}, [PNG]({}))\n",
                p.caption,
                rel(svg),
                p.caption,
                rel(png)
            );
        }
    }
    render_felter(&mut md, summary, felter);
    render_startup(&mut md, summary, startup);
    md
}

const METHOD: &str = "\
## What was measured and how

Every environment runs the same static `pier-payload` binary (glibc, `+crt-static`):

* **cpu**: double-precision GEMM (`gemm` crate, AVX2/AVX-512 kernels), GFLOPS = 2N³/time,
  at several sizes with 1 thread and all threads: the stand-in for the study's Linpack.
* **mem**: STREAM copy/scale/add/triad, arrays over 4x the last-level cache, the best of the
  repetitions in each run (the plan line above gives their number).
* **net**: TCP bulk throughput (Gbit/s, like nuttcp) and request/response transactions
  (like netperf TCP_RR; latency = 1e6 / transactions per second, as in the study).
* **startup**: time from the harness's launch call to the payload's first instruction
  (`CLOCK_REALTIME` read at entry) and to its exit.
* **jitter**: a fixed ~10 µs work item timed many times with a monotonic clock.

Statistics: each table gives the median of the repetitions with a 95% percentile-bootstrap
confidence interval (2000 resamples, fixed seed, so the report is reproducible from
`samples.csv`). Ratios are median / native median; their interval resamples both groups.
";

fn render_summary(md: &mut String, summary: &[SummaryRow]) {
    let _ = writeln!(md, "\n## Results\n");
    let mut suite = "";
    for r in summary {
        if r.suite != suite {
            suite = &r.suite;
            let _ = writeln!(
                md,
                "\n### {suite}\n\n| metric | unit | environment | n | median | 95% CI | min | max | ratio to native (95% CI) |\n| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |"
            );
        }
        let ratio = match (r.ratio_to_native, r.ratio_ci_low, r.ratio_ci_high) {
            (Some(v), Some(lo), Some(hi)) => format!("{} ({}–{})", num(v), num(lo), num(hi)),
            (Some(v), _, _) => num(v),
            _ => "-".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {}–{} | {} | {} | {} |",
            r.metric,
            r.unit,
            label(&r.environment, &r.variant),
            r.n,
            num(r.median),
            num(r.ci_low),
            num(r.ci_high),
            num(r.min),
            num(r.max),
            ratio
        );
    }
}

/// One sentence comparing this run's ratio `ours` (with its 95% CI, `None` for a single
/// sample) with the study's ratio `theirs`; `unit` decides whether higher is better.
pub fn compare_sentence(
    env: &str,
    unit: &str,
    ours: f64,
    ci: Option<(f64, f64)>,
    study_env: &str,
    theirs: f64,
) -> String {
    let diff = (ours / theirs - 1.0) * 100.0;
    let better = record::higher_is_better(unit);
    let direction = if diff.abs() < 0.5 {
        "the same as".to_string()
    } else {
        format!(
            "{:.1}% {} than",
            diff.abs(),
            if diff > 0.0 { "higher" } else { "lower" }
        )
    };
    // Higher ratio is less overhead for throughput, more overhead for latency/time.
    let verdict = if diff.abs() < 0.5 {
        "the same overhead as the study found"
    } else if (diff > 0.0) == better {
        "less overhead than the study found"
    } else {
        "more overhead than the study found"
    };
    let inside = match ci {
        Some((lo, hi)) if lo <= theirs && theirs <= hi => {
            "; the study's ratio lies inside this run's 95% CI, so the difference is not significant here"
        }
        Some(_) => "; the study's ratio lies outside this run's 95% CI",
        None => "; a single sample gives no interval",
    };
    format!(
        "{env} at {}x native is {direction} {study_env}'s {}x: {verdict}{inside}.",
        num(ours),
        num(theirs)
    )
}

fn render_felter(md: &mut String, summary: &[SummaryRow], felter: &[reference::FelterRow]) {
    let published = reference::felter_ratios(felter);
    let mut lines = Vec::new();
    for r in summary.iter().filter(|r| r.environment != NATIVE) {
        let (Some(fm), Some(ours)) = (felter_metric(&r.metric), r.ratio_to_native) else {
            continue;
        };
        let class = classify(&r.environment);
        for p in published
            .iter()
            .filter(|p| p.metric == fm && classify(&p.environment) == class)
        {
            // A single sample has a degenerate interval: claim nothing about significance.
            let ci = r.ratio_ci_low.zip(r.ratio_ci_high).filter(|_| r.n >= 2);
            let env = label(&r.environment, &r.variant);
            lines.push(format!(
                "| {} | {} | {} | {} | {} | {} |",
                r.metric,
                env,
                ci.map_or_else(
                    || num(ours),
                    |(lo, hi)| format!("{} ({}–{})", num(ours), num(lo), num(hi))
                ),
                p.environment,
                num(p.ratio),
                compare_sentence(&env, &r.unit, ours, ci, &p.environment, p.ratio)
            ));
        }
    }
    let _ = writeln!(
        md,
        "\n## Compared with Felter et al. 2015 (IBM)\n\n\
         Ratios to native of this run beside the study's (2 x 8-core Sandy Bridge, Docker and KVM; \
         `felter2015.csv`). Containers are compared with the study's Docker rows, VMs with its KVM rows.\n"
    );
    if lines.is_empty() {
        let _ = writeln!(md, "No metric of this run has a counterpart in the study.");
        return;
    }
    let _ = writeln!(
        md,
        "| metric | environment | ratio here (95% CI) | study environment | study ratio | difference |\n| --- | --- | --- | --- | ---: | --- |"
    );
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
}

fn render_startup(md: &mut String, summary: &[SummaryRow], startup: &[reference::StartupRow]) {
    let ours: Vec<&SummaryRow> = summary
        .iter()
        .filter(|r| r.suite == STARTUP_SUITE && r.unit == "ms" && r.environment != NATIVE)
        .collect();
    let _ = writeln!(
        md,
        "\n## Start-up compared with published figures\n\n\
         Published start-up and boot times (`startup.csv`) measure different things on different \
         machines; they give the order of magnitude to expect, not a like-for-like comparison.\n"
    );
    if ours.is_empty() {
        let _ = writeln!(md, "This run has no start-up samples.");
        return;
    }
    let _ = writeln!(
        md,
        "| metric | environment | median here (ms) | published | published (ms) | source | difference |\n| --- | --- | ---: | --- | ---: | --- | --- |"
    );
    for r in ours {
        let class = classify(&r.environment);
        for p in startup.iter().filter(|p| classify(&p.environment) == class) {
            let env = label(&r.environment, &r.variant);
            let factor = r.median / p.value_ms;
            let sentence = if (0.9..=1.1).contains(&factor) {
                format!("{env} is within 10% of {} ({}).", p.environment, p.what)
            } else if factor > 1.0 {
                format!(
                    "{env} takes {:.1}x as long as {} ({}, {}).",
                    factor, p.environment, p.what, p.statistic
                )
            } else {
                format!(
                    "{env} is {:.1}x faster than {} ({}, {}).",
                    1.0 / factor,
                    p.environment,
                    p.what,
                    p.statistic
                )
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {}: {} | {} | {} | {} |",
                r.metric,
                env,
                num(r.median),
                p.environment,
                p.what,
                num(p.value_ms),
                p.source,
                sentence
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::Inputs;

    fn synthetic() -> Vec<Sample> {
        let mut out = Vec::new();
        let mut push =
            |suite: &str, metric: &str, unit: &str, env: &str, variant: &str, vals: Vec<f64>| {
                for (i, v) in vals.into_iter().enumerate() {
                    out.push(Sample {
                        run_id: "test-run".into(),
                        suite: suite.into(),
                        metric: metric.into(),
                        unit: unit.into(),
                        environment: env.into(),
                        variant: variant.into(),
                        iteration: i as u32,
                        value: v,
                        accelerator: env.starts_with("qemu").then(|| "kvm".into()),
                        timestamp: "2026-11-23T17:00:00Z".into(),
                    });
                }
            };
        let wobble = |base: f64, n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| base * (1.0 + 0.01 * ((i * 7 % 5) as f64 - 2.0)))
                .collect()
        };
        for (env, f) in [("native", 1.0), ("pier", 0.99), ("qemu-kvm", 0.93)] {
            push(
                "cpu",
                "dgemm_gflops_n1024_t2",
                "GFLOPS",
                env,
                "",
                wobble(60.0 * f, 5),
            );
            push("mem", "stream_triad", "GB/s", env, "", wobble(20.0 * f, 5));
            push(
                "net",
                "tcp_rr_latency",
                "us",
                env,
                if env == "pier" { "bridge" } else { "" },
                wobble(20.0 / f, 5),
            );
            push(
                "jitter",
                "work_item",
                "us",
                env,
                "",
                (0..500).map(|i| 10.0 + f64::from(i % 13) / f).collect(),
            );
        }
        push(
            "startup",
            "launch_to_entry",
            "ms",
            "native",
            "",
            wobble(1.0, 20),
        );
        push(
            "startup",
            "launch_to_entry",
            "ms",
            "pier",
            "",
            wobble(30.0, 20),
        );
        push(
            "startup",
            "launch_to_entry",
            "ms",
            "qemu-kvm",
            "",
            wobble(400.0, 20),
        );
        out
    }

    #[test]
    fn generates_report_with_tables_and_plots() {
        let tmp = tempfile::tempdir().unwrap();
        // PIER_BENCH_KEEP_REPORT=DIR keeps the synthetic report for eyeballing the plots.
        let dir = std::env::var_os("PIER_BENCH_KEEP_REPORT")
            .map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
        let samples = synthetic();
        let env = EnvironmentRecord::collect(&Inputs {
            pier_version: "0.1.0".into(),
            qemu_version: Some("QEMU emulator version 7.2.0".into()),
            qemu_accelerator: Some("kvm".into()),
        })
        .unwrap();
        let files = generate(
            &dir,
            &ReportInput {
                run_id: "test-run",
                samples: &samples,
                environment: &env,
                reference_dir: &reference::default_dir(),
            },
        )
        .unwrap();
        for f in [
            &files.report,
            &files.samples_csv,
            &files.summary_csv,
            &files.environment_json,
        ] {
            assert!(f.is_file(), "{} missing", f.display());
        }
        assert_eq!(record::read_samples(&files.samples_csv).unwrap(), samples);
        let md = std::fs::read_to_string(&files.report).unwrap();
        assert!(md.contains("| metric | unit | environment | n | median |"));
        assert!(md.contains("| stream_triad | GB/s | pier | 5 |"));
        assert!(md.contains("## Compared with Felter et al. 2015"));
        // The study's Docker STREAM triad ratio (45.63/45.60) appears beside ours.
        assert!(md.contains("| stream_triad | pier | 0.990"), "{md}");
        assert!(md.contains("| docker | 1.00 |"));
        assert!(md.contains("tcp_rr_latency | qemu-kvm"));
        assert!(md.contains("crun README"));
        assert!(md.contains("![Median relative to native"));
        assert!(md.contains("](plots/ratio_to_native.svg)"));
        assert!(files
            .plots
            .iter()
            .any(|p| p.ends_with("startup_launch_to_entry_cdf.png")));
        assert!(files
            .plots
            .iter()
            .any(|p| p.ends_with("jitter_work_item_histogram.svg")));
        for p in &files.plots {
            assert!(
                std::fs::metadata(p).unwrap().len() > 500,
                "{} too small",
                p.display()
            );
            let name = p.file_name().unwrap().to_string_lossy();
            assert!(
                md.contains(&format!("plots/{name}")),
                "report does not link {name}"
            );
        }
    }

    #[test]
    fn sentences_say_which_way() {
        let s = compare_sentence("pier", "GB/s", 0.95, Some((0.93, 0.97)), "docker", 1.0);
        assert!(
            s.contains("5.0% lower") && s.contains("more overhead") && s.contains("outside"),
            "{s}"
        );
        let s = compare_sentence("pier", "GFLOPS", 1.0, None, "docker", 1.0001);
        assert!(
            s.contains("the same as") && s.contains("single sample"),
            "{s}"
        );
        let s = compare_sentence("qemu-kvm", "us", 1.5, Some((1.2, 1.9)), "kvm", 1.806);
        assert!(
            s.contains("lower") && s.contains("less overhead") && s.contains("inside"),
            "{s}"
        );
    }
}
