//! pier's image store: OCI images kept as content-addressed blobs plus unpacked layers,
//! mounted as overlayfs root filesystems.
//!
//! - [`reference`]: `name[:tag]` parsing and validation;
//! - [`store`]: the store itself ([`ImageStore`]): its index, import, resolve, tag, remove,
//!   commit;
//! - [`layer`]: safe extraction of (possibly hostile) layer tars;
//! - [`layer_devices`]: device nodes in image layers (made by root, as Docker does);
//! - [`layer_build`]: reproducible layer tars from directories;
//! - [`bootstrap`]: `busybox:latest` from the host's static busybox;
//! - [`overlay`]: mounting layers as a container root filesystem;
//! - [`archive`]: `pier save` / `pier load` (OCI image layout and `docker save` tars);
//! - [`registry`]: `pier push` / `pier pull` (OCI distribution API client);
//! - [`export`]: a container's merged filesystem as a tar (`pier export`);
//! - [`media_type`]: the OCI and Docker media types pier accepts;
//! - [`digest`]: hashing (dates are [`pier_oci::time`]).

pub mod archive;
pub mod bootstrap;
pub mod digest;
pub mod export;
pub mod layer;
pub mod layer_build;
pub mod layer_devices;
pub mod media_type;
pub mod overlay;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod store;

pub use overlay::{mount_overlay, unmount};
pub use reference::Reference;
pub use store::{DiskUsage, Image, ImageStore};
