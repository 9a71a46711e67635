//! Docker's volume copy-up: the first time an empty volume is mounted over a directory of the
//! image, the image's files there are copied into the volume, so `VOLUME /var/lib/db` after
//! `RUN initdb` starts with the initialised database instead of hiding it. A volume that
//! already holds anything is never written to.
//!
//! The copy streams a tar of the source (the same writer as `pier build`'s layers) into the
//! same confined extractor that unpacks downloaded layers: owners, modes, mtimes, symlinks
//! (stored verbatim, never followed), hard links and `user.*`/`security.capability` xattrs
//! survive, and since every directory of the volume is opened with `O_NOFOLLOW` relative to
//! its parent, a container sharing the volume cannot redirect the copy out of it by racing a
//! symlink into place.

use crate::image::layer::unpack_layer;
use crate::image::layer_build::write_layer_tar;
use anyhow::{anyhow, Context, Result};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Copies the directory `source` (inside a container's root filesystem, resolved by the
/// caller) into the volume directory `data` if `data` is empty; afterwards `data` has the
/// owner and mode of `source`, as Docker does. Returns whether it copied. A `source` that is
/// missing or not a directory leaves the volume as it is.
pub fn copy_up(source: &Path, data: &Path) -> Result<bool> {
    let meta = match fs::symlink_metadata(source) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("inspecting {}", source.display())),
    };
    if !is_empty(data)? {
        return Ok(false);
    }
    copy_tree(source, data).inspect_err(|_| {
        // A half copy would pass for a filled volume next time: leave it empty instead.
        let _ = empty_dir(data);
    })?;
    std::os::unix::fs::chown(data, Some(meta.uid()), Some(meta.gid()))
        .with_context(|| format!("chown {}", data.display()))?;
    fs::set_permissions(
        data,
        std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777),
    )
    .with_context(|| format!("chmod {}", data.display()))?;
    Ok(true)
}

/// Streams a tar of `source` from a second thread into the extractor writing `dest`.
fn copy_tree(source: &Path, dest: &Path) -> Result<()> {
    let (mut reader, writer) = UnixStream::pair().context("a socket pair for the copy")?;
    let src = source.to_path_buf();
    let producer = std::thread::spawn(move || write_layer_tar(&src, writer).map(drop));
    let unpacked = unpack_layer(&mut reader, dest);
    // Read what the writer still sends: pier runs with SIGPIPE's default action, so a writer
    // whose reader went away would kill the whole process.
    let _ = io::copy(&mut reader, &mut io::sink());
    let produced = producer
        .join()
        .map_err(|_| anyhow!("the thread reading {} panicked", source.display()))?;
    // The reading side's error names the file that failed; the extractor then only saw a
    // truncated stream.
    produced.with_context(|| format!("reading {}", source.display()))?;
    unpacked.with_context(|| format!("copying {} into the volume", source.display()))?;
    Ok(())
}

fn is_empty(dir: &Path) -> Result<bool> {
    Ok(fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none())
}

/// Deletes everything inside `dir` (not `dir` itself), without following symlinks.
fn empty_dir(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = e?.path();
        if path.symlink_metadata()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn copies_owner_mode_symlinks_xattrs_then_never_again() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("image/data");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("f"), "seed\n").unwrap();
        std::os::unix::fs::chown(src.join("f"), Some(999), Some(998)).unwrap();
        fs::set_permissions(src.join("f"), fs::Permissions::from_mode(0o640)).unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        xattr::set(src.join("f"), "user.origin", b"image").unwrap();
        std::os::unix::fs::chown(&src, Some(999), Some(998)).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();
        let data = t.path().join("vol");
        fs::create_dir(&data).unwrap();

        assert!(copy_up(&src, &data).unwrap());
        assert_eq!(fs::read_to_string(data.join("f")).unwrap(), "seed\n");
        let m = fs::metadata(data.join("f")).unwrap();
        assert_eq!((m.uid(), m.gid(), mode(&data.join("f"))), (999, 998, 0o640));
        assert_eq!(
            fs::read_link(data.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            xattr::get(data.join("f"), "user.origin")
                .unwrap()
                .as_deref(),
            Some(&b"image"[..])
        );
        assert!(data.join("sub").is_dir());
        let root = fs::metadata(&data).unwrap();
        assert_eq!((root.uid(), mode(&data)), (999, 0o750), "the root too");

        // Once the volume holds something, nothing is copied again.
        fs::write(data.join("f"), "changed\n").unwrap();
        fs::write(src.join("new"), "x").unwrap();
        assert!(!copy_up(&src, &data).unwrap());
        assert_eq!(fs::read_to_string(data.join("f")).unwrap(), "changed\n");
        assert!(!data.join("new").exists());
    }

    #[test]
    fn missing_or_non_directory_source_leaves_the_volume_alone() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("vol");
        fs::create_dir(&data).unwrap();
        assert!(!copy_up(&t.path().join("nothing"), &data).unwrap());
        fs::write(t.path().join("file"), "x").unwrap();
        assert!(!copy_up(&t.path().join("file"), &data).unwrap());
        assert_eq!(fs::read_dir(&data).unwrap().count(), 0);
    }
}
