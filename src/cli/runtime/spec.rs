//! `features` and `spec`: documents about the runtime and a starter config; `install-link`,
//! the runc entry point's name on disk.

use super::args::SpecArgs;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// `features`.
pub fn features() -> Result<i32> {
    let doc = pier_oci::container::features::document();
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}

/// `spec`: writes the runtime-spec's example config (`sh` in `rootfs/`, with a terminal),
/// or with `--rootless` one with a user namespace mapping the caller's IDs.
pub fn spec(a: &SpecArgs) -> Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let mut spec = if a.rootless {
        oci_spec::runtime::Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        oci_spec::runtime::Spec::default()
    };
    // oci-spec's example names its own runtime (youki), as runc's names runc.
    spec.set_hostname(Some("pier".to_string()));
    let data = serde_json::to_vec_pretty(&spec)?;
    std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}

/// `install-link`: a hard link to the running pier binary at `path`, whose name must select
/// runc's command line ([`super::invoked_as_runc`]). A hard link, not a symlink: clients and
/// test harnesses that resolve the runtime's path (`realpath`) would reach a symlink's target,
/// `pier`, and call pier's own command line. Being the same file, it stays current when pier
/// is upgraded in place (a copy would not).
pub fn install_link(path: &Path) -> Result<i32> {
    if !super::invoked_as_runc(path.as_os_str()) {
        bail!(
            "{}: the name must contain \"runc\" (e.g. pier-runc) for pier to answer as runc",
            path.display()
        );
    }
    let exe = std::env::current_exe().context("finding the pier binary (/proc/self/exe)")?;
    std::fs::hard_link(&exe, path).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::EXDEV) {
            " (a hard link must stay on the binary's filesystem: pick a directory there)"
        } else {
            ""
        };
        anyhow::anyhow!("linking {} to {}: {e}{hint}", path.display(), exe.display())
    })?;
    Ok(0)
}
