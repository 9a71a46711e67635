//! The pod and container configuration files, as crictl reads them (`crictl runp pod.json`,
//! `crictl create POD ctr.json pod.json`): JSON objects whose keys are the CRI messages'
//! field names (`log_directory`, `linux.security_context.namespace_options`), enums as their
//! numbers, absent keys meaning the field's zero value.
//!
//! Only the fields a small client needs are read; any other key is an error that names it
//! (a field silently ignored would make a pod other than the one written).

use crate::api;
use crate::Error;
use serde::Deserialize;
use std::collections::HashMap;

/// A pod's configuration (PodSandboxConfig).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodConfig {
    metadata: PodMetadata,
    hostname: String,
    log_directory: String,
    port_mappings: Vec<PortMapping>,
    labels: HashMap<String, String>,
    annotations: HashMap<String, String>,
    linux: PodLinux,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PodMetadata {
    name: String,
    uid: String,
    namespace: String,
    attempt: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PortMapping {
    protocol: i32,
    container_port: i32,
    host_port: i32,
    host_ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PodLinux {
    cgroup_parent: String,
    sysctls: HashMap<String, String>,
    security_context: PodSecurity,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PodSecurity {
    namespace_options: NamespaceOptions,
    privileged: bool,
}

/// NamespaceMode as numbers: 0 POD, 1 CONTAINER, 2 NODE (the host's), 3 TARGET.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NamespaceOptions {
    network: i32,
    pid: i32,
    ipc: i32,
}

/// A container's configuration (ContainerConfig).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerConfig {
    metadata: ContainerMetadata,
    image: ImageSpec,
    command: Vec<String>,
    args: Vec<String>,
    working_dir: String,
    envs: Vec<KeyValue>,
    mounts: Vec<Mount>,
    labels: HashMap<String, String>,
    annotations: HashMap<String, String>,
    log_path: String,
    tty: bool,
    linux: ContainerLinux,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ContainerMetadata {
    name: String,
    attempt: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ImageSpec {
    image: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KeyValue {
    key: String,
    value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Mount {
    container_path: String,
    host_path: String,
    readonly: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ContainerLinux {
    resources: Option<Resources>,
    security_context: ContainerSecurity,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Resources {
    cpu_period: i64,
    cpu_quota: i64,
    cpu_shares: i64,
    memory_limit_in_bytes: i64,
    oom_score_adj: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ContainerSecurity {
    privileged: bool,
    readonly_rootfs: bool,
    run_as_user: Option<Int64Value>,
    capabilities: Option<Capabilities>,
    namespace_options: Option<NamespaceOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Int64Value {
    value: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Capabilities {
    add_capabilities: Vec<String>,
    drop_capabilities: Vec<String>,
}

/// Reads a pod configuration from `text` (the contents of `file`).
pub fn pod_from_json(file: &str, text: &str) -> Result<api::PodSandboxConfig, Error> {
    let pod: PodConfig = parse(file, text)?;
    Ok(pod.into_api())
}

/// Reads a container configuration from `text` (the contents of `file`).
pub fn container_from_json(file: &str, text: &str) -> Result<api::ContainerConfig, Error> {
    let ctr: ContainerConfig = parse(file, text)?;
    Ok(ctr.into_api())
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Config {
        file: file.into(),
        reason: e.to_string(),
    })
}

impl NamespaceOptions {
    fn into_api(self) -> api::NamespaceOption {
        api::NamespaceOption {
            network: self.network,
            pid: self.pid,
            ipc: self.ipc,
            ..Default::default()
        }
    }
}

impl PodConfig {
    /// The CRI message.
    pub fn into_api(self) -> api::PodSandboxConfig {
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: self.metadata.name,
                uid: self.metadata.uid,
                namespace: self.metadata.namespace,
                attempt: self.metadata.attempt,
            }),
            hostname: self.hostname,
            log_directory: self.log_directory,
            port_mappings: self
                .port_mappings
                .into_iter()
                .map(|p| api::PortMapping {
                    protocol: p.protocol,
                    container_port: p.container_port,
                    host_port: p.host_port,
                    host_ip: p.host_ip,
                })
                .collect(),
            labels: self.labels,
            annotations: self.annotations,
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: self.linux.cgroup_parent,
                sysctls: self.linux.sysctls,
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(
                        self.linux.security_context.namespace_options.into_api(),
                    ),
                    privileged: self.linux.security_context.privileged,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl ContainerConfig {
    /// The CRI message.
    pub fn into_api(self) -> api::ContainerConfig {
        let sec = self.linux.security_context;
        api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: self.metadata.name,
                attempt: self.metadata.attempt,
            }),
            image: Some(api::ImageSpec {
                image: self.image.image,
                ..Default::default()
            }),
            command: self.command,
            args: self.args,
            working_dir: self.working_dir,
            envs: self
                .envs
                .into_iter()
                .map(|e| api::KeyValue {
                    key: e.key,
                    value: e.value,
                })
                .collect(),
            mounts: self
                .mounts
                .into_iter()
                .map(|m| api::Mount {
                    container_path: m.container_path,
                    host_path: m.host_path,
                    readonly: m.readonly,
                    ..Default::default()
                })
                .collect(),
            labels: self.labels,
            annotations: self.annotations,
            log_path: self.log_path,
            tty: self.tty,
            linux: Some(api::LinuxContainerConfig {
                resources: self.linux.resources.map(|r| api::LinuxContainerResources {
                    cpu_period: r.cpu_period,
                    cpu_quota: r.cpu_quota,
                    cpu_shares: r.cpu_shares,
                    memory_limit_in_bytes: r.memory_limit_in_bytes,
                    oom_score_adj: r.oom_score_adj,
                    cpuset_cpus: r.cpuset_cpus,
                    cpuset_mems: r.cpuset_mems,
                    ..Default::default()
                }),
                security_context: Some(api::LinuxContainerSecurityContext {
                    privileged: sec.privileged,
                    readonly_rootfs: sec.readonly_rootfs,
                    run_as_user: sec.run_as_user.map(|u| api::Int64Value { value: u.value }),
                    capabilities: sec.capabilities.map(|c| api::Capability {
                        add_capabilities: c.add_capabilities,
                        drop_capabilities: c.drop_capabilities,
                        ..Default::default()
                    }),
                    namespace_options: sec.namespace_options.map(NamespaceOptions::into_api),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crictl_pod_file_becomes_the_message() {
        let pod = pod_from_json(
            "pod.json",
            r#"{"metadata":{"name":"web","namespace":"default","uid":"u1"},
                "port_mappings":[{"container_port":80,"host_port":8080}],
                "linux":{"cgroup_parent":"/kubepods","security_context":{"namespace_options":{"pid":1}}}}"#,
        )
        .unwrap();
        assert_eq!(pod.metadata.unwrap().name, "web");
        assert_eq!(pod.port_mappings[0].host_port, 8080);
        let linux = pod.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/kubepods");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!((ns.network, ns.pid), (0, 1));
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = container_from_json(
            "ctr.json",
            r#"{"metadata":{"name":"a"},"image":{"image":"busybox"},"comand":["sh"]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("ctr.json: unknown field `comand`"), "{err}");
    }

    #[test]
    fn resources_reach_the_message() {
        let ctr = container_from_json(
            "ctr.json",
            r#"{"image":{"image":"busybox"},"linux":{"resources":{"memory_limit_in_bytes":67108864,"cpu_quota":50000,"cpu_period":100000}}}"#,
        )
        .unwrap();
        let r = ctr.linux.unwrap().resources.unwrap();
        assert_eq!((r.memory_limit_in_bytes, r.cpu_quota), (67108864, 50000));
    }
}
