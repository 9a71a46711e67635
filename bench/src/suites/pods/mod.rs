//! pods: pod start-up through CRI, the way kubelet starts a pod, with the runtime handlers
//! `pier`, `runc` and `crun` under one private containerd ([`cluster`]).
//!
//! Each measured pod ([`pod`]) is RunPodSandbox + CreateContainer (busybox `echo ready`) +
//! StartContainer until the line `ready` is in the container's CRI log file, then stop and
//! remove. The handlers take turns, round after round (the first of each round rotates), so
//! that the machine's noise falls on all alike, after `warm-up` unmeasured rounds. Metrics
//! per pod (ms): `runp_ms`, `create_ms`, `start_ms` (the three calls), `output_ms` (from
//! StartContainer's return to the line), `pod_startup_ms` (from RunPodSandbox's call to the
//! line) and `teardown_ms` (untimed by the start-up; its own figure).

pub mod cluster;
pub mod pod;

use super::{Ctx, SuiteOutput};
use crate::harness::Failure;
use pod::Timings;

/// The suite's name in the samples.
pub const SUITE: &str = "pods";

/// The variant of every sample: the handler ran under containerd's CRI plugin.
pub const VARIANT: &str = "cri-containerd";

/// The handlers measured, in the order of the tables.
pub const HANDLERS: [&str; 3] = ["pier", "runc", "crun"];

/// A round's failures after which a handler is dropped from the rest of the run.
const MAX_FAILURES: u32 = 3;

/// The handlers of round `round`, rotated so that each comes first in turn.
pub fn order<T: Clone>(handlers: &[T], round: u32) -> Vec<T> {
    if handlers.is_empty() {
        return Vec::new();
    }
    let k = round as usize % handlers.len();
    handlers[k..]
        .iter()
        .chain(&handlers[..k])
        .cloned()
        .collect()
}

/// The samples of one pod.
pub fn metrics(t: &Timings) -> [(&'static str, f64); 6] {
    [
        ("pod_startup_ms", t.total),
        ("runp_ms", t.runp),
        ("create_ms", t.create),
        ("start_ms", t.start),
        ("output_ms", t.output),
        ("teardown_ms", t.teardown),
    ]
}

/// Runs the suite: `ctx.settings.pods_n` measured pods per handler of
/// `ctx.settings.pods_handlers`.
pub fn run(ctx: &Ctx) -> SuiteOutput {
    let mut out = SuiteOutput::default();
    let fail = |case: &str, error: String| Failure {
        suite: SUITE.into(),
        case: case.into(),
        error,
    };
    let n = ctx.settings.pods_n;
    let warmup = ctx.settings.warmup;
    let started = match cluster::start(ctx.setup, &ctx.settings.pods_handlers) {
        Ok(s) => s,
        Err(e) => {
            out.failures
                .push(fail("containerd", pier_oci::error::one_line(&e)));
            return out;
        }
    };
    let shared = started.shared.clone();
    let cleanup = crate::interrupt::on_interrupt("the pods suite's containerd", move || {
        drop(shared.lock().map(|mut s| s.take()));
    });
    let versions: Vec<String> = started
        .handlers
        .iter()
        .map(|h| match h.as_str() {
            "pier" => format!("pier {}", env!("CARGO_PKG_VERSION")),
            tool => crate::environment::tool_version(tool).unwrap_or_else(|| tool.to_string()),
        })
        .collect();
    out.notes
        .push(format!("pods: handlers' versions: {}", versions.join("; ")));
    for m in &started.missing {
        out.notes.push(format!("pods: handler left out: {m}"));
    }
    out.notes.push(format!(
        "pods: {n} pods per handler ({}), round-robin after {warmup} warm-up round(s), one containerd ({})",
        started.handlers.join(", "),
        containerd_version()
    ));
    eprintln!(
        "bench: pods: {n} pods per handler ({}) through {}",
        started.handlers.join(", "),
        started.endpoint
    );
    let maker = ctx.maker(SUITE);
    let mut client = match pier_cri::Client::connect(&started.endpoint) {
        Ok(c) => c,
        Err(e) => {
            out.failures.push(fail("containerd", e.to_string()));
            return out;
        }
    };
    let logs = started.dir.join("logs");
    let mut failures = vec![0u32; started.handlers.len()];
    let rounds = warmup + n;
    for round in 0..rounds {
        crate::interrupt::hold_if_interrupted();
        let measured = round >= warmup;
        let indexed: Vec<usize> = (0..started.handlers.len()).collect();
        for h in order(&indexed, round) {
            if failures[h] >= MAX_FAILURES {
                continue;
            }
            let handler = &started.handlers[h];
            let name = format!("pb-{handler}-{round}");
            match pod::measure(&mut client, handler, &name, &logs, cluster::CGROUP_PARENT) {
                Ok(t) if measured => {
                    let i = round - warmup + 1;
                    for (metric, v) in metrics(&t) {
                        out.samples
                            .push(maker.make(metric, "ms", handler, VARIANT, i, v, None));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failures[h] += 1;
                    out.failures
                        .push(fail(handler, pier_oci::error::one_line(&e)));
                }
            }
        }
        if ctx.progress && measured {
            eprint!("\rbench: pods: round {}/{n}", round - warmup + 1);
        }
    }
    if ctx.progress {
        eprintln!();
    }
    drop(client);
    // The containerd goes now (its pods, mounts, bridge, cgroup parent), then its directory.
    drop(started.shared.lock().map(|mut s| s.take()));
    drop(cleanup);
    out
}

/// containerd's version line, or `containerd` when it does not say.
fn containerd_version() -> String {
    crate::environment::tool_version("containerd").unwrap_or_else(|| "containerd".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_handler_comes_first_in_turn() {
        let h = ["pier", "runc", "crun"];
        assert_eq!(order(&h, 0), ["pier", "runc", "crun"]);
        assert_eq!(order(&h, 1), ["runc", "crun", "pier"]);
        assert_eq!(order(&h, 2), ["crun", "pier", "runc"]);
        assert_eq!(order(&h, 3), order(&h, 0));
        assert!(order::<&str>(&[], 1).is_empty());
    }

    #[test]
    fn the_phases_and_the_whole_are_samples() {
        let t = Timings {
            runp: 1.0,
            create: 2.0,
            start: 3.0,
            output: 4.0,
            total: 10.5,
            teardown: 6.0,
        };
        let m = metrics(&t);
        assert_eq!(m[0], ("pod_startup_ms", 10.5));
        assert_eq!(
            m.iter().map(|(k, _)| *k).collect::<Vec<_>>()[1..5],
            ["runp_ms", "create_ms", "start_ms", "output_ms"]
        );
    }
}
