//! Adding images to the store: `pier import`, `commit` and `build` (layers from directories
//! or tar streams, staged without the lock, then published by renames under it), and foreign
//! images given as manifest and config bytes (`pier load`, `pier pull`), every blob verified.

use super::index::Index;
use super::layer_jobs::{Ingest, LayerJob, LayerState};
use super::{Image, ImageStore, LayerInfo, StagedLayer, DEFAULT_PATH_ENV};
use crate::image::digest::{canonical_json, digest_hex, HashingReader, HashingWriter};
use crate::image::layer::unpack_image_layer;
use crate::image::layer_build::write_layer_tar_skipping;
use crate::image::reference::Reference;
use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use oci_spec::image::{
    ConfigBuilder, Descriptor, Digest, HistoryBuilder, ImageConfiguration, ImageManifest,
    ImageManifestBuilder, MediaType,
};
use pier_oci::persist;
use pier_oci::time::now_rfc3339_seconds;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The first bytes of a zstd frame (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl ImageStore {
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
        let created = now_rfc3339_seconds();
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
    pub(super) fn stage_blob(
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
        let head = input
            .fill_buf()
            .with_context(|| format!("reading {}", blob.display()))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let zstd = head.starts_with(&ZSTD_MAGIC);
        let decoded: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else if zstd {
            Box::new(
                ruzstd::decoding::StreamingDecoder::new(input)
                    .map_err(|e| anyhow::anyhow!("layer {digest}: not a valid zstd stream: {e}"))?,
            )
        } else {
            Box::new(input)
        };
        let mut hashing = HashingReader::new(decoded);
        let layer = tmp.path().join("layer");
        let diff = layer.join("diff");
        fs::create_dir_all(&diff).with_context(|| format!("creating {}", diff.display()))?;
        let stats = unpack_image_layer(&mut hashing, &diff)?;
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
                skipped_devices: stats.skipped_devices,
            },
        )?;
        let media_type = if gzip {
            MediaType::ImageLayerGzip
        } else if zstd {
            MediaType::ImageLayerZstd
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
        sync_staged(&staged)?;
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

    /// Moves a staged layer's blob and unpacked directory to their final names (each only if
    /// not already there: identical content is stored once). Called under the store lock.
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

    /// Adds an image given as its exact manifest and config bytes (so its manifest digest
    /// and image ID stay those it had elsewhere), taking each missing layer blob from
    /// `ingest` (several at a time, each unpacked as soon as it has arrived). Layers whose
    /// blob and unpacked directory are already present are not fetched. Every blob is
    /// verified (size, sha256, and the unpacked diff ID against the config) before
    /// anything is published; on any error nothing is left in the store. `reference`
    /// (`name[:tag]`) tags the image.
    pub fn add_image(
        &self,
        manifest_bytes: &[u8],
        config_bytes: &[u8],
        ingest: &Ingest<'_>,
        reference: Option<&str>,
    ) -> Result<Image> {
        use crate::image::media_type;
        use sha2::{Digest as _, Sha256};
        let reference = reference.map(Reference::parse).transpose()?;
        let manifest_digest = crate::image::digest::sha256_digest(&Sha256::digest(manifest_bytes));
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
        let mut jobs = Vec::new();
        for (descriptor, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let digest = descriptor.digest().to_string();
            let what = format!("layer blob {digest}");
            media_type::check_layer(descriptor.media_type().as_ref(), &what)?;
            digest_hex(diff_id).with_context(|| format!("diff ID of {what}"))?;
            if self.has_blob(&digest) && self.has_layer(diff_id) {
                (ingest.events)(&digest, LayerState::Exists);
            } else if !jobs
                .iter()
                .any(|(d, _): &LayerJob<'_>| d.digest() == descriptor.digest())
            {
                (ingest.events)(&digest, LayerState::Waiting);
                jobs.push((descriptor, diff_id));
            }
        }
        let staged = self.stage_layers(&jobs, ingest)?;

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
        sync_staged(&staged)?;
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
    let got = crate::image::digest::sha256_digest(&Sha256::digest(data));
    check_digest(&got, data.len() as u64, digest, size, what)
}

pub(super) fn check_digest(
    got: &str,
    got_size: u64,
    digest: &str,
    size: u64,
    what: &str,
) -> Result<()> {
    if got != digest {
        bail!("{what}: digest mismatch: the content hashes to {got} (corrupt or tampered blob)");
    }
    if got_size != size {
        bail!("{what}: size mismatch: {got_size} bytes, the descriptor says {size}");
    }
    Ok(())
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

/// Makes the staged layers' unpacked files durable before they are published: the rename
/// into the store says "complete", so after a crash a published layer must not be missing
/// data. One `syncfs` of the store's file system covers them all (the extractor itself
/// syncs nothing, file by file, which would cost far more).
fn sync_staged(staged: &[StagedLayer]) -> Result<()> {
    let Some(first) = staged.first() else {
        return Ok(());
    };
    let dir = fs::File::open(first.tmp.path())
        .with_context(|| format!("opening {}", first.tmp.path().display()))?;
    nix::unistd::syncfs(&dir).with_context(|| {
        format!(
            "syncfs of the file system holding {}",
            first.tmp.path().display()
        )
    })
}
