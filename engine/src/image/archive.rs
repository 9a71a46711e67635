//! Image archives: `pier save` and `pier load`.
//!
//! `save` writes an [OCI image layout] as a tar: `oci-layout`, `index.json` (one entry per
//! reference, named by the `org.opencontainers.image.ref.name` annotation, plus
//! containerd's `io.containerd.image.name` as Docker 25+ writes it) and
//! `blobs/sha256/<hex>`, the blobs exactly as stored, so manifest digests and image IDs
//! survive the trip. It also writes Docker's `manifest.json`, which is what `docker load`
//! reads. The tar itself is reproducible (sorted, fixed headers).
//!
//! `load` reads such an archive, or one written by `docker save` in the legacy format
//! (`manifest.json`, `<id>.json` configs, `<id>/layer.tar`, possibly gzip layers or
//! symlinked duplicate layers). The archive is unpacked into a staging directory inside
//! the store, then each image goes through [`ImageStore::add_image`], which verifies every
//! digest before anything is published.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

use super::digest::{canonical_json, digest_hex, HashingReader};
use super::media_type::{self, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::reference::Reference;
use super::store::{Image, ImageStore, Ingest, LayerProgress};
use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Annotation naming an image in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// containerd's (and Docker 25+'s) annotation with the full image name.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// One entry of Docker's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// An image `load` added, with the references it was given.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image.
    pub image: Image,
    /// References from the archive (empty for an untagged image).
    pub references: Vec<String>,
}

