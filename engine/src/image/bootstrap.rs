//! `pier image bootstrap busybox`: a first image without any registry.
//!
//! The host's statically linked busybox (Debian package `busybox-static`) is a complete
//! userland in one file. The image is one layer holding `/bin/busybox`, a hard link to it
//! for every applet at its usual path (`bin/ls`, `sbin/ifconfig`, `usr/bin/wc`, ...), the
//! usual top-level directories, and `/etc/passwd` + `/etc/group` with `root`, `nobody` and
//! an unprivileged `student` (uid 1000) for the labs.
//!
//! The layer tar is generated directly (no staging copy of the rootfs) with every mtime set
//! to busybox's own, so bootstrapping twice on one machine yields the same image ID; it is
//! then stored through the same path as `pier import`.

use super::layer_build::{EntryMeta, LayerTarBuilder};
use super::store::{Image, ImageStore, DEFAULT_PATH_ENV};
use crate::elf::Elf;
use anyhow::{bail, Context, Result};
use oci_spec::image::{ConfigBuilder, HistoryBuilder, ImageConfiguration};
use pier_oci::time::{from_unix_seconds, rfc3339_seconds};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's busybox-static installs the binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

const NOT_INSTALLED: &str = "busybox-static is not installed: apt-get install busybox-static";

/// Directories applets may be linked into.
const APPLET_DIRS: [&str; 4] = ["bin", "sbin", "usr/bin", "usr/sbin"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
student:x:1000:1000:student:/home/student:/bin/sh\n";

const GROUP: &str = "root:x:0:\nnobody:x:65534:\nstudent:x:1000:\n";

/// Builds `reference` (normally `busybox:latest`) from the host's static busybox.
pub fn bootstrap_busybox(store: &ImageStore, reference: &str) -> Result<Image> {
    bootstrap_from(store, Path::new(HOST_BUSYBOX), reference)
}

fn bootstrap_from(store: &ImageStore, busybox: &Path, reference: &str) -> Result<Image> {
    check_static(busybox)?;
    let applets = list_applets(busybox)?;
    let md = fs::metadata(busybox).with_context(|| format!("inspecting {}", busybox.display()))?;
    let mtime = u64::try_from(md.mtime()).unwrap_or(0);
    let tar = build_layer(busybox, md.len(), mtime, &applets)?;
    let created = rfc3339_seconds(from_unix_seconds(md.mtime()));

    let mut config = ImageConfiguration::default();
    config.set_created(Some(created.clone()));
    config.set_config(Some(
        ConfigBuilder::default()
            .cmd(vec!["sh".to_string()])
            .env(vec![DEFAULT_PATH_ENV.to_string()])
            .build()
            .context("building image config")?,
    ));
    config.set_history(Some(vec![HistoryBuilder::default()
        .created(created)
        .created_by(format!(
            "pier image bootstrap busybox (from {})",
            busybox.display()
        ))
        .build()
        .context("building image history")?]));
    store.import_layer_with_config(&mut &tar[..], config, reference)
}

/// Fails unless `path` is an ELF executable without a program interpreter (`PT_INTERP`),
/// i.e. statically linked: a dynamic busybox would not run inside an image with no libc.
fn check_static(path: &Path) -> Result<()> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(f) => f
            .take(64 * 1024)
            .read_to_end(&mut data)
            .with_context(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{NOT_INSTALLED} ({} does not exist)", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    // The program headers are in the first few kilobytes: 64 KiB answers the question.
    match Elf::parse(&data).and_then(|elf| elf.has_interpreter()) {
        Ok(false) => Ok(()),
        Ok(true) => bail!(
            "{NOT_INSTALLED} ({} is dynamically linked, probably from the `busybox` package)",
            path.display()
        ),
        Err(e) => bail!(
            "{NOT_INSTALLED} ({} is not an ELF executable: {e:#})",
            path.display()
        ),
    }
}

/// `busybox --list-full`, keeping only plain names in the standard bin directories.
fn list_applets(busybox: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("running {} --list-full", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list-full failed: {}", busybox.display(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut applets: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| {
            let (dir, name) = line.trim().trim_start_matches('/').rsplit_once('/')?;
            let ok = APPLET_DIRS.contains(&dir) && !name.is_empty() && name != "." && name != "..";
            ok.then(|| Path::new(dir).join(name))
        })
        .filter(|p| p != Path::new("bin/busybox"))
        .collect();
    applets.sort();
    applets.dedup();
    if applets.is_empty() {
        bail!("{} --list-full listed no applets", busybox.display());
    }
    Ok(applets)
}

