//! Networks: `GET /networks`, `GET /networks/{id}`, `POST /networks/create`,
//! `DELETE /networks/{id}`, `POST /networks/prune`, `POST /networks/{id}/connect` and
//! `/disconnect`, in Docker's shapes, on the engine's bridge networks. pier's networks are
//! known by name: the name is their `Id` too.

use crate::error::ApiError;
use crate::resource_filters::{Filters, Item};
use hyper::StatusCode;
use pier_engine::container::config::NetworkMode;
use pier_engine::container::Engine;
use pier_engine::network::{NetworkInfo, DEFAULT_NETWORK};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Docker's network object.
pub fn network_json(n: &NetworkInfo) -> Value {
    let containers: Map<String, Value> = n
        .endpoints
        .iter()
        .map(|e| {
            (
                e.container_id.clone(),
                json!({
                    "Name": e.container_name,
                    "EndpointID": e.endpoint.host_veth,
                    "MacAddress": e.endpoint.mac,
                    "IPv4Address": format!("{}/{}", e.endpoint.ip, e.endpoint.prefix),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.name,
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": [{"Subnet": n.subnet, "Gateway": n.gateway.to_string()}]},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        // What the creator set, as Docker reports it (pier takes none; compose recreates a
        // network whose options differ from its file's). The bridge's name is pier's own.
        "Options": {},
        "Labels": n.labels,
    })
}

/// Networks some container uses or is set to join.
fn in_use(engine: &Engine, n: &NetworkInfo) -> Result<bool, ApiError> {
    if !n.endpoints.is_empty() {
        return Ok(true);
    }
    Ok(engine.containers()?.iter().any(|c| {
        matches!(&c.config.network, Some(NetworkMode::Bridge(b)) if *b == n.name)
            || c.config.extra_networks.iter().any(|x| x.network == n.name)
    }))
}

/// `GET /networks?filters=`.
pub fn list(engine: &Engine, filters: Option<&str>) -> Result<Value, ApiError> {
    let f = Filters::parse(
        filters,
        &["name", "id", "label", "driver", "type", "dangling"],
        "networks",
    )?;
    let mut out = Vec::new();
    for n in engine.networks()?.list()? {
        let builtin = n.name == DEFAULT_NETWORK;
        let item = Item {
            name: &n.name,
            labels: &n.labels,
            dangling: !builtin && !in_use(engine, &n)?,
            builtin,
        };
        if f.pass(&item)? {
            out.push(network_json(&n));
        }
    }
    Ok(Value::Array(out))
}

/// `GET /networks/{id}`.
pub fn inspect(engine: &Engine, name: &str) -> Result<Value, ApiError> {
    Ok(network_json(&engine.networks()?.inspect(name)?))
}

/// A field that must be absent or its zero value: refused by name otherwise.
fn refuse_set(body: &Map<String, Value>, field: &str, why: &str) -> Result<(), ApiError> {
    match body.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
        Some(Value::Object(o)) if o.is_empty() => Ok(()),
        Some(v) => Err(ApiError::bad_request(format!(
            "{field} is not supported by pier's networks (it was set to {v}): {why}"
        ))),
    }
}

/// `POST /networks/create`: 201 `{"Id": NAME, "Warning": ""}`; 409 if the name is taken.
pub fn create(engine: &Engine, body: &Value) -> Result<Value, ApiError> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "the network create request's body must be a JSON object",
        ));
    };
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Name: the network's name is missing"))?;
    match body.get("Driver").and_then(Value::as_str) {
        None | Some("" | "bridge") => {}
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "Driver {d:?}: pier's networks are bridge networks"
            )))
        }
    }
    refuse_set(
        body,
        "Internal",
        "a pier network always routes out through the host",
    )?;
    refuse_set(body, "EnableIPv6", "pier's networks are IPv4")?;
    refuse_set(body, "Ingress", "there is no swarm")?;
    refuse_set(body, "ConfigOnly", "there is no swarm")?;
    refuse_set(body, "Options", "bridge options are pier's own")?;
    let (mut subnet, mut gateway) = (None, None);
    if let Some(ipam) = body.get("IPAM").filter(|v| !v.is_null()) {
        match ipam.get("Driver").and_then(Value::as_str) {
            None | Some("" | "default") => {}
            Some(d) => {
                return Err(ApiError::bad_request(format!(
                    "IPAM.Driver {d:?}: pier has its own address management only"
                )))
            }
        }
        let no_configs = Vec::new();
        let configs = ipam
            .get("Config")
            .and_then(Value::as_array)
            .unwrap_or(&no_configs);
        if configs.len() > 1 {
            return Err(ApiError::bad_request(
                "IPAM.Config: pier's networks have one subnet",
            ));
        }
        if let Some(c) = configs.first() {
            for k in ["IPRange", "AuxiliaryAddresses"] {
                if c.get(k)
                    .is_some_and(|v| !v.is_null() && v != "" && v != &json!({}))
                {
                    return Err(ApiError::bad_request(format!(
                        "IPAM.Config.{k} is not supported by pier's networks"
                    )));
                }
            }
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
            };
            subnet = text("Subnet");
            gateway = text("Gateway");
        }
    }
    let labels: BTreeMap<String, String> = match body.get("Labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad_request(format!("Labels: expected an object of strings, got {v}"))
        })?,
    };
    let nets = engine.networks()?;
    if nets.list()?.iter().any(|n| n.name == name) {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("network with name {name} already exists"),
        });
    }
    let info = nets
        .create_labelled(name, subnet.as_deref(), gateway.as_deref(), labels)
        .map_err(|e| {
            let message = format!("{e:#}");
            let lower = message.to_lowercase();
            if lower.contains("invalid") || lower.contains("subnet") || lower.contains("gateway") {
                ApiError::bad_request(message)
            } else {
                ApiError::from_engine(&e)
            }
        })?;
    Ok(json!({"Id": info.name, "Warning": ""}))
}

