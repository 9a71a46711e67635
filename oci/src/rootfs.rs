//! The container's root filesystem: the mounts of the OCI config, `/dev`, then `pivot_root`
//! into it, then the masked and read-only paths. Runs in the container's init, inside its new
//! mount namespace, so none of these mounts is visible on the host, and all of them vanish
//! with the namespace when the container's last process exits.

use crate::devices;
use crate::mounts;
use crate::mounts::attr::RecursiveAttr;
use crate::mounts::options::ParsedOptions;
use crate::mounts::target::{self, Kind, Target};
use anyhow::{bail, Context, Result};
use nix::fcntl::{open, openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use std::fs;
use std::os::fd::AsFd;
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
    let mut propagation =
        mounts::options::parse_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()));
    // An unbindable `/` would refuse the bind of the rootfs onto itself below: until
    // pivot_root it is only private (what unbindable also is), and [`finalize`] makes `/`
    // unbindable.
    if propagation.contains(MsFlags::MS_UNBINDABLE) {
        propagation = (propagation - MsFlags::MS_UNBINDABLE) | MsFlags::MS_PRIVATE;
    }
    // Stop our mounts from propagating back to the host (and the host's unmounts from
    // being surprised by ours).
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .with_context(|| format!("setting the propagation of / to {propagation:?}"))?;
    // With `rootfsPropagation: shared` (or a shared host `/` kept shared), the mount holding
    // the rootfs is a peer of the host's: every mount below would appear on the host too, and
    // pivot_root refuses a new root whose parent is shared. Make that one mount private in
    // this namespace (runc's rootfsParentMountPrivate); the rest keeps the asked propagation,
    // and `/` gets it back after pivot_root ([`finalize`]).
    make_parent_private(rootfs)?;
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
            // The mount point is made inside the root; the view's own mounts then go by the
            // resolved path (they add a tmpfs and mount below it, which a descriptor opened
            // before the tmpfs would not see).
            target::ensure(rootfs, m.destination(), Kind::Dir)?;
            let dest = secure_join(rootfs, m.destination())?;
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
        devices::populate(rootfs, &extra)?;
    }
    if let Some(console) = console {
        bind_console(rootfs, console)?;
    }
    if !defer_cgroup {
        if let Some(f) = before_cgroup.take() {
            f()?;
        }
    }
    Ok(deferred)
}

