//! Finding a guest kernel: the host's own `/boot/vmlinuz-<release>` when readable, else
//! Debian's `linux-image-amd64` package, downloaded with `apt-get download` and unpacked
//! with `dpkg-deb -x` into `<cache>/vm/kernel/<package>/`. Only the vmlinuz and the few
//! modules the guest needs (`modules.rs`) are kept; modules are stored uncompressed
//! so that busybox `insmod` can load them.
//!
//! When the kernel supports PVH entry (`CONFIG_PVH=y`, as Debian's does), the ELF
//! `vmlinux` is also extracted (`bzimage.rs`) and booted: qemu then jumps straight
//! into it, skipping the kernel's self-decompression, which under TCG emulation takes
//! longer (about 6 s here) than the whole rest of the kernel boot.

use super::{bzimage, modules};
use anyhow::{bail, Context, Result};
use pier_oci::persist;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian meta-package that always depends on the current kernel image package.
const META_PACKAGE: &str = "linux-image-amd64";

/// Version of the cache layout; a directory written by another version is redone.
const MANIFEST_FORMAT: u32 = 2;

/// A kernel ready to boot, with the modules to load in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestKernel {
    /// The compressed kernel image (bzImage) as packaged.
    pub vmlinuz: PathBuf,
    /// The image passed to qemu `-kernel`: the uncompressed PVH `vmlinux` if one could be
    /// extracted, else `vmlinuz`.
    pub boot_image: PathBuf,
    /// Its release string (`uname -r` inside the guest).
    pub release: String,
    /// Where it came from: `host` or the Debian package name.
    pub source: String,
    /// Uncompressed modules, dependencies first: the order init loads them in.
    pub modules: Vec<PathBuf>,
}

/// What a cached kernel directory holds (paths relative to it).
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: u32,
    boot_image: String,
    release: String,
    source: String,
    modules: Vec<String>,
}

/// Returns a guest kernel, preparing it in `<cache_dir>/vm/kernel/` on first use.
pub fn obtain(cache_dir: &Path) -> Result<GuestKernel> {
    let root = cache_dir.join("vm").join("kernel");
    // One preparation at a time, across threads and processes sharing the cache.
    let _lock = persist::Lock::exclusive(&root.join(".lock"))?;
    if let Some(tree) = host_tree() {
        match install(&tree, &root.join("host"), "host") {
            Ok(k) => return Ok(k),
            Err(e) => eprintln!("pier: the host kernel cannot boot the VM ({e:#}); using Debian's"),
        }
    }
    debian(&root)
}

/// An unpacked kernel: image, config and module directory.
struct KernelTree {
    vmlinuz: PathBuf,
    config: PathBuf,
    modules_dir: PathBuf,
    release: String,
}

/// The running kernel's files, if all of them are readable.
fn host_tree() -> Option<KernelTree> {
    let release = nix::sys::utsname::uname()
        .ok()?
        .release()
        .to_string_lossy()
        .into_owned();
    let tree = KernelTree {
        vmlinuz: PathBuf::from(format!("/boot/vmlinuz-{release}")),
        config: PathBuf::from(format!("/boot/config-{release}")),
        modules_dir: PathBuf::from(format!("/lib/modules/{release}")),
        release,
    };
    let readable = fs::File::open(&tree.vmlinuz).is_ok() && fs::File::open(&tree.config).is_ok();
    readable.then_some(tree)
}

/// The Debian kernel: from the cache if there, else downloaded and unpacked.
fn debian(root: &Path) -> Result<GuestKernel> {
    let package = match resolve_package() {
        Ok(p) => p,
        // Offline or no apt: any kernel prepared earlier will do.
        Err(e) => {
            return any_cached(root).with_context(|| {
                format!("no cached guest kernel in {}, and {e:#}", root.display())
            })
        }
    };
    let dir = root.join(&package);
    if let Ok(k) = load(&dir) {
        return Ok(k);
    }
    let work = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(root)
        .with_context(|| format!("creating a work directory in {}", root.display()))?;
    // The work directory is private (0700), so apt's unprivileged `_apt` sandbox user could not
    // write there and apt printed a warning on every first run; the download runs as root
    // either way, so say so instead.
    let status = Command::new("apt-get")
        .args(["download", "-q", "-o", "APT::Sandbox::User=root", &package])
        .current_dir(work.path())
        .status()
        .context("running apt-get download")?;
    if !status.success() {
        bail!("apt-get download {package} failed: {status}");
    }
    let deb = fs::read_dir(work.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb"))?;
    let unpacked = work.path().join("root");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .status()
        .context("running dpkg-deb -x")?;
    if !status.success() {
        bail!("dpkg-deb -x {} failed: {status}", deb.display());
    }
    let tree = unpacked_tree(&unpacked)?;
    install(&tree, &dir, &package)
}

/// The versioned image package `linux-image-amd64` depends on, from the local apt cache.
fn resolve_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", META_PACKAGE])
        .output()
        .context("running apt-cache depends")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
        .map(str::to_string)
        .with_context(|| format!("apt-cache depends {META_PACKAGE} names no kernel image"))
}

