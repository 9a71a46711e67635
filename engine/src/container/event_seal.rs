//! The seal on each line of the event log: an HMAC-SHA256 of the line under a key that only
//! pier keeps, `<root>/events.key` (32 random bytes, mode 0600, made with the first event).
//!
//! Why: the labs' checker reads the log as proof that something happened (a container was
//! stopped after its grace period, restarted three times). The log is a text file; a line a
//! person writes by hand, or one copied from another container and edited, has no valid seal
//! and is refused by [`EventLog::read_sealed`](super::events::EventLog::read_sealed). What a
//! seal cannot stop: root can read the key and seal lines itself. The seal makes forging a
//! deliberate act (read pier's key, compute an HMAC over pier's exact serialization) rather
//! than copying what `pier events` prints; the labs check the live kernel where it still
//! holds the answer.

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Length of the key, in bytes (the HMAC-SHA256 block size would allow up to 64).
const KEY_LEN: usize = 32;

/// The key that seals a state directory's event log.
pub struct SealKey {
    key: [u8; KEY_LEN],
}

/// Where the key of the log at `log` lives: beside it.
fn key_path(log: &Path) -> PathBuf {
    log.with_file_name("events.key")
}

impl SealKey {
    /// The key of the log at `log`, if it was made.
    pub fn open(log: &Path) -> Result<Option<SealKey>> {
        let path = key_path(log);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let mode = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}): it must be 0600",
                path.display(),
                mode & 0o777
            );
        }
        let mut key = [0u8; KEY_LEN];
        file.read_exact(&mut key)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(SealKey { key }))
    }

    /// The key of the log at `log`, made now if it does not exist. The caller holds the log's
    /// lock, so two pier processes never make two keys.
    pub(crate) fn open_or_create(log: &Path) -> Result<SealKey> {
        if let Some(key) = SealKey::open(log)? {
            return Ok(key);
        }
        let mut key = [0u8; KEY_LEN];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .context("reading /dev/urandom for the event log's key")?;
        let path = key_path(log);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&key)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(SealKey { key })
    }

    /// The HMAC state over the key (HMAC takes keys of any length: the error arm is never
    /// taken).
    fn mac(&self) -> Result<Hmac<Sha256>> {
        Hmac::<Sha256>::new_from_slice(&self.key).context("keying HMAC-SHA256")
    }

    /// The seal of `bytes`, in hex.
    pub fn seal(&self, bytes: &[u8]) -> Result<String> {
        let mut mac = self.mac()?;
        mac.update(bytes);
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `seal` (hex) is the seal of `bytes` (compared in constant time).
    pub fn verifies(&self, bytes: &[u8], seal: &str) -> bool {
        let (Ok(tag), Ok(mut mac)) = (hex::decode(seal), self.mac()) else {
            return false;
        };
        mac.update(bytes);
        mac.verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_verifies_its_bytes_only_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.jsonl");
        assert!(SealKey::open(&log).unwrap().is_none());
        let key = SealKey::open_or_create(&log).unwrap();
        let mode = std::fs::metadata(dir.path().join("events.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let seal = key.seal(b"line").unwrap();
        assert!(key.verifies(b"line", &seal));
        assert!(!key.verifies(b"line2", &seal));
        assert!(!key.verifies(b"line", "zz"));
        // The same key is read back; another directory's key does not verify.
        assert!(SealKey::open(&log)
            .unwrap()
            .unwrap()
            .verifies(b"line", &seal));
        let other = tempfile::tempdir().unwrap();
        let other = SealKey::open_or_create(&other.path().join("events.jsonl")).unwrap();
        assert!(!other.verifies(b"line", &seal));
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.jsonl");
        SealKey::open_or_create(&log).unwrap();
        let path = dir.path().join("events.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SealKey::open(&log).err().unwrap().to_string();
        assert!(err.contains("must be 0600"), "{err}");
    }
}
