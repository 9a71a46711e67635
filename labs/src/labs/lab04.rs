//! Lab 4: images and layers — the read-only image, the container's writable layer, copy-up,
//! whiteouts, and a tag that is a name, not a copy.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::{self, josa, tr, Josa};
use pier_engine::container::events::Action;
use pier_engine::container::record::ContainerRecord;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

const N: u32 = 4;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "04-images-and-layers",
        title: tr(
            "Images and layers",
            "이미지와 레이어",
        ),
        minutes: 35,
        host_ports: &[],
        networks: &[],
        needs: None,
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "newfile",
                title: tr(
                    "lab4-writer created /hello.txt in its writable layer",
                    "lab4-writer가 쓰기 가능한 레이어에 /hello.txt를 만들었다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier run --name lab4-writer busybox sh -c 'echo hi > /hello.txt; echo \"lab4user:x:4004:4004::/home:/bin/sh\" >> /etc/passwd; rm /bin/vi'",
                    "pier run --name lab4-writer busybox sh -c 'echo hi > /hello.txt; echo \"lab4user:x:4004:4004::/home:/bin/sh\" >> /etc/passwd; rm /bin/vi'",
                ),
                check: new_file,
            },
            Task {
                id: "upper",
                title: tr(
                    "you found lab4-writer's upper directory",
                    "lab4-writer의 상위(upper) 디렉터리를 찾았다",
                ),
                after: &["newfile"],
                answer: Some("upper"),
                hint: tr(
                    "pier inspect lab4-writer shows \"upper_dir\"; record it: pier lab answer 4 upper <PATH>",
                    "pier inspect lab4-writer에 \"upper_dir\"가 보입니다. 기록하세요: pier lab answer 4 upper <PATH>",
                ),
                check: upper,
            },
            Task {
                id: "copyup",
                title: tr(
                    "lab4-writer changed /etc/passwd (a copy-up)",
                    "lab4-writer가 /etc/passwd를 바꾸었다(copy-up)",
                ),
                after: &["newfile"],
                answer: None,
                hint: tr(
                    "Append a line to /etc/passwd inside lab4-writer (see the command of task newfile)",
                    "lab4-writer 안에서 /etc/passwd에 한 줄을 덧붙이세요(과제 newfile의 명령 참고)",
                ),
                check: copy_up,
            },
            Task {
                id: "image",
                title: tr(
                    "you found the inode of busybox's own /etc/passwd, which the copy-up left alone",
                    "copy-up이 건드리지 않은 busybox 원본 /etc/passwd의 아이노드 번호를 찾았다",
                ),
                after: &["copyup"],
                answer: Some("passwd-inode"),
                hint: tr(
                    "pier image inspect busybox lists LayerDirs; ls -i <DIR>/etc/passwd prints the inode number of the image's file (compare the copy's in the upper directory): pier lab answer 4 passwd-inode <N>",
                    "pier image inspect busybox가 LayerDirs를 나열합니다. ls -i <DIR>/etc/passwd가 이미지 파일의 아이노드 번호를 출력합니다(상위 디렉터리에 있는 사본의 번호와 비교해 보세요): pier lab answer 4 passwd-inode <N>",
                ),
                check: image_unchanged,
            },
            Task {
                id: "whiteout",
                title: tr(
                    "lab4-writer deleted /bin/vi (a whiteout)",
                    "lab4-writer가 /bin/vi를 지웠다(화이트아웃)",
                ),
                after: &["newfile"],
                answer: None,
                hint: tr(
                    "rm /bin/vi inside lab4-writer; the upper directory then holds a character device 0:0 named vi",
                    "lab4-writer 안에서 rm /bin/vi; 그러면 상위 디렉터리에 vi라는 이름의 문자 장치 0:0이 생깁니다",
                ),
                check: whiteout,
            },
            Task {
                id: "tag",
                title: tr(
                    "lab4-copy:latest names the same image as busybox",
                    "lab4-copy:latest가 busybox와 같은 이미지를 가리킨다",
                ),
                after: &[],
                answer: None,
                hint: tr(
                    "pier tag busybox lab4-copy",
                    "pier tag busybox lab4-copy",
                ),
                check: tag,
            },
        ],
    }
}

fn writer(ctx: &Ctx) -> Result<ContainerRecord, Outcome> {
    ctx.container("lab4-writer").map_err(Outcome::from)
}

/// How far a file's change time may lie outside a run of lab4-writer: pier logs `start`
/// just before the process runs and `die` just after it ends, and the kernel's file clock is
/// coarse (a tick).
const SLACK: Duration = Duration::from_secs(1);

