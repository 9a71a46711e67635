//! Safe extraction of a layer tar into a directory.
//!
//! A layer tar comes from outside (`pier import`, later `pier load`) and is extracted as
//! root, so a hostile archive must not be able to touch anything outside the layer
//! directory. The classic escapes and how each is closed here:
//!
//! - `../evil` or `a/../../evil`: any `..` component rejects the archive;
//! - `/abs/evil`: a leading `/` is stripped, the path is taken relative to the layer (as
//!   GNU tar does);
//! - `a -> /etc` followed by `a/passwd`: every parent directory is opened component by
//!   component with `O_NOFOLLOW` relative to the previous one (`openat`), so a symlink in
//!   the path is never followed and the entry is rejected;
//! - `a/` then `a -> /etc` then `a/passwd`: the descriptors of the parent directories are
//!   kept from one entry to the next (tar entries come grouped by directory, so a layer of
//!   thousands of files opens each directory about once, see `DirCursor`), and an entry
//!   that changes a path drops the cached descriptors of that path first, so a later entry
//!   never goes through a stale one; a directory is in any case never replaced by a link
//!   (the second entry is refused);
//! - a hard link to `/etc/passwd`: link targets are resolved the same way, inside the layer;
//! - device nodes: made only for image layers, by root outside a user namespace (see
//!   [`super::layer_devices`]: `mknodat` in the parent's open directory, never through
//!   a path); skipped otherwise, and recorded. The character device 0:0 in a layer is an
//!   overlayfs whiteout.
//!
//! OCI whiteouts are translated to overlayfs ones while extracting: `.wh.NAME` becomes a
//! 0:0 character device `NAME`, and `.wh..wh..opq` marks its directory opaque with the
//! `trusted.overlay.opaque=y` extended attribute. Owner, mode, mtime and `user.*` /
//! `security.capability` extended attributes are preserved.

use super::layer_devices::{self, DeviceEntry, DeviceNodes};
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::EntryType;
use xattr::FileExt;

/// Prefix of an OCI whiteout entry (`.wh.NAME` deletes `NAME` from lower layers).
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker entry.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Extended attribute overlayfs reads to hide lower layers under a directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an extraction produced.
#[derive(Debug, Default, Clone)]
pub struct UnpackStats {
    /// Number of tar entries processed (including skipped ones).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub size: u64,
    /// Paths (`/dev/null`) of the character and block devices not created.
    pub skipped_devices: Vec<String>,
}

/// Extracts the tar stream `archive` into the existing directory `dest`, confined to it.
///
/// Any entry that would escape `dest` makes the whole extraction fail; the caller is
/// expected to extract into a temporary directory and discard it on error. Device nodes
/// are skipped (this is for archives that are not image layers: `COPY`, uploads).
pub fn unpack_layer<R: Read>(archive: R, dest: &Path) -> Result<UnpackStats> {
    unpack_layer_with(archive, dest, DeviceNodes::Skip)
}

/// [`unpack_layer`] for an image layer: device nodes as [`DeviceNodes::for_image_layers`]
/// says (made by root in the initial user namespace, as Docker does).
pub fn unpack_image_layer<R: Read>(archive: R, dest: &Path) -> Result<UnpackStats> {
    unpack_layer_with(archive, dest, DeviceNodes::for_image_layers())
}

