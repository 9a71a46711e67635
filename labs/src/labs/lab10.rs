//! Lab 10: container vs VM — measure start-up yourself, then run `pier bench` and read its
//! report.

use super::number;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};

const N: u32 = 10;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "10-container-vs-vm",
        title: "Containers and virtual machines, measured",
        minutes: 45,
        host_ports: &[],
        networks: &[],
        prepare: super::ensure_busybox,
        tasks: vec![
            Task {
                id: "startup",
                title: "you timed `pier run --rm busybox true` yourself",
                after: &[],
                answer: Some("startup-ms"),
                hint: "time pier run --rm busybox true; record the `real` time in milliseconds: pier lab answer 10 startup-ms 45",
                check: startup,
            },
            Task {
                id: "report",
                title: "you ran pier bench and found its report",
                after: &[],
                answer: Some("report"),
                hint: "pier bench --suite startup,cpu --quick prints where it wrote report.md: pier lab answer 10 report <PATH>",
                check: report,
            },
            Task {
                id: "native",
                title: "you read the native GFLOPS from the report",
                after: &["report"],
                answer: Some("native-gflops"),
                hint: "The cpu suite's table has one row per environment: pier lab answer 10 native-gflops <N>",
                check: native,
            },
            Task {
                id: "container",
                title: "you read the container GFLOPS and compared them",
                after: &["native"],
                answer: Some("container-gflops"),
                hint: "pier lab answer 10 container-gflops <N>; a container runs the same CPU instructions as the host",
                check: container,
            },
        ],
    }
}

fn startup(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "startup-ms") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    match number(&given) {
        Some(v) if v < 1.0 => Outcome::fail(format!(
            "{v} ms is too fast to be true: did you give seconds? (0.045 s = 45 ms)"
        )),
        Some(v) if v <= 10_000.0 => Outcome::pass(format!("{v} ms")),
        Some(v) => Outcome::fail(format!(
            "{v} ms is more than 10 s: is busybox bootstrapped and the machine idle?"
        )),
        None => Outcome::fail(format!("{given:?} is not a number of milliseconds")),
    }
}

fn report(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "report") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let text = match std::fs::read_to_string(&given) {
        Ok(t) => t.to_lowercase(),
        Err(e) => return Outcome::fail(format!("cannot read {given}: {e}")),
    };
    if text.contains("startup") || text.contains("start-up") {
        Outcome::pass(given)
    } else {
        Outcome::fail(format!(
            "{given} has no start-up results: run the suites startup and cpu"
        ))
    }
}

fn gflops(ctx: &Ctx, key: &str) -> Result<f64, Outcome> {
    let given = ctx.answer(N, key).map_err(Outcome::from)?;
    match number(&given) {
        Some(v) if v > 0.0 && v < 100_000.0 => Ok(v),
        _ => Err(Outcome::fail(format!(
            "{given:?} is not a GFLOPS figure such as 12.3"
        ))),
    }
}

fn native(ctx: &Ctx) -> Outcome {
    match gflops(ctx, "native-gflops") {
        Ok(v) => Outcome::pass(format!("{v} GFLOPS")),
        Err(o) => o,
    }
}

fn container(ctx: &Ctx) -> Outcome {
    let (n, c) = match (
        gflops(ctx, "native-gflops"),
        gflops(ctx, "container-gflops"),
    ) {
        (Ok(n), Ok(c)) => (n, c),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let ratio = c / n;
    if (0.5..=1.5).contains(&ratio) {
        Outcome::pass(format!("container/native = {ratio:.2}"))
    } else {
        Outcome::fail(format!("container/native = {ratio:.2}: a container runs natively, so expect close to 1; did you copy a number from another row or unit?"))
    }
}
