//! pier benchmark harness: the parts that do not depend on the container runtime.
//!
//! * [`payload`]: the static `pier-payload` program run inside every environment
//!   (DGEMM GFLOPS, STREAM, start-up timestamp, TCP throughput/latency, jitter).
//! * [`stats`]: medians, percentiles and bootstrap confidence intervals.
//! * [`record`]: raw sample CSV, summary CSV and the `environment.json` machine record.
//! * [`plot`]: SVG + PNG charts (grouped bars, start-up CDF, jitter histogram).
//! * [`envs`]: how each environment runs the payload (the QEMU guest so far).
//! * [`report`]: `report.md` with tables, plots and a side-by-side with published figures.

pub mod clock;
pub mod environment;
pub mod envs;
pub mod payload;
pub mod plot;
pub mod record;
pub mod reference;
pub mod report;
pub mod stats;