/// Any complete kernel directory in the cache.
fn any_cached(root: &Path) -> Result<GuestKernel> {
    for entry in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        if let Ok(k) = load(&entry?.path()) {
            return Ok(k);
        }
    }
    bail!("none found")
}

/// Locates vmlinuz, config and modules in an unpacked kernel package.
fn unpacked_tree(unpacked: &Path) -> Result<KernelTree> {
    let boot = unpacked.join("boot");
    let vmlinuz = fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("no vmlinuz-* in {}", boot.display()))?;
    let release = vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_string()
        })
        .unwrap_or_default();
    // Debian's usrmerge may place modules under usr/lib.
    let modules_dir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| unpacked.join(d).join(&release))
        .find(|d| d.is_dir())
        .with_context(|| format!("no modules for {release} in {}", unpacked.display()))?;
    Ok(KernelTree {
        config: boot.join(format!("config-{release}")),
        vmlinuz,
        modules_dir,
        release,
    })
}

/// Reads a prepared kernel directory.
fn load(dir: &Path) -> Result<GuestKernel> {
    let m: Manifest = persist::read_json(&dir.join("manifest.json"))?;
    if m.format != MANIFEST_FORMAT {
        bail!("{} has cache format {}", dir.display(), m.format);
    }
    let k = GuestKernel {
        vmlinuz: dir.join("vmlinuz"),
        boot_image: dir.join(&m.boot_image),
        release: m.release,
        source: m.source,
        modules: m.modules.iter().map(|n| dir.join(n)).collect(),
    };
    for f in [&k.vmlinuz, &k.boot_image].into_iter().chain(&k.modules) {
        if !f.is_file() {
            bail!("{} is missing", f.display());
        }
    }
    Ok(k)
}

/// Copies the kernel and the needed modules of `tree` into `dir` and writes its manifest
/// last, so a half-prepared directory is never taken for a ready one.
fn install(tree: &KernelTree, dir: &Path, source: &str) -> Result<GuestKernel> {
    if let Ok(k) = load(dir) {
        if k.release == tree.release {
            return Ok(k);
        }
    }
    let config = fs::read_to_string(&tree.config)
        .with_context(|| format!("reading {}", tree.config.display()))?;
    let order = modules::load_order(&config, &tree.modules_dir)?;
    let mods = dir.join("modules");
    fs::create_dir_all(&mods).with_context(|| format!("creating {}", mods.display()))?;
    fs::copy(&tree.vmlinuz, dir.join("vmlinuz"))
        .with_context(|| format!("copying {}", tree.vmlinuz.display()))?;
    let boot_image = if config.lines().any(|l| l == "CONFIG_PVH=y") {
        match bzimage::extract_vmlinux(&tree.vmlinuz) {
            Ok(elf) => {
                persist::write_atomic(&dir.join("vmlinux"), &elf)?;
                "vmlinux"
            }
            // Booting the bzImage still works, only slower.
            Err(e) => {
                eprintln!("pier: booting the compressed kernel: {e:#}");
                "vmlinuz"
            }
        }
    } else {
        "vmlinuz"
    };
    let mut names = Vec::new();
    for (name, path) in &order {
        let data = modules::read(path)?;
        let rel = format!("modules/{name}.ko");
        persist::write_atomic(&dir.join(&rel), &data)?;
        names.push(rel);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        boot_image: boot_image.to_string(),
        release: tree.release.clone(),
        source: source.to_string(),
        modules: names,
    };
    persist::write_json_atomic(&dir.join("manifest.json"), &manifest)?;
    load(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apt_meta_package_names_a_versioned_image() {
        let package = resolve_package().unwrap();
        assert!(package.starts_with("linux-image-") && package.ends_with("-amd64"));
        assert_ne!(package, META_PACKAGE);
    }
}
