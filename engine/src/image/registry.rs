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
//! References follow Docker's rules ([`ImageRef`]); see [`client`] for transport.
//!
//! [OCI distribution API]: https://github.com/opencontainers/distribution-spec/blob/main/spec.md

pub mod auth;
pub mod client;
pub mod config;
pub mod credentials;
pub mod download;
pub mod mount;
pub mod progress;
pub mod tls;

use super::media_type::{self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use super::platform::Platform;
use super::reference::{ImageRef, Reference};
use super::store::{Image, ImageStore, Ingest, LayerProgress, LayerState};
use anyhow::{bail, Context, Result};
use auth::Credentials;
use client::{error_text, header, read_document, Body, Client, Endpoint, RequestCounts, Transport};
use config::{is_loopback, RegistryConfig};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use progress::PullProgress;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// A reference to an image in a registry, resolved to where it is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// The parsed reference (`docker.io/library/nginx:latest`).
    pub image: ImageRef,
    /// The store reference it is tagged with when pulled (`nginx:latest`); `None` for a
    /// reference by digest alone.
    pub local: Option<Reference>,
    /// The registry's name, as credentials and certificates are filed under:
    /// `docker.io`, `ghcr.io`, `localhost:5000`.
    pub host: String,
    /// The repository inside the registry: `library/nginx`, `team/app`.
    pub repository: String,
    /// What the manifests endpoint is asked for: the digest if given, else the tag.
    pub tag: String,
}

impl RemoteRef {
    /// Parses any image reference (`nginx`, `user/app:v1`, `host:port/name@sha256:...`).
    pub fn parse(input: &str) -> Result<RemoteRef> {
        let image = ImageRef::parse(input)?;
        Ok(RemoteRef {
            local: image.store_reference(),
            host: image.domain.clone(),
            repository: image.path.clone(),
            tag: image.manifest_reference().to_string(),
            image,
        })
    }

    /// The registry's own endpoint (Docker Hub's at `registry-1.docker.io`).
    pub fn origin(&self, config: &RegistryConfig) -> Endpoint {
        Endpoint::new(&self.host, self.image.endpoint(), config)
    }

    /// Where a pull looks, in order: for Docker Hub, the configured mirrors, then the
    /// origin; for other registries, the origin.
    pub fn pull_endpoints(&self, config: &RegistryConfig) -> Vec<Endpoint> {
        let mut endpoints = Vec::new();
        if self.host == super::reference::DOCKER_HUB {
            for m in config.mirrors() {
                let mut e = Endpoint::new(&m.host, &m.host, config);
                if m.plain_http {
                    e.transport = Transport::Http;
                }
                endpoints.push(e);
            }
        }
        endpoints.push(self.origin(config));
        endpoints
    }

