//! `pier push` and `pier pull`: a client of the [OCI distribution API].
//!
//! - push: for the config and each layer blob, `HEAD /v2/<name>/blobs/<digest>`; only a
//!   missing blob is uploaded (`POST /v2/<name>/blobs/uploads/`, then a monolithic `PUT
//!   <location>?digest=<digest>`, or for a blob over [`UPLOAD_CHUNK`] `PATCH` chunks and
//!   a closing `PUT`), so pushing again sends no blob. The manifest goes
//!   last (`PUT /v2/<name>/manifests/<tag>`), byte for byte as stored, so the registry
//!   records the same manifest digest.
//! - pull: `GET /v2/<name>/manifests/<tag>` accepting OCI and Docker v2 schema 2
//!   manifests and indexes (an index / manifest list resolves to its linux/amd64 entry),
//!   then the config and the layers the store lacks, each verified against its digest by
//!   [`ImageStore::add_image`] before anything is published.
//!
//! Plain HTTP to loopback registries only (see [`client`]).
//!
//! [OCI distribution API]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md

pub mod auth;
pub mod client;

use super::archive::pick_platform;
use super::media_type::{self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use super::reference::Reference;
use super::store::{Image, ImageStore};
use anyhow::{bail, Context, Result};
use auth::Credentials;
use client::{error_text, header, read_document, Body, Client, RequestCounts};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

/// A reference to an image in a registry: `host[:port]/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// The whole reference as pier stores it locally, e.g. `localhost:5000/app:v1`.
    pub local: Reference,
    /// `localhost:5000`.
    pub host: String,
    /// `app` or `team/app`.
    pub repository: String,
    /// `v1`.
    pub tag: String,
}

impl RemoteRef {
    /// Parses `host[:port]/repository[:tag]`; the registry host is required (pier has
    /// no default registry).
    pub fn parse(input: &str) -> Result<RemoteRef> {
        let local = Reference::parse(input)?;
        let (host, repository) = local
            .name
            .split_once('/')
            .filter(|(h, _)| h.contains('.') || h.contains(':') || *h == "localhost")
            .with_context(|| {
                format!(
                    "{input:?} names no registry: use HOST:PORT/NAME[:TAG], e.g. localhost:5000/{}",
                    local.name
                )
            })?;
        Ok(RemoteRef {
            host: host.to_string(),
            repository: repository.to_string(),
            tag: local.tag.clone(),
            local,
        })
    }
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// Digest of the manifest the registry now has under the tag.
    pub manifest_digest: String,
    /// Blobs uploaded (config and layers).
    pub uploaded: Vec<String>,
    /// Blobs the registry already had.
    pub skipped: Vec<String>,
    /// HTTP requests made.
    pub requests: RequestCounts,
}

/// Pushes the local image `reference` (which must name a registry) to that registry.
/// `progress` receives a line per blob.
pub fn push(
    store: &ImageStore,
    reference: &str,
    creds: Option<Credentials>,
    progress: &mut dyn FnMut(&str),
) -> Result<PushReport> {
    let remote = RemoteRef::parse(reference)?;
    let image = store.resolve(&remote.local.to_string())?;
    let manifest = store.manifest(&image)?;
    let manifest_bytes = store.read_blob(&image.manifest_digest)?;
    let mut client = Client::new(&remote.host, &remote.repository, creds, true)?;
    let mut report = PushReport {
        manifest_digest: image.manifest_digest.clone(),
        uploaded: Vec::new(),
        skipped: Vec::new(),
        requests: RequestCounts::default(),
    };
    let blobs = manifest
        .layers()
        .iter()
        .chain(std::iter::once(manifest.config()));
    for descriptor in blobs {
        let digest = descriptor.digest().to_string();
        let short = short_digest(&digest);
        if blob_exists(&mut client, &digest)? {
            progress(&format!("{short}: already exists"));
            report.skipped.push(digest);
            continue;
        }
        let path = store.blob_file(&digest)?;
        upload_blob(&mut client, &digest, &path)
            .with_context(|| format!("pushing blob {digest} to {}", remote.host))?;
        progress(&format!("{short}: pushed"));
        report.uploaded.push(digest);
    }
    let media = manifest
        .media_type()
        .as_ref()
        .map_or(OCI_MANIFEST.to_string(), |m| m.to_string());
    let url = client.repo_url(&format!("manifests/{}", remote.tag));
    let response = client.send(
        "PUT",
        &url,
        &[("Content-Type", &media)],
        Body::Bytes(&manifest_bytes),
    )?;
    if response.status().as_u16() != 201 && response.status().as_u16() != 200 {
        bail!(
            "registry {} refused the manifest for {}: {}",
            remote.host,
            remote.local,
            error_text(response)
        );
    }
    if let Some(d) = header(&response, "docker-content-digest") {
        if d != image.manifest_digest {
            bail!(
                "registry {} stored the manifest under digest {d}, not {}",
                remote.host,
                image.manifest_digest
            );
        }
    }
    progress(&format!(
        "{}: digest: {} size: {}",
        remote.tag,
        image.manifest_digest,
        manifest_bytes.len()
    ));
    report.requests = client.counts;
    Ok(report)
}

