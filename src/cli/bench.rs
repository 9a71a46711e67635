//! `pier bench`: the arguments are defined by the bench crate; this only hands them over.

/// Runs the benchmark harness.
pub fn bench(args: pier_bench::cli::Args) -> anyhow::Result<i32> {
    pier_bench::run(args)
}
