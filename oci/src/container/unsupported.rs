//! The parts of config.json pier does not honour, refused by name before anything is made:
//! a container that silently lacks what its config asked for (an RDT class, an SELinux
//! label on a host without SELinux) would be worse than one that does not start. The
//! process attributes are checked here too (values in range, the LSM a label needs).

use crate::error::{bail_config, Result};
use crate::process::attributes::{selinux_enabled, Attributes};
use oci_spec::runtime::{Process, Spec};

/// Refuses every field of `spec` that pier does not apply, or cannot on this host.
pub(crate) fn refuse_unsupported(spec: &Spec) -> Result<()> {
    if let Some(process) = spec.process() {
        refuse_process(process, spec)?;
    }
    for m in spec.mounts().iter().flatten() {
        let idmap_option = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() || idmap_option {
            bail_config!(
                "mounts",
                "config.json: mount {}: idmapped mounts (uidMappings, gidMappings, idmap) are not supported by pier",
                m.destination().display()
            );
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        bail_config!(
            "linux.intelRdt",
            "config.json: linux.intelRdt is not supported by pier (no resctrl support)"
        );
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        bail_config!(
            "linux.mountLabel",
            "config.json: linux.mountLabel is set but SELinux is not enabled on this host"
        );
    }
    if let Some(seccomp) = linux.seccomp() {
        let notifies = crate::security::seccomp::notifies(seccomp);
        match (notifies, seccomp.listener_path().is_some()) {
            (true, false) => bail_config!("linux.seccomp.listenerPath", "config.json: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath (the seccomp agent's socket)"),
            (false, true) => bail_config!("linux.seccomp.listenerPath", "config.json: linux.seccomp.listenerPath is set but no syscall has SCMP_ACT_NOTIFY"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a `process` object (config.json's, or `exec --process`'s) against the container's
/// `spec`: its attributes must be ones pier can apply here.
pub(crate) fn refuse_process(process: &Process, spec: &Spec) -> Result<()> {
    Attributes::of(process, spec).validate()
}
