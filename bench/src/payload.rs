//! Building the `pier-payload` crate (`bench/payload/`) as a static executable.
//!
//! No musl target is available, so the payload links glibc statically
//! (`-C target-feature=+crt-static`). The explicit `--target` keeps those RUSTFLAGS away from
//! build scripts and proc macros, which must stay dynamic. `bench/build-payload.sh` does the
//! same from a shell. Only the payload crate and its small dependencies are compiled, not the
//! harness.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple the static payload is built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds the static payload in `workspace_root` (the directory holding the workspace
/// `Cargo.toml`) and returns the path of the binary. Honours `CARGO_TARGET_DIR`.
pub fn build_static(workspace_root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "--release",
            "-p",
            "pier-payload",
            "--bin",
            "pier-payload",
        ])
        .args(["--target", TARGET])
        .status()
        .with_context(|| format!("running cargo build in {}", workspace_root.display()))?;
    if !status.success() {
        bail!("cargo build of the static pier-payload failed: {status}");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("target"));
    let bin = target_dir.join(TARGET).join("release").join("pier-payload");
    if !bin.is_file() {
        bail!("cargo succeeded but {} is missing", bin.display());
    }
    Ok(bin)
}

/// Whether the ELF file at `path` has no program interpreter (`PT_INTERP`), i.e. is static.
pub fn is_static_elf(path: &Path) -> Result<bool> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    pier_engine::elf::is_static(&data).with_context(|| path.display().to_string())
}
