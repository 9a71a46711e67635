//! The low level: executes an OCI runtime bundle, as runc/crun do.
//!
//! One file per operation, following the OCI runtime lifecycle:
//! [`create`] (namespaces, cgroup, rootfs; the process waits before the user's command),
//! [`start`] (the command runs), [`kill`], [`wait`], [`delete`], [`pause`]; [`crate::state`] is
//! the OCI state file every operation reads or writes, [`handle`] finds a container again by
//! its ID. [`crate::hooks`] runs the config's lifecycle hooks, [`crate::process::console`] hands a
//! terminal to a manager, [`events`] reports resource use as runc does.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod handle;
pub mod kill;
pub mod net_devices;
pub mod pause;
pub mod start;
pub mod unsupported;
pub mod wait;

pub use crate::error::StartError;
pub use crate::state::{OciState, StateFile, Status};
pub use create::{create, CreateOptions, Created};
pub use handle::{validate_id, Container};
pub use wait::{wait_for_exit, ExitInfo};
