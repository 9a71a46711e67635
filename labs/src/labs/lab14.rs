//! Lab 14: a container's life — PID 1 and signals, `--init` and zombies, the stop grace
//! period, restart policies and healthchecks. Checked from pier's event log (signals sent,
//! starts, exits and how long apart), the records, the kernel's process table (zombies) and
//! what `pier ps` / `pier inspect` show about health.

use super::{ensure_busybox, sent, LIFECYCLE};
use crate::context::Ctx;
use crate::evidence::{is_live, run_of, same_process};
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text::{self, josa, tr, Josa, Lang};
use anyhow::{Context, Result};
use pier_engine::container::config::RestartPolicy;
use pier_engine::container::events::{Action, Event};
use pier_engine::container::health::HealthStatus;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use std::io::Read;
use std::time::{Duration, SystemTime};

const N: u32 = 14;

/// What lab14-inside runs: PID 1 signals itself, and survives both signals.
pub const INSIDE: &str = "kill -TERM 1; kill -KILL 1; echo PID 1 is still here";

/// The zombie maker: three children orphaned (their parent, a subshell, exits at once), so
/// the kernel hands them to PID 1, which must reap them when they end a second later.
pub const ORPHANS: &str = "for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600";

/// Zombies lab14-zombies must show (one per orphan).
const ZOMBIES: usize = 3;

/// The grace periods `pier lab start 14` chooses from, in seconds (`pier stop -t N`): one
/// each start, so the time to measure is not in the text.
const GRACES: std::ops::RangeInclusive<u64> = 4..=9;

