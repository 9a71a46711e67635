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
use crate::image::layer_build::write_layer_tar_fd;
use anyhow::{anyhow, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::fstat;
use nix::unistd::{fchownat, Gid, Uid};
use pier_oci::security::in_root::{chmod_fd, open_in_root, Follow, RootDir};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Copies the directory `destination` of the container's root filesystem `rootfs` (resolved
/// inside it, as the container sees it) into the volume directory `data` if `data` is empty;
/// afterwards `data` has the owner and mode of the source, as Docker does. Returns whether
/// it copied. A source that is missing or not a directory leaves the volume as it is.
pub fn copy_up(rootfs: &Path, destination: &Path, data: &Path) -> Result<bool> {
    let shown = rootfs.join(destination.strip_prefix("/").unwrap_or(destination));
    let source = match open_in_root(rootfs, destination, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("opening {}", shown.display())),
    };
    let meta = fstat(&source).with_context(|| format!("inspecting {}", shown.display()))?;
    let volume = RootDir::open(data, Follow::Never)
        .with_context(|| format!("opening volume directory {}", data.display()))?;
    if !volume
        .list(Path::new(""))
        .with_context(|| format!("reading {}", data.display()))?
        .is_empty()
    {
        return Ok(false);
    }
    copy_tree(source, &shown, data).inspect_err(|_| {
        // A half copy would pass for a filled volume next time: leave it empty instead.
        let _ = empty_dir(&volume);
    })?;
    fchownat(
        volume.fd(),
        "",
        Some(Uid::from_raw(meta.st_uid)),
        Some(Gid::from_raw(meta.st_gid)),
        AtFlags::AT_EMPTY_PATH,
    )
    .with_context(|| format!("chown {}", data.display()))?;
    chmod_fd(volume.fd(), meta.st_mode & 0o7777)
        .with_context(|| format!("chmod {}", data.display()))?;
    Ok(true)
}

/// Streams a tar of the open directory `source` from a second thread into the extractor
/// writing `dest`.
fn copy_tree(source: OwnedFd, shown: &Path, dest: &Path) -> Result<()> {
    let (mut reader, writer) = UnixStream::pair().context("a socket pair for the copy")?;
    let src_shown: PathBuf = shown.to_path_buf();
    let producer = std::thread::spawn(move || {
        write_layer_tar_fd(source.as_fd(), &src_shown, writer).map(drop)
    });
    let unpacked = unpack_layer(&mut reader, dest);
    // Read what the writer still sends: pier runs with SIGPIPE's default action, so a writer
    // whose reader went away would kill the whole process.
    let _ = io::copy(&mut reader, &mut io::sink());
    let produced = producer
        .join()
        .map_err(|_| anyhow!("the thread reading {} panicked", shown.display()))?;
    // The reading side's error names the file that failed; the extractor then only saw a
    // truncated stream.
    produced.with_context(|| format!("reading {}", shown.display()))?;
    unpacked.with_context(|| format!("copying {} into the volume", shown.display()))?;
    Ok(())
}

/// Deletes everything inside the volume (not the directory itself), following no symlink.
fn empty_dir(volume: &RootDir) -> Result<()> {
    for name in volume.list(Path::new(""))? {
        volume.remove_all(Path::new(&name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

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

        assert!(copy_up(&t.path().join("image"), Path::new("/data"), &data).unwrap());
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
        assert!(!copy_up(&t.path().join("image"), Path::new("/data"), &data).unwrap());
        assert_eq!(fs::read_to_string(data.join("f")).unwrap(), "changed\n");
        assert!(!data.join("new").exists());
    }

    #[test]
    fn missing_or_non_directory_source_leaves_the_volume_alone() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("vol");
        fs::create_dir(&data).unwrap();
        assert!(!copy_up(t.path(), Path::new("/nothing"), &data).unwrap());
        fs::write(t.path().join("file"), "x").unwrap();
        assert!(!copy_up(t.path(), Path::new("/file"), &data).unwrap());
        assert_eq!(fs::read_dir(&data).unwrap().count(), 0);
    }

    #[test]
    fn an_image_link_out_of_the_root_copies_nothing_of_the_host() {
        let t = tempfile::tempdir().unwrap();
        let host = t.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("secret"), "host").unwrap();
        let image = t.path().join("image");
        fs::create_dir(&image).unwrap();
        symlink(&host, image.join("data")).unwrap();
        let data = t.path().join("vol");
        fs::create_dir(&data).unwrap();
        assert!(!copy_up(&image, Path::new("/data"), &data).unwrap());
        assert_eq!(fs::read_dir(&data).unwrap().count(), 0);
    }
}
