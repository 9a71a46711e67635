//! The parts of config.json pier does not honour, refused by name: a container that silently
//! lacks what its config asked for (an AppArmor profile, an RDT class) would be worse than
//! one that does not start.

use anyhow::{bail, Result};
use oci_spec::runtime::{Process, Spec};

/// Refuses every field of `spec` that pier does not apply.
pub fn refuse_unsupported(spec: &Spec) -> Result<()> {
    if let Some(process) = spec.process() {
        refuse_process(process, "process")?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let set = |name: &str, present: bool| -> Result<()> {
        if present {
            bail!("config.json: linux.{name} is not supported by pier");
        }
        Ok(())
    };
    set(
        "uidMappings",
        linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()),
    )?;
    set(
        "gidMappings",
        linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()),
    )?;
    set(
        "timeOffsets",
        linux.time_offsets().as_ref().is_some_and(|m| !m.is_empty()),
    )?;
    set(
        "netDevices",
        linux.net_devices().as_ref().is_some_and(|m| !m.is_empty()),
    )?;
    set("intelRdt", linux.intel_rdt().is_some())?;
    set("memoryPolicy", linux.memory_policy().is_some())?;
    set("personality", linux.personality().is_some())?;
    set(
        "mountLabel",
        linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()),
    )?;
    if let Some(seccomp) = linux.seccomp() {
        set("seccomp.listenerPath", seccomp.listener_path().is_some())?;
    }
    Ok(())
}

/// Refuses the fields of a `process` object (config.json's, or `exec --process`'s) that pier
/// does not apply; `what` names it in the error.
pub fn refuse_process(process: &Process, what: &str) -> Result<()> {
    let set = |name: &str, present: bool| -> Result<()> {
        if present {
            bail!("config.json: {what}.{name} is not supported by pier");
        }
        Ok(())
    };
    set(
        "apparmorProfile",
        process
            .apparmor_profile()
            .as_ref()
            .is_some_and(|p| !p.is_empty()),
    )?;
    set(
        "selinuxLabel",
        process
            .selinux_label()
            .as_ref()
            .is_some_and(|p| !p.is_empty()),
    )?;
    set("ioPriority", process.io_priority().is_some())?;
    set("scheduler", process.scheduler().is_some())?;
    set("execCPUAffinity", process.exec_cpu_affinity().is_some())?;
    Ok(())
}
