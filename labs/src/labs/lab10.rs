//! Lab 10: container vs VM — measure start-up yourself, then run `pier bench` and read its
//! report. Every number the student records is compared with the run it came from: the
//! `summary.csv` and `environment.json` beside the report they name.

use super::number;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa};
use pier_engine::container::events::{Action, EventLog};
use pier_record::environment::EnvironmentRecord;
use pier_record::record::{read_summary, SummaryRow, NATIVE};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
        return Err(Outcome::failed(
            format!("{given} is not a report.md written by pier bench (it prints the path in its last lines)"),
            format!(
                "{} pier bench가 쓴 report.md가 아닙니다 (pier bench는 마지막 몇 줄에 그 경로를 출력합니다)",
                josa(&given, Josa::EunNeun)
            ),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let summary = read_summary(&dir.join("summary.csv")).map_err(|e| {
        Outcome::failed(
            format!(
                "no summary.csv beside {given} ({e:#}): point at the report of a pier bench run"
            ),
            format!(
                "{given} 옆에 summary.csv가 없습니다({e:#}): pier bench 실행의 보고서를 가리키세요"
            ),
        )
    })?;
    let environment = EnvironmentRecord::read(&dir.join("environment.json")).map_err(|e| {
        Outcome::failed(
            format!("no environment.json beside {given} ({e:#})"),
            format!("{given} 옆에 environment.json이 없습니다({e:#})"),
        )
    })?;
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
            return Outcome::failed(
                format!(
                    "the run in {} has no {suite} results: run pier bench --suite startup,cpu",
                    run.dir.display()
                ),
                format!(
                    "{}에 있는 실행에는 {suite} 결과가 없습니다: pier bench --suite startup,cpu를 실행하세요",
                    run.dir.display()
                ),
            );
        }
    }
    // A run from before the lab started (the reference run in the repository, a classmate's)
    // is not this student's measurement.
    let taken = pier_oci::time::parse_rfc3339(&run.environment.date).ok();
    if let (Some(started), Some(taken)) = (ctx.started_at(N), taken) {
        // environment.json keeps whole seconds.
        if taken + std::time::Duration::from_secs(1) < started {
            let date = &run.environment.date;
            return Outcome::failed(
                format!("that run was made on {date}, before you started this lab: run pier bench yourself"),
                format!("그 실행은 이 실습을 시작하기 전인 {date}에 만들어졌습니다: pier bench를 직접 실행하세요"),
            );
        }
    }
    if let Err(o) = ran_containers(&run, ctx.started_at(N)) {
        return o;
    }
    let date = &run.environment.date;
    Outcome::passed(format!("run of {date}"), format!("{date}의 실행"))
}

/// The image `pier bench` runs its pier containers from (pier_bench::envs::IMAGE).
const BENCH_IMAGE: &str = "localhost/pier-bench-busybox:latest";

/// The bench's cache, where its private pier state root lives (`pier bench --cache`, whose
/// default and variable these are).
fn bench_cache() -> PathBuf {
    std::env::var_os("PIER_BENCH_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pier-bench"))
}

