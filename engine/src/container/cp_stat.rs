//! What a path in a container's filesystem is (`docker cp`'s stat, the API's
//! `X-Docker-Container-Path-Stat`): resolved inside the container's root as [`super::cp`]
//! resolves it, the last component not followed.

use super::Engine;
use anyhow::{anyhow, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, SFlag};
use pier_oci::security::in_root::open_in_root;
use std::path::Path;

/// A path's name, type, mode, size, modification time and link target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The last component (`/` for the root).
    pub name: String,
    /// Bytes (of a regular file; the directory entry's size otherwise).
    pub size: i64,
    /// `st_mode`: the file type and permission bits.
    pub mode: u32,
    /// Modification time, seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// A symlink's target as written in it (empty for anything else).
    pub link_target: String,
}

impl PathStat {
    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        SFlag::from_bits_truncate(self.mode) & SFlag::S_IFMT == SFlag::S_IFDIR
    }
}

impl Engine {
    /// Stats `path` inside container `key`'s filesystem (mounts included): its parent
    /// resolved with `RESOLVE_IN_ROOT`, the last component followed (inside the container's
    /// root, as everything else) only with `follow`. "no such file or directory: PATH" when
    /// it does not exist.
    pub fn path_stat(&self, key: &str, path: &str, follow: bool) -> Result<PathStat> {
        let path = path.to_string();
        self.with_container_root(key, false, move |root| stat_in(root, &path, follow))
    }
}

fn stat_in(root: &Path, path: &str, follow: bool) -> Result<PathStat> {
    let missing = || anyhow!("no such file or directory: {path}");
    if follow {
        let fd = open_in_root(root, Path::new(path), OFlag::O_PATH).map_err(|e| match e {
            Errno::ENOENT | Errno::ENOTDIR => missing(),
            e => anyhow!("opening {path}: {e}"),
        })?;
        let st = nix::sys::stat::fstat(&fd).with_context(|| format!("stat {path}"))?;
        let name = Path::new(path.trim_end_matches("/.").trim_end_matches('/'))
            .file_name()
            .map_or("/".to_string(), |n| n.to_string_lossy().into_owned());
        return Ok(PathStat {
            name,
            size: st.st_size,
            mode: st.st_mode,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            link_target: String::new(),
        });
    }
    let p = Path::new(path);
    // `DIR/.` is DIR itself; `/` has no name to stat in a parent.
    let trimmed = path.trim_end_matches("/.").trim_end_matches('/');
    let (dir, name) = match Path::new(trimmed).file_name() {
        Some(name) => (
            Path::new(trimmed).parent().unwrap_or(Path::new("/")),
            name.to_os_string(),
        ),
        None => (p, ".".into()),
    };
    let parent =
        open_in_root(root, dir, OFlag::O_PATH | OFlag::O_DIRECTORY).map_err(|e| match e {
            Errno::ENOENT | Errno::ENOTDIR => missing(),
            e => anyhow!("opening {}: {e}", dir.display()),
        })?;
    let st = match fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Err(missing()),
        Err(e) => return Err(e).with_context(|| format!("stat {path}")),
    };
    let link_target = if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
        readlinkat(&parent, name.as_os_str())
            .with_context(|| format!("readlink {path}"))?
            .to_string_lossy()
            .into_owned()
    } else {
        String::new()
    };
    let shown = if name == "." {
        "/".to_string()
    } else {
        name.to_string_lossy().into_owned()
    };
    Ok(PathStat {
        name: shown,
        size: st.st_size,
        mode: st.st_mode,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        link_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/f"), "abc").unwrap();
        std::os::unix::fs::symlink("/d", r.join("link")).unwrap();
        // A symlink naming a host directory that the root does not have.
        let host = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), r.join("out")).unwrap();

        let f = stat_in(r, "/d/f", false).unwrap();
        assert_eq!((f.name.as_str(), f.size, f.is_dir()), ("f", 3, false));
        let l = stat_in(r, "/link", false).unwrap();
        assert_eq!(l.link_target, "/d");
        assert!(!l.is_dir());
        assert!(
            stat_in(r, "/link", true).unwrap().is_dir(),
            "followed in the root"
        );
        assert_eq!(stat_in(r, "/d/.", false).unwrap().name, "d");
        assert_eq!(stat_in(r, "/", false).unwrap().name, "/");
        let e = stat_in(r, "/out", true).unwrap_err().to_string();
        assert!(e.starts_with("no such file or directory"), "{e}");
        let e = stat_in(r, "/link/../../../nope", false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("no such file or directory"), "{e}");
    }
}
