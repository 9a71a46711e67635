//! Lab 9: configuration through the environment — one image, two configurations with `-e`
//! and `--env-file`, and the environment as the kernel holds it. `pier lab start 9` builds
//! the image the lab runs, `lab9-app`, with a `PATH` of its own (a directory named with a
//! random value first): its ID and its `PATH` belong to this start alone, so they cannot be
//! copied from the text or from a neighbour.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa};
use anyhow::{Context, Result};

const N: u32 = 9;

/// The image the lab runs, built by `pier lab start 9`.
const APP: &str = "lab9-app";

/// busybox's `PATH`, which lab9-app's begins with a directory of its own.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds lab9-app: busybox with `/opt/lab9-<random>/bin` first in its `PATH`, as images
/// that install a program under /opt do. The Dockerfile stays in `<lab dir>/image`.
fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("reading a random value from /proc/sys/kernel/random/uuid")?;
    let tag: String = uuid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    let dir = ctx.workdir(N).join("image");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(
        &dockerfile,
        format!("FROM busybox\nENV PATH=/opt/lab9-{tag}/bin:{BASE_PATH}\n"),
    )
    .with_context(|| format!("writing {}", dockerfile.display()))?;
    let context = dir.to_string_lossy();
    ctx.pier_output(&["build", "-q", "-t", APP, &context])
        .with_context(|| format!("building {APP}"))?;
    Ok(())
}

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
        prepare,
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
                    "pier run --name lab9-dev -e APP_MODE=dev -e APP_PORT=8080 lab9-app sh -c 'echo mode=$APP_MODE port=$APP_PORT'",
                    "pier run --name lab9-dev -e APP_MODE=dev -e APP_PORT=8080 lab9-app sh -c 'echo mode=$APP_MODE port=$APP_PORT'",
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
                    "Use lab9-app (which pier lab start 9 built) for both; pier inspect shows each container's image_id (pier images the IMAGE ID): pier lab answer 9 image <ID>",
                    "둘 다 lab9-app(pier lab start 9가 빌드한 이미지)을 쓰세요. pier inspect는 각 컨테이너의 image_id를(pier images는 IMAGE ID를) 보여 줍니다: pier lab answer 9 image <ID>",
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
                    "pier run -d --name lab9-live -e APP_MODE=live lab9-app sleep 3600; the kernel keeps the environment in /proc/<PID>/environ",
                    "pier run -d --name lab9-live -e APP_MODE=live lab9-app sleep 3600; 커널은 환경을 /proc/<PID>/environ에 보관합니다",
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

/// The ID of lab9-app, as `pier lab start 9` built it.
fn app_id(ctx: &Ctx) -> Result<String, Outcome> {
    ctx.image(APP).map(|i| i.id).map_err(|e| {
        Outcome::failed(
            format!("{e}: run pier lab start 9 again, it builds {APP}"),
            format!("{APP} 이미지가 없습니다: pier lab start 9를 다시 실행하세요. 이 이미지를 빌드합니다"),
        )
    })
}

fn printed(ctx: &Ctx, name: &str, want: &str) -> Outcome {
    let (rec, code) = match ctx.exited(name) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let app = match app_id(ctx) {
        Ok(id) => id,
        Err(o) => return o,
    };
    if rec.image_id != app {
        return Outcome::failed(
            format!("{name} runs {}, not {APP}: run it from {APP}", rec.image),
            format!(
                "{} {APP}이 아니라 {}에서 실행되었습니다: {APP}으로 실행하세요",
                josa(name, Josa::EunNeun),
                rec.image
            ),
        );
    }
    // `want` is `mode=M port=P`: the container's environment must hold both.
    for pair in want.split(' ') {
        let var = pair
            .replacen("mode=", "APP_MODE=", 1)
            .replacen("port=", "APP_PORT=", 1);
        if !rec.config.env.contains(&var) {
            return Outcome::failed(
                format!("{name} ran without {var} in its environment"),
                format!("{name}의 환경에 {var} 없이 실행되었습니다"),
            );
        }
    }
    let log = match ctx.log(&rec) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    let shown = log.trim().to_string();
    if log.contains("mode= ") || log.trim() == "mode= port=" {
        return Outcome::failed(
            format!("{name} printed {shown:?}: the variables were empty (single quotes around the command, so the CONTAINER's shell expands them, and -e before the image)"),
            format!("{name}의 출력은 {shown:?}입니다: 변수가 비어 있었습니다 (명령을 작은따옴표로 감싸서 컨테이너의 셸이 변수를 펼치게 하고, -e는 이미지 앞에 두세요)"),
        );
    }
    // The container's shell must expand the variables: a command that prints the values
    // typed into it (echo mode=dev) shows nothing of the environment.
    let command = rec.args.join(" ");
    if !["APP_MODE", "APP_PORT"]
        .iter()
        .all(|v| command.contains(&format!("${v}")) || command.contains(&format!("${{{v}}}")))
    {
        return Outcome::failed(
            format!(
                "{name} ran {command:?}: the container's shell must print $APP_MODE and $APP_PORT from its environment, not values typed into the command"
            ),
            format!(
                "{name}의 명령은 {command:?}입니다: 명령에 값을 적지 말고, 컨테이너의 셸이 환경에서 $APP_MODE와 $APP_PORT를 출력해야 합니다"
            ),
        );
    }
    if code == 0 && log.contains(want) {
        Outcome::passed(want.to_string(), want.to_string())
    } else {
        Outcome::failed(
            format!("{name} exited {code} and printed {shown:?}, not {want:?}"),
            format!(
                "{name}의 종료 코드는 {code}, 출력은 {} 아니라 {shown:?}입니다",
                josa(&format!("{want:?}"), Josa::IGa)
            ),
        )
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
        let shown = file.display().to_string();
        return Outcome::failed(
            format!("{shown} has no line APP_MODE=prod"),
            format!("{shown}에 APP_MODE=prod 줄이 없습니다"),
        );
    }
    if !rec.config.env.iter().any(|e| e == "APP_MODE=prod") {
        return Outcome::failed(
            "lab9-prod did not get APP_MODE=prod: pass the file with --env-file",
            "lab9-prod가 APP_MODE=prod를 받지 못했습니다: --env-file로 파일을 넘기세요",
        );
    }
    printed(ctx, "lab9-prod", "mode=prod port=80")
}

