//! The container's root filesystem: the mounts of the OCI config, `/dev`, then `pivot_root`
//! into it, then the masked and read-only paths. Runs in the container's init, inside its new
//! mount namespace, so none of these mounts is visible on the host, and all of them vanish
//! with the namespace when the container's last process exits.

use crate::devices;
use crate::mounts;
use crate::mounts::options::ParsedOptions;
use anyhow::{bail, Context, Result};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Resolves `unsafe_path` inside `root` the way the container will see it: symlinks are
/// followed but interpreted relative to `root`, and `..` never climbs above it. Used for mount
/// destinations, so that an image with `/etc -> /host/etc` cannot make pier mount over the
/// host's files.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = unsafe_path
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.components().next() {
            None | Some(Component::RootDir) | Some(Component::CurDir) => continue,
            Some(Component::ParentDir) => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        let host = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    bail!(
                        "too many levels of symbolic links resolving {} in {}",
                        unsafe_path.display(),
                        root.display()
                    );
                }
                let target =
                    fs::read_link(&host).with_context(|| format!("readlink {}", host.display()))?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    pending.push(PathBuf::from(c.as_os_str()));
                }
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved.strip_prefix("/").unwrap_or(&resolved)))
}

/// Mounts everything the container needs under `rootfs` (still seen from the host's root).
///
/// `console` is the pseudo-terminal to bind over `/dev/console` when the process has one.
///
/// A `cgroup` mount shows the cgroup namespace's root, so it must follow the init's
/// placement in its cgroup (and the namespace's unshare), which the parent makes meanwhile.
/// With `defer_cgroup`, the cgroup mounts that no other mount overlaps are left out and
/// returned, to be made after `pivot_root` ([`mount_deferred`]); else, and for the others,
/// `before_cgroup` runs once, just before the first of them (or at the end if there is none).
pub(crate) fn prepare(
    spec: &Spec,
    rootfs: &Path,
    console: Option<&Path>,
    before_cgroup: &mut dyn FnMut() -> Result<()>,
    defer_cgroup: bool,
) -> Result<DeferredCgroup> {
    let mut before_cgroup = Some(before_cgroup);
    let mut deferred = DeferredCgroup::default();
    let linux = spec.linux().as_ref();
    let propagation =
        mounts::options::parse_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()));
    // Stop our mounts from propagating back to the host (and the host's unmounts from
    // being surprised by ours).
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context("making / a slave mount (mount MS_SLAVE|MS_REC /)")?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting rootfs {} onto itself", rootfs.display()))?;

    let mount_label = linux
        .and_then(|l| l.mount_label().as_deref())
        .filter(|l| !l.is_empty());
    let mut dev_is_tmpfs = false;
    let all = spec.mounts().as_deref().unwrap_or_default();
    let own_cgroup_namespace = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    for (i, m) in all.iter().enumerate() {
        if m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs") {
            dev_is_tmpfs = true;
        }
        if is_cgroup(m) && !own_cgroup_namespace {
            // A cgroup filesystem would show the host's root: mount the container's own
            // directories instead (see `cgroups::view`), from the host's paths, so before
            // pivot_root, once the init is in its cgroup.
            if let Some(f) = before_cgroup.take() {
                f()?;
            }
            let opts = mounts::options::parse(m.options().as_deref().unwrap_or_default());
            let dest = secure_join(rootfs, m.destination())?;
            create_mount_point(&dest, true)?;
            crate::cgroups::view::mount_own(&dest, opts.flags.contains(MsFlags::MS_RDONLY))
                .with_context(|| format!("mounting {}", m.destination().display()))?;
            continue;
        }
        if is_cgroup(m) {
            if defer_cgroup && !overlapped(m, &all[i + 1..]) {
                if deferred.host.is_none() {
                    // Read from the host's mounts, which pivot_root takes away.
                    deferred.host = Some(HostCgroups::read()?);
                }
                deferred.mounts.push(m.clone());
                continue;
            }
            if let Some(f) = before_cgroup.take() {
                f()?;
            }
        }
        mount_entry(rootfs, m, mount_label)
            .with_context(|| format!("mounting {}", m.destination().display()))?;
    }
    if dev_is_tmpfs {
        let extra = linux.and_then(|l| l.devices().clone()).unwrap_or_default();
        devices::populate(&rootfs.join("dev"), &extra)?;
    }
    if let Some(console) = console {
        let target = rootfs.join("dev/console");
        if target.symlink_metadata().is_err() {
            fs::write(&target, b"").with_context(|| format!("creating {}", target.display()))?;
        }
        mount(
            Some(console),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting {} onto /dev/console", console.display()))?;
    }
    if !defer_cgroup {
        if let Some(f) = before_cgroup.take() {
            f()?;
        }
    }
    Ok(deferred)
}