/// The layer tar: directories, `bin/busybox`, `/etc` files, then one hard link per applet.
fn build_layer(busybox: &Path, size: u64, mtime: u64, applets: &[PathBuf]) -> Result<Vec<u8>> {
    let meta = |mode: u32, id: u32| EntryMeta {
        mode,
        uid: id,
        gid: id,
        mtime,
    };
    let mut b = LayerTarBuilder::new(Vec::with_capacity(size as usize + 64 * 1024));
    let dirs: [(&str, u32, u32); 16] = [
        ("bin", 0o755, 0),
        ("dev", 0o755, 0),
        ("etc", 0o755, 0),
        ("home", 0o755, 0),
        ("home/student", 0o755, 1000),
        ("proc", 0o555, 0),
        ("root", 0o700, 0),
        ("run", 0o755, 0),
        ("sbin", 0o755, 0),
        ("sys", 0o555, 0),
        ("tmp", 0o1777, 0),
        ("usr", 0o755, 0),
        ("usr/bin", 0o755, 0),
        ("usr/sbin", 0o755, 0),
        ("var", 0o755, 0),
        ("var/tmp", 0o1777, 0),
    ];
    for (path, mode, id) in dirs {
        b.dir(Path::new(path), &meta(mode, id))?;
    }
    let file = File::open(busybox).with_context(|| format!("opening {}", busybox.display()))?;
    b.file(Path::new("bin/busybox"), &meta(0o755, 0), size, file)?;
    b.file(
        Path::new("etc/group"),
        &meta(0o644, 0),
        GROUP.len() as u64,
        GROUP.as_bytes(),
    )?;
    b.file(
        Path::new("etc/passwd"),
        &meta(0o644, 0),
        PASSWD.len() as u64,
        PASSWD.as_bytes(),
    )?;
    for applet in applets {
        b.hardlink(applet, Path::new("bin/busybox"), &meta(0o755, 0))?;
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static_and_a_dynamic_binary_is_refused() {
        check_static(Path::new(HOST_BUSYBOX)).unwrap();
        // /bin/true from coreutils is dynamically linked on Debian.
        let err = check_static(Path::new("/bin/true"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("busybox-static is not installed"), "{err}");
        let err = check_static(Path::new("/nonexistent/busybox"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install busybox-static"), "{err}");
        let not_elf = tempfile::NamedTempFile::new().unwrap();
        fs::write(not_elf.path(), "#!/bin/sh\n").unwrap();
        let err = check_static(not_elf.path()).unwrap_err().to_string();
        assert!(err.contains("is not an ELF executable"), "{err}");
    }

    #[test]
    fn bootstrap_is_reproducible_and_has_applets() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let start = std::time::Instant::now();
        let a = bootstrap_busybox(&store, "busybox").unwrap();
        let elapsed = start.elapsed();
        assert_eq!(a.references, vec!["busybox:latest".to_string()]);
        assert_eq!(a.layer_dirs.len(), 1);
        let layer = &a.layer_dirs[0];
        for p in ["bin/sh", "bin/ls", "bin/busybox", "etc/passwd", "etc/group"] {
            assert!(layer.join(p).exists(), "{p} missing from the layer");
        }
        let sh = fs::metadata(layer.join("bin/sh")).unwrap();
        let bb = fs::metadata(layer.join("bin/busybox")).unwrap();
        assert_eq!(sh.ino(), bb.ino(), "applets are hard links to busybox");
        assert_eq!(
            fs::metadata(layer.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        let passwd = fs::read_to_string(layer.join("etc/passwd")).unwrap();
        assert!(passwd.contains("student:x:1000:1000"));
        let cfg = a.config.config().as_ref().unwrap();
        assert_eq!(cfg.cmd().as_deref(), Some(&["sh".to_string()][..]));
        assert!(elapsed.as_secs_f64() < 2.0, "bootstrap took {elapsed:?}");

        // Same machine, same busybox: same digests; the layer is stored once.
        let b = bootstrap_busybox(&store, "busybox:again").unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.manifest_digest, b.manifest_digest);
        let mut refs = store.resolve(&a.id).unwrap().references;
        refs.sort();
        assert_eq!(refs, vec!["busybox:again", "busybox:latest"]);
        assert_eq!(store.disk_usage().unwrap().layers, 1);

        // The binary in the layer actually works.
        let out = Command::new(layer.join("bin/busybox"))
            .args(["echo", "hi"])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }
}
