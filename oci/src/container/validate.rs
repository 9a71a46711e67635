//! config.json checked as runc's validator checks it, before anything is made: fields that
//! would let the config reach the host through the container's own setup. A device node is
//! made at `linux.devices[].path` under the rootfs, so that path must stay under `/dev`; a
//! sysctl is written in `/proc/sys`, which is the host's for every namespace the container
//! shares with it, so only keys of a namespace the container has of its own are accepted.
//! Each refusal names the field.

use crate::error::{bail_config, Result};
use crate::namespaces::NamespacePlan;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

/// The IPC namespace's kernel parameters outside `fs.mqueue.*` (runc's list).
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks `linux.devices[].path` and `linux.sysctl` against the namespaces of `plan`.
pub(crate) fn check(spec: &Spec, plan: &NamespacePlan) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    for (i, device) in linux.devices().iter().flatten().enumerate() {
        check_device_path(i, device.path())?;
    }
    for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
        check_sysctl(key, plan)?;
    }
    Ok(())
}

/// A device path: absolute, under `/dev`, with no `.` or `..` (runc: "device path must be
/// inside /dev"). The device node is made there inside the rootfs.
fn check_device_path(index: usize, path: &Path) -> Result<()> {
    let field = format!("linux.devices[{index}].path");
    let mut components = path.components();
    let under_dev = components.next() == Some(Component::RootDir)
        && components.next() == Some(Component::Normal("dev".as_ref()));
    let rest: Vec<Component> = components.collect();
    if !under_dev || rest.is_empty() || rest.iter().any(|c| !matches!(c, Component::Normal(_))) {
        bail_config!(
            &field,
            "config.json: {field} {:?} must be a path under /dev without \".\" or \"..\"",
            path.display().to_string()
        );
    }
    Ok(())
}

/// One `linux.sysctl` key: a well-formed name of a namespace the container does not share
/// with the host (runc's rules; `kernel.hostname` has its own field).
fn check_sysctl(key: &str, plan: &NamespacePlan) -> Result<()> {
    let field = format!("linux.sysctl[{key:?}]");
    // Written at /proc/sys/<key with dots as slashes>: every component a plain name.
    let well_formed = key
        .split('.')
        .all(|part| !part.is_empty() && !part.starts_with('/') && !part.ends_with('/'))
        && Path::new(&key.replace('.', "/"))
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !well_formed {
        bail_config!(&field, "config.json: {field}: not a kernel parameter name");
    }
    let has = |typ| plan_has(plan, typ);
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has(LinuxNamespaceType::Ipc) {
            bail_config!(
                &field,
                "config.json: {field} is not allowed in the host's IPC namespace (add an ipc namespace)"
            );
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has_own_network(plan)? {
            bail_config!(
                &field,
                "config.json: {field} is not allowed in the host's network namespace (add a network namespace)"
            );
        }
        return Ok(());
    }
    if has(LinuxNamespaceType::Uts) {
        match key {
            "kernel.domainname" => return Ok(()),
            "kernel.hostname" => bail_config!(
                &field,
                "config.json: {field} conflicts with the hostname field: set hostname instead"
            ),
            _ => {}
        }
    }
    bail_config!(
        &field,
        "config.json: {field} is not in a separate kernel namespace: writing it would change the host"
    )
}

/// Whether the container gets a namespace of `typ`, new or joined by path.
fn plan_has(plan: &NamespacePlan, typ: LinuxNamespaceType) -> bool {
    plan.new.contains(crate::namespaces::clone_flag(typ)) || plan.to_join(typ).is_some()
}

/// Whether the container's network namespace is not the one pier runs in: a new one, or a
/// joined one other than ours (runc's `isHostNetNS`).
fn has_own_network(plan: &NamespacePlan) -> Result<bool> {
    if plan.new.contains(CloneFlags::CLONE_NEWNET) {
        return Ok(true);
    }
    let Some(path) = plan.to_join(LinuxNamespaceType::Network) else {
        return Ok(false);
    };
    let inode = |p: &Path| -> Result<(u64, u64)> {
        let m = std::fs::metadata(p).map_err(|e| {
            crate::error::Error::config(
                "linux.namespaces",
                format!("config.json: network namespace path {}: {e}", p.display()),
            )
        })?;
        Ok((m.dev(), m.ino()))
    };
    Ok(inode(path)? != inode(Path::new("/proc/self/ns/net"))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxNamespaceBuilder;

    fn plan(types: &[LinuxNamespaceType]) -> NamespacePlan {
        let ns: Vec<_> = types
            .iter()
            .map(|t| LinuxNamespaceBuilder::default().typ(*t).build().unwrap())
            .collect();
        NamespacePlan::from_spec(&ns)
    }

    #[test]
    fn device_paths_stay_under_dev() {
        for ok in ["/dev/null", "/dev/net/tun", "/dev//fuse"] {
            assert!(check_device_path(0, Path::new(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "/dev/../etc/x",
            "/dev/../../../../tmp/x",
            "/tmp/x",
            "dev/null",
            "/dev",
            "/devices/x",
        ] {
            let e = check_device_path(3, Path::new(bad)).unwrap_err();
            assert!(
                e.to_string().contains("linux.devices[3].path"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn sysctls_need_their_namespace() {
        let ipc_net = plan(&[LinuxNamespaceType::Ipc, LinuxNamespaceType::Network]);
        let uts = plan(&[LinuxNamespaceType::Uts]);
        let none = plan(&[LinuxNamespaceType::Mount]);
        for key in [
            "kernel.shmmax",
            "kernel.sem",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
        ] {
            assert!(check_sysctl(key, &ipc_net).is_ok(), "{key}");
            let e = check_sysctl(key, &none).unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        assert!(check_sysctl("kernel.domainname", &uts).is_ok());
        assert!(check_sysctl("kernel.hostname", &uts).is_err());
        for key in [
            "fs.inotify.max_user_instances",
            "kernel.pid_max",
            "vm.overcommit_memory",
            "net..ipv4",
            "net./../fs/inotify/max_user_instances",
            "net.ipv4/../../fs",
        ] {
            assert!(check_sysctl(key, &ipc_net).is_err(), "{key}");
        }
    }
}