/// The cgroup mounts [`prepare`] left for after `pivot_root`.
#[derive(Default)]
pub(crate) struct DeferredCgroup {
    mounts: Vec<Mount>,
    /// The host's cgroup layout, read before `pivot_root`.
    host: Option<HostCgroups>,
}

/// What a cgroup mount needs to know of the host: the version, and the v1 hierarchies.
struct HostCgroups {
    version: u8,
    v1_controllers: Vec<String>,
}

impl HostCgroups {
    fn read() -> Result<HostCgroups> {
        let version = crate::cgroups::detect_version()?;
        let v1_controllers = if version == 1 {
            v1_controllers()?
        } else {
            Vec::new()
        };
        Ok(HostCgroups {
            version,
            v1_controllers,
        })
    }
}

/// Makes the mounts [`prepare`] deferred, inside the new root (after `pivot_root`, once the
/// init is in its cgroup and its cgroup namespace).
pub(crate) fn mount_deferred(deferred: DeferredCgroup) -> Result<()> {
    for m in &deferred.mounts {
        let opts = mounts::options::parse(m.options().as_deref().unwrap_or_default());
        let dest = secure_join(Path::new("/"), m.destination())?;
        create_mount_point(&dest, true)?;
        mount_cgroup(&dest, &opts, deferred.host.as_ref())
            .with_context(|| format!("mounting {}", m.destination().display()))?;
        mounts::attr::apply(&dest, opts.recursive)?;
        apply_propagation(&dest, &opts)?;
    }
    Ok(())
}

