//! The compose file as serde types: the keys pier supports, each accepting every spelling the
//! Compose specification allows (a string or a list, a list or a map, a number or a string).
//! Unknown keys are not errors here: [`super::file`] reports them as warnings.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole compose file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComposeFile {
    /// Obsolete (compose v1's file versions); accepted with a warning.
    #[serde(default, skip_serializing)]
    pub version: Option<Scalar>,
    /// The project name, unless `-p` or `COMPOSE_PROJECT_NAME` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The services.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Networks (`null` for one with every default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<NetworkDef>>,
    /// Named volumes (`null` for one with every default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Option<VolumeDef>>,
}

/// A scalar that YAML may have typed as a number or a boolean where compose means text (or
/// the other way round, after interpolation turned `${CPUS}` into `"0.5"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string, a number or a boolean")]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Str(String),
}

impl Scalar {
    /// The value as compose's text.
    pub fn text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) => s.clone(),
        }
    }

    /// The value as a boolean (`true`/`false`, also as text).
    pub fn as_bool(&self, what: &str) -> anyhow::Result<bool> {
        match self {
            Scalar::Bool(b) => Ok(*b),
            Scalar::Str(s) if s == "true" || s == "True" => Ok(true),
            Scalar::Str(s) if s == "false" || s == "False" => Ok(false),
            other => anyhow::bail!("{what}: expected true or false, not {:?}", other.text()),
        }
    }

    /// The value as an integer.
    pub fn as_i64(&self, what: &str) -> anyhow::Result<i64> {
        match self {
            Scalar::Int(i) => Ok(*i),
            Scalar::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{what}: expected a whole number, not {s:?}")),
            other => anyhow::bail!("{what}: expected a whole number, not {:?}", other.text()),
        }
    }
}

/// A command: a string (split like a shell's words) or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum Command {
    /// `command: echo hi`.
    Shell(String),
    /// `command: ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// A list of strings that may be written as one string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum StringOrList {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl StringOrList {
    /// The values.
    pub fn items(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s.clone()],
            StringOrList::Many(v) => v.clone(),
        }
    }
}

/// `environment`, `labels`, `build.args`: a map (`KEY: value`, a null value meaning "from
/// the environment") or a list of `KEY=value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a map of KEY: value or a list of KEY=value")]
pub enum ListOrMap {
    /// `KEY: value`.
    Map(BTreeMap<String, Option<Scalar>>),
    /// `- KEY=value`.
    List(Vec<String>),
}

impl ListOrMap {
    /// The entries in order: key and value (`None`: take it from the environment).
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        match self {
            ListOrMap::Map(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::text)))
                .collect(),
            ListOrMap::List(l) => l
                .iter()
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (e.clone(), None),
                })
                .collect(),
        }
    }
}

/// One service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Service {
    /// The image to run (or the name to give the built one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// How to build the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// The command (replaces the image's Cmd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// The entrypoint (replaces the image's; an empty list clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<ListOrMap>,
    /// Files of `KEY=value` lines, relative to the project directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<EnvFiles>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Ports the service listens on, for documentation (nothing to do on a bridge).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<Scalar>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    /// Networks joined (default: the project's `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<ServiceNetworks>,
    /// `host`, `none`, `service:NAME`, `container:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Services started first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// The health test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `USER[:GROUP]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Scalar>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// The hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// A fixed container name (instead of `<project>-<service>-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<ListOrMap>,
    /// Run pier's init as PID 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Scalar>,
    /// Read-only root filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<Scalar>,
    /// A terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<Scalar>,
    /// tmpfs mounts: `PATH[:OPTIONS]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<StringOrList>,
    /// Memory limit (`64m`, or bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<Scalar>,
    /// CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Scalar>,
    /// Relative CPU weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<Scalar>,
    /// CPUs the containers may run on (`0-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<Scalar>,
    /// The profiles the service belongs to: it starts only when one of them is active.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Process limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<Scalar>,
    /// Capabilities added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// How long `stop` waits before SIGKILL (`10s`, `1m30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// Number of containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scalar>,
    /// `deploy`: replicas and resource limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// `logging`: the log driver and its options (`max-size`, `max-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
}

/// `logging` of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Logging {
    /// The driver: pier writes `json-file` logs (`local` is taken as the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The driver's options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Option<Scalar>>,
}

/// `build`: a context directory, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a context path or a map with context, dockerfile and args"
)]
pub enum Build {
    /// `build: ./dir`.
    Context(String),
    /// `build: {context, dockerfile, args, target}`.
    Full(BuildSpec),
}

/// The long form of `build`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildSpec {
    /// The context directory (default `.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The Dockerfile, relative to the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<ListOrMap>,
    /// The stage to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Labels of the built image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<ListOrMap>,
}