/// [`unpack_layer`], with device nodes made or skipped as `devices` says.
pub fn unpack_layer_with<R: Read>(
    archive: R,
    dest: &Path,
    devices: DeviceNodes,
) -> Result<UnpackStats> {
    let root = open_dir_path(dest)?;
    let mut cursor = DirCursor::new(root.as_fd());
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut archive = tar::Archive::new(archive);
    let mut stats = UnpackStats::default();
    // Directory mtimes are set last: creating entries inside a directory changes it.
    let mut dir_times: Vec<(Vec<OsString>, i64)> = Vec::new();
    let entries = archive
        .entries()
        .context("reading tar archive (is it a tar or tar.gz file?)")?;
    for entry in entries {
        let mut entry = entry.context("reading tar archive (is it a tar or tar.gz file?)")?;
        stats.entries += 1;
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let components =
            normalize(&raw_path).with_context(|| format!("refusing tar entry {shown:?}"))?;
        let written = unpack_entry(
            &mut cursor,
            &mut entry,
            &components,
            &mut dir_times,
            &mut buf,
            (devices, &mut stats.skipped_devices),
        )
        .with_context(|| format!("extracting tar entry {shown:?} into {}", dest.display()))?;
        stats.size += written;
    }
    // Newest first, so a parent's time is set after its children's; the cursor keeps the
    // walk cheap (the list is in archive order, grouped by directory).
    // Each is set through its parent (which siblings share), without following a link.
    let mut cursor = DirCursor::new(root.as_fd());
    for (components, mtime) in dir_times.iter().rev() {
        let t = TimeSpec::new(*mtime, 0);
        let set = match components.split_last() {
            None => futimens(&root, &t, &t),
            Some((name, parents)) => utimensat(
                cursor.open(parents, false, "")?,
                name.as_os_str(),
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            ),
        };
        set.with_context(|| format!("setting mtime of {}", display_components(dest, components)))?;
    }
    Ok(stats)
}

/// Splits a tar path into its components, dropping a leading `/`, empty and `.`
/// components, and rejecting `..` (which could climb out of the layer).
fn normalize(raw: &[u8]) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => bail!("path contains '..', which could escape the layer directory"),
            _ if c.contains(&0) => bail!("path contains a NUL byte"),
            _ => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

fn display_components(dest: &Path, components: &[OsString]) -> String {
    let mut p = dest.to_path_buf();
    p.extend(components);
    p.display().to_string()
}

/// Metadata common to all entry types, read from the tar header.
struct Meta {
    uid: Uid,
    gid: Gid,
    mode: Mode,
    mtime: TimeSpec,
}

fn read_meta(header: &tar::Header) -> Result<Meta> {
    // Some archivers leave numeric fields empty; like GNU tar, read those as 0.
    let uid = u32::try_from(header.uid().unwrap_or(0)).context("uid out of range")?;
    let gid = u32::try_from(header.gid().unwrap_or(0)).context("gid out of range")?;
    let mode = header.mode().context("reading mode")? & 0o7777;
    let mtime = i64::try_from(header.mtime().unwrap_or(0)).unwrap_or(0);
    Ok(Meta {
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        mode: Mode::from_bits_truncate(mode),
        mtime: TimeSpec::new(mtime, 0),
    })
}

