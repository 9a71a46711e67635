//! The harness's own section of `report.md`: the figures the project set goals for
//! (pier/native GFLOPS, pier vs crun start-up, pier run vs podman run, bridge vs host
//! network, the VM with its accelerator, our DGEMM beside OpenBLAS), which environments
//! ran or why not, the crun workaround, failures, and criterion medians of pier's steps.

use crate::plot::{self, Bar, BarGroup, Chart};
use crate::record::{self, Sample, SummaryRow};
use crate::report::num;
use crate::session::Notes;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Looks up summary medians.
struct Table {
    rows: Vec<SummaryRow>,
}

impl Table {
    fn row(&self, metric: &str, env: &str, variant: &str) -> Option<&SummaryRow> {
        self.rows
            .iter()
            .find(|r| r.metric == metric && r.environment == env && r.variant == variant)
    }

    fn median(&self, metric: &str, env: &str, variant: &str) -> Option<f64> {
        self.row(metric, env, variant).map(|r| r.median)
    }

    fn metrics(&self, prefix: &str) -> Vec<String> {
        let mut m: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.metric.starts_with(prefix))
            .map(|r| r.metric.clone())
            .collect();
        m.dedup();
        m
    }

    fn vm_env(&self) -> Option<String> {
        self.rows
            .iter()
            .find(|r| r.environment.starts_with("qemu"))
            .map(|r| r.environment.clone())
    }
}

fn spread(r: &SummaryRow) -> String {
    format!(
        "{} [{}–{}] (n={})",
        num(r.median),
        num(r.ci_low),
        num(r.ci_high),
        r.n
    )
}

/// Markdown for the harness section; draws its focused plots into `plots_dir` (the
/// report's all-metrics ratio chart is dominated by the VM and jitter tails).
pub fn render(
    samples: &[Sample],
    notes: &Notes,
    criterion: &Path,
    plots_dir: &Path,
) -> Result<String> {
    let t = Table {
        rows: record::summarize(samples),
    };
    let mut md = String::from("## Headline figures\n\n");
    let _ = writeln!(
        md,
        "Medians with their 95% bootstrap interval [low–high] and sample count; the machine \
         is shared with other jobs, so read the spread, not just the median.\n\n{}.\n",
        notes.settings
    );
    cpu(&mut md, &t);
    startup(&mut md, &t);
    net(&mut md, &t);
    vm(&mut md, &t, notes);
    focused_plots(&mut md, &t, plots_dir)?;
    environments(&mut md, notes);
    steps(&mut md, criterion);
    Ok(md)
}

/// "goal met" when the median ratio reaches `goal`; "inconclusive" when it does not but
/// its 95% interval does (noise on a shared machine); else "goal not met".
fn ratio_verdict(ratio: f64, ci_high: Option<f64>, goal: f64) -> &'static str {
    if ratio >= goal {
        "goal met"
    } else if ci_high.is_some_and(|h| h >= goal) {
        "inconclusive: below the goal, but the 95% CI reaches it"
    } else {
        "goal not met"
    }
}

fn cpu(md: &mut String, t: &Table) {
    let metrics = t.metrics("dgemm_gflops");
    if metrics.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### CPU (DGEMM GFLOPS, best of the repetitions in each run)\n"
    );
    let _ = writeln!(md, "| metric | native | pier | pier / native (goal ≥ 0.98) | runc / native | crun / native | OpenBLAS (native) | ours / OpenBLAS |\n| --- | --- | --- | --- | --- | --- | --- | --- |");
    for m in metrics {
        let Some(nat) = t.row(&m, record::NATIVE, "") else {
            continue;
        };
        let ratio = |env: &str| t.median(&m, env, "").map(|v| v / nat.median);
        let pier = t.row(&m, "pier", "");
        let ob = t.median(&format!("openblas_{m}"), record::NATIVE, "");
        let _ = writeln!(
            md,
            "| {m} | {} | {} | {} | {} | {} | {} | {} |",
            spread(nat),
            pier.map_or("-".into(), spread),
            pier.and_then(|p| p.ratio_to_native.map(|r| (r, p.ratio_ci_high)))
                .map_or("-".into(), |(r, hi)| format!(
                    "{} ({})",
                    num(r),
                    ratio_verdict(r, hi, 0.98)
                )),
            ratio("runc").map_or("-".into(), num),
            ratio("crun").map_or("-".into(), num),
            ob.map_or("-".into(), num),
            ob.map_or("-".into(), |o| num(nat.median / o)),
        );
    }
    md.push('\n');
}

