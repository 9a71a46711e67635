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
//! ```
//!
//! Adding an image is two-phase: a layer is downloaded/unpacked into a private directory
//! under `tmp/` without the lock (that is the slow part), then published under the lock
//! by renames, which are atomic: a layer directory either exists complete under its final
//! name or not at all. Identical content gets the same digests, so an already present blob
//! or layer is simply reused.

use super::digest::{canonical_json, digest_hex, HashingReader, HashingWriter};
use super::index::Index;
use super::layer::unpack_layer;
use super::layer_build::write_layer_tar_skipping;
use super::reference::Reference;
use super::timestamp::now_rfc3339;
use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use oci_spec::image::{
    ConfigBuilder, Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType,
};
use pier_oci::persist::{self, Lock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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

    /// `pier import FILE NAME[:TAG]`: a plain or gzip tar of a root filesystem becomes a
    /// single-layer image with a default config (`Cmd ["/bin/sh"]` when the rootfs has
    /// one, the standard `PATH`).
    pub fn import_rootfs_tar(&self, reader: &mut dyn Read, reference: &str) -> Result<Image> {
        let reference = Reference::parse(reference)?;
        let staged = self.stage_from_reader(reader)?;
        let mut config = ConfigBuilder::default().env(vec![DEFAULT_PATH_ENV.to_string()]);
        if staged.has_shell {
            config = config.cmd(vec!["/bin/sh".to_string()]);
        }
        let created = now_rfc3339();
        let mut image_config = ImageConfiguration::default();
        image_config.set_config(Some(config.build().context("building image config")?));
        image_config.set_created(Some(created.clone()));
        image_config.set_history(Some(vec![HistoryBuilder::default()
            .created(created)
            .created_by("pier import")
            .build()
            .context("building image history")?]));
        self.publish(None, vec![staged], image_config, Some(&reference))
    }

    /// Stores an already built layer tar stream (plain or gzip) with `config` as a
    /// single-layer image; used by the busybox bootstrap.
    pub(crate) fn import_layer_with_config(
        &self,
        reader: &mut dyn Read,
        config: ImageConfiguration,
        reference: &str,
    ) -> Result<Image> {
        let reference = Reference::parse(reference)?;
        let staged = self.stage_from_reader(reader)?;
        self.publish(None, vec![staged], config, Some(&reference))
    }

    /// Adds one layer per directory in `new_layer_dirs` (e.g. a container's overlay upper
    /// directory; whiteouts are translated to OCI form) on top of `parent`, with `config`
    /// (its `rootfs.diff_ids` is filled in here). For `pier commit` and `pier build`.
    pub fn commit_layers(
        &self,
        parent: Option<&Image>,
        new_layer_dirs: &[PathBuf],
        config: ImageConfiguration,
        reference: Option<&str>,
    ) -> Result<Image> {
        let reference = reference.map(Reference::parse).transpose()?;
        let staged = self.stage_dirs(new_layer_dirs, &[])?;
        self.publish(parent, staged, config, reference.as_ref())
    }

    /// `pier commit`: a container's upper directory as one layer on top of its image,
    /// leaving out `skip` (the runtime's mount points, relative to `upper`).
    pub fn commit_container(
        &self,
        parent: &Image,
        upper: &Path,
        skip: &[PathBuf],
        config: ImageConfiguration,
        reference: Option<&str>,
    ) -> Result<Image> {
        let reference = reference.map(Reference::parse).transpose()?;
        let staged = self.stage_dirs(&[upper.to_path_buf()], skip)?;
        self.publish(Some(parent), staged, config, reference.as_ref())
    }

    /// Archives each directory into a staged layer (see [`Self::commit_layers`]).
    fn stage_dirs(&self, new_layer_dirs: &[PathBuf], skip: &[PathBuf]) -> Result<Vec<StagedLayer>> {
        let mut staged = Vec::new();
        for dir in new_layer_dirs {
            let tmp = self.new_tmp()?;
            let blob = tmp.path().join("blob");
            let file =
                File::create(&blob).with_context(|| format!("creating {}", blob.display()))?;
            let (file, digest, size) =
                write_layer_tar_skipping(dir, skip, HashingWriter::new(file))
                    .with_context(|| format!("archiving layer directory {}", dir.display()))?
                    .finish();
            file.sync_all()
                .with_context(|| format!("syncing {}", blob.display()))?;
            // An unchanged container commits an empty layer: zero entries is fine here.
            staged.push(self.stage_blob(tmp, digest, size, 0)?);
        }
        Ok(staged)
    }

    fn new_tmp(&self) -> Result<tempfile::TempDir> {
        let tmp_root = self.dir.join("tmp");
        tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(&tmp_root)
            .with_context(|| format!("creating a staging directory in {}", tmp_root.display()))
    }

    /// Copies the stream into a staging blob (hashing it), then unpacks it.
    fn stage_from_reader(&self, reader: &mut dyn Read) -> Result<StagedLayer> {
        let tmp = self.new_tmp()?;
        let blob = tmp.path().join("blob");
        let file = File::create(&blob).with_context(|| format!("creating {}", blob.display()))?;
        let mut writer = HashingWriter::new(file);
        io::copy(reader, &mut writer).context("reading the archive")?;
        let (file, digest, size) = writer.finish();
        file.sync_all()
            .with_context(|| format!("syncing {}", blob.display()))?;
        if size == 0 {
            bail!("the archive is empty: expected a tar or tar.gz file");
        }
        self.stage_blob(tmp, digest, size, 1)
    }

    /// Unpacks the staged `tmp/blob` into `tmp/layer/diff`, computing the diff ID over
    /// the uncompressed stream. At least `min_entries` tar entries are required (an
    /// imported rootfs cannot be empty; garbage often parses as an empty archive).
    fn stage_blob(
        &self,
        tmp: tempfile::TempDir,
        digest: String,
        size: u64,
        min_entries: u64,
    ) -> Result<StagedLayer> {
        let blob = tmp.path().join("blob");
        let mut input = BufReader::new(
            File::open(&blob).with_context(|| format!("opening {}", blob.display()))?,
        );
        let gzip = input
            .fill_buf()
            .with_context(|| format!("reading {}", blob.display()))?
            .starts_with(&[0x1f, 0x8b]);
        let decoded: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        let mut hashing = HashingReader::new(decoded);
        let layer = tmp.path().join("layer");
        let diff = layer.join("diff");
        fs::create_dir_all(&diff).with_context(|| format!("creating {}", diff.display()))?;
        let stats = unpack_layer(&mut hashing, &diff)?;
        if stats.entries < min_entries {
            bail!("not a tar archive: no entries found (expected a tar or tar.gz file)");
        }
        let (_, diff_id, _) = hashing
            .finish()
            .context("reading the rest of the archive (corrupt gzip stream?)")?;
        persist::write_json_atomic(
            &layer.join("layer.json"),
            &LayerInfo {
                diff_id: diff_id.clone(),
                size: stats.size,
            },
        )?;
        let media_type = if gzip {
            MediaType::ImageLayerGzip
        } else {
            MediaType::ImageLayer
        };
        let has_shell = rootfs_has_shell(&diff);
        Ok(StagedLayer {
            tmp,
            descriptor: Descriptor::new(media_type, size, parse_digest(&digest)?),
            diff_id,
            has_shell,
        })
    }

    /// Moves staged layers into place and records the image, under the store lock.
    fn publish(
        &self,
        parent: Option<&Image>,
        staged: Vec<StagedLayer>,
        config: ImageConfiguration,
        reference: Option<&Reference>,
    ) -> Result<Image> {
        self.publish_with(parent, staged, config, reference, true)
    }

    /// [`Self::publish`]; an image not `indexed` gets its blobs and layers but is left out
    /// of `index.json` (`pier build`'s intermediate images), recorded in `unindexed/` instead.
    fn publish_with(
        &self,
        parent: Option<&Image>,
        staged: Vec<StagedLayer>,
        mut config: ImageConfiguration,
        reference: Option<&Reference>,
        indexed: bool,
    ) -> Result<Image> {
        let _lock = self.lock()?;
        let (mut layers, mut diff_ids) = match parent {
            Some(p) => {
                let manifest: ImageManifest =
                    persist::read_json(&self.blob_path(&p.manifest_digest)?)?;
                (
                    manifest.layers().clone(),
                    p.config.rootfs().diff_ids().clone(),
                )
            }
            None => (Vec::new(), Vec::new()),
        };
        for layer in &staged {
            self.publish_staged_layer(layer)?;
            layers.push(layer.descriptor.clone());
            diff_ids.push(layer.diff_id.clone());
        }
        config.rootfs_mut().set_diff_ids(diff_ids);

        let (config_bytes, config_digest) = canonical_json(&config)?;
        self.write_blob(&config_digest, &config_bytes)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                parse_digest(&config_digest)?,
            ))
            .layers(layers)
            .build()
            .context("building image manifest")?;
        let (manifest_bytes, manifest_digest) = canonical_json(&manifest)?;
        self.write_blob(&manifest_digest, &manifest_bytes)?;

        let index = Index::load(&self.index_path())?;
        if !indexed {
            persist::write_atomic(
                &self.unindexed_path(&config_digest)?,
                manifest_digest.as_bytes(),
            )?;
            return self.load_image(&index, &manifest_digest);
        }
        self.index_and_load(index, &manifest_digest, reference)
    }

    fn write_blob(&self, digest: &str, data: &[u8]) -> Result<()> {
        let path = self.blob_path(digest)?;
        if !path.exists() {
            persist::write_atomic(&path, data)?;
        }
        Ok(())
    }

    fn read_manifest(&self, manifest_digest: &str) -> Result<ImageManifest> {
        persist::read_json(&self.blob_path(manifest_digest)?)
    }

    fn load_image(&self, index: &Index, manifest_digest: &str) -> Result<Image> {
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

    /// Finds the manifest digest for a reference (`busybox` = `busybox:latest`) or an
    /// image ID prefix (at least 4 hex digits, `sha256:` optional).
    fn resolve_manifest(&self, index: &Index, wanted: &str) -> Result<String> {
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

/// Where [`ImageStore::add_image`] takes a layer blob from: it writes the blob with
/// descriptor `.0` to the (not yet existing) file `.1`, e.g. by downloading it or by
/// renaming a file extracted from an archive. The store verifies it afterwards.
pub type FetchBlob<'a> = dyn FnMut(&Descriptor, &Path) -> Result<()> + 'a;

/// Blobs, manifests and foreign images: what `pier save/load/push/pull` need.
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

    /// Adds an image given as its exact manifest and config bytes (so its manifest digest
    /// and image ID stay those it had elsewhere), taking each missing layer blob from
    /// `fetch`. Layers whose blob and unpacked directory are already present are not
    /// fetched. Every blob is verified (size, sha256, and the unpacked diff ID against
    /// the config) before anything is published; on any error nothing is left in the
    /// store. `reference` (`name[:tag]`) tags the image.
    pub fn add_image(
        &self,
        manifest_bytes: &[u8],
        config_bytes: &[u8],
        fetch: &mut FetchBlob<'_>,
        reference: Option<&str>,
    ) -> Result<Image> {
        use super::media_type;
        use sha2::{Digest as _, Sha256};
        let reference = reference.map(Reference::parse).transpose()?;
        let manifest_digest = super::digest::sha256_digest(&Sha256::digest(manifest_bytes));
        let manifest: ImageManifest = serde_json::from_slice(manifest_bytes)
            .with_context(|| format!("parsing image manifest {manifest_digest}"))?;
        let manifest_type = manifest
            .media_type()
            .as_ref()
            .map_or(media_type::OCI_MANIFEST.to_string(), |m| m.to_string());
        if !media_type::is_manifest(&manifest_type) {
            bail!("manifest {manifest_digest}: unsupported media type {manifest_type:?}");
        }
        let config_desc = manifest.config();
        let config_digest = config_desc.digest().to_string();
        let what = format!("config blob {config_digest}");
        media_type::check_config(config_desc.media_type().as_ref(), &what)?;
        verify_bytes(config_bytes, &config_digest, config_desc.size(), &what)?;
        let config: ImageConfiguration =
            serde_json::from_slice(config_bytes).with_context(|| format!("parsing {what}"))?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            bail!(
                "manifest {manifest_digest} lists {} layers but its config has {} diff IDs",
                manifest.layers().len(),
                diff_ids.len()
            );
        }
        let mut staged = Vec::new();
        for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let digest = descriptor.digest().to_string();
            let what = format!("layer blob {digest}");
            media_type::check_layer(descriptor.media_type().as_ref(), &what)?;
            digest_hex(diff_id).with_context(|| format!("diff ID of {what}"))?;
            if self.has_blob(&digest) && self.has_layer(diff_id) {
                continue;
            }
            let tmp = self.new_tmp()?;
            let blob = tmp.path().join("blob");
            fetch(descriptor, &blob).with_context(|| format!("fetching {what}"))?;
            let file = File::open(&blob).with_context(|| format!("opening {}", blob.display()))?;
            let (_, got, size) = HashingReader::new(BufReader::new(file))
                .finish()
                .with_context(|| format!("reading {}", blob.display()))?;
            check_digest(&got, size, &digest, descriptor.size(), &what)?;
            let mut layer = self
                .stage_blob(tmp, digest, size, 0)
                .with_context(|| format!("unpacking {what}"))?;
            if &layer.diff_id != diff_id {
                bail!(
                    "{what}: its uncompressed content has digest {} but the config says {diff_id}",
                    layer.diff_id
                );
            }
            layer.descriptor = descriptor.clone();
            staged.push(layer);
        }

        let _lock = self.lock()?;
        // A layer skipped above may have been removed (pier rmi) since: check again.
        for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let digest = descriptor.digest().to_string();
            let fetched = staged
                .iter()
                .any(|l| l.descriptor.digest() == descriptor.digest());
            let present = self.has_blob(&digest) && self.has_layer(diff_id);
            if !fetched && !present {
                bail!("layer blob {digest} was removed from the store meanwhile; try again");
            }
        }
        for layer in &staged {
            self.publish_staged_layer(layer)?;
        }
        self.write_blob(&config_digest, config_bytes)?;
        self.write_blob(&manifest_digest, manifest_bytes)?;
        let index = Index::load(&self.index_path())?;
        self.index_and_load(index, &manifest_digest, reference.as_ref())
    }
}

