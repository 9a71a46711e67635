//! A private containerd configuration whose CRI plugin has a runtime handler that runs pier:
//! containerd's runc shim (`io.containerd.runc.v2`) with pier's runc-compatible entry point as
//! its `BinaryName`. Everything containerd keeps (root, state, socket, CNI configuration) is
//! under one directory, so that a second containerd beside the host's one touches nothing of
//! it. `pier cri containerd-config` prints it; lab 16 has the student read and run it.

use crate::private_containerd::config::{bridge_plugin, config_toml, ConfigOptions, Handler};
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

impl ContainerdConfig {
    /// containerd's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// The state root the shim passes to pier (`--root`) for pods of containerd's `k8s.io`
    /// namespace: the handler's `Root` plus the namespace.
    pub fn pier_state(&self) -> PathBuf {
        self.pier_handler().state_root(&self.dir).join("k8s.io")
    }

    fn pier_handler(&self) -> Handler {
        Handler::new(&self.handler, &self.pier_runc)
    }

    /// The configuration file's text (TOML, version 2; the one generator the tests' and the
    /// bench's private containerds use too). The default handler stays `runc` (Debian's), as on
    /// a node where pier is one RuntimeClass among others.
    pub fn to_toml(&self) -> String {
        let mut opts = ConfigOptions::new(vec![
            self.pier_handler(),
            Handler::new("runc", "/usr/sbin/runc"),
        ]);
        opts.default_handler = "runc".into();
        opts.sandbox_image = self.sandbox_image.clone();
        opts.cni_conf_dir = self.cni_conf_dir.clone();
        config_toml(&self.dir, &opts)
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
            t.contains("BinaryName = \"/x/pier-runc\"\n  Root = \"/x/pier-state\"\n"),
            "{t}"
        );
        assert!(t.contains("address = \"/x/containerd.sock\""), "{t}");
        assert!(t.contains("conf_dir = \"/x/cni\""), "{t}");
        assert!(t.contains("sandbox_image = \"localhost/pause:1\""), "{t}");
        assert!(t.contains("default_runtime_name = \"runc\""), "{t}");
        assert_eq!(c.pier_state(), Path::new("/x/pier-state/k8s.io"));
    }
}