/// Writes the images named by `names` (references or ID prefixes) to `out` as an OCI
/// image layout tar with Docker's `manifest.json`. An image named by reference is saved
/// under that reference; one named by ID is saved untagged.
pub fn save(store: &ImageStore, names: &[String], out: &mut dyn Write) -> Result<()> {
    if names.is_empty() {
        bail!("nothing to save: name at least one image");
    }
    // manifest digest -> (image, references), in the order given.
    let mut images: Vec<(Image, Vec<String>)> = Vec::new();
    for name in names {
        let image = store.resolve(name)?;
        let reference = Reference::parse(name)
            .ok()
            .map(|r| r.to_string())
            .filter(|r| image.references.contains(r));
        match images
            .iter_mut()
            .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        {
            Some((_, refs)) => refs.extend(reference),
            None => images.push((image, reference.into_iter().collect())),
        }
    }

    let mut blobs = BTreeSet::new();
    let mut index_entries = Vec::new();
    let mut docker_entries = Vec::new();
    for (image, refs) in &images {
        let manifest = store.manifest(image)?;
        let manifest_bytes = store.read_blob(&image.manifest_digest)?;
        let media = manifest
            .media_type()
            .as_ref()
            .map_or(OCI_MANIFEST.to_string(), |m| m.to_string());
        blobs.insert(image.manifest_digest.clone());
        blobs.insert(image.id.clone());
        let mut layer_paths = Vec::new();
        for layer in manifest.layers() {
            blobs.insert(layer.digest().to_string());
            layer_paths.push(blob_name(layer.digest().as_ref())?);
        }
        let descriptor = |annotations: Option<serde_json::Value>| {
            let mut d = json!({
                "mediaType": media,
                "digest": image.manifest_digest,
                "size": manifest_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if refs.is_empty() {
            index_entries.push(descriptor(None));
        }
        for r in refs {
            index_entries.push(descriptor(Some(json!({
                CONTAINERD_NAME_ANNOTATION: r,
                REF_NAME_ANNOTATION: r,
            }))));
        }
        docker_entries.push(DockerManifestEntry {
            config: blob_name(&image.id)?,
            repo_tags: (!refs.is_empty()).then(|| refs.clone()),
            layers: layer_paths,
        });
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": index_entries,
    });

    let mut tar = tar::Builder::new(out);
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for digest in &blobs {
        let mut file = store.open_blob(digest)?;
        let size = file
            .metadata()
            .with_context(|| format!("inspecting blob {digest}"))?
            .len();
        let mut h = header(tar::EntryType::Regular, 0o644, size);
        tar.append_data(&mut h, blob_name(digest)?, &mut file)
            .with_context(|| format!("writing blob {digest} to the archive"))?;
    }
    append_bytes(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    append_bytes(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec(&docker_entries)?,
    )?;
    tar.into_inner()
        .context("finishing the archive")?
        .flush()
        .context("writing the archive")?;
    Ok(())
}

/// `blobs/sha256/<hex>` for a digest.
fn blob_name(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", digest_hex(digest)?))
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
    tar.append_data(&mut h, path, data)
        .with_context(|| format!("writing {path} to the archive"))
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut h, path, io::empty())
        .with_context(|| format!("writing {path} to the archive"))
}

/// Loads every image in the archive read from `input` (plain or gzip tar): an OCI image
/// layout or a `docker save` archive. Every blob is verified against its digest; on any
/// error nothing of the failing image is left in the store.
pub fn load(store: &ImageStore, input: &mut dyn Read) -> Result<Vec<Loaded>> {
    let staging = store.staging_dir()?;
    let dir = staging.path().join("archive");
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let symlinks = unpack_archive(input, &dir)?;
    let archive = Unpacked {
        dir: dir.clone(),
        symlinks,
    };
    if dir.join("index.json").is_file() && dir.join("oci-layout").is_file() {
        load_oci_layout(store, &archive)
    } else if dir.join("manifest.json").is_file() {
        load_docker_archive(store, &archive)
    } else {
        bail!("not an image archive: it has neither an OCI layout (oci-layout, index.json) nor Docker's manifest.json")
    }
}

/// An archive unpacked into a staging directory.
struct Unpacked {
    dir: PathBuf,
    /// Symlinks in the archive (old `docker save` links duplicate layers), as normalized
    /// path -> normalized target; never created on disk.
    symlinks: HashMap<String, String>,
}

impl Unpacked {
    /// The file for the archive path `name`, following the archive's symlinks.
    fn file(&self, name: &str) -> Result<PathBuf> {
        let mut current =
            normalize(name, "").with_context(|| format!("invalid path {name:?} in the archive"))?;
        for _ in 0..16 {
            match self.symlinks.get(&current) {
                Some(target) => current = target.clone(),
                None => {
                    let path = self.dir.join(&current);
                    if !path.is_file() {
                        bail!("{name} is missing from the archive");
                    }
                    return Ok(path);
                }
            }
        }
        bail!("{name}: too many levels of symbolic links in the archive")
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.file(name)?;
        fs::read(&path).with_context(|| format!("reading {name} from the archive"))
    }

    /// The blob `digest`, verified.
    fn blob(&self, digest: &str) -> Result<Vec<u8>> {
        let name = blob_name(digest)?;
        let data = self.read(&name)?;
        let (_, got, _) = HashingReader::new(&data[..]).finish()?;
        if got != digest {
            bail!("blob {digest} in the archive: digest mismatch: the content hashes to {got}");
        }
        Ok(data)
    }
}

/// Unpacks regular files and directories of the tar (gzip detected) into `dir`; returns
/// its symlinks. Paths are confined to `dir`: `..` is refused.
fn unpack_archive(input: &mut dyn Read, dir: &Path) -> Result<HashMap<String, String>> {
    let mut input = BufReader::new(input);
    let gzip = input
        .fill_buf()
        .context("reading the archive")?
        .starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read + '_> = if gzip {
        Box::new(MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut archive = tar::Archive::new(decoded);
    let mut symlinks = HashMap::new();
    let mut entries_seen = 0u64;
    let entries = archive
        .entries()
        .context("reading the archive (is it a tar file?)")?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            anyhow::anyhow!(
                "reading the archive (truncated or not a tar file?): {}",
                printable(&e.to_string())
            )
        })?;
        entries_seen += 1;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path =
            normalize(&raw, "").with_context(|| format!("refusing archive entry {raw:?}"))?;
        if path.is_empty() {
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                let d = dir.join(&path);
                fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dest = dir.join(&path);
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let mut f =
                    File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
                io::copy(&mut entry, &mut f).with_context(|| {
                    format!("reading {raw} from the archive (truncated archive?)")
                })?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                let resolved = normalize(&target, parent)
                    .with_context(|| format!("refusing symlink {raw:?} -> {target:?}"))?;
                symlinks.insert(path, resolved);
            }
            // Nothing else belongs in an image archive; ignore it as docker does.
            _ => {}
        }
    }
    if entries_seen == 0 {
        bail!("the archive is empty or not a tar file");
    }
    Ok(symlinks)
}

