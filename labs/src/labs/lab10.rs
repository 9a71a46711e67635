//! Lab 10: container vs VM — measure start-up yourself, then run `pier bench` and read its
//! report. Every number the student records is compared with the run it came from: the
//! `summary.csv` and `environment.json` beside the report they name.

use super::number;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use pier_record::environment::EnvironmentRecord;
use pier_record::record::{read_summary, SummaryRow, NATIVE};
use std::path::{Path, PathBuf};

const N: u32 = 10;

/// How close a figure copied from the report must be to the median in `summary.csv`: the
/// report prints about four significant digits, so a copied figure is within 0.05%; 0.5%
/// leaves room for one digit less, not for a guess. A figure exactly as the report prints it
/// always counts (small ones get three decimals: 0.007).
const COPY_TOLERANCE: f64 = 0.005;

/// How far the student's own `time pier run` may be from the report's `pier run` start-up
/// (launch to exit): a factor either way (one machine, two moments, a few runs each).
const STARTUP_FACTOR: f64 = 3.0;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "10-container-vs-vm",
        title: tr(
            "Containers and virtual machines, measured",
            "컨테이너와 가상 머신, 측정으로 비교하기",
        ),
        minutes: 45,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: super::ensure_busybox,
        tasks: vec![
            Task {
                id: "report",
                title: tr(
                    "you ran pier bench (startup and cpu) and found its report",
                    "pier bench(startup과 cpu)를 실행하고 그 보고서를 찾았다",
                ),
                after: &[],
                answer: Some("report"),
                hint: tr(
                    "pier bench --suite startup,cpu --quick prints where it wrote report.md: pier lab answer 10 report <PATH>",
                    "pier bench --suite startup,cpu --quick이 report.md를 쓴 위치를 출력합니다: pier lab answer 10 report <PATH>",
                ),
                check: report,
            },
            Task {
                id: "startup",
                title: tr(
                    "you timed `pier run --rm busybox true` yourself",
                    "`pier run --rm busybox true`의 시간을 직접 쟀다",
                ),
                after: &["report"],
                answer: Some("startup-ms"),
                hint: tr(
                    "time pier run --rm busybox true, five times; record the median `real` time in milliseconds: pier lab answer 10 startup-ms 45",
                    "time pier run --rm busybox true를 다섯 번; `real` 시간의 중앙값을 밀리초로 기록하세요: pier lab answer 10 startup-ms 45",
                ),
                check: startup,
            },
            Task {
                id: "native",
                title: tr(
                    "you read a native GFLOPS median from the report",
                    "보고서에서 네이티브 GFLOPS 중앙값을 읽었다",
                ),
                after: &["report"],
                answer: Some("native-gflops"),
                hint: tr(
                    "The CPU table has one row per metric (matrix size, threads); copy the native column of one row: pier lab answer 10 native-gflops <N>",
                    "CPU 표는 지표(행렬 크기, 스레드 수)마다 한 행입니다. 한 행의 native 열을 옮기세요: pier lab answer 10 native-gflops <N>",
                ),
                check: native,
            },
            Task {
                id: "container",
                title: tr(
                    "you read the pier container's GFLOPS on the same metric",
                    "같은 지표에서 pier 컨테이너의 GFLOPS를 읽었다",
                ),
                after: &["native"],
                answer: Some("container-gflops"),
                hint: tr(
                    "Same row, pier column: pier lab answer 10 container-gflops <N>; a container runs the same CPU instructions as the host",
                    "같은 행의 pier 열: pier lab answer 10 container-gflops <N>; 컨테이너는 호스트와 같은 CPU 명령어를 실행합니다",
                ),
                check: container,
            },
            Task {
                id: "vm",
                title: tr(
                    "you read the VM's GFLOPS (or found that no VM ran)",
                    "VM의 GFLOPS를 읽었다(또는 VM이 실행되지 않았음을 확인했다)",
                ),
                after: &["report"],
                answer: Some("vm-gflops"),
                hint: tr(
                    "The section \"The VM\" lists the guest's DGEMM GFLOPS: pier lab answer 10 vm-gflops <N>; if the report has no VM, answer none",
                    "\"The VM\" 절에 게스트의 DGEMM GFLOPS가 있습니다: pier lab answer 10 vm-gflops <N>; 보고서에 VM이 없으면 none으로 답하세요",
                ),
                check: vm,
            },
            Task {
                id: "accel",
                title: tr(
                    "you found which accelerator the VM used",
                    "VM이 쓴 가속기를 찾았다",
                ),
                after: &["report"],
                answer: Some("accelerator"),
                hint: tr(
                    "The VM section's heading and environment.json (qemu_accelerator) say kvm or tcg: pier lab answer 10 accelerator <kvm|tcg>; none if no VM ran",
                    "VM 절의 제목과 environment.json(qemu_accelerator)에 kvm 또는 tcg가 적혀 있습니다: pier lab answer 10 accelerator <kvm|tcg>; VM이 실행되지 않았으면 none",
                ),
                check: accel,
            },
        ],
    }
}

