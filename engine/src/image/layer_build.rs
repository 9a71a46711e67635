//! Building reproducible layer tars.
//!
//! `pier build`, `pier commit` and the busybox bootstrap all turn a directory (or a list of
//! entries) into a layer tar, and the same content must give the same digest every time so
//! identical layers are stored once. Hence: entries sorted by name, explicit GNU headers
//! with the file's mode, uid, gid and mtime (seconds) but no user/group names, no atime and
//! no ctime, and hard links emitted as links to the first path seen.
//!
//! An overlayfs upper directory is translated back to OCI conventions: a 0:0 character
//! device (overlay whiteout) becomes an empty `.wh.NAME` entry, and a directory with
//! `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry.

use super::layer::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use pier_oci::security::in_root::list_dir;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};
use xattr::FileExt;

/// Ownership, permissions and mtime recorded for one tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// Permission bits including set-id and sticky bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

impl EntryMeta {
    fn from_stat(st: &FileStat) -> EntryMeta {
        EntryMeta {
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            mtime: u64::try_from(st.st_mtime).unwrap_or(0),
        }
    }
}

/// Writes layer tar entries with deterministic headers.
pub struct LayerTarBuilder<W: Write> {
    tar: tar::Builder<W>,
    /// Paths (relative to the tree) left out with everything under them.
    skip: Vec<PathBuf>,
}

impl<W: Write> LayerTarBuilder<W> {
    /// Starts a tar stream on `out`.
    pub fn new(out: W) -> Self {
        LayerTarBuilder {
            tar: tar::Builder::new(out),
            skip: Vec::new(),
        }
    }

