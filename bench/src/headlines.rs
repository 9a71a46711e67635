//! The harness's own section of `report.md`: the figures the project set goals for
//! (pier/native GFLOPS, pier vs crun start-up, pier run vs podman run, bridge vs host
//! network, the VM with its accelerator, our DGEMM beside OpenBLAS), which environments
//! ran or why not, the crun workaround, failures, and criterion medians of pier's steps.

use crate::record::{self, Sample, SummaryRow};
use crate::report::num;
use crate::session::Notes;
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
    format!("{} [{}–{}] (n={})", num(r.median), num(r.ci_low), num(r.ci_high), r.n)
}

/// Markdown for the harness section.
pub fn render(samples: &[Sample], notes: &Notes, criterion: &Path) -> String {
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
    environments(&mut md, notes);
    steps(&mut md, criterion);
    md
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "goal met"
    } else {
        "goal not met"
    }
}

fn cpu(md: &mut String, t: &Table) {
    let metrics = t.metrics("dgemm_gflops");
    if metrics.is_empty() {
        return;
    }
    let _ = writeln!(md, "### CPU (DGEMM GFLOPS, best of the repetitions in each run)\n");
    let _ = writeln!(md, "| metric | native | pier | pier / native (goal ≥ 0.98) | runc / native | crun / native | OpenBLAS (native) | ours / OpenBLAS |\n| --- | --- | --- | --- | --- | --- | --- | --- |");
    for m in metrics {
        let Some(nat) = t.row(&m, record::NATIVE, "") else {
            continue;
        };
        let ratio = |env: &str| t.median(&m, env, "").map(|v| v / nat.median);
        let pier = t.row(&m, "pier", "");
        let pier_ratio = ratio("pier");
        let ob = t.median(&format!("openblas_{m}"), record::NATIVE, "");
        let _ = writeln!(
            md,
            "| {m} | {} | {} | {} | {} | {} | {} | {} |",
            spread(nat),
            pier.map_or("-".into(), spread),
            pier_ratio.map_or("-".into(), |r| format!("{} ({})", num(r), verdict(r >= 0.98))),
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
            t.row(metric, e, v)
                .map(|r| (if v.is_empty() { e.to_string() } else { format!("{e} ({v})") }, r))
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
        let _ = writeln!(md, "| {label} | {} | {} |", spread(r), entry.map_or("-".into(), spread));
    }
    let m = |e: &str, v: &str| t.median("launch_to_exit", e, v);
    if let Some(p) = m("pier", "runtime") {
        for peer in ["crun", "runc"] {
            if let Some(c) = m(peer, "runtime") {
                let _ = writeln!(
                    md,
                    "\nLow level: `pier runtime run` {} ms vs `{peer} run` {} ms on the same bundle: pier/{peer} = {}{}.",
                    num(p),
                    num(c),
                    num(p / c),
                    if peer == "crun" { format!(" ({}: pier no slower than crun)", verdict(p <= c)) } else { String::new() }
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
        let _ = writeln!(md, "| iperf3 (loopback, cross-check) | {} | - | - | - |", spread(i));
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
        if accel == "TCG" { ", software emulation: figures show emulation cost, not virtualisation overhead" } else { "" }
    );
    for r in t.rows.iter().filter(|r| r.environment == env) {
        let _ = writeln!(
            md,
            "* {} {}: {} {}{}",
            r.metric,
            if r.variant.is_empty() { String::new() } else { format!("({})", r.variant) },
            spread(r),
            r.unit,
            r.ratio_to_native.map_or(String::new(), |x| format!(", {}x native", num(x)))
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
            let _ = writeln!(md, "* {} / {}: {}", f.suite, f.case, f.error.replace('|', "/"));
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
        "### pier's start-up step by step (criterion medians from `cargo bench -p pier-bench`, latest run in {})\n\n| step | median |\n| --- | --- |",
        dir.display()
    );
    for (name, ns) in found {
        let _ = writeln!(md, "| {name} | {} µs |", num(ns / 1000.0));
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