fn is_cgroup(m: &Mount) -> bool {
    matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

/// Whether a mount after `m` lies on, under or above `m`'s destination (then `m` must keep
/// its place in the order).
fn overlapped(m: &Mount, later: &[Mount]) -> bool {
    let d = m.destination();
    later
        .iter()
        .any(|l| l.destination().starts_with(d) || d.starts_with(l.destination()))
}

/// One entry of the config's `mounts`.
/// `label` is `linux.mountLabel`: the SELinux context of the filesystems pier mounts for the
/// container (tmpfs, devpts, mqueue), as runc gives it.
fn mount_entry(rootfs: &Path, m: &Mount, label: Option<&str>) -> Result<()> {
    let mut opts = mounts::options::parse(m.options().as_deref().unwrap_or_default());
    if let (Some(label), Some("tmpfs" | "devpts" | "mqueue")) = (label, m.typ().as_deref()) {
        let context = format!("context=\"{label}\"");
        opts.data = if opts.data.is_empty() {
            context
        } else {
            format!("{},{context}", opts.data)
        };
    }
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if opts.is_bind() { "bind" } else { "none" });
    let dest = secure_join(rootfs, m.destination())?;
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));

    if opts.is_bind() || typ == "bind" {
        if !opts.data.is_empty() {
            // A bind mount takes no filesystem data: an option pier does not know would
            // silently do nothing.
            bail!(
                "mount option(s) {:?} not supported on a bind mount",
                opts.data
            );
        }
        let meta = fs::metadata(&source)
            .with_context(|| format!("bind source {} does not exist", source.display()))?;
        create_mount_point(&dest, meta.is_dir())?;
        let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(Some(&source), &dest, None::<&str>, bind, None::<&str>)
            .with_context(|| format!("bind-mounting {} at {}", source.display(), dest.display()))?;
        // Flags such as ro/nosuid only take effect on a bind mount through a remount.
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(&dest, extra)?;
        }
        // The remount changed only the top mount. `ro` on an `rbind` also covers the mounts it
        // copied from below the source (as Docker does since 25.0): else a tmpfs or disk
        // mounted under the source stays writable through a ":ro" volume.
        let mut recursive = opts.recursive;
        if opts.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY) {
            recursive |= MsFlags::MS_RDONLY;
        }
        mounts::attr::apply(&dest, recursive)?;
        apply_propagation(&dest, &opts)?;
        return Ok(());
    }

    create_mount_point(&dest, true)?;
    match typ {
        "cgroup" | "cgroup2" => mount_cgroup(&dest, &opts, None),
        "sysfs" => {
            let r = mount(Some("sysfs"), &dest, Some("sysfs"), opts.flags, data(&opts));
            match r {
                Ok(()) => Ok(()),
                // Sharing the host's network namespace, sysfs cannot be mounted anew:
                // bind the host's /sys read-only instead, as runc does.
                Err(nix::errno::Errno::EPERM) => {
                    mount(
                        Some("/sys"),
                        &dest,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .with_context(|| format!("bind-mounting /sys at {}", dest.display()))?;
                    remount_bind(&dest, opts.flags)?;
                    // The host's mounts under /sys (securityfs, debugfs, bpf...) came along
                    // with the recursive bind: they get the same ro/nosuid/nodev/noexec.
                    mounts::attr::apply(&dest, opts.flags & mounts::attr::RECURSIVE_FLAGS).map(drop)
                }
                Err(e) => Err(e).with_context(|| format!("mount sysfs at {}", dest.display())),
            }
        }
        "mqueue" => {
            // Needs a new IPC namespace; with the host's, skip rather than fail.
            match mount(Some(&source), &dest, Some(typ), opts.flags, data(&opts)) {
                Ok(()) | Err(nix::errno::Errno::EPERM) => Ok(()),
                Err(e) => Err(e).with_context(|| format!("mount mqueue at {}", dest.display())),
            }
        }
        _ => mount(Some(&source), &dest, Some(typ), opts.flags, data(&opts)).with_context(|| {
            format!(
                "mount -t {typ} {} {} -o {}",
                source.display(),
                dest.display(),
                opts.data
            )
        }),
    }?;
    mounts::attr::apply(&dest, opts.recursive)?;
    apply_propagation(&dest, &opts)
}

fn data(opts: &ParsedOptions) -> Option<&str> {
    (!opts.data.is_empty()).then_some(opts.data.as_str())
}

