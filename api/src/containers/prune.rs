//! `POST /containers/prune?filters=`: removes the containers that are not running (and not
//! between two runs of a restart policy), with Docker's `until` and `label`/`label!` filters.
//! Each goes through the engine's ordinary remove, so a container started meanwhile is
//! refused by it and kept.

use super::list::{label_matches, parse_filters};
use crate::error::ApiError;
use crate::http::Query;
use crate::timestamps::parse_time;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::Engine;
use pier_engine::disk_usage::tree_size;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The filters prune understands.
const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// Whether `rec` passes the prune filters.
fn selected(
    rec: &ContainerRecord,
    filters: &BTreeMap<String, Vec<String>>,
) -> Result<bool, ApiError> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "until" => {
                let created =
                    pier_oci::time::parse_rfc3339(&rec.created).unwrap_or(SystemTime::UNIX_EPOCH);
                let mut ok = true;
                for v in values {
                    ok &= created < parse_time(v, "until filter")?;
                }
                ok
            }
            "label" => values.iter().all(|v| label_matches(&rec.config.labels, v)),
            "label!" => !values.iter().any(|v| label_matches(&rec.config.labels, v)),
            _ => false,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `POST /containers/prune`: `{"ContainersDeleted": [IDs], "SpaceReclaimed": bytes}`.
pub fn prune(engine: &Engine, q: &Query) -> Result<Value, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    if let Some(k) = filters
        .keys()
        .find(|k| !PRUNE_FILTERS.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "invalid filter {k:?}: container prune filters by {}",
            PRUNE_FILTERS.join(", ")
        )));
    }
    let (mut deleted, mut reclaimed) = (Vec::new(), 0u64);
    for rec in engine.containers()? {
        if rec.status == ContainerStatus::Running || rec.restarting || !selected(&rec, &filters)? {
            continue;
        }
        let size = tree_size(&engine.paths(&rec.id).upper());
        match engine.remove(&rec.id, false) {
            Ok(_) => {
                deleted.push(rec.id);
                reclaimed += size;
            }
            // Started (or removed) since the list was read: not this prune's to take.
            Err(e) => eprintln!("pier system service: prune kept {}: {e:#}", rec.name),
        }
    }
    Ok(json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}))
}
