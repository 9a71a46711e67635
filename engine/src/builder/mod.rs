//! `pier build`: images from Dockerfiles, as Docker's classic builder makes them.
//!
//! - [`dockerfile`]: parsing (directives, comments, continuations, instructions);
//! - [`expand`]: word splitting and `${VAR}` substitution;
//! - [`context`]: the build context, `.dockerignore`, globs, paths kept inside it;
//! - [`instructions`]: the metadata-only instructions (ENV, CMD, LABEL, ...);
//! - [`copy`]: `COPY`/`ADD` plans, their content hash, writing them as a layer;
//! - [`run`]: `RUN` in a pier container whose writable layer becomes the step's layer;
//! - [`scratch`]: the builder's temporary space and read-only views of images;
//! - [`cache`]: the step cache (key -> image);
//! - [`driver`]: the driver tying them together;
//! - [`commit`]: `pier commit`, an image from a container's writable layer;
//! - [`history`]: `pier history`;
//! - [`interrupt`]: stopping cleanly on Ctrl-C.

pub mod cache;
pub mod commit;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod driver;
pub mod expand;
pub mod history;
pub mod instructions;
pub mod interrupt;
pub mod run;
pub mod scratch;

pub use driver::{build, BuildOptions};