/// The file of the lab's directory that holds the grace period chosen at the start.
const GRACE_FILE: &str = "grace";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "14-lifecycle",
        title: tr(
            "Lifecycle: signals, init, restarts, health",
            "생명 주기: 시그널, init, 재시작, 헬스체크",
        ),
        minutes: 45,
        host_ports: &[],
        networks: &[],
        needs: Some(LIFECYCLE),
        prepare,
        tasks: vec![
            Task {
                id: "inside",
                title: tr(
                    "lab14-inside, a PID 1 without handlers, survived its own SIGTERM and SIGKILL",
                    "핸들러 없는 PID 1인 lab14-inside가 자신에게 보낸 SIGTERM과 SIGKILL에도 살아남았다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab14-inside busybox sh -c 'kill -TERM 1; kill -KILL 1; echo PID 1 is still here' (no --init): it must print the line and exit 0",
                    "pier run --name lab14-inside busybox sh -c 'kill -TERM 1; kill -KILL 1; echo PID 1 is still here' (--init 없이): 그 줄을 출력하고 0으로 끝나야 합니다",
                ),
                check: inside,
            },
            Task {
                id: "grace",
                title: tr(
                    "pier stop waited out on lab14-pid1 the grace period pier lab start 14 chose, and you timed it",
                    "pier stop이 lab14-pid1에서 pier lab start 14가 정한 유예 시간을 다 기다렸고, 그 시간을 쟀다",
                ),
                after: &[],
                answer: Some("stop-seconds"),
                hint: tr(
                    "pier run -d --name lab14-pid1 busybox sleep 3600; `cat \"$(pier lab dir 14)/grace\"` shows your grace period N; `time pier stop -t N lab14-pid1`, then pier lab answer 14 stop-seconds <SECONDS>",
                    "pier run -d --name lab14-pid1 busybox sleep 3600 한 뒤 `cat \"$(pier lab dir 14)/grace\"`로 유예 시간 N을 확인하고, `time pier stop -t N lab14-pid1` 한 다음 pier lab answer 14 stop-seconds <초>",
                ),
                check: grace,
            },
            Task {
                id: "init-stop",
                title: tr(
                    "lab14-tini (sleep under --init) stopped at once on SIGTERM",
                    "lab14-tini(--init 아래의 sleep)가 SIGTERM에 곧바로 멈췄다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --init --name lab14-tini busybox sleep 3600, then pier stop lab14-tini: it returns at once (exit code 143)",
                    "pier run -d --init --name lab14-tini busybox sleep 3600 한 다음 pier stop lab14-tini: 곧바로 끝납니다 (종료 코드 143)",
                ),
                check: init_stop,
            },
            Task {
                id: "zombies",
                title: tr(
                    "lab14-zombies, without --init, collects zombies",
                    "--init 없는 lab14-zombies에 좀비 프로세스가 쌓인다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab14-zombies busybox sh -c 'for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600', then pier exec lab14-zombies ps -o pid,stat,comm",
                    "pier run -d --name lab14-zombies busybox sh -c 'for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600' 한 다음 pier exec lab14-zombies ps -o pid,stat,comm",
                ),
                check: zombies,
            },
            Task {
                id: "reaped",
                title: tr(
                    "lab14-reaped runs the same program under --init and has no zombie",
                    "lab14-reaped가 같은 프로그램을 --init 아래에서 실행하고 좀비가 없다",
                ),
                after: &["zombies"],
                answer: None,
                hint: tr(
                    "The same command as lab14-zombies, with --init and --name lab14-reaped",
                    "lab14-zombies와 같은 명령에 --init 과 --name lab14-reaped 를 붙여 실행하세요",
                ),
                check: reaped,
            },
            Task {
                id: "on-failure",
                title: tr(
                    "lab14-flaky was restarted 3 times after failing, then given up on",
                    "lab14-flaky가 실패 후 3번 재시작되고, 그 뒤 포기되었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab14-flaky --restart on-failure:3 busybox sh -c 'echo try; exit 3', wait a few seconds, pier ps -a and pier events --container lab14-flaky",
                    "pier run -d --name lab14-flaky --restart on-failure:3 busybox sh -c 'echo try; exit 3' 한 뒤 몇 초 기다렸다가 pier ps -a 와 pier events --container lab14-flaky",
                ),
                check: on_failure,
            },
            Task {
                id: "always",
                title: tr(
                    "lab14-always came back after a clean exit, and pier stop stopped it for good",
                    "lab14-always가 정상 종료 뒤에도 다시 살아났고, pier stop으로는 완전히 멈췄다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab14-always --restart always busybox sh -c 'sleep 1; echo bye', watch pier ps for a few seconds, then pier stop lab14-always",
                    "pier run -d --name lab14-always --restart always busybox sh -c 'sleep 1; echo bye' 후 몇 초 동안 pier ps 를 지켜보고, pier stop lab14-always",
                ),
                check: always,
            },
            Task {
                id: "health",
                title: tr(
                    "lab14-web was healthy, then unhealthy once its page was gone",
                    "lab14-web이 healthy였다가, 페이지가 사라지자 unhealthy가 되었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "Run lab14-web with the --health-cmd of step 7, wait for (healthy) in pier ps, then pier exec lab14-web rm /www/index.html and wait for (unhealthy)",
                    "7단계의 --health-cmd 로 lab14-web을 실행하고 pier ps 에 (healthy)가 보일 때까지 기다린 뒤, pier exec lab14-web rm /www/index.html 하고 (unhealthy)를 기다리세요",
                ),
                check: health,
            },
        ],
    }
}

