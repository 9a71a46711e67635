//! cgroup v1: the container's init moves itself into its cgroup, one thread at a time.
//!
//! Moving a process by writing its PID to `cgroup.procs` takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing, a per-CPU rwsem whose writer waits for an RCU
//! grace period: 10 to 50 ms on a loaded machine, the largest phase of a container's start
//! on v1 (`PIER_TRACE`'s `cgroup placement (cgroup.procs)`) and the source of its variance.
//! A thread that moves *itself* through the `tasks` file (`0`: the writer) skips that lock
//! (Linux 5.17, "cgroup: Optimize single thread migration": the thread cannot exit or exec
//! under the write, and `cgroup_mutex` excludes the other writers): about 0.4 ms. The init
//! is one thread (a `clone` child), so moving that thread moves the whole process.
//!
//! The parent opens the `tasks` files before `clone` (the child then resolves no host path);
//! the init writes `0` to each first thing, then closes them, long before the container's
//! command runs. v2 needs none of this: the init is born in its cgroup
//! (`clone3(CLONE_INTO_CGROUP)`).

use anyhow::{anyhow, Result};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The `tasks` file of each v1 hierarchy of a container's cgroup, open for writing.
#[derive(Debug)]
pub struct SelfPlacement {
    /// (hierarchy name, whether joining it is best effort (name=systemd), `tasks`).
    files: Vec<(String, bool, OwnedFd)>,
}

impl SelfPlacement {
    /// Opens the `tasks` file of each directory of `dirs` (hierarchy name -> directory).
    pub(crate) fn open<'a>(
        dirs: impl IntoIterator<Item = (&'a String, &'a std::path::PathBuf, bool)>,
    ) -> Result<SelfPlacement> {
        let mut files = Vec::new();
        for (name, dir, best_effort) in dirs {
            let path = dir.join("tasks");
            match nix::fcntl::open(
                &path,
                nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            ) {
                Ok(fd) => files.push((name.clone(), best_effort, fd)),
                Err(_) if best_effort => {}
                Err(e) => {
                    return Err(anyhow!(
                        "opening {} for writing: {}",
                        path.display(),
                        e.desc()
                    ))
                }
            }
        }
        Ok(SelfPlacement { files })
    }

    /// The descriptors, for the child's list of descriptors to close.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.files.iter().map(|(_, _, fd)| fd.as_raw_fd()).collect()
    }

    /// In the init (one thread): moves this thread, hence the process, into each hierarchy's
    /// cgroup. The descriptors stay open: the caller closes them with the child's others.
    pub fn place_self(&self) -> Result<()> {
        for (name, best_effort, fd) in &self.files {
            match nix::unistd::write(fd, b"0") {
                Ok(_) => {}
                Err(_) if *best_effort => {}
                Err(e) => {
                    return Err(anyhow!(
                        "moving the init into its {name} cgroup (writing 0 to tasks): {}",
                        e.desc()
                    ))
                }
            }
        }
        Ok(())
    }
}