fn same(ctx: &Ctx) -> Outcome {
    let (a, b) = match (ctx.container("lab9-dev"), ctx.container("lab9-prod")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e.into(),
    };
    if a.image_id != b.image_id {
        return Outcome::failed(
            format!("lab9-dev runs {} but lab9-prod runs {}", a.image, b.image),
            format!(
                "lab9-dev는 {}에서, lab9-prod는 {}에서 실행됩니다",
                a.image, b.image
            ),
        );
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
    let base = ctx
        .image("busybox")
        .map(|i| i.id.trim_start_matches("sha256:").to_string())
        .unwrap_or_default();
    if hex.len() >= 12 && real.starts_with(&hex) {
        Outcome::passed(
            format!("both run sha256:{}", &real[..12]),
            format!("둘 다 sha256:{} 실행", &real[..12]),
        )
    } else if given.trim() == a.image
        || given.trim().starts_with(APP)
        || given.trim().starts_with("busybox")
    {
        Outcome::failed(
            "that is the image's name; the ID is the sha256 digest of its configuration (pier images, IMAGE ID column)",
            "그것은 이미지의 이름입니다. ID는 이미지 설정의 sha256 다이제스트입니다 (pier images의 IMAGE ID 열)",
        )
    } else if hex.len() < 12 && real.starts_with(&hex) && !hex.is_empty() {
        Outcome::failed(
            "that is the start of the ID but too short: give at least the 12 digits `pier images` shows",
            "ID의 앞부분이지만 너무 짧습니다: `pier images`가 보여 주는 12자리 이상을 주세요",
        )
    } else if hex.len() >= 12 && (a.id.starts_with(&hex) || b.id.starts_with(&hex)) {
        Outcome::failed(
            "that is a container's ID, not its image's",
            "그것은 이미지가 아니라 컨테이너의 ID입니다",
        )
    } else if hex.len() >= 12 && base.starts_with(&hex) {
        Outcome::failed(
            format!("that is busybox's ID, the image {APP} is built on; the containers run {APP}"),
            format!(
                "그것은 {APP}의 바탕이 된 busybox의 ID입니다. 컨테이너들은 {APP}에서 실행됩니다"
            ),
        )
    } else {
        Outcome::failed(
            format!("{given} is not the ID of the image lab9-dev and lab9-prod run"),
            format!(
                "{} lab9-dev와 lab9-prod가 실행하는 이미지의 ID가 아닙니다",
                josa(&given, Josa::EunNeun)
            ),
        )
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
        Ok(env) if env.iter().any(|e| e == "APP_MODE=live") => Outcome::passed(
            format!("/proc/{pid}/environ has APP_MODE=live"),
            format!("/proc/{pid}/environ에 APP_MODE=live가 있습니다"),
        ),
        Ok(_) => Outcome::failed(
            format!("/proc/{pid}/environ has no APP_MODE=live"),
            format!("/proc/{pid}/environ에 APP_MODE=live가 없습니다"),
        ),
        Err(e) => e.into(),
    }
}

fn path(ctx: &Ctx) -> Outcome {
    let (rec, pid) = match ctx.running("lab9-live") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let app = match app_id(ctx) {
        Ok(id) => id,
        Err(o) => return o,
    };
    if rec.image_id != app {
        return Outcome::failed(
            format!("lab9-live runs {}, not {APP}: run it from {APP}", rec.image),
            format!(
                "lab9-live는 {APP}이 아니라 {}에서 실행됩니다: {APP}으로 실행하세요",
                rec.image
            ),
        );
    }
    let given = match ctx.answer(N, "path") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = environ(pid)
        .unwrap_or_default()
        .into_iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_default();
    let given = given.trim().trim_start_matches("PATH=");
    if given == real {
        Outcome::passed(real.clone(), real)
    } else if given == BASE_PATH {
        Outcome::failed(
            "that is busybox's PATH; lab9-app's configuration sets another one",
            "그것은 busybox의 PATH입니다. lab9-app의 설정은 다른 PATH를 정합니다",
        )
    } else {
        Outcome::failed(
            format!("{given} is not lab9-live's PATH (is it your own shell's PATH?)"),
            format!(
                "{} lab9-live의 PATH가 아닙니다 (여러분 셸의 PATH인가요?)",
                josa(given, Josa::EunNeun)
            ),
        )
    }
}