/// The run the student named: its `summary.csv` and `environment.json`.
struct Run {
    dir: PathBuf,
    summary: Vec<SummaryRow>,
    environment: EnvironmentRecord,
}

impl Run {
    /// Medians of `suite`'s rows in `environment` (by metric and variant).
    fn medians(&self, suite: &str, pick: impl Fn(&SummaryRow) -> bool) -> Vec<&SummaryRow> {
        self.summary
            .iter()
            .filter(|r| r.suite == suite && pick(r))
            .collect()
    }

    /// The VM's rows (environment `qemu-kvm` or `qemu-tcg`).
    fn vm_rows(&self, suite: &str) -> Vec<&SummaryRow> {
        self.medians(suite, |r| r.environment.starts_with("qemu"))
    }
}

/// Reads the run beside the report the student recorded, or says what is wrong with it.
fn run(ctx: &Ctx) -> Result<Run, Outcome> {
    let given = ctx.answer(N, "report").map_err(Outcome::from)?;
    let path = Path::new(&given);
    if path.file_name().and_then(|n| n.to_str()) != Some("report.md") || !path.is_file() {
        return Err(Outcome::fail(format!(
            "{given} is not a report.md written by pier bench (it prints the path in its last lines)"
        )));
    }
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let summary = read_summary(&dir.join("summary.csv")).map_err(|e| {
        Outcome::fail(format!(
            "no summary.csv beside {given} ({e:#}): point at the report of a pier bench run"
        ))
    })?;
    let environment = EnvironmentRecord::read(&dir.join("environment.json"))
        .map_err(|e| Outcome::fail(format!("no environment.json beside {given} ({e:#})")))?;
    Ok(Run {
        dir,
        summary,
        environment,
    })
}

fn report(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    for suite in ["startup", "cpu"] {
        if !run.summary.iter().any(|r| r.suite == suite) {
            return Outcome::fail(format!(
                "the run in {} has no {suite} results: run pier bench --suite startup,cpu",
                run.dir.display()
            ));
        }
    }
    // A run from before the lab started (the reference run in the repository, a classmate's)
    // is not this student's measurement.
    let taken = pier_oci::time::parse_rfc3339(&run.environment.date).ok();
    if let (Some(started), Some(taken)) = (ctx.started_at(N), taken) {
        // environment.json keeps whole seconds.
        if taken + std::time::Duration::from_secs(1) < started {
            return Outcome::fail(format!(
                "that run was made on {}, before you started this lab: run pier bench yourself",
                run.environment.date
            ));
        }
    }
    Outcome::pass(format!("run of {}", run.environment.date))
}

/// Whether `given` is `median` as the report prints it (see [`COPY_TOLERANCE`]).
fn copied(given: f64, median: f64) -> bool {
    let printed = pier_record::format::num(median).parse::<f64>().ok();
    printed.is_some_and(|p| (given - p).abs() <= p.abs() * 1e-9)
        || (given - median).abs() <= median.abs() * COPY_TOLERANCE
}

/// The student's figure for `key`, as a number.
fn figure(ctx: &Ctx, key: &str) -> Result<f64, Outcome> {
    let given = ctx.answer(N, key).map_err(Outcome::from)?;
    number(&given).ok_or_else(|| {
        Outcome::fail(format!(
            "{given:?} is not a figure such as 50.38 (copy it from the report)"
        ))
    })
}

fn startup(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let given = match figure(ctx, "startup-ms") {
        Ok(v) => v,
        Err(o) => return o,
    };
    if given < 1.0 {
        return Outcome::fail(format!(
            "{given} ms is too fast to be true: did you give seconds? (0.045 s = 45 ms)"
        ));
    }
    // `pier run` on the host network (run) and on the default bridge (run-bridge), as the
    // student's command runs it.
    let pier_run = run.medians("startup", |r| {
        r.metric == "launch_to_exit" && r.environment == "pier" && r.variant.starts_with("run")
    });
    let Some(closest) = pier_run.iter().min_by(|a, b| {
        (given / a.median)
            .ln()
            .abs()
            .total_cmp(&(given / b.median).ln().abs())
    }) else {
        return Outcome::fail("the report has no `pier run` start-up row: run the startup suite with the pier environment");
    };
    let ratio = given / closest.median;
    if (1.0 / STARTUP_FACTOR..=STARTUP_FACTOR).contains(&ratio) {
        Outcome::pass(format!(
            "{given} ms; the report's pier ({}) launch → exit is {:.1} ms",
            closest.variant, closest.median
        ))
    } else {
        Outcome::fail(format!(
            "{given} ms is more than {STARTUP_FACTOR}x away from the report's pier run start-up ({:.1} ms, launch → exit): time it again, five times, and take the median",
            closest.median
        ))
    }
}