fn remount_bind(dest: &Path, flags: MsFlags) -> Result<()> {
    mount(
        None::<&str>,
        dest,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .with_context(|| format!("remounting {} with {:?}", dest.display(), flags))
}

fn apply_propagation(dest: &Path, opts: &ParsedOptions) -> Result<()> {
    if !opts.propagation.is_empty() {
        mount(
            None::<&str>,
            dest,
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .with_context(|| format!("setting propagation of {}", dest.display()))?;
    }
    Ok(())
}

/// `/sys/fs/cgroup` inside the container. With cgroup v2 one cgroup2 mount; with v1 a tmpfs
/// holding one mount per controller. Inside the container's cgroup namespace each shows the
/// container's own cgroup as its root, so `cat /sys/fs/cgroup/memory/memory.limit_in_bytes`
/// (v1) or `/sys/fs/cgroup/memory.max` (v2) shows the container's limit.
/// `host`: the host's layout if already read (after `pivot_root` it cannot be).
fn mount_cgroup(dest: &Path, opts: &ParsedOptions, host: Option<&HostCgroups>) -> Result<()> {
    let read;
    let host = match host {
        Some(h) => h,
        None => {
            read = HostCgroups::read()?;
            &read
        }
    };
    let flags = opts.flags | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    if host.version == 2 {
        return mount(Some("cgroup2"), dest, Some("cgroup2"), flags, None::<&str>)
            .with_context(|| format!("mount cgroup2 at {}", dest.display()));
    }
    mount(
        Some("tmpfs"),
        dest,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .with_context(|| format!("mount tmpfs at {}", dest.display()))?;
    for controller in &host.v1_controllers {
        let target = dest.join(controller.replace("name=", ""));
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        mount(
            Some("cgroup"),
            &target,
            Some("cgroup"),
            flags,
            Some(controller.as_str()),
        )
        .with_context(|| format!("mount cgroup -o {controller} at {}", target.display()))?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(
            dest,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
        )?;
    }
    Ok(())
}

/// The v1 hierarchies mounted on the host, by their mount options (`memory`, `cpu,cpuacct`,
/// `name=systemd`).
fn v1_controllers() -> Result<Vec<String>> {
    let mounts = fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    let mut out = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 3 && f[2] == "cgroup" {
            let opts: Vec<&str> = f[3]
                .split(',')
                .filter(|o| {
                    !matches!(
                        *o,
                        "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime" | "noatime"
                    ) && !o.starts_with("release_agent")
                        && !o.starts_with("clone_children")
                })
                .collect();
            let joined = opts.join(",");
            if !joined.is_empty() && !out.contains(&joined) {
                out.push(joined);
            }
        }
    }
    Ok(out)
}

fn create_mount_point(dest: &Path, dir: bool) -> Result<()> {
    if dir {
        fs::create_dir_all(dest).with_context(|| format!("creating mount point {}", dest.display()))
    } else {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        if dest.symlink_metadata().is_err() {
            fs::write(dest, b"")
                .with_context(|| format!("creating mount point {}", dest.display()))?;
        }
        Ok(())
    }
}

/// Makes `rootfs` the process's `/` and detaches the old root, so nothing of the host's tree
/// stays reachable. Uses the `pivot_root(".", ".")` idiom (as runc) so no directory for the old
/// root is needed inside the image.
pub(crate) fn pivot(rootfs: &Path) -> Result<()> {
    let new_root = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening new root {}", rootfs.display()))?;
    let old_root = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening old root /")?;
    fchdir(&new_root).with_context(|| format!("fchdir to {}", rootfs.display()))?;
    pivot_root(".", ".").with_context(|| format!("pivot_root into {}", rootfs.display()))?;
    fchdir(&old_root).context("fchdir to the old root")?;
    // The old root is stacked on top of the new one; make it private before unmounting so the
    // unmount cannot propagate to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("making the old root a slave mount")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the old root")?;
    chdir("/").context("chdir /")?;
    Ok(())
}

/// After `pivot_root`: hide (`maskedPaths`) and freeze (`readonlyPaths`) parts of `/proc` and
/// `/sys`, and make `/` read-only when `root.readonly` is set.
pub(crate) fn finalize(spec: &Spec) -> Result<()> {
    if let Some(linux) = spec.linux() {
        for p in linux.masked_paths().as_deref().unwrap_or_default() {
            mask_path(Path::new(p))?;
        }
        for p in linux.readonly_paths().as_deref().unwrap_or_default() {
            readonly_path(Path::new(p))?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .context("remounting / read-only")?;
    }
    Ok(())
}

fn mask_path(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Err(_) => Ok(()), // nothing to hide
        Ok(meta) if meta.is_dir() => mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .with_context(|| format!("masking directory {}", path.display())),
        Ok(_) => mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("masking {}", path.display())),
    }
}

fn readonly_path(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting {} for read-only", path.display()))?;
    // Recursive: the mounts below `path` (if any) come along with MS_REC, and a plain remount
    // would leave them writable.
    mounts::attr::apply(path, MsFlags::MS_RDONLY).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn secure_join_keeps_symlinks_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/etc")).unwrap();
        symlink("/real/etc", root.join("etc")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/etc/passwd")).unwrap(),
            root.join("real/etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/up/etc")).unwrap(),
            root.join("etc").parent().unwrap().join("real/etc")
        );
        assert_eq!(
            secure_join(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
    }

    #[test]
    fn secure_join_detects_loops() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/b", dir.path().join("a")).unwrap();
        symlink("/a", dir.path().join("b")).unwrap();
        assert!(secure_join(dir.path(), Path::new("/a/x")).is_err());
    }
}
