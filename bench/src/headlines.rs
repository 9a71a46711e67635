//! The harness's own section of `report.md`: the figures the project set goals for
//! (pier/native GFLOPS, pier vs crun start-up, pier run vs podman run, bridge vs host
//! network, the VM with its accelerator, our DGEMM beside OpenBLAS and the theoretical
//! peak), which environments ran or why not, the crun workaround, failures, and criterion
//! medians of pier's steps. Verdicts follow [`crate::verdict`]: the whole interval decides.

use crate::format::{num, spread, with_ci};
use crate::notes::Notes;
use crate::peak::{self, Peak};
use crate::plausibility::{is_flagged, Flag};
use crate::plot::palette::display_name;
use crate::record::{self, Sample, SummaryRow, NATIVE};
use crate::stats::{self, Interval};
use crate::suites::startup::NO_SECCOMP;
use crate::verdict::{self, Goal};
use std::fmt::Write as _;

/// pier's goal for CPU-bound work: at least this fraction of native GFLOPS.
pub const CPU_GOAL: f64 = 0.98;

/// What the section is made from.
pub struct Input<'a> {
    /// Raw samples (ratios between two environments resample both).
    pub samples: &'a [Sample],
    /// Their summary.
    pub summary: &'a [SummaryRow],
    /// The run's notes.
    pub notes: &'a Notes,
    /// Implausible figures.
    pub flags: &'a [Flag],
    /// The theoretical peak, or why it is unknown.
    pub peak: &'a Result<Peak, String>,
}

impl Input<'_> {
    fn row(&self, metric: &str, env: &str, variant: &str) -> Option<&SummaryRow> {
        self.summary
            .iter()
            .find(|r| r.metric == metric && r.environment == env && r.variant == variant)
    }

    /// `a / b` of medians with a 95% bootstrap interval resampling both, and the smaller n.
    fn between(
        &self,
        metric: &str,
        a: (&str, &str),
        b: (&str, &str),
    ) -> Option<(f64, Interval, usize)> {
        let va = record::values(self.samples, metric, a.0, a.1);
        let vb = record::values(self.samples, metric, b.0, b.1);
        let (r, ci) = stats::ratio_of_medians(
            &va,
            &vb,
            0.95,
            stats::DEFAULT_RESAMPLES,
            stats::DEFAULT_SEED,
        )?;
        Some((r, ci, va.len().min(vb.len())))
    }

    /// A ratio to native with its interval, marked when flagged as noise.
    fn ratio(&self, r: &SummaryRow) -> String {
        let mut s = crate::format::ratio(r);
        if is_flagged(self.flags, r) {
            s.push_str(" ⚠ noise");
        }
        s
    }
}

/// Markdown for the harness section.
pub fn render(input: &Input) -> String {
    let mut md = String::from("## Headline figures\n\n");
    let _ = writeln!(
        md,
        "Medians with their 95% bootstrap interval [low–high] and sample count; the machine is shared \
         with other jobs, so read the interval, not just the median. A goal is **met** only when the whole \
         interval clears it, **not met** only when the whole interval misses it, and **inconclusive** \
         otherwise; more runs (`--runs`) narrow an interval. ⚠ marks a figure flagged as noise (see \
         above).\n"
    );
    if !input.notes.settings.is_empty() {
        let _ = writeln!(md, "{}.\n", input.notes.settings);
    }
    cpu(&mut md, input);
    startup(&mut md, input);
    net(&mut md, input);
    vm(&mut md, input);
    environments(&mut md, input.notes);
    steps(&mut md, input.notes);
    md
}

