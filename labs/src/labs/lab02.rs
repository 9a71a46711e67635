//! Lab 2: namespaces — PID 1, the hostname, mounts, `lsns`, and `nsenter` into a container.

use super::{ensure_busybox, sent};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text;
use crate::text::tr;
use anyhow::{Context, Result};
use pier_engine::container::events::{Action, Event};
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use std::os::unix::fs::PermissionsExt;

/// A shell script that prints what a container sees (PID, hostname, namespaces, cgroup,
/// limits, capabilities, mounts, devices, network); `pier lab start 2` writes it into the
/// lab's directory, to be bind-mounted into any container.
pub const PIER_PROBE: &str = include_str!("../../02-namespaces/pier-probe");

const N: u32 = 2;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "02-namespaces",
        title: tr(
            "Namespaces: what a container sees",
            "네임스페이스: 컨테이너가 보는 것",
        ),
        minutes: 30,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "box",
                title: tr(
                    "lab2-box runs with the hostname lab2",
                    "lab2-box가 호스트 이름 lab2로 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-box --hostname lab2 busybox sleep 3600",
                    "pier run -d --name lab2-box --hostname lab2 busybox sleep 3600",
                ),
                check: box_running,
            },
            Task {
                id: "hostpid",
                title: tr(
                    "you found lab2-box's PID on the host",
                    "호스트에서 본 lab2-box의 PID를 찾았다",
                ),
                after: &[],
                answer: Some("pid"),
                hint: tr(
                    "pier inspect lab2-box shows \"init\": {\"pid\": ...}; record it: pier lab answer 2 pid <PID>",
                    "pier inspect lab2-box에 \"init\": {\"pid\": ...}가 보입니다. 기록하세요: pier lab answer 2 pid <PID>",
                ),
                check: host_pid,
            },
            Task {
                id: "netns",
                title: tr(
                    "you found lab2-box's network namespace number",
                    "lab2-box의 네트워크 네임스페이스 번호를 찾았다",
                ),
                after: &["hostpid"],
                answer: Some("netns"),
                hint: tr(
                    "readlink /proc/<PID>/ns/net prints net:[NUMBER], and `lsns -t net` lists the same number; record it: pier lab answer 2 netns <NUMBER>",
                    "readlink /proc/<PID>/ns/net은 net:[NUMBER]를 출력하고, `lsns -t net`도 같은 번호를 보여 줍니다. 기록하세요: pier lab answer 2 netns <NUMBER>",
                ),
                check: netns,
            },
            Task {
                id: "nsenter",
                title: tr(
                    "you entered lab2-box with nsenter and created /tmp/nsenter-was-here in it",
                    "nsenter로 lab2-box에 들어가 그 안에 /tmp/nsenter-was-here를 만들었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "nsenter -t <PID> -a touch /tmp/nsenter-was-here  (-a enters all of the process's namespaces, the mount namespace included)",
                    "nsenter -t <PID> -a touch /tmp/nsenter-was-here  (-a는 마운트 네임스페이스를 포함해 그 프로세스의 모든 네임스페이스에 들어갑니다)",
                ),
                check: entered,
            },
            Task {
                id: "sigterm",
                title: tr(
                    "lab2-init (sleep as PID 1, no handler) survived a SIGTERM from the host",
                    "lab2-init(핸들러 없이 PID 1로 도는 sleep)이 호스트가 보낸 SIGTERM에도 살아남았다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-init busybox sleep 3600; pier kill -s TERM lab2-init; pier ps shows it still up",
                    "pier run -d --name lab2-init busybox sleep 3600; pier kill -s TERM lab2-init; pier ps에 여전히 실행 중으로 보입니다",
                ),
                check: sigterm,
            },
            Task {
                id: "sigkill",
                title: tr(
                    "SIGKILL from the host ended lab2-init (exit 137)",
                    "호스트가 보낸 SIGKILL이 lab2-init을 끝냈다(종료 코드 137)",
                ),
                after: &["sigterm"],
                answer: None,
                hint: tr(
                    "pier kill -s KILL lab2-init: SIGKILL from an ancestor PID namespace is always delivered",
                    "pier kill -s KILL lab2-init: 상위 PID 네임스페이스에서 보낸 SIGKILL은 항상 전달됩니다",
                ),
                check: sigkill,
            },
            Task {
                id: "trap",
                title: tr(
                    "lab2-trap, a PID 1 with a SIGTERM handler, caught SIGTERM from the host",
                    "SIGTERM 핸들러가 있는 PID 1인 lab2-trap이 호스트가 보낸 SIGTERM을 잡았다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab2-trap busybox sh -c 'trap \"echo caught SIGTERM; exit 143\" TERM; while :; do sleep 1; done'; then pier kill -s TERM lab2-trap",
                    "pier run -d --name lab2-trap busybox sh -c 'trap \"echo caught SIGTERM; exit 143\" TERM; while :; do sleep 1; done'; 그다음 pier kill -s TERM lab2-trap",
                ),
                check: trap,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join("pier-probe");
    std::fs::write(&probe, PIER_PROBE).with_context(|| format!("writing {}", probe.display()))?;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", probe.display()))?;
    Ok(())
}

fn box_running(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::nsenter(pid, &["-u"], &["hostname"]) {
        Ok(h) if h.trim() == "lab2" => Outcome::pass("its UTS namespace says lab2"),
        Ok(h) => Outcome::fail(format!(
            "lab2-box's hostname is {:?}, not lab2 (remove it and run it again with --hostname lab2)",
            h.trim()
        )),
        Err(e) => e.into(),
    }
}

fn host_pid(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "pid") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given == pid.to_string() {
        Outcome::pass(format!("PID {pid}"))
    } else if given == "1" {
        Outcome::fail(
            "1 is the PID inside the container; the host numbers the same process differently",
        )
    } else {
        Outcome::fail(format!("{given} is not the host PID of lab2-box's init (if you re-created the container, its PID changed)"))
    }
}

