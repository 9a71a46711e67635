//! Persistent network namespaces, as `ip netns add` makes them.
//!
//! A namespace lives as long as something refers to it: a process inside, an open fd, or a
//! bind mount of its `/proc/.../ns/net` file. [`create`] makes a namespace in a short-lived
//! thread (`unshare(CLONE_NEWNET)` affects only the calling thread) and bind-mounts that
//! thread's `/proc/thread-self/ns/net` onto an empty file, so the namespace outlives the
//! thread and can be joined later by path (the runtime passes the path in the OCI spec).
//! [`enter`] runs code inside such a namespace, again on a throw-away thread, so the
//! caller's own thread never changes namespace.

use anyhow::{anyhow, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::{self, File, OpenOptions};
use std::path::Path;

/// Creates a new network namespace pinned by a bind mount at `path` (the file is created;
/// its parent directory too). Fails if `path` already exists.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating netns mount point {}", path.display()))?;
    let target = path.to_path_buf();
    let result = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting the new netns onto {}", target.display()))
    })
    .join()
    .map_err(|_| anyhow!("netns creation thread panicked"))
    .and_then(|r| r);
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Removes a namespace made by [`create`]: unmounts and unlinks `path`. The namespace itself
/// disappears once nothing else (a process, an fd) holds it. A missing path is not an error.
pub fn remove(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a half-created namespace); still unlink the file.
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e).with_context(|| format!("umount {}", path.display())),
    }
    fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
}

/// Runs `f` inside the network namespace at `netns_path` (a bind mount made by [`create`],
/// or `/proc/<pid>/ns/net`) on a dedicated thread, and returns its result. The thread ends
/// afterwards, so no thread of the caller is left in a foreign namespace.
pub fn enter<T, F>(netns_path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns = File::open(netns_path)
        .with_context(|| format!("opening network namespace {}", netns_path.display()))?;
    let shown = netns_path.display().to_string();
    std::thread::spawn(move || -> Result<T> {
        setns(&ns, CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("setns into network namespace {shown}"))?;
        drop(ns);
        f()
    })
    .join()
    .map_err(|_| anyhow!("thread inside network namespace panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode(p: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(p).unwrap().ino()
    }

    #[test]
    fn network_netns_create_enter_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ns1");
        create(&path).unwrap();
        struct Guard(std::path::PathBuf);
        impl Drop for Guard {
            fn drop(&mut self) {
                let _ = remove(&self.0);
            }
        }
        let _g = Guard(path.clone());
        let host = inode("/proc/thread-self/ns/net");
        let inside = enter(&path, || Ok(inode("/proc/thread-self/ns/net"))).unwrap();
        assert_ne!(host, inside, "enter runs in another namespace");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&path).unwrap().ino(), inside);
        assert_eq!(inode("/proc/thread-self/ns/net"), host, "caller unchanged");
        assert!(create(&path).is_err(), "an existing path is refused");
        remove(&path).unwrap();
        assert!(!path.exists());
        remove(&path).unwrap();
    }
}
