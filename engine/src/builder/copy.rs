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
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
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
    /// Source on the host.
    src: PathBuf,
    /// Destination, relative to the image root (symlinks in the image already resolved).
    dst: PathBuf,
    kind: Kind,
    md: fs::Metadata,
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
    let dest_host = view.resolve(Path::new(dest))?;
    let dest_rel = dest_host
        .strip_prefix(view.root())
        .context("resolving the destination inside the image")?
        .to_path_buf();
    let wants_dir = dest.ends_with('/') || dest.ends_with("/.") || dest_host.is_dir();
    let mut matched: Vec<(String, PathBuf)> = Vec::new();
    for s in sources {
        if add && (s.contains("://") || s.starts_with("git@")) {
            bail!("{verb} {s}: downloading from a URL is not supported (pier builds have no internet access): download the file into the build context and COPY it");
        }
        let rel = relative_source(s).with_context(|| format!("{verb} failed"))?;
        let found = expand_glob(from.root, &rel, from.ignore)?;
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
        let host = pier_oci::rootfs::secure_join(from.root, rel)?;
        let md = fs::symlink_metadata(&host)
            .with_context(|| format!("{verb} failed: {shown} (in {})", from.what))?;
        if md.is_dir() {
            kind = "dir";
            walk(from, &host, rel, &dest_rel, &mut entries)?;
        } else {
            let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
            let is_archive = add && md.is_file() && is_tar(&host)?;
            let dst = if is_archive {
                dest_rel.clone()
            } else if wants_dir {
                dest_rel.join(name)
            } else {
                dest_rel.clone()
            };
            entries.push(Entry {
                src: host,
                dst,
                kind: if is_archive {
                    Kind::Archive
                } else {
                    Kind::File
                },
                md,
            });
        }
    }
    if matched.len() > 1 {
        kind = "multi";
    }
    Ok(CopyPlan { entries, kind })
}

/// Adds everything under the directory `host` (source path `rel`) to go under `dest`.
fn walk(from: &Sources, host: &Path, rel: &Path, dest: &Path, out: &mut Vec<Entry>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(host)
        .with_context(|| format!("reading {}", host.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", host.display()))?;
    names.sort();
    for name in names {
        let src = host.join(&name);
        let src_rel = rel.join(&name);
        let dst = dest.join(&name);
        let md =
            fs::symlink_metadata(&src).with_context(|| format!("inspecting {}", src.display()))?;
        let excluded = from.ignore.is_some_and(|i| i.excludes(&src_rel));
        if md.is_dir() {
            if !excluded {
                out.push(Entry {
                    src: src.clone(),
                    dst: dst.clone(),
                    kind: Kind::Dir,
                    md,
                });
            }
            walk(from, &src, &src_rel, &dst, out)?;
        } else if !excluded {
            let kind = if md.file_type().is_symlink() {
                Kind::Symlink(
                    fs::read_link(&src).with_context(|| format!("readlink {}", src.display()))?,
                )
            } else if md.is_file() {
                Kind::File
            } else {
                // Sockets, fifos and devices are not build inputs.
                continue;
            };
            out.push(Entry { src, dst, kind, md });
        }
    }
    Ok(())
}

/// Whether `path` is a tar or gzip-compressed tar archive (by content, as Docker does).
fn is_tar(path: &Path) -> Result<bool> {
    let mut head = Vec::new();
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    f.take(512).read_to_end(&mut head)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
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
                    let mut f = File::open(&e.src)
                        .with_context(|| format!("opening {}", e.src.display()))?;
                    std::io::copy(&mut f, &mut h)
                        .with_context(|| format!("reading {}", e.src.display()))?;
                }
            }
            h.update((e.md.mode() & 0o7777).to_le_bytes());
            h.update([0]);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// `file`, `dir` or `multi`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Writes the planned files into `layer` (an empty directory that becomes the layer).
    pub fn write(&self, layer: &Path, view: &RootView, own: Ownership) -> Result<()> {
        let mut dir_times: BTreeMap<PathBuf, i64> = BTreeMap::new();
        for e in &self.entries {
            let target_dir = if e.kind == Kind::Archive {
                e.dst.clone()
            } else {
                e.dst.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            make_parents(layer, view, &target_dir, &mut dir_times)?;
            let out = layer.join(&e.dst);
            let mode = own.mode.unwrap_or(e.md.mode() & 0o7777);
            match &e.kind {
                Kind::Archive => {
                    let f = File::open(&e.src)
                        .with_context(|| format!("opening {}", e.src.display()))?;
                    let mut magic = [0u8; 2];
                    let gz = f.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b];
                    let mut r = BufReader::new(f);
                    if gz {
                        unpack_layer(GzDecoder::new(r), &out)
                    } else {
                        unpack_layer(&mut r, &out)
                    }
                    .with_context(|| format!("ADD: unpacking {}", e.src.display()))?;
                    continue;
                }
                Kind::Dir => {
                    if !out.is_dir() {
                        remove_any(&out)?;
                        fs::create_dir(&out)
                            .with_context(|| format!("creating {}", out.display()))?;
                    }
                    dir_times.insert(e.dst.clone(), e.md.mtime());
                }
                Kind::File => {
                    remove_any(&out)?;
                    fs::copy(&e.src, &out).with_context(|| {
                        format!("copying {} to {}", e.src.display(), out.display())
                    })?;
                }
                Kind::Symlink(t) => {
                    remove_any(&out)?;
                    std::os::unix::fs::symlink(t, &out)
                        .with_context(|| format!("creating symlink {}", out.display()))?;
                }
            }
            set_meta(
                &out,
                own.uid,
                own.gid,
                (!matches!(e.kind, Kind::Symlink(_))).then_some(mode),
                e.md.mtime(),
            )?;
        }
        // Deepest first, so setting a parent's time is not undone by its children.
        for (rel, mtime) in dir_times.iter().rev() {
            let p = layer.join(rel);
            utimensat(
                nix::fcntl::AT_FDCWD,
                &p,
                &TimeSpec::new(*mtime, 0),
                &TimeSpec::new(*mtime, 0),
                UtimensatFlags::NoFollowSymlink,
            )
            .with_context(|| format!("setting the times of {}", p.display()))?;
        }
        Ok(())
    }
}

fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return Ok(()),
    }
    .with_context(|| format!("replacing {}", path.display()))
}

/// Owner, then mode (chown clears set-id bits), then times, without following symlinks.
fn set_meta(path: &Path, uid: u32, gid: u32, mode: Option<u32>, mtime: i64) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &TimeSpec::new(mtime, 0),
        &TimeSpec::new(mtime, 0),
        UtimensatFlags::NoFollowSymlink,
    )
    .with_context(|| format!("setting the times of {}", path.display()))?;
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
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        let out = layer.join(&cur);
        if fs::symlink_metadata(&out).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        remove_any(&out)?;
        fs::create_dir(&out).with_context(|| format!("creating {}", out.display()))?;
        let (uid, gid, mode, mtime) = match fs::symlink_metadata(view.root().join(&cur)) {
            Ok(md) if md.is_dir() => (md.uid(), md.gid(), md.mode() & 0o7777, md.mtime()),
            _ => (0, 0, 0o755, 0),
        };
        set_meta(&out, uid, gid, Some(mode), mtime)?;
        dir_times.insert(cur.clone(), mtime);
    }
    Ok(())
}
