//! podman, the Docker-like peer of `pier run` for the whole-path start-up comparison.
//!
//! It runs the same rootfs (imported from the bundle's tar as [`IMAGE`]) with runc as its
//! OCI runtime and the host network, so that the difference with `pier run` is the
//! high-level path (image store, storage driver, conmon, clean-up). The explicit ulimits
//! keep podman from raising them beyond root's hard limits (this root lacks
//! `CAP_SYS_RESOURCE`).

use super::{
    find_tool, Availability, Environment, NetMode, PayloadRun, IMAGE, PAYLOAD_IN_CONTAINER,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `podman run --rm` of the bench image.
#[derive(Debug, Clone)]
pub struct Podman {
    binary: Option<PathBuf>,
    runc: Option<PathBuf>,
    ready: Availability,
}

impl Podman {
    /// podman from PATH with runc as its runtime; imports `rootfs_tar` as [`IMAGE`]
    /// (unavailable, with the reason, if podman or runc is missing or the import fails).
    pub fn new(rootfs_tar: Option<&Path>) -> Podman {
        let binary = find_tool("podman");
        let runc = find_tool("runc");
        let ready = match (&binary, &runc, rootfs_tar) {
            (None, _, _) => Availability::Unavailable(
                "podman is not installed (scripts/setup.sh bench installs it)".into(),
            ),
            (_, None, _) => {
                Availability::Unavailable("runc (podman's runtime here) is not installed".into())
            }
            (_, _, None) => {
                Availability::Unavailable("the bench rootfs could not be prepared".into())
            }
            (Some(p), _, Some(tar)) => match import(p, tar) {
                Ok(()) => Availability::Available,
                Err(e) => Availability::Unavailable(format!("podman import failed: {e:#}")),
            },
        };
        Podman {
            binary,
            runc,
            ready,
        }
    }
}

fn import(podman: &Path, tar: &Path) -> Result<()> {
    // Drop the previous bench image first so re-runs do not pile up untagged images.
    let _ = Command::new(podman).args(["rmi", "-f", IMAGE]).output();
    let out = Command::new(podman)
        .arg("import")
        .arg(tar)
        .arg(IMAGE)
        .output()
        .context("running podman import")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Environment for Podman {
    fn name(&self) -> String {
        "podman".into()
    }

    fn variant(&self) -> String {
        "run".into()
    }

    fn availability(&self) -> Availability {
        self.ready.clone()
    }

    fn run_payload(
        &mut self,
        args: &[String],
        net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        let (Some(podman), Some(runc)) = (&self.binary, &self.runc) else {
            bail!("podman or runc missing");
        };
        let mut c = Command::new(podman);
        c.args(["run", "--rm", "--runtime"])
            .arg(runc)
            .args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=32768:32768",
            ])
            .arg("--network")
            .arg(match net {
                NetMode::Host => "host",
                NetMode::Private => "bridge",
            })
            .arg(IMAGE)
            .arg(PAYLOAD_IN_CONTAINER)
            .args(args);
        super::run_timed(c, "podman run", timeout)
    }
}
