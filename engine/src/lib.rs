//! pier's container engine: containers as Docker users know them, on [`pier_oci`].
//!
//! The engine turns an image plus `pier run`'s flags into an OCI runtime bundle (a rootfs and a
//! `config.json` built by [`container::spec`]) and hands it to `pier-oci`, which executes it.
//! Data flows one way: engine -> (image store, network, low-level container) -> kernel.
//!
//! - [`container`]: pier's containers ([`Engine`]): create, start, stop, exec, logs, inspect,
//!   one file per operation;
//! - [`image`]: the image store, layers, registries, `save`/`load`;
//! - [`builder`]: `pier build` (Dockerfiles) and `pier commit`;
//! - [`network`]: bridge networks, veth pairs, NAT and published ports;
//! - [`volume`]: named volumes;
//! - [`compose`]: `pier compose`, several containers as one application;
//! - [`naming`], [`units`], [`disk_usage`], [`tree_copy`]: names, sizes, `system df`, `cp`;
//! - [`elf`], [`glob`]: reading executables (is a binary static, which loader it asks for),
//!   glob patterns in linear time (`.dockerignore`, `COPY` sources, `reference=` filters).

pub mod builder;
pub mod capped_read;
pub mod compose;
pub mod container;
pub mod disk_usage;
pub mod elf;
pub mod glob;
pub mod image;
pub mod naming;
pub mod network;
pub mod tree_copy;
pub mod units;
pub mod volume;

pub use container::{Engine, DEFAULT_ROOT};
