//! `pier-bench`: the benchmark harness as a program of its own, which `pier bench` runs in its
//! place (so that pier's other commands do not link the harness). Takes the same arguments as
//! `pier bench`.

use clap::{Args, FromArgMatches};
use pier_bench::cli::launch;
use pier_oci::error::one_line;
use std::path::PathBuf;

fn main() {
    // As `pier` does: end quietly when the reader of our output goes away.
    // SAFETY: setting a signal disposition to the default before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let command = pier_bench::cli::Args::augment_args(
        clap::Command::new(launch::PROGRAM)
            .bin_name("pier bench")
            .version(env!("CARGO_PKG_VERSION")),
    );
    let args = match command
        .try_get_matches()
        .and_then(|m| pier_bench::cli::Args::from_arg_matches(&m))
    {
        Ok(a) => a,
        Err(e) => {
            // As `pier` exits on a command-line error.
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match pier_bench::run(args, pier_binary()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pier: {}", one_line(&e));
            125
        }
    };
    std::process::exit(code);
}

/// The pier binary to measure: the one that ran this program (`pier bench`), else `pier`
/// beside this program or on `PATH`, else the name beside this program, which the pier
/// environments then report as missing.
fn pier_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(launch::PIER_ENV) {
        return PathBuf::from(p);
    }
    launch::beside_or_on_path("pier").unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join("pier")))
            .unwrap_or_else(|| PathBuf::from("pier"))
    })
}
