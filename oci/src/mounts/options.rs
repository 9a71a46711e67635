//! Translation of OCI mount options (`"ro"`, `"nosuid"`, `"rbind"`, `"mode=755"`) into
//! `mount(2)` flags plus the filesystem-specific data string, as runc does.

use crate::mounts::attr::RecursiveAttr;
use nix::mount::MsFlags;

/// `MS_NOSYMFOLLOW` (Linux 5.10+), which nix does not name.
pub(crate) const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// Flags, propagation and data parsed from an OCI mount's option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Propagation changes applied after mounting (`rprivate`, `rslave`, ...).
    pub propagation: MsFlags,
    /// Attributes for the mount *and every mount below it* (`rro`, `rrw`, `rnosuid`,
    /// `rnosymfollow`, `rnoatime`...): applied by [`crate::mounts::attr::apply_fd`].
    pub recursive: RecursiveAttr,
    /// `tmpcopyup`: fill a new tmpfs with what its mount point held (Podman's `--tmpfs`).
    pub tmpcopyup: bool,
    /// Whatever is not a flag: passed to the filesystem (`mode=755,size=65536k`).
    pub data: String,
}

impl ParsedOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub(crate) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Every option [`parse`] understands as a flag or as pier's own (anything else is filesystem
/// data), for the `features` document.
pub(crate) const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Parses an OCI option list.
pub(crate) fn parse(options: &[String]) -> ParsedOptions {
    let mut p = ParsedOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        recursive: RecursiveAttr::default(),
        tmpcopyup: false,
        data: String::new(),
    };
    let mut data = Vec::new();
    for opt in options {
        // (flag to set, flag to clear)
        let change = match opt.as_str() {
            "ro" => Some((MsFlags::MS_RDONLY, MsFlags::empty())),
            "rw" => Some((MsFlags::empty(), MsFlags::MS_RDONLY)),
            "nosuid" => Some((MsFlags::MS_NOSUID, MsFlags::empty())),
            "suid" => Some((MsFlags::empty(), MsFlags::MS_NOSUID)),
            "nodev" => Some((MsFlags::MS_NODEV, MsFlags::empty())),
            "dev" => Some((MsFlags::empty(), MsFlags::MS_NODEV)),
            "noexec" => Some((MsFlags::MS_NOEXEC, MsFlags::empty())),
            "exec" => Some((MsFlags::empty(), MsFlags::MS_NOEXEC)),
            "sync" => Some((MsFlags::MS_SYNCHRONOUS, MsFlags::empty())),
            "async" => Some((MsFlags::empty(), MsFlags::MS_SYNCHRONOUS)),
            "dirsync" => Some((MsFlags::MS_DIRSYNC, MsFlags::empty())),
            "remount" => Some((MsFlags::MS_REMOUNT, MsFlags::empty())),
            "mand" => Some((MsFlags::MS_MANDLOCK, MsFlags::empty())),
            "nomand" => Some((MsFlags::empty(), MsFlags::MS_MANDLOCK)),
            "atime" => Some((MsFlags::empty(), MsFlags::MS_NOATIME)),
            "noatime" => Some((MsFlags::MS_NOATIME, MsFlags::empty())),
            "diratime" => Some((MsFlags::empty(), MsFlags::MS_NODIRATIME)),
            "nodiratime" => Some((MsFlags::MS_NODIRATIME, MsFlags::empty())),
            "relatime" => Some((MsFlags::MS_RELATIME, MsFlags::empty())),
            "norelatime" => Some((MsFlags::empty(), MsFlags::MS_RELATIME)),
            "strictatime" => Some((MsFlags::MS_STRICTATIME, MsFlags::empty())),
            "nostrictatime" => Some((MsFlags::empty(), MsFlags::MS_STRICTATIME)),
            "bind" => Some((MsFlags::MS_BIND, MsFlags::empty())),
            "rbind" => Some((MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())),
            "nosymfollow" => Some((MS_NOSYMFOLLOW, MsFlags::empty())),
            "symfollow" => Some((MsFlags::empty(), MS_NOSYMFOLLOW)),
            _ => None,
        };
        if let Some((set, clear)) = change {
            p.flags.insert(set);
            p.flags.remove(clear);
            continue;
        }
        if let Some((clear, bit)) = recursive_attr(opt) {
            if clear {
                p.recursive.clr |= bit;
                p.recursive.set &= !bit;
                // mount_setattr(2) clears the access-time mode as a whole field or not at
                // all (EINVAL): `ratime` clears it, leaving the default, relatime.
                if bit & libc::MOUNT_ATTR__ATIME == bit {
                    p.recursive.clr |= libc::MOUNT_ATTR__ATIME;
                }
            } else {
                p.recursive.set |= bit;
                p.recursive.clr &= !bit;
                // mount_setattr(2): an access-time mode in attr_set needs the whole
                // MOUNT_ATTR__ATIME field in attr_clr.
                if bit & libc::MOUNT_ATTR__ATIME == bit {
                    p.recursive.clr |= libc::MOUNT_ATTR__ATIME;
                }
            }
            continue;
        }
        if opt == "tmpcopyup" {
            p.tmpcopyup = true;
            continue;
        }
        let propagation = match opt.as_str() {
            "private" => Some(MsFlags::MS_PRIVATE),
            "rprivate" => Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => Some(MsFlags::MS_SHARED),
            "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => Some(MsFlags::MS_SLAVE),
            "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => Some(MsFlags::MS_UNBINDABLE),
            "runbindable" => Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            _ => None,
        };
        match propagation {
            Some(f) => p.propagation.insert(f),
            None => data.push(opt.clone()),
        }
    }
    p.data = data.join(",");
    p
}

