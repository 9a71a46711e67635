//! The container's minimal `/dev`: a fresh tmpfs holding only the device nodes a process
//! expects (`null`, `zero`, `full`, `random`, `urandom`, `tty`), the usual symlinks, and the
//! console. Nothing from the host's `/dev` is visible, so a container cannot reach the host's
//! disks even as root (and the device cgroup enforces the same list).

use crate::security::in_root::open_in_root;
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, makedev, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

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

/// Creates the device nodes listed in the config (and always the defaults) in the container's
/// `/dev` (a tmpfs pier mounted at `/dev` resolved inside `rootfs`), plus the standard symlinks.
///
/// Everything is made relative to a descriptor of that directory opened inside the root
/// (`mknodat`, `symlinkat`, `mkdirat`): an image whose `/dev` is a symlink to a host directory
/// gets its nodes where the link leads *inside* the rootfs (where the tmpfs is), never in the
/// host directory.
pub(crate) fn populate(rootfs: &Path, extra: &[LinuxDevice]) -> Result<()> {
    let dev = open_in_root(
        rootfs,
        Path::new("/dev"),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
    )
    .with_context(|| format!("opening /dev inside {}", rootfs.display()))?;
    for d in default_devices().iter().chain(extra.iter()) {
        create_node(dev.as_fd(), d)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        match symlinkat(target, dev.as_fd(), link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("symlink /dev/{link} -> {target}")),
        }
    }
    Ok(())
}

/// The directory of `path` (a device path under `/dev`) and its last component, the
/// directories made and opened below `dev` without following any link. Refuses `..`.
fn parent_of(dev: BorrowedFd<'_>, path: &Path) -> Result<(Option<OwnedFd>, std::ffi::OsString)> {
    let rel = path.strip_prefix("/dev").unwrap_or(path);
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::RootDir | Component::CurDir => {}
            _ => bail!("device path {} climbs out of /dev", path.display()),
        }
    }
    let name = parts
        .pop()
        .with_context(|| format!("device path {} names no file", path.display()))?;
    let mut dir: Option<OwnedFd> = None;
    for p in parts {
        let at = dir.as_ref().map_or(dev, |d| d.as_fd());
        let next = crate::mounts::target::mkdir_open(at, Path::new(p))
            .with_context(|| format!("creating the directory of {}", path.display()))?;
        dir = Some(next);
    }
    Ok((dir, name.to_os_string()))
}

/// Bind-mounts the host's device node `host` (the container's /dev path, still the host's
/// before `pivot_root`) onto a new empty file `name` in `dir`.
fn bind_host_node(host: &Path, dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> Result<()> {
    let meta = std::fs::metadata(host).with_context(|| {
        format!(
            "device {} cannot be created in a user namespace and the host has none to bind",
            host.display()
        )
    })?;
    use std::os::unix::fs::FileTypeExt;
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        bail!("{} on the host is not a device node", host.display());
    }
    match mknodat(
        dir,
        name,
        SFlag::S_IFREG,
        Mode::from_bits_truncate(0o600),
        0,
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", host.display())),
    }
    let target = openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening the mount point of {}", host.display()))?;
    nix::mount::mount(
        Some(host),
        &crate::mounts::target::fd_path(target.as_fd()),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting {} into the container", host.display()))
}

fn create_node(dev: BorrowedFd<'_>, d: &LinuxDevice) -> Result<()> {
    let path = d.path();
    let (parent, name) = parent_of(dev, path)?;
    let dir = parent.as_ref().map_or(dev, |p| p.as_fd());
    if fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).is_ok() {
        return Ok(());
    }
    let kind = match d.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
    match mknodat(
        dir,
        name.as_os_str(),
        kind,
        mode,
        makedev(d.major() as u64, d.minor() as u64),
    ) {
        Ok(()) => {}
        // In a user namespace no one may create device nodes: bind the host's node instead
        // (as runc does); it is the same device, and the cgroup still polices its use.
        Err(Errno::EPERM) => return bind_host_node(path, dir, &name),
        Err(e) => return Err(e).with_context(|| format!("mknod {}", path.display())),
    }
    // mknod applies the umask; set the exact mode. The node was just made in pier's own
    // fresh tmpfs, which nothing else can reach yet.
    fchmodat(dir, name.as_os_str(), mode, FchmodatFlags::FollowSymlink)
        .with_context(|| format!("chmod {}", path.display()))?;
    fchownat(
        dir,
        name.as_os_str(),
        d.uid().map(Uid::from_raw),
        d.gid().map(Gid::from_raw),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("chown {}", path.display()))?;
    Ok(())
}
