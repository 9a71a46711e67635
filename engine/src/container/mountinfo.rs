//! Is something mounted here? (read from `/proc/self/mountinfo`).

use std::path::Path;

/// Whether `path` is a mount point in pier's mount namespace. One `statx` (the kernel's
/// mount-root attribute, Linux 5.8) rather than reading the mount table, which holds two
/// mounts per running container: the check on every start and removal no longer grows with
/// their number. Kernels without the attribute get the table.
pub fn is_mounted(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    match statx(
        CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Err(_) => false,
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) => is_mounted_by_table(path),
    }
}

/// [`is_mounted`] from `/proc/self/mountinfo`.
fn is_mounted_by_table(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = path.to_string_lossy();
    info.lines()
        .any(|l| l.split_whitespace().nth(4).map(unescape).as_deref() == Some(&*target))
}

/// Mount points at or below `prefix`.
pub fn mounts_under(prefix: &Path) -> Vec<std::path::PathBuf> {
    mounts_under_in("/proc/self/mountinfo", prefix)
}

/// [`mounts_under`] in the calling thread's mount namespace (a thread that entered a private
/// one sees its own mounts only through `/proc/thread-self`).
pub fn thread_mounts_under(prefix: &Path) -> Vec<std::path::PathBuf> {
    mounts_under_in("/proc/thread-self/mountinfo", prefix)
}

fn mounts_under_in(mountinfo: &str, prefix: &Path) -> Vec<std::path::PathBuf> {
    let Ok(info) = std::fs::read_to_string(mountinfo) else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(unescape))
        .map(std::path::PathBuf::from)
        .filter(|p| p.starts_with(prefix))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_is_mounted_agrees_with_the_mount_table() {
        let dir = tempfile::tempdir().unwrap();
        for (path, expected) in [
            (Path::new("/"), true),
            (Path::new("/proc"), true),
            (dir.path(), false),
            (Path::new("/no/such/path"), false),
        ] {
            assert_eq!(is_mounted(path), expected, "{}", path.display());
            assert_eq!(is_mounted_by_table(path), expected, "{}", path.display());
        }
    }
}
