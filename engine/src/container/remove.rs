//! Removing containers and cleaning up: `pier rm`, the reconcile every command runs, and
//! `pier system prune`. Nothing pier made may outlive the container: not the overlay mount,
//! the cgroup, the network namespace and veth, the runtime directory or a process.

use super::events::{Action, Event};
use super::mountinfo;
use super::record::{ContainerPaths, ContainerRecord, ContainerStatus};
use super::{now_rfc3339, Engine};
use crate::image::overlay;
use anyhow::{bail, Context, Result};
use pier_oci::trace;
use std::time::Duration;

/// What `pier system prune` removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Removed containers (full IDs, as Docker lists them).
    pub containers: Vec<String>,
    /// Bytes of their writable layers.
    pub reclaimed: u64,
    /// Other leftovers removed (mounts, cgroups, network state).
    pub leftovers: Vec<String>,
}

impl Engine {
    /// `pier rm [-f]`: the container goes, its volumes stay.
    pub fn remove(&self, key: &str, force: bool) -> Result<String> {
        self.remove_container(key, force, false)
    }

    /// `pier rm -v [-f]`: the container and its anonymous volumes (those no other container
    /// uses); named volumes stay, as in Docker.
    pub fn remove_with_volumes(&self, key: &str, force: bool) -> Result<String> {
        self.remove_container(key, force, true)
    }

    fn remove_container(&self, key: &str, force: bool, volumes: bool) -> Result<String> {
        let (paths, rec) = self.find(key)?;
        if rec.restarting && rec.monitor.is_some_and(|m| m.is_alive()) {
            if !force {
                bail!(
                    "cannot remove container {}: it is restarting (stop it first, or use rm -f)",
                    rec.name
                );
            }
            self.end_restart_wait(&rec)?;
        }
        // Read again: a run the monitor had begun before it saw the stop is running now.
        let rec = ContainerRecord::load(&paths).unwrap_or(rec);
        if rec.status == ContainerStatus::Running {
            if !force {
                bail!(
                    "cannot remove container {}: it is running (stop it first, or use rm -f)",
                    rec.name
                );
            }
            // The monitor must not restart what is being removed.
            self.update(&paths, |r| r.stopped_by_user = true)?;
            if let Some(init) = rec.init {
                self.signal_init(&rec, init.pid, nix::sys::signal::Signal::SIGKILL);
            }
            self.thaw_after_signal(&rec.id);
            if !self.wait_until_stopped(&rec.id, Duration::from_secs(10))? {
                bail!("container {} did not stop after SIGKILL", rec.name);
            }
        }
        self.teardown(&paths)?;
        self.remove_files(&paths)?;
        if volumes {
            self.remove_anonymous_volumes(&rec)?;
        }
        Ok(rec.name)
    }

    /// Releases what a container holds while it runs: processes, cgroup, rootfs mount,
    /// network, runtime directory. Idempotent.
    pub(crate) fn teardown(&self, paths: &ContainerPaths) -> Result<()> {
        self.teardown_as(paths, false)
    }

