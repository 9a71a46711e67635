//! Volumes: `GET /volumes`, `GET /volumes/{name}`, `POST /volumes/create`,
//! `DELETE /volumes/{name}`, `POST /volumes/prune`, in Docker's shapes, on the engine's
//! volume store (the same volumes `pier volume` and `-v NAME:/path` use).

use crate::error::ApiError;
use crate::resource_filters::{Filters, Item};
use hyper::StatusCode;
use pier_engine::container::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `GET /volumes?filters=`: `{"Volumes": [...], "Warnings": null}`.
pub fn list(engine: &Engine, filters: Option<&str>) -> Result<Value, ApiError> {
    let f = Filters::parse(filters, &["name", "label", "driver", "dangling"], "volumes")?;
    let containers = engine.containers()?;
    let mut out = Vec::new();
    for v in engine.volumes()?.list()? {
        let used = containers.iter().any(|c| {
            c.config
                .volume_mounts
                .iter()
                .any(|m| m.name.as_deref() == Some(v.name.as_str()))
        });
        let item = Item {
            name: &v.name,
            labels: &v.labels,
            dangling: !used,
            builtin: false,
        };
        if f.pass(&item)? {
            out.push(v.inspect_json());
        }
    }
    Ok(json!({"Volumes": out, "Warnings": null}))
}

/// `GET /volumes/{name}`.
pub fn inspect(engine: &Engine, name: &str) -> Result<Value, ApiError> {
    Ok(engine.volumes()?.get(name)?.inspect_json())
}

/// `POST /volumes/create` `{"Name", "Driver", "DriverOpts", "Labels"}`: 201 and the volume
/// (an existing one of that name is returned as it is, as Docker does).
pub fn create(engine: &Engine, body: &Value) -> Result<Value, ApiError> {
    let empty = Map::new();
    let body = match body {
        Value::Null => &empty,
        Value::Object(o) => o,
        _ => {
            return Err(ApiError::bad_request(
                "the volume create request's body must be a JSON object",
            ))
        }
    };
    match body.get("Driver").and_then(Value::as_str) {
        None | Some("" | "local") => {}
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "Driver {d:?}: pier's volumes are local directories"
            )))
        }
    }
    if body
        .get("DriverOpts")
        .is_some_and(|o| o.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(ApiError::bad_request(
            "DriverOpts are not supported by pier's volumes (no mount options for a local directory)",
        ));
    }
    let labels: BTreeMap<String, String> = match body.get("Labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad_request(format!("Labels: expected an object of strings, got {v}"))
        })?,
    };
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    if let Some(n) = name {
        pier_engine::volume::validate_name(n)
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    }
    Ok(engine.create_volume(name, labels)?.inspect_json())
}

/// `DELETE /volumes/{name}?force=`: 409 while a container uses it; `force` makes a missing
/// volume no error.
pub fn remove(engine: &Engine, name: &str, force: bool) -> Result<(), ApiError> {
    if !engine.volumes()?.exists(name) && force {
        return Ok(());
    }
    engine.volumes()?.get(name)?;
    let users = engine.volume_users(name)?;
    if !users.is_empty() {
        let names: Vec<&str> = users.iter().map(|r| r.short_id()).collect();
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("remove {name}: volume is in use - [{}]", names.join(", ")),
        });
    }
    engine.remove_volume(name)?;
    Ok(())
}

/// `POST /volumes/prune?filters=`: every volume no container uses (API 1.41 prunes named
/// ones too), `label` filters kept to; `{"VolumesDeleted": [...], "SpaceReclaimed": N}`.
pub fn prune(engine: &Engine, filters: Option<&str>) -> Result<Value, ApiError> {
    let f = Filters::parse(filters, &["label"], "volume prune")?;
    let keep = |v: &pier_engine::volume::store::Volume| {
        !f.pass(&Item {
            name: &v.name,
            labels: &v.labels,
            dangling: true,
            builtin: false,
        })
        .unwrap_or(false)
    };
    let report = engine.prune_volumes(true, &keep)?;
    Ok(json!({"VolumesDeleted": report.removed, "SpaceReclaimed": report.reclaimed}))
}