/// An `r*` option as (clear?, `MOUNT_ATTR_*` bit), runc's table: `rro` sets read-only on the
/// whole tree, `rrw` clears it, and so on.
fn recursive_attr(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (false, libc::MOUNT_ATTR_RDONLY),
        "rrw" => (true, libc::MOUNT_ATTR_RDONLY),
        "rnosuid" => (false, libc::MOUNT_ATTR_NOSUID),
        "rsuid" => (true, libc::MOUNT_ATTR_NOSUID),
        "rnodev" => (false, libc::MOUNT_ATTR_NODEV),
        "rdev" => (true, libc::MOUNT_ATTR_NODEV),
        "rnoexec" => (false, libc::MOUNT_ATTR_NOEXEC),
        "rexec" => (true, libc::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (false, libc::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (true, libc::MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (false, libc::MOUNT_ATTR_RELATIME),
        "rnorelatime" => (true, libc::MOUNT_ATTR_RELATIME),
        "rnoatime" => (false, libc::MOUNT_ATTR_NOATIME),
        "ratime" => (true, libc::MOUNT_ATTR_NOATIME),
        "rstrictatime" => (false, libc::MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (true, libc::MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (false, libc::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, libc::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Parses a `rootfsPropagation` value (default: `rslave`, as runc... makes host mounts
/// visible to the container but never the other way round).
pub(crate) fn parse_propagation(value: Option<&str>) -> MsFlags {
    match value {
        Some("shared") => MsFlags::MS_SHARED,
        Some("rshared") => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Some("private") => MsFlags::MS_PRIVATE,
        Some("rprivate") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some("slave") => MsFlags::MS_SLAVE,
        Some("unbindable") => MsFlags::MS_UNBINDABLE,
        Some("runbindable") => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_and_data_are_split() {
        let p = parse(&s(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert!(p
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME));
        assert_eq!(p.data, "mode=755,size=65536k");
        assert!(!p.is_bind());
    }

    #[test]
    fn recursive_options_are_kept_apart() {
        let p = parse(&s(&[
            "rbind", "rro", "rnosuid", "nodev", "rdev", "rnoatime",
        ]));
        assert_eq!(
            p.recursive.set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            p.recursive.clr,
            libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR__ATIME
        );
        let p = parse(&s(&["ratime"]));
        assert_eq!(
            (p.recursive.set, p.recursive.clr),
            (0, libc::MOUNT_ATTR__ATIME)
        );
        let p = parse(&s(&["rro", "rrw"]));
        assert_eq!(
            (p.recursive.set, p.recursive.clr),
            (0, libc::MOUNT_ATTR_RDONLY)
        );
        assert!(!p.flags.contains(MsFlags::MS_RDONLY));
        assert!(
            p.data.is_empty(),
            "rro must not reach the filesystem as data"
        );
    }

    #[test]
    fn every_known_option_is_a_flag_not_data() {
        for opt in KNOWN_OPTIONS {
            assert!(
                parse(&s(&[opt])).data.is_empty(),
                "{opt} reached the data string"
            );
        }
    }

    #[test]
    fn later_options_override_earlier() {
        let p = parse(&s(&["rbind", "ro", "rw", "rprivate"]));
        assert!(p.is_bind());
        assert!(p.flags.contains(MsFlags::MS_REC));
        assert!(!p.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(p.propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    }
}
