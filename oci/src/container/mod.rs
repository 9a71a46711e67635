//! The low level: executes an OCI runtime bundle, as runc/crun do.
//!
//! One file per operation, following the OCI runtime lifecycle:
//! [`builder`] ([`ContainerBuilder`], the one way in: state directory, config, pid file,
//! terminal), which runs `create` (namespaces, cgroup, rootfs; the process waits before the
//! user's command), [`start`] (the command runs), [`kill`], [`wait`], [`delete`], [`pause`],
//! [`update`] (new resource limits, the one path `pier update` and `pier runtime update`
//! share); [`StateFile`] (`state.rs`, below this module) is the OCI state file every
//! operation reads or writes, [`handle`] finds a container again by its ID. `hooks.rs` runs
//! the config's lifecycle hooks, `process/console.rs` hands a terminal to a manager, `events`
//! reports resource use as runc does.

pub mod builder;
pub(crate) mod create;
pub mod delete;
pub(crate) mod events;
pub mod exec;
pub mod features;
pub mod handle;
pub mod kill;
pub(crate) mod net_devices;
pub mod pause;
pub(crate) mod pid_file;
pub mod start;
pub(crate) mod unsupported;
pub mod update;
pub(crate) mod validate;
pub mod wait;

pub use crate::state::{OciState, StateFile, Status};
pub use builder::{ContainerBuilder, InitContainerBuilder};
pub use create::Created;
pub use handle::{validate_id, Container};
pub use pid_file::write_pid_file;
pub use update::update_resources;
pub use wait::{wait_for_exit, ExitInfo};
