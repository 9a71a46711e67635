//! The report of a run: `report.md` and `report.html` (the same text, figures embedded),
//! the plots, and `summary.csv`, all made from the raw files of a result directory
//! (`samples.csv`, `environment.json`, `notes.json`), so that [`rerender`] (`pier bench
//! report DIR`) gives the same report again after the report code changes.
//!
//! Order: the lead figures, figures flagged as noise, the headline verdicts, figures from
//! other machines (context), method, machine, every result, more plots.

use crate::environment::EnvironmentRecord;
use crate::figures::{self, Figures, Lang, Plot};
use crate::format::{num, ratio};
use crate::notes::Notes;
use crate::peak::{Measured, Peak};
use crate::plausibility::{self, is_flagged, Flag};
use crate::record::{self, Sample, SummaryRow};
use crate::{headlines, html, published, reference};
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the report is made from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Identifier of the run (shown in the title).
    pub run_id: &'a str,
    /// Raw samples of every suite and environment.
    pub samples: &'a [Sample],
    /// The machine record.
    pub environment: &'a EnvironmentRecord,
    /// What the run found out besides samples.
    pub notes: &'a Notes,
    /// Directory holding `felter2015.csv` and `startup.csv`
    /// (usually [`reference::default_dir`]).
    pub reference_dir: &'a Path,
}

/// Paths of the files written, and the figures.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `report.md`.
    pub report: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `samples.csv` (raw).
    pub samples_csv: PathBuf,
    /// `summary.csv`.
    pub summary_csv: PathBuf,
    /// `environment.json`.
    pub environment_json: PathBuf,
    /// The figures (files and layouts).
    pub figures: Figures,
    /// Figures flagged as implausible.
    pub flags: Vec<Flag>,
}

impl ReportFiles {
    /// Every plot file (SVG and PNG).
    pub fn plots(&self) -> Vec<PathBuf> {
        self.figures
            .all()
            .flat_map(|p| p.drawn.files.clone())
            .collect()
    }
}

/// Writes the whole result directory `out_dir` (created if missing): the raw files, then
/// the report made from them.
pub fn generate(out_dir: &Path, input: &ReportInput) -> Result<ReportFiles> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating result directory {}", out_dir.display()))?;
    record::write_samples(&out_dir.join("samples.csv"), input.samples)?;
    pier_oci::persist::write_json_atomic(&out_dir.join("environment.json"), input.environment)?;
    input.notes.write(out_dir)?;
    render_dir(out_dir, input)
}

/// Re-renders the report of the result directory `dir` from its raw files: `report.md`,
/// `report.html`, `summary.csv` and the plots. Runs that predate `notes.json` render
/// without the environment notes.
pub fn rerender(dir: &Path, reference_dir: &Path) -> Result<ReportFiles> {
    let (samples, environment, notes) = read_run(dir)?;
    let run_id = samples[0].run_id.clone();
    // The plots are all redrawn: old ones of figures no longer made would mislead.
    remove_plots(&dir.join("plots"))?;
    render_dir(
        dir,
        &ReportInput {
            run_id: &run_id,
            samples: &samples,
            environment: &environment,
            notes: &notes,
            reference_dir,
        },
    )
}

/// The samples, machine record and notes of the result directory `dir`.
fn read_run(dir: &Path) -> Result<(Vec<Sample>, EnvironmentRecord, Notes)> {
    let samples_csv = dir.join("samples.csv");
    if !samples_csv.is_file() {
        bail!(
            "{} is not a pier bench result directory: it has no samples.csv",
            dir.display()
        );
    }
    let samples = record::read_samples(&samples_csv)?;
    if samples.is_empty() {
        bail!("{} holds no samples", samples_csv.display());
    }
    let environment = EnvironmentRecord::read(&dir.join("environment.json"))
        .with_context(|| format!("reading the machine record of {}", dir.display()))?;
    let notes = Notes::read(dir)?.unwrap_or_default();
    Ok((samples, environment, notes))
}

/// A run's summary, its machine's peak and the figures flagged as implausible.
fn analyse(
    samples: &[Sample],
    environment: &EnvironmentRecord,
    notes: &Notes,
) -> (Vec<SummaryRow>, Result<Peak, String>, Vec<Flag>) {
    let summary = record::summarize(samples);
    let peak = Peak::of(environment);
    let flags = plausibility::check(
        &summary,
        plausibility::Bounds {
            computed: peak.as_ref().ok(),
            measured: notes.measured_peak.as_ref(),
        },
    );
    (summary, peak, flags)
}

