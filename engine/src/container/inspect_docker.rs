//! The Docker-shaped part of `pier inspect`: `Id`, `State`, `Config`, `HostConfig`,
//! `NetworkSettings` ... under Docker's names, so `--format '{{.State.Pid}}'` and the tools
//! and notes written for `docker inspect` read pier's output.

use super::config::NetworkMode;
use super::record::{ContainerPaths, ContainerRecord, ContainerStatus};
// Docker gives containers no aliases on the default network.
use crate::network::{Endpoint, DEFAULT_NETWORK};
use serde_json::{json, Value};

/// A container ID's first 12 characters, the short ID Docker shows and resolves.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Docker's inspect fields for one container. `oci` is the bundle's config.json (`Null`
/// before it exists), the source of the final environment, working directory and user.
pub fn docker_fields(rec: &ContainerRecord, paths: &ContainerPaths, oci: &Value) -> Value {
    let process = &oci["process"];
    let running = rec.status == ContainerStatus::Running;
    let endpoint: Option<Endpoint> = rec
        .network
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let network_name = rec
        .config
        .network
        .as_ref()
        .map(|n| n.display())
        .unwrap_or_else(|| "none".into());
    let mut ports = serde_json::Map::new();
    let mut networks = serde_json::Map::new();
    if let Some(ep) = &endpoint {
        for p in &ep.ports {
            ports.insert(
                format!("{}/{}", p.container_port, p.protocol),
                json!([{
                    "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                    "HostPort": p.host_port.to_string(),
                }]),
            );
        }
    }
    // The networks the container is set to join, listed before it starts too (as Docker
    // does: compose reads them to decide whether to connect a created container), with
    // the container's short ID among its names on a user-defined network.
    let mut attached: Vec<(&str, &[String])> = Vec::new();
    if let Some(NetworkMode::Bridge(n)) = &rec.config.network {
        attached.push((n, &rec.config.network_aliases));
    }
    for x in &rec.config.extra_networks {
        attached.push((&x.network, &x.aliases));
    }
    for (name, aliases) in attached {
        let names: Option<Vec<String>> = (name != DEFAULT_NETWORK).then(|| {
            std::iter::once(short_id(&rec.id).to_string())
                .chain(aliases.iter().cloned())
                .collect()
        });
        let ep = endpoint.as_ref().filter(|e| e.network == name);
        networks.insert(
            name.to_string(),
            json!({
                "NetworkID": name,
                "Aliases": names,
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map(|e| e.prefix).unwrap_or(0),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
            }),
        );
    }
    let (ip, gateway, mac) = endpoint
        .as_ref()
        .map(|e| (e.ip.to_string(), e.gateway.to_string(), e.mac.clone()))
        .unwrap_or_default();
    let limits = &rec.config.limits;
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.args.first().cloned().unwrap_or_default(),
        "Args": rec.args.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": rec.status.as_str(),
            "Running": running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": rec.oom_killed,
            "Dead": false,
            "Pid": rec.init.filter(|_| running).map(|p| p.pid).unwrap_or(0),
            "ExitCode": rec.exit_code.unwrap_or(0),
            "Error": rec.error.clone().unwrap_or_default(),
            "StartedAt": rec.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": rec.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": rec.image_id,
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "LogPath": paths.log(),
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": network_name,
            "ReadonlyRootfs": rec.config.read_only,
            "AutoRemove": rec.config.auto_remove,
            "Init": rec.config.init,
            "CapAdd": rec.config.cap_add,
            "CapDrop": rec.config.cap_drop,
            "Binds": rec.config.volumes.iter().map(|b| format!(
                "{}:{}{}", b.source.display(), b.destination.display(),
                if b.read_only { ":ro" } else { "" })).collect::<Vec<_>>(),
            "Memory": limits.memory.unwrap_or(0),
            "MemorySwap": limits.memory_swap.unwrap_or(0),
            "NanoCpus": limits.cpus.map(|c| (c * 1e9) as u64).unwrap_or(0),
            "CpuShares": limits.cpu_shares.unwrap_or(0),
            "CpusetCpus": limits.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": limits.pids_limit,
            "BlkioWeight": limits.blkio_weight.unwrap_or(0),
            "PortBindings": rec.config.publish,
            "PublishAllPorts": rec.config.publish_all,
            "LogConfig": {
                "Type": "json-file",
                "Config": rec.config.log.docker_options(),
            },
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "UpperDir": paths.upper(),
                "MergedDir": paths.rootfs(),
                "WorkDir": paths.work(),
            },
        },
        "Config": {
            "Hostname": oci["hostname"].as_str().unwrap_or_default(),
            "User": rec.config.user.clone().unwrap_or_default(),
            "Env": process["env"].as_array().cloned().unwrap_or_default(),
            "Cmd": rec.args,
            "Image": rec.image,
            "WorkingDir": process["cwd"].as_str().unwrap_or_default(),
            "Entrypoint": rec.config.entrypoint.as_ref().filter(|e| !e.is_empty()).map(|e| vec![e.clone()]),
            "Labels": rec.config.labels,
            "Tty": rec.config.tty,
            "OpenStdin": rec.config.interactive,
            "AttachStdin": rec.config.interactive,
        },
        "NetworkSettings": {
            "IPAddress": ip,
            "Gateway": gateway,
            "MacAddress": mac,
            "Ports": ports,
            "Networks": networks,
        },
    })
}
