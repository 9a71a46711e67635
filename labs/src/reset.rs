//! `pier lab reset N`: remove everything lab N made — containers, images and networks named
//! with its prefix, its working directory, its answers — then assert nothing is left.

use crate::context::Ctx;
use crate::daemon;
use crate::lab::Lab;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use pier_engine::container::mountinfo::mounts_under;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Removes what `lab` made; returns one line per object removed. Fails if anything is left.
pub fn reset(ctx: &Ctx, lab: &Lab) -> Result<Vec<String>> {
    let prefix = lab.prefix();
    let mut removed = crate::labs::teardown(ctx, lab)?;
    let mut leftovers_to_watch: Vec<(String, Vec<PathBuf>, PathBuf, Option<i32>)> = Vec::new();

    for rec in ctx.engine().containers()? {
        if !rec.name.starts_with(&prefix) {
            continue;
        }
        let cgroup_dirs: Vec<PathBuf> = rec
            .cgroup
            .iter()
            .flat_map(|cg| {
                ["memory", "cpu", "pids", "freezer", "devices"]
                    .iter()
                    .filter_map(|c| cg.cgroup_dir(c))
                    .collect::<Vec<_>>()
            })
            .collect();
        let dir = ctx.engine().paths(&rec.id).dir;
        let pid = rec.init.filter(|p| p.is_alive()).map(|p| p.pid);
        ctx.engine()
            .remove(&rec.id, true)
            .with_context(|| format!("removing container {}", rec.name))?;
        removed.push(format!("container {}", rec.name));
        leftovers_to_watch.push((rec.name.clone(), cgroup_dirs, dir, pid));
    }

    for net in lab.networks {
        if network_exists(ctx, net) {
            let status = Command::new(ctx.pier())
                .arg("--root")
                .arg(ctx.root())
                .args(["network", "rm", net])
                .stdout(Stdio::null())
                .status()
                .with_context(|| format!("running pier network rm {net}"))?;
            if !status.success() {
                bail!("pier network rm {net} failed");
            }
            removed.push(format!("network {net}"));
        }
    }

    // Named volumes of the lab (`lab15_data`, as compose names them, or `lab15-...`), once
    // the containers using them are gone.
    let volumes = ctx.engine().volumes()?;
    for v in volumes.list()? {
        if made_by_volume(&v.name, lab.number) {
            ctx.engine()
                .remove_volume(&v.name)
                .with_context(|| format!("removing volume {}", v.name))?;
            removed.push(format!("volume {}", v.name));
        }
    }

    let store = ctx.engine().images()?;
    for image in store.list()? {
        for reference in &image.references {
            if made_by(reference, &prefix) {
                store
                    .remove(reference)
                    .with_context(|| format!("removing image {reference}"))?;
                removed.push(format!("image {reference}"));
            }
        }
    }

    let work = ctx.workdir(lab.number);
    for name in daemon::stop_all(&work)? {
        removed.push(format!("server {name}"));
    }
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
        removed.push(format!("directory {}", work.display()));
    }
    Progress::update(ctx.root(), |p| {
        p.labs.remove(&lab.number);
    })?;

    // Assert: nothing of the lab is left.
    let mut left = Vec::new();
    for rec in ctx.engine().containers()? {
        if rec.name.starts_with(&prefix) {
            left.push(format!("container {}", rec.name));
        }
    }
    for (name, cgroups, dir, pid) in &leftovers_to_watch {
        for cg in cgroups {
            if cg.exists() {
                left.push(format!("cgroup {} of {name}", cg.display()));
            }
        }
        for m in mounts_under(dir) {
            left.push(format!("mount {} of {name}", m.display()));
        }
        if dir.exists() {
            left.push(format!("directory {} of {name}", dir.display()));
        }
        if let Some(pid) = pid {
            if std::path::Path::new(&format!("/proc/{pid}")).exists()
                && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z"))
                    .unwrap_or(false)
            {
                // PIDs are reused; only report it if it is still in a container of ours.
                let cgroup =
                    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                if cgroup.contains("/pier/") {
                    left.push(format!("process {pid} of {name}"));
                }
            }
        }
    }
    for image in store.list()? {
        for reference in &image.references {
            if made_by(reference, &prefix) {
                left.push(format!("image {reference}"));
            }
        }
    }
    for v in volumes.list()? {
        if made_by_volume(&v.name, lab.number) {
            left.push(format!("volume {}", v.name));
        }
    }
    for net in lab.networks {
        if network_exists(ctx, net) {
            left.push(format!("network {net}"));
        }
    }
    if !left.is_empty() {
        bail!(
            "reset of lab {} left things behind: {}",
            lab.number,
            left.join(", ")
        );
    }
    Ok(removed)
}

/// Whether an image reference belongs to the lab: its repository's last path component starts
/// with the lab's prefix (`lab11-app:v1`, and `localhost:5000/lab11-app:v1` pushed from it).
fn made_by(reference: &str, prefix: &str) -> bool {
    reference
        .rsplit('/')
        .next()
        .unwrap_or(reference)
        .starts_with(prefix)
}

/// Whether a volume belongs to lab `n`: named `labN-...`, or `labN_...` as compose names the
/// volumes of a project called `labN`.
fn made_by_volume(name: &str, n: u32) -> bool {
    name.starts_with(&format!("lab{n}-")) || name.starts_with(&format!("lab{n}_"))
}

/// Whether `pier network inspect NAME` finds the network.
fn network_exists(ctx: &Ctx, name: &str) -> bool {
    Command::new(ctx.pier())
        .arg("--root")
        .arg(ctx.root())
        .args(["network", "inspect", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
