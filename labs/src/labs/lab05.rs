//! Lab 5: a Dockerfile, `pier build`, and the build cache.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa};
use anyhow::{Context, Result};
use pier_engine::image::Image;

const N: u32 = 5;

/// The script the image runs; written into the lab's working directory by `pier lab start 5`,
/// with a comment line unique to that start ([`hello_sh`]).
pub const HELLO_SH: &str = "#!/bin/sh\necho \"$GREETING from lab 5\"\n";

/// `HELLO_SH` with a comment naming this start: a random value, so the layer `COPY` makes of
/// the file has a digest no other start (and no other machine) has, and the layer the
/// student records cannot be copied from a neighbour or from the text.
fn hello_sh() -> Result<String> {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("reading a random value from /proc/sys/kernel/random/uuid")?;
    Ok(format!("{HELLO_SH}# started {}\n", uuid.trim()))
}

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
                    "lab5-app:v1로 만든 lab5-run이 \"Hello from lab 5\"를 출력했다",
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
                    "you found the layer COPY added to lab5-app:v1",
                    "COPY가 lab5-app:v1에 더한 레이어를 찾았다",
                ),
                after: &["image"],
                answer: Some("copy-layer"),
                hint: tr(
                    "pier image inspect lab5-app:v1 lists rootfs.diff_ids, one per layer, the base image's first; ENV and CMD add none. Record the diff ID of COPY's layer (at least 12 digits): pier lab answer 5 copy-layer sha256:<DIGITS>",
                    "pier image inspect lab5-app:v1이 레이어마다 하나씩, 베이스 이미지의 것부터 rootfs.diff_ids를 나열합니다. ENV와 CMD는 레이어를 더하지 않습니다. COPY가 만든 레이어의 diff ID를 (적어도 12자리) 기록하세요: pier lab answer 5 copy-layer sha256:<DIGITS>",
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
    std::fs::write(&script, hello_sh()?)
        .with_context(|| format!("writing {}", script.display()))?;
    Ok(())
}

fn diff_ids(image: &Image) -> Vec<String> {
    image.config.rootfs().diff_ids().to_vec()
}

/// The index in `app`'s layers of the first layer of its own (above `base`'s) that holds
/// `/app/hello.sh`: the one `COPY` made.
fn copy_layer(app: &Image, base: &Image) -> Option<usize> {
    let from = diff_ids(base).len();
    app.layer_dirs
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, d)| {
            // An image's layer is untrusted: a symlink there is not followed to the host.
            std::fs::symlink_metadata(d.join("app/hello.sh")).is_ok_and(|m| m.is_file())
        })
        .map(|(i, _)| i)
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
        return Outcome::failed(
            "lab5-app:v1 does not start with busybox's layers: is the first line FROM busybox?",
            "lab5-app:v1이 busybox의 레이어로 시작하지 않습니다: 첫 줄이 FROM busybox인가요?",
        );
    }
    if app_ids.len() == base_ids.len() {
        return Outcome::failed(
            "lab5-app:v1 has no layer of its own: COPY hello.sh /app/hello.sh adds one",
            "lab5-app:v1에 자기 레이어가 없습니다: COPY hello.sh /app/hello.sh가 하나를 더합니다",
        );
    }
    if copy_layer(&app, &base).is_some() {
        let n = app_ids.len();
        Outcome::passed(format!("{n} layers"), format!("레이어 {n}개"))
    } else {
        Outcome::failed(
            "none of lab5-app:v1's own layers holds /app/hello.sh",
            "lab5-app:v1의 자기 레이어 가운데 /app/hello.sh를 가진 것이 없습니다",
        )
    }
}

fn config(ctx: &Ctx) -> Outcome {
    let app = match ctx.image("lab5-app:v1") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let Some(cfg) = app.config.config().as_ref() else {
        return Outcome::failed(
            "lab5-app:v1 has no configuration (no CMD, no ENV)",
            "lab5-app:v1에 설정이 없습니다 (CMD도 ENV도 없습니다)",
        );
    };
    let env = cfg.env().clone().unwrap_or_default();
    let cmd = [
        cfg.entrypoint().clone().unwrap_or_default(),
        cfg.cmd().clone().unwrap_or_default(),
    ]
    .concat();
    if !env.iter().any(|e| e == "GREETING=Hello") {
        return Outcome::failed(
            format!("its Env is {env:?}: it needs GREETING=Hello"),
            format!("이미지의 Env가 {env:?}입니다: GREETING=Hello가 있어야 합니다"),
        );
    }
    if !cmd.iter().any(|c| c.contains("/app/hello.sh")) {
        return Outcome::failed(
            format!("its command is {cmd:?}: it should run /app/hello.sh"),
            format!("이미지의 명령이 {cmd:?}입니다: /app/hello.sh를 실행해야 합니다"),
        );
    }
    Outcome::passed(format!("command {cmd:?}"), format!("명령 {cmd:?}"))
}

/// Whether the image's `/app/hello.sh` (the top-most copy) is executable.
fn script_executable(image: &Image) -> bool {
    use std::os::unix::fs::PermissionsExt;
    image
        .layer_dirs
        .iter()
        .rev()
        .find_map(|d| std::fs::symlink_metadata(d.join("app/hello.sh")).ok())
        .is_some_and(|m| m.permissions().mode() & 0o111 != 0)
}

const NOT_EXECUTABLE: (&str, &str) = (
    "the script is not executable: add RUN chmod +x /app/hello.sh",
    "스크립트에 실행 권한이 없습니다: RUN chmod +x /app/hello.sh를 더하세요",
);