/// A run's files can be written by hand (a `summary.csv` of plausible figures, an
/// `environment.json` with today's date); the containers it measured cannot be made up
/// after the fact. `pier bench` runs its `pier run` start-ups in its own state root, whose
/// event log records each container's end: between `pier lab start 10` and the report,
/// that log must show bench containers ending, at least half as many as the run's summary
/// counts `pier run` start-ups (half: the log is shared with other runs of the bench and
/// only bounds the count; a hand-written run has none at all).
fn ran_containers(run: &Run, since: Option<SystemTime>) -> Result<(), Outcome> {
    let claimed: usize = run
        .medians("startup", |r| {
            r.metric == "launch_to_exit" && r.environment == "pier" && r.variant.starts_with("run")
        })
        .iter()
        .map(|r| r.n)
        .sum();
    let root = bench_cache().join("pier-root");
    let log = EventLog::at(&root);
    let report = run.dir.join("report.md");
    let written = std::fs::metadata(&report)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    let slack = Duration::from_secs(2);
    let from = since.map_or(SystemTime::UNIX_EPOCH, |t| t - slack);
    let to = written + slack;
    let seen = log
        .read()
        .unwrap_or_default()
        .iter()
        .filter(|e| e.action == Action::Die && e.image == BENCH_IMAGE)
        .filter(|e| e.when().is_some_and(|at| at >= from && at <= to))
        .count();
    if claimed > 0 && seen * 2 >= claimed {
        return Ok(());
    }
    let path = log.path().display().to_string();
    Err(Outcome::failed(
        format!(
            "the run's summary counts {claimed} pier run start-ups, but pier bench's own state ({path}) shows {seen} of its containers ending between the start of this lab and the report: that run was not measured by pier bench on this machine. Run pier bench yourself"
        ),
        format!(
            "그 실행의 summary는 pier run 시작을 {claimed}번 세지만, pier bench 자신의 상태({path})에는 이 실습을 시작한 뒤부터 보고서까지 끝난 컨테이너가 {seen}개뿐입니다: 이 머신에서 pier bench가 잰 실행이 아닙니다. pier bench를 직접 실행하세요"
        ),
    ))
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
        Outcome::failed(
            format!("{given:?} is not a figure such as 50.38 (copy it from the report)"),
            format!("{given:?}: 50.38 같은 수치가 아닙니다 (보고서에서 옮겨 적으세요)"),
        )
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
        return Outcome::failed(
            format!("{given} ms is too fast to be true: did you give seconds? (0.045 s = 45 ms)"),
            format!("{given} ms는 사실이라기엔 너무 빠릅니다: 초 단위로 적지 않았나요? (0.045 s = 45 ms)"),
        );
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
        return Outcome::failed(
            "the report has no `pier run` start-up row: run the startup suite with the pier environment",
            "보고서에 `pier run` 시작 시간 행이 없습니다: pier 환경으로 startup 모음을 실행하세요",
        );
    };
    let ratio = given / closest.median;
    let (variant, median) = (&closest.variant, closest.median);
    if (1.0 / STARTUP_FACTOR..=STARTUP_FACTOR).contains(&ratio) {
        Outcome::passed(
            format!("{given} ms; the report's pier ({variant}) launch → exit is {median:.1} ms"),
            format!("{given} ms; 보고서의 pier({variant}) 실행 → 종료는 {median:.1} ms입니다"),
        )
    } else {
        Outcome::failed(
            format!("{given} ms is more than {STARTUP_FACTOR}x away from the report's pier run start-up ({median:.1} ms, launch → exit): time it again, five times, and take the median"),
            format!("{given} ms는 보고서의 pier run 시작 시간({median:.1} ms, 실행 → 종료)과 {STARTUP_FACTOR}배 넘게 차이 납니다: 다섯 번 다시 재고 중앙값을 적으세요"),
        )
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
        Some(r) => Outcome::passed(
            format!("{given} GFLOPS, native {}", r.metric),
            format!("{given} GFLOPS, 네이티브 {}", r.metric),
        ),
        None => {
            let summary = run.dir.join("summary.csv");
            Outcome::failed(
                format!(
                    "{given} is none of the native GFLOPS medians in {}: copy a figure from the CPU table's native column",
                    summary.display()
                ),
                format!(
                    "{} {}에 있는 네이티브 GFLOPS 중앙값 어느 것과도 맞지 않습니다: CPU 표의 native 열에서 수치를 옮기세요",
                    josa(&given.to_string(), Josa::EunNeun),
                    summary.display()
                ),
            )
        }
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
        Some(r) => Outcome::passed(
            format!("{} container/native = {:.2}", r.metric, c / n),
            format!("{} 컨테이너/네이티브 = {:.2}", r.metric, c / n),
        ),
        None if run
            .medians("cpu", |r| r.unit == "GFLOPS")
            .iter()
            .any(|r| copied(c, r.median)) =>
        {
            let rows = metrics.join(", ");
            Outcome::failed(
                format!("{c} is in the report, but not in the pier column of the row ({rows}) your native figure came from"),
                format!(
                    "{} 보고서에 있지만, 네이티브 수치를 가져온 행({rows})의 pier 열에 있는 값이 아닙니다",
                    josa(&c.to_string(), Josa::EunNeun)
                ),
            )
        }
        None => {
            let rows = metrics.join(", ");
            Outcome::failed(
                format!("{c} is not pier's GFLOPS median for {rows}: copy it from the same row of the CPU table"),
                format!(
                    "{} {rows}에 대한 pier의 GFLOPS 중앙값이 아닙니다: CPU 표의 같은 행에서 옮기세요",
                    josa(&c.to_string(), Josa::EunNeun)
                ),
            )
        }
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
            Outcome::passed(
                "no VM ran in this run (is qemu-system-x86_64 installed?)",
                "이 실행에서는 VM이 돌지 않았습니다 (qemu-system-x86_64가 설치되어 있나요?)",
            )
        } else {
            Outcome::failed(
                format!("this run has no VM row (no qemu-* environment in summary.csv), so {given:?} cannot come from it: answer none"),
                format!(
                "이 실행에는 VM 행이 없으므로(summary.csv에 qemu-* 환경이 없음) {} 이 실행에서 나올 수 없습니다: none으로 답하세요",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
            )
        };
    }
    let Some(v) = number(&given) else {
        return Outcome::failed(
            format!("{given:?} is not a GFLOPS figure: the report's VM section lists the guest's DGEMM results"),
            format!("{given:?}: GFLOPS 수치가 아닙니다. 보고서의 VM 절에 게스트의 DGEMM 결과가 있습니다"),
        );
    };
    match rows.iter().find(|r| copied(v, r.median)) {
        Some(r) => {
            let native = run
                .medians("cpu", |n| n.environment == NATIVE && n.metric == r.metric)
                .first()
                .map(|n| n.median / v);
            let (env, metric) = (&r.environment, &r.metric);
            Outcome::passed(
                format!(
                    "{v} GFLOPS in {env} ({metric}){}",
                    native.map(|x| format!(", native is {x:.0}x as fast")).unwrap_or_default()
                ),
                format!(
                    "{env}에서 {v} GFLOPS ({metric}){}",
                    native.map(|x| format!(", 네이티브가 {x:.0}배 빠름")).unwrap_or_default()
                ),
            )
        }
        None => Outcome::failed(
            format!("{v} is not a GFLOPS median of the VM in summary.csv: copy it from the report's VM section"),
            format!(
                "{} summary.csv에 있는 VM의 GFLOPS 중앙값이 아닙니다: 보고서의 VM 절에서 옮기세요",
                josa(&v.to_string(), Josa::EunNeun)
            ),
        ),
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
        None if says_none(&given) => Outcome::passed("no VM ran", "VM이 돌지 않았습니다"),
        None => Outcome::failed(
            format!("no VM ran in this run (environment.json has no qemu_accelerator), so {given:?} cannot be right: answer none"),
            format!(
                "이 실행에서는 VM이 돌지 않았으므로(environment.json에 qemu_accelerator가 없음) {} 맞을 수 없습니다: none으로 답하세요",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        ),
        Some(a) if given == a.to_ascii_lowercase() => match a.as_str() {
            "kvm" => Outcome::passed(
                "kvm: hardware virtualisation, guest code runs on the CPU",
                "kvm: 하드웨어 가상화로, 게스트 코드가 CPU에서 바로 실행됩니다",
            ),
            "tcg" => Outcome::passed(
                "tcg: QEMU translated every guest instruction in software",
                "tcg: QEMU가 게스트 명령어를 모두 소프트웨어로 번역했습니다",
            ),
            other => Outcome::passed(other, other),
        },
        Some(_) => Outcome::failed(
            format!("{given:?} is not what this run used: look at the VM section's heading or qemu_accelerator in environment.json"),
            format!(
                "{} 이 실행이 쓴 가속기가 아닙니다: VM 절의 제목이나 environment.json의 qemu_accelerator를 보세요",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        ),
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
