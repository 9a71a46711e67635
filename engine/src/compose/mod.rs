//! `pier compose`: several containers as one application, described in a compose file, run on
//! pier's own engine with no daemon.
//!
//! Reading the file is a pipeline, one file each: [`file`] finds and parses the YAML (syntax
//! errors with their line, unknown keys as warnings; [`nesting`] refuses a file nested
//! absurdly deep before the parser spends quadratic time on it), [`interpolate`] substitutes `${VAR}`s,
//! [`merge`] lays several files (`-f a -f b`, an override file) over each other,
//! [`model`] holds the serde types, [`service`] turns each service into the engine's
//! [`crate::container::config::RunConfig`], [`plan`] orders services by `depends_on`, and
//! [`project`] ties them together with the project's name, networks and volumes.
//!
//! Acting on it uses the engine as a library: [`up`] (networks, volumes, builds, containers in
//! dependency order, recreated only when their configuration hash changed), [`down`] (and
//! start/stop/restart), [`wait`] (depends_on conditions), [`logs`] (every container's log,
//! prefixed per service). Compose finds its containers again by their labels ([`labels`]),
//! as Docker Compose does, so no state of its own is kept.

pub mod containers;
pub mod down;
pub mod file;
pub mod interpolate;
pub mod labels;
pub mod logs;
pub mod merge;
pub mod model;
pub mod nesting;
pub mod plan;
pub mod project;
pub mod service;
pub mod up;
pub mod wait;

pub use containers::Compose;
pub use project::{Project, ProjectOptions};
