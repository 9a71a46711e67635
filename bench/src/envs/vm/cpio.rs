//! A writer for the "newc" cpio format, the only archive format the kernel unpacks into
//! its initial root filesystem (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! Each entry is a 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), the
//! NUL-terminated name padded to 4 bytes, then the data padded to 4 bytes; the archive
//! ends with an entry named `TRAILER!!!`.

use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes newc entries to `W`; call [`CpioWriter::finish`] to append the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

/// Fields of one header that differ between entry kinds.
struct Header<'a> {
    name: &'a str,
    mode: u32,
    size: u32,
    rdev: (u32, u32),
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    fn entry(&mut self, h: Header<'_>, data: &[u8]) -> io::Result<()> {
        let name = h.name.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if h.mode & S_IFDIR != 0 { 2 } else { 1 };
        let header = format!(
            "070701{ino:08x}{:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            h.mode,
            0, // uid: root
            0, // gid: root
            0, // mtime: fixed, so the same inputs give the same archive
            h.size,
            0, // devmajor
            0, // devminor
            h.rdev.0,
            h.rdev.1,
            name.len() + 1,
            0, // check: unused by newc
        );
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn size_of(data: &[u8]) -> io::Result<u32> {
        u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cpio entry over 4 GiB"))
    }

    /// Adds a directory.
    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        let h = Header {
            name,
            mode: S_IFDIR | perm,
            size: 0,
            rdev: (0, 0),
        };
        self.entry(h, &[])
    }

    /// Adds a regular file holding `data`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let h = Header {
            name,
            mode: S_IFREG | perm,
            size: Self::size_of(data)?,
            rdev: (0, 0),
        };
        self.entry(h, data)
    }

    /// Adds a symbolic link to `target` (stored as the entry's data).
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        let h = Header {
            name,
            mode: S_IFLNK | 0o777,
            size: Self::size_of(target.as_bytes())?,
            rdev: (0, 0),
        };
        self.entry(h, target.as_bytes())
    }

    /// Adds a character device node.
    pub fn char_dev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        let h = Header {
            name,
            mode: S_IFCHR | perm,
            size: 0,
            rdev: (major, minor),
        };
        self.entry(h, &[])
    }

    /// Appends the trailer and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let h = Header {
            name: "TRAILER!!!",
            mode: 0,
            size: 0,
            rdev: (0, 0),
        };
        self.entry(h, &[])?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// The host's busybox cpio (a second, independent reader) lists what we wrote.
    #[test]
    fn busybox_cpio_reads_our_archive() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/bin", 0o755).unwrap();
        w.file("/bin/hello", 0o755, b"hello world\n").unwrap();
        w.symlink("/bin/sh", "busybox").unwrap();
        w.char_dev("/console", 0o600, 5, 1).unwrap();
        let archive = w.finish().unwrap();
        assert_eq!(archive.len() % 4, 0);

        let mut child = Command::new("/bin/busybox")
            .args(["cpio", "-t", "-v"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = child.wait_with_output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{listing}");
        for expect in ["bin/hello", "bin/sh -> busybox", "console"] {
            assert!(
                listing.contains(expect),
                "{expect} missing from:\n{listing}"
            );
        }
        assert!(listing.contains("-rwxr-xr-x"), "{listing}");
        assert!(listing.contains("crw-------"), "{listing}");
    }
}
