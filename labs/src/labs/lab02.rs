//! Lab 2: namespaces — PID 1, the hostname, mounts, `lsns`, and `nsenter` into a container.

use super::ensure_busybox;
use crate::context::Ctx;
use crate::lab::{Lab, Outcome, Task};
use crate::probe;
use anyhow::{Context, Result};
use std::os::unix::fs::PermissionsExt;

/// A shell script that prints what a container sees (PID, hostname, namespaces, cgroup,
/// limits, capabilities, mounts, devices, network); `pier lab start 2` writes it into the
/// lab's directory, to be bind-mounted into any container.
pub const PIER_PROBE: &str = include_str!("../../02-namespaces/pier-probe");

const N: u32 = 2;

/// The lab.
pub fn lab() -> Lab {
    Lab {
        number: N,
        slug: "02-namespaces",
        title: "Namespaces: what a container sees",
        minutes: 30,
        host_ports: &[],
        networks: &[],
        prepare,
        tasks: vec![
            Task {
                id: "box",
                title: "lab2-box runs with the hostname lab2",
                after: &[],
                answer: None,
                hint: "pier run -d --name lab2-box --hostname lab2 busybox sleep 3600",
                check: box_running,
            },
            Task {
                id: "pid1",
                title: "lab2-box's command is PID 1 in its own PID namespace",
                after: &[],
                answer: None,
                hint: "The first process of a new PID namespace is PID 1 there; see `pier exec lab2-box ps`",
                check: pid1,
            },
            Task {
                id: "hostpid",
                title: "you found lab2-box's PID on the host",
                after: &[],
                answer: Some("pid"),
                hint: "pier inspect lab2-box shows \"init\": {\"pid\": ...}; record it: pier lab answer 2 pid <PID>",
                check: host_pid,
            },
            Task {
                id: "netns",
                title: "you found lab2-box's network namespace number",
                after: &["hostpid"],
                answer: Some("netns"),
                hint: "readlink /proc/<PID>/ns/net prints net:[NUMBER], and `lsns -t net` lists the same number; record it: pier lab answer 2 netns <NUMBER>",
                check: netns,
            },
            Task {
                id: "nsenter",
                title: "you entered lab2-box with nsenter and created /tmp/nsenter-was-here in it",
                after: &[],
                answer: None,
                hint: "nsenter -t <PID> -a touch /tmp/nsenter-was-here  (-a enters all of the process's namespaces, the mount namespace included)",
                check: entered,
            },
        ],
    }
}

fn prepare(ctx: &Ctx) -> Result<()> {
    ensure_busybox(ctx)?;
    let dir = ctx.workdir(N);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join("pier-probe");
    std::fs::write(&probe, PIER_PROBE).with_context(|| format!("writing {}", probe.display()))?;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", probe.display()))?;
    Ok(())
}

fn box_running(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    match probe::nsenter(pid, &["-u"], &["hostname"]) {
        Ok(h) if h.trim() == "lab2" => Outcome::pass("its UTS namespace says lab2"),
        Ok(h) => Outcome::fail(format!(
            "lab2-box's hostname is {:?}, not lab2 (remove it and run it again with --hostname lab2)",
            h.trim()
        )),
        Err(e) => e.into(),
    }
}

fn pid1(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let status = match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("reading /proc/{pid}/status: {e}")),
    };
    // NSpid lists the PID in each PID namespace, outermost first.
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>();
    match nspid.as_slice() {
        [host, .., inner] if *inner == "1" => {
            Outcome::pass(format!("PID {host} on the host, 1 inside"))
        }
        _ => Outcome::fail(format!(
            "/proc/{pid}/status says NSpid: {}",
            nspid.join(" ")
        )),
    }
}

fn host_pid(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "pid") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    if given == pid.to_string() {
        Outcome::pass(format!("PID {pid}"))
    } else if given == "1" {
        Outcome::fail(
            "1 is the PID inside the container; the host numbers the same process differently",
        )
    } else {
        Outcome::fail(format!("{given} is not the host PID of lab2-box's init (if you re-created the container, its PID changed)"))
    }
}

fn netns(ctx: &Ctx) -> Outcome {
    let (_, pid) = match ctx.running("lab2-box") {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let given = match ctx.answer(N, "netns") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let real = match probe::namespace(pid, "net") {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let host = probe::namespace(1, "net").unwrap_or_default();
    match (
        probe::namespace_inode(&given),
        probe::namespace_inode(&real),
    ) {
        (Some(g), Some(r)) if g == r => Outcome::pass(real),
        (Some(_), _) if probe::namespace_inode(&given) == probe::namespace_inode(&host) => {
            Outcome::fail(
                "that is the host's network namespace (of PID 1 on the host), not the container's",
            )
        }
        (None, _) => Outcome::fail(format!("{given:?} is not a number like 4026532201")),
        _ => Outcome::fail(format!("{given} is not the network namespace of lab2-box")),
    }
}

fn entered(ctx: &Ctx) -> Outcome {
    let rec = match ctx.running("lab2-box") {
        Ok((rec, _)) => rec,
        Err(e) => return e.into(),
    };
    let in_container = ctx.upper_dir(&rec).join("tmp/nsenter-was-here");
    if in_container.exists() {
        Outcome::pass(format!("found {}", in_container.display()))
    } else if std::path::Path::new("/tmp/nsenter-was-here").exists() {
        Outcome::fail("/tmp/nsenter-was-here exists on the HOST: nsenter without -m (or -a) stays in the host's mount namespace. Delete it and try with -a")
    } else {
        Outcome::fail("the container's /tmp has no file nsenter-was-here")
    }
}
