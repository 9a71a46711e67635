//! pier's container engine.
//!
//! Two layers, as Docker/Podman over runc/crun:
//! - the **high level** ([`engine`]) turns an image plus `pier run` flags into an OCI runtime
//!   bundle (a rootfs and a `config.json` built by [`spec`]);
//! - the **low level** ([`container`], [`process`]) executes any such bundle: namespaces,
//!   rootfs, cgroups, capabilities, seccomp, exec.
//!
//! Data flows one way: engine -> (image store, network, low-level container) -> kernel.

pub mod build;
pub mod cgroups;
pub mod compose;
pub mod container;
pub mod devices;
pub mod disk_usage;
pub mod engine;
pub mod image;
pub mod loopback;
pub mod mount_attr;
pub mod mount_options;
pub mod namespaces;
pub mod naming;
pub mod network;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
pub mod trace;
pub mod tree_copy;
pub mod units;
pub mod volume;
