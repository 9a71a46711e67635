//! The index of container names, so that `pier run --name`, a generated name and `pier rm
//! NAME` check one name without reading every container's record (which made each start
//! slower the more containers existed).
//!
//! `<root>/container-names/<name>` is a symlink whose target is the container's ID; symlinks,
//! because one `symlink` + `rename` replaces an entry atomically and one `readlink` reads it.
//! Only the record is authoritative: an entry counts only while the record it points to
//! exists and still bears that name, so an entry left by a crash (a container directory
//! removed without its entry, a rename cut short) is stale, not a claim. Entries are written
//! and removed under the containers lock (creation, rename, removal). The directory is built
//! from the records the first time a root is used by a pier that keeps it (built aside and
//! renamed into place, so a half-built index is never read); a container made meanwhile by an
//! older pier is unknown to it, which only that mix of versions can cause.

use super::record::{ContainerPaths, ContainerRecord};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The directory of the index under a state root.
const DIR: &str = "container-names";

/// The name index of one state root.
pub(crate) struct NameIndex {
    root: PathBuf,
}

impl NameIndex {
    /// The index of state root `root` (nothing is read or made yet).
    pub(crate) fn new(root: &Path) -> NameIndex {
        NameIndex {
            root: root.to_path_buf(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(DIR)
    }

    /// The container that has `name` now, by its record; `None` if no entry or a stale one.
    /// Lock-free readers may see a container being created or removed either way, as a
    /// scan of the records would.
    pub(crate) fn lookup(&self, name: &str) -> Option<(ContainerPaths, ContainerRecord)> {
        let id = std::fs::read_link(self.dir().join(name)).ok()?;
        let id = id.to_str()?;
        // An entry is a bare ID, never a path: anything else is not ours to follow.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let paths = ContainerPaths::new(&self.root, id);
        let rec = ContainerRecord::load(&paths).ok()?;
        (rec.name == name).then_some((paths, rec))
    }

    /// Whether `name` is taken. Holding the containers lock, the caller first makes sure
    /// the index exists ([`NameIndex::ensure`]).
    pub(crate) fn taken(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    /// Builds the index from `records` if this root has none yet. Under the containers lock.
    pub(crate) fn ensure(
        &self,
        records: impl FnOnce() -> Result<Vec<ContainerRecord>>,
    ) -> Result<()> {
        let dir = self.dir();
        if dir.is_dir() {
            return Ok(());
        }
        let building = self.root.join(format!(".{DIR}.building"));
        let _ = std::fs::remove_dir_all(&building);
        std::fs::create_dir(&building)
            .with_context(|| format!("creating {}", building.display()))?;
        for rec in records()? {
            let link = building.join(&rec.name);
            std::os::unix::fs::symlink(&rec.id, &link)
                .with_context(|| format!("creating {}", link.display()))?;
        }
        std::fs::rename(&building, &dir)
            .with_context(|| format!("renaming {} to {}", building.display(), dir.display()))
    }

    /// Records that container `id` has `name` (replacing a stale entry). Under the lock.
    pub(crate) fn claim(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.dir();
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(id, &tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        let entry = dir.join(name);
        std::fs::rename(&tmp, &entry).with_context(|| format!("replacing {}", entry.display()))
    }

    /// Removes `name`'s entry if it points at container `id`. Under the lock.
    pub(crate) fn release(&self, name: &str, id: &str) {
        let entry = self.dir().join(name);
        if std::fs::read_link(&entry).is_ok_and(|t| t == Path::new(id)) {
            let _ = std::fs::remove_file(&entry);
        }
    }
}
