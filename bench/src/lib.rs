//! pier benchmark harness: runs the payload in every environment and reports.
//!
//! The `pier-bench` binary (src/main.rs) is what `pier bench` runs, so that the `pier` binary's
//! other commands do not link the harness's dependencies (plotting, progress bars, HTML).
//! Beside this crate, under `bench/`: `payload/` (pier-payload, the static workload program:
//! DGEMM GFLOPS, STREAM, start-up timestamp, TCP throughput/latency, jitter), `record/`
//! (pier-record: the files a run writes, statistics, number formatting, re-exported here) and
//! `cli/` (pier-bench-cli: `pier bench`'s arguments, re-exported as [`cli`]).
//!
//! * [`payload`]: building the static payload.
//! * [`stats`], [`record`], [`environment`], [`format`](mod@format), [`clock`]: from pier-record.
//! * [`plot`]: SVG + PNG charts (grouped bars, horizontal bar panels, CDF, histogram), every
//!   text placed by its measured extent, one colour-blind-safe colour per environment.
//! * [`envs`]: how each environment runs the payload (native, pier, runc/crun, podman,
//!   Docker, VM); [`interrupt`]: what they leave outside the process is removed on Ctrl-C.
//! * [`suites`]: cpu, mem, startup, net, jitter: what each measures, as samples.
//! * [`harness`]: the plan (warm-up, interleaved runs), progress bars, summary table.
//! * [`cli`] and [`session`]: `pier bench`'s arguments and one run from start to report.
//! * [`report`]: `report.md` and `report.html` from a result directory's raw files (also
//!   `pier bench report DIR`): [`figures`] chooses the plots, [`headlines`] gives the goals'
//!   verdicts ([`verdict`]: the whole interval decides), [`plausibility`] flags figures that
//!   cannot be true, [`peak`] is the machine's theoretical DGEMM peak, [`published`] sets
//!   figures from other machines beside ours as context, [`html`] makes the page.
//! * [`pods_report`]: the report's section on the pods suite (CRI pod start-up per handler).
//! * [`notes`]: what a run found out besides samples (`notes.json`).

pub use pier_bench_cli as cli;
pub use pier_record::{clock, environment, format, record, stats};

pub mod envs;
pub mod figures;
pub mod harness;
pub mod headlines;
pub mod html;
pub mod interrupt;
pub mod notes;
pub mod payload;
pub mod peak;
pub mod plausibility;
pub mod plot;
pub mod pods_report;
pub mod procmem;
pub mod published;
pub mod reference;
pub mod report;
pub mod scale_report;
pub mod session;
pub mod suites;
pub mod verdict;

/// `pier bench`: runs the suites and writes `results/<timestamp>/`; returns the exit code
/// (1 if any case failed, after writing the report). `pier` is the pier binary measured.
pub fn run(args: cli::Args, pier: std::path::PathBuf) -> anyhow::Result<i32> {
    let result = session::run(args, pier);
    // Interrupted meanwhile: the clean-up thread ends the process, with its own status.
    interrupt::hold_if_interrupted();
    result
}