fn cpu(md: &mut String, t: &Input) {
    let metrics = crate::figures::dgemm_metrics(t.summary);
    if metrics.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### CPU (DGEMM GFLOPS, best of the repetitions in each run)\n"
    );
    let measured = t.notes.measured_peak.as_ref();
    match (measured, t.peak) {
        (Some(m), computed) => {
            let _ = writeln!(
                md,
                "Measured peak: {}, at the start of the cpu suite, natively: the most FLOP these cores \
                 do at the clock they really run at. \"of peak\" is native's median against it, and a figure \
                 more than {:.0}% above it is flagged. Computed from the CPU's nominal figures: {}.\n",
                m.describe(),
                peak::MEASURED_TOLERANCE * 100.0,
                match computed {
                    Ok(p) => p.describe(),
                    Err(why) => format!("unknown, {why}"),
                }
            );
        }
        (None, Ok(p)) => {
            let _ = writeln!(
                md,
                "Theoretical peak: {}; this run has no measured peak (an older run, or the FMA kernel failed: see the notes). \"of peak\" \
                 is native's median against the peak of its thread count (one core per thread); Linpack on a \
                 well-tuned machine reaches 70–90% of it, and the study's Linpack ran at N=45000, far above \
                 these sizes.\n",
                p.describe()
            );
        }
        (None, Err(why)) => {
            let _ = writeln!(md, "Theoretical peak: unknown, {why}.\n");
        }
    }
    let yardstick = |threads: usize| match (measured, t.peak) {
        (Some(m), _) => Some(m.gflops(threads)),
        (None, Ok(p)) => Some(p.gflops(threads)),
        (None, Err(_)) => None,
    };
    let peak_known = measured.is_some() || t.peak.is_ok();
    // The "of peak" column only when a peak is known.
    let (peak_head, peak_rule) = if peak_known {
        (" of peak |", " ---: |")
    } else {
        ("", "")
    };
    let _ = writeln!(
        md,
        "| DGEMM | native |{peak_head} pier | pier / native [95% CI] | goal ≥ {CPU_GOAL} | runc / native | crun / native | OpenBLAS (native) |\n\
         | --- | --- |{peak_rule} --- | --- | --- | --- | --- | --- |"
    );
    for m in metrics {
        let Some(nat) = t.row(m, NATIVE, "") else {
            continue;
        };
        let of_peak = match peak::dgemm_threads(m).and_then(yardstick) {
            Some(g) => format!(" {:.0}% |", 100.0 * nat.median / g),
            None if peak_known => " - |".into(),
            None => String::new(),
        };
        let pier = t.row(m, "pier", "");
        let goal = pier.map_or("-".into(), |p| match p.ratio_ci() {
            _ if is_flagged(t.flags, p) => "no verdict: flagged as noise".into(),
            Some(ci) => {
                let g = Goal::AtLeast(CPU_GOAL);
                verdict::describe(verdict::judge(ci, p.n.min(nat.n), g), p.n.min(nat.n), g)
            }
            None => "-".into(),
        });
        let peer = |env: &str| t.row(m, env, "").map_or("-".into(), |r| t.ratio(r));
        let ob = t.row(&format!("openblas_{m}"), NATIVE, "");
        let _ = writeln!(
            md,
            "| {} | {} |{of_peak} {} | {} | {goal} | {} | {} | {} |",
            m.replace("dgemm_gflops_", ""),
            spread(nat),
            pier.map_or("-".into(), spread),
            pier.map_or("-".into(), |p| t.ratio(p)),
            peer("runc"),
            peer("crun"),
            ob.map_or("-".into(), spread),
        );
    }
    md.push('\n');
}

