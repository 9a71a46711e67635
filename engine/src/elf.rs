//! Reading ELF files: is an executable static (no `PT_INTERP`), which loader does it ask for,
//! and a section's bytes by name.
//!
//! Just enough of the format (the System V ABI's ELF header, program headers and section
//! headers, 32 and 64 bits, either byte order) for `pier image bootstrap` (the host's busybox
//! must be static: an image has no libc) and the bench's guest (its initramfs carries no
//! dynamic loader; kernel modules name their dependencies in `.modinfo`). Every offset read
//! from the file is checked against its length, so a truncated or hostile file is an error
//! naming what is missing, never a panic or a read out of bounds.

use anyhow::{bail, Context, Result};

/// `p_type` of the program header naming the program interpreter (the dynamic loader).
const PT_INTERP: u64 = 3;

/// A parsed ELF header over the file's bytes (all of them, or a prefix holding what is read).
#[derive(Debug, Clone, Copy)]
pub struct Elf<'a> {
    data: &'a [u8],
    /// ELFCLASS64 (else ELFCLASS32).
    wide: bool,
    /// ELFDATA2LSB (else ELFDATA2MSB).
    little: bool,
}

/// Where the fields this reader uses sit, for one ELF class.
struct Layout {
    header_size: usize,
    phoff: (usize, usize),
    shoff: (usize, usize),
    phentsize: usize,
    phnum: usize,
    shentsize: usize,
    shnum: usize,
    shstrndx: usize,
    /// Smallest valid program and section header entries.
    ph_min: usize,
    sh_min: usize,
    /// `p_offset`, `p_filesz` in a program header; `sh_offset`, `sh_size` in a section header.
    p_offset: (usize, usize),
    p_filesz: (usize, usize),
    sh_offset: (usize, usize),
    sh_size: (usize, usize),
}

const ELF32: Layout = Layout {
    header_size: 52,
    phoff: (0x1c, 4),
    shoff: (0x20, 4),
    phentsize: 0x2a,
    phnum: 0x2c,
    shentsize: 0x2e,
    shnum: 0x30,
    shstrndx: 0x32,
    ph_min: 32,
    sh_min: 40,
    p_offset: (0x04, 4),
    p_filesz: (0x10, 4),
    sh_offset: (0x10, 4),
    sh_size: (0x14, 4),
};

const ELF64: Layout = Layout {
    header_size: 64,
    phoff: (0x20, 8),
    shoff: (0x28, 8),
    phentsize: 0x36,
    phnum: 0x38,
    shentsize: 0x3a,
    shnum: 0x3c,
    shstrndx: 0x3e,
    ph_min: 56,
    sh_min: 64,
    p_offset: (0x08, 8),
    p_filesz: (0x20, 8),
    sh_offset: (0x18, 8),
    sh_size: (0x20, 8),
};

impl<'a> Elf<'a> {
    /// Checks the ELF identification and that the whole header is present.
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>> {
        if data.get(..4) != Some(b"\x7fELF".as_slice()) {
            bail!("not an ELF file (no \\x7fELF magic number)");
        }
        let wide = match data.get(4) {
            Some(1) => false,
            Some(2) => true,
            Some(c) => bail!("not a valid ELF file: unknown class {c}"),
            None => bail!("not a valid ELF file: truncated after the magic number"),
        };
        let little = match data.get(5) {
            Some(1) => true,
            Some(2) => false,
            Some(d) => bail!("not a valid ELF file: unknown data encoding {d}"),
            None => bail!("not a valid ELF file: truncated after the magic number"),
        };
        let elf = Elf { data, wide, little };
        let need = elf.layout().header_size;
        if data.len() < need {
            bail!(
                "not a valid ELF file: the header needs {need} bytes, the file has {}",
                data.len()
            );
        }
        Ok(elf)
    }

