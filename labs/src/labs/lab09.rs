//! Lab 9: configuration through the environment — one image, two configurations with `-e`
//! and `--env-file`, and the environment as the kernel holds it.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;

const N: u32 = 9;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "09-environment",
        title: tr(
            "Configuration through the environment",
            "환경 변수로 설정하기",
        ),
        minutes: 25,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "dev",
                title: tr(
                    "lab9-dev printed mode=dev port=8080",
                    "lab9-dev가 mode=dev port=8080을 출력했다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab9-dev -e APP_MODE=dev -e APP_PORT=8080 busybox sh -c 'echo mode=$APP_MODE port=$APP_PORT'",
                    "pier run --name lab9-dev -e APP_MODE=dev -e APP_PORT=8080 busybox sh -c 'echo mode=$APP_MODE port=$APP_PORT'",
                ),
                check: dev,
            },
            Task {
                id: "prod",
                title: tr(
                    "lab9-prod took its configuration from prod.env and printed mode=prod port=80",
                    "lab9-prod가 prod.env에서 설정을 읽고 mode=prod port=80을 출력했다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "Write APP_MODE=prod and APP_PORT=80 into $D/prod.env (D=$(pier lab dir 9)), then run the same command with --env-file $D/prod.env",
                    "$D/prod.env(D=$(pier lab dir 9))에 APP_MODE=prod와 APP_PORT=80을 쓰고, 같은 명령을 --env-file $D/prod.env로 실행하세요",
                ),
                check: prod,
            },
            Task {
                id: "same",
                title: tr(
                    "you found the one image ID lab9-dev and lab9-prod both run",
                    "lab9-dev와 lab9-prod가 함께 쓰는 이미지 ID 하나를 찾았다",
                ),
                after: &["dev", "prod"],
                answer: Some("image"),
                hint: tr(
                    "Use busybox for both; pier inspect shows each container's image_id (pier images the IMAGE ID): pier lab answer 9 image <ID>",
                    "둘 다 busybox를 쓰세요. pier inspect는 각 컨테이너의 image_id를(pier images는 IMAGE ID를) 보여 줍니다: pier lab answer 9 image <ID>",
                ),
                check: same,
            },
            Task {
                id: "live",
                title: tr(
                    "lab9-live runs with APP_MODE=live in its process environment",
                    "lab9-live가 프로세스 환경에 APP_MODE=live를 가지고 실행 중이다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run -d --name lab9-live -e APP_MODE=live busybox sleep 3600; the kernel keeps the environment in /proc/<PID>/environ",
                    "pier run -d --name lab9-live -e APP_MODE=live busybox sleep 3600; 커널은 환경을 /proc/<PID>/environ에 보관합니다",
                ),
                check: live,
            },
            Task {
                id: "path",
                title: tr(
                    "you found the PATH lab9-live runs with",
                    "lab9-live가 실행되는 PATH를 찾았다",
                ),
                after: &["live"],
                answer: Some("path"),
                hint: tr(
                    "pier exec lab9-live env lists it (it comes from the image's configuration); record it: pier lab answer 9 path <VALUE>",
                    "pier exec lab9-live env가 보여 줍니다(이미지 설정에서 옵니다). 기록하세요: pier lab answer 9 path <VALUE>",
                ),
                check: path,
            },
        ],
    }
}

fn printed(ctx: &Ctx, name: &str, want: &str) -> Outcome {
    let (rec, code) = match ctx.exited(name) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    // `want` is `mode=M port=P`: the container's environment must hold both.
    for pair in want.split(' ') {
        let var = pair
            .replacen("mode=", "APP_MODE=", 1)
            .replacen("port=", "APP_PORT=", 1);
        if !rec.config.env.contains(&var) {
            return Outcome::fail(format!("{name} ran without {var} in its environment"));
        }
    }
    let log = ctx.log(&rec).ok().flatten();
    let shown = log.as_deref().is_none_or(|l| l.contains(want));
    let log = log.unwrap_or_default();
    if code == 0 && shown {
        Outcome::pass(want.to_string())
    } else if log.contains("mode= ") || log.trim() == "mode= port=" {
        Outcome::fail(format!("{name} printed {:?}: the variables were empty (single quotes around the command, so the CONTAINER's shell expands them, and -e before the image)", log.trim()))
    } else {
        Outcome::fail(format!(
            "{name} exited {code} and printed {:?}, not {want:?}",
            log.trim()
        ))
    }
}

fn dev(ctx: &Ctx) -> Outcome {
    printed(ctx, "lab9-dev", "mode=dev port=8080")
}

fn prod(ctx: &Ctx) -> Outcome {
    let rec = match ctx.container("lab9-prod") {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let file = ctx.workdir(N).join("prod.env");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == "APP_MODE=prod") {
        return Outcome::fail(format!("{} has no line APP_MODE=prod", file.display()));
    }
    if !rec.config.env.iter().any(|e| e == "APP_MODE=prod") {
        return Outcome::fail("lab9-prod did not get APP_MODE=prod: pass the file with --env-file");
    }
    printed(ctx, "lab9-prod", "mode=prod port=80")
}

fn same(ctx: &Ctx) -> Outcome {
    let (a, b) = match (ctx.container("lab9-dev"), ctx.container("lab9-prod")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e.into(),
    };
    if a.image_id != b.image_id {
        return Outcome::fail(format!(
            "lab9-dev runs {} but lab9-prod runs {}",
            a.image, b.image
        ));
    }
    let given = match ctx.answer(N, "image") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let hex = given
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    let real = a.image_id.trim_start_matches("sha256:");
    if hex.len() >= 12 && real.starts_with(&hex) {
        Outcome::pass(format!("both run sha256:{}", &real[..12]))
    } else if given.trim() == a.image || given.trim().starts_with("busybox") {
        Outcome::fail("that is the image's name; the ID is the sha256 digest of its configuration (pier images, IMAGE ID column)")
    } else if hex.len() < 12 && real.starts_with(&hex) && !hex.is_empty() {
        Outcome::fail("that is the start of the ID but too short: give at least the 12 digits `pier images` shows")
    } else if hex.len() >= 12 && (a.id.starts_with(&hex) || b.id.starts_with(&hex)) {
        Outcome::fail("that is a container's ID, not its image's")
    } else {
        Outcome::fail(format!(
            "{given} is not the ID of the image lab9-dev and lab9-prod run"
        ))
    }
}

fn environ(pid: i32) -> anyhow::Result<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

fn live(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab9-live") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match environ(pid) {
        Ok(env) if env.iter().any(|e| e == "APP_MODE=live") => {
            Outcome::pass(format!("/proc/{pid}/environ has APP_MODE=live"))
        }
        Ok(_) => Outcome::fail(format!("/proc/{pid}/environ has no APP_MODE=live")),
        Err(e) => e.into(),
    }
}

fn path(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab9-live") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "path") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = environ(pid)
        .unwrap_or_default()
        .into_iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_default();
    if given.trim_start_matches("PATH=") == real {
        Outcome::pass(real)
    } else {
        Outcome::fail(format!(
            "{given} is not lab9-live's PATH (is it your own shell's PATH?)"
        ))
    }
}