/// Draws the figures of the result directory `dir` into `out` with their texts in `lang`,
/// leaving the report as it is (`pier bench report DIR --lang ko --plots-to OUT`: the Korean
/// book's copies of the reference run's figures). Old SVGs and PNGs in `out` are removed.
pub fn draw_plots(dir: &Path, reference_dir: &Path, out: &Path, lang: Lang) -> Result<Figures> {
    if out.is_symlink() {
        bail!(
            "{} is a symbolic link: drawing there would replace the figures it points to",
            out.display()
        );
    }
    let (samples, environment, notes) = read_run(dir)?;
    let (summary, peak, flags) = analyse(&samples, &environment, &notes);
    let felter = reference::load_felter(reference_dir)?;
    remove_plots(out)?;
    figures::draw_in(
        out,
        &figures::Input {
            samples: &samples,
            summary: &summary,
            published: &reference::felter_ratios(&felter),
            flags: &flags,
            peak: peak.as_ref().ok(),
            measured: notes.measured_peak.as_ref(),
        },
        lang,
    )
}

fn render_dir(dir: &Path, input: &ReportInput) -> Result<ReportFiles> {
    let (summary, peak, flags) = analyse(input.samples, input.environment, input.notes);
    let summary_csv = dir.join("summary.csv");
    record::write_summary(&summary_csv, &summary)?;
    let measured = input.notes.measured_peak.as_ref();
    let felter = reference::load_felter(input.reference_dir)?;
    let source = reference::felter_source(input.reference_dir)?;
    let startup = reference::load_startup(input.reference_dir)?;
    let published_ratios = reference::felter_ratios(&felter);
    let figures = figures::draw(
        &dir.join("plots"),
        &figures::Input {
            samples: input.samples,
            summary: &summary,
            published: &published_ratios,
            flags: &flags,
            peak: peak.as_ref().ok(),
            measured,
        },
    )?;
    let mut md = String::new();
    let _ = writeln!(md, "# pier bench report: run `{}`\n", input.run_id);
    let _ = writeln!(
        md,
        "Every environment ran the same static payload on this machine. Read the first figure, then the \
         headline verdicts; figures from other machines come after them, as context. `report.html` is this \
         report with its figures embedded; `pier bench report DIR` renders both again from the run's CSV files."
    );
    render_glance(&mut md, &figures);
    render_flags(&mut md, &flags);
    md.push('\n');
    md.push_str(&headlines::render(&headlines::Input {
        samples: input.samples,
        summary: &summary,
        notes: input.notes,
        flags: &flags,
        peak: &peak,
    }));
    published::render(&mut md, &summary, &felter, &source, &startup, &flags);
    crate::scale_report::render(&mut md, input.samples);
    crate::pods_report::render(&mut md, input.samples);
    md.push('\n');
    md.push_str(METHOD);
    render_machine(&mut md, input.environment, &peak, measured);
    render_summary(&mut md, &summary, &flags);
    if !figures.others.is_empty() {
        let _ = writeln!(md, "\n## More plots\n");
        for p in &figures.others {
            image(&mut md, p);
        }
    }
    let report = dir.join("report.md");
    pier_oci::persist::write_atomic(&report, md.as_bytes())?;
    let html = html::write(
        dir,
        &md,
        &format!("pier bench report: run {}", input.run_id),
    )?;
    Ok(ReportFiles {
        report,
        html,
        samples_csv: dir.join("samples.csv"),
        summary_csv,
        environment_json: dir.join("environment.json"),
        figures,
        flags,
    })
}

/// Removes the SVGs and PNGs of `plots`, if it exists.
fn remove_plots(plots: &Path) -> Result<()> {
    if !plots.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(plots).with_context(|| format!("listing {}", plots.display()))? {
        let p = e
            .with_context(|| format!("listing {}", plots.display()))?
            .path();
        if p.extension().is_some_and(|x| x == "svg" || x == "png") {
            std::fs::remove_file(&p)
                .with_context(|| format!("removing old plot {}", p.display()))?;
        }
    }
    Ok(())
}

