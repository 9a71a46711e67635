//! Which kernel modules the guest needs and in what order to load them: the virtio
//! drivers the kernel config builds as modules (`=m`), plus everything they depend on
//! (from `modules.dep` when depmod wrote one, else from each module's `.modinfo`).

use super::elf;
use anyhow::{bail, Context, Result};
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
pub fn load_order(config: &str, modules_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
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
        None => elf::module_depends(&read(path)?)
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
pub fn read(path: &Path) -> Result<Vec<u8>> {
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
