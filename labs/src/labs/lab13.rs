//! Lab 13: the protections a container gets (capabilities, seccomp, a read-only root), then
//! three broken containers to fix, checked by their end state: a script without its exec
//! bit, a port not published, a job killed by the OOM killer.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use crate::text;
use crate::text::tr;
use anyhow::{Context, Result};
use pier_engine::container::events::Action;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Command;

const N: u32 = 13;

/// The host port lab13-web must be reachable on.
pub const PORT: u16 = 8013;

/// The broken Dockerfile `pier lab start 13` writes: the script is copied without its exec bit.
pub const DOCKERFILE: &str = "FROM busybox\nCOPY start.sh /start.sh\nCMD [\"/start.sh\"]\n";

/// The script the image runs.
pub const START_SH: &str = "#!/bin/sh\necho lab13 app started\n";

/// The job that needs more than 16 MiB: it keeps 48 MiB in /dev/shm (tmpfs, charged to its cgroup).
pub const JOB: &str = "head -c 48m /dev/zero > /dev/shm/data && echo done";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "13-security",
        title: tr(
"Security and troubleshooting",
"보안과 문제 해결",
),
        minutes: 45,
        host_ports: &[PORT],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "caps",
                title: tr(
"lab13-nocap runs with no capability, and you read its CapEff",
"lab13-nocap이 케이퍼빌리티(capability) 없이 실행되고, 그 CapEff를 읽었다",
),
                after: &[],
                answer: Some("capeff"),
                hint: tr(
"pier run -d --name lab13-nocap --cap-drop ALL busybox sleep 3600, then pier exec lab13-nocap grep CapEff /proc/self/status: pier lab answer 13 capeff <HEX>",
"pier run -d --name lab13-nocap --cap-drop ALL busybox sleep 3600 한 다음 pier exec lab13-nocap grep CapEff /proc/self/status: pier lab answer 13 capeff <HEX>",
),
                check: caps,
            },
            Task {
                id: "unshare",
                title: tr(
"lab13-unshare tried to make a namespace and was refused",
"lab13-unshare가 네임스페이스를 만들려다 거부되었다",
),
                after: &[],
                answer: None,
                hint: tr(
"pier run --name lab13-unshare busybox unshare -n true: it must fail (Operation not permitted)",
"pier run --name lab13-unshare busybox unshare -n true: 실패해야 합니다 (Operation not permitted)",
),
                check: unshare,
            },
            Task {
                id: "readonly",
                title: tr(
"lab13-ro could not write to its read-only root",
"lab13-ro가 읽기 전용 루트에 쓰지 못했다",
),
                after: &[],
                answer: None,
                hint: tr(
"pier run --name lab13-ro --read-only busybox touch /etc/hacked: it must fail",
"pier run --name lab13-ro --read-only busybox touch /etc/hacked: 실패해야 합니다",
),
                check: readonly,
            },
            Task {
                id: "exec",
                title: tr(
"lab13-app:fixed runs its script",
"lab13-app:fixed가 스크립트를 실행한다",
),
                after: &[],
                answer: None,
                hint: tr(
"The Dockerfile in pier lab dir 13 copies start.sh without the exec bit: add RUN chmod +x /start.sh, then pier build -t lab13-app:fixed .",
"pier lab dir 13의 Dockerfile은 start.sh를 실행 비트 없이 복사합니다: RUN chmod +x /start.sh 를 추가한 다음 pier build -t lab13-app:fixed . 하세요",
),
                check: exec,
            },
            Task {
                id: "port",
                title: tr(
"lab13-web answers on host port 8013",
"lab13-web이 호스트 포트 8013에서 응답한다",
),
                after: &[],
                answer: None,
                hint: tr(
"The server listens on port 80 inside, but nothing was published: run it again with -p 8013:80",
"서버는 안에서 80번 포트로 듣지만 아무것도 공개되지 않았습니다: -p 8013:80 으로 다시 실행하세요",
),
                check: port,
            },
            Task {
                id: "oom",
                title: tr(
"lab13-oom was killed at 16 MiB, then ran to the end with more memory",
"lab13-oom이 16 MiB에서 종료된 뒤, 메모리를 늘려 끝까지 실행되었다",
),
                after: &[],
                answer: None,
                hint: tr(
"Run the job of step 6 with --memory 16m (killed: exit 137), then pier rm lab13-oom and run it again with --memory 128m",
"6단계의 작업을 --memory 16m 으로 실행하고(종료: exit 137), pier rm lab13-oom 한 다음 --memory 128m 으로 다시 실행하세요",
),
                check: oom,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    for (name, content) in [("Dockerfile", DOCKERFILE), ("start.sh", START_SH)] {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The effective capabilities of process `pid` (the CapEff line of its status).
fn cap_eff(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn caps(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab13-nocap") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let Some(real) = cap_eff(pid) else {
        return Outcome::fail("cannot read lab13-nocap's capabilities");
    };
    if real != 0 {
        return Outcome::fail(format!(
            "lab13-nocap still has capabilities (CapEff {real:016x}): run it with --cap-drop ALL"
        ));
    }
    let given = match ctx.answer(N, "capeff") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let hex = given.trim().trim_start_matches("CapEff:").trim();
    match u64::from_str_radix(hex.trim_start_matches("0x"), 16) {
        Ok(v) if v == real => Outcome::pass("CapEff 0000000000000000"),
        Ok(_) => Outcome::fail(format!(
            "{given} is not lab13-nocap's CapEff: read /proc/self/status inside it"
        )),
        Err(_) => Outcome::fail(format!("{given:?} is not a hexadecimal capability set")),
    }
}

/// Whether the container's command line runs `command` (as its program, or as the start of
/// a `sh -c` script), not merely mentions it.
fn runs(rec: &pier_engine::container::record::ContainerRecord, command: &str) -> bool {
    rec.args
        .iter()
        .any(|a| a == command || a.starts_with(&format!("{command} ")))
}

fn unshare(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab13-unshare") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if !runs(&rec, "unshare") {
        return Outcome::fail(format!(
            "lab13-unshare ran {:?}: it should try unshare",
            rec.args
        ));
    }
    if rec
        .config
        .cap_add
        .iter()
        .any(|c| c.eq_ignore_ascii_case("ALL") || c.to_ascii_uppercase().ends_with("SYS_ADMIN"))
    {
        return Outcome::fail(
            "lab13-unshare was given CAP_SYS_ADMIN: the point is to see the default refuse it",
        );
    }
    if code == 0 {
        return Outcome::fail("unshare succeeded in lab13-unshare: did it really run unshare -n?");
    }
    Outcome::pass(format!("refused, exit code {code}"))
}

fn readonly(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab13-ro") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if !rec.config.read_only {
        return Outcome::fail("lab13-ro ran without --read-only");
    }
    if !rec.args.iter().any(|a| a.ends_with("/etc/hacked")) {
        return Outcome::fail(format!(
            "lab13-ro ran {:?}: it should try to write /etc/hacked",
            rec.args
        ));
    }
    if code == 0 || ctx.upper_dir(&rec).join("etc/hacked").exists() {
        return Outcome::fail("lab13-ro could write /etc/hacked: its root is not read-only");
    }
    Outcome::pass(format!("refused, exit code {code}"))
}

