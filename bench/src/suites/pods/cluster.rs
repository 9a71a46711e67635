//! The pods suite's one private containerd (pier-cri's [`PrivateContainerd`]) under the
//! bench's cache, with a handler per runtime measured: `pier` (the runc shim running a
//! `pier runtime install-link` of the pier binary measured), `runc` and `crun` (Debian's);
//! the pause image built with that pier in the bench's root and its busybox imported.

use crate::envs::Setup;
use anyhow::{bail, Context, Result};
use pier_cri::private_containerd::{self, ConfigOptions, Handler, PrivateContainerd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bridge of the suite's pods.
const BRIDGE: &str = "pbpods0";

/// The cgroup parent of the suite's pods (removed with the containerd).
pub const CGROUP_PARENT: &str = "/pier-bench-pods";

/// The handlers' binaries: `pier` gets a link in `<dir>/bin`, the others are found on
/// `PATH`. A handler whose binary is missing is left out, with the reason.
///
/// The link has a directory of its own because pier protects its binary with a read-only
/// overlayfs of the binary's directory, whose empty second layer goes in the state root
/// (`<dir>/pier-state`): a state root inside the binary's directory rules the overlay out,
/// and pier falls back to a sealed memfd copy of itself, a copy of the whole binary on every
/// command the shim runs (about 100 to 250 ms each here, measured).
pub fn handler(name: &str, setup: &Setup, dir: &Path) -> Result<Handler> {
    match name {
        "pier" => {
            let bin = dir.join("bin");
            std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
            let link = bin.join("pier-runc");
            let out = Command::new(&setup.pier)
                .args(["runtime", "install-link"])
                .arg(&link)
                .output()
                .with_context(|| format!("running {}", setup.pier.display()))?;
            if !out.status.success() {
                bail!(
                    "pier runtime install-link {}: {}",
                    link.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(Handler::new("pier", link))
        }
        tool => {
            let path = crate::cli::launch::on_path(tool, std::env::var_os("PATH").as_deref())
                .with_context(|| format!("{tool} is not installed (not on PATH)"))?;
            Ok(Handler::new(tool, path))
        }
    }
}

/// A running private containerd and the directory it lives in, shared with the Ctrl-C
/// clean-up (whichever comes first drops them: containerd's pods, mounts, bridge and
/// cgroups, then the directory).
pub type Shared = Arc<Mutex<Option<(PrivateContainerd, tempfile::TempDir)>>>;

/// Starts the containerd with `handlers` (names), in a new directory under the cache.
/// Returns it, its endpoint and directory, and the handlers it has, with the reasons of
/// those left out.
pub fn start(setup: &Setup, handlers: &[String]) -> Result<Started> {
    let work = tempfile::Builder::new()
        .prefix("pods-")
        .tempdir_in(&setup.cache)
        .with_context(|| format!("creating a directory in {}", setup.cache.display()))?;
    let dir = work.path().to_path_buf();
    let mut have = Vec::new();
    let mut missing = Vec::new();
    for name in handlers {
        match handler(name, setup, &dir) {
            Ok(h) => have.push(h),
            Err(e) => missing.push(format!("{name}: {e:#}")),
        }
    }
    if have.is_empty() {
        bail!("no runtime handler available: {}", missing.join("; "));
    }
    // The bench's root provides busybox (bootstrapped from the host's if missing) and
    // builds the pause image.
    crate::envs::bundle::busybox(setup)?;
    let root = setup.pier_root();
    let images = private_containerd::pause::image_archives(&dir, &mut |args| {
        let out = Command::new(&setup.pier)
            .arg("--root")
            .arg(&root)
            .args(args)
            .env_remove("PIER_ROOT")
            .output()
            .map_err(|e| format!("running {}: {e}", setup.pier.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    })?;
    let names: Vec<String> = have.iter().map(|h| h.name.clone()).collect();
    let opts = private_containerd::Options {
        config: ConfigOptions::new(have),
        bridge: BRIDGE.into(),
        subnet: subnet()?,
        cgroup_parent: CGROUP_PARENT.into(),
        ready_timeout: Duration::from_secs(60),
    };
    let containerd = PrivateContainerd::start(&dir, &opts, &images)?;
    Ok(Started {
        endpoint: containerd.endpoint().to_string(),
        dir,
        handlers: names,
        missing,
        shared: Arc::new(Mutex::new(Some((containerd, work)))),
    })
}

/// A free /24 for the pods' bridge (its first three octets).
fn subnet() -> Result<String> {
    let net = crate::envs::subnet::free(253, 24)?;
    let [a, b, c, _] = net.addr.octets();
    Ok(format!("{a}.{b}.{c}"))
}

/// What [`start`] gives.
pub struct Started {
    /// `unix://` + the socket.
    pub endpoint: String,
    /// The containerd's directory (pod logs go under it).
    pub dir: PathBuf,
    /// The handlers available, in the order asked.
    pub handlers: Vec<String>,
    /// Those left out, with why.
    pub missing: Vec<String>,
    /// The containerd and its directory, until dropped.
    pub shared: Shared,
}
