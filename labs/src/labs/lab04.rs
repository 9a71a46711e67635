//! Lab 4: images and layers — the read-only image, the container's writable layer, copy-up,
//! whiteouts, and a tag that is a name, not a copy.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::text::tr;
use pier_engine::container::record::ContainerRecord;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

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
                    "you found the busybox layer whose /etc/passwd is still the original",
                    "/etc/passwd가 아직 원본인 busybox 레이어를 찾았다",
                ),
                after: &["copyup"],
                answer: Some("layer"),
                hint: tr(
                    "pier image inspect busybox lists LayerDirs; the one holding etc/passwd is the image's copy: pier lab answer 4 layer <DIR>",
                    "pier image inspect busybox가 LayerDirs를 나열합니다. etc/passwd가 있는 것이 이미지의 사본입니다: pier lab answer 4 layer <DIR>",
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

fn new_file(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let f = ctx.upper_dir(&rec).join("hello.txt");
    if f.is_file() {
        Outcome::pass(format!("{} exists", f.display()))
    } else {
        Outcome::fail(format!("{} does not exist", f.display()))
    }
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
        Outcome::pass(real.display().to_string())
    } else if given.contains("bundle/rootfs") {
        Outcome::fail("that is merged_dir, the union of image and upper layer as the container sees it; the changes alone are in upper_dir")
    } else if given.contains("/images/layers/") {
        Outcome::fail(
            "that is an image layer (read-only); the container's own changes are in upper_dir",
        )
    } else {
        Outcome::fail(format!("{given} is not lab4-writer's upper directory"))
    }
}

fn copy_up(ctx: &Ctx) -> Outcome {
    let rec = match writer(ctx) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let f = ctx.upper_dir(&rec).join("etc/passwd");
    match std::fs::read_to_string(&f) {
        Ok(t) if t.contains("lab4user:") => {
            Outcome::pass("upper/etc/passwd is a full copy plus your line")
        }
        Ok(_) => Outcome::fail("upper/etc/passwd exists but has no line for lab4user"),
        Err(_) => Outcome::fail(format!(
            "{} does not exist: /etc/passwd was not changed",
            f.display()
        )),
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
            return Outcome::fail(format!(
                "{} holds the lab4user line: the image itself was modified. Run `pier rmi busybox` and `pier image bootstrap busybox`",
                f.display()
            ));
        }
    }
    let given = match ctx.answer(N, "layer") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    // Accept the layer directory or the file in it.
    let dir = given.trim_end_matches('/');
    let dir = Path::new(dir.strip_suffix("/etc/passwd").unwrap_or(dir));
    let found = image
        .layer_dirs
        .iter()
        .find(|d| d.as_path() == dir && d.join("etc/passwd").is_file());
    match (found, writer(ctx)) {
        (Some(layer), _) => Outcome::pass(format!(
            "{}/etc/passwd has no lab4user line",
            layer.display()
        )),
        (None, Ok(rec)) if dir == ctx.upper_dir(&rec) => Outcome::fail(
            "that is lab4-writer's upper directory, which holds the CHANGED copy; the image's own file is in one of its LayerDirs",
        ),
        (None, _) if given.contains("bundle/rootfs") => Outcome::fail(
            "that is merged_dir, the union the container sees; the image's own file is in one of its LayerDirs",
        ),
        (None, _) => Outcome::fail(format!(
            "{given} is not a layer of busybox holding etc/passwd (pier image inspect busybox lists LayerDirs)"
        )),
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
            Outcome::pass("upper/bin/vi is a 0:0 character device")
        }
        Ok(_) => Outcome::fail(format!("{} exists but is not a whiteout", f.display())),
        Err(_) => {
            Outcome::fail("no whiteout for /bin/vi in the upper directory: vi was not deleted")
        }
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
        Outcome::pass(format!("both are {}", copy.short_id()))
    } else {
        Outcome::fail(format!(
            "lab4-copy is image {} but busybox is {}: tag, do not import a copy",
            copy.short_id(),
            orig.short_id()
        ))
    }
}
