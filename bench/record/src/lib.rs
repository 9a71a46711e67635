//! What a `pier bench` run records and how it is summarised, shared by the harness
//! (pier-bench), the payload (pier-payload) and lab 10 (pier-labs) without the harness's
//! heavy dependencies.
//!
//! * [`record`]: raw `samples.csv` and the per-metric `summary.csv`.
//! * [`environment`]: the machine record, `environment.json`.
//! * [`stats`]: medians, percentiles and bootstrap confidence intervals.
//! * [`format`](mod@format): how numbers and intervals are written in reports.
//! * [`storage`]: the file system a bench wrote to, in `environment.json`.
//! * [`clock`]: nanosecond timestamps and RFC 3339 dates.

pub mod clock;
pub mod environment;
pub mod format;
pub mod record;
pub mod stats;
pub mod storage;
