//! `GET /images/json` (list) and `GET /images/{name}/json` (inspect), in Docker's shapes.

use crate::error::ApiError;
use pier_engine::container::Engine;
use pier_engine::image::store::Image;
use serde_json::{json, Value};

fn unix_seconds(created: Option<&str>) -> u64 {
    created
        .and_then(|c| pier_oci::time::parse_rfc3339(c).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn labels(img: &Image) -> Value {
    img.config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .map(|l| json!(l))
        .unwrap_or_else(|| json!({}))
}

/// `GET /images/json`.
pub fn list(engine: &Engine) -> Result<Value, ApiError> {
    let images = engine.images()?.list()?;
    Ok(Value::Array(
        images
            .iter()
            .map(|img| {
                json!({
                    "Id": img.id,
                    "ParentId": "",
                    "RepoTags": img.references,
                    "RepoDigests": [],
                    "Created": unix_seconds(img.created.as_deref()),
                    "Size": img.size,
                    "VirtualSize": img.size,
                    "SharedSize": -1,
                    "Labels": labels(img),
                    "Containers": -1,
                })
            })
            .collect(),
    ))
}

/// `GET /images/{name}/json`.
pub fn inspect(engine: &Engine, name: &str) -> Result<Value, ApiError> {
    let img = engine.images()?.resolve(name)?;
    Ok(json!({
        "Id": img.id,
        "RepoTags": img.references,
        "RepoDigests": [],
        "Parent": "",
        "Comment": "",
        "Created": img.created.clone().unwrap_or_default(),
        "Config": img.config.config(),
        "Architecture": img.config.architecture().to_string(),
        "Os": img.config.os().to_string(),
        "Size": img.size,
        "VirtualSize": img.size,
        "RootFS": {"Type": "layers", "Layers": img.config.rootfs().diff_ids()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}