    fn header(kind: EntryType, meta: &EntryMeta, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode);
        h.set_uid(u64::from(meta.uid));
        h.set_gid(u64::from(meta.gid));
        h.set_mtime(meta.mtime);
        h.set_size(size);
        h
    }

    /// Adds a directory entry.
    pub fn dir(&mut self, path: &Path, meta: &EntryMeta) -> Result<()> {
        let mut h = Self::header(EntryType::Directory, meta, 0);
        self.tar
            .append_data(&mut h, path, io::empty())
            .with_context(|| format!("adding directory {} to layer tar", path.display()))
    }

    /// Adds a regular file of `size` bytes read from `data`.
    pub fn file(
        &mut self,
        path: &Path,
        meta: &EntryMeta,
        size: u64,
        data: impl Read,
    ) -> Result<()> {
        let mut h = Self::header(EntryType::Regular, meta, size);
        self.tar
            .append_data(&mut h, path, data)
            .with_context(|| format!("adding file {} to layer tar", path.display()))
    }

    /// Adds a symbolic link to `target` (stored verbatim).
    pub fn symlink(&mut self, path: &Path, target: &Path, meta: &EntryMeta) -> Result<()> {
        let mut h = Self::header(EntryType::Symlink, meta, 0);
        self.tar
            .append_link(&mut h, path, target)
            .with_context(|| format!("adding symlink {} to layer tar", path.display()))
    }

    /// Adds a hard link to the earlier entry `target` (a path inside the layer).
    pub fn hardlink(&mut self, path: &Path, target: &Path, meta: &EntryMeta) -> Result<()> {
        let mut h = Self::header(EntryType::Link, meta, 0);
        self.tar
            .append_link(&mut h, path, target)
            .with_context(|| format!("adding hard link {} to layer tar", path.display()))
    }

    /// Adds a device or fifo entry.
    fn special(&mut self, path: &Path, kind: EntryType, meta: &EntryMeta, rdev: u64) -> Result<()> {
        let mut h = Self::header(kind, meta, 0);
        // Major/minor as glibc's gnu_dev_major/minor compute them.
        let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
        let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
        h.set_device_major(major as u32)
            .and_then(|_| h.set_device_minor(minor as u32))
            .context("setting device numbers")?;
        self.tar
            .append_data(&mut h, path, io::empty())
            .with_context(|| format!("adding {} to layer tar", path.display()))
    }

    /// Adds a PAX header carrying extended attributes for the entry that follows.
    fn xattrs(&mut self, attrs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut data = Vec::new();
        for (name, value) in attrs {
            let mut record = b" SCHILY.xattr.".to_vec();
            record.extend_from_slice(name.as_bytes());
            record.push(b'=');
            record.extend_from_slice(value);
            record.push(b'\n');
            // A PAX record starts with its own total length in decimal, which counts
            // its own digits: grow the guess until it is self-consistent.
            let mut len = record.len() + 1;
            while len != record.len() + len.to_string().len() {
                len = record.len() + len.to_string().len();
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.extend_from_slice(&record);
        }
        let meta = EntryMeta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let mut h = Self::header(EntryType::XHeader, &meta, data.len() as u64);
        h.set_path("././@PaxHeader")
            .context("setting PAX header name")?;
        h.set_cksum();
        self.tar
            .append(&h, &data[..])
            .context("adding PAX header to layer tar")
    }

    /// Adds everything under `dir` (not `dir` itself), sorted by name, translating
    /// overlayfs whiteouts and opaque directories to their OCI form.
    pub fn append_tree(&mut self, dir: &Path) -> Result<()> {
        let root = open_dir_at(AT_FDCWD, dir.as_os_str())
            .with_context(|| format!("opening directory {}", dir.display()))?;
        self.append_tree_fd(root.as_fd(), dir)
    }

    /// [`Self::append_tree`] of an open directory (`shown` names it in errors). Every entry
    /// is reached relative to its parent's descriptor without following a symlink (the
    /// tree may be a running container's upper directory, changing meanwhile): an entry
    /// swapped for a symlink is archived as that symlink, never as what it points at.
    pub fn append_tree_fd(&mut self, dir: BorrowedFd, shown: &Path) -> Result<()> {
        let mut links = HashMap::new();
        self.append_children(dir, shown, Path::new(""), &mut links)
    }

    fn append_children(
        &mut self,
        dir: BorrowedFd,
        base: &Path,
        rel: &Path,
        links: &mut HashMap<(u64, u64), PathBuf>,
    ) -> Result<()> {
        let shown = || base.join(rel).display().to_string();
        let names = list_dir(dir).with_context(|| format!("reading directory {}", shown()))?;
        for name in names {
            let path = rel.join(&name);
            if self.skip.contains(&path) {
                continue;
            }
            let full = || base.join(&path).display().to_string();
            let st = match fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed by a running container since the listing (`export`, `commit
                // --pause=false`): gone from the archive too, as with tar.
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e).with_context(|| format!("inspecting {}", full())),
            };
            let meta = EntryMeta::from_stat(&st);
            let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if kind == SFlag::S_IFCHR && st.st_rdev == 0 {
                // Overlay whiteout -> OCI whiteout file.
                let mut wh = name.clone();
                wh.clear();
                wh.push(WHITEOUT_PREFIX);
                wh.push(&name);
                self.file(&rel.join(wh), &meta, 0, io::empty())?;
                continue;
            }
            match kind {
                SFlag::S_IFDIR => {
                    let sub = match open_dir_at(dir, &name) {
                        Ok(fd) => fd,
                        // Gone, or swapped for a link or a file since fstatat.
                        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                        Err(e) => {
                            return Err(e).with_context(|| format!("opening directory {}", full()))
                        }
                    };
                    let file = fs::File::from(sub);
                    self.attrs_of(&file, &full)?;
                    self.dir(&path, &meta)?;
                    // Through an overlay's merged view (`pier export`), overlayfs refuses its
                    // own `trusted.overlay.*` names (EOPNOTSUPP on some kernels, e.g. 6.1):
                    // there the tree is already merged, so nothing is opaque.
                    let opaque = match file.get_xattr(OVERLAY_OPAQUE_XATTR) {
                        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => None,
                        other => other.with_context(|| {
                            format!("reading {OVERLAY_OPAQUE_XATTR} of {}", full())
                        })?,
                    };
                    if opaque.as_deref() == Some(b"y") {
                        let marker = EntryMeta { mode: 0, ..meta };
                        self.file(&path.join(OPAQUE_MARKER), &marker, 0, io::empty())?;
                    }
                    self.append_children(file.as_fd(), base, &path, links)?;
                }
                SFlag::S_IFLNK => {
                    let target = match readlinkat(dir, name.as_os_str()) {
                        Ok(t) => t,
                        // Gone, or swapped for something else (EINVAL: not a link) since
                        // fstatat.
                        Err(Errno::ENOENT | Errno::EINVAL) => continue,
                        Err(e) => {
                            return Err(e).with_context(|| format!("reading symlink {}", full()))
                        }
                    };
                    self.symlink(&path, Path::new(&target), &meta)?;
                }
                SFlag::S_IFREG => {
                    if st.st_nlink > 1 {
                        if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                            self.hardlink(&path, &first.clone(), &meta)?;
                            continue;
                        }
                    }
                    let fd = match openat(
                        dir,
                        name.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    ) {
                        Ok(fd) => fd,
                        // Gone, or swapped for a link (never followed) since fstatat.
                        Err(Errno::ENOENT | Errno::ELOOP) => continue,
                        Err(e) => return Err(e).with_context(|| format!("opening {}", full())),
                    };
                    let file = fs::File::from(fd);
                    // What was opened is archived, with its own status (swapped since
                    // fstatat for another file of the tree, it is still inside the tree);
                    // anything but a regular file now (a FIFO) is left out.
                    let now = fstat(&file).with_context(|| format!("fstat {}", full()))?;
                    if SFlag::from_bits_truncate(now.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                        continue;
                    }
                    self.attrs_of(&file, &full)?;
                    let size = u64::try_from(now.st_size).unwrap_or(0);
                    // Exactly `size` bytes whatever happens to the file meanwhile: a file
                    // that shrinks is padded with zeros rather than corrupt the archive.
                    let data = file.take(size).chain(io::repeat(0)).take(size);
                    self.file(&path, &EntryMeta::from_stat(&now), size, data)?;
                    if now.st_nlink > 1 {
                        links.insert((now.st_dev, now.st_ino), path.clone());
                    }
                }
                SFlag::S_IFIFO => self.special(&path, EntryType::Fifo, &meta, 0)?,
                SFlag::S_IFCHR => self.special(&path, EntryType::Char, &meta, st.st_rdev)?,
                SFlag::S_IFBLK => self.special(&path, EntryType::Block, &meta, st.st_rdev)?,
                // Sockets cannot be archived; they are skipped as tar does.
                _ => {}
            }
        }
        Ok(())
    }

    /// Adds the PAX header of `file`'s extended attributes worth keeping, if any.
    fn attrs_of(&mut self, file: &fs::File, full: &dyn Fn() -> String) -> Result<()> {
        let attrs =
            read_xattrs(file).with_context(|| format!("extended attributes of {}", full()))?;
        if !attrs.is_empty() {
            self.xattrs(&attrs)?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> Result<W> {
        self.tar.into_inner().context("finishing layer tar")
    }
}

/// Opens the directory `name` in `dir` for listing, without following a symlink.
fn open_dir_at<Fd: AsFd>(dir: Fd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The extended attributes worth keeping in a layer (same policy as extraction), sorted;
/// read from the open file (symlinks, FIFOs and devices carry none of these).
fn read_xattrs(file: &fs::File) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in file.list_xattr().context("listing xattrs")? {
        let name = name.to_string_lossy().into_owned();
        if !(name.starts_with("user.") || name == "security.capability") {
            continue;
        }
        if let Some(value) = file
            .get_xattr(&name)
            .with_context(|| format!("reading xattr {name}"))?
        {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a reproducible layer tar of everything under `dir` to `out`.
pub fn write_layer_tar<W: Write>(dir: &Path, out: W) -> Result<W> {
    write_layer_tar_skipping(dir, &[], out)
}

/// [`write_layer_tar`] of an open directory (`shown` names it in errors).
pub fn write_layer_tar_fd<W: Write>(dir: BorrowedFd, shown: &Path, out: W) -> Result<W> {
    let mut b = LayerTarBuilder::new(out);
    b.append_tree_fd(dir, shown)?;
    b.finish()
}

/// [`write_layer_tar`] leaving out `skip` (paths relative to `dir`, e.g. a container's mount
/// points, which `pier commit` must not bake into the image).
pub fn write_layer_tar_skipping<W: Write>(dir: &Path, skip: &[PathBuf], out: W) -> Result<W> {
    let mut b = LayerTarBuilder::new(out);
    b.skip = skip.to_vec();
    b.append_tree(dir)?;
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::super::layer::unpack_layer;
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn same_tree_gives_identical_bytes_and_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("z/deep")).unwrap();
        fs::write(src.join("b"), "bee").unwrap();
        fs::write(src.join("a"), "ay").unwrap();
        fs::hard_link(src.join("a"), src.join("z/a-link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        std::os::unix::fs::chown(src.join("b"), Some(1000), Some(100)).unwrap();
        fs::set_permissions(src.join("b"), fs::Permissions::from_mode(0o4750)).unwrap();
        xattr::set(src.join("a"), "user.note", b"hello").unwrap();
        let long = "n".repeat(150);
        fs::write(src.join("z/deep").join(&long), "long name").unwrap();

        let one = write_layer_tar(&src, Vec::new()).unwrap();
        // Touching atime and rereading must not change anything.
        let _ = fs::read(src.join("b")).unwrap();
        let two = write_layer_tar(&src, Vec::new()).unwrap();
        assert_eq!(one, two);

        let dst = t.path().join("dst");
        fs::create_dir(&dst).unwrap();
        unpack_layer(&one[..], &dst).unwrap();
        let b = fs::metadata(dst.join("b")).unwrap();
        let sb = fs::metadata(src.join("b")).unwrap();
        assert_eq!(
            (b.mode() & 0o7777, b.uid(), b.gid(), b.mtime()),
            (0o4750, 1000, 100, sb.mtime())
        );
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            fs::metadata(dst.join("a")).unwrap().ino(),
            fs::metadata(dst.join("z/a-link")).unwrap().ino()
        );
        assert_eq!(
            xattr::get(dst.join("a"), "user.note").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            fs::read_to_string(dst.join("z/deep").join(&long)).unwrap(),
            "long name"
        );

        // Rebuilding from the extracted copy gives the same bytes: content-addressed.
        let three = write_layer_tar(&dst, Vec::new()).unwrap();
        assert_eq!(one, three);
    }
}
