//! podman, the Docker-like peer of `pier run` for the whole-path start-up comparison.
//!
//! It runs the same rootfs (imported from the bundle's tar as [`IMAGE`]) with runc as its
//! OCI runtime and the host network, so that the difference with `pier run` is the
//! high-level path (image store, storage driver, conmon, clean-up). The explicit ulimits
//! keep podman from raising them beyond root's hard limits (this root lacks
//! `CAP_SYS_RESOURCE`).
//!
//! Like the OCI peers, podman keeps its images, containers and run-time state under the bench
//! cache (`--root`, `--runroot`, `--tmpdir`), so the user's podman storage is untouched. Two
//! more things podman shares between stores by default are made private too: its container
//! locks (file locks under `--tmpdir` instead of the host-wide `/dev/shm/libpod_lock`
//! segment, through a `containers.conf` of the bench's own, `CONTAINERS_CONF`), and the
//! image-copy cache `podman import` writes to `/var/lib/containers/cache` whatever the root
//! (the import runs in a mount namespace of its own with a throw-away tmpfs there).

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
    _interrupt: crate::interrupt::Registration,
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
            (Some(p), _, Some(tar)) => {
                match write_config(&state).and_then(|()| import(&|| podman(p, &state), tar)) {
                    Ok(()) => Availability::Available,
                    Err(e) => Availability::Unavailable(format!("podman import failed: {e:#}")),
                }
            }
        };
        let home = state.join(OVERLAY_HOME);
        let interrupt =
            crate::interrupt::on_interrupt("podman's storage mount", move || unmount_home(&home));
        Podman {
            binary,
            runc,
            state,
            ready,
            _interrupt: interrupt,
        }
    }
}

/// `podman` with its storage (`storage/`), run-time state (`run/`) and libpod's temporary
/// files (`tmp/`) under `state`.
pub(crate) fn podman(binary: &Path, state: &Path) -> Command {
    let mut c = Command::new(binary);
    // Nothing of the user's registry set-up: the bench's image is local, and a
    // DOCKER_CONFIG naming a directory without config.json makes `podman run` fail.
    c.env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env("CONTAINERS_CONF", state.join(CONFIG))
        .arg("--root")
        .arg(state.join("storage"))
        .arg("--runroot")
        .arg(state.join("run"))
        .arg("--tmpdir")
        .arg(state.join("tmp"));
    c
}

/// The bench's `containers.conf` (in the podman state directory).
const CONFIG: &str = "containers.conf";

/// Where `podman import` (containers/image) keeps its blob-info cache when run as root,
/// whatever `--root` says.
const HOST_IMAGE_CACHE: &str = "/var/lib/containers/cache";

/// The directory of the bench's podman network definitions (CNI), under its state directory.
pub(crate) const NETWORKS: &str = "networks";

/// Writes the bench's `containers.conf`: file locks under `--tmpdir`, network definitions
/// under the state directory (not the host's `/etc/cni/net.d`), nothing host-wide.
fn write_config(state: &Path) -> Result<()> {
    let networks = state.join(NETWORKS);
    std::fs::create_dir_all(&networks)
        .with_context(|| format!("creating {}", networks.display()))?;
    let path = state.join(CONFIG);
    let networks = serde_json::to_string(&networks.to_string_lossy())
        .context("quoting the networks directory")?;
    std::fs::write(
        &path,
        format!("[engine]\nlock_type = \"file\"\n\n[network]\nnetwork_config_dir = {networks}\n"),
    )
    .with_context(|| format!("writing {}", path.display()))
}

fn import(podman: &dyn Fn() -> Command, tar: &Path) -> Result<()> {
    // Drop the previous bench image first so re-runs do not pile up untagged images.
    let _ = podman().args(["rmi", "-f", IMAGE]).output();
    // The host's cache directory (or the nearest existing parent, which podman would
    // otherwise create it in) is covered by a tmpfs in a private mount namespace.
    let cover = Path::new(HOST_IMAGE_CACHE)
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/var/lib"));
    let import = podman();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount -t tmpfs pier-bench-podman \"$0\" && exec \"$@\"")
        .arg(cover)
        .arg(import.get_program())
        .args(import.get_args())
        .args(["import"])
        .arg(tar)
        .arg(IMAGE);
    for (k, v) in import.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c
        .output()
        .context("running podman import (through unshare)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Drop for Podman {
    /// podman's overlay driver bind-mounts its `overlay/` directory onto itself and leaves the
    /// mount behind when a run fails: detach it, so the bench leaves no mount.
    fn drop(&mut self) {
        unmount_home(&self.state.join(OVERLAY_HOME));
    }
}

/// podman's overlay directory, under its state directory.
const OVERLAY_HOME: &str = "storage/overlay";

/// Detaches podman's self bind mount of its overlay directory, if it is there.
fn unmount_home(home: &Path) {
    match umount2(home, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (podman cleaned up); ENOENT: podman never ran.
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => eprintln!("bench: unmounting {}: {e}", home.display()),
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