/// `![caption](plots/x.svg)` with a link to the PNG.
fn image(md: &mut String, p: &Plot) {
    let rel = |ext: &str| {
        p.drawn
            .file(ext)
            .and_then(Path::file_name)
            .map(|n| format!("plots/{}", n.to_string_lossy()))
            .unwrap_or_default()
    };
    let _ = writeln!(
        md,
        "![{}]({})\n\n*{}* ([PNG]({}))\n",
        p.caption,
        rel("svg"),
        p.caption,
        rel("png")
    );
}

fn render_glance(md: &mut String, f: &Figures) {
    if f.lead.is_none() && f.startup.is_none() {
        return;
    }
    let _ = writeln!(md, "\n## At a glance\n");
    for p in f.lead.iter().chain(&f.startup) {
        image(md, p);
    }
}

/// The flagged figures as a table: the figures, why they cannot be true, the command.
fn render_flags(md: &mut String, flags: &[Flag]) {
    if flags.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Figures flagged as noise\n\n\
         These figures cannot be true on one machine, so they are marked ⚠ below and get no verdict: the \
         runs behind them were disturbed (the machine is shared), or too few to show it. Each row's command \
         measures them again; run it on an idle machine.\n\n\
         | figure | why it cannot be true | measure it again |\n\
         | --- | --- | --- |"
    );
    let cell = |s: &str| s.replace('|', "/");
    for r in plausibility::rows(flags) {
        let _ = writeln!(
            md,
            "| {} `{}`: {} | {} | `{}` |",
            r.suite,
            r.metric,
            cell(&r.figures.join("; ")),
            cell(&r.reason),
            r.rerun
        );
    }
}

const METHOD: &str = "\
## What was measured and how

Every environment runs the same static `pier-payload` binary (glibc, `+crt-static`):

* **cpu**: double-precision GEMM (`gemm` crate, AVX2/AVX-512 kernels), GFLOPS = 2N³/time,
  at several sizes with 1 thread and all threads: the stand-in for the study's Linpack.
  `--full` adds N=2048 and 4096, large enough for a good DGEMM to approach the machine's peak.
  First, natively, `pier-payload peak` measures that peak: 12 independent FMA chains per
  thread on the widest vector unit, the best of a hundred 4 ms windows after a 0.2 s warm-up.
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

fn render_machine(
    md: &mut String,
    env: &EnvironmentRecord,
    peak: &Result<Peak, String>,
    measured: Option<&Measured>,
) {
    let _ = writeln!(md, "\n## Machine\n\n| field | value |\n| --- | --- |");
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "not recorded".into());
    let clock = env.cpu_mhz_max.map_or("not recorded".into(), |m| {
        format!(
            "{} MHz ({})",
            num(m),
            env.cpu_mhz_source.as_deref().unwrap_or("?")
        )
    });
    for (k, v) in [
        ("date", env.date.clone()),
        ("CPU", env.cpu_model.clone()),
        (
            "CPU vendor, family",
            format!(
                "{}, {}",
                opt(&env.cpu_vendor),
                env.cpu_family
                    .map_or("not recorded".into(), |f| f.to_string())
            ),
        ),
        ("CPU clock (highest)", clock),
        ("CPU flags", env.cpu_flags.join(" ")),
        (
            "logical CPUs (available)",
            format!("{} ({})", env.logical_cpus, env.available_cpus),
        ),
        (
            "threads per core",
            env.threads_per_core
                .map_or("not recorded".into(), |t| t.to_string()),
        ),
        (
            "theoretical peak",
            match peak {
                Ok(p) => format!("{} GFLOPS", num(p.gflops(p.cores))),
                Err(why) => format!("unknown: {why}"),
            },
        ),
        (
            "measured peak (FMA kernel)",
            measured.map_or("not measured (no cpu suite, or an older run)".into(), |m| {
                m.describe()
            }),
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
        ("podman", opt(&env.podman_version)),
        ("docker (dockerd)", opt(&env.docker_version)),
    ] {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "/"));
    }
}