fn run(ctx: &Ctx) -> Outcome {
    if let Ok(app) = ctx.image("lab5-app:v1") {
        if !script_executable(&app) {
            return Outcome::failed(
                "/app/hello.sh in lab5-app:v1 is not executable, so no container can run it: add RUN chmod +x /app/hello.sh and build again",
                "lab5-app:v1의 /app/hello.sh에 실행 권한이 없어서 어떤 컨테이너도 실행할 수 없습니다: RUN chmod +x /app/hello.sh를 더하고 다시 빌드하세요",
            );
        }
    }
    let (rec, code) = match ctx.exited("lab5-run") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if !rec.image.starts_with("lab5-app:v1") {
        return Outcome::failed(
            format!("lab5-run was made from {}, not lab5-app:v1", rec.image),
            format!(
                "lab5-run은 lab5-app:v1이 아니라 {} 만들어졌습니다",
                josa(&rec.image, Josa::EuroRo)
            ),
        );
    }
    // The image's own command must run: a command typed after the image (`echo Hello from
    // lab 5`) would print the line without the image doing anything.
    if !rec.config.command.is_empty() || rec.config.entrypoint.is_some() {
        let typed = [
            rec.config
                .entrypoint
                .clone()
                .into_iter()
                .collect::<Vec<_>>(),
            rec.config.command.clone(),
        ]
        .concat()
        .join(" ");
        return Outcome::failed(
            format!(
                "lab5-run ran {typed:?} instead of the image's own command: run it with nothing after the image (pier run --name lab5-run lab5-app:v1)"
            ),
            format!(
                "lab5-run이 이미지 자신의 명령 대신 {} 실행했습니다: 이미지 이름 뒤에 아무것도 붙이지 말고 실행하세요 (pier run --name lab5-run lab5-app:v1)",
                josa(&format!("{typed:?}"), Josa::EulReul)
            ),
        );
    }
    let log = match ctx.log(&rec) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    if code == 0 && log.contains("Hello from lab 5") {
        Outcome::passed("it greeted", "인사를 출력했습니다")
    } else if code == 126 || log.contains("Permission denied") || log.contains("permission denied")
    {
        Outcome::failed(NOT_EXECUTABLE.0, NOT_EXECUTABLE.1)
    } else {
        Outcome::failed(
            format!("exit code {code}, output {:?}", log.trim()),
            format!("종료 코드 {code}, 출력 {:?}", log.trim()),
        )
    }
}

fn layers(ctx: &Ctx) -> Outcome {
    let (app, base) = match (ctx.image("lab5-app:v1"), ctx.image("busybox")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e.into(),
    };
    let given = match ctx.answer(N, "copy-layer") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let ids = diff_ids(&app);
    let Some(copy) = copy_layer(&app, &base) else {
        return Outcome::failed(
            "none of lab5-app:v1's own layers holds /app/hello.sh",
            "lab5-app:v1의 자기 레이어 가운데 /app/hello.sh를 가진 것이 없습니다",
        );
    };
    let hex = given
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if hex.len() < 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Outcome::failed(
            format!(
                "{given:?} is not a layer's diff ID: give an entry of rootfs.diff_ids (sha256: and at least 12 hex digits), not a count (ENV and CMD add no layer)"
            ),
            format!(
                "{} 레이어의 diff ID가 아닙니다: 개수가 아니라 rootfs.diff_ids의 항목 하나를 주세요 (sha256:와 16진수 적어도 12자리. ENV와 CMD는 레이어를 더하지 않습니다)",
                josa(&format!("{given:?}"), Josa::EunNeun)
            ),
        );
    }
    let found = ids
        .iter()
        .position(|id| id.trim_start_matches("sha256:").starts_with(&hex));
    let base_len = diff_ids(&base).len();
    let (n, total) = (copy + 1, ids.len());
    match found {
        Some(i) if i == copy => Outcome::passed(
            format!("layer {n} of {total}: {}", &ids[i][..19]),
            format!("레이어 {total}개 중 {n}번째: {}", &ids[i][..19]),
        ),
        Some(i) if i < base_len => Outcome::failed(
            "that is busybox's layer, which FROM brings in; COPY's comes after it",
            "그것은 FROM이 가져온 busybox의 레이어입니다. COPY의 레이어는 그다음에 옵니다",
        ),
        Some(i) => {
            let k = i + 1;
            Outcome::failed(
                format!("that is layer {k} of {total}, made by a later step (RUN); COPY's is layer {n}"),
                format!("그것은 레이어 {total}개 중 {k}번째로, 뒤의 단계(RUN)가 만든 것입니다. COPY의 레이어는 {n}번째입니다"),
            )
        }
        None => Outcome::failed(
            format!("{given} is not a layer of lab5-app:v1 (pier image inspect lab5-app:v1, rootfs.diff_ids)"),
            format!(
                "{} lab5-app:v1의 레이어가 아닙니다 (pier image inspect lab5-app:v1, rootfs.diff_ids)",
                josa(&given, Josa::EunNeun)
            ),
        ),
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
        return Outcome::failed(
            "v2 is the same image as v1: change the Dockerfile before building v2",
            "v2가 v1과 같은 이미지입니다: v2를 빌드하기 전에 Dockerfile을 바꾸세요",
        );
    }
    let n = a.len();
    if b.starts_with(&a) && b.len() == n + 1 {
        Outcome::passed(
            format!("{n} layers shared, 1 new"),
            format!("레이어 {n}개 공유, 1개 새로"),
        )
    } else {
        let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        Outcome::failed(
            format!(
                "v2 shares only {shared} of v1's {n} layers: change only the end of the Dockerfile so the earlier steps hit the cache"
            ),
            format!(
                "v2는 v1의 레이어 {n}개 중 {shared}개만 함께 씁니다: 앞 단계들이 캐시를 쓰도록 Dockerfile의 끝만 바꾸세요"
            ),
        )
    }
}
