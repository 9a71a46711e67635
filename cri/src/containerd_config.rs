//! A private containerd configuration whose CRI plugin has a runtime handler that runs pier:
//! containerd's runc shim (`io.containerd.runc.v2`) with pier's runc-compatible entry point as
//! its `BinaryName`. Everything containerd keeps (root, state, socket, CNI configuration) is
//! under one directory, so that a second containerd beside the host's one touches nothing of
//! it. `pier cri containerd-config` prints it; lab 16 has the student read and run it.

use crate::private_containerd::config::{bridge_plugin, has_cap_sys_resource};
use std::path::{Path, PathBuf};

/// What the configuration names.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// The directory holding containerd's `root`, `state`, `containerd.sock` and, unless
    /// `cni_conf_dir` says otherwise, `cni/`.
    pub dir: PathBuf,
    /// The runtime handler's name (a RuntimeClass's `handler`, `pier cri runp --runtime`).
    pub handler: String,
    /// pier under a name containing `runc` (`pier runtime install-link`), which the shim runs.
    pub pier_runc: PathBuf,
    /// The image every pod's sandbox (pause) container runs.
    pub sandbox_image: String,
    /// Where the CNI network configuration is; `dir/cni` when `None`.
    pub cni_conf_dir: Option<PathBuf>,
}

/// The CRI plugin's section, as containerd's version-2 configuration names it.
const CRI: &str = "plugins.\"io.containerd.grpc.v1.cri\"";

impl ContainerdConfig {
    /// containerd's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// The state root the shim passes to pier (`--root`) for pods of containerd's `k8s.io`
    /// namespace: the handler's `Root` plus the namespace.
    pub fn pier_state(&self) -> PathBuf {
        self.dir.join("pier-state").join("k8s.io")
    }

    /// The configuration file's text (TOML, version 2). The default handler stays `runc`
    /// (Debian's), as on a node where pier is one RuntimeClass among others.
    pub fn to_toml(&self) -> String {
        let d = self.dir.display();
        let cni = self
            .cni_conf_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("cni"));
        // containerd gives every sandbox an OOM score of -998, and lowering a score needs
        // CAP_SYS_RESOURCE; where root lacks it (some CI sandboxes drop it), containerd is told
        // to cap the scores at its own, its option for such hosts. runc and pier alike fail
        // otherwise.
        let restrict_oom = !has_cap_sys_resource();
        format!(
            "version = 2\n\
             # Everything containerd keeps, in one directory.\n\
             root = \"{d}/root\"\n\
             state = \"{d}/state\"\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\n\
             [{CRI}]\n  \
             # The image of every pod's pause container.\n  \
             sandbox_image = \"{image}\"\n  \
             stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n  \
             disable_apparmor = true\n  netns_mounts_under_state_dir = true\n  \
             restrict_oom_score_adj = {restrict_oom}\n\
             [{CRI}.containerd]\n  default_runtime_name = \"runc\"\n\n\
             # The runtime handler `{h}`: containerd's runc shim, running pier instead of runc.\n\
             [{CRI}.containerd.runtimes.{h}]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{CRI}.containerd.runtimes.{h}.options]\n  BinaryName = \"{bin}\"\n  \
             Root = \"{d}/pier-state\"\n\n\
             [{CRI}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{CRI}.containerd.runtimes.runc.options]\n  Root = \"{d}/runc-state\"\n\n\
             [{CRI}.cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{cni}\"\n",
            image = self.sandbox_image,
            h = self.handler,
            bin = self.pier_runc.display(),
            cni = cni.display(),
        )
    }
}

/// A CNI network list (`.conflist`) of a bridge `bridge` with host-local addresses from
/// `subnet` (kept in `ipam_dir`), and loopback, which the CRI plugin adds to every pod. No
/// portmap and no masquerade: it leaves no iptables rule behind.
pub fn cni_bridge_conflist(bridge: &str, subnet: &str, ipam_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": bridge,
        "plugins": [
            bridge_plugin(bridge, subnet, ipam_dir, false),
            { "type": "loopback" }
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_runs_the_given_binary_under_the_runc_shim() {
        let c = ContainerdConfig {
            dir: PathBuf::from("/x"),
            handler: "pier".into(),
            pier_runc: PathBuf::from("/x/pier-runc"),
            sandbox_image: "localhost/pause:1".into(),
            cni_conf_dir: None,
        };
        let t = c.to_toml();
        assert!(t.contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.pier]\n  runtime_type = \"io.containerd.runc.v2\""), "{t}");
        assert!(
            t.contains("BinaryName = \"/x/pier-runc\"\n  Root = \"/x/pier-state\""),
            "{t}"
        );
        assert!(t.contains("address = \"/x/containerd.sock\""), "{t}");
        assert!(t.contains("conf_dir = \"/x/cni\""), "{t}");
        assert!(t.contains("sandbox_image = \"localhost/pause:1\""), "{t}");
        assert_eq!(c.pier_state(), Path::new("/x/pier-state/k8s.io"));
    }
}
