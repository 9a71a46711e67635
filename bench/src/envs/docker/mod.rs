//! Docker (Debian's docker.io), the peer most readers would use instead of `pier run`: the
//! whole path (`docker` client, dockerd, containerd, its shim, runc) for start-up, on the
//! host network and on Docker's bridge, and for the bridge and published-port network paths.
//!
//! The dockerd is the bench's own ([`daemon`]): its own socket, data root, exec root and
//! bridge, never the user's Docker, stopped and removed at the end. The image is the bench's
//! (busybox + the payload) as pier saves it (`pier save`'s archive, read by `docker load`),
//! so Docker starts the same files as pier, runc, crun and podman.

pub mod daemon;

use super::{Availability, Environment, NetMode, PayloadRun, Setup, IMAGE, PAYLOAD_IN_CONTAINER};
use anyhow::{bail, Context, Result};
use daemon::{Client, Daemon, CLIENT_TIMEOUT};
use pier_engine::image::ImageStore;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// `docker run --rm` of the bench image through the bench's dockerd.
#[derive(Debug)]
pub struct Docker {
    daemon: Option<Daemon>,
    ready: Availability,
}

impl Docker {
    /// Starts the bench's dockerd and loads the bench image from pier's bench root into it;
    /// unavailable, with the reason, when `ready` is (no image) or dockerd cannot run.
    pub fn new(setup: &Setup, ready: Availability) -> Docker {
        if let Availability::Unavailable(r) = ready {
            return Docker {
                daemon: None,
                ready: Availability::Unavailable(r),
            };
        }
        match start(setup) {
            Ok(d) => Docker {
                daemon: Some(d),
                ready: Availability::Available,
            },
            Err(e) => Docker {
                daemon: None,
                ready: Availability::Unavailable(format!("{e:#}")),
            },
        }
    }

    /// The client of the running daemon.
    pub fn client(&self) -> Result<&Client> {
        match &self.daemon {
            Some(d) => Ok(d.client()),
            None => bail!(
                "Docker is not running: {}",
                self.ready.reason().unwrap_or("not started")
            ),
        }
    }

    /// The daemon, if it runs.
    pub fn daemon(&self) -> Option<&Daemon> {
        self.daemon.as_ref()
    }

    /// `docker run -d --name NAME [flags] IMAGE /pier-payload ARGS` on `net`.
    pub fn run_detached(
        &self,
        name: &str,
        net: NetMode,
        flags: &[String],
        args: &[String],
    ) -> Result<()> {
        let client = self.client()?;
        // A leftover of an interrupted run would hold the name.
        let _ = client.output(&["rm", "-f", name], CLIENT_TIMEOUT);
        let mut a: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
        a.extend(["--network".into(), network(net).into()]);
        a.extend_from_slice(flags);
        a.extend([IMAGE.into(), PAYLOAD_IN_CONTAINER.into()]);
        a.extend_from_slice(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        client
            .output(&a, CLIENT_TIMEOUT)
            .with_context(|| format!("docker run -d {name}"))?;
        Ok(())
    }

    /// A running container's address on the bridge (`docker inspect`).
    pub fn container_ip(&self, name: &str) -> Result<Ipv4Addr> {
        let out = self.client()?.output(
            &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
            CLIENT_TIMEOUT,
        )?;
        out.trim()
            .parse()
            .with_context(|| format!("docker inspect gave no IPv4 address for {name}: {out:?}"))
    }

    /// `docker rm -f NAME`.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.client()?.output(&["rm", "-f", name], CLIENT_TIMEOUT)?;
        Ok(())
    }
}

fn network(net: NetMode) -> &'static str {
    match net {
        NetMode::Host => "host",
        NetMode::Private => "bridge",
    }
}

/// Saves the bench image from pier's bench root (the engine's `pier save`) and starts the
/// daemon with it.
fn start(setup: &Setup) -> Result<Daemon> {
    let archive = setup
        .cache
        .join(format!("docker-image-{}.tar", std::process::id()));
    save_image(&setup.pier_root(), &archive)?;
    let daemon = Daemon::start(&setup.cache, &archive);
    let _ = std::fs::remove_file(&archive);
    daemon
}

fn save_image(root: &Path, archive: &Path) -> Result<()> {
    let store = ImageStore::open(root)
        .with_context(|| format!("opening pier's bench image store {}", root.display()))?;
    let mut f = std::fs::File::create(archive)
        .with_context(|| format!("creating {}", archive.display()))?;
    pier_engine::image::archive::save(&store, &[IMAGE.to_string()], &mut f)
        .with_context(|| format!("pier save {IMAGE}"))
}

impl Environment for Docker {
    fn name(&self) -> String {
        "docker".into()
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
        let mut c = self.client()?.command();
        c.args([
            "run",
            "--rm",
            "--network",
            network(net),
            IMAGE,
            PAYLOAD_IN_CONTAINER,
        ])
        .args(args);
        super::run_timed(c, "docker run", timeout)
    }
}