/// `env_file`: one path, or a list of paths or `{path, required}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a path or a list of paths")]
pub enum EnvFiles {
    /// One file.
    One(String),
    /// Several.
    Many(Vec<EnvFile>),
}

/// One entry of `env_file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a path or a map with path and required")]
pub enum EnvFile {
    /// A path.
    Path(String),
    /// `{path, required}`.
    Full {
        /// The file.
        path: String,
        /// A missing file is an error (default true).
        #[serde(default)]
        required: Option<bool>,
    },
}

impl EnvFiles {
    /// Path and whether it is required.
    pub fn items(&self) -> Vec<(String, bool)> {
        let one = |e: &EnvFile| match e {
            EnvFile::Path(p) => (p.clone(), true),
            EnvFile::Full { path, required } => (path.clone(), required.unwrap_or(true)),
        };
        match self {
            EnvFiles::One(p) => vec![(p.clone(), true)],
            EnvFiles::Many(v) => v.iter().map(one).collect(),
        }
    }
}

/// A published port: `"8080:80"`, `80`, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a port (\"8080:80\", 80) or a map with target and published"
)]
pub enum Port {
    /// Short syntax.
    Short(Scalar),
    /// Long syntax.
    Long(PortLong),
}

/// The long syntax of a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortLong {
    /// Port in the container.
    pub target: Scalar,
    /// Host port (or range); none: a free one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Scalar>,
    /// Host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `host` or `ingress` (the same thing without a swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A name for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A service's mount: `"data:/var/lib/x:ro"`, `"./dir:/x"`, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a mount (\"SOURCE:TARGET[:ro]\") or a map with type, source and target"
)]
pub enum ServiceVolume {
    /// Short syntax.
    Short(String),
    /// Long syntax.
    Long(VolumeLong),
}

/// The long syntax of a mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeLong {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume name or host path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<Scalar>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    /// tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

/// `volume:` options of a mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeOptions {
    /// Do not copy the image's files into an empty volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocopy: Option<Scalar>,
}

/// `bind:` options of a mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindOptions {
    /// Create a missing host directory (the short syntax always does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<Scalar>,
}

/// `tmpfs:` options of a mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TmpfsOptions {
    /// Size (`64m`, or bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Scalar>,
    /// Mode, octal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Scalar>,
}

/// `networks:` of a service: a list of names or a map with options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of network names or a map of network: options"
)]
pub enum ServiceNetworks {
    /// `- front`.
    List(Vec<String>),
    /// `front: {aliases: [...]}`.
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

/// A service's options on one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// Further names of the service on that network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl ServiceNetworks {
    /// Network names with aliases, in order.
    pub fn items(&self) -> Vec<(String, Vec<String>)> {
        match self {
            ServiceNetworks::List(l) => l.iter().map(|n| (n.clone(), Vec::new())).collect(),
            ServiceNetworks::Map(m) => m
                .iter()
                .map(|(n, o)| {
                    (
                        n.clone(),
                        o.as_ref().map(|o| o.aliases.clone()).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}

/// `depends_on`: a list of services, or a map with conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of services or a map of service: {condition}"
)]
pub enum DependsOn {
    /// `- db`.
    List(Vec<String>),
    /// `db: {condition: service_healthy}`.
    Map(BTreeMap<String, Dependency>),
}

/// One dependency's options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// What to wait for (default `service_started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Restart this service when the dependency is recreated (accepted; pier recreates on a
    /// changed configuration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Scalar>,
    /// A missing dependency is an error (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Scalar>,
}

/// What a dependant waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Its containers run.
    ServiceStarted,
    /// Its healthcheck passes.
    ServiceHealthy,
    /// It ran to completion with status 0.
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The spec's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

impl DependsOn {
    /// Services and conditions.
    pub fn items(&self) -> Vec<(String, Condition)> {
        match self {
            DependsOn::List(l) => l
                .iter()
                .map(|s| (s.clone(), Condition::ServiceStarted))
                .collect(),
            DependsOn::Map(m) => m
                .iter()
                .map(|(s, d)| (s.clone(), d.condition.unwrap_or(Condition::ServiceStarted)))
                .collect(),
        }
    }
}

/// `healthcheck`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]`, `["NONE"]` or a shell string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Command>,
    /// Time between checks (`30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures in a row before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Scalar>,
    /// Grace time after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    /// Turn the image's healthcheck off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<Scalar>,
}

/// `deploy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    /// Number of containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Scalar>,
    /// Limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Hard limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// `deploy.resources.limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Scalar>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Scalar>,
    /// Processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Scalar>,
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkDef {
    /// Made outside compose: used, never created or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Scalar>,
    /// The real name (default `<project>_<key>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `bridge` (the only driver pier has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Labels (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<ListOrMap>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeDef {
    /// Made outside compose: used, never created or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Scalar>,
    /// The real name (default `<project>_<key>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `local` (the only driver pier has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Labels of the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<ListOrMap>,
}