fn startup(md: &mut String, t: &Table) {
    let rows = |metric: &str| -> Vec<(String, &SummaryRow)> {
        [
            ("pier", "runtime"),
            ("runc", "runtime"),
            ("crun", "runtime"),
            ("pier", "run"),
            ("pier", "run-bridge"),
            ("podman", "run"),
            (record::NATIVE, ""),
        ]
        .iter()
        .filter_map(|(e, v)| {
            t.row(metric, e, v).map(|r| {
                (
                    if v.is_empty() {
                        e.to_string()
                    } else {
                        format!("{e} ({v})")
                    },
                    r,
                )
            })
        })
        .collect()
    };
    let exit = rows("launch_to_exit");
    if exit.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Start-up (ms)\n\n| environment | launch → exit | launch → first instruction |\n| --- | --- | --- |");
    for (label, r) in &exit {
        let entry = t.row("launch_to_entry", &r.environment, &r.variant);
        let _ = writeln!(
            md,
            "| {label} | {} | {} |",
            spread(r),
            entry.map_or("-".into(), spread)
        );
    }
    let m = |e: &str, v: &str| t.median("launch_to_exit", e, v);
    if let Some(p) = t.row("launch_to_exit", "pier", "runtime") {
        for peer in ["crun", "runc"] {
            if let Some(c) = t.row("launch_to_exit", peer, "runtime") {
                let goal = if peer != "crun" {
                    String::new()
                } else if p.median <= c.median {
                    " (goal met: pier no slower than crun)".into()
                } else if p.ci_low <= c.ci_high {
                    " (inconclusive: pier's median is higher, but the two 95% CIs overlap)".into()
                } else {
                    " (goal not met: pier is slower than crun)".into()
                };
                let _ = writeln!(
                    md,
                    "\nLow level: `pier runtime run` {} ms vs `{peer} run` {} ms (launch → exit, same bundle): pier/{peer} = {}{goal}.",
                    num(p.median),
                    num(c.median),
                    num(p.median / c.median),
                );
            }
        }
    }
    if let (Some(p), Some(d)) = (m("pier", "run"), m("podman", "run")) {
        let _ = writeln!(
            md,
            "\nWhole path: `pier run --rm` {} ms vs `podman run --rm` (runc) {} ms, same image, host network: podman/pier = {}.",
            num(p),
            num(d),
            num(d / p)
        );
    }
    md.push('\n');
}

fn net(md: &mut String, t: &Table) {
    let variants = ["", "host", "bridge", "bridge-c2c", "published", "tap"];
    let mut lines = Vec::new();
    for r in t.rows.iter().filter(|r| r.metric == "tcp_stream") {
        if !variants.contains(&r.variant.as_str()) {
            continue;
        }
        let rr = t.row("tcp_rr_latency", &r.environment, &r.variant);
        let label = if r.variant.is_empty() {
            format!("{} (loopback)", r.environment)
        } else {
            format!("{} ({})", r.environment, r.variant)
        };
        lines.push(format!(
            "| {label} | {} | {} | {} | {} |",
            spread(r),
            r.ratio_to_native.map_or("-".into(), num),
            rr.map_or("-".into(), spread),
            rr.and_then(|x| x.ratio_to_native).map_or("-".into(), num)
        ));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Network (TCP)\n\n| path | stream Gbit/s | / native | RR latency µs | / native |\n| --- | --- | --- | --- | --- |");
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
    if let Some(i) = t.row("tcp_stream_iperf3", record::NATIVE, "") {
        let _ = writeln!(
            md,
            "| iperf3 (loopback, cross-check) | {} | - | - | - |",
            spread(i)
        );
    }
    let g = |m: &str, v: &str| t.median(m, "pier", v);
    if let (Some(bs), Some(hs), Some(bl), Some(hl)) = (
        g("tcp_stream", "bridge"),
        g("tcp_stream", "host"),
        g("tcp_rr_latency", "bridge"),
        g("tcp_rr_latency", "host"),
    ) {
        let _ = writeln!(
            md,
            "\nBridge vs host networking (pier): throughput bridge/host = {}, latency bridge/host = {}.",
            num(bs / hs),
            num(bl / hl)
        );
    }
    md.push('\n');
}

fn vm(md: &mut String, t: &Table, notes: &Notes) {
    let Some(env) = t.vm_env() else {
        return;
    };
    let accel = env.trim_start_matches("qemu-").to_uppercase();
    let _ = writeln!(
        md,
        "### The VM ({env}: accelerator {accel}{})\n",
        if accel == "TCG" {
            ", software emulation: figures show emulation cost, not virtualisation overhead"
        } else {
            ""
        }
    );
    for r in t.rows.iter().filter(|r| r.environment == env) {
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
                .map_or(String::new(), |x| format!(", {}x native", num(x)))
        );
    }
    if let Some(d) = &notes.vm {
        let _ = writeln!(md, "\nGuest: {d}.");
    }
    md.push('\n');
}

