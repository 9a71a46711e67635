//! Reading what the store holds: blobs by digest, manifests, the facts of unpacked layers,
//! and whole images loaded from them; what `pier save/load/push/pull` and `history` need.

use super::index::Index;
use super::{Image, ImageStore, LayerInfo};
use anyhow::{bail, Context, Result};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use pier_oci::persist;
use std::fs::{self, File};
use std::path::PathBuf;

impl ImageStore {
    /// A private staging directory under `images/tmp/` (same filesystem as the store,
    /// so files in it can be hard-linked or renamed into place); removed on drop, and
    /// by the next `open` if this process dies first.
    pub fn staging_dir(&self) -> Result<tempfile::TempDir> {
        self.new_tmp()
    }

    /// Whether the blob `digest` is in the store.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Whether the layer with `diff_id` is unpacked in the store.
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_root(diff_id)
            .map(|p| p.join("layer.json").exists())
            .unwrap_or(false)
    }

    /// Opens the blob `digest` for reading.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let path = self.blob_path(digest)?;
        File::open(&path).with_context(|| format!("opening blob {}", path.display()))
    }

    /// The path of the blob `digest` (for uploads that reopen it on a retry).
    pub fn blob_file(&self, digest: &str) -> Result<PathBuf> {
        let path = self.blob_path(digest)?;
        if !path.exists() {
            bail!(
                "blob {digest} is missing from the store ({})",
                path.display()
            );
        }
        Ok(path)
    }

    /// Reads the whole blob `digest` (for manifests and configs: small documents).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).with_context(|| format!("reading blob {}", path.display()))
    }

    /// The manifest of `image`, parsed; its `layers()` are the image's layer blobs.
    pub fn manifest(&self, image: &Image) -> Result<ImageManifest> {
        self.read_manifest(&image.manifest_digest)
    }

    pub(super) fn write_blob(&self, digest: &str, data: &[u8]) -> Result<()> {
        let path = self.blob_path(digest)?;
        if !path.exists() {
            persist::write_atomic(&path, data)?;
        }
        Ok(())
    }

    pub(super) fn read_manifest(&self, manifest_digest: &str) -> Result<ImageManifest> {
        persist::read_json(&self.blob_path(manifest_digest)?)
    }

    pub(super) fn load_image(&self, index: &Index, manifest_digest: &str) -> Result<Image> {
        let manifest = self.read_manifest(manifest_digest)?;
        let id = manifest.config().digest().to_string();
        let config: ImageConfiguration = persist::read_json(&self.blob_path(&id)?)?;
        let mut layer_dirs = Vec::new();
        let mut size = 0;
        for diff_id in config.rootfs().diff_ids() {
            let root = self.layer_root(diff_id)?;
            let info: LayerInfo = persist::read_json(&root.join("layer.json"))?;
            size += info.size;
            layer_dirs.push(root.join("diff"));
        }
        Ok(Image {
            id,
            references: index.references_of(manifest_digest),
            manifest_digest: manifest_digest.to_string(),
            created: config.created().clone(),
            config,
            layer_dirs,
            size,
        })
    }

    /// Loads any stored image (indexed or not) by manifest digest; fails if one of its
    /// blobs or unpacked layers is gone (e.g. removed by `pier rmi` of another image).
    pub fn load_manifest(&self, manifest_digest: &str) -> Result<Image> {
        let index = Index::load(&self.index_path())?;
        let image = self.load_image(&index, manifest_digest)?;
        for dir in &image.layer_dirs {
            if !dir.is_dir() {
                bail!("layer {} of image {} is missing", dir.display(), image.id);
            }
        }
        Ok(image)
    }

    /// The device nodes of a stored layer that were not created when it was unpacked
    /// (pier was not root in the initial user namespace), as paths in the layer.
    pub fn skipped_devices(&self, diff_id: &str) -> Result<Vec<String>> {
        let info: LayerInfo = persist::read_json(&self.layer_root(diff_id)?.join("layer.json"))?;
        Ok(info.skipped_devices)
    }

    /// The unpacked size of a stored layer, in bytes (for `pier history`).
    pub fn layer_size(&self, diff_id: &str) -> Result<u64> {
        let info: LayerInfo = persist::read_json(&self.layer_root(diff_id)?.join("layer.json"))?;
        Ok(info.size)
    }
}
