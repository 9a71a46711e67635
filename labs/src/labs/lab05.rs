//! Lab 5: a Dockerfile, `pier build`, and the build cache.

use super::{ensure_busybox, number};
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use anyhow::{Context, Result};
use pier_engine::image::Image;

const N: u32 = 5;

/// The script the image runs; written into the lab's working directory by `pier lab start 5`.
pub const HELLO_SH: &str = "#!/bin/sh\necho \"$GREETING from lab 5\"\n";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "05-dockerfile",
        title: tr(
            "A Dockerfile and the build cache",
            "Dockerfile과 빌드 캐시",
        ),
        minutes: 35,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare,
        tasks: vec![
            Task {
                id: "image",
                title: tr(
                    "lab5-app:v1 is built on busybox with /app/hello.sh in a layer of its own",
                    "lab5-app:v1이 busybox 위에 빌드되고 /app/hello.sh가 별도 레이어에 있다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "Write the Dockerfile of step 2 in the lab's directory (pier lab dir 5), then: pier build -t lab5-app:v1 .",
                    "실습 디렉터리(pier lab dir 5)에 2단계의 Dockerfile을 쓰고 실행하세요: pier build -t lab5-app:v1 .",
                ),
                check: image,
            },
            Task {
                id: "config",
                title: tr(
                    "lab5-app:v1 runs /app/hello.sh with GREETING=Hello",
                    "lab5-app:v1이 GREETING=Hello로 /app/hello.sh를 실행한다",
                ),
                after: &["image"],
                answer: None,
                hint: tr(
                    "ENV GREETING=Hello and CMD [\"/app/hello.sh\"] go into the image's configuration, not into a layer",
                    "ENV GREETING=Hello와 CMD [\"/app/hello.sh\"]는 레이어가 아니라 이미지 설정에 들어갑니다",
                ),
                check: config,
            },
            Task {
                id: "run",
                title: tr(
                    "lab5-run (from lab5-app:v1) printed \"Hello from lab 5\"",
                    "lab5-run(lab5-app:v1로 만든 컨테이너)이 \"Hello from lab 5\"를 출력했다",
                ),
                after: &["image"],
                answer: None,
                hint: tr(
                    "pier run --name lab5-run lab5-app:v1",
                    "pier run --name lab5-run lab5-app:v1",
                ),
                check: run,
            },
            Task {
                id: "layers",
                title: tr(
                    "you counted lab5-app:v1's layers",
                    "lab5-app:v1의 레이어 수를 셌다",
                ),
                after: &["image"],
                answer: Some("layers"),
                hint: tr(
                    "pier image inspect lab5-app:v1 lists rootfs.diff_ids, one per layer; record the count: pier lab answer 5 layers <N>",
                    "pier image inspect lab5-app:v1이 레이어마다 하나씩 rootfs.diff_ids를 나열합니다. 개수를 기록하세요: pier lab answer 5 layers <N>",
                ),
                check: layers,
            },
            Task {
                id: "cache",
                title: tr(
                    "lab5-app:v2 reuses every layer of v1 and adds one",
                    "lab5-app:v2가 v1의 레이어를 모두 재사용하고 하나를 더한다",
                ),
                after: &["image"],
                answer: None,
                hint: tr(
                    "Add one line at the END of the Dockerfile (RUN echo v2 > /app/version), then pier build -t lab5-app:v2 .; the earlier steps come from the cache",
                    "Dockerfile 맨 끝에 한 줄(RUN echo v2 > /app/version)을 더하고 pier build -t lab5-app:v2 .; 앞 단계들은 캐시에서 옵니다",
                ),
                check: cache,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let script = dir.join("hello.sh");
    std::fs::write(&script, HELLO_SH).with_context(|| format!("writing {}", script.display()))?;
    Ok(())
}

fn diff_ids(image: &Image) -> Vec<String> {
    image.config.rootfs().diff_ids().to_vec()
}

fn image(ctx: &Ctx) -> Outcome {
    let app = match ctx.image("lab5-app:v1") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let base = match ctx.image("busybox") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let (app_ids, base_ids) = (diff_ids(&app), diff_ids(&base));
    if !app_ids.starts_with(&base_ids) {
        return Outcome::fail(
            "lab5-app:v1 does not start with busybox's layers: is the first line FROM busybox?",
        );
    }
    if app_ids.len() == base_ids.len() {
        return Outcome::fail(
            "lab5-app:v1 has no layer of its own: COPY hello.sh /app/hello.sh adds one",
        );
    }
    let has_script = app.layer_dirs[base_ids.len()..]
        .iter()
        .any(|d| d.join("app/hello.sh").is_file());
    if has_script {
        Outcome::pass(format!("{} layers", app_ids.len()))
    } else {
        Outcome::fail("none of lab5-app:v1's own layers holds /app/hello.sh")
    }
}

fn config(ctx: &Ctx) -> Outcome {
    let app = match ctx.image("lab5-app:v1") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let Some(cfg) = app.config.config().as_ref() else {
        return Outcome::fail("lab5-app:v1 has no configuration (no CMD, no ENV)");
    };
    let env = cfg.env().clone().unwrap_or_default();
    let cmd = [
        cfg.entrypoint().clone().unwrap_or_default(),
        cfg.cmd().clone().unwrap_or_default(),
    ]
    .concat();
    if !env.iter().any(|e| e == "GREETING=Hello") {
        return Outcome::fail(format!("its Env is {env:?}: it needs GREETING=Hello"));
    }
    if !cmd.iter().any(|c| c.contains("/app/hello.sh")) {
        return Outcome::fail(format!(
            "its command is {cmd:?}: it should run /app/hello.sh"
        ));
    }
    Outcome::pass(format!("command {cmd:?}"))
}

/// Whether the image's `/app/hello.sh` (the top-most copy) is executable.
fn script_executable(image: &Image) -> bool {
    use std::os::unix::fs::PermissionsExt;
    image
        .layer_dirs
        .iter()
        .rev()
        .find_map(|d| std::fs::metadata(d.join("app/hello.sh")).ok())
        .is_some_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn run(ctx: &Ctx) -> Outcome {
    if let Ok(app) = ctx.image("lab5-app:v1") {
        if !script_executable(&app) {
            return Outcome::fail(
                "/app/hello.sh in lab5-app:v1 is not executable, so no container can run it: add RUN chmod +x /app/hello.sh and build again",
            );
        }
    }
    let (rec, code) = match ctx.exited("lab5-run") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if !rec.image.starts_with("lab5-app:v1") {
        return Outcome::fail(format!(
            "lab5-run was made from {}, not lab5-app:v1",
            rec.image
        ));
    }
    let log = ctx.log(&rec).ok().flatten();
    let greeted = log
        .as_deref()
        .is_none_or(|l| l.contains("Hello from lab 5"));
    let log = log.unwrap_or_default();
    if code == 0 && greeted {
        Outcome::pass("it greeted")
    } else if code == 126 || log.contains("Permission denied") || log.contains("permission denied")
    {
        Outcome::fail("the script is not executable: add RUN chmod +x /app/hello.sh")
    } else {
        Outcome::fail(format!("exit code {code}, output {:?}", log.trim()))
    }
}

fn layers(ctx: &Ctx) -> Outcome {
    let app = match ctx.image("lab5-app:v1") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "layers") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = diff_ids(&app).len();
    match number(&given) {
        Some(n) if n as usize == real => Outcome::pass(format!("{real} layers")),
        Some(_) => Outcome::fail(format!(
            "{given} is not the number of entries in rootfs.diff_ids (ENV and CMD add no layer)"
        )),
        None => Outcome::fail(format!("{given:?} is not a number")),
    }
}

fn cache(ctx: &Ctx) -> Outcome {
    let v1 = match ctx.image("lab5-app:v1") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let v2 = match ctx.image("lab5-app:v2") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let (a, b) = (diff_ids(&v1), diff_ids(&v2));
    if v1.id == v2.id {
        return Outcome::fail(
            "v2 is the same image as v1: change the Dockerfile before building v2",
        );
    }
    if b.starts_with(&a) && b.len() == a.len() + 1 {
        Outcome::pass(format!("{} layers shared, 1 new", a.len()))
    } else {
        let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        Outcome::fail(format!(
            "v2 shares only {shared} of v1's {} layers: change only the end of the Dockerfile so the earlier steps hit the cache",
            a.len()
        ))
    }
}
