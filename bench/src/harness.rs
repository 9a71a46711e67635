//! The measurement plan and its execution: warm-up rounds, then N runs with the
//! environments interleaved and rotated (A B C, B C A, C A B ...), so that slow drifts of a shared machine
//! (other jobs, thermal state, page cache) spread over every environment instead of
//! biasing whichever ran last. Progress bars with an ETA; optional CPU pinning; a summary
//! table at the end.

use crate::envs::Environment;
use crate::record::{self, Sample};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::RefCell;
use std::rc::Rc;

/// An environment shared by the cases that use it.
pub type EnvRef = Rc<RefCell<dyn Environment>>;

/// Warm-up and measured repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Unmeasured rounds first (page cache, image store, CPU frequency settle).
    pub warmup: u32,
    /// Measured rounds.
    pub runs: u32,
}

/// One step of the schedule: which case, which iteration, warm-up or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Index of the case.
    pub case: usize,
    /// Iteration number (counted separately for warm-up and measured rounds).
    pub iteration: u32,
    /// True for a warm-up step (results discarded).
    pub warmup: bool,
}

/// The order in which steps run: `warmup` rounds then `runs` rounds, each round visiting
/// every case once, each measured round starting one case later (A B C, B C A ...). A case with a smaller own run count (e.g. a
/// slow emulated VM) drops out of the later rounds.
pub fn schedule(case_runs: &[u32], plan: Plan) -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..plan.warmup {
        for case in 0..case_runs.len() {
            steps.push(Step {
                case,
                iteration: i,
                warmup: true,
            });
        }
    }
    let n = case_runs.len();
    for i in 0..plan.runs {
        // Each round starts one case later (A B C, B C A, C A B ...): no case always runs
        // right after the same one, whose asynchronous clean-up (a network namespace the
        // kernel destroys in a worker, dockerd removing a container after `docker run --rm`
        // returned) would otherwise always land on it. In the reference run `pier run` on
        // the host network always followed Docker's bridge and measured slower than `pier
        // run` on the bridge, which itself does more.
        let first = if n == 0 { 0 } else { i as usize % n };
        for case in (first..n).chain(0..first) {
            let runs = case_runs[case];
            if i < runs.min(plan.runs) {
                steps.push(Step {
                    case,
                    iteration: i,
                    warmup: false,
                });
            }
        }
    }
    steps
}

/// Something measured in every round: one environment (and variant) of one suite.
pub struct Case<'a> {
    /// Shown in progress and failure messages, e.g. `pier (run)`.
    pub label: String,
    /// How many measured runs this case takes part in (at most the plan's).
    pub runs: u32,
    /// Whether it takes part in warm-up rounds.
    pub warmup: bool,
    /// Measures once; returns the samples of this iteration.
    pub run: Box<dyn FnMut(u32) -> Result<Vec<Sample>> + 'a>,
}

/// A case that stopped because it failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// Suite.
    pub suite: String,
    /// Case label.
    pub case: String,
    /// The error, on one line.
    pub error: String,
}

/// A case is dropped after this many failed steps (one failure may be a fluke on a
/// shared machine; more would waste the time budget).
pub const MAX_FAILURES: u32 = 2;

