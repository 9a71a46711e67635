//! The low level: executes an OCI runtime bundle, as runc/crun do.
//!
//! One file per operation, following the OCI runtime lifecycle:
//! [`create`] (namespaces, cgroup, rootfs; the process waits before the user's command),
//! [`start`] (the command runs), [`kill`], [`wait`], [`delete`]; [`state`] is the OCI state
//! file every operation reads or writes.

pub mod create;
pub mod delete;
pub mod kill;
pub mod start;
pub mod state;
pub mod wait;

pub use create::{create, CreateOptions, Created};
pub use start::StartError;
pub use state::{OciState, Status};
pub use wait::{wait_for_exit, ExitInfo};
