//! Named volumes: directories pier manages under its state root that outlive containers, as
//! Docker's `local` volume driver.
//!
//! A volume is `<root>/volumes/<name>/_data` (what containers see, bind-mounted) beside
//! `volume.json` (its labels and creation time). [`store`] keeps them; [`copy_up`] fills an
//! empty one with the image's files at the path it is mounted on, the first time. Which
//! container uses which volume is the engine's knowledge (its records), so refusing to remove a
//! volume in use, `rm -v` and `prune` live in the engine, which uses this module as a library.

pub mod copy_up;
pub mod store;

pub use store::{Volume, VolumeStore};

/// The label Docker (23.0 and later) puts on anonymous volumes: `volume prune` without `-a`
/// removes only those.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Checks a volume name: Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    crate::naming::check("volume", name, 2, 255)
}
