//! What the bench's root tests share: where the artefacts they run are built.

use pier_testkit::prereq;
use std::path::{Path, PathBuf};

/// Cargo's target directory of this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

/// The static payload (containers and VMs need it: it runs on any root filesystem), or why
/// there is none.
pub fn static_payload() -> Result<PathBuf, String> {
    prereq::file(
        target_dir()
            .join(pier_bench::payload::TARGET)
            .join("release/pier-payload"),
    )
}

/// The built `pier` binary (debug, else release), or why there is none.
pub fn pier_binary() -> Result<PathBuf, String> {
    ["debug", "release"]
        .iter()
        .map(|p| target_dir().join(p).join("pier"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no pier in {}/{{debug,release}}", target_dir().display()))
}