/// Binds the terminal `console` over `/dev/console` inside `root` (created as an empty file
/// there if missing, never through an image symlink onto the host).
pub(crate) fn bind_console(root: &Path, console: &Path) -> Result<()> {
    let dest = target::ensure(root, Path::new("/dev/console"), Kind::File)?;
    mount(
        Some(console),
        &dest.proc_path(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting {} onto /dev/console", console.display()))
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
        mount_cgroup(
            Path::new("/"),
            m.destination(),
            &opts,
            deferred.host.as_ref(),
        )
        .with_context(|| format!("mounting {}", m.destination().display()))?;
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
///
/// The destination is opened inside the rootfs once ([`target`]) and mounted on through
/// `/proc/self/fd/N`; what follows the mount (remount, recursive attributes, propagation,
/// copy-up) acts on the new mount, reopened and checked to be at the same place.
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
    let name = m.destination();
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));

    if opts.is_bind() || typ == "bind" {
        // A bind mount takes no filesystem data: options such as `mode=755,size=1k` do
        // nothing there, and runc ignores them; so does pier.
        let meta = fs::metadata(&source)
            .with_context(|| format!("bind source {} does not exist", source.display()))?;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let dest = target::ensure(rootfs, name, kind)?;
        let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(
            Some(&source),
            &dest.proc_path(),
            None::<&str>,
            bind,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting {} at {}", source.display(), name.display()))?;
        let mounted = reopen(rootfs, name, &dest)?;
        // Flags such as ro/nosuid only take effect on a bind mount through a remount, which
        // changes the top mount only: the mounts an `rbind` copied from below the source keep
        // theirs, as the runtime spec says; `rro` and the other `r*` options cover them.
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(&mounted.proc_path(), extra, name)?;
        }
        mounts::attr::apply_fd(mounted.fd(), opts.recursive, name)?;
        apply_propagation(&mounted, &opts, name)?;
        return Ok(());
    }

    // runc's rule: proc and sysfs only on a real directory, never through a symlink (an
    // image's `/proc -> /somewhere` has been the start of several escapes).
    if matches!(typ, "proc" | "sysfs") && !target::is_ordinary_dir_or_missing(rootfs, name)? {
        bail!(
            "filesystem {typ:?} must be mounted on ordinary directory: {} is not one",
            name.display()
        );
    }
    if matches!(typ, "cgroup" | "cgroup2") {
        return mount_cgroup(rootfs, name, &opts, None);
    }
    let dest = target::ensure(rootfs, name, Kind::Dir)?;
    let at = dest.proc_path();
    // tmpcopyup: hold the directory as it is before the tmpfs covers it.
    let copy_from = if opts.tmpcopyup && typ == "tmpfs" {
        Some(
            openat(
                dest.fd(),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| format!("opening {} for tmpcopyup", name.display()))?,
        )
    } else {
        None
    };
    match typ {
        "sysfs" => {
            let r = mount(Some("sysfs"), &at, Some("sysfs"), opts.flags, data(&opts));
            match r {
                Ok(()) => Ok(()),
                // Sharing the host's network namespace, sysfs cannot be mounted anew:
                // bind the host's /sys read-only instead, as runc does.
                Err(nix::errno::Errno::EPERM) => {
                    mount(
                        Some("/sys"),
                        &at,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .with_context(|| format!("bind-mounting /sys at {}", name.display()))?;
                    let mounted = reopen(rootfs, name, &dest)?;
                    remount_bind(&mounted.proc_path(), opts.flags, name)?;
                    // The host's mounts under /sys (securityfs, debugfs, bpf...) came along
                    // with the recursive bind: they get the same ro/nosuid/nodev/noexec.
                    let below =
                        RecursiveAttr::from_flags(opts.flags & mounts::attr::RECURSIVE_FLAGS);
                    mounts::attr::apply_fd(mounted.fd(), below, name)
                }
                Err(e) => Err(e).with_context(|| format!("mount sysfs at {}", name.display())),
            }
        }
        "mqueue" => {
            // Needs a new IPC namespace; with the host's, skip rather than fail.
            match mount(Some(&source), &at, Some(typ), opts.flags, data(&opts)) {
                Ok(()) => Ok(()),
                Err(nix::errno::Errno::EPERM) => return Ok(()),
                Err(e) => Err(e).with_context(|| format!("mount mqueue at {}", name.display())),
            }
        }
        _ => mount(Some(&source), &at, Some(typ), opts.flags, data(&opts)).with_context(|| {
            format!(
                "mount -t {typ} {} {} -o {}",
                source.display(),
                name.display(),
                opts.data
            )
        }),
    }?;
    let mounted = reopen(rootfs, name, &dest)?;
    if let Some(from) = copy_from {
        let to = openat(
            mounted.fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening the new tmpfs at {}", name.display()))?;
        mounts::copy_up::copy_dir(from.as_fd(), to.as_fd())
            .with_context(|| format!("tmpcopyup into {}", name.display()))?;
    }
    mounts::attr::apply_fd(mounted.fd(), opts.recursive, name)?;
    apply_propagation(&mounted, &opts, name)
}

/// The mount just made on `before` (opened before mounting), opened again inside `root`, and
/// checked to be at the same place: a path component swapped for a symlink between the mount
/// and now would else make the remounts land on another mount.
fn reopen(root: &Path, name: &Path, before: &Target) -> Result<Target> {
    let after = target::open_existing(root, name)?
        .with_context(|| format!("{} vanished after it was mounted", name.display()))?;
    let place = |t: &Target| fs::read_link(t.proc_path());
    match (place(before), place(&after)) {
        (Ok(b), Ok(a)) if a == b => Ok(after),
        _ => bail!(
            "mount target {} moved while it was mounted (a symlink raced the mount)",
            name.display()
        ),
    }
}

fn data(opts: &ParsedOptions) -> Option<&str> {
    (!opts.data.is_empty()).then_some(opts.data.as_str())
}

/// A bind remount of the mount at `at` (a `/proc/self/fd/N` of the mount's root) with `flags`.
fn remount_bind(at: &Path, flags: MsFlags, name: &Path) -> Result<()> {
    mount(
        None::<&str>,
        at,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .with_context(|| format!("remounting {} with {:?}", name.display(), flags))
}

fn apply_propagation(mounted: &Target, opts: &ParsedOptions, name: &Path) -> Result<()> {
    if !opts.propagation.is_empty() {
        mount(
            None::<&str>,
            &mounted.proc_path(),
            None::<&str>,
            opts.propagation,
            None::<&str>,
        )
        .with_context(|| format!("setting propagation of {}", name.display()))?;
    }
    Ok(())
}

/// `/sys/fs/cgroup` inside the container. With cgroup v2 one cgroup2 mount; with v1 a tmpfs
/// holding one mount per controller. Inside the container's cgroup namespace each shows the
/// container's own cgroup as its root, so `cat /sys/fs/cgroup/memory/memory.limit_in_bytes`
/// (v1) or `/sys/fs/cgroup/memory.max` (v2) shows the container's limit.
/// `name` is opened inside `root` (the rootfs, or `/` after `pivot_root`);
/// `host`: the host's layout if already read (after `pivot_root` it cannot be).
fn mount_cgroup(
    root: &Path,
    name: &Path,
    opts: &ParsedOptions,
    host: Option<&HostCgroups>,
) -> Result<()> {
    let read;
    let host = match host {
        Some(h) => h,
        None => {
            read = HostCgroups::read()?;
            &read
        }
    };
    let dest = target::ensure(root, name, Kind::Dir)?;
    let flags = opts.flags | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    if host.version == 2 {
        mount(
            Some("cgroup2"),
            &dest.proc_path(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .with_context(|| format!("mount cgroup2 at {}", name.display()))?;
    } else {
        mount(
            Some("tmpfs"),
            &dest.proc_path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
            Some("mode=755"),
        )
        .with_context(|| format!("mount tmpfs at {}", name.display()))?;
        let tmpfs = reopen(root, name, &dest)?;
        for controller in &host.v1_controllers {
            let dir = controller.replace("name=", "");
            let sub = target::mkdir_open(tmpfs.fd(), Path::new(&dir))
                .with_context(|| format!("creating {}/{dir}", name.display()))?;
            mount(
                Some("cgroup"),
                &target::fd_path(sub.as_fd()),
                Some("cgroup"),
                flags,
                Some(controller.as_str()),
            )
            .with_context(|| format!("mount cgroup -o {controller} at {}/{dir}", name.display()))?;
        }
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            remount_bind(
                &tmpfs.proc_path(),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                name,
            )?;
        }
    }
    let mounted = reopen(root, name, &dest)?;
    mounts::attr::apply_fd(mounted.fd(), opts.recursive, name)?;
    apply_propagation(&mounted, opts, name)
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

/// Makes the mount that holds `rootfs` private if it is shared (see [`prepare`]).
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let path = fs::canonicalize(rootfs)
        .with_context(|| format!("resolving rootfs {}", rootfs.display()))?;
    // Only the mounts at the rootfs or above it are parsed: the table holds two mounts per
    // running container, and parsing every line made each start slower the more ran.
    let table =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let above: String = table
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|point| path.starts_with(mounts::attr::unescape(point)))
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let infos =
        <procfs::process::MountInfos as procfs::FromBufRead>::from_buf_read(above.as_bytes())
            .context("parsing /proc/self/mountinfo")?;
    // The last mount at the longest prefix: the one on top, which holds the rootfs.
    let mut holder = None;
    for info in infos {
        let point = &info.mount_point;
        if path.starts_with(point)
            && holder.as_ref().is_none_or(|(p, _): &(PathBuf, bool)| {
                point.as_os_str().len() >= p.as_os_str().len()
            })
        {
            let shared = info
                .opt_fields
                .iter()
                .any(|f| matches!(f, procfs::process::MountOptFields::Shared(_)));
            holder = Some((point.clone(), shared));
        }
    }
    match holder {
        Some((point, true)) => mount(
            None::<&str>,
            &point,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .with_context(|| format!("making {} (holding the rootfs) private", point.display())),
        _ => Ok(()),
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
    if let Some(value) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        // The propagation asked for `/`, which [`prepare`] had to make private for pivot_root.
        let flags = mounts::options::parse_propagation(Some(value));
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .with_context(|| format!("setting rootfsPropagation {value:?} on /"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        // A bind remount replaces the mount's flags; in a user namespace the ones the mount
        // came with (nosuid, nodev, noexec, the atime mode) are locked and dropping one is
        // EPERM: keep them, as runc does.
        let keep = mounts::attr::current_flags(Path::new("/"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
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

    /// CVE-2021-30465: the mount point is swapped for a symlink to a host directory after pier
    /// checked it. Mounting through the descriptor still lands on the directory pier opened,
    /// the host directory gets nothing, and reopening the moved target is refused.
    #[test]
    fn a_symlink_swapped_in_after_the_open_does_not_move_the_mount() {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (root, host) = (dir.path().join("root"), dir.path().join("host"));
        fs::create_dir_all(root.join("mnt")).unwrap();
        fs::create_dir_all(&host).unwrap();
        // A directory with a mount on it is on another device than the directory around it.
        let base = fs::metadata(dir.path()).unwrap().dev();
        let on_tmpfs = |p: &Path| fs::metadata(p).unwrap().dev() != base;
        // SAFETY: the child makes plain syscalls and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = (|| -> Result<i32> {
                    crate::namespaces::enter_private_mount_namespace()?;
                    let t = target::ensure(&root, Path::new("/mnt"), Kind::Dir)?;
                    // The attacker's swap, between pier's open and its mount.
                    fs::rename(root.join("mnt"), root.join("old"))?;
                    symlink(&host, root.join("mnt"))?;
                    mount(
                        Some("tmpfs"),
                        &t.proc_path(),
                        Some("tmpfs"),
                        MsFlags::empty(),
                        None::<&str>,
                    )?;
                    let reopened = reopen(&root, Path::new("/mnt"), &t);
                    Ok(
                        match (
                            on_tmpfs(&root.join("old")),
                            on_tmpfs(&host),
                            reopened.is_err(),
                        ) {
                            (true, false, true) => 0,
                            (false, _, _) => 10,
                            (_, true, _) => 11,
                            (_, _, false) => 12,
                        },
                    )
                })()
                .unwrap_or_else(|e| {
                    eprintln!("{e:#}");
                    20
                });
                // SAFETY: ends the forked child without unwinding into the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                assert_eq!(status, WaitStatus::Exited(child, 0));
            }
        }
    }
}
