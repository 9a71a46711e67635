//! `cargo bench --bench build`: how long `pier build` takes for a 5-step Dockerfile
//! (FROM busybox, RUN, COPY, RUN, CMD), cold (`--no-cache`: every step runs) and warm
//! (every step from the cache), using the built `pier` binary as root in a private state
//! directory. Prints min/median/max wall times and the slowest cached step.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

const PIER: &str = env!("CARGO_BIN_EXE_pier");
const ROUNDS: usize = 7;

fn pier(root: &std::path::Path, ctx: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(PIER)
        .args(args)
        .env("PIER_ROOT", root)
        .current_dir(ctx)
        .output()
        .expect("running pier");
    assert!(
        out.status.success(),
        "pier {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} min {:>8.1} ms   median {:>8.1} ms   max {:>8.1} ms   ({} rounds)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

/// The longest `(N.NNs)` step time in a build's output.
fn slowest_step(output: &str) -> f64 {
    output
        .lines()
        .filter_map(|l| {
            l.rsplit_once(" (")?
                .1
                .strip_suffix("s)")?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max)
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("build bench: needs root (containers); skipped");
        return;
    }
    let root = tempfile::tempdir().expect("temp root");
    let ctx = tempfile::tempdir().expect("temp context");
    std::fs::write(ctx.path().join("app.txt"), "payload\n").expect("writing app.txt");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\n\
         RUN echo prepared > /prepared\n\
         COPY app.txt /app/app.txt\n\
         RUN cat /prepared /app/app.txt > /app/all\n\
         CMD [\"cat\", \"/app/all\"]\n",
    )
    .expect("writing the Dockerfile");
    pier(root.path(), ctx.path(), &["image", "bootstrap", "busybox"]);

    let mut cold = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        pier(
            root.path(),
            ctx.path(),
            &["build", "--no-cache", "-t", "bench", "."],
        );
        cold.push(t.elapsed());
    }
    let mut warm = Vec::new();
    let mut slowest_cached: f64 = 0.0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let out = pier(root.path(), ctx.path(), &["build", "-t", "bench", "."]);
        warm.push(t.elapsed());
        assert_eq!(out.matches("Using cache").count(), 4, "{out}");
        slowest_cached = slowest_cached.max(slowest_step(&out));
    }
    println!("pier build, 5 steps (FROM busybox, RUN, COPY, RUN, CMD):");
    summary("cold (--no-cache)", cold);
    summary("warm (all cached)", warm);
    println!(
        "slowest cached step          {:.3} s (bar: under 1 s)",
        slowest_cached
    );
    let _ = Command::new(PIER)
        .args(["system", "prune"])
        .env("PIER_ROOT", root.path())
        .output();
}
