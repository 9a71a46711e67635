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
//! - [`process`]: the container's processes (the `clone`, the init, `exec`, the console);
//! - `hooks`, `state`, [`error`]: the config's lifecycle hooks, the OCI state they are given
//!   ([`container::OciState`]), the named errors of the public API ([`Error`]);
//! - [`rootfs`], `mounts`, [`devices`], [`namespaces`], [`cgroups`], [`security`]: one
//!   kernel mechanism each;
//! - [`netlink`], [`netns`], `loopback`: the network pieces a runtime needs (moving
//!   interfaces, persistent network namespaces, bringing up `lo`);
//! - [`persist`], [`atomic_file`], [`time`], [`trace`]: state files and locks, replacing a
//!   file all at once, RFC 3339 timestamps, start-up timing.
//!
//! # The public API
//!
//! The lifecycle, in the shape of youki's `ContainerBuilder`, libcrun's
//! `libcrun_container_create/start/state/kill/delete` and runc's commands, is [`container`]:
//! - [`container::ContainerBuilder`] makes a container from a bundle, one call per flag of
//!   runc's `create` (`new(id).with_root(..).with_pid_file(..).with_console_socket(..)
//!   .with_preserved_fds(..).as_init(bundle).build()`), and returns it
//!   [`container::Created`], its command waiting; [`container::Created::start`] lets the
//!   command run;
//! - [`container::Container`] finds a container again by ID (`load`, `list`) for `state`,
//!   `kill` ([`container::kill`]), `pause`/`resume`, `exec`, `update`, `delete`
//!   ([`container::delete`]); [`container::wait_for_exit`] reaps it into an
//!   [`container::ExitInfo`];
//! - [`container::update_resources`] changes a container's limits, its cgroup and its config
//!   (`pier update` and `pier runtime update` both);
//! - the OCI state ([`container::OciState`], [`container::StateFile`],
//!   [`container::Status`]);
//! - [`Error`], what these functions return: named kinds callers match on
//!   ([`Error::NotExist`], [`Error::NotRunning`], [`Error::InvalidConfig`], ...), among them
//!   [`Error::Start`], which carries Docker's exit code (125, 126, 127) for a command that
//!   could not run.
//!
//! Public too, because `pier-engine` (or the `pier runtime` commands, the bench, the labs) does
//! with them what runc leaves to whoever calls it: [`cgroups::Cgroup`] (`pier update`,
//! `pier stats`, freezing), [`netlink`] and [`netns`] (bridge networks and veth pairs),
//! [`rootfs::secure_join`] and [`security::in_root`] (`pier cp` without following the
//! container's symlinks), [`namespaces::enter_private_mount_namespace`], [`process::exec`]
//! and [`process::sync`] (`pier exec`, the engine's monitor), the defaults a bundle is built
//! from ([`security::caps`], [`security::seccomp`], [`security::paths`],
//! [`devices::default_cgroup_rules`]), [`security::sealed_exe`] and [`security::report`]
//! (re-executing sealed, `pier system info`), [`persist`] (atomic JSON files, locks),
//! [`atomic_file`] (any file replaced all at once: the image store, saved credentials,
//! `pier save -o`), [`time`] (RFC 3339 timestamps, for every crate above) and [`trace`]
//! (`PIER_TRACE`). These mechanisms report failures as context-rich `anyhow` errors.
//! Everything else is `pub(crate)`: free to change without touching a caller.

#![warn(missing_docs)]

pub use error::{Error, Operation, Result};

pub mod atomic_file;
pub mod cgroups;
pub mod container;
pub mod devices;
pub mod error;
pub(crate) mod hooks;
pub(crate) mod loopback;
pub mod mount_into;
pub(crate) mod mounts;
pub mod namespaces;
pub mod netlink;
pub mod netns;
pub mod persist;
pub mod process;
pub mod rootfs;
pub mod security;
pub(crate) mod state;
pub mod time;
pub mod trace;