/// Fails unless `data` has `size` bytes and the sha256 `digest`; `what` names the blob.
fn verify_bytes(data: &[u8], digest: &str, size: u64, what: &str) -> Result<()> {
    use sha2::{Digest as _, Sha256};
    let got = super::digest::sha256_digest(&Sha256::digest(data));
    check_digest(&got, data.len() as u64, digest, size, what)
}

fn check_digest(got: &str, got_size: u64, digest: &str, size: u64, what: &str) -> Result<()> {
    if got != digest {
        bail!("{what}: digest mismatch: the content hashes to {got} (corrupt or tampered blob)");
    }
    if got_size != size {
        bail!("{what}: size mismatch: {got_size} bytes, the descriptor says {size}");
    }
    Ok(())
}

/// Unindexed images: the intermediate images of `pier build`, stored (blobs, layers) but not
/// listed by `pier images`. `unindexed/<config-hex>` holds the manifest digest so that a full
/// image ID still resolves (a build step's container is created from one).
impl ImageStore {
    fn unindexed_path(&self, config_digest: &str) -> Result<PathBuf> {
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

    /// Like [`Self::commit_layers`], but the image is not listed in the index (no
    /// reference, not shown by `pier images`); it resolves by its full ID and can be
    /// listed later with [`Self::add_to_index`].
    pub fn commit_layers_unindexed(
        &self,
        parent: Option<&Image>,
        new_layer_dirs: &[PathBuf],
        config: ImageConfiguration,
    ) -> Result<Image> {
        let staged = self.stage_dirs(new_layer_dirs, &[])?;
        self.publish_with(parent, staged, config, None, false)
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

    /// The unpacked size of a stored layer, in bytes (for `pier history`).
    pub fn layer_size(&self, diff_id: &str) -> Result<u64> {
        let info: LayerInfo = persist::read_json(&self.layer_root(diff_id)?.join("layer.json"))?;
        Ok(info.size)
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
}

impl ImageStore {
    /// Moves a staged layer's blob and unpacked directory to their final names (each only if
    /// not already there: identical content is stored once). Called under the store lock.
    fn index_and_load(
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

    fn publish_staged_layer(&self, layer: &StagedLayer) -> Result<()> {
        let blob_dst = self.blob_path(layer.descriptor.digest().as_ref())?;
        if !blob_dst.exists() {
            let src = layer.tmp.path().join("blob");
            fs::rename(&src, &blob_dst)
                .with_context(|| format!("moving {} to {}", src.display(), blob_dst.display()))?;
        }
        let layer_dst = self.layer_root(&layer.diff_id)?;
        if !layer_dst.exists() {
            let src = layer.tmp.path().join("layer");
            fs::rename(&src, &layer_dst)
                .with_context(|| format!("moving {} to {}", src.display(), layer_dst.display()))?;
        }
        Ok(())
    }
}

fn parse_digest(digest: &str) -> Result<Digest> {
    Digest::from_str(digest).with_context(|| format!("invalid digest {digest}"))
}

/// Whether an unpacked rootfs has `/bin/sh`, looking through a top-level `bin` symlink
/// (merged-/usr layouts) by hand so no host path is ever consulted.
fn rootfs_has_shell(rootfs: &Path) -> bool {
    let bin = rootfs.join("bin");
    match fs::symlink_metadata(&bin) {
        Ok(md) if md.is_dir() => fs::symlink_metadata(bin.join("sh")).is_ok(),
        Ok(md) if md.file_type().is_symlink() => match fs::read_link(&bin) {
            Ok(t) if t == Path::new("usr/bin") || t == Path::new("/usr/bin") => {
                fs::symlink_metadata(rootfs.join("usr/bin/sh")).is_ok()
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::layer::tests::raw_entry;
    use super::super::overlay::{mount_overlay, unmount};
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::{EntryType, Header};

    /// A rootfs tar with `bin/sh`, `etc/hostname` and the given extra file.
    fn rootfs_tar(extra: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: EntryType, mode: u32, data: &[u8]| {
            let mut h = Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("bin", EntryType::Directory, 0o755, b"");
        add("bin/sh", EntryType::Regular, 0o755, b"#!fake shell\n");
        add("etc", EntryType::Directory, 0o755, b"");
        add("etc/hostname", EntryType::Regular, 0o644, b"pier\n");
        add(extra, EntryType::Regular, 0o644, extra.as_bytes());
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    /// Asserts that the store holds nothing but its empty skeleton.
    fn assert_store_empty(store: &ImageStore) {
        for d in ["blobs/sha256", "layers", "tmp"] {
            assert_eq!(count(&store.dir().join(d)), 0, "{d} is not empty");
        }
        assert!(store.list().unwrap().is_empty());
    }

    struct MountGuard(PathBuf);
    impl Drop for MountGuard {
        fn drop(&mut self) {
            let _ = unmount(&self.0);
        }
    }

    #[test]
    fn import_then_resolve_by_reference_and_id() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let image = store
            .import_rootfs_tar(&mut &rootfs_tar("etc/motd")[..], "myroot")
            .unwrap();
        assert_eq!(image.references, vec!["myroot:latest"]);
        assert!(image.id.starts_with("sha256:"));
        assert_eq!(image.layer_dirs.len(), 1);
        assert_eq!(
            fs::read_to_string(image.layer_dirs[0].join("etc/hostname")).unwrap(),
            "pier\n"
        );
        let cfg = image.config.config().as_ref().unwrap();
        assert_eq!(cfg.cmd().as_deref(), Some(&["/bin/sh".to_string()][..]));
        assert_eq!(
            cfg.env().as_deref(),
            Some(&[DEFAULT_PATH_ENV.to_string()][..])
        );
        assert_eq!(image.size, 13 + 5 + 8);

        for wanted in [
            "myroot",
            "myroot:latest",
            &image.id,
            &image.id[7..11],
            image.short_id(),
        ] {
            assert_eq!(store.resolve(wanted).unwrap().id, image.id, "{wanted}");
        }
        let err = store.resolve("foo").unwrap_err().to_string();
        assert_eq!(err, "no such image: foo:latest");
        assert!(store.resolve("myroot:v2").is_err());

        // A blob for the layer, the config and the manifest.
        assert_eq!(count(&store.dir().join("blobs/sha256")), 3);
        assert_eq!(
            count(&store.dir().join("tmp")),
            0,
            "staging area cleaned up"
        );

        store.tag("myroot", "other:v1").unwrap();
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].references, vec!["myroot:latest", "other:v1"]);
        assert!(store.tag("missing", "x").is_err());
        assert!(store.tag("myroot", "Bad Name").is_err());
    }

    #[test]
    fn unindexed_images_resolve_by_full_id_until_listed_or_pruned() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let base = store
            .import_rootfs_tar(&mut &rootfs_tar("etc/base")[..], "base")
            .unwrap();
        let (kept_dir, dropped_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::write(kept_dir.path().join("kept"), "k").unwrap();
        fs::write(dropped_dir.path().join("dropped"), "d").unwrap();
        let kept = store
            .commit_layers_unindexed(
                Some(&base),
                &[kept_dir.path().to_path_buf()],
                base.config.clone(),
            )
            .unwrap();
        let dropped = store
            .commit_layers_unindexed(
                Some(&base),
                &[dropped_dir.path().to_path_buf()],
                base.config.clone(),
            )
            .unwrap();
        assert_eq!(
            store.list().unwrap().len(),
            1,
            "unindexed images are not listed"
        );
        assert_eq!(store.resolve(&kept.id).unwrap().id, kept.id);
        assert!(
            store.resolve(&kept.id[..19]).is_err(),
            "only the full ID resolves"
        );
        assert_eq!(
            store.load_manifest(&dropped.manifest_digest).unwrap().id,
            dropped.id
        );

        let listed = store.add_to_index(&kept, &["kept:1".to_string()]).unwrap();
        assert_eq!(listed.references, vec!["kept:1"]);
        assert_eq!(
            store
                .layer_size(&kept.config.rootfs().diff_ids()[1])
                .unwrap(),
            1
        );

        let (layers, bytes) = store.prune_unindexed().unwrap();
        assert_eq!((layers, bytes), (1, 1));
        assert!(!dropped.layer_dirs[1].exists());
        assert!(kept.layer_dirs[1].exists() && base.layer_dirs[0].exists());
        assert!(store.resolve(&dropped.id).is_err());
        assert!(store.load_manifest(&dropped.manifest_digest).is_err());
        assert_eq!(store.resolve("kept:1").unwrap().id, kept.id);
    }

    #[test]
    fn stale_staging_of_dead_processes_is_cleaned_on_open() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let tmp = store.dir().join("tmp");
        // PID 0x3fffffff is above pid_max, so it is never alive.
        let dead = tmp.join(format!("{STAGING_PREFIX}1073741823-abc"));
        let mine = tmp.join(format!("{STAGING_PREFIX}{}-abc", std::process::id()));
        fs::create_dir_all(dead.join("layer/diff")).unwrap();
        fs::create_dir_all(&mine).unwrap();
        ImageStore::open(root.path()).unwrap();
        assert!(!dead.exists());
        assert!(mine.exists());
    }

    #[test]
    fn committing_an_empty_directory_adds_an_empty_layer() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let base = store
            .import_rootfs_tar(&mut &rootfs_tar("etc/a")[..], "base")
            .unwrap();
        let empty = tempfile::tempdir().unwrap();
        let child = store
            .commit_layers(
                Some(&base),
                &[empty.path().to_path_buf()],
                base.config.clone(),
                None,
            )
            .unwrap();
        assert_eq!(child.layer_dirs.len(), 2);
        assert!(child.references.is_empty());
        assert_eq!(store.list().unwrap().len(), 2, "untagged images are listed");
    }

    #[test]
    fn imports_a_tar_gz_made_by_gnu_tar() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let src = tempfile::tempdir().unwrap();
        let rootfs = src.path().join("rootfs");
        fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
        fs::write(rootfs.join("usr/bin/sh"), "sh").unwrap();
        fs::hard_link(rootfs.join("usr/bin/sh"), rootfs.join("usr/bin/ash")).unwrap();
        std::os::unix::fs::symlink("usr/bin", rootfs.join("bin")).unwrap();
        let archive = src.path().join("rootfs.tar.gz");
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-czf")
            .arg(&archive)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        let image = store
            .import_rootfs_tar(&mut File::open(&archive).unwrap(), "gnu:tar")
            .unwrap();
        let layer = &image.layer_dirs[0];
        assert_eq!(
            fs::read_link(layer.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let (sh, ash) = (
            fs::metadata(layer.join("usr/bin/sh")).unwrap(),
            fs::metadata(layer.join("usr/bin/ash")).unwrap(),
        );
        assert_eq!(sh.ino(), ash.ino());
        let cfg = image.config.config().as_ref().unwrap();
        assert_eq!(
            cfg.cmd().as_deref(),
            Some(&["/bin/sh".to_string()][..]),
            "found through the bin symlink"
        );
    }

    #[test]
    fn gzip_import_shares_the_unpacked_layer_with_the_plain_one() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let tar = rootfs_tar("etc/motd");
        let plain = store.import_rootfs_tar(&mut &tar[..], "plain").unwrap();
        let gz = store.import_rootfs_tar(&mut &gzip(&tar)[..], "gz").unwrap();
        assert_eq!(
            plain.config.rootfs().diff_ids(),
            gz.config.rootfs().diff_ids()
        );
        assert_eq!(plain.layer_dirs, gz.layer_dirs);
        let manifest = store.read_manifest(&gz.manifest_digest).unwrap();
        assert_eq!(
            manifest.layers()[0].media_type(),
            &MediaType::ImageLayerGzip
        );
        // The diff ID covers the whole uncompressed stream: for a plain tar it is the
        // blob digest itself.
        let plain_manifest = store.read_manifest(&plain.manifest_digest).unwrap();
        let diff_id = &plain.config.rootfs().diff_ids()[0];
        assert_eq!(&plain_manifest.layers()[0].digest().to_string(), diff_id);
        assert_ne!(&manifest.layers()[0].digest().to_string(), diff_id);
        let du = store.disk_usage().unwrap();
        assert_eq!((du.images, du.layers, du.shared_layers), (2, 1, 1));
    }

    #[test]
    fn garbage_and_hostile_input_leave_nothing_in_the_store() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 31 + 7) as u8).collect();
        let mut truncated_gz = gzip(&rootfs_tar("x"));
        truncated_gz.truncate(truncated_gz.len() / 2);
        let mut evil = tar::Builder::new(Vec::new());
        raw_entry(&mut evil, "ok", EntryType::Regular, None, b"fine");
        raw_entry(&mut evil, "../evil", EntryType::Regular, None, b"x");
        let evil = evil.into_inner().unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", Vec::new(), "empty"),
            ("zeros", vec![0; 4096], "no entries"),
            ("garbage", garbage, "tar"),
            ("truncated gzip", truncated_gz, "tar"),
            ("dot-dot", evil, "'..'"),
        ];
        for (what, data, why) in cases {
            let err = store.import_rootfs_tar(&mut &data[..], "bad").unwrap_err();
            assert!(format!("{err:#}").contains(why), "{what}: {err:#}");
            assert_store_empty(&store);
        }
        assert!(!root.path().join("images/evil").exists() && !root.path().join("evil").exists());
        let err = store
            .import_rootfs_tar(&mut &rootfs_tar("x")[..], "Bad:Ref")
            .unwrap_err();
        assert!(err.to_string().contains("lowercase"));
        assert_store_empty(&store);
    }

