//! The volume store: one directory per volume under `<root>/volumes`.
//!
//! ```text
//! <root>/volumes/<name>/volume.json   name, labels, creation time
//! <root>/volumes/<name>/_data/        the files containers see
//! ```
//!
//! A volume appears and disappears with one `rename(2)`: it is prepared complete in a staging
//! directory (`.new-<pid>-<name>`) and renamed into place, and it is renamed away
//! (`.rm-<pid>-<name>`) before its files are deleted. A `pier` killed half-way leaves only a
//! dot-directory that [`VolumeStore::open`] deletes once its process is gone; a reader never
//! sees half a volume.

use super::{validate_name, ANONYMOUS_LABEL};
use anyhow::{bail, Context, Result};
use pier_oci::persist::{read_json, write_json_atomic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// One volume's metadata (`volume.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Its name (a user's, or 64 random hex digits).
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// `--label` values; anonymous volumes carry [`ANONYMOUS_LABEL`].
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The directory containers see (derived from the store's place, not stored).
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Made for one container (`-v /path`, an image's `VOLUME`) rather than named by a user.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// The object `docker volume inspect` prints.
    pub fn inspect_json(&self) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": self.created_at,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": {},
            "Scope": "local",
        })
    }
}

/// The volumes under one state root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

const DATA: &str = "_data";
const META: &str = "volume.json";
const STAGING: &str = ".new-";
const REMOVING: &str = ".rm-";

impl VolumeStore {
    /// Opens (creating) `<root>/volumes` and deletes what a killed `pier` left half-made or
    /// half-removed.
    pub fn open(root: &Path) -> Result<VolumeStore> {
        let dir = root.join("volumes");
        // 0700: only root may walk into volumes (containers reach theirs through a bind mount).
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
        let store = VolumeStore { dir };
        store.remove_stale_work()?;
        Ok(store)
    }

    /// The directory of volume `name`.
    fn volume_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Where volume `name`'s files are: the source of its bind mounts.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join(DATA)
    }

    /// Whether volume `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        validate_name(name).is_ok() && self.volume_dir(name).join(META).is_file()
    }

    /// Creates volume `name` with `labels`; an existing volume of that name is returned as it
    /// is, as Docker does. The flag says whether this call created it.
    pub fn create(&self, name: &str, labels: BTreeMap<String, String>) -> Result<(Volume, bool)> {
        validate_name(name)?;
        if self.exists(name) {
            return Ok((self.get(name)?, false));
        }
        let staging = self
            .dir
            .join(format!("{STAGING}{}-{name}", std::process::id()));
        let volume = Volume {
            name: name.to_string(),
            created_at: pier_oci::time::now_rfc3339_seconds(),
            labels,
            mountpoint: self.data_dir(name),
        };
        let made = (|| -> Result<()> {
            let data = staging.join(DATA);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            write_json_atomic(&staging.join(META), &volume)
        })();
        let published = made.and_then(|()| {
            fs::rename(&staging, self.volume_dir(name)).map_err(anyhow::Error::from)
        });
        match published {
            Ok(()) => Ok((volume, true)),
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                // Another pier created it meanwhile: theirs is as good as ours.
                if self.exists(name) {
                    return Ok((self.get(name)?, false));
                }
                Err(e).with_context(|| format!("creating volume {name}"))
            }
        }
    }

    /// Volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        validate_name(name)?;
        let meta = self.volume_dir(name).join(META);
        if !meta.is_file() {
            bail!("no such volume: {name}");
        }
        let mut v: Volume = read_json(&meta)?;
        v.mountpoint = self.data_dir(name);
        Ok(v)
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", self.dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !self.exists(&name) {
                continue;
            }
            out.push(self.get(&name)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes volume `name` and its files. Whether a container still uses it is for the
    /// caller (the engine) to check first.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let doomed = self
            .dir
            .join(format!("{REMOVING}{}-{name}", std::process::id()));
        fs::rename(self.volume_dir(name), &doomed)
            .with_context(|| format!("removing volume {name}"))?;
        fs::remove_dir_all(&doomed).with_context(|| format!("deleting the files of volume {name}"))
    }

    /// Bytes in volume `name` (apparent sizes, each hard-linked file once, links not followed).
    pub fn size(&self, name: &str) -> u64 {
        crate::disk_usage::tree_size(&self.data_dir(name))
    }

    /// Deletes `.new-*` and `.rm-*` directories whose `pier` process is gone.
    fn remove_stale_work(&self) -> Result<()> {
        for entry in fs::read_dir(&self.dir)
            .with_context(|| format!("reading {}", self.dir.display()))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name
                .strip_prefix(STAGING)
                .or_else(|| name.strip_prefix(REMOVING))
            else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                continue;
            }
            fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing leftover {}", entry.path().display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove() {
        let t = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(t.path()).unwrap();
        let labels = BTreeMap::from([("app".to_string(), "db".to_string())]);
        let (v, created) = store.create("data", labels.clone()).unwrap();
        assert!(created);
        assert_eq!(v.labels, labels);
        assert!(store.data_dir("data").is_dir());
        fs::write(store.data_dir("data").join("f"), "12345").unwrap();
        fs::hard_link(
            store.data_dir("data").join("f"),
            store.data_dir("data").join("g"),
        )
        .unwrap();
        assert_eq!(store.size("data"), 5, "a hard link is counted once");

        // Creating again returns the same volume, its files untouched.
        let (again, created) = store.create("data", BTreeMap::new()).unwrap();
        assert!(!created);
        assert_eq!(again, v);
        assert!(store.data_dir("data").join("f").exists());

        // A new store on the same root sees it: it lives on disk.
        let reopened = VolumeStore::open(t.path()).unwrap();
        assert_eq!(reopened.list().unwrap(), vec![v]);

        reopened.remove("data").unwrap();
        assert!(store.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(t.path().join("volumes")).unwrap().count(), 0);
        assert!(store
            .remove("data")
            .unwrap_err()
            .to_string()
            .contains("no such volume"));
    }

    #[test]
    fn bad_names_create_nothing() {
        let t = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(t.path()).unwrap();
        for bad in ["x", "../etc", "a/b", ".hidden", "-x"] {
            assert!(store.create(bad, BTreeMap::new()).is_err(), "{bad}");
            assert!(store.get(bad).is_err());
        }
        assert_eq!(fs::read_dir(t.path().join("volumes")).unwrap().count(), 0);
    }

    #[test]
    fn leftovers_of_a_dead_pier_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(t.path()).unwrap();
        // PID 0 never names a live process in /proc.
        let stale = t.path().join("volumes/.new-0-half/_data");
        fs::create_dir_all(&stale).unwrap();
        let mine = t
            .path()
            .join(format!("volumes/.rm-{}-busy", std::process::id()));
        fs::create_dir_all(&mine).unwrap();
        drop(store);
        let store = VolumeStore::open(t.path()).unwrap();
        assert!(!t.path().join("volumes/.new-0-half").exists());
        assert!(mine.exists(), "a live process's work is left alone");
        assert!(store.list().unwrap().is_empty());
    }
}
