//! Lab 14: a container's life — PID 1 and signals, `--init` and zombies, the stop grace
//! period, restart policies and healthchecks. Checked from pier's event log (signals sent,
//! starts, exits and how long apart), the records, the kernel's process table (zombies) and
//! what `pier ps` / `pier inspect` show about health.

use super::{ensure_busybox, sent, LIFECYCLE};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text;
use crate::text::tr;
use pier_engine::container::config::RestartPolicy;
use pier_engine::container::events::{Action, Event};
use pier_engine::container::health::HealthStatus;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use std::time::{Duration, SystemTime};

const N: u32 = 14;

/// What lab14-inside runs: PID 1 signals itself, and survives both signals.
pub const INSIDE: &str = "kill -TERM 1; kill -KILL 1; echo PID 1 is still here";

/// The zombie maker: three children orphaned (their parent, a subshell, exits at once), so
/// the kernel hands them to PID 1, which must reap them when they end a second later.
pub const ORPHANS: &str = "for i in 1 2 3; do (sleep 1 &); done; exec sleep 3600";

/// Zombies lab14-zombies must show (one per orphan).
const ZOMBIES: usize = 3;

/// The grace period the lab asks for (`pier stop -t 3`).
const GRACE: u64 = 3;

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
        prepare: ensure_busybox,
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
                    "pier stop -t 3 waited out its grace period on lab14-pid1, and you timed it",
                    "pier stop -t 3이 lab14-pid1에서 유예 시간을 다 기다렸고, 그 시간을 쟀다",
                ),
                after: &[],
                answer: Some("stop-seconds"),
                hint: tr(
                    "pier run -d --name lab14-pid1 busybox sleep 3600, then `time pier stop -t 3 lab14-pid1`: pier lab answer 14 stop-seconds <SECONDS>",
                    "pier run -d --name lab14-pid1 busybox sleep 3600 한 다음 `time pier stop -t 3 lab14-pid1`: pier lab answer 14 stop-seconds <초>",
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
        return Outcome::fail(
            "lab14-inside ran under --init: then PID 1 is pier's reaper, not your shell; run it without --init",
        );
    }
    if !rec.args.iter().any(|a| a == INSIDE) {
        return Outcome::fail(format!(
            "lab14-inside ran {:?}, not the script of step 1 (it must send SIGTERM and SIGKILL to PID 1)",
            rec.args
        ));
    }
    match code {
        0 => Outcome::pass("exit code 0: the kernel dropped both signals"),
        c => Outcome::fail(format!(
            "lab14-inside exited with code {c}, not 0: the signals reached it (was it really PID 1?)"
        )),
    }
}

