//! The content-addressed image store under `<root>/images/`.
//!
//! ```text
//! images/
//!   blobs/sha256/<hex>        OCI blobs: layer tars (as imported), configs, manifests
//!   layers/<diffid-hex>/diff  a layer unpacked (an overlayfs lowerdir)
//!   layers/<diffid-hex>/layer.json   its diff ID and unpacked size
//!   index.json                which images exist, reference -> manifest digest
//!   unindexed/<config-hex>    manifest digest of an image not in the index (`pier build`'s
//!                             intermediate images)
//!   build-cache/<key>         `pier build`'s step cache (see `crate::builder::cache`)
//!   lock                      flock held while the index or the set of blobs changes
//!   tmp/                      staging area; an interrupted import leaves only this
//!   ingest/<hex>              a layer blob partly downloaded, resumed by the next pull
//!                             (see `partial`); removed by `pier image prune`
//! ```
//!
//! Adding an image is two-phase: a layer is downloaded/unpacked into a private directory
//! under `tmp/` without the lock (that is the slow part), then published under the lock
//! by renames, which are atomic: a layer directory either exists complete under its final
//! name or not at all. Identical content gets the same digests, so an already present blob
//! or layer is simply reused.
//!
//! One file per job: `ingest` adds images (import, commit, build layers, `load`/`pull`),
//! `index` finds and names them (`index.json`, resolve, list, tag, the unindexed images of
//! builds), `blobs` reads what the store holds (blobs, manifests, layers), `gc` removes
//! images and what no image uses any more (`rmi`, prune, disk usage), `partial` keeps
//! interrupted downloads for the next pull to resume.

mod blobs;
mod gc;
mod index;
mod ingest;
mod layer_jobs;
mod partial;
#[cfg(test)]
mod tests;

pub use layer_jobs::{FetchBlob, Ingest, LayerEvents, LayerProgress, LayerState};
pub use partial::PartialBlob;

use super::digest::digest_hex;
use anyhow::{Context, Result};
use oci_spec::image::{Descriptor, ImageConfiguration};
use pier_oci::persist::Lock;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// `PATH` given to images that do not set one.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prefix of staging directories in `images/tmp/`, followed by the owner's PID.
const STAGING_PREFIX: &str = "staging-";

/// An image in the store, ready to be mounted.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of the config blob (Docker's image ID).
    pub id: String,
    /// References pointing at this image, e.g. `busybox:latest`; empty for untagged ones.
    pub references: Vec<String>,
    /// Digest of the image manifest blob.
    pub manifest_digest: String,
    /// The OCI image configuration (Cmd, Env, WorkingDir, diff IDs, history, ...).
    pub config: ImageConfiguration,
    /// Unpacked layer directories, bottom layer first.
    pub layer_dirs: Vec<PathBuf>,
    /// Creation time (RFC 3339) from the config.
    pub created: Option<String>,
    /// Sum of the unpacked sizes of the layers, in bytes.
    pub size: u64,
}

impl Image {
    /// The first 12 hex digits of the ID, as shown by `pier images`.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}

/// Space used by unpacked layers, for `pier system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Images in the store.
    pub images: usize,
    /// Unpacked layers in the store.
    pub layers: usize,
    /// Bytes of file content in all unpacked layers.
    pub bytes: u64,
    /// Layers used by more than one image.
    pub shared_layers: usize,
    /// Bytes of file content in shared layers (stored once, used several times).
    pub shared_bytes: u64,
}

/// Facts about an unpacked layer, stored next to it as `layer.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerInfo {
    diff_id: String,
    size: u64,
    /// Device nodes of the layer that were not created (see `layer_devices`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skipped_devices: Vec<String>,
}

/// A layer unpacked into the staging area, not yet published.
struct StagedLayer {
    /// Holds `blob` and `layer/`; removed on drop, so a failure leaves nothing behind.
    tmp: tempfile::TempDir,
    descriptor: Descriptor,
    diff_id: String,
    has_shell: bool,
}

/// The image store rooted at `<root>/images`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// Opens (creating as needed) the store under `<root>/images`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        let dir = root.join("images");
        let store = ImageStore { dir };
        // 0700: layers hold set-uid binaries owned by root; host users must not reach them.
        for d in [
            store.dir.clone(),
            store.dir.join("blobs/sha256"),
            store.dir.join("layers"),
            store.dir.join("tmp"),
        ] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .with_context(|| format!("creating image store directory {}", d.display()))?;
        }
        store.clean_stale_staging()?;
        Ok(store)
    }

    /// Removes staging directories left by pier processes that died mid-import (their
    /// names carry the owner's PID; a live owner's directory is left alone).
    fn clean_stale_staging(&self) -> Result<()> {
        let tmp_root = self.dir.join("tmp");
        for entry in
            fs::read_dir(&tmp_root).with_context(|| format!("reading {}", tmp_root.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", tmp_root.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name
                .strip_prefix(STAGING_PREFIX)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            let Some(pid) = owner else { continue };
            let alive = pid == std::process::id() as i32
                || !matches!(
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                    Err(nix::errno::Errno::ESRCH)
                );
            if !alive {
                let path = entry.path();
                fs::remove_dir_all(&path).with_context(|| {
                    format!("removing stale staging directory {}", path.display())
                })?;
            }
        }
        Ok(())
    }

    /// The store directory (`<root>/images`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("blobs/sha256").join(digest_hex(digest)?))
    }

    fn layer_root(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join("layers").join(digest_hex(diff_id)?))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn lock(&self) -> Result<Lock> {
        Lock::exclusive(&self.dir.join("lock"))
    }

    fn new_tmp(&self) -> Result<tempfile::TempDir> {
        let tmp_root = self.dir.join("tmp");
        tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(&tmp_root)
            .with_context(|| format!("creating a staging directory in {}", tmp_root.display()))
    }
}