    #[test]
    fn remove_frees_unused_layers_and_keeps_shared_ones() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let base = store
            .import_rootfs_tar(&mut &rootfs_tar("etc/base")[..], "base")
            .unwrap();
        let extra = tempfile::tempdir().unwrap();
        fs::write(extra.path().join("added"), "new layer").unwrap();
        let child = store
            .commit_layers(
                Some(&base),
                &[extra.path().to_path_buf()],
                base.config.clone(),
                Some("child:1"),
            )
            .unwrap();
        assert_eq!(child.layer_dirs.len(), 2);
        assert_eq!(child.layer_dirs[0], base.layer_dirs[0]);
        assert_eq!(
            fs::read_to_string(child.layer_dirs[1].join("added")).unwrap(),
            "new layer"
        );
        let du = store.disk_usage().unwrap();
        assert_eq!((du.images, du.layers, du.shared_layers), (2, 2, 1));

        // A second reference only untags.
        store.tag("child:1", "child:2").unwrap();
        assert_eq!(store.remove("child:2").unwrap(), vec!["Untagged: child:2"]);
        assert!(child.layer_dirs[1].exists());

        let out = store.remove("child:1").unwrap();
        assert_eq!(out[0], "Untagged: child:1");
        assert!(out.contains(&format!("Deleted: {}", child.id)));
        assert!(
            !child.layer_dirs[1].exists(),
            "the child's own layer is freed"
        );
        assert!(base.layer_dirs[0].exists(), "the shared base layer is kept");
        assert_eq!(store.resolve("base").unwrap().id, base.id);

