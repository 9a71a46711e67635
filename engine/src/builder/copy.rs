//! `COPY` and `ADD`: deciding which files go where (the plan), hashing them for the cache,
//! and writing them into a fresh directory that becomes the step's layer.
//!
//! Docker's rules: a source directory's *contents* are copied; a destination ending in `/`
//! (or an existing directory) receives sources under their own names; several sources need
//! such a directory; files keep their mode and mtime but belong to root (or `--chown`);
//! missing parent directories are created (0755). Destinations are resolved inside the
//! image, following its symlinks, so `COPY x /bin/` in a merged-/usr image lands in
//! `/usr/bin`. The layer directory holds only the copied files and their parents (with the
//! image's metadata for parents that exist, so the layer does not change them).

use super::context::{expand_glob, relative_source, Ignore};
use super::scratch::RootView;
use crate::image::layer::unpack_layer;
use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, SFlag};
use nix::sys::time::TimeSpec;
use pier_oci::security::in_root::{Follow, RootDir};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What one planned entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
    /// A local tar (plain or gzip) that `ADD` unpacks into the destination directory.
    Archive,
}

/// One file, directory or link to write.
#[derive(Debug, Clone)]
struct Entry {
    /// Source, relative to the source root, symlinks already resolved inside it.
    src: PathBuf,
    /// Destination, relative to the image root (symlinks in the image already resolved).
    dst: PathBuf,
    kind: Kind,
    /// Permission bits of the source.
    mode: u32,
    /// Modification time of the source, seconds.
    mtime: i64,
}

impl Entry {
    fn new(src: PathBuf, dst: PathBuf, kind: Kind, st: &FileStat) -> Entry {
        Entry {
            src,
            dst,
            kind,
            mode: st.st_mode & 0o7777,
            mtime: st.st_mtime,
        }
    }
}

fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// Where sources come from.
pub struct Sources<'a> {
    /// The build context directory, or the root of a `--from` image view.
    pub root: &'a Path,
    /// `.dockerignore` (the context only).
    pub ignore: Option<&'a Ignore>,
    /// Shown in "not found" errors: "build context" or "stage NAME".
    pub what: &'a str,
}

/// The files of one `COPY`/`ADD`, ready to hash and write.
pub struct CopyPlan {
    /// The source root, held open: every source is read relative to it.
    src: RootDir,
    entries: Vec<Entry>,
    /// `file:`, `dir:` or `multi:`, for the history line.
    kind: &'static str,
}

/// Ownership and mode options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    /// `--chown` resolved, default root.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// `--chmod`.
    pub mode: Option<u32>,
}