    /// How the reference is shown: familiar (`nginx:latest`, `app@sha256:...`).
    pub fn shown(&self) -> String {
        match (&self.local, self.image.digest_key()) {
            (_, Some(d)) => d,
            (Some(l), None) => l.to_string(),
            (None, None) => self.image.familiar_name(),
        }
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
    /// Blobs mounted from another repository of the registry (not uploaded).
    pub mounted: Vec<String>,
    /// HTTP requests made.
    pub requests: RequestCounts,
}

/// `docker push`'s word for a layer it uploaded.
pub const LAYER_PUSHED: &str = "Pushed";

/// `docker push`'s words for a layer the registry had already.
pub const LAYER_EXISTS: &str = "Layer already exists";

/// Pushes the local image `reference` (which must name a registry) to that registry.
/// `progress` receives a line per layer in `docker push`'s words (`<id>: Pushed`,
/// `<id>: Layer already exists`, `<id>: Mounted from REPO`), then the tag's digest line.
pub fn push(
    store: &ImageStore,
    reference: &str,
    creds: &CredsFor<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<PushReport> {
    let remote = RemoteRef::parse(reference)?;
    let local = match (&remote.local, &remote.image.digest) {
        (Some(l), None) => l.clone(),
        _ => bail!("pier push {reference}: push a tag (NAME[:TAG]), not a digest"),
    };
    let image = store.resolve(&local.to_string())?;
    let manifest = store.manifest(&image)?;
    let manifest_bytes = store.read_blob(&image.manifest_digest)?;
    let config = RegistryConfig::load()?;
    let endpoint = remote.origin(&config);
    let mut client = Client::new(
        &endpoint,
        &config,
        &remote.repository,
        creds(&endpoint.name)?,
        true,
    )?;
    let mut report = PushReport {
        manifest_digest: image.manifest_digest.clone(),
        uploaded: Vec::new(),
        skipped: Vec::new(),
        mounted: Vec::new(),
        requests: RequestCounts::default(),
    };
    let sources = mount::mount_sources(store, &remote.host, &remote.repository)?;
    // Layers first, then the config; as `docker push` does, a line per layer only.
    let blobs = manifest
        .layers()
        .iter()
        .map(|d| (d, true))
        .chain(std::iter::once((manifest.config(), false)));
    for (descriptor, is_layer) in blobs {
        let digest = descriptor.digest().to_string();
        let short = short_digest(&digest);
        let mut progress = |text: &str| {
            if is_layer {
                progress(&format!("{short}: {text}"));
            }
        };
        if blob_exists(&mut client, &digest)? {
            progress(LAYER_EXISTS);
            report.skipped.push(digest);
            continue;
        }
        let from = sources.get(&digest).map(Vec::as_slice).unwrap_or_default();
        let path = store.blob_file(&digest)?;
        match upload_blob(&mut client, &digest, &path, from)
            .with_context(|| format!("pushing blob {digest} to {}", remote.host))?
        {
            Some(repo) => {
                progress(&format!("Mounted from {repo}"));
                report.mounted.push(digest);
            }
            None => {
                progress(LAYER_PUSHED);
                report.uploaded.push(digest);
            }
        }
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
            local,
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
/// (monolithic) or PATCH chunks followed by a closing PUT (chunked). With repositories
/// in `from` (of the same registry, said to hold the blob), the POST asks to mount it
/// from the first: a registry that mounts answers 201 and nothing is uploaded (that
/// repository is returned); one that cannot answers 202 with the upload session used.
fn upload_blob(
    client: &mut Client,
    digest: &str,
    path: &Path,
    from: &[String],
) -> Result<Option<String>> {
    let plain = client.repo_url("blobs/uploads/");
    let mut response = None;
    if let Some(repo) = from.first() {
        let url = format!("{plain}?mount={digest}&from={repo}");
        // A mount refused (no pull right on `repo`, say) is no error: upload instead.
        match client.send("POST", &url, &[("Content-Length", "0")], Body::Empty) {
            Ok(r) if r.status().as_u16() == 201 => return Ok(Some(repo.clone())),
            Ok(r) if r.status().as_u16() == 202 => response = Some(r),
            _ => {}
        }
    }
    let response = match response {
        Some(r) => r,
        None => client.send("POST", &plain, &[("Content-Length", "0")], Body::Empty)?,
    };
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
    Ok(None)
}

/// Where the upload continues (each answer names the next URL).
fn upload_location(client: &Client, response: &client::Response) -> Result<String> {
    let location = header(response, "location")
        .context("the registry answered an upload request without a Location header")?;
    client.resolve_location(&location)
}

/// The registry a `pier login`/`logout` argument (or the API's `/auth` `serveraddress`)
/// names: Docker's spellings accepted (`https://ghcr.io`, `index.docker.io`), Docker Hub by
/// default.
pub fn registry_name(host: Option<&str>) -> String {
    let host = host.unwrap_or(super::reference::DOCKER_HUB);
    let bare = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host);
    let bare = bare.split('/').next().unwrap_or(bare);
    match bare {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            super::reference::DOCKER_HUB.to_string()
        }
        other => other.to_string(),
    }
}

/// `pier login`: checks that `creds` are accepted by the registry at `host`.
/// `host` is a registry name (`docker.io` is checked at its API endpoint).
pub fn check_login(host: &str, creds: Credentials) -> Result<()> {
    let config = RegistryConfig::load()?;
    let address = if host == super::reference::DOCKER_HUB {
        super::reference::DOCKER_HUB_ENDPOINT
    } else {
        host
    };
    let endpoint = Endpoint::new(host, address, &config);
    let mut client = Client::new(&endpoint, &config, "", Some(creds), false)?;
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
    /// The digest the registry serves the image under (its index's, if it has one).
    pub repo_digest: String,
    /// Layers that were already in the store.
    pub skipped: Vec<String>,
    /// HTTP requests made.
    pub requests: RequestCounts,
}

/// The credentials to present to the registry named by the argument, if any.
pub type CredsFor<'a> = dyn Fn(&str) -> Result<Option<Credentials>> + 'a;

/// Pulls `reference` (any image reference) into the store, tagged with its familiar name.
/// Docker Hub images are looked for on the configured mirrors first; a mirror that fails
/// is reported on `progress` and the next endpoint is tried. Layers are downloaded
/// several at a time ([`RegistryConfig::concurrent_downloads`]), each unpacked as soon as
/// it has arrived; `progress` hears of each layer's state.
pub fn pull(
    store: &ImageStore,
    reference: &str,
    creds: &CredsFor<'_>,
    progress: &mut dyn PullProgress,
) -> Result<PullReport> {
    pull_platform(store, reference, &Platform::host(), creds, progress)
}

/// [`pull`], choosing `platform`'s manifest from a multi-platform image.
pub fn pull_platform(
    store: &ImageStore,
    reference: &str,
    platform: &Platform,
    creds: &CredsFor<'_>,
    progress: &mut dyn PullProgress,
) -> Result<PullReport> {
    let remote = RemoteRef::parse(reference)?;
    let config = RegistryConfig::load()?;
    let endpoints = remote.pull_endpoints(&config);
    let last = endpoints.len() - 1;
    for (i, endpoint) in endpoints.iter().enumerate() {
        let result = creds(&endpoint.name)
            .and_then(|c| pull_from(store, &remote, platform, &config, endpoint, c, progress));
        match result {
            Ok(report) => return Ok(report),
            Err(e) if i < last => progress.line(&format!(
                "mirror {}: {e:#}; trying {}",
                endpoint.address,
                endpoints[i + 1].address
            )),
            Err(e) => return Err(e),
        }
    }
    bail!("pulling {}: no registry to pull from", remote.shown())
}

/// Pulls from one endpoint (the origin or a mirror).
fn pull_from(
    store: &ImageStore,
    remote: &RemoteRef,
    platform: &Platform,
    config: &RegistryConfig,
    endpoint: &Endpoint,
    creds: Option<Credentials>,
    progress: &mut dyn PullProgress,
) -> Result<PullReport> {
    let shown = remote.shown();
    let mut client = Client::new(endpoint, config, &remote.repository, creds, false)?;
    let (manifest_bytes, top_digest) = fetch_manifest(
        &mut client,
        &remote.tag,
        remote.image.digest.as_deref(),
        platform,
    )?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("parsing the manifest of {shown}"))?;
    if client.fell_back_to_http && !is_loopback(&endpoint.address) {
        progress.line(&format!(
            "warning: {} does not answer HTTPS; using plain HTTP (it is listed in insecure-registries)",
            endpoint.address
        ));
    }
    let config_digest = manifest.config().digest().to_string();
    let config_bytes = fetch_small_blob(&mut client, &config_digest)?;
    let local = remote.local.as_ref().map(|l| l.to_string());
    let (image, downloaded, counts) = fetch_layers(
        store,
        &client,
        config.concurrent_downloads(),
        &manifest_bytes,
        &config_bytes,
        local.as_deref(),
        progress,
    )
    .with_context(|| format!("pulling {shown}"))?;
    client.counts.add(&counts);
    if let Some(warning) =
        super::layer_devices::skipped_warning(store, &image, &manifest, &downloaded)?
    {
        progress.line(&warning);
    }
    // `name@digest` finds the image later, by the digest the registry knows it by (an
    // index's, for a multi-platform image), as Docker's RepoDigests do.
    let digest_key = format!("{}@{top_digest}", remote.image.familiar_name());
    store.add_digest_reference(&digest_key, &image.manifest_digest)?;
    let skipped = manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .filter(|d| !downloaded.contains(d))
        .collect();
    Ok(PullReport {
        image,
        repo_digest: top_digest,
        downloaded,
        skipped,
        requests: client.counts,
    })
}

/// When `pier run` and `pier create` pull their image (Docker's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only if the store does not have the image (the default).
    #[default]
    Missing,
    /// Pull every time (a tag may have moved).
    Always,
    /// Never pull: a missing image is an error.
    Never,
}

