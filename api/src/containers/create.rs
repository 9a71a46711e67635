//! `POST /containers/create`: Docker's create request to the engine's [`RunConfig`].
//!
//! Every field of the request is either translated, harmless to pass over (what only the
//! client uses, such as `AttachStdout`), or refused by name when it is set: a client that
//! asks for something pier does not do is told so, rather than given a container that
//! silently lacks it. "Set" means not the zero value Docker's clients send by default
//! (`false`, `0`, `""`, `[]`, `{}`, `null`, or an object of only those).

use crate::error::ApiError;
use pier_engine::container::config::{HealthConfig, Limits, NetworkMode, RestartPolicy, RunConfig};
use pier_engine::container::logs::LogConfig;
use pier_engine::container::mount_args::MountArgs;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Fields of `Config` pier translates.
const CONFIG_FIELDS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Hostname",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Labels",
    "Healthcheck",
];

/// Fields of `Config` that describe what the client attaches to or are image metadata:
/// accepted whatever their value.
const CONFIG_CLIENT_FIELDS: &[&str] = &[
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "ArgsEscaped",
    "HostConfig",
    "NetworkingConfig",
];

/// Every field of Docker's container `Config` (API 1.41). Docker's API has an open schema:
/// dockerd ignores a property it does not define, and so does pier; one that Docker defines
/// and pier does not translate is refused by name when set.
const DOCKER_CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "HostConfig",
    "NetworkingConfig",
];

/// The resource limits of `HostConfig` pier translates (create and update take them).
pub(crate) const LIMIT_FIELDS: &[&str] = &[
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "CpusetCpus",
    "PidsLimit",
    "BlkioWeight",
];

/// The other fields of `HostConfig` pier translates.
const HOST_FIELDS: &[&str] = &[
    "Binds",
    "Mounts",
    "PortBindings",
    "PublishAllPorts",
    "NetworkMode",
    "AutoRemove",
    "RestartPolicy",
    "Init",
    "ConsoleSize",
    "CapAdd",
    "CapDrop",
    "ReadonlyRootfs",
    "LogConfig",
];

/// Fields whose "not set" is not a zero value: Docker's client sends these as they are.
const UNSET_SENTINELS: &[(&str, i64)] = &[("MemorySwappiness", -1)];

/// Whether a JSON value is a default that asks for nothing.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_unset),
        Value::Object(o) => o.values().all(is_unset),
    }
}

/// 400 naming the first field of `obj` that is set but neither translated nor harmless.
pub(crate) fn refuse_unknown(
    obj: &Map<String, Value>,
    known: &[&[&str]],
    prefix: &str,
) -> Result<(), ApiError> {
    for (k, v) in obj {
        let sentinel = UNSET_SENTINELS
            .iter()
            .any(|(name, unset)| name == k && v.as_i64() == Some(*unset));
        if known.iter().any(|list| list.contains(&k.as_str())) || is_unset(v) || sentinel {
            continue;
        }
        return Err(ApiError::bad_request(format!(
            "{prefix}{k} is not supported by pier's API yet (it was set to {v}); leave it out"
        )));
    }
    Ok(())
}

pub(crate) fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        // Docker accepts a single string for Cmd and Entrypoint too.
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("{field}: expected strings, got {x}"))
                })
            })
            .collect(),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field}: expected a list of strings, got {other}"
        ))),
    }
}

pub(crate) fn string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field}: expected a string, got {other}"
        ))),
    }
}

/// `HostConfig.LogConfig`: `{"Type": "json-file" or "local" or "", "Config": {"max-size": ..}}`.
fn log_config(v: Option<&Value>) -> Result<LogConfig, ApiError> {
    let Some(Value::Object(obj)) = v else {
        return Ok(LogConfig::default());
    };
    if let Some(kind) = string(obj, "Type")? {
        if kind != "json-file" && kind != "local" {
            return Err(ApiError::bad_request(format!(
                "HostConfig.LogConfig.Type: pier keeps json-file logs only, not {kind:?}"
            )));
        }
    }
    let mut pairs = Vec::new();
    if let Some(Value::Object(config)) = obj.get("Config") {
        for (k, v) in config {
            let v = v.as_str().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "HostConfig.LogConfig.Config.{k}: expected a string, got {v}"
                ))
            })?;
            pairs.push((k.as_str(), v));
        }
    }
    LogConfig::from_pairs(pairs, "HostConfig.LogConfig.Config")
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))
}

