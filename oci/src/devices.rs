//! The container's minimal `/dev`: a fresh tmpfs holding only the device nodes a process
//! expects (`null`, `zero`, `full`, `random`, `urandom`, `tty`), the usual symlinks, and the
//! console. Nothing from the host's `/dev` is visible, so a container cannot reach the host's
//! disks even as root (and the device cgroup enforces the same list).

use anyhow::{Context, Result};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chown, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::os::unix::fs::symlink;
use std::path::Path;

/// A character device every container gets.
struct DefaultDevice {
    name: &'static str,
    major: i64,
    minor: i64,
}

const DEFAULT_DEVICES: &[DefaultDevice] = &[
    DefaultDevice {
        name: "null",
        major: 1,
        minor: 3,
    },
    DefaultDevice {
        name: "zero",
        major: 1,
        minor: 5,
    },
    DefaultDevice {
        name: "full",
        major: 1,
        minor: 7,
    },
    DefaultDevice {
        name: "random",
        major: 1,
        minor: 8,
    },
    DefaultDevice {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    DefaultDevice {
        name: "tty",
        major: 5,
        minor: 0,
    },
];

/// The OCI device list of the defaults (so `config.json` shows what a container gets).
pub(crate) fn default_devices() -> Vec<LinuxDevice> {
    DEFAULT_DEVICES
        .iter()
        .map(|d| {
            let mut dev = LinuxDevice::default();
            dev.set_path(format!("/dev/{}", d.name).into());
            dev.set_typ(LinuxDeviceType::C);
            dev.set_major(d.major);
            dev.set_minor(d.minor);
            dev.set_file_mode(Some(0o666));
            dev.set_uid(Some(0));
            dev.set_gid(Some(0));
            dev
        })
        .collect()
}

fn cgroup_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Device cgroup rules as Docker sets them: deny everything, then allow the default devices,
/// the pty multiplexer and pseudo-terminals, and `mknod` of any char/block node (creating a node
/// is harmless when opening it is denied).
pub fn default_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    let mut rules = vec![
        cgroup_rule(false, Some(A), None, None, "rwm"),
        cgroup_rule(true, Some(C), None, None, "m"),
        cgroup_rule(true, Some(B), None, None, "m"),
    ];
    for d in DEFAULT_DEVICES {
        rules.push(cgroup_rule(
            true,
            Some(C),
            Some(d.major),
            Some(d.minor),
            "rwm",
        ));
    }
    rules.push(cgroup_rule(true, Some(C), Some(5), Some(1), "rwm")); // /dev/console
    rules.push(cgroup_rule(true, Some(C), Some(5), Some(2), "rwm")); // /dev/ptmx
    rules.push(cgroup_rule(true, Some(C), Some(136), None, "rwm")); // /dev/pts/*
    rules
}

/// Adds to a config's device cgroup rules the allow rules for the devices every container
/// gets (as runc does), so a config that denies all devices still has a working `/dev/null`.
pub(crate) fn with_default_allows(resources: Option<&LinuxResources>) -> LinuxResources {
    let mut r = resources.cloned().unwrap_or_default();
    let mut rules = r.devices().clone().unwrap_or_default();
    rules.extend(
        default_cgroup_rules()
            .into_iter()
            .filter(|rule| rule.allow()),
    );
    r.set_devices(Some(rules));
    r
}

/// Creates the device nodes listed in the config (and always the defaults) under `dev_dir`
/// (the container's `/dev`, a tmpfs), plus the standard symlinks.
pub(crate) fn populate(dev_dir: &Path, extra: &[LinuxDevice]) -> Result<()> {
    for dev in default_devices().iter().chain(extra.iter()) {
        create_node(dev_dir, dev)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        let path = dev_dir.join(link);
        if path.symlink_metadata().is_err() {
            symlink(target, &path)
                .with_context(|| format!("symlink {} -> {target}", path.display()))?;
        }
    }
    Ok(())
}

/// Bind-mounts the host's device node `host` (the container's /dev path, still the host's
/// before `pivot_root`) onto a new empty file at `path`.
fn bind_host_node(host: &Path, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(host).with_context(|| {
        format!(
            "device {} cannot be created in a user namespace and the host has none to bind",
            host.display()
        )
    })?;
    use std::os::unix::fs::FileTypeExt;
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        anyhow::bail!("{} on the host is not a device node", host.display());
    }
    std::fs::write(path, b"").with_context(|| format!("creating {}", path.display()))?;
    nix::mount::mount(
        Some(host),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting {} onto {}", host.display(), path.display()))
}

fn create_node(dev_dir: &Path, dev: &LinuxDevice) -> Result<()> {
    let rel = dev.path().strip_prefix("/dev").unwrap_or(dev.path());
    let path = dev_dir.join(rel);
    if path.symlink_metadata().is_ok() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let kind = match dev.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(dev.file_mode().unwrap_or(0o666));
    match mknod(
        &path,
        kind,
        mode,
        makedev(dev.major() as u64, dev.minor() as u64),
    ) {
        Ok(()) => {}
        // In a user namespace no one may create device nodes: bind the host's node instead
        // (as runc does); it is the same device, and the cgroup still polices its use.
        Err(nix::errno::Errno::EPERM) => return bind_host_node(dev.path(), &path),
        Err(e) => return Err(e).with_context(|| format!("mknod {}", path.display())),
    }
    // mknod applies the umask; set the exact mode.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &path,
        mode,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .with_context(|| format!("chmod {}", path.display()))?;
    chown(
        &path,
        dev.uid().map(Uid::from_raw),
        dev.gid().map(Gid::from_raw),
    )
    .with_context(|| format!("chown {}", path.display()))?;
    Ok(())
}