/// Cleans up like every lab, then chooses this start's grace period and writes it to the
/// lab's directory.
fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let mut byte = [0u8; 1];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut byte))
        .context("reading /dev/urandom for the lab's grace period")?;
    let span = GRACES.end() - GRACES.start() + 1;
    let grace = GRACES.start() + u64::from(byte[0]) % span;
    let path = ctx.workdir(N).join(GRACE_FILE);
    std::fs::write(&path, format!("{grace}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

/// The grace period `pier lab start 14` chose.
fn grace_period(ctx: &Ctx) -> Result<u64> {
    let path = ctx.workdir(N).join(GRACE_FILE);
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|g| GRACES.contains(g))
        .ok_or_else(|| {
            crate::text::Msg::new(
                format!(
                    "{} holds no grace period: run pier lab start 14 again",
                    path.display()
                ),
                format!(
                    "{}에 유예 시간이 없습니다: pier lab start 14를 다시 실행하세요",
                    path.display()
                ),
            )
            .into()
        })
}

/// The failure of an exit the event log does not tie to the process pier started: the
/// lines of that run are missing, or were not written by pier.
fn unproven(name: &str) -> Outcome {
    Outcome::failed(
        format!(
            "pier's event log does not tie the signals and the exit of {name} to one process it started and saw in the kernel: remove {name} and run it again"
        ),
        format!(
            "pier의 이벤트 로그가 {}의 시그널과 종료를 pier가 시작하고 커널에서 확인한 하나의 프로세스에 묶어 주지 못합니다: {} 지우고 다시 실행하세요",
            name,
            josa(name, Josa::EulReul)
        ),
    )
}

/// The record of `name` and the events of that container (not of an earlier one of the same
/// name) since the lab started.
fn history(ctx: &Ctx, name: &str) -> Result<(ContainerRecord, Vec<Event>), Outcome> {
    let rec = ctx.container(name).map_err(Outcome::from)?;
    let mut events = ctx.events(N, name).map_err(Outcome::from)?;
    events.retain(|e| e.id == rec.id);
    Ok((rec, events))
}

/// Time from `a` to `b`, if both carry a readable time and `b` is not earlier.
fn between(a: &Event, b: &Event) -> Option<Duration> {
    b.when()?.duration_since(a.when()?).ok()
}

fn inside(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab14-inside") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if rec.config.init {
        return Outcome::failed(
            "lab14-inside ran under --init: then PID 1 is pier's reaper, not your shell; run it without --init",
            "lab14-inside가 --init 아래에서 실행되었습니다: 그러면 PID 1은 셸이 아니라 pier의 리퍼입니다. --init 없이 실행하세요",
        );
    }
    if !rec.args.iter().any(|a| a == INSIDE) {
        return Outcome::failed(
            format!(
                "lab14-inside ran {:?}, not the script of step 1 (it must send SIGTERM and SIGKILL to PID 1)",
                rec.args
            ),
            format!(
                "lab14-inside가 실행한 것은 1단계의 스크립트가 아니라 {:?}입니다 (PID 1에 SIGTERM과 SIGKILL을 보내야 합니다)",
                rec.args
            ),
        );
    }
    match code {
        0 => Outcome::passed(
            "exit code 0: the kernel dropped both signals",
            "종료 코드 0: 커널이 두 시그널을 모두 버렸습니다",
        ),
        c => Outcome::failed(
            format!(
                "lab14-inside exited with code {c}, not 0: the signals reached it (was it really PID 1?)"
            ),
            format!(
                "lab14-inside가 0이 아닌 종료 코드 {c}로 끝났습니다: 시그널이 전달되었습니다 (정말 PID 1이었나요?)"
            ),
        ),
    }
}

