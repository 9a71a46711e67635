//! `pier cri containerd-config`: prints a private containerd configuration with a runtime
//! handler that runs pier (the pier-cri crate's [`ContainerdConfig`]), for a containerd started
//! beside the host's one, as lab 16 does.

use anyhow::{bail, Result};
use clap::Args;
use pier_cri::containerd_config::ContainerdConfig;
use std::path::PathBuf;

/// `pier cri containerd-config`.
#[derive(Debug, Args)]
pub struct ContainerdConfigArgs {
    /// The directory containerd keeps everything in (root, state, socket); absolute.
    #[arg(long)]
    pub dir: PathBuf,
    /// The runtime handler's name (what `pier cri runp --runtime` and a RuntimeClass name).
    #[arg(long, default_value = "pier")]
    pub handler: String,
    /// pier under a name containing `runc` (`pier runtime install-link`); `DIR/pier-runc` by
    /// default.
    #[arg(long)]
    pub runtime_binary: Option<PathBuf>,
    /// The image of every pod's sandbox (pause) container.
    #[arg(long)]
    pub sandbox_image: String,
    /// The CNI configuration directory; `DIR/cni` by default.
    #[arg(long)]
    pub cni_conf_dir: Option<PathBuf>,
}

/// Prints the configuration.
pub fn containerd_config(a: ContainerdConfigArgs) -> Result<i32> {
    if !a.dir.is_absolute() {
        bail!(
            "--dir {}: containerd needs an absolute directory (try --dir \"$PWD\")",
            a.dir.display()
        );
    }
    if a.handler.is_empty()
        || !a
            .handler
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "--handler {:?}: a handler's name is letters, digits, - and _",
            a.handler
        );
    }
    if a.handler == "runc" {
        bail!("--handler runc: that name is the configuration's own handler for Debian's runc; name pier's handler otherwise (pier is the default)");
    }
    let c = ContainerdConfig {
        pier_runc: a.runtime_binary.unwrap_or_else(|| a.dir.join("pier-runc")),
        dir: a.dir,
        handler: a.handler,
        sandbox_image: a.sandbox_image,
        cni_conf_dir: a.cni_conf_dir,
    };
    print!("{}", c.to_toml());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &str, handler: &str) -> ContainerdConfigArgs {
        ContainerdConfigArgs {
            dir: PathBuf::from(dir),
            handler: handler.into(),
            runtime_binary: None,
            sandbox_image: "localhost/pause:1".into(),
            cni_conf_dir: None,
        }
    }

    #[test]
    fn a_relative_directory_or_a_bad_handler_name_is_refused_by_name() {
        let e = containerd_config(args("lab", "pier"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--dir lab") && e.contains("absolute"), "{e}");
        let e = containerd_config(args("/x", "pi er"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--handler \"pi er\""), "{e}");
        let e = containerd_config(args("/x", "runc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--handler runc"), "{e}");
    }
}
