//! The store's index: which images exist and which references point at them.
//!
//! A small JSON file (`<root>/images/index.json`) rather than an OCI image index, because
//! pier needs two maps an OCI index does not express directly: every known image
//! (including untagged ones, as Docker's `<none>` images) and reference -> image.
//! It is always read and rewritten whole, atomically, under the store lock.
//!
//! Below the file, how images are found and named: a reference or an ID prefix resolved to
//! a manifest, `list`, `tag`, and the unindexed images of `pier build` (stored, resolvable by
//! their full ID, not listed), which `unindexed/<config-hex>` records.

use super::{Image, ImageStore};
use crate::image::digest::digest_hex;
use crate::image::reference::{ImageRef, Reference};
use anyhow::{bail, Result};
use pier_oci::persist;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The contents of `index.json`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Manifest digests of every image in the store, tagged or not.
    #[serde(default)]
    pub manifests: BTreeSet<String>,
    /// `name:tag` -> manifest digest.
    #[serde(default)]
    pub references: BTreeMap<String, String>,
    /// Familiar `name@sha256:...` (the digest a registry serves the image under) ->
    /// manifest digest, recorded by `pier pull`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
}

impl Index {
    /// Loads the index, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<Index> {
        if !path.exists() {
            return Ok(Index::default());
        }
        persist::read_json(path)
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        persist::write_json_atomic(path, self)
    }

    /// References pointing at `manifest`, sorted.
    pub fn references_of(&self, manifest: &str) -> Vec<String> {
        self.references
            .iter()
            .filter(|(_, m)| m.as_str() == manifest)
            .map(|(r, _)| r.clone())
            .collect()
    }
}

impl ImageStore {
    /// Finds the manifest digest for a reference (`busybox` = `busybox:latest`) or an
    /// image ID prefix (at least 4 hex digits, `sha256:` optional).
    pub(super) fn resolve_manifest(&self, index: &Index, wanted: &str) -> Result<String> {
        if wanted.contains('@') {
            return Self::resolve_digest_reference(index, wanted);
        }
        let reference = Reference::parse(wanted).ok();
        if let Some(m) = reference
            .as_ref()
            .and_then(|r| index.references.get(&r.to_string()))
        {
            return Ok(m.clone());
        }
        let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
        if hex.len() >= 4 && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = hex.to_ascii_lowercase();
            let mut matches: BTreeMap<String, String> = BTreeMap::new();
            for m in &index.manifests {
                let id = self.read_manifest(m)?.config().digest().to_string();
                if digest_hex(&id)?.starts_with(&hex) {
                    matches.entry(id).or_insert_with(|| m.clone());
                }
            }
            match matches.len() {
                0 => {}
                1 => return Ok(matches.into_values().next().unwrap_or_default()),
                n => bail!("image ID prefix {wanted:?} is ambiguous: it matches {n} images"),
            }
        }
        let shown = reference.map_or_else(|| wanted.to_string(), |r| r.to_string());
        bail!("no such image: {shown}")
    }

    /// `name@sha256:...`: the image pulled under that digest, or whose own manifest has it.
    fn resolve_digest_reference(index: &Index, wanted: &str) -> Result<String> {
        let parsed = ImageRef::parse(wanted)?;
        let (Some(key), Some(digest)) = (parsed.digest_key(), parsed.digest.as_ref()) else {
            bail!("no such image: {wanted}");
        };
        if let Some(m) = index.digests.get(&key) {
            return Ok(m.clone());
        }
        if index.manifests.contains(digest) {
            return Ok(digest.clone());
        }
        bail!("no such image: {key}")
    }

    /// Records that `key` (`name@sha256:...`) names the image `manifest_digest`.
    pub fn add_digest_reference(&self, key: &str, manifest_digest: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path())?;
        if !index.manifests.contains(manifest_digest) {
            bail!("image {manifest_digest} is not in the store");
        }
        index
            .digests
            .insert(key.to_string(), manifest_digest.to_string());
        index.save(&self.index_path())
    }

    /// Looks an image up by reference or ID prefix.
    pub fn resolve(&self, reference_or_id: &str) -> Result<Image> {
        let index = Index::load(&self.index_path())?;
        let m = match self.resolve_manifest(&index, reference_or_id) {
            Ok(m) => m,
            // A full ID may name an unindexed (build) image.
            Err(e) => match self.unindexed_manifest(reference_or_id) {
                Some(m) => m,
                None => return Err(e),
            },
        };
        self.load_image(&index, &m)
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let index = Index::load(&self.index_path())?;
        let mut images = index
            .manifests
            .iter()
            .map(|m| self.load_image(&index, m))
            .collect::<Result<Vec<_>>>()?;
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(images)
    }

    /// Points `target` (`name[:tag]`) at the image `source` resolves to.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let target = Reference::parse(target)?;
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path())?;
        let m = self.resolve_manifest(&index, source)?;
        index.references.insert(target.to_string(), m);
        index.save(&self.index_path())
    }

    /// Lists a stored image in the index (untagged when `references` is empty) and points
    /// each reference at it. Returns the image as now indexed.
    pub fn add_to_index(&self, image: &Image, references: &[String]) -> Result<Image> {
        let references = references
            .iter()
            .map(|r| Reference::parse(r))
            .collect::<Result<Vec<_>>>()?;
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path())?;
        if !self.blob_path(&image.manifest_digest)?.exists() {
            bail!("image {} is no longer in the store", image.id);
        }
        index.manifests.insert(image.manifest_digest.clone());
        for r in references {
            index
                .references
                .insert(r.to_string(), image.manifest_digest.clone());
        }
        index.save(&self.index_path())?;
        self.load_image(&index, &image.manifest_digest)
    }

    /// Lists the image `manifest_digest` in `index`, points `reference` at it, saves the
    /// index and loads the image. Called under the store lock.
    pub(super) fn index_and_load(
        &self,
        mut index: Index,
        manifest_digest: &str,
        reference: Option<&Reference>,
    ) -> Result<Image> {
        index.manifests.insert(manifest_digest.to_string());
        if let Some(r) = reference {
            index
                .references
                .insert(r.to_string(), manifest_digest.to_string());
        }
        index.save(&self.index_path())?;
        self.load_image(&index, manifest_digest)
    }

    pub(super) fn unindexed_path(&self, config_digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("unindexed").join(digest_hex(config_digest)?))
    }

    /// The manifest digest of an unindexed image given its full ID, if all its files exist.
    fn unindexed_manifest(&self, id: &str) -> Option<String> {
        let id = if id.starts_with("sha256:") {
            id.to_string()
        } else {
            format!("sha256:{id}")
        };
        let manifest = fs::read_to_string(self.unindexed_path(&id).ok()?).ok()?;
        let manifest = manifest.trim().to_string();
        self.blob_path(&manifest).ok()?.exists().then_some(manifest)
    }
}
