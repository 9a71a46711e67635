//! The guest's root filesystem: a gzipped newc cpio holding busybox (with a link per
//! applet), the payload as `/bin/pier-payload`, the kernel modules and `/init`. It is
//! cached as `<cache>/vm/initramfs-<hash>.cpio.gz`, the hash covering every input, so a
//! new payload build gets a new initramfs and an unchanged one is reused.

use super::cpio::CpioWriter;
use super::elf;
use super::guest_init::INIT_SCRIPT;
use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use pier_oci::persist;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the layout changes, so older cached archives are not reused.
const FORMAT: &str = "pier-vm-initramfs-1";

/// What goes into the initramfs.
pub struct Contents<'a> {
    /// A static busybox; it is the guest's shell and every tool init uses.
    pub busybox: &'a Path,
    /// The payload binary (installed as `/bin/pier-payload`).
    pub payload: &'a Path,
    /// Kernel modules in load order (installed as `/lib/modules/<name>.ko`).
    pub modules: &'a [PathBuf],
}

/// Returns the cached initramfs for `contents` in `dir`, building it if needed.
pub fn obtain(dir: &Path, contents: &Contents<'_>) -> Result<PathBuf> {
    let busybox = read(contents.busybox)?;
    if !elf::is_static(&busybox).with_context(|| contents.busybox.display().to_string())? {
        bail!(
            "{} is dynamically linked; the guest needs a static busybox",
            contents.busybox.display()
        );
    }
    let payload = read(contents.payload)?;
    let modules: Vec<(String, Vec<u8>)> = contents
        .modules
        .iter()
        .map(|p| Ok((module_stem(p)?, read(p)?)))
        .collect::<Result<_>>()?;

    let mut hash = Sha256::new();
    for part in [
        FORMAT.as_bytes(),
        INIT_SCRIPT.as_bytes(),
        &busybox,
        &payload,
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    for (name, data) in &modules {
        hash.update(name.as_bytes());
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    }
    let digest = hex::encode(hash.finalize());
    let path = dir.join(format!("initramfs-{}.cpio.gz", &digest[..16]));
    // Builders in other threads or processes would share a temporary file name.
    let _lock = persist::Lock::exclusive(&dir.join(".initramfs.lock"))?;
    if path.is_file() {
        return Ok(path);
    }
    let applets = busybox_applets(contents.busybox)?;
    let archive = build(&busybox, &applets, &payload, &modules)
        .with_context(|| format!("building {}", path.display()))?;
    persist::write_atomic(&path, &archive)?;
    Ok(path)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `virtio_net` from `.../virtio_net.ko`.
fn module_stem(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".ko"))
        .map(str::to_string)
        .with_context(|| format!("{} is not an uncompressed .ko", path.display()))
}

/// The applet names busybox was built with (`busybox --list`).
fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("running {} --list", busybox.display()))?;
    if !out.status.success() {
        bail!("{} --list failed: {}", busybox.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        // A name with a slash could escape /bin; busybox never prints one.
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox")
        .map(str::to_string)
        .collect())
}

/// Writes the gzipped archive into memory.
fn build(
    busybox: &[u8],
    applets: &[String],
    payload: &[u8],
    modules: &[(String, Vec<u8>)],
) -> Result<Vec<u8>> {
    // Fast compression: the guest decompresses this on every boot, often under emulation,
    // and gzip's decompression speed barely depends on the level.
    let gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut w = CpioWriter::new(gz);
    for d in [
        "/bin",
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/lib",
        "/lib/modules",
    ] {
        w.dir(d, 0o755)?;
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    w.char_dev("/dev/console", 0o600, 5, 1)?;
    w.file("/bin/busybox", 0o755, busybox)?;
    for a in applets {
        w.symlink(&format!("/bin/{a}"), "busybox")?;
    }
    w.file("/bin/pier-payload", 0o755, payload)?;
    let mut order = String::new();
    for (name, data) in modules {
        w.file(&format!("/lib/modules/{name}.ko"), 0o644, data)?;
        order.push_str(name);
        order.push('\n');
    }
    w.file("/lib/modules/load-order", 0o644, order.as_bytes())?;
    w.file("/init", 0o755, INIT_SCRIPT.as_bytes())?;
    let gz = w.finish()?;
    Ok(gz.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Stdio;

    #[test]
    fn archive_holds_init_busybox_payload_and_modules_and_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let payload = dir.path().join("payload");
        fs::write(&payload, "#!/bin/sh\necho '{}'\n").unwrap();
        let module = dir.path().join("fake_mod.ko");
        fs::write(&module, b"not really a module").unwrap();
        let contents = Contents {
            busybox: Path::new("/bin/busybox"),
            payload: &payload,
            modules: &[module],
        };
        let first = obtain(dir.path(), &contents).unwrap();
        let again = obtain(dir.path(), &contents).unwrap();
        assert_eq!(first, again, "same inputs, same cached archive");

        let gz = fs::read(&first).unwrap();
        let mut cpio = Vec::new();
        std::io::copy(&mut flate2::read::GzDecoder::new(&gz[..]), &mut cpio).unwrap();
        let mut child = Command::new("/bin/busybox")
            .args(["cpio", "-t"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&cpio).unwrap();
        let out = child.wait_with_output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        for f in [
            "init",
            "bin/busybox",
            "bin/sh",
            "bin/insmod",
            "bin/pier-payload",
            "lib/modules/fake_mod.ko",
            "lib/modules/load-order",
            "dev/console",
        ] {
            assert!(listing.lines().any(|l| l == f), "{f} missing");
        }

        fs::write(&payload, "#!/bin/sh\necho '{\"v\":2}'\n").unwrap();
        let rebuilt = obtain(dir.path(), &contents).unwrap();
        assert_ne!(first, rebuilt, "a changed payload gives a new initramfs");
    }

    #[test]
    fn dynamic_busybox_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let contents = Contents {
            busybox: Path::new("/bin/ls"),
            payload: Path::new("/bin/ls"),
            modules: &[],
        };
        assert!(obtain(dir.path(), &contents).is_err());
    }
}