/// When lab4-writer ran, from pier's event log: each `start` to the `die` after it (a
/// running container's last run ends now).
fn runs(ctx: &Ctx, rec: &ContainerRecord) -> Result<Vec<(SystemTime, SystemTime)>, Outcome> {
    let events = ctx.events(N, "lab4-writer").map_err(Outcome::from)?;
    let mut out = Vec::new();
    let mut began = None;
    for e in events.iter().filter(|e| e.id == rec.id) {
        match (e.action, e.when()) {
            (Action::Start, Some(at)) => began = Some(at),
            (Action::Die, Some(at)) => {
                if let Some(b) = began.take() {
                    out.push((b, at));
                }
            }
            _ => {}
        }
    }
    if let Some(b) = began {
        out.push((b, SystemTime::now()));
    }
    Ok(out)
}

/// A change in the upper directory counts only if the kernel changed that inode while
/// lab4-writer ran: its ctime, which no program can set (touch -d sets mtime and atime and
/// moves ctime to now). A file written into the upper directory from the host after the
/// container exited (the shortcut) has a ctime after the run.
fn made_by_the_run(ctx: &Ctx, rec: &ContainerRecord, path: &Path) -> Result<(), Outcome> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        Outcome::Fail(text::machine_error(&format!(
            "reading {}: {e}",
            path.display()
        )))
    })?;
    let changed = SystemTime::UNIX_EPOCH
        + Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec().max(0) as u32);
    let windows = runs(ctx, rec)?;
    if windows
        .iter()
        .any(|(b, e)| changed + SLACK >= *b && changed <= *e + SLACK)
    {
        return Ok(());
    }
    let when = pier_oci::time::rfc3339_seconds(changed);
    Err(Outcome::failed(
        format!(
            "{} was changed at {when}, when lab4-writer was not running (pier's event log): it was written from the host, not through the container's overlay. Remove lab4-writer and run the command again",
            path.display()
        ),
        format!(
            "{} {when}에 바뀌었는데, 그때 lab4-writer는 실행 중이 아니었습니다(pier의 이벤트 로그): 컨테이너의 오버레이를 거치지 않고 호스트에서 쓴 것입니다. lab4-writer를 삭제하고 명령을 다시 실행하세요",
            josa(&path.display().to_string(), Josa::EunNeun)
        ),
    ))
}

fn new_file(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let f = ctx.upper_dir(&rec).join("hello.txt");
    if !f.is_file() {
        return Outcome::failed(
            format!("{} does not exist", f.display()),
            format!("{} 없습니다", josa(&f.display().to_string(), Josa::IGa)),
        );
    }
    if let Err(o) = made_by_the_run(ctx, &rec, &f) {
        return o;
    }
    Outcome::passed(
        format!("{} exists", f.display()),
        format!("{} 있습니다", josa(&f.display().to_string(), Josa::IGa)),
    )
}

fn upper(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let given = match ctx.answer(N, "upper") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = ctx.upper_dir(&rec);
    if std::path::Path::new(given.trim_end_matches('/')) == real {
        let shown = real.display().to_string();
        Outcome::passed(shown.clone(), shown)
    } else if given.contains("bundle/rootfs") {
        Outcome::failed(
            "that is merged_dir, the union of image and upper layer as the container sees it; the changes alone are in upper_dir",
            "그것은 merged_dir, 곧 컨테이너가 보는 이미지와 상위 레이어의 합집합입니다. 바뀐 내용만 있는 곳은 upper_dir입니다",
        )
    } else if given.contains("/images/layers/") {
        Outcome::failed(
            "that is an image layer (read-only); the container's own changes are in upper_dir",
            "그것은 (읽기 전용인) 이미지 레이어입니다. 컨테이너 자신이 바꾼 내용은 upper_dir에 있습니다",
        )
    } else {
        Outcome::failed(
            format!("{given} is not lab4-writer's upper directory"),
            format!(
                "{} lab4-writer의 상위 디렉터리가 아닙니다",
                josa(&given, Josa::EunNeun)
            ),
        )
    }
}

fn copy_up(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let f = ctx.upper_dir(&rec).join("etc/passwd");
    match std::fs::read_to_string(&f) {
        Ok(t) if t.contains("lab4user:") => match made_by_the_run(ctx, &rec, &f) {
            Ok(()) => Outcome::passed(
                "upper/etc/passwd is a full copy plus your line",
                "upper/etc/passwd는 원본 전체의 사본에 여러분의 줄이 더해진 것입니다",
            ),
            Err(o) => o,
        },
        Ok(_) => Outcome::failed(
            "upper/etc/passwd exists but has no line for lab4user",
            "upper/etc/passwd는 있지만 lab4user 줄이 없습니다",
        ),
        Err(_) => Outcome::failed(
            format!(
                "{} does not exist: /etc/passwd was not changed",
                f.display()
            ),
            format!(
                "{} 없습니다: /etc/passwd가 바뀌지 않았습니다",
                josa(&f.display().to_string(), Josa::IGa)
            ),
        ),
    }
}

