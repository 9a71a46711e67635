//! A private containerd with its CRI plugin, for the tests that speak CRI as kubelet does
//! and for the bench's pod start-up suite: Debian's containerd with its configuration, root,
//! state and socket under a directory the caller owns; the runtime handlers the caller
//! names (the runc shim with each handler's binary as its runc); CNI from Debian's
//! containernetworking-plugins (bridge + host-local + loopback + portmap) with its own
//! bridge and subnet; the pause image built here ([`pause`]) and pier's busybox imported as
//! [`BUSYBOX`]. Nothing comes from the network.
//!
//! On drop: every pod is stopped and removed through CRI (so that CNI tears the networks
//! down), containerd is stopped, and what a pod could leave on the host is removed (mounts
//! under the directory, the bridge, the portmap plugin's iptables chains if it made them,
//! the cgroup parent, containerd's shim directories under /run/containerd).

pub mod cleanup;
pub mod config;
pub mod pause;

pub use cleanup::{ShimDirs, SHIM_DIRS};
pub use config::{cni_conflist, config_toml, ConfigOptions, Handler};

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sandbox image's name (containerd's `sandbox_image`).
pub const PAUSE_IMAGE: &str = "localhost/pier-pause:1";

/// The busybox image as CRI names it (kubelet's normalised reference).
pub const BUSYBOX: &str = "docker.io/library/busybox:latest";

/// How long one `ctr` command may take (an image import on a busy machine).
const CTR_TIMEOUT: Duration = Duration::from_secs(120);

/// What a private containerd is made of, besides its directory.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration's variable parts (handlers, sandbox image, ...).
    pub config: ConfigOptions,
    /// The CNI bridge's name (at most 15 bytes).
    pub bridge: String,
    /// The pods' subnet, its first three octets (`10.217.21`).
    pub subnet: String,
    /// The cgroup parent its pods are put under (a path under every hierarchy's root),
    /// removed on drop.
    pub cgroup_parent: String,
    /// How long containerd may take to answer after it is started.
    pub ready_timeout: Duration,
}

/// A running private containerd; see the module's documentation.
pub struct PrivateContainerd {
    dir: PathBuf,
    endpoint: String,
    bridge: String,
    cgroup_parent: String,
    child: Option<Child>,
    _shim_dirs: ShimDirs,
}

impl PrivateContainerd {
    /// Writes the configuration and network list into `dir` (an existing directory the
    /// caller owns and removes after this is dropped), starts containerd, waits until it
    /// answers, and imports the OCI archives `images` (those of [`pause::image_archives`]).
    /// On an error, what was started is stopped again.
    pub fn start(
        dir: &Path,
        opts: &Options,
        images: &[PathBuf],
    ) -> Result<PrivateContainerd, Error> {
        let io = |what: String| move |e: std::io::Error| Error::setup(&what, e.to_string());
        cleanup::enter();
        // From here on, a failure drops `me`, which undoes what was done.
        let mut me = PrivateContainerd {
            dir: dir.to_path_buf(),
            endpoint: format!("unix://{}", dir.join("containerd.sock").display()),
            bridge: opts.bridge.clone(),
            cgroup_parent: opts.cgroup_parent.clone(),
            child: None,
            _shim_dirs: ShimDirs::note(),
        };
        let cni = dir.join("cni");
        std::fs::create_dir_all(&cni).map_err(io(format!("creating {}", cni.display())))?;
        let conflist = cni.join("10-pier.conflist");
        std::fs::write(&conflist, cni_conflist(dir, &opts.bridge, &opts.subnet))
            .map_err(io(format!("writing {}", conflist.display())))?;
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml(dir, &opts.config))
            .map_err(io(format!("writing {}", config.display())))?;
        let log = me.log_path();
        let out = std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io("duplicating the log file".into()))?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io("starting containerd".into()))?;
        me.child = Some(child);
        me.wait_ready(opts.ready_timeout)?;
        for archive in images {
            me.ctr(&["images", "import", &archive.to_string_lossy()])?;
        }
        // ctr names an import by its archive's short name (`busybox:latest`); the CRI
        // plugin looks images up by their full reference, as kubelet normalises them.
        me.ctr(&["images", "tag", "busybox:latest", BUSYBOX])?;
        Ok(me)
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `unix://` + its socket.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its log file (containerd's stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }

    /// containerd's log so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A CRI client connected to it.
    pub fn client(&self) -> Result<crate::Client, Error> {
        crate::Client::connect(&self.endpoint)
    }

    /// Polls `ctr version` until containerd answers, for up to `timeout`.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.ctr(&["version"]).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(Error::setup(
                    &format!("containerd exited ({status}) while starting"),
                    self.log_tail(),
                ));
            }
            if Instant::now() > deadline {
                return Err(Error::setup(
                    &format!("containerd not ready after {timeout:?}"),
                    self.log_tail(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of its log, on one line.
    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    /// Runs `ctr ARGS` in the `k8s.io` namespace (the CRI plugin's) against this containerd.
    pub fn ctr(&self, args: &[&str]) -> Result<String, Error> {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(["-n", "k8s.io"])
            .args(args)
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE");
        let what = format!("ctr {}", args.join(" "));
        let out = output_within(&mut c, CTR_TIMEOUT).map_err(|e| Error::setup(&what, e))?;
        if !out.status.success() {
            return Err(Error::setup(
                &what,
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Pods first, through CRI, so that CNI tears their networks down.
            if let Ok(mut c) = crate::Client::connect(&self.endpoint) {
                for pod in c.pods().unwrap_or_default() {
                    let _ = c.stop_pod(&pod.id);
                    let _ = c.remove_pod(&pod.id);
                }
            }
            stop(&mut child);
        }
        // Whatever a failed run left: mounts (rootfs, shm, netns), the bridge, cgroups.
        cleanup::unmount_under(&self.dir);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        cleanup::remove_cgroup_tree(&self.cgroup_parent);
        cleanup::leave();
    }
}

/// SIGTERM, then SIGKILL if it is still there after 20 s.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `c` to its end with its output captured; kills it after `timeout`.
fn output_within(c: &mut Command, timeout: Duration) -> Result<std::process::Output, String> {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| e.to_string()),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {timeout:?}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