fn grace(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-pid1") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.config.init || rec.args.first().map(String::as_str) != Some("sleep") {
        let cmd = rec.args.join(" ");
        return Outcome::failed(
            format!(
                "lab14-pid1 runs `{cmd}`{}: the experiment needs `sleep 3600` itself as PID 1",
                if rec.config.init { " under --init" } else { "" }
            ),
            format!(
                "lab14-pid1이 {}{} 실행합니다: 이 실험에는 `sleep 3600` 자체가 PID 1이어야 합니다",
                if rec.config.init {
                    "--init 아래에서 "
                } else {
                    ""
                },
                josa(&format!("`{cmd}`"), Josa::EulReul)
            ),
        );
    }
    let grace_s = match grace_period(ctx) {
        Ok(g) => g,
        Err(e) => return e.into(),
    };
    let stop = format!("pier stop -t {grace_s}");
    if rec.status == ContainerStatus::Running {
        return Outcome::failed(
            format!("lab14-pid1 is still running: time {stop} lab14-pid1"),
            format!("lab14-pid1이 아직 실행 중입니다: time {stop} lab14-pid1"),
        );
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::failed(
            format!(
                "pier's event log shows no SIGTERM sent to lab14-pid1: stop it with {stop}, not pier kill {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 lab14-pid1에 보낸 SIGTERM이 없습니다: pier kill이 아니라 {} 멈추세요 {}",
                josa(&stop, Josa::EuroRo),
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    let after = &events[term..];
    let (Some(kill), Some(die)) = (
        after.iter().find(|e| sent(e, "SIGKILL")),
        after.iter().find(|e| e.action == Action::Die),
    ) else {
        return Outcome::failed(
            format!(
                "pier's event log shows no SIGKILL and exit after the SIGTERM: stop lab14-pid1 with {stop}"
            ),
            format!(
                "pier의 이벤트 로그에 SIGTERM 뒤의 SIGKILL과 종료가 없습니다: lab14-pid1을 {} 멈추세요",
                josa(&stop, Josa::EuroRo)
            ),
        );
    };
    if run_of(&events, die).is_none()
        || !same_process(&events[term], die)
        || !same_process(kill, die)
    {
        return unproven("lab14-pid1");
    }
    let waited = between(&events[term], kill).unwrap_or_default();
    let took = between(&events[term], die).unwrap_or_default();
    let grace = Duration::from_secs(grace_s);
    if waited < grace.mul_f64(0.9) || waited > grace + Duration::from_secs(3) {
        let w = waited.as_secs_f64();
        return Outcome::failed(
            format!(
                "the SIGKILL came {w:.1} s after the SIGTERM: stop lab14-pid1 with {stop}, the grace period pier lab start 14 chose"
            ),
            format!(
                "SIGKILL이 SIGTERM보다 {w:.1}초 뒤에 왔습니다: lab14-pid1을 pier lab start 14가 정한 유예 시간대로 {} 멈추세요",
                josa(&stop, Josa::EuroRo)
            ),
        );
    }
    let given = match ctx.answer(N, "stop-seconds") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let Some(seconds) = seconds(&given) else {
        return Outcome::failed(
            format!("{given:?} is not a number of seconds"),
            format!(
                "{} 초 단위의 수가 아닙니다",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        );
    };
    // `time` also counts pier's own start before the SIGTERM (a second or more on a slow
    // machine) and the wait for the exit: at least the logged time, and not far above it.
    let took_s = took.as_secs_f64();
    if seconds < took_s - 0.5 || seconds > took_s + 2.0_f64.max(took_s / 2.0) {
        return Outcome::failed(
            format!(
                "{given} s is not what pier stop took: the log shows {took_s:.1} s from SIGTERM to the exit (time {stop} lab14-pid1)"
            ),
            format!(
                "{given}초는 pier stop이 걸린 시간이 아닙니다: 로그에는 SIGTERM부터 종료까지 {took_s:.1}초로 나옵니다 (time {stop} lab14-pid1)"
            ),
        );
    }
    let w = waited.as_secs_f64();
    let code = die.exit_code.unwrap_or(-1);
    Outcome::passed(
        format!("SIGKILL after {w:.1} s, exit code {code}"),
        format!("{w:.1}초 뒤 SIGKILL, 종료 코드 {code}"),
    )
}

/// Seconds as the student may copy them from `time`: `3.04`, `3.04 s`, `real 0m3.040s`.
fn seconds(text: &str) -> Option<f64> {
    let t = text.trim().trim_start_matches("real").trim();
    match t.split_once('m') {
        Some((min, sec)) if !min.is_empty() && min.chars().all(|c| c.is_ascii_digit()) => {
            Some(min.parse::<f64>().ok()? * 60.0 + super::number(sec)?)
        }
        _ => super::number(t),
    }
}

fn init_stop(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-tini") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if !rec.config.init {
        return Outcome::failed(
            "lab14-tini runs without --init: remove it and run it with --init",
            "lab14-tini가 --init 없이 실행되었습니다: 지우고 --init을 붙여 다시 실행하세요",
        );
    }
    if rec.args.first().map(String::as_str) != Some("sleep") {
        let cmd = rec.args.join(" ");
        return Outcome::failed(
            format!(
                "lab14-tini runs `{cmd}`: run sleep 3600 (no handler of its own) under --init"
            ),
            format!(
                "lab14-tini가 {} 실행합니다: 자체 핸들러가 없는 sleep 3600을 --init 아래에서 실행하세요",
                josa(&format!("`{cmd}`"), Josa::EulReul)
            ),
        );
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::failed(
            format!(
                "pier's event log shows no SIGTERM sent to lab14-tini: pier stop lab14-tini {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 lab14-tini에 보낸 SIGTERM이 없습니다: pier stop lab14-tini {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    let after = &events[term..];
    let Some(die) = after.iter().find(|e| e.action == Action::Die) else {
        return Outcome::failed(
            "lab14-tini has not exited since the SIGTERM: pier stop lab14-tini",
            "lab14-tini가 SIGTERM 이후 아직 끝나지 않았습니다: pier stop lab14-tini",
        );
    };
    if run_of(&events, die).is_none() || !same_process(&events[term], die) {
        return unproven("lab14-tini");
    }
    if after.iter().any(|e| sent(e, "SIGKILL")) {
        return Outcome::failed(
            "lab14-tini needed a SIGKILL: the SIGTERM alone should have ended it under --init",
            "lab14-tini에 SIGKILL이 필요했습니다: --init 아래에서는 SIGTERM만으로 끝났어야 합니다",
        );
    }
    match (die.exit_code, between(&events[term], die)) {
        // Well under the 10 s grace period (slow machines included).
        (Some(143), Some(d)) if d < Duration::from_secs(5) => {
            let s = d.as_secs_f64();
            Outcome::passed(
                format!("exit code 143 after {s:.2} s"),
                format!("{s:.2}초 뒤 종료 코드 143"),
            )
        }
        (code, d) => {
            let code = code.unwrap_or(-1);
            let s = d.unwrap_or_default().as_secs_f64();
            Outcome::failed(
                format!(
                    "lab14-tini exited with code {code} {s:.1} s after the SIGTERM: expected 143 (128 + 15) at once"
                ),
                format!(
                    "lab14-tini가 SIGTERM {s:.1}초 뒤에 종료 코드 {code}로 끝났습니다: 곧바로 143(128 + 15)으로 끝나야 합니다"
                ),
            )
        }
    }
}

/// The running container `name`, which must run [`ORPHANS`], with or without `--init`.
fn orphan_maker(ctx: &Ctx, name: &str, init: bool) -> Result<(ContainerRecord, i32), Outcome> {
    let (rec, pid) = ctx.running(name).map_err(Outcome::from)?;
    if !rec.args.iter().any(|a| a == ORPHANS) {
        return Err(Outcome::failed(
            format!("{name} runs {:?}, not the program of step 4", rec.args),
            format!(
                "{} 실행하는 것은 4단계의 프로그램이 아니라 {:?}입니다",
                josa(name, Josa::IGa),
                rec.args
            ),
        ));
    }
    if rec.config.init != init {
        return Err(if init {
            Outcome::failed(
                format!("{name} runs without --init: remove it and run it with --init"),
                format!(
                    "{} --init 없이 실행되었습니다: 지우고 --init을 붙여 다시 실행하세요",
                    josa(name, Josa::IGa)
                ),
            )
        } else {
            Outcome::failed(
                format!("{name} runs under --init: this one must run without it"),
                format!(
                    "{} --init 아래에서 실행되었습니다: 이 컨테이너는 --init 없이 실행해야 합니다",
                    josa(name, Josa::IGa)
                ),
            )
        });
    }
    // The orphans end a second after the start; give them time.
    let up = rec
        .started_at
        .as_deref()
        .and_then(|t| pier_oci::time::parse_rfc3339(t).ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    if up < Duration::from_secs(2) {
        let s = up.as_secs_f64();
        return Err(Outcome::failed(
            format!("{name} started {s:.1} s ago: wait two seconds, then check again"),
            format!(
                "{} {s:.1}초 전에 시작되었습니다: 2초 기다린 뒤 다시 확인하세요",
                josa(name, Josa::IGa)
            ),
        ));
    }
    Ok((rec, pid))
}

fn zombies(ctx: &Ctx) -> Outcome {
    let (_, pid) = match orphan_maker(ctx, "lab14-zombies", false) {
        Ok(x) => x,
        Err(o) => return o,
    };
    match probe::zombies_in_pid_namespace_of(pid) {
        Ok(z) if z.len() >= ZOMBIES => Outcome::passed(
            format!("{} zombies", z.len()),
            format!("좀비 {}개", z.len()),
        ),
        Ok(z) => Outcome::failed(
            format!(
                "lab14-zombies has {} zombies, not {ZOMBIES}: was PID 1 `sleep`, which never reaps?",
                z.len()
            ),
            format!(
                "lab14-zombies의 좀비가 {ZOMBIES}개가 아니라 {}개입니다: PID 1이 자식을 거두지 않는 `sleep`이었나요?",
                z.len()
            ),
        ),
        Err(e) => e.into(),
    }
}

fn reaped(ctx: &Ctx) -> Outcome {
    let (_, pid) = match orphan_maker(ctx, "lab14-reaped", true) {
        Ok(x) => x,
        Err(o) => return o,
    };
    match probe::zombies_in_pid_namespace_of(pid) {
        Ok(z) if z.is_empty() => Outcome::passed(
            "no zombie: pier's init reaped the orphans",
            "좀비 없음: pier의 init이 고아 프로세스를 거두었습니다",
        ),
        Ok(z) => Outcome::failed(
            format!("lab14-reaped has {} zombies", z.len()),
            format!("lab14-reaped에 좀비가 {}개 있습니다", z.len()),
        ),
        Err(e) => e.into(),
    }
}

fn on_failure(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-flaky") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if !matches!(
        rec.config.restart,
        RestartPolicy::OnFailure {
            max_retries: Some(3)
        }
    ) {
        let policy = rec.config.restart.name();
        return Outcome::failed(
            format!("lab14-flaky's restart policy is {policy}: run it with --restart on-failure:3"),
            format!(
                "lab14-flaky의 재시작 정책이 {policy}입니다: --restart on-failure:3으로 실행하세요"
            ),
        );
    }
    if events.iter().any(|e| e.action == Action::Kill) {
        return Outcome::failed(
            "pier sent lab14-flaky a signal: let it fail on its own (remove it and run it again)",
            "pier가 lab14-flaky에 시그널을 보냈습니다: 스스로 실패하게 두세요 (지우고 다시 실행하세요)",
        );
    }
    let dies: Vec<&Event> = events.iter().filter(|e| e.action == Action::Die).collect();
    // Each exit of its own process, which pier started and saw in the kernel.
    let mut processes: Vec<_> = dies
        .iter()
        .filter(|d| run_of(&events, d).is_some())
        .filter_map(|d| d.init.as_ref().map(|i| i.process()))
        .collect();
    processes.sort_by_key(|p| (p.start_time, p.pid));
    processes.dedup();
    if processes.len() != dies.len() {
        return unproven("lab14-flaky");
    }
    let exits: Vec<i32> = dies.iter().map(|e| e.exit_code.unwrap_or(-1)).collect();
    if exits.contains(&0) {
        return Outcome::failed(
            "lab14-flaky exited 0 once: its command must fail (exit 3)",
            "lab14-flaky가 한 번 0으로 끝났습니다: 명령이 실패해야 합니다 (exit 3)",
        );
    }
    let restarts = events
        .iter()
        .filter(|e| e.action == Action::Restart)
        .count();
    if rec.status == ContainerStatus::Running || rec.restarting {
        return Outcome::failed(
            format!(
                "lab14-flaky is still being restarted ({restarts} restarts so far): wait a few seconds"
            ),
            format!(
                "lab14-flaky가 아직 재시작되는 중입니다 (지금까지 {restarts}번): 몇 초 기다리세요"
            ),
        );
    }
    match (restarts, exits.len()) {
        (3, 4) => Outcome::passed(
            format!("4 runs: the first and 3 restarts, all exit {}", exits[0]),
            format!("4번 실행: 처음 한 번과 재시작 3번, 모두 종료 코드 {}", exits[0]),
        ),
        (0, _) => Outcome::failed(
            "pier's event log shows no restart of lab14-flaky",
            "pier의 이벤트 로그에 lab14-flaky의 재시작이 없습니다",
        ),
        (r, runs) => Outcome::failed(
            format!(
                "lab14-flaky was restarted {r} times ({runs} runs): on-failure:3 means the first run and 3 restarts"
            ),
            format!(
                "lab14-flaky가 {r}번 재시작되었습니다 ({runs}번 실행): on-failure:3은 처음 실행과 재시작 3번입니다"
            ),
        ),
    }
}

fn always(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-always") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.config.restart != RestartPolicy::Always {
        let policy = rec.config.restart.name();
        return Outcome::failed(
            format!("lab14-always's restart policy is {policy}: run it with --restart always"),
            format!("lab14-always의 재시작 정책이 {policy}입니다: --restart always로 실행하세요"),
        );
    }
    // A clean exit followed by a restart: the policy at work, whatever the exit code.
    let came_back = events.iter().enumerate().any(|(i, e)| {
        e.action == Action::Die
            && e.exit_code == Some(0)
            && run_of(&events, e).is_some()
            && events[i + 1..].iter().any(|e| e.action == Action::Restart)
    });
    if !came_back {
        return Outcome::failed(
            format!(
                "pier's event log shows no restart of lab14-always after a clean exit: its command must end by itself (sleep 1; echo bye) {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 정상 종료 뒤 lab14-always의 재시작이 없습니다: 명령이 스스로 끝나야 합니다 (sleep 1; echo bye) {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    }
    if !rec.stopped_by_user {
        return Outcome::failed(
            "lab14-always keeps coming back: now stop it with pier stop lab14-always",
            "lab14-always가 계속 되살아납니다: 이제 pier stop lab14-always로 멈추세요",
        );
    }
    if rec.status == ContainerStatus::Running || rec.restarting {
        return Outcome::failed(
            "lab14-always is still running: pier stop lab14-always",
            "lab14-always가 아직 실행 중입니다: pier stop lab14-always",
        );
    }
    let restarts = events
        .iter()
        .filter(|e| e.action == Action::Restart)
        .count();
    Outcome::passed(
        format!("{restarts} restarts, then stopped for good"),
        format!("{restarts}번 재시작한 뒤 완전히 멈춤"),
    )
}

fn health(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-web") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.status != ContainerStatus::Running {
        let status = rec.status.as_str();
        return Outcome::failed(
            format!("lab14-web is {status}: run it with -d and the --health-cmd of step 7"),
            format!("lab14-web의 상태가 {status}입니다: -d와 7단계의 --health-cmd로 실행하세요"),
        );
    }
    let Some(now) = rec.health.as_ref().map(|h| h.status) else {
        return Outcome::failed(
            "lab14-web has no health check: run it with the --health-cmd of step 7",
            "lab14-web에 헬스체크가 없습니다: 7단계의 --health-cmd로 실행하세요",
        );
    };
    // Unhealthy because the page is gone, not a probe that never worked: it was healthy first.
    let healthy = events
        .iter()
        .position(|e| e.action == Action::HealthStatus && e.health.as_deref() == Some("healthy"));
    let Some(healthy) = healthy else {
        return Outcome::failed(
            format!(
                "pier's event log shows lab14-web never healthy: its probe must pass while the page is there {}",
                text::before_start(Lang::En, N)
            ),
            format!(
                "pier의 이벤트 로그에 lab14-web이 healthy였던 적이 없습니다: 페이지가 있는 동안에는 검사가 통과해야 합니다 {}",
                text::before_start(Lang::Ko, N)
            ),
        );
    };
    if !is_live(&events[healthy]) {
        return Outcome::failed(
            "pier's event log does not tie lab14-web's healthy state to the process that runs now: remove lab14-web and run it again",
            "pier의 이벤트 로그가 lab14-web의 healthy 상태를 지금 실행 중인 프로세스에 묶어 주지 못합니다: lab14-web을 지우고 다시 실행하세요",
        );
    }
    if now != HealthStatus::Unhealthy {
        let status = now.as_str();
        return Outcome::failed(
            format!(
                "lab14-web is {status}: now remove its page (pier exec lab14-web rm /www/index.html) and wait for (unhealthy)"
            ),
            format!(
                "lab14-web의 상태가 {status}입니다: 이제 페이지를 지우고(pier exec lab14-web rm /www/index.html) (unhealthy)를 기다리세요"
            ),
        );
    }
    if ctx.upper_dir(&rec).join("www/index.html").exists() {
        return Outcome::failed(
            "/www/index.html is still in lab14-web: the probe should fail because the page is gone",
            "lab14-web에 /www/index.html이 아직 있습니다: 페이지가 사라져서 검사가 실패해야 합니다",
        );
    }
    let took = events[healthy..]
        .iter()
        .find(|e| e.action == Action::HealthStatus && e.health.as_deref() == Some("unhealthy"))
        .and_then(|u| between(&events[healthy], u));
    match took {
        Some(d) => {
            let s = d.as_secs_f64();
            Outcome::passed(
                format!("healthy, then unhealthy {s:.0} s later"),
                format!("healthy였다가 {s:.0}초 뒤 unhealthy"),
            )
        }
        None => Outcome::passed("healthy, then unhealthy", "healthy였다가 unhealthy"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_as_time_prints_them() {
        for (text, want) in [
            ("3.04", 3.04),
            ("3.04 s", 3.04),
            ("0m3.040s", 3.04),
            ("real\t0m3.040s", 3.04),
            ("1m2.5s", 62.5),
        ] {
            assert_eq!(super::seconds(text), Some(want), "{text}");
        }
        assert_eq!(super::seconds("ms"), None);
    }
}
