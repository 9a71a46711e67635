//! Figures published from other machines (the IBM study, crun/runc/youki/Firecracker
//! start-up times), shown as context in tables of their own with their source and
//! machine. Nothing here says "pier is N× faster than X": a figure from another machine,
//! kernel and method is a different measurement. Where the study's setup differs in kind
//! (its network crosses a 10 GbE link between two machines; an emulated VM is not KVM),
//! the table says so instead of setting the figures side by side.

use crate::figures::{dgemm_row, lead_dgemm};
use crate::format::{fraction, num, ratio_with_ci};
use crate::plausibility::{is_flagged, Flag};
use crate::plot::palette::display_name;
use crate::record::{SummaryRow, NATIVE};
use crate::reference::{classify, felter_metric, felter_ratios, FelterRow, Source, StartupRow};
use std::fmt::Write as _;

/// Why a row of ours cannot be set beside the study's, if it cannot.
fn not_comparable(r: &SummaryRow) -> Option<&'static str> {
    if r.suite == "net" {
        Some("not comparable: the study's client and server were two machines over 10 GbE; here both ends are on this host")
    } else if r.environment.ends_with("tcg") {
        Some("not comparable: this VM is emulated (TCG); the study's KVM runs on hardware virtualisation")
    } else {
        None
    }
}

fn study_name(env: &str) -> String {
    match env {
        "docker" => "Docker",
        "docker-nat" => "Docker NAT",
        "docker-host-net" => "Docker host net",
        "kvm" => "KVM",
        "kvm-tuned" => "KVM tuned",
        "kvm-untuned" => "KVM untuned",
        e => e,
    }
    .to_string()
}

/// The section header shared by both tables.
pub fn render(
    md: &mut String,
    summary: &[SummaryRow],
    felter: &[FelterRow],
    source: &Source,
    startup: &[StartupRow],
    flags: &[Flag],
) {
    let _ = writeln!(
        md,
        "\n## Figures from other machines (context, not verdicts)\n\n\
         These figures were measured on other machines, with other kernels, tools and definitions. They give \
         the order of magnitude and the direction of each effect. A ratio to native here and one in the study \
         are each relative to their own machine's native run, so they can stand side by side, but a difference \
         between them is not a finding about pier."
    );
    render_felter(md, summary, felter, source, flags);
    render_startup(md, summary, startup);
}

fn render_felter(
    md: &mut String,
    summary: &[SummaryRow],
    felter: &[FelterRow],
    source: &Source,
    flags: &[Flag],
) {
    let published = felter_ratios(felter);
    let dgemm = lead_dgemm(summary);
    let _ = writeln!(
        md,
        "\n### Felter et al. 2015 (IBM), across machines\n\n\
         Source: {}. Their machine: {}. This run: the machine described below. Containers stand beside the \
         study's Docker rows, VMs beside its KVM rows; DGEMM stands for the study's Linpack.\n",
        source.citation,
        source.machine.as_deref().unwrap_or("not stated")
    );
    let mut lines = Vec::new();
    for r in summary.iter().filter(|r| r.environment != NATIVE) {
        let Some(fm) = felter_metric(&r.metric) else {
            continue;
        };
        // One DGEMM size, the lead figure's (the study ran one Linpack size).
        if fm == "linpack" {
            let stands = dgemm
                .as_deref()
                .and_then(|d| dgemm_row(summary, d, &r.environment, &r.variant))
                .is_some_and(|d| d.metric == r.metric);
            if !stands {
                continue;
            }
        }
        let class = classify(&r.environment);
        let comparable = not_comparable(r).is_none();
        // Where the setups differ in kind the study's ratio is not printed at all.
        let theirs: Vec<String> = published
            .iter()
            .filter(|p| p.metric == fm && classify(&p.environment) == class)
            .map(|p| {
                if comparable {
                    format!("{} {}", study_name(&p.environment), num(p.ratio))
                } else {
                    study_name(&p.environment)
                }
            })
            .collect();
        if theirs.is_empty() {
            continue;
        }
        let mut ours = match (r.ratio_to_native, r.ratio_ci()) {
            (Some(v), Some(ci)) if r.n >= 2 => ratio_with_ci(v, ci.low, ci.high),
            (Some(v), _) => fraction(v),
            _ => continue,
        };
        if is_flagged(flags, r) {
            ours.push_str(" ⚠ noise");
        }
        let remark = match not_comparable(r) {
            Some(why) => why.to_string(),
            None => {
                let inside: Vec<String> = published
                    .iter()
                    .filter(|p| p.metric == fm && classify(&p.environment) == class)
                    .map(|p| {
                        let within = r.ratio_ci().is_some_and(|ci| ci.contains(p.ratio));
                        format!(
                            "{}'s ratio {} this run's 95% CI",
                            study_name(&p.environment),
                            if within {
                                "lies inside"
                            } else {
                                "lies outside"
                            }
                        )
                    })
                    .collect();
                format!("across machines: {}", inside.join("; "))
            }
        };
        let study = if comparable {
            theirs.join(", ")
        } else {
            format!("{}: not comparable", theirs.join(", "))
        };
        lines.push(format!(
            "| {} | {} | {ours} | {study} | {remark} |",
            r.metric,
            display_name(&r.label()),
        ));
    }
    if lines.is_empty() {
        let _ = writeln!(md, "No metric of this run has a counterpart in the study.");
        return;
    }
    let _ = writeln!(
        md,
        "| metric | this run: environment | its ratio to native [95% CI] | the study: environment and ratio | remark |\n| --- | --- | --- | --- | --- |"
    );
    for l in lines {
        let _ = writeln!(md, "{l}");
    }
    let _ = writeln!(
        md,
        "\nMetrics the study lacks (start-up, jitter) and environments it has no counterpart for \
         (podman) have no row."
    );
}

/// Our environment running the same tool as a published row, if this run measured one.
fn same_tool<'a>(summary: &'a [SummaryRow], published_env: &str) -> Option<&'a SummaryRow> {
    let tool = published_env
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    summary.iter().find(|r| {
        r.metric == "launch_to_exit"
            && match tool.as_str() {
                "crun" | "runc" => r.environment == tool,
                "qemu" => r.environment.starts_with("qemu"),
                _ => false,
            }
    })
}

fn render_startup(md: &mut String, summary: &[SummaryRow], startup: &[StartupRow]) {
    let _ = writeln!(
        md,
        "\n### Published start-up times, across machines\n\n\
         Each from its own machine, kernel and definition of \"start\" (see the setup column). The last column \
         is this run's figure for the same tool on this machine (launch → exit), beside it, not compared with it.\n\n\
         | what was timed | runtime | published (ms) | statistic | machine and setup | source | the same tool here (this machine) |\n\
         | --- | --- | ---: | --- | --- | --- | --- |"
    );
    let mut setup = String::new();
    for p in startup {
        // "same" in the file means the row above's setup.
        if p.setup != "same" {
            setup = p.setup.clone();
        }
        let here = same_tool(summary, &p.environment).map_or("-".to_string(), |r| {
            let mut s = format!(
                "{}: {} ms [{}–{}] (n={})",
                display_name(&r.label()),
                num(r.median),
                num(r.ci_low),
                num(r.ci_high),
                r.n
            );
            if r.environment.ends_with("tcg") {
                s.push_str(" (emulated, not a KVM boot)");
            }
            s
        });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            p.what,
            p.environment,
            num(p.value_ms),
            p.statistic,
            setup.replace('|', "/"),
            p.source,
            here
        );
    }
}