    /// [`Engine::teardown`]; with `network_later` (a container that just exited) its network
    /// is only marked for tear-down and its namespace dropped: the next pier command completes
    /// it (`network::pending`), so the exit is reported without waiting for the kernel.
    pub(crate) fn teardown_as(&self, paths: &ContainerPaths, network_later: bool) -> Result<()> {
        let rec = ContainerRecord::load(paths).ok();
        let cgroup = trace::Phase::start("tear-down: cgroup");
        if let Some(cg) = rec.as_ref().and_then(|r| r.cgroup.clone()) {
            cg.destroy().with_context(|| {
                format!("removing the cgroup of container {}", paths.dir.display())
            })?;
            // The shared "pier" parent goes with its last container.
            cg.remove_empty_pier_parent();
        } else if let Some(init) = rec.as_ref().and_then(|r| r.init).filter(|p| p.is_alive()) {
            let _ = pier_oci::container::kill::signal(init.pid, nix::sys::signal::Signal::SIGKILL);
        } else if let Some(r) = rec.as_ref().filter(|r| r.monitor.is_some()) {
            // A start was under way but its cgroup is not recorded: pier was killed between
            // making the cgroup (always `pier/<id>`) and recording it. Remove it now rather
            // than leave it to `system prune`.
            let path = format!("{}/{}", pier_oci::cgroups::PARENT, r.id);
            let cg = pier_oci::cgroups::Cgroup::create(&path, None)
                .with_context(|| format!("opening cgroup {path} of container {}", r.name))?;
            cg.destroy()
                .with_context(|| format!("removing cgroup {path} of container {}", r.name))?;
            cg.remove_empty_pier_parent();
        }
        cgroup.end();
        if let Some(rec) = &rec {
            let _phase = trace::Phase::start("tear-down: network");
            self.detach_network(paths, rec, network_later)?;
        }
        let _phase = trace::Phase::start("tear-down: rootfs");
        let rootfs = paths.rootfs();
        // Mounts inside the rootfs first (none are expected: the container's own mounts live in
        // its mount namespace), then the overlay itself.
        let mut inner = mountinfo::mounts_under(&rootfs);
        inner.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for m in inner {
            overlay::unmount(&m).with_context(|| format!("unmounting {}", m.display()))?;
        }
        match std::fs::remove_dir_all(paths.runtime_dir()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("removing {}", paths.runtime_dir().display()))
            }
        }
        Ok(())
    }

    /// Deletes the container's directory (record, writable layer, logs).
    pub(crate) fn remove_files(&self, paths: &ContainerPaths) -> Result<()> {
        let _lock = self.lock()?;
        if mountinfo::is_mounted(&paths.rootfs()) {
            bail!(
                "refusing to delete {}: its rootfs is still mounted",
                paths.dir.display()
            );
        }
        let rec = ContainerRecord::load(paths).ok();
        match std::fs::remove_dir_all(&paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("removing {}", paths.dir.display())),
        }
        if let Some(rec) = rec {
            self.names().release(&rec.name, &rec.id);
            self.record_event(Event::about(&rec, Action::Destroy));
        }
        Ok(())
    }

    /// A container whose watcher died (pier killed with SIGKILL, machine trouble) is stopped
    /// and cleaned up, and recorded as exited (or removed, with `--rm`).
    pub(crate) fn reconcile_one(&self, paths: &ContainerPaths) -> Result<bool> {
        let Ok(rec) = ContainerRecord::load(paths) else {
            return Ok(false);
        };
        self.reconcile_loaded(paths, rec)
    }

    /// [`Engine::reconcile_one`] of a record just read.
    fn reconcile_loaded(&self, paths: &ContainerPaths, rec: ContainerRecord) -> Result<bool> {
        let watched = rec.monitor.is_some_and(|m| m.is_alive());
        let active =
            rec.status == ContainerStatus::Running || rec.monitor.is_some() || rec.cgroup.is_some();
        if watched || !active {
            return Ok(false);
        }
        let was_running = rec.status == ContainerStatus::Running;
        self.teardown(paths)?;
        let rec = self.update(paths, |r| {
            if r.status == ContainerStatus::Running {
                r.status = ContainerStatus::Exited;
                r.exit_code = Some(137);
                r.finished_at = Some(now_rfc3339());
                r.error = Some(
                    "pier's watcher process died; the container was stopped and cleaned up".into(),
                );
            }
            r.init = None;
            r.monitor = None;
            r.cgroup = None;
            r.restarting = false;
            r.paused = false;
        })?;
        if let Some(r) = rec.as_ref().filter(|_| was_running) {
            self.record_event(Event {
                exit_code: r.exit_code,
                ..Event::about(r, Action::Die)
            });
        }
        if let Some(rec) = rec.filter(|r| r.config.auto_remove) {
            self.remove_files(paths)?;
            self.remove_anonymous_volumes(&rec)?;
        }
        Ok(true)
    }

    /// Runs [`Engine::reconcile_one`] over every container. It reads one small file per
    /// container (once: the listing's record is the one judged) and one `/proc` entry per
    /// running one: what a command that lists or prunes containers needs. A command that acts
    /// on named containers needs only [`Engine::reconcile_named`], whose cost does not grow
    /// with the number of containers (the scale suite measures it).
    pub fn reconcile(&self) -> Result<()> {
        for rec in self.containers()? {
            let paths = self.paths(&rec.id);
            self.reconcile_loaded(&paths, rec)?;
        }
        Ok(())
    }

    /// [`Engine::reconcile_one`] of the containers `keys` name (names, IDs or ID prefixes,
    /// looked up as [`Engine::find`] does; an unknown key is skipped, the command reports
    /// it): one record read and one `/proc` look-up each, whatever the number of other
    /// containers. A container whose watcher died is thus repaired by the next command that
    /// acts on it, as by [`Engine::reconcile`].
    pub fn reconcile_named(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            if let Ok((paths, rec)) = self.find(key) {
                self.reconcile_loaded(&paths, rec)
                    .with_context(|| format!("repairing container {key}"))?;
            }
        }
        Ok(())
    }

    /// [`Engine::reconcile_named`] of the containers that hold `names` exactly (the name
    /// index only: a launch asking for a new name must not fall back to reading every record,
    /// as looking up an ID prefix does).
    pub fn reconcile_name_holders(&self, names: &[&str]) -> Result<()> {
        for name in names {
            if let Some((paths, rec)) = self.names().lookup(name.trim_start_matches('/')) {
                self.reconcile_loaded(&paths, rec)
                    .with_context(|| format!("repairing container {name}"))?;
            }
        }
        Ok(())
    }

    /// Names of the directories under `<root>/containers` (container IDs, with or without a
    /// record).
    fn container_dirs(&self) -> Result<Vec<String>> {
        let dir = self.root().join("containers");
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    /// `pier container prune`: removes every container that is not running (their volumes
    /// stay). Returns their full IDs (Docker lists those) and the bytes their writable
    /// layers took.
    pub fn prune_containers(&self) -> Result<(Vec<String>, u64)> {
        self.reconcile()?;
        let (mut names, mut bytes) = (Vec::new(), 0);
        for rec in self.containers()? {
            if rec.status != ContainerStatus::Running {
                let paths = self.paths(&rec.id);
                bytes += crate::disk_usage::tree_size(&paths.upper());
                self.teardown(&paths)?;
                self.remove_files(&paths)?;
                names.push(rec.id);
            }
        }
        Ok((names, bytes))
    }

    /// `pier system prune`: removes stopped containers and anything a crash left behind.
    pub fn prune(&self) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        // Only cgroups of containers this state directory knows may be pruned: `pier/` is
        // shared by every state directory (`--root`), and another root's containers are not ours.
        let known = self.container_dirs()?;
        (report.containers, report.reclaimed) = self.prune_containers()?;
        let live: Vec<String> = self.containers()?.into_iter().map(|r| r.id).collect();
        // Directories without a record: a `pier create` killed half-way.
        let dir = self.root().join("containers");
        for entry in std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && !live.contains(&name) {
                let paths = self.paths(&name);
                for m in mountinfo::mounts_under(&paths.dir) {
                    overlay::unmount(&m)?;
                    report.leftovers.push(format!("mount {}", m.display()));
                }
                std::fs::remove_dir_all(&paths.dir)
                    .with_context(|| format!("removing {}", paths.dir.display()))?;
                report
                    .leftovers
                    .push(format!("directory {}", paths.dir.display()));
            }
        }
        let (parent, orphans) = orphan_cgroups(&live)?;
        for (id, dirs) in orphans {
            let known = known.contains(&id);
            // A cgroup of no container of this root may be another root's: only an empty one
            // that nobody touched for a while goes (a container being set up joins its
            // cgroup within milliseconds; rmdir itself refuses one with processes).
            if !known && !untouched_for(&dirs, ORPHAN_CGROUP_GRACE) {
                continue;
            }
            let handle = pier_oci::cgroups::Cgroup::create(
                &format!("{}/{id}", pier_oci::cgroups::PARENT),
                None,
            )?;
            if known {
                handle.destroy()?;
                report.leftovers.push(format!("cgroup pier/{id}"));
            } else if handle.remove_if_empty() {
                report
                    .leftovers
                    .push(format!("cgroup pier/{id} (empty, of no container)"));
            }
        }
        // Listing needed the shared parent; it stays only while some container uses it.
        parent.remove_if_empty();
        report.leftovers.extend(self.prune_networks(&live)?);
        Ok(report)
    }
}

