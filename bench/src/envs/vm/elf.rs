//! Just enough ELF64 reading for building the guest: a kernel module's `.modinfo` section
//! (its `depends=` list, since the Debian package ships no `modules.dep`) and whether a
//! binary is static (no `PT_INTERP`), since the initramfs carries no dynamic loader.

use anyhow::{bail, Context, Result};

/// Reads a little-endian integer of `N` bytes at `at`, naming `what` on a short file.
fn le<const N: usize>(data: &[u8], at: usize, what: &str) -> Result<u64> {
    let bytes = data
        .get(at..at + N)
        .with_context(|| format!("ELF {what}: truncated at offset {at}"))?;
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Ok(v)
}

/// Checks the ELF64 little-endian magic.
fn check_header(data: &[u8]) -> Result<()> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        bail!("not a 64-bit little-endian ELF file");
    }
    Ok(())
}

/// Returns the bytes of the section named `name`, if any.
pub fn section<'a>(data: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    check_header(data)?;
    let shoff = le::<8>(data, 0x28, "e_shoff")? as usize;
    let shentsize = le::<2>(data, 0x3a, "e_shentsize")? as usize;
    let shnum = le::<2>(data, 0x3c, "e_shnum")? as usize;
    let shstrndx = le::<2>(data, 0x3e, "e_shstrndx")? as usize;
    let header = |i: usize| shoff + i * shentsize;
    let strtab_off = le::<8>(data, header(shstrndx) + 0x18, "shstrtab offset")? as usize;
    for i in 0..shnum {
        let h = header(i);
        let name_off = le::<4>(data, h, "sh_name")? as usize;
        let start = strtab_off + name_off;
        let end = data[start.min(data.len())..]
            .iter()
            .position(|b| *b == 0)
            .map(|p| start + p)
            .context("ELF section name: unterminated")?;
        if &data[start..end] == name.as_bytes() {
            let off = le::<8>(data, h + 0x18, "sh_offset")? as usize;
            let size = le::<8>(data, h + 0x20, "sh_size")? as usize;
            let bytes = data
                .get(off..off + size)
                .with_context(|| format!("ELF section {name}: out of bounds"))?;
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

/// The modules a kernel module depends on, from its `.modinfo` `depends=` entry.
pub fn module_depends(data: &[u8]) -> Result<Vec<String>> {
    let modinfo = section(data, ".modinfo")?.context("kernel module has no .modinfo section")?;
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

/// True if the executable asks for no dynamic loader (no `PT_INTERP` program header).
pub fn is_static(data: &[u8]) -> Result<bool> {
    check_header(data)?;
    let phoff = le::<8>(data, 0x20, "e_phoff")? as usize;
    let phentsize = le::<2>(data, 0x36, "e_phentsize")? as usize;
    let phnum = le::<2>(data, 0x38, "e_phnum")? as usize;
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        if le::<4>(data, phoff + i * phentsize, "p_type")? == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
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
        assert!(section(b"#!/bin/sh\necho hi\n", ".modinfo").is_err());
    }
}
