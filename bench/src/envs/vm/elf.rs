//! What building the guest reads from ELF files, with pier-engine's reader
//! ([`pier_engine::elf`]): a kernel module's `.modinfo` section (its `depends=` list, since the
//! Debian package ships no `modules.dep`) and whether a binary is static (no `PT_INTERP`),
//! since the initramfs carries no dynamic loader.

use anyhow::{Context, Result};
use pier_engine::elf::Elf;

pub use pier_engine::elf::is_static;

/// The modules a kernel module depends on, from its `.modinfo` `depends=` entry.
pub fn module_depends(data: &[u8]) -> Result<Vec<String>> {
    let modinfo = Elf::parse(data)?
        .section(".modinfo")?
        .context("kernel module has no .modinfo section")?;
    for entry in modinfo.split(|b| *b == 0) {
        if let Some(list) = entry.strip_prefix(b"depends=") {
            return Ok(String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect());
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static_and_ls_is_not() {
        let bb = std::fs::read("/bin/busybox").unwrap();
        assert!(is_static(&bb).unwrap());
        let ls = std::fs::read("/bin/ls").unwrap();
        assert!(!is_static(&ls).unwrap());
    }

    #[test]
    fn text_is_rejected() {
        assert!(module_depends(b"#!/bin/sh\necho hi\n").is_err());
        let ls = std::fs::read("/bin/ls").unwrap();
        let err = module_depends(&ls).unwrap_err();
        assert!(
            format!("{err:#}").contains("no .modinfo section"),
            "{err:#}"
        );
    }
}