/// `text` with control and non-ASCII bytes replaced and cut short: the tar crate quotes
/// raw header bytes in its errors, which garbage input turns into terminal noise.
fn printable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    match clean.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &clean[..i]),
        None => clean,
    }
}

/// `base/name` with `.` and empty components dropped and a leading `/` meaning the
/// archive root; `..` may climb within `base` but never above the archive root.
fn normalize(name: &str, base: &str) -> Result<String> {
    let mut parts: Vec<&str> = if name.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    bail!("path leaves the archive");
                }
            }
            _ => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn load_oci_layout(store: &ImageStore, archive: &Unpacked) -> Result<Vec<Loaded>> {
    let index_bytes = archive.read("index.json")?;
    let index: ImageIndex =
        serde_json::from_slice(&index_bytes).context("parsing index.json in the archive")?;
    let mut loaded = Vec::new();
    for descriptor in index.manifests() {
        let reference = reference_from_annotations(descriptor)?;
        let manifest_bytes = manifest_for_platform(archive, descriptor)?;
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .with_context(|| format!("parsing manifest {}", descriptor.digest()))?;
        let config_bytes = archive.blob(manifest.config().digest().as_ref())?;
        let image = add(
            store,
            archive,
            &manifest_bytes,
            &config_bytes,
            reference.as_deref(),
        )?;
        merge_loaded(&mut loaded, image, reference);
    }
    if loaded.is_empty() {
        bail!("index.json in the archive lists no images");
    }
    Ok(loaded)
}

/// The manifest `descriptor` points at; for an index, the linux/amd64 one.
fn manifest_for_platform(archive: &Unpacked, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let digest = descriptor.digest().to_string();
    let media = descriptor.media_type().to_string();
    if media_type::is_manifest(&media) {
        return archive.blob(&digest);
    }
    if !media_type::is_index(&media) {
        bail!("manifest {digest} in the archive: unsupported media type {media:?}");
    }
    let nested: ImageIndex = serde_json::from_slice(&archive.blob(&digest)?)
        .with_context(|| format!("parsing image index {digest}"))?;
    let chosen = pick_platform(nested.manifests())
        .with_context(|| format!("image index {digest} in the archive"))?;
    manifest_for_platform(archive, chosen)
}

/// The manifest of an index for the platform pier runs on.
pub fn pick_platform(manifests: &[Descriptor]) -> Result<&Descriptor> {
    super::platform::Platform::host().pick(manifests)
}

/// The reference an index entry names, if any: containerd's full name, else the OCI
/// `ref.name` when it is a full reference (Docker writes only a tag there).
fn reference_from_annotations(descriptor: &Descriptor) -> Result<Option<String>> {
    let Some(annotations) = descriptor.annotations() else {
        return Ok(None);
    };
    let name = annotations
        .get(CONTAINERD_NAME_ANNOTATION)
        .map(|n| strip_docker_hub(n))
        .or_else(|| {
            annotations
                .get(REF_NAME_ANNOTATION)
                .filter(|r| r.contains(':') || r.contains('/'))
                .cloned()
        });
    name.map(|n| {
        Reference::parse(&n)
            .map(|r| r.to_string())
            .with_context(|| format!("image name {n:?} in the archive"))
    })
    .transpose()
}