fn startup(md: &mut String, t: &Input) {
    let order = [
        ("pier", "runtime"),
        ("runc", "runtime"),
        ("crun", "runtime"),
        ("pier", NO_SECCOMP),
        ("crun", NO_SECCOMP),
        ("pier", "run"),
        ("pier", "run-bridge"),
        ("podman", "run"),
        ("docker", "run"),
        ("docker", "run-bridge"),
        (NATIVE, ""),
    ];
    if !order
        .iter()
        .any(|(e, v)| t.row("launch_to_exit", e, v).is_some())
    {
        return;
    }
    let _ = writeln!(
        md,
        "### Start-up (ms)\n\n| environment | launch → exit | launch → first instruction |\n| --- | --- | --- |"
    );
    for (e, v) in order {
        let label = record::label(e, v);
        let Some(r) = t.row("launch_to_exit", e, v) else {
            // A peer that could not run says why instead of vanishing from the table.
            if let Some(why) = t.notes.why_unavailable(&not_measured_label(e, v)) {
                let _ = writeln!(
                    md,
                    "| {label} | not measured: {} | - |",
                    why.replace('|', "/")
                );
            }
            continue;
        };
        let entry = t.row("launch_to_entry", &r.environment, &r.variant);
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            r.label(),
            spread(r),
            entry.map_or("-".into(), spread)
        );
    }
    low_level(md, t);
    if let Some((ratio, ci, n)) = t.between("launch_to_exit", ("pier", "run"), ("pier", "runtime"))
    {
        let _ = writeln!(
            md,
            "\nWhole path over low level, same image, host network: `pier run --rm` / `pier runtime run` = {}{}.",
            with_ci(ratio, ci.low, ci.high),
            goal(ci, n, Goal::AtMost(2.0))
        );
    }
    if let Some((ratio, ci, _)) = t.between("launch_to_exit", ("podman", "run"), ("pier", "run")) {
        let _ = writeln!(
            md,
            "\nWhole path, same image, host network: `podman run --rm` (runc) / `pier run --rm` = {}.",
            with_ci(ratio, ci.low, ci.high)
        );
    }
    for (variant, what) in [
        ("run", "host network"),
        ("run-bridge", "each on its bridge"),
    ] {
        if let Some((ratio, ci, n)) =
            t.between("launch_to_exit", ("docker", variant), ("pier", variant))
        {
            // The goal is on the host network, where neither sets up a network.
            let goal = if variant == "run" {
                goal(ci, n, Goal::AtLeast(10.0))
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "\nWhole path, same image, {what}: `docker run --rm` (dockerd, containerd, runc) / `pier run --rm` = {}{goal}.",
                with_ci(ratio, ci.low, ci.high)
            );
        }
    }
    md.push('\n');
}

/// ` (goal ≤ 2.00: goal met: ...)`, the verdict of a start-up ratio on its goal.
fn goal(ci: Interval, n: usize, g: Goal) -> String {
    let bound = match g {
        Goal::AtMost(v) => format!("≤ {}", num(v)),
        Goal::AtLeast(v) => format!("≥ {}", num(v)),
    };
    format!(
        " (goal {bound}: {})",
        verdict::describe(verdict::judge(ci, n, g), n, g)
    )
}

/// `pier runtime run` against each OCI peer on the same bundle, one sentence per seccomp
/// setting (one line per peer read as the same line printed twice: `crun run` and `runc run`
/// differ by a letter). Goals (issue 24): at most 0.5× crun under Docker's profile, 0.9×
/// without a filter.
fn low_level(md: &mut String, t: &Input) {
    for (variant, filter, crun_goal) in [
        ("runtime", "Docker's seccomp profile", 0.5),
        (NO_SECCOMP, "no seccomp filter", 0.9),
    ] {
        let pier = ("pier", variant);
        let mut parts = Vec::new();
        for peer in ["crun", "runc"] {
            let Some((ratio, ci, n)) = t.between("launch_to_exit", pier, (peer, variant)) else {
                continue;
            };
            let goal = if peer == "crun" {
                goal(ci, n, Goal::AtMost(crun_goal))
            } else {
                String::new()
            };
            parts.push(format!(
                "/ `{peer} run` = {}{goal}",
                with_ci(ratio, ci.low, ci.high)
            ));
        }
        if !parts.is_empty() {
            let _ = writeln!(
                md,
                "\nLow level, same bundle, {filter}, launch → exit: `pier runtime run` {}.",
                parts.join("; ")
            );
        }
    }
}

