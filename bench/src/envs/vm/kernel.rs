//! Finding a guest kernel: the host's own `/boot/vmlinuz-<release>` when readable, else
//! Debian's `linux-image-amd64` package, downloaded with `apt-get download` and unpacked
//! with `dpkg-deb -x` into `<cache>/vm/kernel/<package>/`. Only the vmlinuz, the config
//! and the few modules the guest needs (virtio PCI, net, console, with their dependencies)
//! are kept; modules are stored uncompressed so that busybox `insmod` can load them.
//!
//! When the kernel supports PVH entry (`CONFIG_PVH=y`, as Debian's does), the ELF
//! `vmlinux` is also extracted from the compressed bzImage: qemu then jumps straight into
//! it, skipping the kernel's self-decompression, which under TCG emulation takes longer
//! (about 6 s here) than the whole kernel boot.

use super::elf;
use anyhow::{bail, Context, Result};
use pier_runtime::state;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Kernel options for the devices the guest uses, and the module implementing each.
const NEEDED: [(&str, &str); 3] = [
    ("CONFIG_VIRTIO_PCI", "virtio_pci"),
    ("CONFIG_VIRTIO_NET", "virtio_net"),
    ("CONFIG_VIRTIO_CONSOLE", "virtio_console"),
];

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
    let _lock = state::Lock::exclusive(&root.join(".lock"))?;
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
    let status = Command::new("apt-get")
        .args(["download", "-q", &package])
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
    let m: Manifest = state::read_json(&dir.join("manifest.json"))?;
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
    let order = module_load_order(&config, &tree.modules_dir)?;
    let mods = dir.join("modules");
    fs::create_dir_all(&mods).with_context(|| format!("creating {}", mods.display()))?;
    fs::copy(&tree.vmlinuz, dir.join("vmlinuz"))
        .with_context(|| format!("copying {}", tree.vmlinuz.display()))?;
    let boot_image = if config.lines().any(|l| l == "CONFIG_PVH=y") {
        match extract_vmlinux(&tree.vmlinuz) {
            Ok(elf) => {
                state::write_atomic(&dir.join("vmlinux"), &elf)?;
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
        let data = read_module(path)?;
        let rel = format!("modules/{name}.ko");
        state::write_atomic(&dir.join(&rel), &data)?;
        names.push(rel);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        boot_image: boot_image.to_string(),
        release: tree.release.clone(),
        source: source.to_string(),
        modules: names,
    };
    state::write_json_atomic(&dir.join("manifest.json"), &manifest)?;
    load(dir)
}

/// The uncompressed ELF kernel inside a bzImage. The setup header (boot protocol 2.08+,
/// Documentation/arch/x86/boot.rst) gives the compressed payload's offset and length
/// within the protected-mode part, which starts after `setup_sects + 1` sectors.
fn extract_vmlinux(bzimage: &Path) -> Result<Vec<u8>> {
    let data = fs::read(bzimage).with_context(|| format!("reading {}", bzimage.display()))?;
    let u32_at = |at: usize| -> Result<usize> {
        let b = data
            .get(at..at + 4)
            .with_context(|| format!("{}: truncated setup header", bzimage.display()))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if data.get(0x202..0x206) != Some(b"HdrS") {
        bail!("{} is not a bzImage", bzimage.display());
    }
    let setup_sects = match data.get(0x1f1) {
        Some(0) | None => 4,
        Some(n) => usize::from(*n),
    };
    let start = (setup_sects + 1) * 512 + u32_at(0x248)?;
    let payload = data
        .get(start..start + u32_at(0x24c)?)
        .with_context(|| format!("{}: payload out of bounds", bzimage.display()))?;
    let elf = if payload.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(payload), &mut out)
            .context("gunzip of the kernel payload")?;
        out
    } else {
        // The kernel build appends the decompressed size after the stream; both tools
        // stop at the end of the first stream when told to.
        let (tool, args): (&str, &[&str]) = if payload.starts_with(b"\xfd7zXZ\0") {
            ("xz", &["-dc", "--single-stream"])
        } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            ("zstd", &["-dc"])
        } else {
            bail!("unknown compression of the kernel payload");
        };
        decompress_with(tool, args, payload)?
    };
    if !elf.starts_with(b"\x7fELF") {
        bail!("the decompressed kernel payload is not ELF");
    }
    Ok(elf)
}

/// Pipes `input` through `tool args` and returns its stdout.
fn decompress_with(tool: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("running {tool}"))?;
    let mut stdin = child.stdin.take().context("stdin was not piped")?;
    // Feed from another thread: the tool's output would fill the pipe otherwise.
    let owned = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&owned));
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {tool}"))?;
    let _ = feeder.join();
    if out.stdout.is_empty() {
        bail!(
            "{tool} {} produced nothing ({})",
            args.join(" "),
            out.status
        );
    }
    Ok(out.stdout)
}