/// Extended attributes carried by the entry that are safe to restore.
fn read_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().context("reading PAX headers")? {
        for ext in exts {
            let ext = ext.context("reading PAX header")?;
            let Ok(key) = ext.key() else { continue };
            let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            // trusted.* (overlayfs' own metadata among them) would let an archive steer
            // the kernel; only user data and file capabilities are restored.
            if name.starts_with("user.") || name == "security.capability" {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Size of the buffer file contents are copied through (std's `io::copy` uses 8 KiB: one
/// read and one write syscall per 8 KiB of a layer's data).
const COPY_BUFFER: usize = 256 << 10;

fn unpack_entry<R: Read>(
    cursor: &mut DirCursor<'_>,
    entry: &mut tar::Entry<'_, R>,
    components: &[OsString],
    dir_times: &mut Vec<(Vec<OsString>, i64)>,
    buf: &mut [u8],
    (devices, skipped_devices): (DeviceNodes, &mut Vec<String>),
) -> Result<u64> {
    let kind = entry.header().entry_type();
    let meta = read_meta(entry.header())?;
    let xattrs = read_xattrs(entry)?;

    let Some((name, parents)) = components.split_last() else {
        // The archive's root ("./"): its metadata applies to the layer directory itself.
        if kind == EntryType::Directory {
            apply_fd_meta(cursor.root, &meta, &xattrs)?;
            dir_times.push((Vec::new(), meta.mtime.tv_sec()));
        }
        return Ok(0);
    };
    // Whatever this entry does to `components`, no cached descriptor may outlive it.
    cursor.forget(components);
    let root = cursor.root;
    let parent = cursor.open(parents, true, "")?;
    let name_bytes = name.as_bytes();

    // OCI whiteouts become overlayfs whiteouts.
    if name_bytes == OPAQUE_MARKER.as_bytes() {
        File::from(
            parent
                .try_clone_to_owned()
                .context("duplicating directory fd")?,
        )
        .set_xattr(OVERLAY_OPAQUE_XATTR, b"y")
        .with_context(|| format!("setting {OVERLAY_OPAQUE_XATTR}"))?;
        return Ok(0);
    }
    if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        let hidden = OsStr::from_bytes(hidden);
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            bail!("invalid whiteout name");
        }
        cursor.forget_child(parents, hidden);
        let parent = cursor.open(parents, true, "")?;
        remove_existing(parent, hidden)?;
        make_whiteout(parent, hidden)?;
        return Ok(0);
    }

    match kind {
        EntryType::Directory => {
            // mkdir first: in a fresh layer the directory is new, so this is one
            // syscall fewer than trying to open it.
            let dir = match mkdirat(parent, name.as_os_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) => {
                    open_dir_nofollow(parent, name).context("opening the directory just created")?
                }
                Err(Errno::EEXIST) => match open_dir_nofollow(parent, name) {
                    Ok(fd) => fd,
                    Err(_) => {
                        remove_existing(parent, name)?;
                        create_dir(parent, name)?
                    }
                },
                Err(e) => return Err(e).context("creating directory"),
            };
            apply_fd_meta(&dir, &meta, &xattrs)?;
            dir_times.push((components.to_vec(), meta.mtime.tv_sec()));
            // Its files usually come next: they find their parent open.
            cursor.enter(name, dir);
            Ok(0)
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let create = || {
                openat(
                    parent,
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
            };
            // O_EXCL: an existing entry (of an earlier tar entry) is replaced, never
            // written through; the common case, a new name, costs no extra stat.
            let fd = match create() {
                Err(Errno::EEXIST) => {
                    remove_existing(parent, name)?;
                    create()
                }
                r => r,
            }
            .context("creating file")?;
            let mut file = File::from(fd);
            let written = copy_content(entry, &mut file, buf).context("writing file content")?;
            apply_fd_meta(file.as_fd(), &meta, &xattrs)?;
            Ok(written)
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .context("symlink entry without a target")?
                .into_owned();
            // The target is stored verbatim: it is only ever resolved inside the
            // container's root, never by this extraction.
            let create = || symlinkat(OsStr::from_bytes(&target), parent, name.as_os_str());
            match create() {
                Err(Errno::EEXIST) => {
                    remove_existing(parent, name)?;
                    create()
                }
                r => r,
            }
            .context("creating symlink")?;
            apply_link_meta(parent, name, &meta)?;
            Ok(0)
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .context("hard link entry without a target")?
                .into_owned();
            let target_components = normalize(&target).with_context(|| {
                format!("hard link target {:?}", String::from_utf8_lossy(&target))
            })?;
            let Some((target_name, target_parents)) = target_components.split_last() else {
                bail!("hard link to the layer root");
            };
            // A cursor of its own: the entry's parent stays open in the main one.
            let mut targets = DirCursor::new(root);
            let target_parent = targets.open(target_parents, false, "hard link target ")?;
            remove_existing(parent, name)?;
            // Flags 0: a target that is a symlink is linked itself, not followed.
            linkat(
                target_parent,
                target_name.as_os_str(),
                parent,
                name.as_os_str(),
                AtFlags::empty(),
            )
            .with_context(|| {
                format!(
                    "hard-linking to {:?} (the target must be an earlier file of the layer)",
                    String::from_utf8_lossy(&target)
                )
            })?;
            Ok(0)
        }
        EntryType::Char | EntryType::Block => {
            let major = entry.header().device_major().ok().flatten();
            let minor = entry.header().device_minor().ok().flatten();
            let is_char = kind == EntryType::Char;
            if is_char && (major, minor) == (Some(0), Some(0)) {
                remove_existing(parent, name)?;
                make_whiteout(parent, name)?;
                return Ok(0);
            }
            let made = match (major, minor, devices) {
                (Some(major), Some(minor), DeviceNodes::Create) => {
                    remove_existing(parent, name)?;
                    let dev = DeviceEntry {
                        kind: if is_char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        },
                        major: major.into(),
                        minor: minor.into(),
                    };
                    layer_devices::make_device(parent, name, dev)?
                }
                // No device number (a malformed header), or not to be made here.
                _ => false,
            };
            if made {
                apply_link_meta(parent, name, &meta)?;
                layer_devices::set_node_mode(parent, name, meta.mode)?;
            } else {
                skipped_devices.push(format!(
                    "/{}",
                    display_components(Path::new(""), components)
                ));
            }
            Ok(0)
        }
        EntryType::Fifo => {
            remove_existing(parent, name)?;
            mknodat(parent, name.as_os_str(), SFlag::S_IFIFO, meta.mode, 0)
                .context("creating fifo")?;
            apply_link_meta(parent, name, &meta)?;
            // After chown (which clears set-id bits); mknod's mode was cut by the umask.
            fchmodat(
                parent,
                name.as_os_str(),
                meta.mode,
                FchmodatFlags::FollowSymlink,
            )
            .context("fchmodat")?;
            Ok(0)
        }
        // PAX/GNU metadata entries are consumed by the tar crate; anything else is unknown
        // and ignored.
        _ => Ok(0),
    }
}

/// Opens `dest` itself (which the caller created and trusts).
fn open_dir_path(dest: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening layer directory {}", dest.display()))?;
    Ok(fd)
}

fn open_dir_nofollow<Fd: AsFd>(dir: Fd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn create_dir(parent: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd> {
    match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e).context("creating directory"),
    }
    open_dir_nofollow(parent, name).context("opening the directory just created")
}

/// The open directories from the layer root down to the directory the last entry used.
///
/// Resolving every entry's parent from the root costs one `openat` per component; tar
/// entries come grouped by directory, so keeping the last path open and re-opening only
/// the components after the part it shares with the next one opens each directory about
/// once. Every descriptor here was opened with `O_NOFOLLOW | O_DIRECTORY` relative to the
/// one before it (the first relative to the root), so each is a directory of the layer
/// reached without following a link. An entry that changes a path calls
/// [`Self::forget`] first, so the cache never answers for a path that has since become
/// something else. At most one descriptor per path component is held.
struct DirCursor<'r> {
    root: BorrowedFd<'r>,
    /// Component names and their descriptors, root's child first.
    stack: Vec<(OsString, OwnedFd)>,
}

