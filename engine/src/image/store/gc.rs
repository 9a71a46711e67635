//! Removing images: `pier rmi` (a reference, or an image and every blob and layer no other
//! image uses), pruning `pier build`'s unindexed images, and the disk usage `system df` shows.

use super::index::Index;
use super::{DiskUsage, ImageStore, LayerInfo};
use crate::image::digest::digest_hex;
use crate::image::reference::Reference;
use anyhow::{Context, Result};
use oci_spec::image::ImageConfiguration;
use pier_oci::persist;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

impl ImageStore {
    /// Removes a reference, or by ID every reference of that image; when no reference is
    /// left, deletes the image's manifest and config and every layer (blob and unpacked
    /// directory) no other image uses. Returns Docker-style lines (`Untagged: x`,
    /// `Deleted: sha256:...`). Checking that no container uses the image is the caller's job.
    pub fn remove(&self, reference_or_id: &str) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path())?;
        let manifest_digest = self.resolve_manifest(&index, reference_or_id)?;
        let mut out = Vec::new();
        let by_reference = Reference::parse(reference_or_id)
            .ok()
            .map(|r| r.to_string())
            .filter(|r| index.references.get(r) == Some(&manifest_digest));
        let untag = match by_reference {
            Some(r) => vec![r],
            None => index.references_of(&manifest_digest),
        };
        for r in untag {
            index.references.remove(&r);
            out.push(format!("Untagged: {r}"));
        }
        if !index.references_of(&manifest_digest).is_empty() {
            index.save(&self.index_path())?;
            return Ok(out);
        }
        let manifest = self.read_manifest(&manifest_digest)?;
        let config_digest = manifest.config().digest().to_string();
        let config: ImageConfiguration = persist::read_json(&self.blob_path(&config_digest)?)?;
        index.manifests.remove(&manifest_digest);
        index.digests.retain(|_, m| *m != manifest_digest);
        // The index is saved first: a crash below leaves unreferenced files, never an
        // image whose files are gone.
        index.save(&self.index_path())?;

        let mut blobs_in_use = BTreeSet::new();
        let mut layers_in_use = BTreeSet::new();
        for m in &index.manifests {
            let other = self.read_manifest(m)?;
            blobs_in_use.insert(m.clone());
            blobs_in_use.insert(other.config().digest().to_string());
            for l in other.layers() {
                blobs_in_use.insert(l.digest().to_string());
            }
            let other_config: ImageConfiguration =
                persist::read_json(&self.blob_path(other.config().digest().as_ref())?)?;
            layers_in_use.extend(other_config.rootfs().diff_ids().iter().cloned());
        }
        self.remove_file(&self.blob_path(&manifest_digest)?)?;
        if !blobs_in_use.contains(&config_digest) {
            self.remove_file(&self.blob_path(&config_digest)?)?;
            out.push(format!("Deleted: {config_digest}"));
        }
        for (descriptor, diff_id) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
            let blob = descriptor.digest().to_string();
            if !blobs_in_use.contains(&blob) {
                self.remove_file(&self.blob_path(&blob)?)?;
            }
            if !layers_in_use.contains(diff_id) {
                self.remove_layer_dir(diff_id)?;
                out.push(format!("Deleted: {diff_id}"));
            }
        }
        Ok(out)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Renames the layer into the staging area first, so it vanishes from its final name
    /// at once even if deleting the tree is interrupted.
    fn remove_layer_dir(&self, diff_id: &str) -> Result<()> {
        let root = self.layer_root(diff_id)?;
        if !root.exists() {
            return Ok(());
        }
        let tmp = self.new_tmp()?;
        let doomed = tmp.path().join("layer");
        fs::rename(&root, &doomed)
            .with_context(|| format!("moving {} to {}", root.display(), doomed.display()))?;
        fs::remove_dir_all(&doomed).with_context(|| format!("removing {}", doomed.display()))?;
        Ok(())
    }

    /// Deletes every unindexed image (`pier build`'s intermediate images) and every blob
    /// and unpacked layer that no listed image uses. Returns how many layers were deleted
    /// and their unpacked size. Not to be run while a build is in progress.
    pub fn prune_unindexed(&self) -> Result<(usize, u64)> {
        let _lock = self.lock()?;
        let index = Index::load(&self.index_path())?;
        let mut blobs_in_use = BTreeSet::new();
        let mut layers_in_use = BTreeSet::new();
        for m in &index.manifests {
            let manifest = self.read_manifest(m)?;
            blobs_in_use.insert(digest_hex(m)?.to_string());
            blobs_in_use.insert(digest_hex(manifest.config().digest().as_ref())?.to_string());
            for l in manifest.layers() {
                blobs_in_use.insert(digest_hex(l.digest().as_ref())?.to_string());
            }
            let config: ImageConfiguration =
                persist::read_json(&self.blob_path(manifest.config().digest().as_ref())?)?;
            for d in config.rootfs().diff_ids() {
                layers_in_use.insert(digest_hex(d)?.to_string());
            }
        }
        let unindexed = self.dir.join("unindexed");
        if unindexed.exists() {
            fs::remove_dir_all(&unindexed)
                .with_context(|| format!("removing {}", unindexed.display()))?;
        }
        let blobs = self.dir.join("blobs/sha256");
        for entry in fs::read_dir(&blobs).with_context(|| format!("reading {}", blobs.display()))? {
            let entry = entry.with_context(|| format!("reading {}", blobs.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !blobs_in_use.contains(&name) {
                self.remove_file(&entry.path())?;
            }
        }
        let (mut count, mut bytes) = (0, 0);
        let layers = self.dir.join("layers");
        for entry in
            fs::read_dir(&layers).with_context(|| format!("reading {}", layers.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", layers.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !layers_in_use.contains(&name) {
                let diff_id = format!("sha256:{name}");
                bytes += self.layer_size(&diff_id).unwrap_or(0);
                self.remove_layer_dir(&diff_id)?;
                count += 1;
            }
        }
        Ok((count, bytes))
    }

    /// Layer count and size, and how much is shared between images.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let images = self.list()?;
        let mut users: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for image in &images {
            for dir in &image.layer_dirs {
                *users.entry(dir.clone()).or_default() += 1;
            }
        }
        let mut usage = DiskUsage {
            images: images.len(),
            ..DiskUsage::default()
        };
        let layers_dir = self.dir.join("layers");
        for entry in fs::read_dir(&layers_dir)
            .with_context(|| format!("reading {}", layers_dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", layers_dir.display()))?;
            let info: LayerInfo = persist::read_json(&entry.path().join("layer.json"))?;
            usage.layers += 1;
            usage.bytes += info.size;
            if users.get(&entry.path().join("diff")).copied().unwrap_or(0) > 1 {
                usage.shared_layers += 1;
                usage.shared_bytes += info.size;
            }
        }
        Ok(usage)
    }
}
