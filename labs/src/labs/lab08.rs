//! Lab 8: volumes and persistence — data in the container's layer goes with the container, a
//! bind mount outlives it, a read-only mount refuses writes.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use pier_engine::container::events::Action;

const N: u32 = 8;

/// The start of the line the writer container appends to the shared file; its hostname
/// (its short ID) follows, which only that container knows before it runs.
const LINE: &str = "written by ";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "08-volumes",
        title: tr(
            "Volumes and persistence",
            "볼륨과 데이터 유지",
        ),
        minutes: 30,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "scratch",
                title: tr(
                    "lab8-scratch wrote /notes.txt into its own writable layer",
                    "lab8-scratch가 자기 쓰기 가능한 레이어에 /notes.txt를 썼다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'",
                    "pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'",
                ),
                check: scratch,
            },
            Task {
                id: "data",
                title: tr(
                    "the lab directory holds log.txt written by lab8-writer",
                    "실습 디렉터리에 lab8-writer가 쓴 log.txt가 있다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "D=$(pier lab dir 8); pier run --name lab8-writer -v $D:/data busybox sh -c 'echo written by $(hostname) >> /data/log.txt'   (single quotes: the container's shell runs hostname)",
                    "D=$(pier lab dir 8); pier run --name lab8-writer -v $D:/data busybox sh -c 'echo written by $(hostname) >> /data/log.txt'   (작은따옴표: hostname은 컨테이너의 셸이 실행합니다)",
                ),
                check: data,
            },
            Task {
                id: "gone",
                title: tr(
                    "lab8-writer is removed, its data is not",
                    "lab8-writer는 삭제되었지만 그 데이터는 남았다",
                ),
                after: &["data"],
                answer: None,
                hint: tr(
                    "pier rm lab8-writer; then look: ls $D",
                    "pier rm lab8-writer; 그다음 확인하세요: ls $D",
                ),
                check: gone,
            },
            Task {
                id: "reader",
                title: tr(
                    "lab8-reader read the file through a read-only mount",
                    "lab8-reader가 읽기 전용 마운트로 파일을 읽었다",
                ),
                after: &["data"],
                answer: None,
                hint: tr(
                    "pier run --name lab8-reader -v $D:/data:ro busybox cat /data/log.txt",
                    "pier run --name lab8-reader -v $D:/data:ro busybox cat /data/log.txt",
                ),
                check: reader,
            },
            Task {
                id: "readonly",
                title: tr(
                    "lab8-ro's write to a read-only mount was refused",
                    "읽기 전용 마운트에 대한 lab8-ro의 쓰기가 거부되었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab8-ro -v $D:/data:ro busybox sh -c 'echo x > /data/x'   (it must fail)",
                    "pier run --name lab8-ro -v $D:/data:ro busybox sh -c 'echo x > /data/x'   (실패해야 합니다)",
                ),
                check: readonly,
            },
        ],
    }
}

fn scratch(ctx: &Ctx) -> Outcome {
    let rec = match ctx.container("lab8-scratch") {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let f = ctx.upper_dir(&rec).join("notes.txt");
    if f.is_file() {
        Outcome::pass(format!("{}", f.display()))
    } else {
        Outcome::fail(format!("{} does not exist", f.display()))
    }
}

/// The full ID of the lab8-writer container that wrote its hostname into log.txt: the line
/// must name a container called lab8-writer that pier created since the lab started (its
/// record, or its `create` event once it is removed). A line written from the host names
/// the host, or a made-up ID no such container had.
fn writer_id(ctx: &Ctx) -> Result<String, Outcome> {
    let f = ctx.workdir(N).join("log.txt");
    let text = std::fs::read_to_string(&f).map_err(|_| {
        Outcome::fail(format!(
            "{} does not exist: did you mount the lab directory (pier lab dir 8) at /data?",
            f.display()
        ))
    })?;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(LINE))
        .map(str::trim)
        .collect();
    if names.is_empty() {
        return Err(Outcome::fail(format!(
            "{} has no line {LINE:?} followed by the container's hostname",
            f.display()
        )));
    }
    let mut ids: Vec<String> = ctx
        .events(N, "lab8-writer")
        .map_err(Outcome::from)?
        .into_iter()
        .filter(|e| e.action == Action::Create)
        .map(|e| e.id)
        .collect();
    if let Ok(rec) = ctx.container("lab8-writer") {
        ids.push(rec.id);
    }
    names
        .iter()
        .find_map(|n| {
            ids.iter()
                .find(|id| n.len() >= 12 && id.starts_with(n))
                .cloned()
        })
        .ok_or_else(|| {
            Outcome::fail(format!(
                "{} says {LINE}{}, but no container lab8-writer with that hostname ran since `pier lab start 8` (pier events lists them): the line must be written by the container itself, without --hostname",
                f.display(),
                names.join(", ")
            ))
        })
}

fn data(ctx: &Ctx) -> Outcome {
    match writer_id(ctx) {
        Ok(id) => Outcome::pass(format!("written by container {}", &id[..12])),
        Err(o) => o,
    }
}

fn gone(ctx: &Ctx) -> Outcome {
    let id = match writer_id(ctx) {
        Ok(id) => id,
        Err(o) => return o,
    };
    if ctx.container("lab8-writer").is_ok() {
        return Outcome::fail("lab8-writer still exists: pier rm lab8-writer");
    }
    let destroyed = ctx.events(N, "lab8-writer").is_ok_and(|events| {
        events
            .iter()
            .any(|e| e.action == Action::Destroy && e.id == id)
    });
    if destroyed {
        Outcome::pass("the container is gone, log.txt is still there")
    } else {
        Outcome::fail("pier's event log has no removal of the lab8-writer that wrote log.txt: remove it with pier rm lab8-writer")
    }
}

fn reader(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab8-reader") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let dir = ctx.workdir(N);
    let mount = rec
        .config
        .volumes
        .iter()
        .find(|v| v.destination == std::path::Path::new("/data"));
    match mount {
        None => return Outcome::fail("lab8-reader has no volume at /data"),
        Some(m) if !m.read_only => return Outcome::fail("its /data mount is read-write: add :ro"),
        Some(m) if m.source.canonicalize().ok() != dir.canonicalize().ok() => {
            return Outcome::fail(format!(
                "it mounted {} instead of the lab directory",
                m.source.display()
            ))
        }
        Some(_) => {}
    }
    let log = ctx.log(&rec).ok().flatten();
    let printed = log.as_deref().is_none_or(|l| l.contains(LINE));
    let log = log.unwrap_or_default();
    if code == 0 && printed {
        Outcome::pass("it read the writer's line")
    } else {
        Outcome::fail(format!("exit code {code}, output {:?}", log.trim()))
    }
}

fn readonly(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab8-ro") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if ctx.workdir(N).join("x").exists() {
        return Outcome::fail(
            "the file x was written to the lab directory: the mount was not read-only (use :ro)",
        );
    }
    let ro = rec
        .config
        .volumes
        .iter()
        .any(|v| v.destination == std::path::Path::new("/data") && v.read_only);
    if !ro {
        return Outcome::fail("lab8-ro has no read-only volume at /data: use -v $D:/data:ro");
    }
    let log = ctx.log(&rec).ok().flatten();
    let refused = log
        .as_deref()
        .is_none_or(|l| l.contains("Read-only file system"));
    let log = log.unwrap_or_default();
    if code != 0 && refused {
        Outcome::pass(format!("exit code {code}: Read-only file system"))
    } else {
        Outcome::fail(format!(
            "exit code {code}, output {:?}: the write should fail with \"Read-only file system\"",
            log.trim()
        ))
    }
}