pub(crate) fn bool_field(obj: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field}: expected true or false, got {other}"
        ))),
    }
}

/// A positive number field (0 and absent mean "not set").
fn number<T: serde::de::DeserializeOwned>(
    obj: &Map<String, Value>,
    field: &str,
) -> Result<Option<T>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if is_unset(v) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|_| {
            ApiError::bad_request(format!("HostConfig.{field}: {v} is not a valid number"))
        }),
    }
}

fn labels(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::bad_request(format!("Labels: expected an object of strings, got {v}"))
        }),
    }
}

/// `PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`) as `-p` values.
fn port_bindings(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let Some(Value::Object(map)) = v else {
        return match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(other) => Err(ApiError::bad_request(format!(
                "HostConfig.PortBindings: expected an object, got {other}"
            ))),
        };
    };
    let mut out = Vec::new();
    for (port, bindings) in map {
        let list = match bindings {
            Value::Array(a) if !a.is_empty() => a.clone(),
            // Published on a free host port.
            _ => vec![Value::Object(Map::new())],
        };
        for b in list {
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
            let host = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            out.push(if ip.is_empty() {
                format!("{host}:{port}")
            } else {
                format!("{ip}:{host}:{port}")
            });
        }
    }
    Ok(out)
}

/// The [`LIMIT_FIELDS`] of `obj` (a `HostConfig` or an update request).
pub(crate) fn limits(obj: &Map<String, Value>) -> Result<Limits, ApiError> {
    Ok(Limits {
        memory: number(obj, "Memory")?,
        memory_swap: number(obj, "MemorySwap")?,
        cpus: number::<u64>(obj, "NanoCpus")?.map(|n| n as f64 / 1e9),
        cpu_shares: number(obj, "CpuShares")?,
        cpuset_cpus: string(obj, "CpusetCpus")?,
        pids_limit: number(obj, "PidsLimit")?,
        blkio_weight: number(obj, "BlkioWeight")?,
    })
}

pub(crate) fn restart_policy(v: Option<&Value>) -> Result<RestartPolicy, ApiError> {
    let name = v
        .and_then(|p| p.get("Name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let retries = v
        .and_then(|p| p.get("MaximumRetryCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let text = match (name, retries) {
        ("", _) => return Ok(RestartPolicy::No),
        ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
        (n, _) => n.to_string(),
    };
    RestartPolicy::parse(&text)
        .map_err(|e| ApiError::bad_request(format!("HostConfig.RestartPolicy: {e:#}")))
}

/// `NetworkingConfig.EndpointsConfig`: the aliases asked for on the network of
/// `HostConfig.NetworkMode` (the one endpoint API 1.41 lets a create request configure).
fn endpoint_aliases(v: Option<&Value>, host: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let Some(Value::Object(net)) = v else {
        return Ok(Vec::new());
    };
    refuse_unknown(net, &[&["EndpointsConfig"]], "NetworkingConfig.")?;
    let Some(Value::Object(endpoints)) = net.get("EndpointsConfig") else {
        return Ok(Vec::new());
    };
    let mode = string(host, "NetworkMode")?.unwrap_or_default();
    let mut aliases = Vec::new();
    for (name, ep) in endpoints {
        let Value::Object(ep) = ep else { continue };
        let prefix = format!("NetworkingConfig.EndpointsConfig.{name}.");
        refuse_unknown(ep, &[&["Aliases", "NetworkID", "EndpointID"]], &prefix)?;
        let mine = strings(ep.get("Aliases"), &format!("{prefix}Aliases"))?;
        if mine.is_empty() {
            continue;
        }
        if *name != mode {
            return Err(ApiError::bad_request(format!(
                "{prefix}Aliases: aliases are given on the container's network ({mode:?}); connect to {name} after the create"
            )));
        }
        aliases.extend(mine);
    }
    Ok(aliases)
}

/// `HostConfig.Mounts` (`{"Type": "volume", "Source": "data", "Target": "/d", "ReadOnly":
/// true}`) as `--mount` values, which the engine parses as it does the CLI's.
fn mounts_as_flags(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "HostConfig.Mounts: expected a list, got {other}"
            )))
        }
    };
    let mut out = Vec::new();
    for m in list {
        let Value::Object(m) = m else {
            return Err(ApiError::bad_request(format!(
                "HostConfig.Mounts: expected objects, got {m}"
            )));
        };
        refuse_unknown(
            m,
            &[&["Type", "Source", "Target", "ReadOnly", "Consistency"]],
            "HostConfig.Mounts.",
        )?;
        let kind = string(m, "Type")?.unwrap_or_else(|| "volume".into());
        let target = string(m, "Target")?
            .ok_or_else(|| ApiError::bad_request("HostConfig.Mounts.Target is missing"))?;
        let mut flag = format!("type={kind},target={target}");
        if let Some(src) = string(m, "Source")? {
            flag.push_str(&format!(",source={src}"));
        }
        if bool_field(m, "ReadOnly")? {
            flag.push_str(",readonly");
        }
        out.push(flag);
    }
    Ok(out)
}

