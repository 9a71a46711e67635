//! The media types pier accepts from archives and registries, OCI and Docker alike.
//!
//! Docker's "v2 schema 2" types predate OCI and are still what most registries serve;
//! they are the same formats under other names, so both are accepted. Anything else
//! (encrypted layers, artifacts, schema 1) is refused by name, so the user
//! learns which blob pier cannot handle rather than getting a garbled layer.

use anyhow::{bail, Result};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (a list of per-platform manifests).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image manifest, v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker name for an image index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Layer media types whose blobs are plain, gzip- or zstd-compressed tars.
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Whether `media_type` names an image manifest pier can store.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` names an index / manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Fails unless `media_type` is an image configuration; `what` names the blob.
pub fn check_config(media_type: &str, what: &str) -> Result<()> {
    if media_type != OCI_CONFIG && media_type != DOCKER_CONFIG {
        bail!("{what}: unsupported config media type {media_type:?} (expected {OCI_CONFIG} or {DOCKER_CONFIG})");
    }
    Ok(())
}

/// Fails unless `media_type` is a plain, gzip or zstd tar layer; `what` names the blob.
pub fn check_layer(media_type: &str, what: &str) -> Result<()> {
    if !LAYER_TYPES.contains(&media_type) {
        bail!("{what}: unsupported layer media type {media_type:?} (pier handles plain, gzip and zstd tar layers)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_oci_and_docker_refuses_others_by_name() {
        assert!(is_manifest(OCI_MANIFEST) && is_manifest(DOCKER_MANIFEST));
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_MANIFEST_LIST));
        assert!(check_config(DOCKER_CONFIG, "c").is_ok());
        assert!(check_layer("application/vnd.docker.image.rootfs.diff.tar.gzip", "l").is_ok());
        assert!(check_layer("application/vnd.oci.image.layer.v1.tar+zstd", "l").is_ok());
        let err = check_layer(
            "application/vnd.oci.image.layer.v1.tar+encrypted",
            "layer sha256:ab",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("layer sha256:ab") && err.contains("encrypted"),
            "{err}"
        );
    }
}
