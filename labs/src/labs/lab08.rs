//! Lab 8: volumes and persistence — data in the container's layer goes with the container, a
//! bind mount outlives it, a read-only mount refuses writes.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};

const N: u32 = 8;

/// The line the writer container appends to the shared file.
const LINE: &str = "written by lab8-writer";

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "08-volumes",
        title: "Volumes and persistence",
        minutes: 30,
        host_ports: &[],
        networks: &[],
        prepare: ensure_busybox,
        tasks: vec![
            Task {
                id: "scratch",
                title: "lab8-scratch wrote /notes.txt into its own writable layer",
                after: &[],
                answer: None,
                hint: "pier run --name lab8-scratch busybox sh -c 'echo draft > /notes.txt'",
                check: scratch,
            },
            Task {
                id: "data",
                title: "the lab directory holds log.txt written by lab8-writer",
                after: &[],
                answer: None,
                hint: "D=$(pier lab dir 8); pier run --name lab8-writer -v $D:/data busybox sh -c 'echo written by lab8-writer >> /data/log.txt'",
                check: data,
            },
            Task {
                id: "gone",
                title: "lab8-writer is removed, its data is not",
                after: &["data"],
                answer: None,
                hint: "pier rm lab8-writer; then look: ls $D",
                check: gone,
            },
            Task {
                id: "reader",
                title: "lab8-reader read the file through a read-only mount",
                after: &["data"],
                answer: None,
                hint: "pier run --name lab8-reader -v $D:/data:ro busybox cat /data/log.txt",
                check: reader,
            },
            Task {
                id: "readonly",
                title: "lab8-ro's write to a read-only mount was refused",
                after: &[],
                answer: None,
                hint: "pier run --name lab8-ro -v $D:/data:ro busybox sh -c 'echo x > /data/x'   (it must fail)",
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

fn data(ctx: &Ctx) -> Outcome {
    let f = ctx.workdir(N).join("log.txt");
    match std::fs::read_to_string(&f) {
        Ok(t) if t.contains(LINE) => Outcome::pass(f.display().to_string()),
        Ok(_) => Outcome::fail(format!(
            "{} exists but lacks the line {LINE:?}",
            f.display()
        )),
        Err(_) => Outcome::fail(format!(
            "{} does not exist: did you mount the lab directory (pier lab dir 8) at /data?",
            f.display()
        )),
    }
}

fn gone(ctx: &Ctx) -> Outcome {
    match ctx.container("lab8-writer") {
        Ok(_) => Outcome::fail("lab8-writer still exists: pier rm lab8-writer"),
        Err(_) => Outcome::pass("the container is gone, log.txt is still there"),
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
