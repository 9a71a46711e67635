//! `GET /containers/json` (list, with `all` and `filters`) and `GET /containers/{id}/json`
//! (inspect), in Docker's shapes.

use crate::error::ApiError;
use crate::http::Query;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::status_words::{state_word, status_text};
use pier_engine::container::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The filters the list understands.
const FILTERS: &[&str] = &["id", "name", "status", "label"];

/// Docker's `filters` parameter: `{"name": ["x"]}` or the older `{"name": {"x": true}}`.
pub fn parse_filters(text: Option<&str>) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filters {text:?}: {e}")))?;
    let Value::Object(map) = v else {
        return Err(ApiError::bad_request(format!(
            "invalid filters {text:?}: expected a JSON object"
        )));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let values: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Value::Object(o) => o
                .into_iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k)
                .collect(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter {k}: expected a list, got {other}"
                )))
            }
        };
        out.insert(k, values);
    }
    Ok(out)
}

/// Whether `labels` hold the filter value `v`: `KEY` (present) or `KEY=VALUE`.
pub fn label_matches(labels: &BTreeMap<String, String>, v: &str) -> bool {
    match v.split_once('=') {
        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
        None => labels.contains_key(v),
    }
}

fn passes(r: &ContainerRecord, filters: &BTreeMap<String, Vec<String>>) -> Result<bool, ApiError> {
    for (key, values) in filters {
        let any = |f: &dyn Fn(&str) -> bool| values.is_empty() || values.iter().any(|v| f(v));
        let ok = match key.as_str() {
            "id" => any(&|v| r.id.starts_with(v)),
            "status" => any(&|v| v == state_word(r)),
            // Docker ANDs label filters (compose asks for project=P and oneoff=False).
            "label" => values.iter().all(|v| label_matches(&r.config.labels, v)),
            "name" => {
                let mut ok = values.is_empty();
                for v in values {
                    // Docker matches names as regular expressions.
                    let re = regex::Regex::new(v).map_err(|e| {
                        ApiError::bad_request(format!("invalid filter name={v:?}: {e}"))
                    })?;
                    ok |= re.is_match(&r.name) || re.is_match(&format!("/{}", r.name));
                }
                ok
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter {other:?}: pier's API filters containers by {}",
                    FILTERS.join(", ")
                )))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn unix_seconds(rfc3339: &str) -> u64 {
    pier_oci::time::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The published ports in the list's shape (while the container runs).
fn ports(r: &ContainerRecord) -> Value {
    let ep = r
        .network
        .clone()
        .filter(|_| r.status == ContainerStatus::Running)
        .and_then(|v| serde_json::from_value::<pier_engine::network::Endpoint>(v).ok());
    Value::Array(
        ep.map(|ep| {
            ep.ports
                .iter()
                .map(|p| {
                    json!({
                        "IP": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                        "PrivatePort": p.container_port,
                        "PublicPort": p.host_port,
                        "Type": p.protocol.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default(),
    )
}

/// One container as the list shows it.
fn summary(r: &ContainerRecord) -> Value {
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image,
        "ImageID": r.image_id,
        "Command": r.args.join(" "),
        "Created": unix_seconds(&r.created),
        "Ports": ports(r),
        "Labels": r.config.labels,
        "State": state_word(r),
        "Status": status_text(r),
        "HostConfig": {"NetworkMode": r.config.network.as_ref().map(|n| n.display()).unwrap_or_else(|| "default".into())},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

/// `GET /containers/json`.
pub fn list(engine: &Engine, q: &Query) -> Result<Value, ApiError> {
    let filters = parse_filters(q.get("filters"))?;
    let all = q.flag("all") || filters.contains_key("status");
    let mut out = Vec::new();
    for r in engine.containers()? {
        if (all || r.status == ContainerStatus::Running || r.restarting) && passes(&r, &filters)? {
            out.push(summary(&r));
        }
    }
    // Docker's clients send `limit=-1` for "no limit" (docker-py, docker-compose).
    if let Some(n) = q.number::<i64>("limit")?.filter(|&n| n > 0) {
        out.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    Ok(Value::Array(out))
}

/// `GET /containers/{id}/json`: the engine's inspect, Docker's fields only (the engine adds
/// its own record under lower-case names, which Docker's clients, matching names without
/// regard to case, would read over Docker's), with the shapes clients decode strictly.
pub fn inspect(engine: &Engine, key: &str) -> Result<Value, ApiError> {
    let (_, rec) = engine.find(key)?;
    let full = engine.inspect(&rec.id)?;
    let mut out = serde_json::Map::new();
    if let Value::Object(fields) = full {
        for (k, v) in fields {
            if k.starts_with(|c: char| c.is_ascii_uppercase()) {
                out.insert(k, v);
            }
        }
    }
    let mut bindings = serde_json::Map::new();
    for spec in &rec.config.publish {
        for p in pier_engine::network::portmap::parse_publish(spec).unwrap_or_default() {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(json!({
                    "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                    "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
                }));
            }
        }
    }
    if let Some(Value::Object(h)) = out.get_mut("HostConfig") {
        h.insert("PortBindings".into(), Value::Object(bindings));
        h.insert(
            "RestartPolicy".into(),
            json!({"Name": rec.config.restart.name(), "MaximumRetryCount": rec.config.restart.max_retries()}),
        );
    }
    if let Some(Value::Object(c)) = out.get_mut("Config") {
        c.insert("Tty".into(), rec.config.tty.into());
        c.insert("OpenStdin".into(), rec.config.interactive.into());
        c.insert("AttachStdout".into(), true.into());
        c.insert("AttachStderr".into(), true.into());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_shapes() {
        let f = parse_filters(Some(r#"{"name":["x"],"status":{"running":true}}"#)).unwrap();
        assert_eq!(f["name"], ["x"]);
        assert_eq!(f["status"], ["running"]);
        assert!(parse_filters(Some("{nope")).is_err());
    }
}