    fn layout(&self) -> &'static Layout {
        if self.wide {
            &ELF64
        } else {
            &ELF32
        }
    }

    /// The unsigned integer of `len` bytes at `at`, in the file's byte order.
    fn int(&self, at: usize, len: usize, what: &str) -> Result<u64> {
        let bytes = at
            .checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .with_context(|| {
                format!(
                    "ELF file truncated: {what} at offset {at} is past its end ({} bytes)",
                    self.data.len()
                )
            })?;
        let fold = |v: u64, b: &u8| (v << 8) | u64::from(*b);
        Ok(if self.little {
            bytes.iter().rev().fold(0, fold)
        } else {
            bytes.iter().fold(0, fold)
        })
    }

    /// A header field that is an offset or a size in the file, as a `usize`.
    fn offset(&self, at: usize, len: usize, what: &str) -> Result<usize> {
        let v = self.int(at, len, what)?;
        usize::try_from(v).with_context(|| format!("ELF {what} {v} is out of range"))
    }

    /// The bytes `off..off + len`, or an error naming `what` lies outside the file.
    fn bytes(&self, off: usize, len: usize, what: &str) -> Result<&'a [u8]> {
        off.checked_add(len)
            .and_then(|end| self.data.get(off..end))
            .with_context(|| {
                format!(
                    "ELF file truncated: {what} ({len} bytes at offset {off}) is past its end \
                     ({} bytes)",
                    self.data.len()
                )
            })
    }

    /// The start of each of `count` table entries of `size` bytes (at least `min`) from
    /// `start`, the entries themselves checked to lie inside the file.
    fn table(
        &self,
        start: usize,
        count: usize,
        size: usize,
        min: usize,
        what: &str,
    ) -> Result<impl Iterator<Item = usize>> {
        if count > 0 {
            if size < min {
                bail!("not a valid ELF file: {what} entries of {size} bytes (at least {min})");
            }
            let total = size
                .checked_mul(count)
                .with_context(|| format!("ELF {what} table of {count} entries is out of range"))?;
            self.bytes(start, total, &format!("the {what} table"))?;
        }
        // In bounds: the whole table was checked to lie inside the file.
        Ok((0..count).map(move |i| start + i * size))
    }

    /// The offset of each program header.
    fn program_headers(&self) -> Result<impl Iterator<Item = usize>> {
        let l = self.layout();
        let phoff = self.offset(l.phoff.0, l.phoff.1, "e_phoff")?;
        let size = self.offset(l.phentsize, 2, "e_phentsize")?;
        let count = self.offset(l.phnum, 2, "e_phnum")?;
        self.table(phoff, count, size, l.ph_min, "program header")
    }

    /// The offset of the `PT_INTERP` program header, if there is one.
    fn interp_header(&self) -> Result<Option<usize>> {
        for h in self.program_headers()? {
            if self.int(h, 4, "p_type")? == PT_INTERP {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// Whether the file asks for a program interpreter (has a `PT_INTERP` program header):
    /// a dynamically linked executable does, a static one does not. Only the ELF header and
    /// the program headers are read (the first few kilobytes of a file are enough).
    pub fn has_interpreter(&self) -> Result<bool> {
        Ok(self.interp_header()?.is_some())
    }

    /// True for a statically linked executable: no `PT_INTERP`, so it runs where there is
    /// no dynamic loader and no libc (a scratch image, an initramfs).
    pub fn is_static(&self) -> Result<bool> {
        Ok(!self.has_interpreter()?)
    }

    /// The program interpreter's path (`/lib64/ld-linux-x86-64.so.2`), `None` for a static
    /// executable.
    pub fn interpreter(&self) -> Result<Option<String>> {
        let Some(h) = self.interp_header()? else {
            return Ok(None);
        };
        let l = self.layout();
        let off = self.offset(h + l.p_offset.0, l.p_offset.1, "PT_INTERP p_offset")?;
        let size = self.offset(h + l.p_filesz.0, l.p_filesz.1, "PT_INTERP p_filesz")?;
        let raw = self.bytes(off, size, "the PT_INTERP path")?;
        // The path is NUL-terminated inside the segment.
        let path = raw.split(|b| *b == 0).next().unwrap_or_default();
        if path.is_empty() {
            bail!("not a valid ELF file: the PT_INTERP path is empty");
        }
        Ok(Some(String::from_utf8_lossy(path).into_owned()))
    }

    /// The bytes of the section named `name` (`.modinfo`), `None` if there is none.
    pub fn section(&self, name: &str) -> Result<Option<&'a [u8]>> {
        let l = self.layout();
        let shoff = self.offset(l.shoff.0, l.shoff.1, "e_shoff")?;
        let size = self.offset(l.shentsize, 2, "e_shentsize")?;
        let count = self.offset(l.shnum, 2, "e_shnum")?;
        let headers: Vec<usize> = self
            .table(shoff, count, size, l.sh_min, "section header")?
            .collect();
        if headers.is_empty() {
            return Ok(None);
        }
        let strndx = self.offset(l.shstrndx, 2, "e_shstrndx")?;
        let strtab = *headers.get(strndx).with_context(|| {
            format!("not a valid ELF file: e_shstrndx {strndx} but {count} sections")
        })?;
        let names_at = self.offset(strtab + l.sh_offset.0, l.sh_offset.1, "shstrtab offset")?;
        let names_len = self.offset(strtab + l.sh_size.0, l.sh_size.1, "shstrtab size")?;
        let names = self.bytes(names_at, names_len, "the section name table")?;
        for h in headers {
            let at = self.offset(h, 4, "sh_name")?;
            let here = names
                .get(at..)
                .and_then(|rest| rest.split(|b| *b == 0).next())
                .with_context(|| {
                    format!("not a valid ELF file: section name at {at} is outside its table")
                })?;
            if here == name.as_bytes() {
                let off = self.offset(h + l.sh_offset.0, l.sh_offset.1, "sh_offset")?;
                let len = self.offset(h + l.sh_size.0, l.sh_size.1, "sh_size")?;
                return self.bytes(off, len, &format!("section {name}")).map(Some);
            }
        }
        Ok(None)
    }
}

/// True if the ELF executable `data` asks for no dynamic loader (see [`Elf::is_static`]).
pub fn is_static(data: &[u8]) -> Result<bool> {
    Elf::parse(data)?.is_static()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF64 header with `phnum` program headers of the given types
    /// right after it; a PT_INTERP one points at `/lib/ld.so\0` placed after the table.
    fn elf64(types: &[u32]) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        d[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        d[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        let path_at = 64 + 56 * types.len();
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            ph[8..16].copy_from_slice(&(path_at as u64).to_le_bytes());
            ph[0x20..0x28].copy_from_slice(&11u64.to_le_bytes());
            d.extend(ph);
        }
        d.extend(b"/lib/ld.so\0");
        d
    }

    #[test]
    fn the_static_busybox_has_no_interpreter() {
        let bb = std::fs::read("/bin/busybox").unwrap();
        let elf = Elf::parse(&bb).unwrap();
        assert!(elf.is_static().unwrap());
        assert_eq!(elf.interpreter().unwrap(), None);
    }

    #[test]
    fn ls_asks_for_the_dynamic_loader() {
        let ls = std::fs::read("/bin/ls").unwrap();
        let elf = Elf::parse(&ls).unwrap();
        assert!(!elf.is_static().unwrap());
        let interp = elf.interpreter().unwrap().unwrap();
        assert!(
            interp.starts_with('/') && interp.contains("ld-linux"),
            "{interp}"
        );
        // The program headers are at the start: a 64 KiB prefix answers the question.
        assert!(Elf::parse(&ls[..64 * 1024])
            .unwrap()
            .has_interpreter()
            .unwrap());
        // Sections are there too.
        assert!(elf.section(".text").unwrap().is_some());
        assert_eq!(elf.section(".no-such-section").unwrap(), None);
    }

    #[test]
    fn built_headers_of_both_kinds() {
        let dynamic = elf64(&[6, PT_INTERP as u32, 1]);
        let elf = Elf::parse(&dynamic).unwrap();
        assert_eq!(elf.interpreter().unwrap().as_deref(), Some("/lib/ld.so"));
        assert!(!is_static(&dynamic).unwrap());
        assert!(is_static(&elf64(&[1, 1])).unwrap());
        assert!(is_static(&elf64(&[])).unwrap());
        // Big-endian 32-bit: the same question, other offsets.
        let mut be32 = vec![0u8; 52 + 32];
        be32[..4].copy_from_slice(b"\x7fELF");
        be32[4] = 1;
        be32[5] = 2;
        be32[0x1c..0x20].copy_from_slice(&52u32.to_be_bytes());
        be32[0x2a..0x2c].copy_from_slice(&32u16.to_be_bytes());
        be32[0x2c..0x2e].copy_from_slice(&1u16.to_be_bytes());
        be32[52..56].copy_from_slice(&(PT_INTERP as u32).to_be_bytes());
        assert!(!is_static(&be32).unwrap());
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let err = |data: &[u8]| {
            let e = Elf::parse(data)
                .and_then(|e| {
                    e.interpreter()?;
                    e.section(".modinfo")
                })
                .expect_err("should fail");
            format!("{e:#}")
        };
        assert!(err(b"").contains("not an ELF file"));
        assert!(err(b"#!/bin/sh\necho hi\n").contains("not an ELF file"));
        assert!(err(b"\x7fELF").contains("truncated"));
        assert!(err(b"\x7fELF\x03\x01").contains("unknown class"));
        assert!(err(b"\x7fELF\x02\x01\0\0").contains("header needs 64 bytes"));
        // Program headers cut off: every prefix of a real header fails cleanly.
        let dynamic = elf64(&[1, PT_INTERP as u32]);
        for n in 0..dynamic.len() {
            assert!(
                Elf::parse(&dynamic[..n])
                    .and_then(|e| e.interpreter())
                    .is_err(),
                "prefix of {n} bytes"
            );
        }
        // Offsets and counts at their maximum: no overflow, no huge allocation.
        let mut hostile = elf64(&[PT_INTERP as u32]);
        hostile[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            err(&hostile).contains("program header"),
            "{}",
            err(&hostile)
        );
        let mut hostile = elf64(&[PT_INTERP as u32]);
        hostile[0x38..0x3a].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(err(&hostile).contains("past its end"));
        let mut hostile = elf64(&[PT_INTERP as u32]);
        hostile[64 + 8..64 + 16].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
        assert!(err(&hostile).contains("PT_INTERP"));
        let mut hostile = elf64(&[1]);
        hostile[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        hostile[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        hostile[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        assert!(
            err(&hostile).contains("section header"),
            "{}",
            err(&hostile)
        );
        let mut tiny_entries = elf64(&[1]);
        tiny_entries[0x36..0x38].copy_from_slice(&1u16.to_le_bytes());
        assert!(err(&tiny_entries).contains("entries of 1 bytes"));
        // Random bytes after a valid identification.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut d = b"\x7fELF\x02\x01".to_vec();
            for _ in 0..(seed % 300) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                d.push(seed as u8);
            }
            if let Ok(e) = Elf::parse(&d) {
                let _ = e.interpreter();
                let _ = e.section(".modinfo");
            }
        }
    }
}
