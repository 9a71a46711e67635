//! The texts a private containerd reads: its `config.toml` (private directories, the CRI
//! plugin with its runtime handlers) and the CNI network list its pods join.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A runtime handler (a RuntimeClass's `handler`): the runc shim with `binary` as its runc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// The handler's name, as RunPodSandbox names it (`pier`, `runc`, `crun`).
    pub name: String,
    /// The runc-compatible binary the shim runs (`BinaryName`).
    pub binary: PathBuf,
    /// The systemd cgroup driver (`SystemdCgroup = true`): the shim passes
    /// `--systemd-cgroup`, and containers' cgroups are `.scope`s in their pod's slice, as
    /// kubelet runs on cgroup-v2 machines booted by systemd.
    pub systemd_cgroup: bool,
}

impl Handler {
    /// A handler `name` running `binary`.
    pub fn new(name: &str, binary: impl Into<PathBuf>) -> Handler {
        Handler {
            name: name.into(),
            binary: binary.into(),
            systemd_cgroup: false,
        }
    }

    /// The state root the shim passes to the handler's binary (`--root`), under `dir`:
    /// `<dir>/<name>-state` (the binary adds containerd's namespace below it).
    pub fn state_root(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}-state", self.name))
    }
}

/// What varies between the private containerds the tests and the bench start; the
/// directories themselves all live under the one directory given to [`config_toml`].
#[derive(Debug, Clone)]
pub struct ConfigOptions {
    /// The runtime handlers.
    pub handlers: Vec<Handler>,
    /// The handler of a RunPodSandbox that names none (`default_runtime_name`).
    pub default_handler: String,
    /// The sandbox (pause) image (containerd's `sandbox_image`).
    pub sandbox_image: String,
    /// containerd's `restrict_oom_score_adj`: cap the OOM scores it asks for at its own
    /// (for hosts where lowering a score is not allowed; see [`has_cap_sys_resource`]).
    pub restrict_oom_score_adj: bool,
    /// Where the CNI network configuration is; `<dir>/cni` when `None`.
    pub cni_conf_dir: Option<PathBuf>,
}

impl ConfigOptions {
    /// The options with `handlers` and the defaults: the first handler as the default one,
    /// pier's pause image, and OOM scores capped where this process lacks CAP_SYS_RESOURCE.
    pub fn new(handlers: Vec<Handler>) -> ConfigOptions {
        ConfigOptions {
            default_handler: handlers.first().map_or("runc".into(), |h| h.name.clone()),
            handlers,
            sandbox_image: super::PAUSE_IMAGE.into(),
            // containerd gives every sandbox an OOM score of -998 (kubelet's for the pause),
            // and lowering a score needs CAP_SYS_RESOURCE. Where this process lacks it (some
            // CI sandboxes drop it even for root), containerd is told to cap the scores at
            // its own, its option for unprivileged hosts; runc and pier alike fail otherwise.
            restrict_oom_score_adj: !has_cap_sys_resource(),
            cni_conf_dir: None,
        }
    }
}

/// containerd's configuration (version 2): root, state and socket under `dir`, the CRI
/// plugin with `opts`' handlers (each with its state root under `dir`), netns mounts under
/// the state directory, CNI binaries from Debian's containernetworking-plugins
/// (`/usr/lib/cni`) and its network list in `<dir>/cni` (or `opts.cni_conf_dir`). The comments
/// are for a reader: `pier cri containerd-config` prints this text for lab 16.
pub fn config_toml(dir: &Path, opts: &ConfigOptions) -> String {
    let d = dir.display();
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    let mut text = format!(
        "version = 2\n\
         # Everything containerd keeps, in one directory.\n\
         root = \"{d}/root\"\nstate = \"{d}/state\"\n\
         [grpc]\n  address = \"{d}/containerd.sock\"\n\
         [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
         # Where containerd unpacks its own tools (/opt/containerd by default, on the host).\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\
         [{cri}]\n  \
         # The image of every pod's pause container.\n  \
         sandbox_image = \"{}\"\n  stream_server_address = \"127.0.0.1\"\n  \
         stream_server_port = \"0\"\n  disable_apparmor = true\n  netns_mounts_under_state_dir = true\n  \
         restrict_oom_score_adj = {}\n\
         [{cri}.containerd]\n  default_runtime_name = \"{}\"\n",
        opts.sandbox_image, opts.restrict_oom_score_adj, opts.default_handler,
    );
    for h in &opts.handlers {
        let _ = write!(
            text,
            "# The runtime handler `{name}`: containerd's runc shim, running {binary} as its runc.\n\
             [{cri}.containerd.runtimes.{name}]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.{name}.options]\n  BinaryName = \"{binary}\"\n  \
             Root = \"{root}\"\n  SystemdCgroup = {systemd}\n",
            name = h.name,
            systemd = h.systemd_cgroup,
            binary = h.binary.display(),
            root = h.state_root(dir).display(),
        );
    }
    let cni = opts.cni_conf_dir.clone().unwrap_or_else(|| dir.join("cni"));
    let _ = write!(
        text,
        "[{cri}.cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{}\"\n",
        cni.display()
    );
    text
}

