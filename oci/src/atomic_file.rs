//! Replacing a file all at once: write a temporary file beside it, then rename it over.
//!
//! A reader (another `pier`, a client reading `state.json`, a user's `tar` reading an
//! exported archive) sees the old file or the new one, never half of it, and a `pier` killed
//! mid-write leaves the old file untouched: `rename(2)` within one directory is atomic. The
//! temporary file is a [`tempfile::NamedTempFile`] named `.<name>.XXXXXX.tmp` (a leading dot
//! and no `.json` ending, so directory listings that load `*.json` pass it by); it is removed
//! again if anything fails before the rename.
//!
//! With [`Options::durable`] the data is fsynced before the rename, so after a power cut the
//! path holds the old or the new content, not an empty file: for what must outlive the machine
//! (the image store, network and volume definitions, saved credentials, exported archives).
//! [`Options::replace`] skips the fsync, for state rewritten several times per container start.

use anyhow::{Context, Result};
use std::fs::{self, Permissions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// How [`write`] and [`write_with`] make the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    sync: bool,
    mode: u32,
    create_parent: bool,
}

impl Options {
    /// fsync before the rename (the new content survives a power cut), mode 0666 before the
    /// umask (as `File::create`), missing parent directories created.
    pub const fn durable() -> Options {
        Options {
            sync: true,
            mode: 0o666,
            create_parent: true,
        }
    }

    /// Like [`Options::durable`] without the fsync: still all-or-nothing for readers, not
    /// forced to disk.
    pub const fn replace() -> Options {
        Options {
            sync: false,
            ..Options::durable()
        }
    }

    /// The permission bits the file is created with, before the umask: 0600 for a file that
    /// must never be readable by others, not even for a moment.
    pub const fn mode(self, mode: u32) -> Options {
        Options { mode, ..self }
    }

    /// Whether missing parent directories are created (the default) or are an error (an
    /// output path a user named, as `pier save -o DIR/FILE` with no `DIR`).
    pub const fn create_parent(self, create_parent: bool) -> Options {
        Options {
            create_parent,
            ..self
        }
    }
}

/// Replaces `path` with `data` all at once (see the module documentation).
pub fn write(path: &Path, data: &[u8], options: Options) -> Result<()> {
    write_with(path, options, |out| {
        out.write_all(data)
            .with_context(|| format!("writing {}", path.display()))
    })
}

/// Replaces `path` with what `fill` writes (through a buffer), all at once: if `fill` or any
/// step after it fails, `path` is left as it was and the temporary file is removed.
pub fn write_with(
    path: &Path,
    options: Options,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    if options.create_parent {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // `Path::parent` of a bare file name is "": the current directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(options.mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file for {}", path.display()))?;
    let mut out = BufWriter::new(tmp);
    fill(&mut out)?;
    let tmp = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", path.display()))?;
    if options.sync {
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("syncing {}", tmp.path().display()))?;
    }
    let tmp_path = tmp.path().to_path_buf();
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming {} to {}", tmp_path.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write(&p, b"first, longer content", Options::durable()).unwrap();
        write(&p, b"second", Options::replace()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert_eq!(names(&dir.path().join("sub")), vec!["state.json"]);
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.tar");
        write(&p, b"old", Options::durable()).unwrap();
        let err = write_with(&p, Options::durable(), |out| {
            out.write_all(b"half of the new")?;
            anyhow::bail!("the source went away")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("the source went away"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(dir.path()), vec!["out.tar"]);
    }

    #[test]
    fn the_mode_is_set_at_creation_and_the_umask_applies() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("auth.json");
        write(&private, b"secret", Options::durable().mode(0o600)).unwrap();
        assert_eq!(fs::metadata(&private).unwrap().mode() & 0o777, 0o600);
        let public = dir.path().join("state.json");
        write(&public, b"{}", Options::replace()).unwrap();
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
            .unwrap();
        assert_eq!(
            fs::metadata(&public).unwrap().mode() & 0o777,
            0o666 & !umask,
            "as File::create"
        );
    }

    #[test]
    fn missing_parents_are_an_error_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/out.tar");
        let err = write(&p, b"x", Options::durable().create_parent(false)).unwrap_err();
        assert!(format!("{err:#}").contains("out.tar"), "{err:#}");
        assert!(!dir.path().join("no").exists());
    }
}
