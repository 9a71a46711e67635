//! The build cache: which image a build step produced, by a key over everything the step's
//! result depends on.
//!
//! A key is the SHA-256 of the parent image's ID, the step as recorded in the image history
//! (after variable substitution, with the build arguments it sees), and for `COPY`/`ADD` a
//! hash of the copied files' content and metadata. Equal keys mean the step would produce
//! the same result, so the earlier image is reused. Entries live in
//! `<root>/images/build-cache/<key>` (one small JSON file each, written atomically); an
//! entry whose image lost a blob or layer (e.g. to `pier rmi`) is a miss.

use crate::image::{Image, ImageStore};
use anyhow::{Context, Result};
use pier_oci::persist;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// One cache entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Manifest digest of the step's resulting image.
    manifest: String,
    /// Its image ID (for humans reading the file).
    id: String,
}

/// The cache index under `<root>/images/build-cache/`.
pub struct BuildCache {
    dir: PathBuf,
}

/// Computes a step's cache key.
pub fn key(parent_id: &str, created_by: &str, inputs: &str) -> String {
    let mut h = Sha256::new();
    for part in [parent_id, created_by, inputs] {
        // Length-prefixed so that moving text between parts changes the key.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

impl BuildCache {
    /// Opens the cache of `store` (the directory is created on first write).
    pub fn open(store: &ImageStore) -> BuildCache {
        BuildCache {
            dir: store.dir().join("build-cache"),
        }
    }

    /// The image a step with this key produced, if it is still complete in the store.
    pub fn get(&self, store: &ImageStore, key: &str) -> Option<Image> {
        let entry: Entry = persist::read_json(&self.dir.join(key)).ok()?;
        store.load_manifest(&entry.manifest).ok()
    }

    /// `pier builder prune`: forgets every entry and deletes the intermediate images and
    /// the layers no listed image uses. Returns (layers deleted, their bytes).
    pub fn prune(&self, store: &ImageStore) -> Result<(usize, u64)> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        store.prune_unindexed()
    }

    /// Records that the step with this key produced `image`.
    pub fn put(&self, key: &str, image: &Image) -> Result<()> {
        persist::write_json_atomic(
            &self.dir.join(key),
            &Entry {
                manifest: image.manifest_digest.clone(),
                id: image.id.clone(),
            },
        )
        .with_context(|| format!("recording build cache entry {key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_part() {
        let k = key("sha256:a", "RUN x", "");
        assert_eq!(k, key("sha256:a", "RUN x", ""));
        assert_ne!(k, key("sha256:b", "RUN x", ""));
        assert_ne!(k, key("sha256:a", "RUN y", ""));
        assert_ne!(k, key("sha256:a", "RUN x", "h"));
        assert_ne!(key("a", "bc", ""), key("ab", "c", ""));
    }
}