fn netns(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "netns") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = match probe::namespace(pid, "net") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let host = probe::namespace(1, "net").unwrap_or_default();
    match (
        probe::namespace_inode(&given),
        probe::namespace_inode(&real),
    ) {
        (Some(g), Some(r)) if g == r => Outcome::pass(real),
        (Some(_), _) if probe::namespace_inode(&given) == probe::namespace_inode(&host) => {
            Outcome::fail(
                "that is the host's network namespace (of PID 1 on the host), not the container's",
            )
        }
        (None, _) => Outcome::fail(format!("{given:?} is not a number like 4026532201")),
        _ => Outcome::fail(format!("{given} is not the network namespace of lab2-box")),
    }
}

fn entered(ctx: &Ctx) -> Outcome {
    let rec = match ctx.running("lab2-box") {
        Ok((rec, _)) => rec,
        Err(e) => return e.into(),
    };
    let in_container = ctx.upper_dir(&rec).join("tmp/nsenter-was-here");
    if in_container.exists() {
        Outcome::pass(format!("found {}", in_container.display()))
    } else if std::path::Path::new("/tmp/nsenter-was-here").exists() {
        Outcome::fail("/tmp/nsenter-was-here exists on the HOST: nsenter without -m (or -a) stays in the host's mount namespace. Delete it and try with -a")
    } else {
        Outcome::fail("the container's /tmp has no file nsenter-was-here")
    }
}

/// Whether `e` is pier sending `signal` (`SIGTERM`) to the container.
/// The events of `name` since the lab started, and its record, which must still exist (the
/// check reads its command).
fn history(ctx: &Ctx, name: &str) -> Result<(ContainerRecord, Vec<Event>), Outcome> {
    let rec = ctx.container(name).map_err(Outcome::from)?;
    let events = ctx.events(N, name).map_err(Outcome::from)?;
    Ok((rec, events))
}

fn sigterm(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab2-init") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if rec.args.first().map(String::as_str) != Some("sleep") || rec.config.init {
        return Outcome::fail(format!(
            "lab2-init runs `{}`{}: the experiment needs `sleep 3600` itself as PID 1",
            rec.args.join(" "),
            if rec.config.init { " under --init" } else { "" }
        ));
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::fail(format!(
            "pier's event log shows no SIGTERM sent to lab2-init: pier kill -s TERM lab2-init {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    // It must not have died of it: the next die (if any) comes after a SIGKILL.
    let after = &events[term + 1..];
    let died = after.iter().position(|e| e.action == Action::Die);
    let killed = after.iter().position(|e| sent(e, "SIGKILL"));
    match (died, killed) {
        (Some(d), k) if k.is_none_or(|k| d < k) => Outcome::fail(format!(
            "lab2-init exited (code {}) after the SIGTERM: it was not a PID 1 without a handler; remove it and start again",
            after[d].exit_code.unwrap_or(-1)
        )),
        _ => Outcome::pass("the kernel dropped it: sleep has no SIGTERM handler"),
    }
}

fn sigkill(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab2-init") {
        Ok(x) => x,
        Err(o) => return o,
    };
    let term = events.iter().position(|e| sent(e, "SIGTERM")).unwrap_or(0);
    let killed = events[term..].iter().any(|e| sent(e, "SIGKILL"));
    match (rec.status, rec.exit_code) {
        (ContainerStatus::Running, _) => {
            Outcome::fail("lab2-init is still running: now send SIGKILL (pier kill -s KILL lab2-init)")
        }
        (_, Some(137)) if killed && !rec.oom_killed => Outcome::pass("exit code 137 = 128 + 9"),
        (_, code) => Outcome::fail(format!(
            "lab2-init ended with code {} without a SIGKILL from pier after the SIGTERM: pier kill -s KILL lab2-init",
            code.unwrap_or(-1)
        )),
    }
}

fn trap(ctx: &Ctx) -> Outcome {
    let (rec, events) = match history(ctx, "lab2-trap") {
        Ok(x) => x,
        Err(o) => return o,
    };
    if !rec.args.join(" ").contains("trap") {
        return Outcome::fail(format!(
            "lab2-trap runs `{}`, which installs no handler: use the sh -c 'trap ...' command of step 7",
            rec.args.join(" ")
        ));
    }
    let Some(term) = events.iter().position(|e| sent(e, "SIGTERM")) else {
        return Outcome::fail(format!(
            "pier's event log shows no SIGTERM sent to lab2-trap: pier kill -s TERM lab2-trap {}",
            text::before_start(ctx.lang(), N)
        ));
    };
    let died = events[term..].iter().find(|e| e.action == Action::Die);
    let caught = ctx
        .log(&rec)
        .ok()
        .flatten()
        .is_some_and(|l| l.contains("caught SIGTERM"));
    match died {
        None => Outcome::fail("lab2-trap has not exited since the SIGTERM: give it a second (sleep 1 must finish before the shell runs its handler)"),
        Some(d) if caught && !events[term..].iter().any(|e| sent(e, "SIGKILL")) => Outcome::pass(format!(
            "its handler ran and exited with {}",
            d.exit_code.unwrap_or(-1)
        )),
        Some(_) => Outcome::fail("lab2-trap exited, but its log has no \"caught SIGTERM\": did SIGKILL end it instead?"),
    }
}