fn grace(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-pid1") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.config.init || rec.args.first().map(String::as_str) != Some("sleep") {
        return Outcome::fail(format!(
            "lab14-pid1 runs `{}`{}: the experiment needs `sleep 3600` itself as PID 1",
            rec.args.join(" "),
            if rec.config.init { " under --init" } else { "" }
        ));
    }
    if rec.status == ContainerStatus::Running {
        return Outcome::fail("lab14-pid1 is still running: time pier stop -t 3 lab14-pid1");
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::fail(format!(
            "pier's event log shows no SIGTERM sent to lab14-pid1: stop it with pier stop -t 3, not pier kill {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    let after = &events[term..];
    let (Some(kill), Some(die)) = (
        after.iter().find(|e| sent(e, "SIGKILL")),
        after.iter().find(|e| e.action == Action::Die),
    ) else {
        return Outcome::fail(
            "pier's event log shows no SIGKILL and exit after the SIGTERM: stop lab14-pid1 with pier stop -t 3",
        );
    };
    let waited = between(&events[term], kill).unwrap_or_default();
    let took = between(&events[term], die).unwrap_or_default();
    let grace = Duration::from_secs(GRACE);
    if waited < grace.mul_f64(0.9) || waited > grace + Duration::from_secs(3) {
        return Outcome::fail(format!(
            "the SIGKILL came {:.1} s after the SIGTERM: stop lab14-pid1 with pier stop -t {GRACE}",
            waited.as_secs_f64()
        ));
    }
    let given = match ctx.answer(N, "stop-seconds") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let Some(seconds) = seconds(&given) else {
        return Outcome::fail(format!("{given:?} is not a number of seconds"));
    };
    // `time` also counts pier's own start before the SIGTERM (a second or more on a slow
    // machine) and the wait for the exit: at least the logged time, and not far above it.
    let took_s = took.as_secs_f64();
    if seconds < took_s - 0.5 || seconds > took_s + 2.0_f64.max(took_s / 2.0) {
        return Outcome::fail(format!(
            "{given} s is not what pier stop took: the log shows {took_s:.1} s from SIGTERM to the exit (time pier stop -t {GRACE} lab14-pid1)"
        ));
    }
    Outcome::pass(format!(
        "SIGKILL after {:.1} s, exit code {}",
        waited.as_secs_f64(),
        die.exit_code.unwrap_or(-1)
    ))
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
        return Outcome::fail("lab14-tini runs without --init: remove it and run it with --init");
    }
    if rec.args.first().map(String::as_str) != Some("sleep") {
        return Outcome::fail(format!(
            "lab14-tini runs `{}`: run sleep 3600 (no handler of its own) under --init",
            rec.args.join(" ")
        ));
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::fail(format!(
            "pier's event log shows no SIGTERM sent to lab14-tini: pier stop lab14-tini {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    let after = &events[term..];
    let Some(die) = after.iter().find(|e| e.action == Action::Die) else {
        return Outcome::fail("lab14-tini has not exited since the SIGTERM: pier stop lab14-tini");
    };
    if after.iter().any(|e| sent(e, "SIGKILL")) {
        return Outcome::fail(
            "lab14-tini needed a SIGKILL: the SIGTERM alone should have ended it under --init",
        );
    }
    match (die.exit_code, between(&events[term], die)) {
        // Well under the 10 s grace period (slow machines included).
        (Some(143), Some(d)) if d < Duration::from_secs(5) => Outcome::pass(format!(
            "exit code 143 after {:.2} s",
            d.as_secs_f64()
        )),
        (code, d) => Outcome::fail(format!(
            "lab14-tini exited with code {} {:.1} s after the SIGTERM: expected 143 (128 + 15) at once",
            code.unwrap_or(-1),
            d.unwrap_or_default().as_secs_f64()
        )),
    }
}

/// The running container `name`, which must run [`ORPHANS`], with or without `--init`.
fn orphan_maker(ctx: &Ctx, name: &str, init: bool) -> Result<(ContainerRecord, i32), Outcome> {
    let (rec, pid) = ctx.running(name).map_err(Outcome::from)?;
    if !rec.args.iter().any(|a| a == ORPHANS) {
        return Err(Outcome::fail(format!(
            "{name} runs {:?}, not the program of step 4",
            rec.args
        )));
    }
    if rec.config.init != init {
        return Err(Outcome::fail(if init {
            format!("{name} runs without --init: remove it and run it with --init")
        } else {
            format!("{name} runs under --init: this one must run without it")
        }));
    }
    // The orphans end a second after the start; give them time.
    let up = rec
        .started_at
        .as_deref()
        .and_then(|t| pier_oci::time::parse_rfc3339(t).ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    if up < Duration::from_secs(2) {
        return Err(Outcome::fail(format!(
            "{name} started {:.1} s ago: wait two seconds, then check again",
            up.as_secs_f64()
        )));
    }
    Ok((rec, pid))
}

fn zombies(ctx: &Ctx) -> Outcome {
    let (_, pid) = match orphan_maker(ctx, "lab14-zombies", false) {
        Ok(x) => x,
        Err(o) => return o,
    };
    match probe::zombies_in_pid_namespace_of(pid) {
        Ok(z) if z.len() >= ZOMBIES => Outcome::pass(format!("{} zombies", z.len())),
        Ok(z) => Outcome::fail(format!(
            "lab14-zombies has {} zombies, not {ZOMBIES}: was PID 1 `sleep`, which never reaps?",
            z.len()
        )),
        Err(e) => e.into(),
    }
}

fn reaped(ctx: &Ctx) -> Outcome {
    let (_, pid) = match orphan_maker(ctx, "lab14-reaped", true) {
        Ok(x) => x,
        Err(o) => return o,
    };
    match probe::zombies_in_pid_namespace_of(pid) {
        Ok(z) if z.is_empty() => Outcome::pass("no zombie: pier's init reaped the orphans"),
        Ok(z) => Outcome::fail(format!("lab14-reaped has {} zombies", z.len())),
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
        return Outcome::fail(format!(
            "lab14-flaky's restart policy is {}: run it with --restart on-failure:3",
            rec.config.restart.name()
        ));
    }
    if events.iter().any(|e| e.action == Action::Kill) {
        return Outcome::fail(
            "pier sent lab14-flaky a signal: let it fail on its own (remove it and run it again)",
        );
    }
    let exits: Vec<i32> = events
        .iter()
        .filter(|e| e.action == Action::Die)
        .map(|e| e.exit_code.unwrap_or(-1))
        .collect();
    if exits.contains(&0) {
        return Outcome::fail("lab14-flaky exited 0 once: its command must fail (exit 3)");
    }
    let restarts = events
        .iter()
        .filter(|e| e.action == Action::Restart)
        .count();
    if rec.status == ContainerStatus::Running || rec.restarting {
        return Outcome::fail(format!(
            "lab14-flaky is still being restarted ({restarts} restarts so far): wait a few seconds"
        ));
    }
    match (restarts, exits.len()) {
        (3, 4) => Outcome::pass(format!(
            "4 runs: the first and 3 restarts, all exit {}",
            exits[0]
        )),
        (0, _) => Outcome::fail("pier's event log shows no restart of lab14-flaky"),
        (r, runs) => Outcome::fail(format!(
            "lab14-flaky was restarted {r} times ({runs} runs): on-failure:3 means the first run and 3 restarts"
        )),
    }
}

fn always(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-always") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.config.restart != RestartPolicy::Always {
        return Outcome::fail(format!(
            "lab14-always's restart policy is {}: run it with --restart always",
            rec.config.restart.name()
        ));
    }
    // A clean exit followed by a restart: the policy at work, whatever the exit code.
    let came_back = events.iter().enumerate().any(|(i, e)| {
        e.action == Action::Die
            && e.exit_code == Some(0)
            && events[i + 1..].iter().any(|e| e.action == Action::Restart)
    });
    if !came_back {
        return Outcome::fail(format!(
            "pier's event log shows no restart of lab14-always after a clean exit: its command must end by itself (sleep 1; echo bye) {}",
            text::before_start(ctx.lang(), N)
        ));
    }
    if !rec.stopped_by_user {
        return Outcome::fail(
            "lab14-always keeps coming back: now stop it with pier stop lab14-always",
        );
    }
    if rec.status == ContainerStatus::Running || rec.restarting {
        return Outcome::fail("lab14-always is still running: pier stop lab14-always");
    }
    let restarts = events
        .iter()
        .filter(|e| e.action == Action::Restart)
        .count();
    Outcome::pass(format!("{restarts} restarts, then stopped for good"))
}

fn health(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab14-web") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.status != ContainerStatus::Running {
        return Outcome::fail(format!(
            "lab14-web is {}: run it with -d and the --health-cmd of step 7",
            rec.status.as_str()
        ));
    }
    let Some(now) = rec.health.as_ref().map(|h| h.status) else {
        return Outcome::fail(
            "lab14-web has no health check: run it with the --health-cmd of step 7",
        );
    };
    // Unhealthy because the page is gone, not a probe that never worked: it was healthy first.
    let healthy = events
        .iter()
        .position(|e| e.action == Action::HealthStatus && e.health.as_deref() == Some("healthy"));
    let Some(healthy) = healthy else {
        return Outcome::fail(format!(
            "pier's event log shows lab14-web never healthy: its probe must pass while the page is there {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    if now != HealthStatus::Unhealthy {
        return Outcome::fail(format!(
            "lab14-web is {}: now remove its page (pier exec lab14-web rm /www/index.html) and wait for (unhealthy)",
            now.as_str()
        ));
    }
    if ctx.upper_dir(&rec).join("www/index.html").exists() {
        return Outcome::fail(
            "/www/index.html is still in lab14-web: the probe should fail because the page is gone",
        );
    }
    let took = events[healthy..]
        .iter()
        .find(|e| e.action == Action::HealthStatus && e.health.as_deref() == Some("unhealthy"))
        .and_then(|u| between(&events[healthy], u));
    Outcome::pass(match took {
        Some(d) => format!("healthy, then unhealthy {:.0} s later", d.as_secs_f64()),
        None => "healthy, then unhealthy".to_string(),
    })
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