/// How long a cgroup of an unknown container must have been left untouched before `prune`
/// removes it (when empty).
const ORPHAN_CGROUP_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether none of `dirs` was modified in the last `grace` (an unreadable one counts as
/// touched).
fn untouched_for(dirs: &[std::path::PathBuf], grace: std::time::Duration) -> bool {
    dirs.iter().all(|d| {
        std::fs::metadata(d)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= grace)
    })
}

/// Container cgroups under `pier/` whose container is not live (pier was killed between
/// making the cgroup and recording it, or the container's state is gone), each with its
/// directories, and the handle of that shared parent.
type Orphans = Vec<(String, Vec<std::path::PathBuf>)>;

/// See [`Orphans`]: only 64-hex-digit names directly under pier's own parent.
fn orphan_cgroups(live: &[String]) -> Result<(pier_oci::cgroups::Cgroup, Orphans)> {
    let parent = pier_oci::cgroups::Cgroup::create(pier_oci::cgroups::PARENT, None)?;
    let mut out: Orphans = Vec::new();
    for controller in [
        "pids", "memory", "cpu", "cpuset", "blkio", "devices", "freezer",
    ] {
        let Some(dir) = parent.cgroup_dir(controller) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_container = name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit());
            if e.path().is_dir() && is_container && !live.contains(&name) {
                match out.iter_mut().find(|(id, _)| *id == name) {
                    Some((_, dirs)) => dirs.push(e.path()),
                    None => out.push((name, vec![e.path()])),
                }
            }
        }
    }
    Ok((parent, out))
}
