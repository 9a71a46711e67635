//! `pier system prune` and the cgroups of containers no state directory knows: an empty one
//! left untouched for a while goes (and is named), a fresh one (a container being set up) and
//! one with a process stay, and nothing outside pier's own parent is touched.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cgroup_dir, Pier};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 64-hex-digit name no container has.
fn unknown_id(tag: u8) -> String {
    format!("{:02x}{:062x}", tag, u128::from(std::process::id()))
}

/// Backdates `dir`'s modification time by two hours.
fn backdate(dir: &Path) {
    let out = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(dir)
        .output()
        .expect("touch");
    assert!(out.status.success(), "touch -d {}", dir.display());
}

/// Kills its process and removes the directories it holds when dropped (the test's own
/// cgroups, whatever happens).
struct Cleanup(Vec<PathBuf>, Option<std::process::Child>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut c) = self.1.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn prune_removes_empty_cgroups_of_unknown_containers_under_its_parent_only() {
    let p = Pier::new();
    // pier's own cgroup parent, as this pier places it: the parent of a container's cgroup
    // (which keeps it while running).
    let id = p.run_detached(&["busybox", "sleep", "1000"]);
    let info = p.inspect(&id);
    let parent = cgroup_dir(&info, "pids")
        .parent()
        .expect("a parent of the container's cgroup")
        .to_path_buf();

    let stale = parent.join(unknown_id(0xa1));
    let fresh = parent.join(unknown_id(0xb2));
    let busy = parent.join(unknown_id(0xc3));
    // A directory with a container-like name beside pier's parent, not under it.
    let outside = parent
        .parent()
        .expect("the parent's parent")
        .join(unknown_id(0xd4));
    let mut cleanup = Cleanup(
        vec![stale.clone(), fresh.clone(), busy.clone(), outside.clone()],
        None,
    );
    for d in [&stale, &fresh, &busy, &outside] {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    // A process in `busy` (a sleep, killed at the end).
    let sleeper = Command::new("sleep").arg("1000").spawn().expect("sleep");
    let pid = sleeper.id();
    cleanup.1 = Some(sleeper);
    std::fs::write(busy.join("cgroup.procs"), pid.to_string()).expect("join busy");
    for d in [&stale, &busy, &outside] {
        backdate(d);
    }

    let out = p.ok(&["system", "prune"]);
    let stale_id = unknown_id(0xa1);
    assert!(!stale.exists(), "the stale empty cgroup is left: {out}");
    assert!(
        out.contains(&stale_id),
        "prune does not say it removed {stale_id}: {out}"
    );
    assert!(
        fresh.exists(),
        "a fresh cgroup (a container being set up) was removed"
    );
    assert!(busy.exists(), "a cgroup with a process was removed");
    assert!(
        outside.exists(),
        "a cgroup outside pier's parent was removed"
    );
    p.ok(&["rm", "-f", &id]);
}
