//! pier's OCI runtime: the runc level.
//!
//! Given an OCI runtime bundle (a root filesystem and a `config.json`), this crate makes the
//! container and runs it: namespaces, the root filesystem and `pivot_root`, cgroups, devices,
//! capabilities, seccomp, hooks, and the OCI state. It knows nothing of images, networks or
//! `pier run`'s flags: that is `pier-engine`, the crate above, and Cargo forbids this one to
//! depend on it.
//!
//! Imports run one way, from the top of this list to the bottom:
//! - [`container`]: the lifecycle, one file per operation (create, start, kill, delete, ...);
//! - [`process`]: the container's processes (the `clone`, the init, `exec`);
//! - [`hooks`], [`state`]: the config's lifecycle hooks and the OCI state they are given;
//! - [`rootfs`], [`mounts`], [`devices`], [`namespaces`], [`cgroups`], [`security`]: one
//!   kernel mechanism each;
//! - [`netlink`], [`netns`], [`loopback`]: the network pieces a runtime needs (moving
//!   interfaces, persistent network namespaces, bringing up `lo`);
//! - [`persist`], [`trace`]: atomic state files and locks, start-up timing.
//!
//! What is `pub` is what `pier-engine`, the `pier runtime` commands, the bench and the labs use.

pub mod cgroups;
pub mod container;
pub mod devices;
pub mod error;
pub mod hooks;
pub mod loopback;
pub mod mounts;
pub mod namespaces;
pub mod netlink;
pub mod netns;
pub mod persist;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod state;
pub mod trace;
