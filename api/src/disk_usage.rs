//! `GET /system/df`: what `docker system df` tabulates, from the image store, the
//! containers' writable layers and the volumes, in Docker's shape.

use crate::containers::list;
use crate::error::ApiError;
use crate::http::Query;
use crate::images;
use pier_engine::container::Engine;
use pier_engine::disk_usage::tree_size;
use serde_json::{json, Value};

/// `GET /system/df`.
pub fn df(engine: &Engine) -> Result<Value, ApiError> {
    let records = engine.containers()?;
    let mut image_list = images::list(engine)?;
    if let Value::Array(items) = &mut image_list {
        for img in items.iter_mut() {
            let id = img["Id"].as_str().unwrap_or("").to_string();
            let used = records.iter().filter(|r| r.image_id == id).count();
            img["Containers"] = used.into();
            img["SharedSize"] = 0.into();
        }
    }
    let mut containers = list::list(engine, &Query::parse(Some("all=1")))?;
    if let Value::Array(items) = &mut containers {
        for c in items.iter_mut() {
            let id = c["Id"].as_str().unwrap_or("");
            if let Some(r) = records.iter().find(|r| r.id == id) {
                c["SizeRw"] = tree_size(&engine.paths(&r.id).upper()).into();
                c["SizeRootFs"] = 0.into();
            }
        }
    }
    let store = engine.volumes()?;
    let volumes: Vec<Value> = store
        .list()?
        .iter()
        .map(|v| {
            let refs = records
                .iter()
                .filter(|r| {
                    r.config
                        .volume_mounts
                        .iter()
                        .any(|m| m.name.as_deref() == Some(v.name.as_str()))
                })
                .count();
            let mut j = v.inspect_json();
            j["UsageData"] = json!({"Size": store.size(&v.name), "RefCount": refs});
            j
        })
        .collect();
    let du = engine.images()?.disk_usage()?;
    Ok(json!({
        "LayersSize": du.bytes,
        "Images": image_list,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    }))
}
