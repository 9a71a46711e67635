//! How much disk a directory tree takes, for `pier system df` and `volume prune`.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes under `dir`: apparent file sizes (as `docker system df`), each hard-linked file
/// once, a symlink as its own length (not followed); unreadable entries are skipped.
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() < 2 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::tree_size;

    #[test]
    fn counts_files_once_and_skips_links() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/a"), "12345").unwrap();
        std::fs::hard_link(t.path().join("d/a"), t.path().join("b")).unwrap();
        std::fs::write(t.path().join("c"), "xy").unwrap();
        std::os::unix::fs::symlink("/usr", t.path().join("link")).unwrap();
        // 5 + 2, and the link's own 4 bytes ("/usr"), not the size of /usr.
        assert_eq!(tree_size(t.path()), 11);
        assert_eq!(tree_size(&t.path().join("missing")), 0);
    }
}
