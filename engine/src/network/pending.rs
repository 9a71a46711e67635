//! A container's network tear-down, off the path the user waits on.
//!
//! Deleting a veth makes the kernel wait for RCU grace periods (several milliseconds, the
//! largest cost of a `pier run --rm` on a bridge). So when a container exits, pier only
//! drops its network namespace (unmounts its pin: the kernel then destroys the namespace in
//! the background, and with it both ends of the veth pair) and leaves a marker
//! `<root>/networks/pending/<container id>` ([`defer`]). The exit is reported at once.
//!
//! The next pier command settles the markers ([`NetworkManager::settle`]) before it does
//! anything else (`Engine::settle_network_teardown`), and so does anything that opens the
//! network state (connecting a new container): it waits, bounded, until the container's
//! veths are gone, then releases its leases, published-port rules and hosts entries
//! (deleting a veth the kernel has not removed in time), and removes the marker. So the next
//! command finds nothing left, and a new container never gets an address whose old veth
//! still hangs on the bridge. Only a command that launches a container without a network
//! (`--network host`, `none`) does not wait.

use super::NetworkManager;
use anyhow::{Context, Result};
use pier_oci::netns;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long settling waits for the kernel to remove a dead namespace's veths before deleting
/// them itself.
const KERNEL_GRACE: Duration = Duration::from_secs(2);

/// The marker directory under pier's root.
fn dir(root: &Path) -> PathBuf {
    root.join("networks").join("pending")
}

/// At a container's exit: marks its network for tear-down and drops its namespace (`netns`,
/// pinned by [`netns::create`]). The marker is written first, so a crash in between leaves
/// a marker, never an unrecorded leftover.
pub fn defer(root: &Path, container_id: &str, netns_path: &Path) -> Result<()> {
    super::validate_container_id(container_id)?;
    let dir = dir(root);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let marker = dir.join(container_id);
    fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    netns::remove(netns_path)
}

/// Whether any container's network waits to be settled (one `readdir`: cheap enough for every
/// command).
pub fn any(root: &Path) -> bool {
    fs::read_dir(dir(root)).is_ok_and(|mut d| d.next().is_some())
}

impl NetworkManager {
    /// Completes every deferred tear-down (see the module comment). Idempotent and safe to
    /// run from several pier processes at once.
    pub fn settle(&self) -> Result<()> {
        let dir = self.dir.join("pending");
        let ids: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|id| super::validate_container_id(id).is_ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for id in ids {
            let veths: Vec<String> = self
                .endpoints(&id)?
                .into_iter()
                .map(|e| e.host_veth)
                .collect();
            let deadline = Instant::now() + KERNEL_GRACE;
            while veths.iter().any(|v| veth_exists(v)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.release_container(&id)?;
            match fs::remove_file(dir.join(&id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing marker {id}")),
            }
        }
        Ok(())
    }
}

/// Whether interface `name` exists in this network namespace.
fn veth_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}