/// Plans copying `sources` (expanded) to `dest` (absolute, expanded; a trailing `/` means a
/// directory) in the image seen through `view`. `add` enables unpacking local tars.
pub fn plan(
    from: &Sources,
    sources: &[String],
    dest: &str,
    view: &RootView,
    add: bool,
) -> Result<CopyPlan> {
    let verb = if add { "ADD" } else { "COPY" };
    let dest_rel = view.resolve(Path::new(dest))?;
    let wants_dir = dest.ends_with('/')
        || dest.ends_with("/.")
        || view
            .dir()
            .open_at(&dest_rel, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .is_ok();
    // Every source is resolved inside its root as the container would (a link to `/etc`
    // in the context means the context's `etc`), so nothing of the host is listed or read.
    let root = RootDir::open(from.root, Follow::InRoot)
        .with_context(|| format!("opening {} {}", from.what, from.root.display()))?;
    let mut matched: Vec<(String, PathBuf)> = Vec::new();
    for s in sources {
        if add && (s.contains("://") || s.starts_with("git@")) {
            bail!("{verb} {s}: downloading from a URL is not supported (pier builds have no internet access): download the file into the build context and COPY it");
        }
        let rel = relative_source(s).with_context(|| format!("{verb} failed"))?;
        let found = expand_glob(&root, &rel, from.ignore)?;
        if found.is_empty() {
            bail!(
                "{verb} failed: file not found in {} or excluded by .dockerignore: {s}",
                from.what
            );
        }
        matched.extend(found.into_iter().map(|p| (s.clone(), p)));
    }
    if matched.len() > 1 && !wants_dir {
        bail!("When using {verb} with more than one source file, the destination must be a directory and end with a /");
    }
    let mut entries = Vec::new();
    let mut kind = "file";
    for (shown, rel) in &matched {
        let failed = || format!("{verb} failed: {shown} (in {})", from.what);
        // A source that is a symlink is followed (inside the root), as Docker does; what it
        // leads to is checked against .dockerignore too, so an in-context link cannot
        // smuggle an excluded file in.
        let fd = root.open_at(rel, OFlag::O_PATH).with_context(failed)?;
        let real = root.relative_of(fd.as_fd()).with_context(failed)?;
        if from.ignore.is_some_and(|i| i.excludes(&real)) {
            bail!(
                "{verb} failed: {shown} leads to {}, excluded by .dockerignore",
                real.display()
            );
        }
        let st = fstat(&fd).with_context(failed)?;
        if file_type(&st) == SFlag::S_IFDIR {
            kind = "dir";
            walk(&root, from.ignore, &real, &dest_rel, &mut entries)?;
        } else {
            let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
            let is_archive = add && file_type(&st) == SFlag::S_IFREG && is_tar(&root, &real)?;
            let dst = if is_archive {
                dest_rel.clone()
            } else if wants_dir {
                dest_rel.join(name)
            } else {
                dest_rel.clone()
            };
            let kind = if is_archive {
                Kind::Archive
            } else {
                Kind::File
            };
            entries.push(Entry::new(real, dst, kind, &st));
        }
    }
    if matched.len() > 1 {
        kind = "multi";
    }
    Ok(CopyPlan {
        src: root,
        entries,
        kind,
    })
}

/// Adds everything under the directory `rel` of `root` to go under `dest`.
fn walk(
    root: &RootDir,
    ignore: Option<&Ignore>,
    rel: &Path,
    dest: &Path,
    out: &mut Vec<Entry>,
) -> Result<()> {
    let shown = |p: &Path| root.path().join(p).display().to_string();
    let names = root
        .list(rel)
        .with_context(|| format!("reading {}", shown(rel)))?;
    for name in names {
        let src = rel.join(&name);
        let dst = dest.join(&name);
        let st = root
            .lstat(&src)
            .with_context(|| format!("inspecting {}", shown(&src)))?;
        let excluded = ignore.is_some_and(|i| i.excludes(&src));
        match file_type(&st) {
            SFlag::S_IFDIR => {
                if !excluded {
                    out.push(Entry::new(src.clone(), dst.clone(), Kind::Dir, &st));
                }
                walk(root, ignore, &src, &dst, out)?;
            }
            _ if excluded => {}
            SFlag::S_IFLNK => {
                let target = root
                    .readlink(&src)
                    .with_context(|| format!("readlink {}", shown(&src)))?;
                out.push(Entry::new(src, dst, Kind::Symlink(target), &st));
            }
            SFlag::S_IFREG => out.push(Entry::new(src, dst, Kind::File, &st)),
            // Sockets, fifos and devices are not build inputs.
            _ => {}
        }
    }
    Ok(())
}

/// Opens the regular file `rel` of `root` (never following a final symlink).
fn open_source(root: &RootDir, rel: &Path) -> Result<File> {
    root.open_file(rel)
        .with_context(|| format!("opening {}", root.path().join(rel).display()))
}

/// Whether `rel` is a tar or gzip-compressed tar archive (by content, as Docker does).
fn is_tar(root: &RootDir, rel: &Path) -> Result<bool> {
    let mut head = Vec::new();
    open_source(root, rel)?.take(512).read_to_end(&mut head)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let f = open_source(root, rel)?;
        head.clear();
        // A gzip file that does not decompress to a tar is copied as is.
        let _ = GzDecoder::new(f).take(512).read_to_end(&mut head);
    }
    Ok(head.len() >= 262 && &head[257..262] == b"ustar")
}