/// Docker's normalized names (`docker.io/library/busybox:latest`) back to the short
/// form pier uses, which never rewrites names.
fn strip_docker_hub(name: &str) -> String {
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    short.to_string()
}

fn merge_loaded(loaded: &mut Vec<Loaded>, image: Image, reference: Option<String>) {
    match loaded.iter_mut().find(|l| l.image.id == image.id) {
        Some(l) => {
            l.references.extend(reference);
            l.image = image;
        }
        None => loaded.push(Loaded {
            image,
            references: reference.into_iter().collect(),
        }),
    }
}

/// Adds one image, taking layer blobs from the archive by hard link (same filesystem).
fn add(
    store: &ImageStore,
    archive: &Unpacked,
    manifest_bytes: &[u8],
    config_bytes: &[u8],
    reference: Option<&str>,
) -> Result<Image> {
    let fetch = |d: &Descriptor, dest: &Path, _: &LayerProgress<'_>| -> Result<()> {
        let src = archive.file(&blob_name(d.digest().as_ref())?)?;
        fs::hard_link(&src, dest)
            .or_else(|_| fs::copy(&src, dest).map(|_| ()))
            .with_context(|| format!("copying {} to {}", src.display(), dest.display()))
    };
    store.add_image(
        manifest_bytes,
        config_bytes,
        &Ingest::serial(&fetch),
        reference,
    )
}

fn load_docker_archive(store: &ImageStore, archive: &Unpacked) -> Result<Vec<Loaded>> {
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&archive.read("manifest.json")?)
        .context("parsing manifest.json in the archive")?;
    let mut loaded = Vec::new();
    for entry in &entries {
        let config_bytes = archive.read(&entry.config)?;
        let (_, config_digest, _) = HashingReader::new(&config_bytes[..]).finish()?;
        check_named_digest(&entry.config, &config_digest)?;
        // Layers are named by content in blobs/ here: link them there for `add`.
        let mut layers = Vec::new();
        for name in &entry.layers {
            let path = archive.file(name)?;
            let mut input = BufReader::new(
                File::open(&path).with_context(|| format!("opening {name} in the archive"))?,
            );
            let gzip = input
                .fill_buf()
                .with_context(|| format!("reading {name} in the archive"))?
                .starts_with(&[0x1f, 0x8b]);
            let (_, digest, size) = HashingReader::new(input)
                .finish()
                .with_context(|| format!("reading {name} in the archive"))?;
            check_named_digest(name, &digest)?;
            let linked = archive.dir.join(blob_name(&digest)?);
            if !linked.exists() {
                fs::create_dir_all(archive.dir.join("blobs/sha256"))
                    .context("creating the staging blob directory")?;
                fs::hard_link(&path, &linked).with_context(|| {
                    format!("linking {} to {}", path.display(), linked.display())
                })?;
            }
            let media = if gzip {
                MediaType::ImageLayerGzip
            } else {
                MediaType::ImageLayer
            };
            layers.push(Descriptor::new(media, size, parse_digest(&digest)?));
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::from(OCI_CONFIG),
                config_bytes.len() as u64,
                parse_digest(&config_digest)?,
            ))
            .layers(layers)
            .build()
            .context("building image manifest")?;
        let (manifest_bytes, _) = canonical_json(&manifest)?;
        let tags = entry.repo_tags.clone().unwrap_or_default();
        let mut tags = tags.iter().map(|t| strip_docker_hub(t));
        let first = tags.next();
        let image = add(
            store,
            archive,
            &manifest_bytes,
            &config_bytes,
            first.as_deref(),
        )?;
        merge_loaded(&mut loaded, image.clone(), first);
        for t in tags {
            store.tag(&image.id, &t)?;
            merge_loaded(&mut loaded, store.resolve(&t)?, Some(t));
        }
    }
    if loaded.is_empty() {
        bail!("manifest.json in the archive lists no images");
    }
    Ok(loaded)
}

