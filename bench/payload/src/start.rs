//! `start`: report the instant the payload began executing, then exit.
//!
//! The harness records the launch instant itself and subtracts; keeping this path free of
//! any work (no parsing beyond argv, no allocation-heavy setup) keeps the figure honest.

use anyhow::{Context, Result};
use std::io::Write;

/// Prints `{"entry_ns": N}` on stdout.
pub fn run(entry_ns: u128) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"entry_ns\":{entry_ns}}}").context("writing entry timestamp to stdout")?;
    out.flush().context("flushing stdout")
}