fn image_unchanged(ctx: &Ctx) -> Outcome {
    let image = match ctx.image("busybox") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    for dir in &image.layer_dirs {
        let f = dir.join("etc/passwd");
        if std::fs::read_to_string(&f).is_ok_and(|t| t.contains("lab4user:")) {
            return Outcome::failed(
                format!(
                    "{} holds the lab4user line: the image itself was modified. Run `pier rmi busybox` and `pier image bootstrap busybox`",
                    f.display()
                ),
                format!(
                    "{}에 lab4user 줄이 있습니다: 이미지 자체가 바뀌었습니다. `pier rmi busybox`와 `pier image bootstrap busybox`를 실행하세요",
                    f.display()
                ),
            );
        }
    }
    // The inode number of the file on this machine's disk: not printed in the text, not the
    // same from one machine (or state directory) to the next, unlike the layer's path.
    let given = match ctx.answer(N, "passwd-inode") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let Ok(n) = given.trim().parse::<u64>() else {
        return Outcome::failed(
            format!("{given:?} is not an inode number such as 1835042 (ls -i or stat -c %i prints it)"),
            format!("{given:?}: 1835042 같은 아이노드 번호가 아닙니다 (ls -i나 stat -c %i가 출력합니다)"),
        );
    };
    let inode = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| m.ino());
    if let Some(layer) = image
        .layer_dirs
        .iter()
        .find(|d| inode(&d.join("etc/passwd")) == Some(n))
    {
        return Outcome::passed(
            format!(
                "inode {n}: {}/etc/passwd, without the lab4user line",
                layer.display()
            ),
            format!(
                "아이노드 {n}: lab4user 줄이 없는 {}/etc/passwd",
                layer.display()
            ),
        );
    }
    match writer(ctx) {
        Ok(rec) if inode(&ctx.upper_dir(&rec).join("etc/passwd")) == Some(n) => Outcome::failed(
            "that is the inode of the copy in lab4-writer's upper directory, which holds the CHANGED file (copy-up made a new one); the image's own file is in one of its LayerDirs",
            "그것은 lab4-writer의 상위 디렉터리에 있는 사본, 곧 바뀐 파일의 아이노드입니다(copy-up이 새 파일을 만들었습니다). 이미지의 원래 파일은 LayerDirs 중 하나에 있습니다",
        ),
        _ => Outcome::failed(
            format!("{n} is not the inode of etc/passwd in a layer of busybox (pier image inspect busybox lists LayerDirs; ls -i shows inode numbers)"),
            format!(
                "{} busybox 레이어에 있는 etc/passwd의 아이노드가 아닙니다 (pier image inspect busybox가 LayerDirs를, ls -i가 아이노드 번호를 보여 줍니다)",
                josa(&n.to_string(), Josa::EunNeun)
            ),
        ),
    }
}

fn whiteout(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let f = ctx.upper_dir(&rec).join("bin/vi");
    match std::fs::symlink_metadata(&f) {
        Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => {
            match made_by_the_run(ctx, &rec, &f) {
                Ok(()) => Outcome::passed(
                    "upper/bin/vi is a 0:0 character device",
                    "upper/bin/vi는 0:0 문자 장치입니다",
                ),
                Err(o) => o,
            }
        }
        Ok(_) => Outcome::failed(
            format!("{} exists but is not a whiteout", f.display()),
            format!(
                "{} 있지만 화이트아웃이 아닙니다",
                josa(&f.display().to_string(), Josa::IGa)
            ),
        ),
        Err(_) => Outcome::failed(
            "no whiteout for /bin/vi in the upper directory: vi was not deleted",
            "상위 디렉터리에 /bin/vi의 화이트아웃이 없습니다: vi가 지워지지 않았습니다",
        ),
    }
}

fn tag(ctx: &Ctx) -> Outcome {
    let copy = match ctx.image("lab4-copy:latest") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let orig = match ctx.image("busybox") {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    if copy.id == orig.id {
        let id = copy.short_id();
        Outcome::passed(format!("both are {id}"), format!("둘 다 {id}입니다"))
    } else {
        Outcome::failed(
            format!(
                "lab4-copy is image {} but busybox is {}: tag, do not import a copy",
                copy.short_id(),
                orig.short_id()
            ),
            format!(
                "lab4-copy는 이미지 {}인데 busybox는 {}입니다: 사본을 가져오지 말고 태그를 붙이세요",
                copy.short_id(),
                orig.short_id()
            ),
        )
    }
}