/// `DELETE /networks/{id}`: 403 for the default network or one with containers attached.
pub fn remove(engine: &Engine, name: &str) -> Result<(), ApiError> {
    let nets = engine.networks()?;
    let info = nets.inspect(name)?;
    if info.name == DEFAULT_NETWORK || !info.endpoints.is_empty() {
        let e = nets.remove(name).err().map(|e| format!("{e:#}"));
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: e.unwrap_or_else(|| format!("network {name} cannot be removed")),
        });
    }
    nets.remove(name)?;
    Ok(())
}

/// `POST /networks/prune`: `{"NetworksDeleted": [...]}`.
pub fn prune(engine: &Engine) -> Result<Value, ApiError> {
    Ok(json!({"NetworksDeleted": engine.prune_unused_networks()?}))
}

fn container_of(body: &Value) -> Result<String, ApiError> {
    body.get("Container")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("Container: the container to (dis)connect is missing"))
}

/// `POST /networks/{id}/connect` `{"Container": .., "EndpointConfig": {"Aliases": [..]}}`.
pub fn connect(engine: &Engine, network: &str, body: &Value) -> Result<(), ApiError> {
    let container = container_of(body)?;
    let endpoint = body.get("EndpointConfig").cloned().unwrap_or(Value::Null);
    let aliases: Vec<String> = match endpoint.get("Aliases") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad_request(format!("EndpointConfig.Aliases: expected strings, got {v}"))
        })?,
    };
    if let Some(Value::Object(ipam)) = endpoint.get("IPAMConfig") {
        if ipam
            .values()
            .any(|v| !v.is_null() && v != "" && v != &json!([]))
        {
            return Err(ApiError::bad_request(
                "EndpointConfig.IPAMConfig: pier picks the container's address on the network; a fixed address is not supported",
            ));
        }
    }
    engine.networks()?.inspect(network)?;
    engine.network_connect(network, &container, &aliases)?;
    Ok(())
}

/// `POST /networks/{id}/disconnect` `{"Container": .., "Force": ..}`.
pub fn disconnect(engine: &Engine, network: &str, body: &Value) -> Result<(), ApiError> {
    let container = container_of(body)?;
    engine.network_disconnect(network, &container)?;
    Ok(())
}
