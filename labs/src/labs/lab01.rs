//! Lab 1: your first container — run, ps, logs, rm; an image vs a container.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa};
use anyhow::Result;
use pier_engine::container::config::RunConfig;

const N: u32 = 1;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "01-first-container",
        title: tr(
            "Your first container",
            "첫 번째 컨테이너",
        ),
        minutes: 20,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "hello",
                title: tr(
                    "lab1-hello ran `echo Hello from a container` and exited 0",
                    "lab1-hello가 `echo Hello from a container`를 실행하고 종료 코드 0으로 끝났다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab1-hello busybox echo Hello from a container",
                    "pier run --name lab1-hello busybox echo Hello from a container",
                ),
                check: hello,
            },
            Task {
                id: "fail",
                title: tr(
                    "lab1-fail exited with code 3",
                    "lab1-fail이 종료 코드 3으로 끝났다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "The exit code of the container is the exit code of its command: pier run --name lab1-fail busybox sh -c 'exit 3'",
                    "컨테이너의 종료 코드는 그 명령의 종료 코드입니다: pier run --name lab1-fail busybox sh -c 'exit 3'",
                ),
                check: fail,
            },
            Task {
                id: "sleeper",
                title: tr(
                    "lab1-sleeper runs in the background",
                    "lab1-sleeper가 백그라운드에서 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "-d (detach) starts the container and returns at once: pier run -d --name lab1-sleeper busybox sleep 3600",
                    "-d(detach)는 컨테이너를 시작하고 바로 돌아옵니다: pier run -d --name lab1-sleeper busybox sleep 3600",
                ),
                check: sleeper,
            },
            Task {
                id: "id",
                title: tr(
                    "you found lab1-sleeper's container ID",
                    "lab1-sleeper의 컨테이너 ID를 찾았다",
                ),
                after: &["sleeper"],
                answer: Some("id"),
                hint: tr(
                    "`pier ps` shows the ID in the first column; record it: pier lab answer 1 id <ID>",
                    "`pier ps`의 첫 번째 열이 ID입니다. 기록하세요: pier lab answer 1 id <ID>",
                ),
                check: id,
            },
            Task {
                id: "old",
                title: tr(
                    "the container lab1-old (made by `pier lab start 1`) is removed",
                    "`pier lab start 1`이 만든 컨테이너 lab1-old를 삭제했다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "`pier ps -a` shows it (status Created); remove it with pier rm lab1-old",
                    "`pier ps -a`에 보입니다(상태 Created). 삭제: pier rm lab1-old",
                ),
                check: old,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    ctx.engine().create(
        RunConfig {
            image: "busybox".into(),
            name: Some("lab1-old".into()),
            command: vec!["echo".into(), "I am old".into()],
            ..RunConfig::default()
        },
        false,
    )?;
    Ok(())
}

fn hello(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab1-hello") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if code != 0 {
        return Outcome::failed(
            format!("lab1-hello exited with code {code}, not 0"),
            format!("lab1-hello의 종료 코드가 0이 아니라 {code}입니다"),
        );
    }
    let said = rec.args.join(" ");
    if rec.args.first().map(String::as_str) != Some("echo")
        || !said.contains("Hello from a container")
    {
        return Outcome::failed(
            format!("lab1-hello ran `{said}`, not `echo Hello from a container`"),
            format!(
                "lab1-hello는 `echo Hello from a container`가 아니라 {} 실행했습니다",
                josa(&format!("`{said}`"), Josa::EulReul)
            ),
        );
    }
    match ctx.log(&rec) {
        Ok(Some(log)) if !log.contains("Hello from a container") => Outcome::failed(
            format!(
                "lab1-hello printed {:?}, not \"Hello from a container\"",
                log.trim()
            ),
            format!(
                "lab1-hello가 \"Hello from a container\"가 아니라 {} 출력했습니다",
                josa(&format!("{:?}", log.trim()), Josa::EulReul)
            ),
        ),
        Ok(_) => Outcome::passed("exit code 0", "종료 코드 0"),
        Err(e) => e.into(),
    }
}

fn fail(ctx: &Ctx) -> Outcome {
    match ctx.exited("lab1-fail") {
        Ok((_, 3)) => Outcome::passed("exit code 3", "종료 코드 3"),
        Ok((_, code)) => Outcome::failed(
            format!("lab1-fail exited with code {code}, not 3"),
            format!("lab1-fail의 종료 코드가 3이 아니라 {code}입니다"),
        ),
        Err(e) => e.into(),
    }
}

fn sleeper(ctx: &Ctx) -> Outcome {
    match ctx.running("lab1-sleeper") {
        Ok((_, pid)) => Outcome::passed(format!("host PID {pid}"), format!("호스트 PID {pid}")),
        Err(e) => e.into(),
    }
}

fn id(ctx: &Ctx) -> Outcome {
    let given = match ctx.answer(N, "id") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let rec = match ctx.container("lab1-sleeper") {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    if given.len() >= 12 && rec.id.starts_with(&given) {
        Outcome::passed(given.clone(), given)
    } else if given.len() < 12 && rec.id.starts_with(&given) {
        Outcome::failed(
            "that is the start of the ID but too short: give at least the 12 digits `pier ps` shows",
            "ID의 앞부분이 맞지만 너무 짧습니다: `pier ps`가 보여 주는 12자리를 모두 적으세요",
        )
    } else if given == rec.name {
        Outcome::failed(
            "that is the container's name; the ID is the hexadecimal number in the first column of `pier ps`",
            "그것은 컨테이너의 이름입니다. ID는 `pier ps`의 첫 번째 열에 있는 16진수입니다",
        )
    } else {
        Outcome::failed(
            format!("{given} is not lab1-sleeper's ID (is it the ID of another container, or of the image?)"),
            format!(
                "{} lab1-sleeper의 ID가 아닙니다 (다른 컨테이너나 이미지의 ID가 아닌가요?)",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn old(ctx: &Ctx) -> Outcome {
    match ctx.container("lab1-old") {
        Ok(rec) => Outcome::failed(
            format!("lab1-old still exists (status {})", rec.status.as_str()),
            format!("lab1-old가 아직 있습니다 (상태 {})", rec.status.as_str()),
        ),
        Err(_) => Outcome::passed("removed", "삭제됨"),
    }
}