fn render_summary(md: &mut String, summary: &[SummaryRow], flags: &[Flag]) {
    let _ = writeln!(md, "\n## Results\n");
    let mut suite = "";
    for r in summary {
        if r.suite != suite {
            suite = &r.suite;
            let _ = writeln!(
                md,
                "\n### {suite}\n\n| metric | unit | environment | n | median | 95% CI | min | max | ratio to native [95% CI] |\n| --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |"
            );
        }
        let mut ratio = ratio(r);
        if is_flagged(flags, r) {
            ratio.push_str(" ⚠ noise");
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {}–{} | {} | {} | {} |",
            r.metric,
            r.unit,
            r.label(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::Inputs;

    #[test]
    fn generates_the_raw_files_and_both_reports() {
        let dir = tempfile::tempdir().unwrap();
        let sample = |env: &str, i: u32, v: f64| Sample {
            run_id: "test-run".into(),
            suite: "mem".into(),
            metric: "stream_triad".into(),
            unit: "GB/s".into(),
            environment: env.into(),
            variant: String::new(),
            iteration: i,
            value: v,
            accelerator: None,
            timestamp: "2026-11-23T17:00:00Z".into(),
        };
        let samples: Vec<Sample> = (0..5)
            .flat_map(|i| {
                [
                    sample("native", i, 20.0 + f64::from(i)),
                    sample("pier", i, 19.8 + f64::from(i)),
                ]
            })
            .collect();
        let env = EnvironmentRecord::collect(&Inputs::default()).unwrap();
        let notes = Notes {
            settings: "test plan".into(),
            ..Notes::default()
        };
        let files = generate(
            dir.path(),
            &ReportInput {
                run_id: "test-run",
                samples: &samples,
                environment: &env,
                notes: &notes,
                reference_dir: &reference::default_dir(),
            },
        )
        .unwrap();
        for f in [
            &files.report,
            &files.html,
            &files.samples_csv,
            &files.summary_csv,
            &files.environment_json,
        ] {
            assert!(f.is_file(), "{} missing", f.display());
        }
        assert_eq!(record::read_samples(&files.samples_csv).unwrap(), samples);
        assert_eq!(Notes::read(dir.path()).unwrap(), Some(notes));
        let md = std::fs::read_to_string(&files.report).unwrap();
        assert!(md.contains("| stream_triad | GB/s | pier | 5 |"), "{md}");
        assert!(md.contains("test plan."));
        assert!(md.contains("](plots/relative_to_native.svg)"), "{md}");
        // The same report again from the files alone.
        let again = rerender(dir.path(), &reference::default_dir()).unwrap();
        assert_eq!(md, std::fs::read_to_string(&again.report).unwrap());
    }

    #[test]
    fn flagged_figures_are_a_table_with_a_command_per_row() {
        let row = |metric: &str, env: &str, ratio: (f64, f64, f64)| SummaryRow {
            suite: "mem".into(),
            metric: metric.into(),
            unit: "GB/s".into(),
            environment: env.into(),
            variant: String::new(),
            n: 5,
            median: 37.0,
            min: 34.0,
            max: 42.0,
            ci_low: 35.0,
            ci_high: 40.0,
            ratio_to_native: Some(ratio.0),
            ratio_ci_low: Some(ratio.1),
            ratio_ci_high: Some(ratio.2),
        };
        let summary = [
            row("stream_copy", "crun", (1.04, 0.905, 1.22)),
            row("stream_copy", "runc", (1.07, 0.9, 1.24)),
            row("stream_add", "pier", (1.06, 0.921, 1.15)),
        ];
        let flags = plausibility::check(&summary, plausibility::Bounds::default());
        let mut md = String::new();
        render_flags(&mut md, &flags);
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(
            lines[..2],
            [
                "| figure | why it cannot be true | measure it again |",
                "| --- | --- | --- |"
            ],
            "{md}"
        );
        // One row per metric, its environments together, each row with its command.
        assert_eq!(lines.len(), 4, "{md}");
        assert!(
            lines[2].starts_with(
                "| mem `stream_add`: pier 1.06× native [0.921–1.15] | median faster than native"
            ),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("crun 1.04× native [0.905–1.22]; runc 1.07× native [0.900–1.24]"),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].ends_with("| `pier bench --suite mem --env native,crun,runc --runs 15` |"),
            "{}",
            lines[3]
        );
        // Nothing flagged, no section.
        let mut empty = String::new();
        render_flags(&mut empty, &[]);
        assert!(empty.is_empty());
    }
}
