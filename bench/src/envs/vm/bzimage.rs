//! Extracting the uncompressed ELF `vmlinux` from a compressed bzImage, so that qemu can
//! enter the kernel through PVH and skip its self-decompression (slow under emulation).

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The uncompressed ELF kernel inside a bzImage. The setup header (boot protocol 2.08+,
/// Documentation/arch/x86/boot.rst) gives the compressed payload's offset and length
/// within the protected-mode part, which starts after `setup_sects + 1` sectors.
pub fn extract_vmlinux(bzimage: &Path) -> Result<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_bzimage_is_refused() {
        let err = extract_vmlinux(Path::new("/bin/busybox")).unwrap_err();
        assert!(format!("{err:#}").contains("not a bzImage"), "{err:#}");
    }
}