impl<'r> DirCursor<'r> {
    fn new(root: BorrowedFd<'r>) -> Self {
        Self {
            root,
            stack: Vec::new(),
        }
    }

    fn top(&self) -> BorrowedFd<'_> {
        self.stack.last().map_or(self.root, |(_, fd)| fd.as_fd())
    }

    /// Opens the directory `components` below the root without ever following a symlink,
    /// creating missing directories (mode 0755, root-owned) when `create` is set.
    fn open(
        &mut self,
        components: &[OsString],
        create: bool,
        what: &str,
    ) -> Result<BorrowedFd<'_>> {
        let shared = self
            .stack
            .iter()
            .zip(components)
            .take_while(|((cached, _), c)| cached == *c)
            .count();
        self.stack.truncate(shared);
        for (i, c) in components.iter().enumerate().skip(shared) {
            let fd = open_component(self.top(), &components[..=i], create, what)?;
            self.stack.push((c.clone(), fd));
        }
        Ok(self.top())
    }

    /// Drops the cached descriptors of `components` and everything below it.
    fn forget(&mut self, components: &[OsString]) {
        let Some(depth) = components.len().checked_sub(1) else {
            return;
        };
        let cached = self.stack.len() > depth
            && self
                .stack
                .iter()
                .zip(components)
                .all(|((cached, _), c)| cached == c);
        if cached {
            self.stack.truncate(depth);
        }
    }

    /// [`Self::forget`] for `parents/name`.
    fn forget_child(&mut self, parents: &[OsString], name: &OsStr) {
        let mut path = parents.to_vec();
        path.push(name.to_os_string());
        self.forget(&path);
    }

    /// Records `dir`, just opened as `name` in the directory the cursor is on (by
    /// [`Self::open`], with `O_NOFOLLOW`), as the cursor's new end.
    fn enter(&mut self, name: &OsStr, dir: OwnedFd) {
        self.stack.push((name.to_os_string(), dir));
    }
}