        let out = store.remove(&base.id[7..19]).unwrap();
        assert_eq!(out[0], "Untagged: base:latest");
        assert!(!base.layer_dirs[0].exists());
        assert_store_empty(&store);
        assert!(store
            .remove("base")
            .unwrap_err()
            .to_string()
            .contains("no such image"));
    }

    #[test]
    fn committing_an_overlay_upper_carries_whiteouts_into_the_new_image() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (p, d) in [("a", "a"), ("d/x", "x"), ("keep", "k")] {
            let mut h = Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(d.len() as u64);
            h.set_mtime(1);
            b.append_data(&mut h, p, d.as_bytes()).unwrap();
        }
        let base = store
            .import_rootfs_tar(&mut &b.into_inner().unwrap()[..], "wb")
            .unwrap();

        let c = tempfile::tempdir().unwrap();
        let (upper, work, merged) = (c.path().join("u"), c.path().join("w"), c.path().join("m"));
        mount_overlay(&base.layer_dirs, &upper, &work, &merged, false).unwrap();
        let guard = MountGuard(merged.clone());
        fs::remove_file(merged.join("a")).unwrap();
        fs::remove_dir_all(merged.join("d")).unwrap();
        fs::create_dir(merged.join("d")).unwrap();
        fs::write(merged.join("d/y"), "y").unwrap();
        drop(guard);
        let a = fs::symlink_metadata(upper.join("a")).unwrap();
        assert!(a.file_type().is_char_device() && a.rdev() == 0);

        let child = store
            .commit_layers(
                Some(&base),
                std::slice::from_ref(&upper),
                base.config.clone(),
                Some("wb:child"),
            )
            .unwrap();
        let top = &child.layer_dirs[1];
        let a = fs::symlink_metadata(top.join("a")).unwrap();
        assert!(
            a.file_type().is_char_device() && a.rdev() == 0,
            "whiteout survives the round trip"
        );

        let merged2 = c.path().join("m2");
        mount_overlay(
            &child.layer_dirs,
            &c.path().join("u2"),
            &c.path().join("w2"),
            &merged2,
            true,
        )
        .unwrap();
        let _guard2 = MountGuard(merged2.clone());
        assert!(!merged2.join("a").exists());
        assert!(
            !merged2.join("d/x").exists(),
            "opaque directory hides the lower one"
        );
        assert_eq!(fs::read_to_string(merged2.join("d/y")).unwrap(), "y");
        assert_eq!(fs::read_to_string(merged2.join("keep")).unwrap(), "k");
    }
}
