//! Lab 8: volumes and persistence — data in the container's layer goes with the container, a
//! bind mount outlives it, a read-only mount refuses writes. The checks read the kernel's
//! ctime of the files: a file written or touched from the host after a container ended
//! changed after that end, so it is not the container's write.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{josa, tr, Josa};
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerRecord;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
                    "pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'   (the container writes it; a file touched from the host changes after the container ended)",
                    "pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'   (컨테이너가 써야 합니다. 호스트에서 touch한 파일은 컨테이너가 끝난 뒤에 바뀝니다)",
                ),
                check: scratch,
            },
            Task {
                id: "data",
                title: tr(
                    "the lab directory, bind-mounted into lab8-writer, holds the log.txt it wrote",
                    "lab8-writer에 바인드 마운트한 실습 디렉터리에 그 컨테이너가 쓴 log.txt가 있다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "Bind-mount the host directory D=$(pier lab dir 8): pier run --name lab8-writer -v $D:/data busybox sh -c 'echo written by $(hostname) >> /data/log.txt'   (single quotes: the container's shell runs hostname; the checker refuses a line added from the host)",
                    "호스트 디렉터리를 바인드 마운트하세요(D=$(pier lab dir 8)): pier run --name lab8-writer -v $D:/data busybox sh -c 'echo written by $(hostname) >> /data/log.txt'   (작은따옴표: hostname은 컨테이너의 셸이 실행합니다. 호스트에서 덧붙인 줄은 채점기가 받지 않습니다)",
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
                    "lab8-reader read the file through a read-only bind mount",
                    "lab8-reader가 읽기 전용 바인드 마운트로 파일을 읽었다",
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
                    "lab8-ro's write to a read-only bind mount was refused",
                    "읽기 전용 바인드 마운트에 대한 lab8-ro의 쓰기가 거부되었다",
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

/// Slack for the kernel's coarse clock: an inode's ctime comes from the tick-granular clock,
/// which may lag the precise time pier wrote in its records by a few milliseconds.
const TICK: Duration = Duration::from_millis(50);

/// When the inode of `path` last changed (its ctime), without following a symlink at the
/// end of the path. The kernel sets ctime on every write and every `touch`, and no system
/// call sets it back: a file written or touched from the host after a container ended has a
/// ctime after that end.
fn changed_at(path: &Path) -> std::io::Result<SystemTime> {
    let m = std::fs::symlink_metadata(path)?;
    let nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
    let secs = u64::try_from(m.ctime()).unwrap_or(0);
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Whether `at` lies in `[from - TICK, to]`.
fn within(at: SystemTime, from: SystemTime, to: SystemTime) -> bool {
    at + TICK >= from && at <= to
}

/// `t` as RFC 3339 (UTC, milliseconds), for a reason.
fn stamp(t: SystemTime) -> String {
    pier_oci::time::rfc3339_nanos(t)
}

/// The text of a file the containers of the lab could have replaced by anything (the lab
/// directory is bind-mounted read-write): a symlink at `path` is not followed, and only a
/// regular file is read (a FIFO would block the checker).
fn read_regular(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

fn scratch(ctx: &Ctx) -> Outcome {
    let (rec, _) = match ctx.exited("lab8-scratch") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let f = ctx.upper_dir(&rec).join("notes.txt");
    let Ok(at) = changed_at(&f) else {
        return Outcome::failed(
            format!(
                "{} does not exist: lab8-scratch must write /notes.txt itself",
                f.display()
            ),
            format!(
                "파일이 없습니다: {}. lab8-scratch가 직접 /notes.txt를 써야 합니다",
                f.display()
            ),
        );
    };
    let run = (
        pier_oci::time::parse_rfc3339(&rec.created),
        rec.finished_at
            .as_deref()
            .map(pier_oci::time::parse_rfc3339),
    );
    match run {
        (Ok(from), Some(Ok(to))) if within(at, from, to) => Outcome::passed(
            f.display().to_string(),
            f.display().to_string(),
        ),
        (Ok(_), Some(Ok(to))) => Outcome::failed(
            format!(
                "{} was last changed at {}, after lab8-scratch ended ({}): a file made or touched from the host is not the container's write",
                f.display(),
                stamp(at),
                stamp(to)
            ),
            format!(
                "{}의 마지막 변경 시각은 {}로, lab8-scratch가 끝난 뒤({})입니다: 호스트에서 만들거나 touch한 파일은 컨테이너가 쓴 것이 아닙니다",
                f.display(),
                stamp(at),
                stamp(to)
            ),
        ),
        _ => Outcome::failed(
            "lab8-scratch's record has no times of its run: run it again",
            "lab8-scratch의 기록에 실행 시각이 없습니다: 다시 실행하세요",
        ),
    }
}

/// A lab8-writer container pier created since the lab started: its full ID and the time
/// from its creation to the end of its command.
struct Writer {
    id: String,
    from: SystemTime,
    to: SystemTime,
}

/// Every lab8-writer that ran to its end since `pier lab start 8`, from pier's event log
/// (which outlives the container) and the record of one that still exists.
fn writers(ctx: &Ctx) -> anyhow::Result<Vec<Writer>> {
    let events = ctx.events(N, "lab8-writer")?;
    let mut out: Vec<Writer> = Vec::new();
    for create in events.iter().filter(|e| e.action == Action::Create) {
        let (Some(from), Some(to)) = (
            create.when(),
            events
                .iter()
                .find(|e| e.action == Action::Die && e.id == create.id)
                .and_then(|e| e.when()),
        ) else {
            continue;
        };
        out.push(Writer {
            id: create.id.clone(),
            from,
            to,
        });
    }
    if let Ok(rec) = ctx.container("lab8-writer") {
        let from = pier_oci::time::parse_rfc3339(&rec.created).ok();
        let to = rec
            .finished_at
            .as_deref()
            .and_then(|t| pier_oci::time::parse_rfc3339(t).ok());
        if let (Some(from), Some(to), false) = (from, to, out.iter().any(|w| w.id == rec.id)) {
            out.push(Writer {
                id: rec.id,
                from,
                to,
            });
        }
    }
    Ok(out)
}

/// The full ID of the lab8-writer container that wrote its hostname into log.txt: the line
/// must name a lab8-writer that pier created since the lab started, and the file must have
/// last changed while that container ran (the kernel's ctime of the file, which no one can
/// set back). A line written from the host names the host, or names a container that had
/// already ended when the file changed.
fn writer_id(ctx: &Ctx) -> Result<String, Outcome> {
    let f = ctx.workdir(N).join("log.txt");
    let shown = f.display().to_string();
    let text = read_regular(&f).map_err(|_| {
        Outcome::failed(
            format!("{shown} does not exist: did you bind-mount the lab directory (pier lab dir 8) at /data?"),
            format!(
                "파일이 없습니다: {shown}. 실습 디렉터리(pier lab dir 8)를 /data에 바인드 마운트했나요?"
            ),
        )
    })?;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(LINE))
        .map(str::trim)
        .collect();
    if names.is_empty() {
        return Err(Outcome::failed(
            format!("{shown} has no line {LINE:?} followed by the container's hostname"),
            format!("{shown}에 {LINE:?} 뒤에 컨테이너의 호스트 이름이 오는 줄이 없습니다"),
        ));
    }
    let writers = writers(ctx).map_err(Outcome::from)?;
    let named: Vec<&Writer> = writers
        .iter()
        .filter(|w| names.iter().any(|n| n.len() >= 12 && w.id.starts_with(n)))
        .collect();
    if named.is_empty() {
        return Err(Outcome::failed(
            format!(
                "{shown} says {LINE}{}, but no container lab8-writer with that hostname ran since `pier lab start 8` (pier events lists them): the line must be written by the container itself, without --hostname",
                names.join(", ")
            ),
            format!(
                "{shown}에는 \"{LINE}{}\"라고 적혀 있지만, `pier lab start 8` 이후에 그 호스트 이름으로 실행된 lab8-writer 컨테이너가 없습니다 (pier events가 보여 줍니다): 이 줄은 --hostname 없이 컨테이너가 직접 써야 합니다",
                names.join(", ")
            ),
        ));
    }
    let at = changed_at(&f).map_err(|e| Outcome::from(anyhow::Error::from(e)))?;
    match named.iter().find(|w| within(at, w.from, w.to)) {
        Some(w) => Ok(w.id.clone()),
        None => Err(Outcome::failed(
            format!(
                "{shown} was last changed at {}, when no lab8-writer it names was running: a line added from the host changes the file after the container ended; let the container write it",
                stamp(at)
            ),
            format!(
                "{shown}의 마지막 변경 시각은 {}인데, 그때 이 파일에 이름이 적힌 lab8-writer는 실행 중이 아니었습니다: 호스트에서 덧붙인 줄은 컨테이너가 끝난 뒤에 파일을 바꿉니다. 컨테이너가 쓰게 하세요",
                stamp(at)
            ),
        )),
    }
}

fn data(ctx: &Ctx) -> Outcome {
    match writer_id(ctx) {
        Ok(id) => Outcome::passed(
            format!("written by container {}", &id[..12]),
            format!("컨테이너 {}가 씀", &id[..12]),
        ),
        Err(o) => o,
    }
}

fn gone(ctx: &Ctx) -> Outcome {
    let id = match writer_id(ctx) {
        Ok(id) => id,
        Err(o) => return o,
    };
    if ctx.container("lab8-writer").is_ok() {
        return Outcome::failed(
            "lab8-writer still exists: pier rm lab8-writer",
            "lab8-writer가 아직 있습니다: pier rm lab8-writer",
        );
    }
    let destroyed = ctx.events(N, "lab8-writer").is_ok_and(|events| {
        events
            .iter()
            .any(|e| e.action == Action::Destroy && e.id == id)
    });
    if destroyed {
        Outcome::passed(
            "the container is gone, log.txt is still there",
            "컨테이너는 사라졌고 log.txt는 그대로 있습니다",
        )
    } else {
        Outcome::failed(
            "pier's event log has no removal of the lab8-writer that wrote log.txt: remove it with pier rm lab8-writer",
            "pier의 이벤트 로그에 log.txt를 쓴 lab8-writer의 삭제가 없습니다: pier rm lab8-writer로 삭제하세요",
        )
    }
}

/// The bind mount at /data of `rec`, checked: read-only, from the lab directory.
fn ro_bind(ctx: &Ctx, rec: &ContainerRecord) -> Result<(), Outcome> {
    let name = &rec.name;
    let dir = ctx.workdir(N);
    let mount = rec
        .config
        .volumes
        .iter()
        .find(|v| v.destination == Path::new("/data"));
    match mount {
        None => Err(Outcome::failed(
            format!("{name} has no bind mount at /data: use -v $D:/data:ro"),
            format!(
                "{} /data에 바인드 마운트가 없습니다: -v $D:/data:ro를 쓰세요",
                josa(name, Josa::EunNeun)
            ),
        )),
        Some(m) if !m.read_only => Err(Outcome::failed(
            format!("{name}'s /data mount is read-write: add :ro"),
            format!("{name}의 /data 마운트가 읽기-쓰기입니다: :ro를 붙이세요"),
        )),
        Some(m) if m.source.canonicalize().ok() != dir.canonicalize().ok() => {
            let source = m.source.display().to_string();
            Err(Outcome::failed(
                format!("{name} mounted {source} instead of the lab directory"),
                format!(
                    "{} 실습 디렉터리 대신 {} 마운트했습니다",
                    josa(name, Josa::EunNeun),
                    josa(&source, Josa::EulReul)
                ),
            ))
        }
        Some(_) => Ok(()),
    }
}

fn reader(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab8-reader") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if let Err(o) = ro_bind(ctx, &rec) {
        return o;
    }
    // The line the writer container wrote names its ID, which only this machine's writer had.
    let writer = match writer_id(ctx) {
        Ok(id) => id,
        Err(o) => return o,
    };
    let log = match ctx.log(&rec) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    if code == 0 && log.contains(&format!("{LINE}{}", &writer[..12])) {
        Outcome::passed(
            "it read the writer's line",
            "기록한 컨테이너의 줄을 읽었습니다",
        )
    } else {
        Outcome::failed(
            format!(
                "exit code {code}, output {:?}: it should print log.txt (cat /data/log.txt)",
                log.trim()
            ),
            format!(
                "종료 코드 {code}, 출력 {:?}: log.txt를 출력해야 합니다 (cat /data/log.txt)",
                log.trim()
            ),
        )
    }
}

fn readonly(ctx: &Ctx) -> Outcome {
    let (rec, code) = match ctx.exited("lab8-ro") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    if std::fs::symlink_metadata(ctx.workdir(N).join("x")).is_ok() {
        return Outcome::failed(
            "the file x was written to the lab directory: the mount was not read-only (use :ro)",
            "실습 디렉터리에 파일 x가 쓰였습니다: 마운트가 읽기 전용이 아니었습니다 (:ro를 쓰세요)",
        );
    }
    if let Err(o) = ro_bind(ctx, &rec) {
        return o;
    }
    let log = match ctx.log(&rec) {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return e.into(),
    };
    if code != 0 && log.contains("Read-only file system") {
        Outcome::passed(
            format!("exit code {code}: Read-only file system"),
            format!("종료 코드 {code}: Read-only file system"),
        )
    } else {
        Outcome::failed(
            format!(
                "exit code {code}, output {:?}: the write should fail with \"Read-only file system\"",
                log.trim()
            ),
            format!(
                "종료 코드 {code}, 출력 {:?}: 쓰기가 \"Read-only file system\"으로 실패해야 합니다",
                log.trim()
            ),
        )
    }
}