/// The first 12 hex digits of a digest, as progress lines show it.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.get(..12).unwrap_or(hex)
}

fn blob_exists(client: &mut Client, digest: &str) -> Result<bool> {
    let url = client.repo_url(&format!("blobs/{digest}"));
    let response = client.send("HEAD", &url, &[], Body::Empty)?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => bail!(
            "registry {} answered HEAD {url} with {}",
            client.host(),
            error_text(response)
        ),
    }
}

/// Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size, so a
/// big layer never sits in memory whole and each request stays short.
pub const UPLOAD_CHUNK: u64 = 16 << 20;

/// Uploads a blob: POST for an upload session, then either one PUT with the whole blob
/// (monolithic) or PATCH chunks followed by a closing PUT (chunked).
fn upload_blob(client: &mut Client, digest: &str, path: &Path) -> Result<()> {
    let url = client.repo_url("blobs/uploads/");
    let response = client.send("POST", &url, &[("Content-Length", "0")], Body::Empty)?;
    if response.status().as_u16() != 202 {
        bail!("starting an upload: {}", error_text(response));
    }
    let mut location = upload_location(client, &response)?;
    let size = fs::metadata(path)
        .with_context(|| format!("inspecting {}", path.display()))?
        .len();
    let body = if size <= UPLOAD_CHUNK {
        Body::File(path)
    } else {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut buf = vec![0u8; UPLOAD_CHUNK as usize];
        let mut offset = 0u64;
        while offset < size {
            let n = UPLOAD_CHUNK.min(size - offset) as usize;
            file.read_exact(&mut buf[..n])
                .with_context(|| format!("reading {}", path.display()))?;
            let range = format!("{offset}-{}", offset + n as u64 - 1);
            let response = client.send(
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                Body::Bytes(&buf[..n]),
            )?;
            if response.status().as_u16() != 202 {
                bail!("uploading bytes {range}: {}", error_text(response));
            }
            location = upload_location(client, &response)?;
            offset += n as u64;
        }
        Body::Empty
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{separator}digest={digest}");
    let response = client.send(
        "PUT",
        &url,
        &[("Content-Type", "application/octet-stream")],
        body,
    )?;
    if response.status().as_u16() != 201 {
        bail!("uploading: {}", error_text(response));
    }
    Ok(())
}

/// Where the upload continues (each answer names the next URL).
fn upload_location(client: &Client, response: &client::Response) -> Result<String> {
    let location = header(response, "location")
        .context("the registry answered an upload request without a Location header")?;
    client.resolve_location(&location)
}

/// `pier login`: checks that `creds` are accepted by the registry at `host`.
pub fn check_login(host: &str, creds: Credentials) -> Result<()> {
    let mut client = Client::new(host, "", Some(creds), false)?;
    let url = client.base_url();
    let response = client.send("GET", &url, &[], Body::Empty)?;
    if response.status().as_u16() != 200 {
        bail!(
            "registry {host} answered GET {url} with {}",
            error_text(response)
        );
    }
    Ok(())
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    /// The image now in the store, tagged with the remote reference.
    pub image: Image,
    /// Layer blobs downloaded.
    pub downloaded: Vec<String>,
    /// Layers that were already in the store.
    pub skipped: Vec<String>,
    /// HTTP requests made.
    pub requests: RequestCounts,
}

/// Pulls `reference` (`host[:port]/name[:tag]`) into the store, tagged with that name.
pub fn pull(
    store: &ImageStore,
    reference: &str,
    creds: Option<Credentials>,
    progress: &mut dyn FnMut(&str),
) -> Result<PullReport> {
    let remote = RemoteRef::parse(reference)?;
    let mut client = Client::new(&remote.host, &remote.repository, creds, false)?;
    let manifest_bytes = fetch_manifest(&mut client, &remote.tag, None)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("parsing the manifest of {}", remote.local))?;
    let config_digest = manifest.config().digest().to_string();
    let config_bytes = fetch_small_blob(&mut client, &config_digest)?;
    let mut downloaded = Vec::new();
    let mut fetch = |d: &Descriptor, dest: &Path| -> Result<()> {
        let digest = d.digest().to_string();
        download_blob(&mut client, &digest, d.size(), dest)?;
        progress(&format!("{}: pulled", short_digest(&digest)));
        downloaded.push(digest);
        Ok(())
    };
    let image = store
        .add_image(
            &manifest_bytes,
            &config_bytes,
            &mut fetch,
            Some(&remote.local.to_string()),
        )
        .with_context(|| format!("pulling {}", remote.local))?;
    let skipped = manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .filter(|d| !downloaded.contains(d))
        .collect();
    Ok(PullReport {
        image,
        downloaded,
        skipped,
        requests: client.counts,
    })
}

