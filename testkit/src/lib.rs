//! Helpers shared by the test suites of every crate of the workspace: the root end-to-end
//! tests, pier-oci's and pier-engine's unit and integration tests, and pier-bench's tests.
//!
//! It depends on nothing (not even pier-oci), so that any crate, the runtime included,
//! can take it as a dev-dependency without an import cycle.

pub mod prereq;
pub mod time;