impl CopyPlan {
    /// A hash of every entry's destination, type, mode, size and content (not mtimes or
    /// owners: they do not survive `--chown` anyway, and a `touch` should not bust the
    /// cache, as in Docker). Used in the cache key and the history line.
    pub fn hash(&self) -> Result<String> {
        let mut h = Sha256::new();
        for e in &self.entries {
            h.update(e.dst.as_os_str().as_encoded_bytes());
            h.update([0]);
            match &e.kind {
                Kind::Dir => h.update(b"d"),
                Kind::Symlink(t) => {
                    h.update(b"l");
                    h.update(t.as_os_str().as_encoded_bytes());
                }
                Kind::File | Kind::Archive => {
                    h.update(if e.kind == Kind::File { b"f" } else { b"a" });
                    let mut f = open_source(&self.src, &e.src)?;
                    std::io::copy(&mut f, &mut h)
                        .with_context(|| format!("reading {}", e.src.display()))?;
                }
            }
            h.update(e.mode.to_le_bytes());
            h.update([0]);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// `file`, `dir` or `multi`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Writes the planned files into `layer` (an empty directory that becomes the layer).
    /// The layer is written relative to its descriptor, following no symlink: an entry that
    /// is a symlink (to a host directory, say) is replaced, never written through.
    pub fn write(&self, layer: &Path, view: &RootView, own: Ownership) -> Result<()> {
        let out = open_layer(layer)?;
        let mut dir_times: BTreeMap<PathBuf, i64> = BTreeMap::new();
        for e in &self.entries {
            let target_dir = if e.kind == Kind::Archive {
                e.dst.clone()
            } else {
                e.dst.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            make_parents_in(&out, view, &target_dir, &mut dir_times)?;
            let shown = || layer.join(&e.dst).display().to_string();
            let mode = own.mode.unwrap_or(e.mode);
            match &e.kind {
                Kind::Archive => {
                    let f = open_source(&self.src, &e.src)?;
                    let mut magic = [0u8; 2];
                    let gz = f.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b];
                    let mut r = BufReader::new(f);
                    // Every directory up to here was just made by make_parents_in, none a
                    // link; the extractor itself follows none.
                    let into = layer.join(&e.dst);
                    if gz {
                        unpack_layer(GzDecoder::new(r), &into)
                    } else {
                        unpack_layer(&mut r, &into)
                    }
                    .with_context(|| format!("ADD: unpacking {}", e.src.display()))?;
                    continue;
                }
                Kind::Dir => {
                    if !is_dir(&out, &e.dst)? {
                        replace(&out, &e.dst)?;
                        out.mkdir(&e.dst, 0o700)
                            .with_context(|| format!("creating {}", shown()))?;
                    }
                    dir_times.insert(e.dst.clone(), e.mtime);
                }
                Kind::File => {
                    replace(&out, &e.dst)?;
                    let mut from = open_source(&self.src, &e.src)?;
                    let mut to = out
                        .create_file(&e.dst, 0o600)
                        .with_context(|| format!("creating {}", shown()))?;
                    std::io::copy(&mut from, &mut to)
                        .with_context(|| format!("copying {} to {}", e.src.display(), shown()))?;
                }
                Kind::Symlink(t) => {
                    replace(&out, &e.dst)?;
                    out.symlink(t, &e.dst)
                        .with_context(|| format!("creating symlink {}", shown()))?;
                }
            }
            set_meta(
                &out,
                &e.dst,
                own.uid,
                own.gid,
                (!matches!(e.kind, Kind::Symlink(_))).then_some(mode),
                e.mtime,
            )?;
        }
        // Deepest first, so setting a parent's time is not undone by its children.
        for (rel, mtime) in dir_times.iter().rev() {
            let t = TimeSpec::new(*mtime, 0);
            out.set_times(rel, &t, &t)
                .with_context(|| format!("setting the times of {}", layer.join(rel).display()))?;
        }
        Ok(())
    }
}

fn open_layer(layer: &Path) -> Result<RootDir> {
    RootDir::open(layer, Follow::Never).with_context(|| format!("opening {}", layer.display()))
}

/// Whether `rel` in `root` is a directory itself (not a link to one).
fn is_dir(root: &RootDir, rel: &Path) -> Result<bool> {
    Ok(root
        .lstat_opt(rel)
        .with_context(|| format!("inspecting {}", root.path().join(rel).display()))?
        .is_some_and(|st| file_type(&st) == SFlag::S_IFDIR))
}

/// Removes whatever is at `rel` (a directory with its content; a link itself).
fn replace(root: &RootDir, rel: &Path) -> Result<()> {
    root.remove_all(rel)
        .with_context(|| format!("replacing {}", root.path().join(rel).display()))
}

/// Owner, then mode (chown clears set-id bits), then times, of `rel` itself.
fn set_meta(
    root: &RootDir,
    rel: &Path,
    uid: u32,
    gid: u32,
    mode: Option<u32>,
    mtime: i64,
) -> Result<()> {
    let shown = || root.path().join(rel).display().to_string();
    root.lchown(rel, uid, gid)
        .with_context(|| format!("chown {}", shown()))?;
    if let Some(mode) = mode {
        root.chmod(rel, mode)
            .with_context(|| format!("chmod {}", shown()))?;
    }
    let t = TimeSpec::new(mtime, 0);
    root.set_times(rel, &t, &t)
        .with_context(|| format!("setting the times of {}", shown()))?;
    Ok(())
}

/// Creates `rel` and its parents in `layer`: with the image's metadata where the image has
/// the directory, else 0755 root-owned with mtime 0 (so identical content gives identical
/// layers).
pub fn make_parents(
    layer: &Path,
    view: &RootView,
    rel: &Path,
    dir_times: &mut BTreeMap<PathBuf, i64>,
) -> Result<()> {
    make_parents_in(&open_layer(layer)?, view, rel, dir_times)
}

/// [`make_parents`] in the open layer. The image's metadata is read from the directory
/// itself (`rel` is already resolved in the image; a symlink there gives the defaults),
/// never from what a link leads to.
fn make_parents_in(
    layer: &RootDir,
    view: &RootView,
    rel: &Path,
    dir_times: &mut BTreeMap<PathBuf, i64>,
) -> Result<()> {
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        if is_dir(layer, &cur)? {
            continue;
        }
        replace(layer, &cur)?;
        layer
            .mkdir(&cur, 0o700)
            .with_context(|| format!("creating {}", layer.path().join(&cur).display()))?;
        let (uid, gid, mode, mtime) = match view.dir().lstat_opt(&cur) {
            Ok(Some(st)) if file_type(&st) == SFlag::S_IFDIR => {
                (st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_mtime)
            }
            _ => (0, 0, 0o755, 0),
        };
        set_meta(layer, &cur, uid, gid, Some(mode), mtime)?;
        dir_times.insert(cur.clone(), mtime);
    }
    Ok(())
}
