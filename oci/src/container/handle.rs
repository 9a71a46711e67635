//! A container found again by its ID in a state directory, as every command after `create`
//! needs it (`start`, `state`, `kill`, `delete`, `exec`, `pause`, ...): `<root>/<id>/` holds
//! `state.json` ([`StateFile`]) and `config.json`, the bundle's config as `create` read it.

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::persist::read_json;
use crate::state::{StateFile, Status};
use anyhow::Context;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// The copy of the bundle's config.json kept in the container's state directory.
pub const CONFIG_COPY: &str = "config.json";

/// A container in a state directory.
pub struct Container {
    /// Its directory (`<root>/<id>`).
    pub dir: PathBuf,
    /// What `state.json` holds.
    pub state: StateFile,
}

/// Checks a container ID as runc does (letters, digits, `_ + - .`; not `.` or `..`): it
/// becomes a directory name, so `/` or `..` must never get through.
pub fn validate_id(id: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+-.".contains(c);
    if id.is_empty() || id == "." || id == ".." || !id.chars().all(ok_char) || id.len() > 1024 {
        return Err(Error::InvalidId { id: id.to_string() });
    }
    Ok(())
}

/// The state directory of container `id` under `root` (checked, not created).
pub fn dir_of(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

impl Container {
    /// Loads container `id` from `root`; [`Error::NotExist`] if it is not there.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        let dir = dir_of(root, id)?;
        if !StateFile::path(&dir).exists() {
            return Err(Error::NotExist { id: id.to_string() });
        }
        let state = StateFile::load(&dir)?;
        Ok(Container { dir, state })
    }

    /// Every container under `root` (none if `root` does not exist); directories whose state
    /// cannot be read are skipped.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("listing {}", root.display()))?,
        };
        let mut all = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Ok(c) = Container::load(root, &id) {
                all.push(c);
            }
        }
        all.sort_by(|a, b| a.state.created.cmp(&b.state.created));
        Ok(all)
    }

    /// Its ID.
    pub fn id(&self) -> &str {
        &self.state.oci.id
    }

    /// Its status now.
    pub fn status(&self) -> Status {
        self.state.live_status()
    }

    /// The init's PID while it runs.
    pub(crate) fn running_pid(&self) -> Option<i32> {
        match self.status() {
            Status::Stopped => None,
            _ => self.state.oci.pid,
        }
    }

    /// Its cgroup.
    pub fn cgroup(&self) -> Result<&Cgroup> {
        Ok(self
            .state
            .cgroup
            .as_ref()
            .with_context(|| format!("container {} has no cgroup recorded", self.id()))?)
    }

    /// The config `create` was given.
    pub fn spec(&self) -> Result<Spec> {
        Ok(read_json(&self.dir.join(CONFIG_COPY))?)
    }

    /// Records a new status.
    pub(crate) fn set_status(&mut self, status: Status) -> Result<()> {
        self.state.oci.status = status;
        Ok(self.state.save(&self.dir)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_leave_the_state_directory_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0"] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId { .. })),
                "{bad:?}"
            );
        }
        for good in ["c1", "abc.def", "my_ctr-2+x", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn a_missing_container_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let err = Container::load(dir.path(), "nope").err().unwrap();
        assert!(matches!(&err, Error::NotExist { id } if id == "nope"));
        assert_eq!(err.to_string(), "container nope does not exist");
        assert!(Container::list(&dir.path().join("absent"))
            .unwrap()
            .is_empty());
    }
}