/// The label an environment's availability was noted under: its `run`/`runtime` path
/// (`docker (run)` stands for `docker (run-bridge)` too).
fn not_measured_label(env: &str, variant: &str) -> String {
    let v = if variant.starts_with("run") && variant != "runtime" {
        "run"
    } else {
        variant
    };
    record::label(env, v)
}

fn net(md: &mut String, t: &Input) {
    let variants = ["", "host", "bridge", "bridge-c2c", "published", "tap"];
    let mut lines = Vec::new();
    for r in t.summary.iter().filter(|r| r.metric == "tcp_stream") {
        if !variants.contains(&r.variant.as_str()) {
            continue;
        }
        let rr = t.row("tcp_rr_latency", &r.environment, &r.variant);
        let label = if r.variant.is_empty() {
            format!("{} (loopback)", display_name(&r.environment))
        } else {
            display_name(&r.label())
        };
        lines.push(format!(
            "| {label} | {} | {} | {} | {} |",
            spread(r),
            t.ratio(r),
            rr.map_or("-".into(), spread),
            rr.map_or("-".into(), |x| t.ratio(x))
        ));
    }
    if lines.is_empty() {
        return;
    }
    let docker_ran = t
        .summary
        .iter()
        .any(|r| r.environment == "docker" && r.suite == "net");
    if !docker_ran {
        if let Some(why) = t.notes.why_unavailable("docker (run)") {
            lines.push(format!(
                "| docker (bridge, published) | not measured: {} | - | - | - |",
                why.replace('|', "/")
            ));
        }
    }
    let _ = writeln!(
        md,
        "### Network (TCP)\n\n| path | stream Gbit/s | / native [95% CI] | RR latency µs | / native [95% CI] |\n| --- | --- | --- | --- | --- |"
    );
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
    if let Some(i) = t.row("tcp_stream_iperf3", NATIVE, "") {
        let _ = writeln!(
            md,
            "| iperf3 (loopback, cross-check) | {} | - | - | - |",
            spread(i)
        );
    }
    let ratio = |m: &str| {
        t.between(m, ("pier", "bridge"), ("pier", "host"))
            .map(|(r, ci, _)| with_ci(r, ci.low, ci.high))
    };
    if let (Some(s), Some(l)) = (ratio("tcp_stream"), ratio("tcp_rr_latency")) {
        let _ = writeln!(
            md,
            "\nBridge vs host networking (pier): throughput bridge/host = {s}, latency bridge/host = {l}."
        );
    }
    for path in ["bridge", "published"] {
        let docker_over_pier = |m: &str| {
            t.between(m, ("docker", path), ("pier", path))
                .map(|(r, ci, _)| with_ci(r, ci.low, ci.high))
        };
        if let (Some(s), Some(l)) = (
            docker_over_pier("tcp_stream"),
            docker_over_pier("tcp_rr_latency"),
        ) {
            let _ = writeln!(
                md,
                "\nDocker vs pier, {path} path: throughput docker/pier = {s}, latency docker/pier = {l}."
            );
        }
    }
    md.push('\n');
}

fn vm(md: &mut String, t: &Input) {
    let Some(env) = t
        .summary
        .iter()
        .find(|r| r.environment.starts_with("qemu"))
        .map(|r| r.environment.clone())
    else {
        return;
    };
    let name = display_name(&env);
    let name = name.trim_start_matches("VM (").trim_end_matches(')');
    let _ = writeln!(
        md,
        "### The VM: {name}{}\n",
        if env.ends_with("tcg") {
            " (software): its figures show emulation cost, not virtualisation overhead"
        } else {
            ""
        }
    );
    for r in t.summary.iter().filter(|r| r.environment == env) {
        let _ = writeln!(
            md,
            "* {}{}: {} {}{}",
            r.metric,
            if r.variant.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.variant)
            },
            spread(r),
            r.unit,
            r.ratio_to_native
                .map_or(String::new(), |_| format!(", {} × native", t.ratio(r)))
        );
    }
    if let Some(d) = &t.notes.vm {
        let _ = writeln!(md, "\nGuest: {d}.");
    }
    md.push('\n');
}