/// The CNI network list: a bridge `bridge` with host-local addresses in `<subnet>.0/24`
/// (`subnet` is the first three octets; the leases kept under `dir`), portmap for
/// hostPorts, loopback (CRI adds it to every pod).
pub fn cni_conflist(dir: &Path, bridge: &str, subnet: &str) -> String {
    let bridge_plugin = bridge_plugin(
        bridge,
        &format!("{subnet}.0/24"),
        &dir.join("cni-ipam"),
        true,
    );
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": bridge,
        "plugins": [
            bridge_plugin,
            { "type": "portmap", "capabilities": { "portMappings": true } },
            { "type": "loopback" }
        ]
    })
    .to_string()
}

/// CNI's bridge plugin for a network list: the bridge `bridge` as the pods' gateway, no
/// masquerade, host-local addresses from `cidr` with their leases in `ipam_dir`; with
/// `hairpin`, a pod reaches itself through its own hostPort.
pub fn bridge_plugin(
    bridge: &str,
    cidr: &str,
    ipam_dir: &Path,
    hairpin: bool,
) -> serde_json::Value {
    let mut plugin = serde_json::json!({
        "type": "bridge",
        "bridge": bridge,
        "isGateway": true,
        "ipMasq": false,
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": cidr }]],
            "dataDir": ipam_dir,
        }
    });
    if hairpin {
        plugin["hairpinMode"] = serde_json::Value::Bool(true);
    }
    plugin
}

/// Whether this process's effective capabilities include CAP_SYS_RESOURCE (bit 24).
pub fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_every_handler_under_the_private_directory() {
        let mut opts = ConfigOptions::new(vec![
            Handler::new("pier", "/d/pier-runc"),
            Handler::new("runc", "/usr/sbin/runc"),
            Handler::new("crun", "/usr/bin/crun"),
        ]);
        opts.restrict_oom_score_adj = false;
        opts.handlers[0].systemd_cgroup = true;
        let text = config_toml(Path::new("/d"), &opts);
        assert!(text.starts_with("version = 2\n"), "{text}");
        assert!(
            text.contains("root = \"/d/root\"\nstate = \"/d/state\"\n"),
            "{text}"
        );
        assert!(
            text.contains("[grpc]\n  address = \"/d/containerd.sock\"\n"),
            "{text}"
        );
        // Nothing outside the private directory: not even containerd's /opt/containerd.
        assert!(
            text.contains("[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"/d/opt\"\n"),
            "{text}"
        );
        assert!(
            text.contains("sandbox_image = \"localhost/pier-pause:1\""),
            "{text}"
        );
        assert!(text.contains("restrict_oom_score_adj = false"), "{text}");
        assert!(text.contains("default_runtime_name = \"pier\""), "{text}");
        for (name, binary, systemd) in [
            ("pier", "/d/pier-runc", true),
            ("runc", "/usr/sbin/runc", false),
            ("crun", "/usr/bin/crun", false),
        ] {
            let table = format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{name}.options]\n  \
                 BinaryName = \"{binary}\"\n  Root = \"/d/{name}-state\"\n  \
                 SystemdCgroup = {systemd}\n"
            );
            assert!(text.contains(&table), "{table} missing from:\n{text}");
        }
        assert!(text.ends_with("bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"/d/cni\"\n"));
    }

    #[test]
    fn the_network_list_is_a_bridge_with_portmap_and_loopback() {
        let v: serde_json::Value =
            serde_json::from_str(&cni_conflist(Path::new("/d"), "br9", "10.217.29")).unwrap();
        assert_eq!(v["name"], "br9");
        let plugins: Vec<&str> = v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(plugins, ["bridge", "portmap", "loopback"]);
        let ipam = &v["plugins"][0]["ipam"];
        assert_eq!(ipam["ranges"][0][0]["subnet"], "10.217.29.0/24");
        assert_eq!(ipam["dataDir"], "/d/cni-ipam");
        assert_eq!(v["plugins"][0]["bridge"], "br9");
    }
}
