//! `pier bench`: the arguments are pier-bench-cli's (so `pier bench --help` and the book's CLI
//! reference come from pier itself); the harness is the `pier-bench` program, which runs in
//! this process's place, so that pier's other commands do not link the harness's dependencies.

use anyhow::{bail, Context};
use pier_bench_cli::launch;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Replaces this process with `pier-bench` (beside this executable, else on `PATH`), given the
/// words that followed `bench`; returns only if that fails.
pub fn bench(_args: pier_bench_cli::Args) -> anyhow::Result<i32> {
    // clap has checked the words already (and answered --help); pier-bench parses them again.
    let words = words_after_bench(std::env::args_os().skip(1));
    let pier = std::env::current_exe().context("finding the pier executable")?;
    let Some(program) = launch::beside_or_on_path(launch::PROGRAM) else {
        bail!(
            "pier bench runs the {} program, which is neither beside {} nor on PATH: build it \
             with `cargo build --release -p pier-bench` (or install it: `cargo install --path \
             bench`)",
            launch::PROGRAM,
            pier.display()
        );
    };
    let error = Command::new(&program)
        .args(words)
        .env(launch::PIER_ENV, &pier)
        .exec();
    Err(error).with_context(|| format!("running {}", program.display()))
}

/// The words after `bench` in pier's arguments (without the program name), less pier's global
/// `--root DIR` / `--root=DIR` wherever it stands: the bench keeps its own state (`--cache`).
fn words_after_bench(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let mut words = Vec::new();
    let (mut after_bench, mut options_ended) = (false, false);
    while let Some(arg) = args.next() {
        if !options_ended {
            if arg == "--root" {
                args.next();
                continue;
            }
            if arg.as_bytes().starts_with(b"--root=") {
                continue;
            }
            options_ended = after_bench && arg == "--";
        }
        if after_bench {
            words.push(arg);
        } else {
            after_bench = arg == "bench";
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(line: &str) -> Vec<OsString> {
        words_after_bench(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn forwards_the_words_after_bench_without_roots() {
        assert_eq!(
            after("bench --quick --env native"),
            ["--quick", "--env", "native"]
        );
        assert!(after("bench").is_empty());
        assert_eq!(
            after("--root /r bench --root=/s --suite cpu --root /t"),
            ["--suite", "cpu"]
        );
        assert_eq!(after("--root=/r bench report --root /s x"), ["report", "x"]);
        // A directory named like the subcommand is --root's value, not the subcommand.
        assert_eq!(after("--root bench bench --full"), ["--full"]);
        assert_eq!(after("bench report -- --root"), ["report", "--", "--root"]);
    }
}