/// The native cpu rows whose median the student's `native-gflops` matches.
fn native_rows(run: &Run, given: f64) -> Vec<&SummaryRow> {
    run.medians("cpu", |r| r.environment == NATIVE && r.unit == "GFLOPS")
        .into_iter()
        .filter(|r| copied(given, r.median))
        .collect()
}

fn native(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let given = match figure(ctx, "native-gflops") {
        Ok(v) => v,
        Err(o) => return o,
    };
    match native_rows(&run, given).first() {
        Some(r) => Outcome::pass(format!("{given} GFLOPS, native {}", r.metric)),
        None => Outcome::fail(format!(
            "{given} is none of the native GFLOPS medians in {}: copy a figure from the CPU table's native column",
            run.dir.join("summary.csv").display()
        )),
    }
}

fn container(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let (n, c) = match (
        figure(ctx, "native-gflops"),
        figure(ctx, "container-gflops"),
    ) {
        (Ok(n), Ok(c)) => (n, c),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let metrics: Vec<&str> = native_rows(&run, n)
        .iter()
        .map(|r| r.metric.as_str())
        .collect();
    let pier = run.medians("cpu", |r| {
        r.environment == "pier" && metrics.contains(&r.metric.as_str())
    });
    match pier.iter().find(|r| copied(c, r.median)) {
        Some(r) => Outcome::pass(format!(
            "{} container/native = {:.2}",
            r.metric,
            c / n
        )),
        None if run
            .medians("cpu", |r| r.unit == "GFLOPS")
            .iter()
            .any(|r| copied(c, r.median)) =>
        {
            Outcome::fail(format!(
                "{c} is in the report, but not in the pier column of the row ({}) your native figure came from",
                metrics.join(", ")
            ))
        }
        None => Outcome::fail(format!(
            "{c} is not pier's GFLOPS median for {}: copy it from the same row of the CPU table",
            metrics.join(", ")
        )),
    }
}

/// Answers meaning "there was no VM in this run".
fn says_none(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "none" | "no" | "-" | "n/a"
    )
}

fn vm(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let given = match ctx.answer(N, "vm-gflops") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let rows = run.vm_rows("cpu");
    if rows.is_empty() {
        return if says_none(&given) {
            Outcome::pass("no VM ran in this run (is qemu-system-x86_64 installed?)")
        } else {
            Outcome::fail(format!(
                "this run has no VM row (no qemu-* environment in summary.csv), so {given:?} cannot come from it: answer none"
            ))
        };
    }
    let Some(v) = number(&given) else {
        return Outcome::fail(format!(
            "{given:?} is not a GFLOPS figure: the report's VM section lists the guest's DGEMM results"
        ));
    };
    match rows.iter().find(|r| copied(v, r.median)) {
        Some(r) => {
            let native = run
                .medians("cpu", |n| n.environment == NATIVE && n.metric == r.metric)
                .first()
                .map(|n| format!(", native is {:.0}x as fast", n.median / v))
                .unwrap_or_default();
            Outcome::pass(format!("{v} GFLOPS in {} ({}){native}", r.environment, r.metric))
        }
        None => Outcome::fail(format!(
            "{v} is not a GFLOPS median of the VM in summary.csv: copy it from the report's VM section"
        )),
    }
}

fn accel(ctx: &Ctx) -> Outcome {
    let run = match run(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let given = match ctx.answer(N, "accelerator") {
        Ok(v) => v.trim().to_ascii_lowercase(),
        Err(e) => return e.into(),
    };
    let real = run
        .environment
        .qemu_accelerator
        .clone()
        .filter(|_| !run.vm_rows("cpu").is_empty() || !run.vm_rows("startup").is_empty());
    match real {
        None if says_none(&given) => Outcome::pass("no VM ran"),
        None => Outcome::fail(format!(
            "no VM ran in this run (environment.json has no qemu_accelerator), so {given:?} cannot be right: answer none"
        )),
        Some(a) if given == a.to_ascii_lowercase() => Outcome::pass(match a.as_str() {
            "kvm" => "kvm: hardware virtualisation, guest code runs on the CPU".to_string(),
            "tcg" => "tcg: QEMU translated every guest instruction in software".to_string(),
            other => other.to_string(),
        }),
        Some(_) => Outcome::fail(format!(
            "{given:?} is not what this run used: look at the VM section's heading or qemu_accelerator in environment.json"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_figure_matches_and_a_rounded_guess_does_not() {
        // The report prints 50.38 for 50.3786...
        assert!(copied(50.38, 50.378_635));
        assert!(copied(50.4, 50.378_635));
        assert!(
            !copied(50.0, 50.378_635),
            "0.75% off is a guess, not a copy"
        );
        assert!(copied(0.226, 0.225_935));
        assert!(!copied(0.23, 0.225_935));
        // Printed with three decimals: 0.007 is how the report shows 0.00747.
        assert!(copied(0.007, 0.007_468));
        assert!(!copied(0.008, 0.007_468));
    }

    #[test]
    fn none_means_no_vm() {
        assert!(says_none(" None "));
        assert!(!says_none("0"));
    }
}