fn environments(md: &mut String, notes: &Notes) {
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

/// Criterion medians of `cargo bench -p pier-bench` (pier's start-up steps), if present.
fn steps(md: &mut String, dir: &Path) {
    let mut found = Vec::new();
    collect_estimates(dir, dir, &mut found);
    if found.is_empty() {
        return;
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(
        md,
        "### pier's start-up step by step\n\nCriterion medians of `cargo bench -p pier-bench` (its latest run on this machine, \
         `target/criterion`; a separate run from this report's): the kernel work behind one container start.\n\n| step | median |\n| --- | --- |"
    );
    for (name, ns) in found {
        let what = match name.as_str() {
            "cgroup_create_destroy" => " (a cgroup in every v1 hierarchy, created and removed)",
            "overlay_mount_unmount" => " (the rootfs: overlayfs, volatile)",
            "clone_mnt_pid_uts_ipc" => {
                " (clone into new mount, PID, UTS, IPC namespaces; child exits)"
            }
            "clone_mnt_pid_uts_ipc_net" => " (the same plus a network namespace)",
            "veth_connect_release" => " (bridge mode: veth pair, address, routes, then release)",
            _ => "",
        };
        let _ = writeln!(md, "| {name}{what} | {} µs |", num(ns / 1000.0));
    }
    md.push('\n');
}

fn collect_estimates(root: &Path, dir: &Path, out: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() || p.file_name().is_some_and(|n| n == "report") {
            continue;
        }
        let est = p.join("new").join("estimates.json");
        if let Some(ns) = std::fs::read(&est)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["median"]["point_estimate"].as_f64())
        {
            let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            out.push((name, ns));
        } else {
            collect_estimates(root, &p, out);
        }
    }
}

/// Two focused charts: containers relative to native on the metrics the study compares,
/// and the VM relative to native with its accelerator in the title.
fn focused_plots(md: &mut String, t: &Table, dir: &Path) -> Result<()> {
    let key = |m: &str| {
        m.starts_with("dgemm_gflops")
            || m == "stream_triad"
            || m == "stream_copy"
            || m == "tcp_stream"
            || m == "tcp_rr_latency"
    };
    let palette: Vec<String> = Vec::new();
    let groups_for = |keep: &dyn Fn(&SummaryRow) -> bool| -> Vec<BarGroup> {
        let mut groups: Vec<BarGroup> = Vec::new();
        for r in t
            .rows
            .iter()
            .filter(|r| r.environment != record::NATIVE && key(&r.metric) && keep(r))
        {
            let (Some(v), Some(lo), Some(hi)) =
                (r.ratio_to_native, r.ratio_ci_low, r.ratio_ci_high)
            else {
                continue;
            };
            let series = if r.variant.is_empty() {
                r.environment.clone()
            } else {
                format!("{} ({})", r.environment, r.variant)
            };
            let bar = Bar {
                series,
                value: v,
                low: lo,
                high: hi,
            };
            let label = r.metric.replace("dgemm_gflops_", "dgemm ");
            match groups.iter_mut().find(|g| g.label == label) {
                Some(g) => g.bars.push(bar),
                None => groups.push(BarGroup {
                    label,
                    bars: vec![bar],
                }),
            }
        }
        groups
    };
    let mut drawn = Vec::new();
    let containers = groups_for(&|r| !r.environment.starts_with("qemu"));
    if !containers.is_empty() {
        let title = "Containers relative to native (median, 95% CI; 1.0 = native)";
        let files = plot::grouped_bars(
            &Chart {
                stem: &dir.join("containers_vs_native"),
                title,
                x_label: "metric",
                y_label: "ratio to native",
                palette: &palette,
            },
            &containers,
            Some(1.0),
        )?;
        drawn.push((title.to_string(), files));
    }
    if let Some(env) = t.vm_env() {
        let vm = groups_for(&|r| r.environment == env);
        if !vm.is_empty() {
            let accel = env.trim_start_matches("qemu-").to_uppercase();
            let title =
                format!("VM ({env}, accelerator {accel}) relative to native (median, 95% CI)");
            let files = plot::grouped_bars(
                &Chart {
                    stem: &dir.join("vm_vs_native"),
                    title: &title,
                    x_label: "metric",
                    y_label: "ratio to native",
                    palette: &palette,
                },
                &vm,
                Some(1.0),
            )?;
            drawn.push((title, files));
        }
    }
    for (title, files) in drawn {
        let name = |ext: &str| {
            files
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == ext))
                .and_then(|f| f.file_name())
                .map(|n| format!("plots/{}", n.to_string_lossy()))
                .unwrap_or_default()
        };
        let _ = writeln!(
            md,
            "![{title}]({})\n\n({title}, [PNG]({}))\n",
            name("svg"),
            name("png")
        );
    }
    Ok(())
}
