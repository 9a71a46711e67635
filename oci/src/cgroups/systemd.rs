//! systemd's cgroup paths (`slice:prefix:name`, what `--systemd-cgroup` managers such as
//! Docker and Podman write in `linux.cgroupsPath`) turned into the cgroupfs directory systemd
//! would use for them (`system.slice:docker:abc` -> `/system.slice/docker-abc.scope`). pier
//! does not talk to systemd: it makes that directory itself.

use crate::error::{bail_config, Result};
use oci_spec::runtime::Spec;
use std::path::PathBuf;

/// The config's field these paths are read from.
const FIELD: &str = "linux.cgroupsPath";

/// The cgroupfs path for the config's `linux.cgroupsPath` when it has systemd's
/// `slice:prefix:name` form; `None` when it has not (a plain path, or none). With
/// `systemd_cgroup` (runc's `--systemd-cgroup`) any other form is an error.
pub(crate) fn cgroupfs_path(spec: &Spec, systemd_cgroup: bool) -> Result<Option<PathBuf>> {
    let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) else {
        return Ok(None);
    };
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [slice, prefix, name] => Ok(Some(unit_dir(slice, prefix, name)?)),
        _ if systemd_cgroup => bail_config!(
            FIELD,
            "linux.cgroupsPath {text:?}: with --systemd-cgroup it must be slice:prefix:name (e.g. system.slice:docker:ID)"
        ),
        _ => Ok(None),
    }
}

/// The directory systemd gives unit `prefix-name.scope` in `slice` (a slice `a-b.slice` is
/// nested in `a.slice`).
fn unit_dir(slice: &str, prefix: &str, name: &str) -> Result<PathBuf> {
    if name.is_empty() || name.contains('/') || slice.contains('/') || prefix.contains('/') {
        bail_config!(
            FIELD,
            "linux.cgroupsPath {slice}:{prefix}:{name}: not a systemd slice:prefix:name"
        );
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail_config!(
            FIELD,
            "linux.cgroupsPath: {slice:?} is not a systemd slice (name.slice)"
        );
    };
    let mut path = PathBuf::from("/");
    if stem != "-" {
        let mut so_far = String::new();
        for part in stem.split('-') {
            if part.is_empty() {
                bail_config!(FIELD, "linux.cgroupsPath: invalid slice name {slice:?}");
            }
            if !so_far.is_empty() {
                so_far.push('-');
            }
            so_far.push_str(part);
            path.push(format!("{so_far}.slice"));
        }
    }
    let unit = if name.ends_with(".scope") || name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    path.push(unit);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_map_to_the_directories_systemd_makes() {
        assert_eq!(
            unit_dir("system.slice", "docker", "abc").unwrap(),
            PathBuf::from("/system.slice/docker-abc.scope")
        );
        assert_eq!(
            unit_dir("machine-pods.slice", "libpod", "x").unwrap(),
            PathBuf::from("/machine.slice/machine-pods.slice/libpod-x.scope")
        );
        assert_eq!(
            unit_dir("", "", "c1").unwrap(),
            PathBuf::from("/system.slice/c1.scope")
        );
        assert!(unit_dir("system.slice", "p", "../x").is_err());
        assert!(unit_dir("nodots", "p", "x").is_err());
    }

    #[test]
    fn only_systemd_cgroup_insists_on_the_systemd_form() {
        let mut spec = Spec::default();
        if let Some(linux) = spec.linux_mut() {
            linux.set_cgroups_path(Some(PathBuf::from("/pier/c1")));
        }
        assert_eq!(cgroupfs_path(&spec, false).unwrap(), None);
        assert!(matches!(
            cgroupfs_path(&spec, true),
            Err(crate::Error::InvalidConfig { .. })
        ));
        if let Some(linux) = spec.linux_mut() {
            linux.set_cgroups_path(Some(PathBuf::from("system.slice:docker:c1")));
        }
        assert_eq!(
            cgroupfs_path(&spec, false).unwrap(),
            Some(PathBuf::from("/system.slice/docker-c1.scope"))
        );
    }
}
