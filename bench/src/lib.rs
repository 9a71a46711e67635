//! pier benchmark harness: the parts that do not depend on the container runtime.
//!
//! * [`payload`]: the static `pier-payload` program run inside every environment
//!   (DGEMM GFLOPS, STREAM, start-up timestamp, TCP throughput/latency, jitter).
//! * [`stats`]: medians, percentiles and bootstrap confidence intervals.
//! * [`record`]: raw sample CSV, summary CSV and the `environment.json` machine record.
//! * [`plot`]: SVG + PNG charts (grouped bars, start-up CDF, jitter histogram).
//! * [`envs`]: how each environment runs the payload (native, pier, runc/crun, podman, VM).
//! * [`suites`]: cpu, mem, startup, net, jitter: what each measures, as samples.
//! * [`harness`]: the plan (warm-up, interleaved runs), progress bars, summary table.
//! * [`cli`] and [`session`]: `pier bench`'s arguments and one run from start to report.
//! * [`report`]: `report.md` with tables, plots and a side-by-side with published figures;
//!   [`headlines`] adds the harness's own section.

pub mod cli;
pub mod clock;
pub mod environment;
pub mod envs;
pub mod harness;
pub mod headlines;
pub mod payload;
pub mod plot;
pub mod record;
pub mod reference;
pub mod report;
pub mod session;
pub mod stats;
pub mod suites;

/// `pier bench`: runs the suites and writes `results/<timestamp>/`; returns the exit code
/// (1 if any case failed, after writing the report).
pub fn run(args: cli::Args) -> anyhow::Result<i32> {
    session::run(args)
}
