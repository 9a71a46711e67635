//! podman, the Docker-like peer of `pier run` for the whole-path start-up comparison.
//!
//! It runs the same rootfs (imported from the bundle's tar as [`IMAGE`]) with runc as its
//! OCI runtime and the host network, so that the difference with `pier run` is the
//! high-level path (image store, storage driver, conmon, clean-up). The explicit ulimits
//! keep podman from raising them beyond root's hard limits (this root lacks
//! `CAP_SYS_RESOURCE`).
//!
//! Like the OCI peers, podman keeps its images, containers and run-time state under the bench
//! cache (`--root`, `--runroot`, `--tmpdir`), so the user's podman storage is untouched.

use super::{
    find_tool, Availability, Environment, NetMode, PayloadRun, Setup, IMAGE, PAYLOAD_IN_CONTAINER,
};
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `podman run --rm` of the bench image.
#[derive(Debug)]
pub struct Podman {
    binary: Option<PathBuf>,
    runc: Option<PathBuf>,
    state: PathBuf,
    ready: Availability,
}

impl Podman {
    /// podman from PATH with runc as its runtime and its storage under `<cache>/podman`;
    /// imports `rootfs_tar` as [`IMAGE`] (unavailable, with the reason, if podman or runc is
    /// missing or the import fails).
    pub fn new(setup: &Setup, rootfs_tar: Option<&Path>) -> Podman {
        let binary = find_tool("podman");
        let runc = find_tool("runc");
        let state = setup.cache.join("podman");
        let ready = match (&binary, &runc, rootfs_tar) {
            (None, _, _) => Availability::Unavailable(
                "podman is not installed (scripts/setup.sh installs it)".into(),
            ),
            (_, None, _) => {
                Availability::Unavailable("runc (podman's runtime here) is not installed".into())
            }
            (_, _, None) => {
                Availability::Unavailable("the bench rootfs could not be prepared".into())
            }
            (Some(p), _, Some(tar)) => match import(&|| podman(p, &state), tar) {
                Ok(()) => Availability::Available,
                Err(e) => Availability::Unavailable(format!("podman import failed: {e:#}")),
            },
        };
        Podman {
            binary,
            runc,
            state,
            ready,
        }
    }
}

/// `podman` with its storage (`storage/`), run-time state (`run/`) and libpod's temporary
/// files (`tmp/`) under `state`.
fn podman(binary: &Path, state: &Path) -> Command {
    let mut c = Command::new(binary);
    c.arg("--root")
        .arg(state.join("storage"))
        .arg("--runroot")
        .arg(state.join("run"))
        .arg("--tmpdir")
        .arg(state.join("tmp"));
    c
}

fn import(podman: &dyn Fn() -> Command, tar: &Path) -> Result<()> {
    // Drop the previous bench image first so re-runs do not pile up untagged images.
    let _ = podman().args(["rmi", "-f", IMAGE]).output();
    let out = podman()
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

impl Drop for Podman {
    /// podman's overlay driver bind-mounts its `overlay/` directory onto itself and leaves the
    /// mount behind when a run fails: detach it, so the bench leaves no mount.
    fn drop(&mut self) {
        let home = self.state.join("storage/overlay");
        match umount2(&home, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (podman cleaned up); ENOENT: podman never ran.
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => eprintln!("bench: unmounting {}: {e}", home.display()),
        }
    }
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
        let (Some(binary), Some(runc)) = (&self.binary, &self.runc) else {
            bail!("podman or runc missing");
        };
        let mut c = podman(binary, &self.state);
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
