//! Cross-repository blob mounts for `pier push`: a blob the registry holds in another
//! repository is linked into the target one with `POST /v2/<name>/blobs/uploads/?mount=
//! <digest>&from=<repo>` instead of being uploaded again (Docker's behaviour for an image
//! pulled from `host/a` and pushed as `host/b`). Where a blob may already be is known from
//! the store: local images tagged with another repository of the same registry.

use super::RemoteRef;
use crate::image::store::{Image, ImageStore};
use anyhow::Result;
use std::collections::BTreeMap;

/// Blob digest -> repositories of `host` (other than `repository`) it may be mounted from.
pub fn mount_sources(
    store: &ImageStore,
    host: &str,
    repository: &str,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for image in store.list()? {
        for repo in repositories_on(&image, host, repository) {
            let Ok(manifest) = store.manifest(&image) else {
                continue;
            };
            let blobs = manifest
                .layers()
                .iter()
                .chain(std::iter::once(manifest.config()));
            for blob in blobs {
                let list = sources.entry(blob.digest().to_string()).or_default();
                if !list.contains(&repo) {
                    list.push(repo.clone());
                }
            }
        }
    }
    Ok(sources)
}

/// The repositories of `host`, other than `repository`, that `image` is tagged with.
fn repositories_on(image: &Image, host: &str, repository: &str) -> Vec<String> {
    let mut repos = Vec::new();
    for reference in &image.references {
        if let Ok(r) = RemoteRef::parse(reference) {
            if r.host == host && r.repository != repository && !repos.contains(&r.repository) {
                repos.push(r.repository);
            }
        }
    }
    repos
}