/// Opens the last of `components` in `dir` (which holds it), as a directory and without
/// following a symlink, creating it if missing and `create` is set.
fn open_component(
    dir: BorrowedFd<'_>,
    components: &[OsString],
    create: bool,
    what: &str,
) -> Result<OwnedFd> {
    let shown = || {
        components
            .iter()
            .map(|c| c.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    let Some(c) = components.last() else {
        bail!("{what}: no path to open");
    };
    match open_dir_nofollow(dir, c) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) if create => create_dir(dir, c),
        Err(Errno::ENOENT) => bail!("{what}{:?} does not exist in the layer", shown()),
        Err(Errno::ELOOP) => bail!(
            "{what}{:?} is a symbolic link; refusing to follow links inside a layer",
            shown()
        ),
        Err(Errno::ENOTDIR) => match fstatat(dir, c.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                bail!(
                    "{what}{:?} is a symbolic link; refusing to follow links inside a layer",
                    shown()
                )
            }
            _ => bail!("{what}{:?} is not a directory", shown()),
        },
        Err(e) => Err(e).with_context(|| format!("opening {what}{:?}", shown())),
    }
}

/// Copies a file's content through `buf`, returning the number of bytes written.
fn copy_content(from: &mut impl Read, to: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Removes a non-directory entry `name` so a later tar entry can replace it (the last
/// entry for a path wins, as in tar). Directories are kept: replacing one by a file is
/// refused rather than deleting a whole tree.
fn remove_existing(parent: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    match fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).context("inspecting existing entry"),
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {
            bail!("an earlier entry made this path a directory")
        }
        Ok(_) => {
            unlinkat(parent, name, UnlinkatFlags::NoRemoveDir).context("replacing existing entry")
        }
    }
}