/// Which of [`NEEDED`] are built as modules (`=m`); `=y` needs nothing, absent is an error.
fn needed_modules(config: &str) -> Result<Vec<&'static str>> {
    let mut wanted = Vec::new();
    for (option, module) in NEEDED {
        if config.lines().any(|l| l == format!("{option}=m")) {
            wanted.push(module);
        } else if !config.lines().any(|l| l == format!("{option}=y")) {
            bail!("the guest kernel lacks {option}");
        }
    }
    Ok(wanted)
}

/// The needed modules and their dependencies, dependencies first, as (name, file).
fn module_load_order(config: &str, modules_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let wanted = needed_modules(config)?;
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let index = index_modules(modules_dir)?;
    let deps_file = read_modules_dep(modules_dir, &index);
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for name in wanted {
        visit(name, &index, &deps_file, &mut seen, &mut order, 0)?;
    }
    Ok(order)
}

/// Depth-first, post-order: a module is listed after everything it depends on.
fn visit(
    name: &str,
    index: &HashMap<String, PathBuf>,
    deps_file: &Option<HashMap<String, Vec<String>>>,
    seen: &mut HashSet<String>,
    order: &mut Vec<(String, PathBuf)>,
    depth: usize,
) -> Result<()> {
    if depth > 32 {
        bail!("module dependencies of {name} nest too deep (a cycle?)");
    }
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let path = index
        .get(name)
        .with_context(|| format!("module {name} not found"))?;
    let deps = match deps_file.as_ref().and_then(|d| d.get(name)) {
        Some(d) => d.clone(),
        None => elf::module_depends(&read_module(path)?)
            .with_context(|| format!("reading dependencies of {}", path.display()))?,
    };
    for dep in deps {
        visit(&dep, index, deps_file, seen, order, depth + 1)?;
    }
    order.push((name.to_string(), path.clone()));
    Ok(())
}

/// The module name of a file: `virtio-rng.ko.xz` -> `virtio_rng`.
fn module_name(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))?;
    Some(stem.replace('-', "_"))
}

/// Maps every module name under `dir` to its file.
fn index_modules(dir: &Path) -> Result<HashMap<String, PathBuf>> {
    let mut index = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = module_name(&path) {
                index.insert(name, path);
            }
        }
    }
    Ok(index)
}

/// `modules.dep` (written by depmod on install), if present: name -> dependency names.
/// Debian's package ships none, so then each module's own `.modinfo` is read instead.
fn read_modules_dep(
    dir: &Path,
    index: &HashMap<String, PathBuf>,
) -> Option<HashMap<String, Vec<String>>> {
    let text = fs::read_to_string(dir.join("modules.dep")).ok()?;
    let name_of = |p: &str| module_name(Path::new(p));
    let mut deps = HashMap::new();
    for line in text.lines() {
        let (module, rest) = line.split_once(':')?;
        let module = name_of(module)?;
        // modules.dep lists the whole closure; direct order does not matter for visit().
        let list: Vec<String> = rest.split_whitespace().filter_map(name_of).collect();
        if index.contains_key(&module) {
            deps.insert(module, list);
        }
    }
    Some(deps)
}

/// A module's bytes, decompressed if the file is compressed.
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else if name.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    match tool {
        None => fs::read(path).with_context(|| format!("reading {}", path.display())),
        Some(tool) => {
            let out = Command::new(tool)
                .arg("-dc")
                .arg(path)
                .output()
                .with_context(|| format!("running {tool} -dc {}", path.display()))?;
            if !out.status.success() {
                bail!("{tool} -dc {} failed: {}", path.display(), out.status);
            }
            Ok(out.stdout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_bzimage_is_refused() {
        let err = extract_vmlinux(Path::new("/bin/busybox")).unwrap_err();
        assert!(format!("{err:#}").contains("not a bzImage"), "{err:#}");
    }

    #[test]
    fn module_names_normalise_dashes_and_compression() {
        assert_eq!(
            module_name(Path::new("/x/virtio-rng.ko.xz")).as_deref(),
            Some("virtio_rng")
        );
        assert_eq!(
            module_name(Path::new("virtio_net.ko")).as_deref(),
            Some("virtio_net")
        );
        assert_eq!(module_name(Path::new("modules.dep")), None);
    }

    #[test]
    fn builtin_options_need_no_module_and_missing_ones_fail() {
        let cfg = "CONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_NET=m\nCONFIG_VIRTIO_CONSOLE=m\n";
        assert_eq!(
            needed_modules(cfg).unwrap(),
            vec!["virtio_net", "virtio_console"]
        );
        assert!(needed_modules("CONFIG_VIRTIO_PCI=y\n").is_err());
    }
}