/// The image manifest for `reference` (a tag or digest); an index is resolved to its
/// linux/amd64 manifest. Fetched by digest, the bytes are verified.
fn fetch_manifest(client: &mut Client, reference: &str, digest: Option<&str>) -> Result<Vec<u8>> {
    let accept = [
        OCI_MANIFEST,
        DOCKER_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
    ]
    .join(", ");
    let url = client.repo_url(&format!("manifests/{reference}"));
    let response = client.send("GET", &url, &[("Accept", &accept)], Body::Empty)?;
    if response.status().as_u16() != 200 {
        bail!(
            "registry {} has no manifest {reference} in {}: {}",
            client.host(),
            url,
            error_text(response)
        );
    }
    let content_type = header(&response, "content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let bytes = read_document(response)?;
    if let Some(d) = digest {
        let got = super::digest::sha256_digest(&Sha256::digest(&bytes));
        if got != d {
            bail!("manifest {d}: digest mismatch: the content hashes to {got}");
        }
    }
    // The document's own mediaType wins over a generic Content-Type.
    let declared: Option<String> = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let media = declared.unwrap_or(content_type);
    if media_type::is_manifest(&media) {
        return Ok(bytes);
    }
    if media_type::is_index(&media) {
        if digest.is_some() {
            bail!("manifest {reference}: an index inside an index is not supported");
        }
        let index: ImageIndex =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing index {reference}"))?;
        let chosen = pick_platform(index.manifests())
            .with_context(|| format!("index {reference} on {}", client.host()))?
            .digest()
            .to_string();
        return fetch_manifest(client, &chosen, Some(&chosen));
    }
    bail!("manifest {reference} on {}: unsupported media type {media:?} (schema 1 and artifacts are not supported)", client.host())
}

/// A config blob (small); verified later by the store.
fn fetch_small_blob(client: &mut Client, digest: &str) -> Result<Vec<u8>> {
    let url = client.repo_url(&format!("blobs/{digest}"));
    let response = client.send("GET", &url, &[], Body::Empty)?;
    if response.status().as_u16() != 200 {
        bail!("fetching blob {digest}: {}", error_text(response));
    }
    read_document(response).with_context(|| format!("fetching blob {digest}"))
}

/// Streams a layer blob into `dest` (in the store's staging area), reading at most one
/// byte more than the descriptor's `size` (so an endless answer cannot fill the disk;
/// the store's size check then rejects it).
fn download_blob(client: &mut Client, digest: &str, size: u64, dest: &Path) -> Result<()> {
    let url = client.repo_url(&format!("blobs/{digest}"));
    let response = client.send("GET", &url, &[], Body::Empty)?;
    if response.status().as_u16() != 200 {
        bail!("fetching blob {digest}: {}", error_text(response));
    }
    let mut file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    io::copy(
        &mut response
            .into_body()
            .into_reader()
            .take(size.saturating_add(1)),
        &mut file,
    )
    .with_context(|| format!("downloading blob {digest}"))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_references_need_a_registry() {
        let r = RemoteRef::parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000", "team/app", "v1")
        );
        assert_eq!(
            RemoteRef::parse("127.0.0.1:5000/app").unwrap().tag,
            "latest"
        );
        let err = RemoteRef::parse("busybox").unwrap_err().to_string();
        assert!(err.contains("names no registry"), "{err}");
        assert!(RemoteRef::parse("team/app").is_err());
    }
}