/// `Healthcheck` as the engine's [`HealthConfig`] (Docker's own JSON; clients send `null`
/// for the durations they leave to the image or Docker's defaults, which mean 0 there).
fn healthcheck(v: Option<&Value>) -> Result<Option<HealthConfig>, ApiError> {
    let Some(Value::Object(obj)) = v else {
        return Ok(None);
    };
    let given: Map<String, Value> = obj
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let hc: HealthConfig = serde_json::from_value(Value::Object(given))
        .map_err(|e| ApiError::bad_request(format!("Healthcheck: {e}")))?;
    Ok(Some(hc))
}

/// Translates a create request (`name` from the query string) to the engine's configuration.
pub fn run_config(body: &Value, name: Option<String>) -> Result<RunConfig, ApiError> {
    let Value::Object(config) = body else {
        return Err(ApiError::bad_request(
            "the create request's body must be a JSON object (Docker's container Config)",
        ));
    };
    let docker_fields: Map<String, Value> = config
        .iter()
        .filter(|(k, _)| DOCKER_CONFIG_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    refuse_unknown(&docker_fields, &[CONFIG_FIELDS, CONFIG_CLIENT_FIELDS], "")?;
    let empty = Map::new();
    let host = match config.get("HostConfig") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(h)) => h,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "HostConfig: expected an object, got {other}"
            )))
        }
    };
    refuse_unknown(host, &[HOST_FIELDS, LIMIT_FIELDS], "HostConfig.")?;
    let network_aliases = endpoint_aliases(config.get("NetworkingConfig"), host)?;
    let image = string(config, "Image")?.ok_or_else(|| {
        ApiError::bad_request("Image: the image to create the container from is missing")
    })?;

    // Docker's Entrypoint is a list; the engine's is one program (as `--entrypoint`), so the
    // list's other words go before the command (which Docker would append to them anyway).
    let mut entrypoint_words = strings(config.get("Entrypoint"), "Entrypoint")?;
    let mut command = strings(config.get("Cmd"), "Cmd")?;
    let entrypoint = match config.get("Entrypoint") {
        None | Some(Value::Null) => None,
        Some(_) if entrypoint_words.is_empty() => Some(String::new()),
        Some(_) => {
            let first = entrypoint_words.remove(0);
            entrypoint_words.append(&mut command);
            command = entrypoint_words;
            Some(first)
        }
    };
    let env = strings(config.get("Env"), "Env")?;
    if let Some(e) = env.iter().find(|e| !e.contains('=')) {
        return Err(ApiError::bad_request(format!(
            "Env: {e:?} has no value: give KEY=VALUE"
        )));
    }

    let binds = strings(host.get("Binds"), "HostConfig.Binds")?;
    let mount_flags = mounts_as_flags(host.get("Mounts"))?;
    let mounts = MountArgs::parse(&binds, &mount_flags, &[])
        .map_err(|e| ApiError::bad_request(format!("HostConfig.Binds/Mounts: {e:#}")))?;
    let limits = limits(host)?;
    let network = match string(host, "NetworkMode")?.as_deref() {
        None | Some("default") | Some("bridge") => {
            NetworkMode::Bridge(pier_engine::network::DEFAULT_NETWORK.to_string())
        }
        Some(n) => NetworkMode::parse(n)
            .map_err(|e| ApiError::bad_request(format!("HostConfig.NetworkMode: {e:#}")))?,
    };
    let publish = port_bindings(host.get("PortBindings"))?;
    let publish_all = bool_field(host, "PublishAllPorts")?;
    if (!publish.is_empty() || publish_all) && !matches!(network, NetworkMode::Bridge(_)) {
        return Err(ApiError::bad_request(format!(
            "HostConfig.PortBindings: ports are published through a bridge network; with NetworkMode {} there is nothing to publish",
            network.display()
        )));
    }
    let auto_remove = bool_field(host, "AutoRemove")?;
    let restart = restart_policy(host.get("RestartPolicy"))?;
    if auto_remove && restart != RestartPolicy::No {
        return Err(ApiError {
            status: hyper::StatusCode::BAD_REQUEST,
            message: "conflicting options: AutoRemove and RestartPolicy (a container that restarts is not removed when it exits)".into(),
        });
    }
    let log = log_config(host.get("LogConfig"))?;
    let mut labels = labels(config.get("Labels"))?;
    labels.insert(
        pier_engine::container::config::API_CREATED_LABEL.to_string(),
        "1".to_string(),
    );
    Ok(RunConfig {
        log,
        image,
        name,
        command,
        entrypoint,
        env,
        workdir: string(config, "WorkingDir")?,
        user: string(config, "User")?,
        hostname: string(config, "Hostname")?,
        interactive: bool_field(config, "OpenStdin")?,
        stdin_once: bool_field(config, "StdinOnce")?,
        console_size: number::<[u16; 2]>(host, "ConsoleSize")?.filter(|s| s.iter().all(|n| *n > 0)),
        tty: bool_field(config, "Tty")?,
        read_only: bool_field(host, "ReadonlyRootfs")?,
        volumes: mounts.binds,
        volume_mounts: mounts.volumes,
        no_image_volumes: false,
        tmpfs: mounts.tmpfs,
        limits,
        network: Some(network),
        publish,
        publish_all,
        init: bool_field(host, "Init")?,
        auto_remove,
        cap_add: strings(host.get("CapAdd"), "HostConfig.CapAdd")?,
        cap_drop: strings(host.get("CapDrop"), "HostConfig.CapDrop")?,
        labels,
        network_aliases,
        extra_networks: Vec::new(),
        restart,
        healthcheck: healthcheck(config.get("Healthcheck"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dockers_defaults_pass_and_set_unknowns_are_named() {
        let body = json!({
            "Image": "busybox", "Cmd": ["echo", "hi"], "Env": [], "AttachStdout": true,
            "Domainname": "", "Volumes": {},
            "HostConfig": {"Privileged": false, "LogConfig": {"Type": "", "Config": {}},
                           "NetworkMode": "default", "Memory": 0, "AutoRemove": true},
        });
        let c = run_config(&body, Some("x".into())).unwrap();
        assert_eq!(c.command, ["echo", "hi"]);
        assert!(c.auto_remove);
        let body = json!({"Image": "busybox", "HostConfig": {"Privileged": true}});
        let e = run_config(&body, None).unwrap_err();
        assert_eq!(e.status, hyper::StatusCode::BAD_REQUEST);
        assert!(
            e.message.starts_with("HostConfig.Privileged "),
            "{}",
            e.message
        );
        let e = run_config(&json!({"Image": "b", "Domainname": "x"}), None).unwrap_err();
        assert!(e.message.starts_with("Domainname "), "{}", e.message);
        // Not Docker's: ignored, as dockerd ignores it (open schema).
        assert!(run_config(&json!({"Image": "b", "NotDockers": 1}), None).is_ok());
    }

    #[test]
    fn entrypoint_list_and_ports() {
        let body = json!({"Image": "b", "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"],
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                           "NanoCpus": 500000000u64, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}});
        let c = run_config(&body, None).unwrap();
        assert_eq!(c.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(c.command, ["-c", "echo hi"]);
        assert_eq!(c.publish, ["8080:80/tcp"]);
        assert_eq!(c.limits.cpus, Some(0.5));
        assert_eq!(c.restart, RestartPolicy::parse("on-failure:2").unwrap());
    }
}
