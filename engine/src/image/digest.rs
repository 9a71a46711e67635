//! Content digests: SHA-256 over streams and over canonical JSON.
//!
//! Everything in the store is named by the SHA-256 of its bytes, so identical content gets
//! identical names. JSON documents are serialized canonically (object keys sorted) so that
//! a config with labels, whose in-memory map order is random, still hashes the same.

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// Formats a SHA-256 hash as an OCI digest string, `sha256:<hex>`.
pub fn sha256_digest(hash: &[u8]) -> String {
    format!("sha256:{}", hex::encode(hash))
}

/// The hex part of a `sha256:<hex>` digest, validated (64 lowercase hex characters).
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("digest {digest:?} is not a sha256 digest"))?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        anyhow::bail!("digest {digest:?} is not 64 lowercase hex characters");
    }
    Ok(hex)
}

/// Serializes `value` as canonical JSON (sorted keys, no whitespace) and returns the bytes
/// with their digest.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<(Vec<u8>, String)> {
    // serde_json::Value keeps objects in a BTreeMap, which sorts the keys.
    let tree = serde_json::to_value(value).context("serializing JSON document")?;
    let bytes = serde_json::to_vec(&tree).context("serializing JSON document")?;
    let digest = sha256_digest(&Sha256::digest(&bytes));
    Ok((bytes, digest))
}

/// A reader that hashes (and counts) every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Reads the rest of the stream (so the hash covers all of it) and returns
    /// `(inner, "sha256:<hex>", bytes read)`.
    pub fn finish(mut self) -> io::Result<(R, String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let digest = sha256_digest(&self.hasher.finalize());
        Ok((self.inner, digest, self.size))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// A writer that hashes (and counts) every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Returns `(inner, "sha256:<hex>", bytes written)`.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            sha256_digest(&self.hasher.finalize()),
            self.size,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reader_hashes_the_whole_stream() {
        let r = HashingReader::new(&b"abc"[..]);
        let (_, digest, size) = r.finish().unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(digest_hex(&digest).is_ok());
        assert!(digest_hex("sha256:ABC").is_err());
    }

    #[test]
    fn canonical_json_ignores_map_order() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        for i in 0..50 {
            a.insert(format!("k{i}"), i);
        }
        for i in (0..50).rev() {
            b.insert(format!("k{i}"), i);
        }
        assert_eq!(canonical_json(&a).unwrap().1, canonical_json(&b).unwrap().1);
    }
}