/// Runs `cases` according to `plan`, interleaved, with a progress bar labelled `suite`.
/// A failing case is reported and dropped after [`MAX_FAILURES`]; the others go on.
pub fn execute(
    suite: &str,
    cases: &mut [Case],
    plan: Plan,
    show_progress: bool,
) -> (Vec<Sample>, Vec<Failure>) {
    let runs: Vec<u32> = cases.iter().map(|c| c.runs).collect();
    let steps: Vec<Step> = schedule(&runs, plan)
        .into_iter()
        .filter(|s| !s.warmup || cases[s.case].warmup)
        .collect();
    let bar = progress_bar(suite, steps.len() as u64, show_progress);
    let mut failures_of = vec![0u32; cases.len()];
    let mut last_error = vec![String::new(); cases.len()];
    let mut samples = Vec::new();
    for step in steps {
        // Interrupted: no new launch while the clean-up runs (it ends the process).
        crate::interrupt::hold_if_interrupted();
        let case = &mut cases[step.case];
        if failures_of[step.case] >= MAX_FAILURES {
            bar.inc(1);
            continue;
        }
        bar.set_message(format!(
            "{}{} #{}",
            case.label,
            if step.warmup { " warm-up" } else { "" },
            step.iteration + 1
        ));
        match (case.run)(step.iteration) {
            Ok(s) if !step.warmup => samples.extend(s),
            Ok(_) => {}
            Err(e) => {
                failures_of[step.case] += 1;
                let msg = format!("{e:#}").replace('\n', " ");
                bar.println(format!("{suite}: {} failed: {msg}", case.label));
                last_error[step.case] = msg;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let failures = cases
        .iter()
        .enumerate()
        .filter(|(i, _)| failures_of[*i] > 0)
        .map(|(i, c)| Failure {
            suite: suite.to_string(),
            case: c.label.clone(),
            error: format!(
                "{} failed step(s){}: {}",
                failures_of[i],
                if failures_of[i] >= MAX_FAILURES {
                    ", dropped"
                } else {
                    ""
                },
                last_error[i]
            ),
        })
        .collect();
    (samples, failures)
}

fn progress_bar(suite: &str, len: u64, show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{elapsed_precise}] {bar:30} {pos}/{len} ETA {eta:>4} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(suite.to_string());
    bar
}

/// Builds samples of one suite and run.
#[derive(Debug, Clone)]
pub struct SampleMaker {
    /// Run identifier.
    pub run_id: String,
    /// Suite name.
    pub suite: String,
}

impl SampleMaker {
    /// One sample of `env` taken now.
    #[allow(clippy::too_many_arguments)]
    pub fn make(
        &self,
        metric: &str,
        unit: &str,
        env: &str,
        variant: &str,
        iteration: u32,
        value: f64,
        accelerator: Option<String>,
    ) -> Sample {
        Sample {
            run_id: self.run_id.clone(),
            suite: self.suite.clone(),
            metric: metric.to_string(),
            unit: unit.to_string(),
            environment: env.to_string(),
            variant: variant.to_string(),
            iteration,
            value,
            accelerator,
            timestamp: crate::clock::now_rfc3339(),
        }
    }
}

/// Restricts this process (and the children it starts) to `cpus`.
pub fn pin_to(cpus: &[usize]) -> Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &c in cpus {
        set.set(c)
            .with_context(|| format!("CPU {c} out of range"))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("sched_setaffinity to CPUs {cpus:?}"))
}

/// Parses a CPU list such as `1`, `0-1` or `0,2-3`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.parse().with_context(|| format!("bad CPU {a:?}"))?,
                    b.parse().with_context(|| format!("bad CPU {b:?}"))?,
                );
                out.extend(a..=b);
            }
            None => out.push(part.parse().with_context(|| format!("bad CPU {part:?}"))?),
        }
    }
    anyhow::ensure!(!out.is_empty(), "empty CPU list {s:?}");
    Ok(out)
}

/// The end-of-run table: every summary row with its median, interval and ratio.
pub fn summary_table(samples: &[Sample]) -> String {
    let rows = record::summarize(samples);
    let mut out = format!(
        "{:<8} {:<28} {:<22} {:>4} {:>11} {:>23} {:>8}\n",
        "suite", "metric", "environment", "n", "median", "95% CI", "/native"
    );
    for r in rows {
        let env = if r.variant.is_empty() {
            r.environment.clone()
        } else {
            format!("{} ({})", r.environment, r.variant)
        };
        out.push_str(&format!(
            "{:<8} {:<28} {:<22} {:>4} {:>11} {:>23} {:>8}\n",
            r.suite,
            format!("{} [{}]", r.metric, r.unit),
            env,
            r.n,
            crate::format::num(r.median),
            format!(
                "{}–{}",
                crate::format::num(r.ci_low),
                crate::format::num(r.ci_high)
            ),
            r.ratio_to_native.map_or("-".into(), crate::format::num)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpu_list("x").is_err());
    }
}
