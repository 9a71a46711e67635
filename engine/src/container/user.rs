//! Resolving `-u USER[:GROUP]` (names or numbers) against the image's own `/etc/passwd` and
//! `/etc/group`, as Docker does: the names mean what they mean *inside* the container.

use anyhow::{bail, Context, Result};
use pier_oci::security::in_root;
use std::path::Path;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Supplementary groups (from /etc/group membership).
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`).
    pub home: String,
}

/// The colon-separated lines of `file` in the image; none if the image has no such file. The
/// file is resolved inside `rootfs` ([`in_root`]): an image's `/etc/passwd` that links to a
/// host path must not make pier read the host's file.
fn read_table(rootfs: &Path, file: &str) -> Result<Vec<Vec<String>>> {
    let text = in_root::read_to_string(rootfs, Path::new(file))
        .with_context(|| format!("reading the image's {file}"))?
        .unwrap_or_default();
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect())
}

/// Resolves `spec` (`""` means root) inside `rootfs` (an image's root filesystem, or
/// `/proc/<pid>/root` of a running container).
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser> {
    let passwd = read_table(rootfs, "/etc/passwd")?;
    let group = read_table(rootfs, "/etc/group")?;
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .iter()
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (uid, mut gid, name, home) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].clone(),
            f.get(5).cloned().unwrap_or_else(|| "/".into()),
        ),
        (None, Ok(uid)) => (uid, 0, String::new(), "/".into()),
        (None, Err(_)) => {
            bail!("unable to find user {user}: no matching entries in the image's /etc/passwd")
        }
    };
    if let Some(g) = grp {
        gid = match group
            .iter()
            .find(|f| f.len() >= 3 && (f[0] == g || f[2] == g))
        {
            Some(f) => f[2].parse().unwrap_or(0),
            None => match g.parse() {
                Ok(n) => n,
                Err(_) => {
                    bail!("unable to find group {g}: no matching entries in the image's /etc/group")
                }
            },
        };
    }
    let additional_gids = if name.is_empty() {
        Vec::new()
    } else {
        group
            .iter()
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect()
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:1000::/home/student:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nstudent:x:1000:\nwheel:x:10:student\n",
        )
        .unwrap();
        let u = resolve(dir.path(), "student").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str()),
            (1000, 1000, vec![10], "/home/student")
        );
        assert_eq!(resolve(dir.path(), "").unwrap().uid, 0);
        assert_eq!(
            resolve(dir.path(), "1234:10").unwrap(),
            ResolvedUser {
                uid: 1234,
                gid: 10,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        assert!(resolve(dir.path(), "nobody-here").is_err());
        assert!(resolve(dir.path(), "student:nogroup").is_err());
    }

    #[test]
    fn passwd_linking_to_the_host_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let host_file = dir.path().join("host-passwd");
        std::fs::write(&host_file, "evil:x:4242:4242::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(&host_file, root.join("etc/passwd")).unwrap();
        let err = resolve(&root, "evil").unwrap_err();
        assert!(
            format!("{err:#}").contains("unable to find user evil"),
            "{err:#}"
        );
        // The same entries inside the root, reached by an absolute link, are found.
        std::fs::write(
            root.join("etc/passwd.real"),
            "evil:x:4242:4242::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd.real", root.join("etc/passwd")).unwrap();
        assert_eq!(resolve(&root, "evil").unwrap().uid, 4242);
    }
}
