//! Device nodes in image layers, by Docker's policy.
//!
//! Images carry device nodes (Debian's base tarball has `/dev/null`, `/dev/tty`, ...).
//! Docker and containerd, as root, create them when they unpack a layer: a node in a
//! layer is harmless by itself, because what a container may open is decided by its
//! device cgroup (pier's `devices` controller on cgroup v1, its eBPF program on v2), not
//! by the nodes its filesystem holds; and the store's layers are under a 0700 directory
//! no host user can reach. pier does the same:
//!
//! - root in the initial user namespace: character and block devices (and FIFOs, always)
//!   are created with `mknodat` relative to the open directory of the entry's parent (the
//!   name is one component; nothing is path-joined or followed), then owned, timed and
//!   given their mode like any entry;
//! - in a user namespace (mknod of a device is refused there), or where mknod is refused
//!   anyway (no `CAP_MKNOD`, a seccomp filter): the node is skipped and its path recorded,
//!   so the pull warns once naming them.
//!
//! Only image layers (`pull`, `load`, `import`) get this policy; other archives pier
//! unpacks (`COPY`/`ADD` of a tar, an upload into a container) skip device nodes.

use super::store::{Image, ImageStore};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::stat::{fchmodat, makedev, mknodat, FchmodatFlags, Mode, SFlag};
use oci_spec::image::ImageManifest;
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;

/// What an extraction does with character and block device entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceNodes {
    /// Create them (root in the initial user namespace).
    Create,
    /// Skip them, recording their paths.
    Skip,
}

impl DeviceNodes {
    /// The policy for image layers in this process: [`DeviceNodes::Create`] when pier is
    /// root in the initial user namespace, else [`DeviceNodes::Skip`].
    pub fn for_image_layers() -> DeviceNodes {
        if nix::unistd::geteuid().is_root() && in_initial_user_namespace() {
            DeviceNodes::Create
        } else {
            DeviceNodes::Skip
        }
    }
}

/// Why device nodes were not created, for the warning that names them.
pub const SKIPPED_WHY: &str =
    "device nodes are created only by root outside a user namespace, with CAP_MKNOD";

/// Whether this process is in the initial user namespace: its uid map is the identity
/// over all 2^32 - 1 ids (a user namespace maps fewer).
fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
        let fields: Vec<&str> = map.split_whitespace().collect();
        fields == ["0", "0", "4294967295"]
    })
}

/// A character or block device entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceEntry {
    /// `S_IFCHR` or `S_IFBLK`.
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
}

/// Makes the device node `name` in the directory `parent` (which the caller opened
/// without following links, and where no entry `name` is left), mode 0 until its owner
/// and then [`set_node_mode`] are applied. `Ok(false)` if the kernel refuses (EPERM: not
/// permitted here), so the caller records it as skipped.
pub(crate) fn make_device(parent: BorrowedFd<'_>, name: &OsStr, dev: DeviceEntry) -> Result<bool> {
    match mknodat(
        parent,
        name,
        dev.kind,
        Mode::empty(),
        makedev(dev.major, dev.minor),
    ) {
        Err(Errno::EPERM) => return Ok(false),
        r => r.context("creating device node (mknodat)")?,
    }
    Ok(true)
}

/// Sets a node's mode after its owner (chown clears set-id bits), without opening it.
pub(crate) fn set_node_mode(parent: BorrowedFd<'_>, name: &OsStr, mode: Mode) -> Result<()> {
    // The node was just made in a directory only root can write: nothing replaced it with
    // a link since (and Linux's fchmodat cannot refuse to follow one).
    fchmodat(parent, name, mode, FchmodatFlags::FollowSymlink).context("fchmodat")
}

/// Device nodes named at most in the warning (Debian's base layer alone has a dozen).
const NAMED_AT_MOST: usize = 8;

/// The one warning a pull prints when layers it unpacked (`fetched`, by blob digest)
/// lack device nodes: how many, naming the first few. `None` if every node was made.
pub fn skipped_warning(
    store: &ImageStore,
    image: &Image,
    manifest: &ImageManifest,
    fetched: &[String],
) -> Result<Option<String>> {
    let mut paths = Vec::new();
    let diff_ids = image.config.rootfs().diff_ids();
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        if fetched.iter().any(|d| d == layer.digest().as_ref()) {
            paths.extend(store.skipped_devices(diff_id)?);
        }
    }
    if paths.is_empty() {
        return Ok(None);
    }
    let mut named = paths[..paths.len().min(NAMED_AT_MOST)].join(", ");
    if paths.len() > NAMED_AT_MOST {
        named.push_str(&format!(" and {} more", paths.len() - NAMED_AT_MOST));
    }
    Ok(Some(format!(
        "warning: {} device node(s) of the image not created ({SKIPPED_WHY}): {named}",
        paths.len()
    )))
}