fn exec(ctx: &Ctx) -> Outcome {
    if let Err(e) = ctx.image("lab13-app:fixed") {
        return e.into();
    }
    // The checker runs the image itself: only a working image passes.
    let out = Command::new(ctx.pier())
        .arg("--root")
        .arg(ctx.root())
        .args(["run", "--rm", "--name", "lab13-checker", "lab13-app:fixed"])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return Outcome::fail(format!("running pier: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stdout.contains("lab13 app started") {
        Outcome::pass("it started")
    } else if stderr.contains("ermission denied") || out.status.code() == Some(126) {
        Outcome::fail("/start.sh is still not executable in lab13-app:fixed: RUN chmod +x /start.sh after the COPY")
    } else {
        Outcome::fail(format!(
            "pier run lab13-app:fixed exited {:?}: {}",
            out.status.code(),
            stderr.trim()
        ))
    }
}

fn port(ctx: &Ctx) -> Outcome {
    if let Err(e) = ctx.running("lab13-web") {
        return e.into();
    }
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT));
    match probe::http_get(addr) {
        Ok(r) if r.contains("lab13") => Outcome::pass(format!("127.0.0.1:{PORT} answers")),
        Ok(_) => Outcome::fail(format!("127.0.0.1:{PORT} answers, but not with lab13-web's page")),
        Err(_) => Outcome::fail(format!(
            "nothing answers on 127.0.0.1:{PORT}: is lab13-web's port 80 published there (pier port lab13-web)?"
        )),
    }
}

fn oom(ctx: &Ctx) -> Outcome {
    let events = match ctx.events(N, "lab13-oom") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if !events
        .iter()
        .any(|e| e.action == Action::Die && e.oom_killed)
    {
        return Outcome::fail(format!(
            "pier's event log shows no OOM kill of lab13-oom: run the job with --memory 16m first and watch it die {}",
            text::before_start(ctx.lang(), N)
        ));
    }
    let (rec, code) = match ctx.exited("lab13-oom") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if !rec.args.iter().any(|a| a == JOB) {
        return Outcome::fail(format!(
            "lab13-oom ran {:?}, not the job of step 6",
            rec.args
        ));
    }
    if rec.oom_killed || code != 0 {
        return Outcome::fail(format!(
            "lab13-oom exited with code {code}{}: give it more memory",
            if rec.oom_killed { " (OOM-killed)" } else { "" }
        ));
    }
    match rec.config.limits.memory {
        Some(m) => Outcome::pass(format!("finished under {} MiB", m >> 20)),
        None => {
            Outcome::fail("lab13-oom finished without --memory: fix the limit, do not remove it")
        }
    }
}