impl PullPolicy {
    /// Parses `missing`, `always` or `never`.
    pub fn parse(s: &str) -> Result<PullPolicy> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            _ => bail!("invalid --pull {s:?}: use missing, always or never"),
        }
    }
}

/// Makes sure `image` is in the store as `policy` says, pulling it if needed; returns
/// whether it pulled. `progress` gets the pull's lines; a failure is one error line.
pub fn ensure_image(
    store: &ImageStore,
    image: &str,
    policy: PullPolicy,
    creds: &CredsFor<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<bool> {
    let present = store.resolve(image).is_ok();
    match policy {
        PullPolicy::Never => Ok(false),
        PullPolicy::Missing if present => Ok(false),
        _ => {
            let remote = RemoteRef::parse(image)?;
            let report = pull(store, image, creds, &mut &mut *progress).map_err(|e| {
                // One line, naming the image first: the usual case is a typo.
                if present {
                    e.context(format!("pulling {} (--pull always)", remote.shown()))
                } else {
                    e.context(format!(
                        "no such image: {} is not in the store, and pulling {} failed",
                        remote.shown(),
                        remote.image
                    ))
                }
            })?;
            if !present {
                progress(&format!(
                    "Image '{}' was not found locally: pulled",
                    remote.shown()
                ));
            }
            progress(&format!("Digest: {}", report.repo_digest));
            progress(&format!("Status: Downloaded image for {}", remote.shown()));
            Ok(true)
        }
    }
}

/// The image manifest for `reference` (a tag or digest) and the digest of the document
/// the registry answered with (the index's, for an index); an index is resolved to
/// `platform`'s manifest. Fetched by digest, the bytes are verified.
fn fetch_manifest(
    client: &mut Client,
    reference: &str,
    digest: Option<&str>,
    platform: &Platform,
) -> Result<(Vec<u8>, String)> {
    fetch_manifest_at(client, reference, digest, platform, false)
}

fn fetch_manifest_at(
    client: &mut Client,
    reference: &str,
    digest: Option<&str>,
    platform: &Platform,
    nested: bool,
) -> Result<(Vec<u8>, String)> {
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
    let bytes = read_document(response)
        .with_context(|| format!("manifest {reference} on {}", client.host()))?;
    let got = super::digest::sha256_digest(&Sha256::digest(&bytes));
    if let Some(d) = digest {
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
        return Ok((bytes, got));
    }
    if media_type::is_index(&media) {
        if nested {
            bail!("manifest {reference}: an index inside an index is not supported");
        }
        let index: ImageIndex =
            serde_json::from_slice(&bytes).with_context(|| format!("parsing index {reference}"))?;
        let chosen = platform
            .pick(index.manifests())
            .with_context(|| format!("index {reference} on {}", client.host()))?
            .digest()
            .to_string();
        let (manifest, _) = fetch_manifest_at(client, &chosen, Some(&chosen), platform, true)?;
        return Ok((manifest, got));
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

/// Adds the image to the store, downloading the layers it lacks `jobs` at a time with
/// forks of `client` (one per worker, sharing its connections and token), while this
/// thread passes each layer's state on to `progress`. Returns the image, the layers
/// downloaded and the workers' requests.
fn fetch_layers(
    store: &ImageStore,
    client: &Client,
    jobs: usize,
    manifest_bytes: &[u8],
    config_bytes: &[u8],
    reference: Option<&str>,
    progress: &mut dyn PullProgress,
) -> Result<(Image, Vec<String>, RequestCounts)> {
    let idle: Mutex<Vec<Client>> = Mutex::new(Vec::new());
    let downloaded: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let fetch = |d: &Descriptor, dest: &Path, layer: &LayerProgress<'_>| -> Result<()> {
        let taken = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut worker = taken.unwrap_or_else(|| client.fork());
        let digest = d.digest().to_string();
        let result = download::download_blob(&mut worker, store, &digest, d.size(), dest, layer);
        idle.lock().unwrap_or_else(|p| p.into_inner()).push(worker);
        result?;
        downloaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(digest);
        Ok(())
    };
    let (sender, receiver) = mpsc::channel::<(String, LayerState)>();
    let image = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let events = move |digest: &str, state: LayerState| {
                // The receiver lives until this thread ends: a send cannot fail.
                let _ = sender.send((digest.to_string(), state));
            };
            let ingest = Ingest {
                fetch: &fetch,
                jobs,
                events: &events,
            };
            store.add_image(manifest_bytes, config_bytes, &ingest, reference)
        });
        for (digest, state) in receiver {
            progress.layer(&digest, state);
        }
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let mut counts = RequestCounts::default();
    for c in idle.into_inner().unwrap_or_else(|p| p.into_inner()) {
        counts.add(&c.counts);
    }
    let downloaded = downloaded.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((image, downloaded, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_references_name_registry_repository_and_tag() {
        let r = RemoteRef::parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("localhost:5000", "team/app", "v1")
        );
        assert_eq!(r.shown(), "localhost:5000/team/app:v1");
        let r = RemoteRef::parse("busybox").unwrap();
        assert_eq!(
            (
                r.host.as_str(),
                r.image.endpoint(),
                r.repository.as_str(),
                r.tag.as_str()
            ),
            (
                "docker.io",
                "registry-1.docker.io",
                "library/busybox",
                "latest"
            )
        );
        assert_eq!(r.shown(), "busybox:latest");
        let d = format!("sha256:{}", "c".repeat(64));
        let r = RemoteRef::parse(&format!("team/app@{d}")).unwrap();
        assert_eq!((r.tag.as_str(), r.local.is_none()), (d.as_str(), true));
        assert_eq!(r.shown(), format!("team/app@{d}"));
    }
}