/// Where an archive path names its content (`blobs/sha256/<hex>`, `<hex>.json`), checks
/// the content against it; other names (`<v1 id>/layer.tar`) carry no digest.
fn check_named_digest(name: &str, digest: &str) -> Result<()> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem = file.strip_suffix(".json").unwrap_or(file);
    let named_by_digest = name.starts_with("blobs/sha256/") || name.ends_with(".json");
    if named_by_digest && stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hex = digest_hex(digest)?;
        if stem != hex {
            bail!("{name} in the archive: digest mismatch: the content hashes to {digest}");
        }
    }
    Ok(())
}

fn parse_digest(digest: &str) -> Result<oci_spec::image::Digest> {
    oci_spec::image::Digest::from_str(digest).with_context(|| format!("invalid digest {digest}"))
}

/// Which references `loaded` gave, for messages like Docker's `Loaded image: x`.
pub fn describe(loaded: &[Loaded]) -> Vec<String> {
    let mut lines = BTreeMap::new();
    for l in loaded {
        if l.references.is_empty() {
            lines.insert(
                l.image.id.clone(),
                format!("Loaded image ID: {}", l.image.id),
            );
        }
        for r in &l.references {
            lines.insert(r.clone(), format!("Loaded image: {r}"));
        }
    }
    lines.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{ConfigBuilder, ImageConfiguration};

    /// A store with one single-layer image `app:1`.
    fn store_with_image() -> (tempfile::TempDir, ImageStore, Image) {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let layer = tempfile::tempdir().unwrap();
        fs::write(layer.path().join("hello"), "world").unwrap();
        let mut config = ImageConfiguration::default();
        config.set_config(Some(
            ConfigBuilder::default()
                .cmd(vec!["/hello".to_string()])
                .build()
                .unwrap(),
        ));
        let image = store
            .commit_layers(None, &[layer.path().to_path_buf()], config, Some("app:1"))
            .unwrap();
        (root, store, image)
    }

    fn store_is_empty(store: &ImageStore) -> bool {
        ["blobs/sha256", "layers", "tmp"]
            .iter()
            .all(|d| fs::read_dir(store.dir().join(d)).unwrap().count() == 0)
            && store.list().unwrap().is_empty()
    }

    #[test]
    fn save_load_round_trip_keeps_digests() {
        let (_root, store, image) = store_with_image();
        let mut tar = Vec::new();
        save(&store, &["app:1".to_string()], &mut tar).unwrap();
        let other_root = tempfile::tempdir().unwrap();
        let other = ImageStore::open(other_root.path()).unwrap();
        let loaded = load(&other, &mut &tar[..]).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].references, vec!["app:1".to_string()]);
        assert_eq!(loaded[0].image.id, image.id);
        assert_eq!(loaded[0].image.manifest_digest, image.manifest_digest);
        assert_eq!(
            fs::read_to_string(loaded[0].image.layer_dirs[0].join("hello")).unwrap(),
            "world"
        );
        assert_eq!(describe(&loaded), vec!["Loaded image: app:1".to_string()]);
        // Loading twice is harmless; by ID the image is saved untagged.
        load(&other, &mut &tar[..]).unwrap();
        let mut untagged = Vec::new();
        save(&other, &[image.id[7..19].to_string()], &mut untagged).unwrap();
        let third_root = tempfile::tempdir().unwrap();
        let third = ImageStore::open(third_root.path()).unwrap();
        let loaded = load(&third, &mut &untagged[..]).unwrap();
        assert!(loaded[0].references.is_empty());
        assert_eq!(
            describe(&loaded)[0],
            format!("Loaded image ID: {}", image.id)
        );
    }

    #[test]
    fn a_layer_that_does_not_match_the_config_diff_id_is_refused() {
        let (_root, store, image) = store_with_image();
        let manifest = store.read_blob(&image.manifest_digest).unwrap();
        let mut config: serde_json::Value =
            serde_json::from_slice(&store.read_blob(&image.id).unwrap()).unwrap();
        config["rootfs"]["diff_ids"][0] = format!("sha256:{}", "0".repeat(64)).into();
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let (_, config_digest, _) = HashingReader::new(&config_bytes[..]).finish().unwrap();
        m["config"]["digest"] = config_digest.into();
        m["config"]["size"] = config_bytes.len().into();
        let manifest_bytes = serde_json::to_vec(&m).unwrap();
        let other_root = tempfile::tempdir().unwrap();
        let other = ImageStore::open(other_root.path()).unwrap();
        let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
        let fetch = |_: &Descriptor, dest: &Path, _: &LayerProgress<'_>| -> Result<()> {
            fs::copy(store.blob_file(&layer)?, dest)?;
            Ok(())
        };
        let err = other
            .add_image(
                &manifest_bytes,
                &config_bytes,
                &Ingest::serial(&fetch),
                Some("bad:1"),
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains("the config says"), "{err:#}");
        assert!(store_is_empty(&other));
    }

    #[test]
    fn archive_paths_stay_inside_the_archive() {
        assert_eq!(normalize("./a//b/", "").unwrap(), "a/b");
        assert_eq!(normalize("../x/layer.tar", "y").unwrap(), "x/layer.tar");
        assert_eq!(normalize("/abs", "y").unwrap(), "abs");
        assert!(normalize("../../etc/passwd", "y").is_err());
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        tar.append_data(&mut h, "ok", &b"x"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, "evil", "../../etc/passwd").unwrap();
        let data = tar.into_inner().unwrap();
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let err = load(&store, &mut &data[..]).unwrap_err();
        assert!(format!("{err:#}").contains("refusing symlink"), "{err:#}");
        assert!(store_is_empty(&store));
    }

    #[test]
    fn names_come_from_containerd_or_full_ref_name_annotations() {
        let entry = |annotations: serde_json::Value| -> Descriptor {
            serde_json::from_value(json!({
                "mediaType": OCI_MANIFEST, "size": 1,
                "digest": format!("sha256:{}", "a".repeat(64)),
                "annotations": annotations,
            }))
            .unwrap()
        };
        // Docker 25+: a bare tag in ref.name, the full (normalized) name for containerd.
        let docker = entry(json!({
            REF_NAME_ANNOTATION: "latest",
            CONTAINERD_NAME_ANNOTATION: "docker.io/library/busybox:latest",
        }));
        assert_eq!(
            reference_from_annotations(&docker).unwrap().as_deref(),
            Some("busybox:latest")
        );
        // podman / skopeo: the full reference in ref.name.
        let podman = entry(json!({REF_NAME_ANNOTATION: "localhost/app:2"}));
        assert_eq!(
            reference_from_annotations(&podman).unwrap().as_deref(),
            Some("localhost/app:2")
        );
        // A bare tag alone names no repository: loaded untagged.
        let bare = entry(json!({REF_NAME_ANNOTATION: "v1"}));
        assert_eq!(reference_from_annotations(&bare).unwrap(), None);
    }

    #[test]
    fn picks_linux_amd64_from_an_index() {
        let index: ImageIndex = serde_json::from_value(json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "size": 1, "digest": format!("sha256:{}", "a".repeat(64)),
                 "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": OCI_MANIFEST, "size": 1, "digest": format!("sha256:{}", "b".repeat(64)),
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ]
        }))
        .unwrap();
        let chosen = pick_platform(index.manifests()).unwrap();
        assert!(chosen.digest().to_string().ends_with(&"b".repeat(64)));
        assert!(pick_platform(&index.manifests()[..1]).is_err());
    }
}
