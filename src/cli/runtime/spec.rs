//! `features` and `spec`: documents about the runtime and a starter config.

use super::args::SpecArgs;
use anyhow::{bail, Context, Result};

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