fn environments(md: &mut String, notes: &Notes) {
    if notes.environments.is_empty()
        && notes.cgroup.is_none()
        && notes.suite_notes.is_empty()
        && notes.failures.is_empty()
    {
        return;
    }
    let _ = writeln!(md, "### Environments\n");
    for e in &notes.environments {
        let _ = writeln!(md, "* {e}");
    }
    if let Some(c) = &notes.cgroup {
        let _ = writeln!(md, "\ncgroups: {c}.");
    }
    for n in &notes.suite_notes {
        let _ = writeln!(md, "\n{n}.");
    }
    if !notes.failures.is_empty() {
        let _ = writeln!(md, "\nFailures:\n");
        for f in &notes.failures {
            let _ = writeln!(
                md,
                "* {} / {}: {}",
                f.suite,
                f.case,
                f.error.replace('|', "/")
            );
        }
    }
    md.push('\n');
}

/// Criterion medians of `cargo bench -p pier-bench` (pier's start-up steps), if recorded.
fn steps(md: &mut String, notes: &Notes) {
    if notes.steps.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### pier's start-up step by step\n\nCriterion medians of `cargo bench -p pier-bench` (its latest run on this machine \
         when this report's run ended, `target/criterion`; a separate run from this report's): the kernel work behind \
         one container start.\n\n| step | median |\n| --- | --- |"
    );
    for s in &notes.steps {
        let what = match s.name.as_str() {
            "cgroup_create_destroy" => " (a cgroup in every v1 hierarchy, created and removed)",
            "overlay_mount_unmount" => " (the rootfs: overlayfs, volatile)",
            "clone_mnt_pid_uts_ipc" => {
                " (clone into new mount, PID, UTS, IPC namespaces; child exits)"
            }
            "clone_mnt_pid_uts_ipc_net" => " (the same plus a network namespace)",
            "veth_connect_release" => " (bridge mode: veth pair, address, routes, then release)",
            _ => "",
        };
        let _ = writeln!(
            md,
            "| {}{what} | {} µs |",
            s.name,
            num(s.median_ns / 1000.0)
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peak::{Measured, MeasuredPoint};

    fn samples(metric: &str, unit: &str, env: &str, variant: &str, values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                run_id: "test".into(),
                suite: if unit == "ms" { "startup" } else { "cpu" }.into(),
                metric: metric.into(),
                unit: unit.into(),
                environment: env.into(),
                variant: variant.into(),
                iteration: i as u32,
                value: *v,
                accelerator: None,
                timestamp: "2026-12-07T10:00:00Z".into(),
            })
            .collect()
    }

    fn render_of(all: &[Sample], notes: &Notes, peak: &Result<Peak, String>) -> String {
        let summary = record::summarize(all);
        let flags = crate::plausibility::check(
            &summary,
            crate::plausibility::Bounds {
                computed: peak.as_ref().ok(),
                measured: notes.measured_peak.as_ref(),
            },
        );
        render(&Input {
            samples: all,
            summary: &summary,
            notes,
            flags: &flags,
            peak,
        })
    }

    #[test]
    fn the_low_level_ratio_line_appears_once() {
        let mut all = Vec::new();
        for (env, base) in [("pier", 14.0), ("crun", 31.0), ("runc", 49.0)] {
            all.extend(samples(
                "launch_to_exit",
                "ms",
                env,
                "runtime",
                &[base, base + 1.0, base + 2.0, base + 0.5, base + 1.5],
            ));
        }
        for (env, base) in [("pier", 10.0), ("crun", 30.0)] {
            all.extend(samples(
                "launch_to_exit",
                "ms",
                env,
                NO_SECCOMP,
                &[base, base + 1.0, base + 2.0, base + 0.5, base + 1.5],
            ));
        }
        let md = render_of(&all, &Notes::default(), &Err("test".into()));
        // One sentence per filter setting, each peer once in it, crun with its goal.
        assert_eq!(md.matches("Low level, same bundle").count(), 2, "{md}");
        assert_eq!(
            md.matches(": `pier runtime run` / `crun run` = ").count(),
            2,
            "{md}"
        );
        assert_eq!(md.matches("/ `runc run` = ").count(), 1, "{md}");
        assert!(
            md.contains(
                "Docker's seccomp profile, launch → exit: `pier runtime run` / `crun run` = 0.469"
            ),
            "{md}"
        );
        assert!(md.contains("(goal ≤ 0.500: goal met"), "{md}");
        assert!(
            md.contains(
                "no seccomp filter, launch → exit: `pier runtime run` / `crun run` = 0.355"
            ),
            "{md}"
        );
        assert!(md.contains("(goal ≤ 0.900: goal met"), "{md}");
    }

    #[test]
    fn whole_path_goals_are_lines_of_the_report() {
        let mut all = Vec::new();
        for (env, variant, base) in [
            ("pier", "runtime", 10.0),
            ("pier", "run", 25.0),
            ("docker", "run", 200.0),
        ] {
            all.extend(samples(
                "launch_to_exit",
                "ms",
                env,
                variant,
                &[base, base + 1.0, base + 2.0, base + 0.5, base + 1.5],
            ));
        }
        let md = render_of(&all, &Notes::default(), &Err("test".into()));
        assert!(
            md.contains("`pier run --rm` / `pier runtime run` = 2.36"),
            "{md}"
        );
        assert!(md.contains("(goal ≤ 2.00: goal not met"), "{md}");
        assert!(md.contains("host network: `docker run --rm` (dockerd, containerd, runc) / `pier run --rm` = 7.73"), "{md}");
        assert!(md.contains("(goal ≥ 10.00: goal not met"), "{md}");
    }

    #[test]
    fn of_peak_is_against_the_measured_peak_and_one_thread_rows_get_verdicts() {
        // The reference run: 1-thread DGEMM at ~85 GFLOPS, above the computed 83.2 GFLOPS per
        // core (the nominal 2.6 GHz), below the 95 GFLOPS the FMA kernel reached.
        let metric = "dgemm_gflops_n1024_t1";
        let mut all = samples(
            metric,
            "GFLOPS",
            NATIVE,
            "",
            &[85.0, 85.5, 84.5, 85.2, 84.8],
        );
        all.extend(samples(
            metric,
            "GFLOPS",
            "pier",
            "",
            &[85.1, 85.4, 84.9, 85.3, 84.7],
        ));
        let computed = Ok(Peak {
            isa: "test",
            flop_per_cycle: 32.0,
            mhz: 2600.0,
            mhz_source: "test".into(),
            cores: 2,
        });
        let without = render_of(&all, &Notes::default(), &computed);
        assert!(
            without.contains("no verdict: flagged as noise"),
            "{without}"
        );
        let notes = Notes {
            measured_peak: Some(Measured {
                isa: "avx512".into(),
                kernel: "AVX-512F FMA, 12 chains of 8 doubles".into(),
                points: vec![
                    MeasuredPoint {
                        threads: 1,
                        gflops: 95.0,
                    },
                    MeasuredPoint {
                        threads: 2,
                        gflops: 185.0,
                    },
                ],
            }),
            ..Notes::default()
        };
        let md = render_of(&all, &notes, &computed);
        assert!(
            md.contains("Measured peak: 95.00 GFLOPS with 1 thread(s)"),
            "{md}"
        );
        assert!(
            md.contains("= 166.4 GFLOPS"),
            "the computed peak beside it: {md}"
        );
        // 85.0 / 95.0 = 89%, not 85.0 / 83.2 = 102%.
        assert!(md.contains("| n1024_t1 | 85.00 "), "{md}");
        assert!(md.contains("| 89% |"), "{md}");
        assert!(!md.contains("no verdict"), "{md}");
        assert!(!md.contains("⚠ noise"), "{md}");
    }
}
