//! Image bookkeeping through the socket: `GET /images/{name}/history`,
//! `POST /images/{name}/tag`, `DELETE /images/{name}` and `POST /images/prune`, in Docker's
//! shapes, on the engine's own history, tag, remove and prune.

use crate::error::ApiError;
use crate::http::Query;
use hyper::StatusCode;
use pier_engine::builder::history::history as image_history;
use pier_engine::container::Engine;
use serde_json::{json, Value};

fn unix_seconds(created: Option<&str>) -> i64 {
    created
        .and_then(|c| pier_oci::time::parse_rfc3339(c).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// `GET /images/{name}/history`: newest first; rows below the top are `<missing>`, as
/// Docker shows layers of images it does not hold by themselves.
pub fn history(engine: &Engine, name: &str) -> Result<Value, ApiError> {
    let store = engine.images()?;
    let img = store.resolve(name)?;
    let rows = image_history(&store, &img)?;
    Ok(Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "Id": r.id.clone().unwrap_or_else(|| "<missing>".into()),
                    "Created": unix_seconds(r.created.as_deref()),
                    "CreatedBy": r.created_by,
                    "Tags": if r.id.is_some() { json!(img.references) } else { Value::Null },
                    "Size": r.size,
                    "Comment": r.comment,
                })
            })
            .collect(),
    ))
}

/// `POST /images/{name}/tag?repo=&tag=` (201).
pub fn tag(engine: &Engine, name: &str, q: &Query) -> Result<StatusCode, ApiError> {
    let repo = match q.get("repo") {
        Some(r) if !r.is_empty() => r,
        _ => return Err(ApiError::bad_request("the repo parameter is required")),
    };
    let target = match q.get("tag") {
        Some(t) if !t.is_empty() => format!("{repo}:{t}"),
        _ => repo.to_string(),
    };
    engine.images()?.tag(name, &target).map_err(|e| {
        let err = ApiError::from_engine(&e);
        if err.status == StatusCode::INTERNAL_SERVER_ERROR && format!("{e:#}").contains(&target) {
            ApiError::bad_request(err.message)
        } else {
            err
        }
    })?;
    Ok(StatusCode::CREATED)
}

/// The engine's `Untagged: x` / `Deleted: y` lines as Docker's `[{"Untagged": x}, ...]`.
fn removal_items(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| {
            let (what, x) = l.split_once(": ")?;
            let key = match what.to_ascii_lowercase().as_str() {
                "untagged" => "Untagged",
                "deleted" => "Deleted",
                _ => return None,
            };
            Some(json!({ key: x }))
        })
        .collect()
}

/// `DELETE /images/{name}?force=&noprune=`: 409 while a container uses it, unless `force`.
/// (`noprune` is accepted: pier's images have no parent images to keep.)
pub fn remove(engine: &Engine, name: &str, q: &Query) -> Result<Value, ApiError> {
    let store = engine.images()?;
    let img = store.resolve(name)?;
    if !q.flag("force") {
        if let Some(c) = engine
            .containers()?
            .into_iter()
            .find(|c| c.image_id == img.id)
        {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                message: format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} ({}) is using its referenced image {}",
                    &c.id[..c.id.len().min(12)],
                    c.name,
                    img.short_id()
                ),
            });
        }
    }
    Ok(Value::Array(removal_items(&store.remove(name)?)))
}

/// `POST /images/prune?filters={"dangling":["false"]}`: dangling images no container uses,
/// or with `dangling=false` every image no container uses (`docker image prune -a`).
pub fn prune(engine: &Engine, q: &Query) -> Result<Value, ApiError> {
    let mut all = false;
    if let Some(text) = q.get("filters").filter(|t| !t.is_empty()) {
        let filters: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid filters {text:?}: {e}")))?;
        for (key, v) in &filters {
            // Docker sends `{"dangling": ["false"]}` or `{"dangling": {"false": true}}`.
            let values: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                Value::Object(o) => o.keys().cloned().collect(),
                _ => Vec::new(),
            };
            match (key.as_str(), values.as_slice()) {
                ("dangling", [v]) if matches!(v.as_str(), "false" | "0") => all = true,
                ("dangling", [v]) if matches!(v.as_str(), "true" | "1") => all = false,
                ("dangling", _) => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter 'dangling={values:?}': true or false"
                    )))
                }
                (other, _) => {
                    return Err(ApiError::bad_request(format!(
                        "image prune: the filter {other:?} is not supported by pier (only dangling)"
                    )))
                }
            }
        }
    }
    let report = engine.prune_images(all)?;
    Ok(json!({
        "ImagesDeleted": removal_items(&report.lines),
        "SpaceReclaimed": report.reclaimed,
    }))
}