fn make_whiteout(parent: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    mknodat(parent, name, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
        .context("creating overlay whiteout (character device 0:0)")
}

/// Owner, then mode (chown clears set-id bits), xattrs and mtime on an open file or dir.
fn apply_fd_meta<Fd: AsFd>(fd: Fd, meta: &Meta, xattrs: &[(String, Vec<u8>)]) -> Result<()> {
    let fd = fd.as_fd();
    fchown(fd, Some(meta.uid), Some(meta.gid)).context("fchown")?;
    fchmod(fd, meta.mode).context("fchmod")?;
    if !xattrs.is_empty() {
        let file = File::from(fd.try_clone_to_owned().context("duplicating fd")?);
        for (name, value) in xattrs {
            file.set_xattr(name, value)
                .with_context(|| format!("setting extended attribute {name}"))?;
        }
    }
    futimens(fd, &meta.mtime, &meta.mtime).context("futimens")?;
    Ok(())
}

/// Owner and mtime of a symlink or fifo, without following it.
fn apply_link_meta(parent: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> Result<()> {
    fchownat(
        parent,
        name,
        Some(meta.uid),
        Some(meta.gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .context("fchownat")?;
    utimensat(
        parent,
        name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .context("utimensat")?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::Header;

    /// Appends an entry with a raw (unvalidated) path, as a hostile archive would.
    pub(crate) fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: EntryType,
        link: Option<&str>,
        data: &[u8],
    ) {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        if kind == EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    struct Sandbox {
        _t: tempfile::TempDir,
        layer: std::path::PathBuf,
        outside: std::path::PathBuf,
    }

    fn sandbox() -> Sandbox {
        let t = tempfile::tempdir().unwrap();
        let layer = t.path().join("layer");
        let outside = t.path().join("outside");
        fs::create_dir_all(&layer).unwrap();
        fs::create_dir_all(&outside).unwrap();
        Sandbox {
            _t: t,
            layer,
            outside,
        }
    }

    fn unpack(
        entries: impl FnOnce(&mut tar::Builder<Vec<u8>>),
        dest: &Path,
    ) -> Result<UnpackStats> {
        let mut b = tar::Builder::new(Vec::new());
        entries(&mut b);
        let data = b.into_inner().unwrap();
        unpack_layer(&data[..], dest)
    }

    fn outside_is_empty(s: &Sandbox) {
        assert_eq!(
            fs::read_dir(&s.outside).unwrap().count(),
            0,
            "something escaped the layer"
        );
    }

    #[test]
    fn dot_dot_is_refused() {
        let s = sandbox();
        let err = unpack(
            |b| raw_entry(b, "../outside/evil", EntryType::Regular, None, b"x"),
            &s.layer,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("'..'"), "{err:#}");
        let err = unpack(
            |b| raw_entry(b, "a/../../outside/evil", EntryType::Regular, None, b"x"),
            &s.layer,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("refusing tar entry"), "{err:#}");
        outside_is_empty(&s);
    }

    #[test]
    fn absolute_paths_land_inside_the_layer() {
        let s = sandbox();
        unpack(
            |b| raw_entry(b, "/abs/evil", EntryType::Regular, None, b"x"),
            &s.layer,
        )
        .unwrap();
        assert_eq!(fs::read(s.layer.join("abs/evil")).unwrap(), b"x");
        assert!(!Path::new("/abs/evil").exists());
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        let s = sandbox();
        let target = s.outside.to_str().unwrap().to_string();
        for link in [target.as_str(), "../outside", "/etc"] {
            let err = unpack(
                |b| {
                    raw_entry(b, "a", EntryType::Symlink, Some(link), b"");
                    raw_entry(b, "a/passwd", EntryType::Regular, None, b"pwned");
                },
                &s.layer,
            )
            .unwrap_err();
            assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
            fs::remove_file(s.layer.join("a")).unwrap();
        }
        outside_is_empty(&s);
        assert!(!fs::read_to_string("/etc/passwd").unwrap().contains("pwned"));
    }

    #[test]
    fn replacing_an_open_directory_with_a_symlink_redirects_nothing() {
        // The cursor holds `a` (and `a/b`) open after the first files; the archive then
        // tries to turn `a` (or `a/b`, or a whited-out `a`) into a link out of the layer
        // and write through it, hoping a cached descriptor skips the check.
        let s = sandbox();
        let outside = s.outside.to_str().unwrap().to_string();
        for link in [outside.as_str(), "/etc", "../outside"] {
            for (dir, replaced) in [("a/", "a"), ("a/b/", "a/b")] {
                let layer = tempfile::tempdir_in(s.layer.parent().unwrap()).unwrap();
                let err = unpack(
                    |b| {
                        raw_entry(b, dir, EntryType::Directory, None, b"");
                        raw_entry(b, &format!("{dir}first"), EntryType::Regular, None, b"1");
                        raw_entry(b, replaced, EntryType::Symlink, Some(link), b"");
                        raw_entry(
                            b,
                            &format!("{replaced}/passwd"),
                            EntryType::Regular,
                            None,
                            b"pwned",
                        );
                    },
                    layer.path(),
                )
                .unwrap_err();
                assert!(
                    format!("{err:#}").contains("made this path a directory"),
                    "{err:#}"
                );
                assert_eq!(
                    fs::read(layer.path().join(dir).join("first")).unwrap(),
                    b"1"
                );
            }
            let layer = tempfile::tempdir_in(s.layer.parent().unwrap()).unwrap();
            let err = unpack(
                |b| {
                    raw_entry(b, "a/", EntryType::Directory, None, b"");
                    raw_entry(b, "a/first", EntryType::Regular, None, b"1");
                    raw_entry(b, ".wh.a", EntryType::Regular, None, b"");
                    raw_entry(b, "a", EntryType::Symlink, Some(link), b"");
                    raw_entry(b, "a/passwd", EntryType::Regular, None, b"pwned");
                },
                layer.path(),
            )
            .unwrap_err();
            assert!(
                format!("{err:#}").contains("made this path a directory"),
                "{err:#}"
            );
        }
        outside_is_empty(&s);
        assert!(!fs::read_to_string("/etc/passwd").unwrap().contains("pwned"));

        // The other way round is allowed and stays inside: a link replaced by a directory
        // (while the cursor is on the link's parent) takes the files that follow.
        unpack(
            |b| {
                raw_entry(b, "d/", EntryType::Directory, None, b"");
                raw_entry(b, "d/a", EntryType::Symlink, Some(&outside), b"");
                raw_entry(b, "d/a/", EntryType::Directory, None, b"");
                raw_entry(b, "d/a/passwd", EntryType::Regular, None, b"inside");
            },
            &s.layer,
        )
        .unwrap();
        assert!(fs::symlink_metadata(s.layer.join("d/a")).unwrap().is_dir());
        assert_eq!(fs::read(s.layer.join("d/a/passwd")).unwrap(), b"inside");
        outside_is_empty(&s);
    }

    #[test]
    fn a_forgotten_directory_is_resolved_again() {
        // Should directories ever become replaceable, forget() is what keeps a cached
        // descriptor from answering for a path that is now a link out of the layer.
        let s = sandbox();
        let root = open_dir_path(&s.layer).unwrap();
        let mut cursor = DirCursor::new(root.as_fd());
        let path = |p: &str| p.split('/').map(OsString::from).collect::<Vec<_>>();
        cursor.open(&path("a/b"), true, "").unwrap();
        fs::rename(s.layer.join("a"), s.layer.join("moved")).unwrap();
        std::os::unix::fs::symlink(&s.outside, s.layer.join("a")).unwrap();
        fs::create_dir(s.outside.join("b")).unwrap();
        cursor.forget(&path("a"));
        let err = cursor.open(&path("a/b"), true, "").unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        // Forgetting a sibling or a deeper path keeps what is still valid.
        cursor.open(&path("moved/b"), false, "").unwrap();
        cursor.forget(&path("moved/c"));
        cursor.forget(&path("other"));
        assert_eq!(cursor.stack.len(), 2);
        cursor.forget(&path("moved/b"));
        assert_eq!(cursor.stack.len(), 1);
        fs::remove_dir(s.outside.join("b")).unwrap();
        outside_is_empty(&s);
    }

    #[test]
    fn hard_links_cannot_reach_host_files() {
        let s = sandbox();
        let before = fs::metadata("/etc/passwd").unwrap().nlink();
        let err = unpack(
            |b| raw_entry(b, "p", EntryType::Link, Some("/etc/passwd"), b""),
            &s.layer,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("does not exist in the layer"),
            "{err:#}"
        );
        let err = unpack(
            |b| {
                raw_entry(b, "e", EntryType::Symlink, Some("/etc"), b"");
                raw_entry(b, "p", EntryType::Link, Some("e/passwd"), b"");
            },
            &s.layer,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        let err = unpack(
            |b| raw_entry(b, "p", EntryType::Link, Some("../outside/x"), b""),
            &s.layer,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("'..'"), "{err:#}");
        assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);
        assert!(!s.layer.join("p").exists());

        // A link to an earlier file of the layer is fine, even spelled absolute.
        unpack(
            |b| {
                raw_entry(b, "etc/passwd", EntryType::Regular, None, b"root");
                raw_entry(b, "p", EntryType::Link, Some("/etc/passwd"), b"");
            },
            &s.layer,
        )
        .unwrap();
        let (a, p) = (
            fs::metadata(s.layer.join("etc/passwd")).unwrap(),
            fs::metadata(s.layer.join("p")).unwrap(),
        );
        assert_eq!(a.ino(), p.ino());
    }

    #[test]
    fn device_nodes_are_skipped_and_whiteouts_translated() {
        let s = sandbox();
        unpack(
            |b| {
                raw_entry(b, "dev/null", EntryType::Char, None, b"");
                raw_entry(b, "gone/.wh.file", EntryType::Regular, None, b"");
                raw_entry(b, "opaque/.wh..wh..opq", EntryType::Regular, None, b"");
            },
            &s.layer,
        )
        .unwrap();
        assert!(s.layer.join("dev").is_dir());
        assert!(
            fs::symlink_metadata(s.layer.join("dev/null")).is_err(),
            "device skipped"
        );
        let wh = fs::symlink_metadata(s.layer.join("gone/file")).unwrap();
        assert!(
            wh.file_type().is_char_device() && wh.rdev() == 0,
            "whiteout is char 0:0"
        );
        assert!(!s.layer.join("gone/.wh.file").exists());
        let opq = xattr::get(s.layer.join("opaque"), OVERLAY_OPAQUE_XATTR).unwrap();
        assert_eq!(opq.as_deref(), Some(&b"y"[..]));
        assert!(!s.layer.join("opaque/.wh..wh..opq").exists());
    }

    /// A device entry with its numbers, mode and group.
    fn device(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: EntryType, dev: (u32, u32)) {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o620);
        h.set_uid(0);
        h.set_gid(5);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h.set_device_major(dev.0).unwrap();
        h.set_device_minor(dev.1).unwrap();
        b.append_data(&mut h, path, &b""[..]).unwrap();
    }

    #[test]
    fn image_layers_get_their_device_nodes_as_root() {
        let s = sandbox();
        let mut b = tar::Builder::new(Vec::new());
        device(&mut b, "dev/kmsg", EntryType::Char, (1, 11));
        device(&mut b, "dev/loop7", EntryType::Block, (7, 7));
        let data = b.into_inner().unwrap();
        assert_eq!(
            DeviceNodes::for_image_layers(),
            DeviceNodes::Create,
            "the tests run as root in the initial user namespace"
        );
        let stats = unpack_layer_with(&data[..], &s.layer, DeviceNodes::Create).unwrap();
        assert!(stats.skipped_devices.is_empty(), "{stats:?}");
        let c = fs::symlink_metadata(s.layer.join("dev/kmsg")).unwrap();
        assert!(c.file_type().is_char_device());
        assert_eq!(
            (c.rdev(), c.mode() & 0o7777, c.gid()),
            (makedev(1, 11), 0o620, 5)
        );
        assert_eq!(c.mtime(), 1_700_000_000);
        let k = fs::symlink_metadata(s.layer.join("dev/loop7")).unwrap();
        assert!(k.file_type().is_block_device());
        assert_eq!(k.rdev(), makedev(7, 7));

        // Elsewhere (COPY of a tar, an upload): skipped, and named.
        let t = sandbox();
        let stats = unpack_layer(&data[..], &t.layer).unwrap();
        assert_eq!(stats.skipped_devices, ["/dev/kmsg", "/dev/loop7"]);
        assert!(fs::symlink_metadata(t.layer.join("dev/kmsg")).is_err());
    }

    #[test]
    fn metadata_is_preserved() {
        let s = sandbox();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o1777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_size(0);
        b.append_data(&mut h, "tmp", io::empty()).unwrap();
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_234_567);
        h.set_size(3);
        b.append_data(&mut h, "tmp/suid", &b"abc"[..]).unwrap();
        let stats = unpack_layer(&b.into_inner().unwrap()[..], &s.layer).unwrap();
        assert_eq!((stats.entries, stats.size), (2, 3));
        let f = fs::metadata(s.layer.join("tmp/suid")).unwrap();
        assert_eq!(
            (f.mode() & 0o7777, f.uid(), f.gid(), f.mtime()),
            (0o4755, 1000, 1001, 1_234_567)
        );
        let d = fs::metadata(s.layer.join("tmp")).unwrap();
        assert_eq!(
            (d.mode() & 0o7777, d.mtime()),
            (0o1777, 1_000_000),
            "dir mtime set after its children"
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let s = sandbox();
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
        let err = unpack_layer(&garbage[..], &s.layer).unwrap_err();
        assert!(format!("{err:#}").contains("tar"), "{err:#}");
    }
}
