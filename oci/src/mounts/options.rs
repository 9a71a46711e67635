//! Translation of OCI mount options (`"ro"`, `"nosuid"`, `"rbind"`, `"mode=755"`) into
//! `mount(2)` flags plus the filesystem-specific data string, as runc does.

use nix::mount::MsFlags;

/// Flags, propagation and data parsed from an OCI mount's option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Propagation changes applied after mounting (`rprivate`, `rslave`, ...).
    pub propagation: MsFlags,
    /// Flags for the mount *and every mount below it* (`rro`, `rnosuid`, `rnodev`,
    /// `rnoexec`): applied by [`crate::mounts::attr::apply`].
    pub recursive: MsFlags,
    /// Whatever is not a flag: passed to the filesystem (`mode=755,size=65536k`).
    pub data: String,
}

impl ParsedOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub(crate) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Every option [`parse`] understands as a flag (anything else is filesystem data), for the
/// `features` document.
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
    "private",
    "rbind",
    "relatime",
    "remount",
    "rnodev",
    "rnoexec",
    "rnosuid",
    "ro",
    "rprivate",
    "rro",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

/// Parses an OCI option list.
pub(crate) fn parse(options: &[String]) -> ParsedOptions {
    let mut p = ParsedOptions {
        flags: MsFlags::empty(),
        propagation: MsFlags::empty(),
        recursive: MsFlags::empty(),
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
            _ => None,
        };
        if let Some((set, clear)) = change {
            p.flags.insert(set);
            p.flags.remove(clear);
            continue;
        }
        let recursive = match opt.as_str() {
            "rro" => Some(MsFlags::MS_RDONLY),
            "rnosuid" => Some(MsFlags::MS_NOSUID),
            "rnodev" => Some(MsFlags::MS_NODEV),
            "rnoexec" => Some(MsFlags::MS_NOEXEC),
            _ => None,
        };
        if let Some(f) = recursive {
            p.recursive.insert(f);
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
        let p = parse(&s(&["rbind", "rro", "rnosuid", "nodev"]));
        assert_eq!(p.recursive, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
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
