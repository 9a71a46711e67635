//! Linux capabilities: Docker's default set, `--cap-add`/`--cap-drop`, and applying an OCI
//! `process.capabilities` section to the container's init just before it execs.
//!
//! A root process holds every capability; a container's root keeps only the 14 Docker grants
//! (enough to chown files, bind low ports, use raw sockets, ...), so it cannot load modules,
//! mount filesystems, change the clock or trace other processes. The OCI config lists five
//! sets; what survives `execve(2)` is, for uid 0, the *bounding* set (the ceiling of all
//! future permitted sets) and, for other uids, only the *ambient* set.

use anyhow::{Context, Result};
use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Docker's default capability set (moby `oci/caps/defaults.go`), in Docker's order.
pub fn docker_default_capabilities() -> Vec<Capability> {
    use Capability::*;
    vec![
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
}

/// The OCI `process.capabilities` Docker writes: bounding, effective and permitted hold the
/// default set; inheritable and ambient are empty (so a non-root user keeps nothing across
/// exec, as with Docker).
pub fn default_linux_capabilities() -> LinuxCapabilities {
    let set: Capabilities = docker_default_capabilities().into_iter().collect();
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(Some(Capabilities::new()))
        .set_ambient(Some(Capabilities::new()));
    caps
}

/// Called in the container init just before exec (after setuid; the init must have set
/// PR_SET_KEEPCAPS before switching to a non-root uid, or there is nothing left to keep).
/// Drops the bounding set first (that needs CAP_SETPCAP, which the later steps may remove),
/// then sets inheritable, effective, permitted and ambient from the OCI struct, using the
/// `caps` crate. A missing set (`None`) counts as empty, as runc does. Errors name the set
/// and capability.
///
/// Effective is set before permitted (not after, as the OCI field order suggests) because the
/// `caps` crate changes one set per capset(2) call and the kernel rejects any call that would
/// leave effective outside permitted; narrowing effective first keeps every step valid.
pub(crate) fn apply(caps: &LinuxCapabilities) -> Result<()> {
    let bounding = to_caps_set(caps.bounding().as_ref())?;
    let inheritable = to_caps_set(caps.inheritable().as_ref())?;
    let effective = to_caps_set(caps.effective().as_ref())?;
    let permitted = to_caps_set(caps.permitted().as_ref())?;
    let ambient = to_caps_set(caps.ambient().as_ref())?;

    // After setuid to a non-root user (with PR_SET_KEEPCAPS) the effective set is empty while
    // permitted is kept; the bounding drops need CAP_SETPCAP *effective*, so raise effective
    // to permitted first. A no-op for root.
    let current =
        caps::read(None, CapSet::Permitted).context("reading the permitted set (capget)")?;
    caps::set(None, CapSet::Effective, &current)
        .context("raising the effective set to the permitted set (capset)")?;

    for cap in caps::all() {
        // has_cap fails for capabilities this kernel does not know: nothing to drop then.
        let present = caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false);
        if present && !bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).with_context(|| {
                format!("dropping {cap} from the bounding set (prctl PR_CAPBSET_DROP)")
            })?;
        }
    }
    set_base(CapSet::Inheritable, "inheritable", &inheritable)?;
    set_base(CapSet::Effective, "effective", &effective)?;
    set_base(CapSet::Permitted, "permitted", &permitted)?;

    caps::clear(None, CapSet::Ambient)
        .context("clearing the ambient set (prctl PR_CAP_AMBIENT_CLEAR_ALL)")?;
    for &cap in &ambient {
        // The kernel only allows an ambient capability that is also permitted and
        // inheritable. runc's own default config lists ambient capabilities without
        // inheritable ones and runc then skips them (with a warning); do the same, silently,
        // since the container's stderr is not the place for pier's warnings.
        if !(inheritable.contains(&cap) && permitted.contains(&cap)) {
            continue;
        }
        caps::raise(None, CapSet::Ambient, cap).with_context(|| {
            format!("raising {cap} in the ambient set (prctl PR_CAP_AMBIENT_RAISE)")
        })?;
    }
    Ok(())
}

/// Narrows this process's effective and permitted sets to what an `execve(2)` of an ordinary
/// program (no file capabilities, not set-user-ID) would leave it: for root, bounding |
/// inheritable | ambient, all effective; for any other user, only the ambient set. pier's
/// `--init` reaper stays PID 1 without executing anything: this gives it the command's
/// capabilities, not the init's (more, for a non-root user, before its `execve`). Gaining is
/// impossible, so the result is also kept within the current permitted set.
pub(crate) fn narrow_to_exec_result() -> Result<()> {
    let read = |set: CapSet, name: &str| {
        caps::read(None, set).with_context(|| format!("reading the {name} set (capget)"))
    };
    let permitted = read(CapSet::Permitted, "permitted")?;
    let ambient = read(CapSet::Ambient, "ambient")?;
    let root = nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root();
    let after_exec: CapsHashSet = if root {
        let mut all = read(CapSet::Bounding, "bounding")?;
        all.extend(read(CapSet::Inheritable, "inheritable")?);
        all.extend(ambient.iter().copied());
        all
    } else {
        ambient.clone()
    };
    let kept: CapsHashSet = after_exec.intersection(&permitted).copied().collect();
    // Effective first: the kernel refuses an effective set outside the permitted one.
    let effective = if nix::unistd::geteuid().is_root() {
        kept.clone()
    } else {
        kept.intersection(&ambient).copied().collect()
    };
    set_base(CapSet::Effective, "effective", &effective)?;
    set_base(CapSet::Permitted, "permitted", &kept)
}

/// Sets one of the capset(2) sets, naming the capabilities the kernel may have refused.
fn set_base(set: CapSet, name: &str, wanted: &CapsHashSet) -> Result<()> {
    caps::set(None, set, wanted).map_err(|err| {
        // capset(2) only says EPERM; point at the capabilities that cannot be gained.
        let permitted = caps::read(None, CapSet::Permitted).unwrap_or_default();
        let mut missing: Vec<String> = wanted
            .difference(&permitted)
            .map(ToString::to_string)
            .collect();
        missing.sort();
        anyhow::anyhow!(
            "setting the {name} set (capset): {err}; not in the current permitted set: [{}]",
            missing.join(", ")
        )
    })
}

/// Converts an OCI capability list to the `caps` crate's set.
fn to_caps_set(set: Option<&Capabilities>) -> Result<CapsHashSet> {
    set.into_iter()
        .flatten()
        .map(|&cap| to_caps(cap))
        .collect::<Result<CapsHashSet>>()
}

/// Converts one OCI capability (`NET_ADMIN`) to the `caps` crate's (`CAP_NET_ADMIN`).
fn to_caps(cap: Capability) -> Result<caps::Capability> {
    format!("CAP_{cap}")
        .parse()
        .with_context(|| format!("capability CAP_{cap} is unknown to the caps crate"))
}

/// Parses a capability name as `--cap-add` takes it: `NET_ADMIN`, `cap_net_admin`, ...
fn parse_name(name: &str) -> Result<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse()
        .map_err(|_| anyhow::anyhow!("unknown capability {name:?} (expected e.g. NET_ADMIN)"))
}

/// Every capability both the running kernel and oci-spec know, in kernel index order.
fn all_capabilities() -> Vec<Capability> {
    let mut known: Vec<caps::Capability> =
        caps::runtime::thread_all_supported().into_iter().collect();
    known.sort_by_key(|c| c.index());
    known
        .into_iter()
        .filter_map(|c| c.to_string().strip_prefix("CAP_")?.parse().ok())
        .collect()
}

/// `--cap-add`/`--cap-drop` parsing (names with or without `CAP_`, case-insensitive, `ALL`),
/// with Docker's rules (moby `oci/caps.TweakCapabilities`): `--cap-add ALL` grants everything
/// except the dropped ones; otherwise `--cap-drop ALL` keeps only the added ones; otherwise
/// the drops are removed from `base` and the adds appended. The result has no duplicates.
pub fn adjust(base: Vec<Capability>, add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    let is_all = |s: &String| s.trim().eq_ignore_ascii_case("ALL");
    let parse_list = |list: &[String], flag: &str| -> Result<Vec<Capability>> {
        list.iter()
            .filter(|s| !is_all(s))
            .map(|s| parse_name(s).with_context(|| format!("parsing --{flag}")))
            .collect()
    };
    let adds = parse_list(add, "cap-add")?;
    let drops = parse_list(drop, "cap-drop")?;
    if add.is_empty() && drop.is_empty() {
        return Ok(dedup(base));
    }

    let caps = if add.iter().any(is_all) {
        all_capabilities()
            .into_iter()
            .filter(|c| !drops.contains(c))
            .collect()
    } else if drop.iter().any(is_all) {
        adds
    } else {
        base.into_iter()
            .filter(|c| !drops.contains(c))
            .chain(adds)
            .collect()
    };
    Ok(dedup(caps))
}

/// Removes repeated capabilities, keeping the first occurrence's position.
fn dedup(caps: Vec<Capability>) -> Vec<Capability> {
    let mut out: Vec<Capability> = Vec::with_capacity(caps.len());
    for c in caps {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// Docker's default set as the kernel prints it in /proc/<pid>/status.
    const DOCKER_MASK: u64 = 0x0000_0000_a804_25fb;

    fn names(caps: &[Capability]) -> Vec<String> {
        caps.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn default_set_matches_docker_mask() {
        let mask = docker_default_capabilities()
            .into_iter()
            .map(|c| to_caps(c).unwrap().bitmask())
            .fold(0, |acc, bit| acc | bit);
        assert_eq!(mask, DOCKER_MASK);
        let linux = default_linux_capabilities();
        assert_eq!(linux.bounding().as_ref().unwrap().len(), 14);
        assert!(linux.inheritable().as_ref().unwrap().is_empty());
        assert!(linux.ambient().as_ref().unwrap().is_empty());
    }

    #[test]
    fn every_caps_crate_capability_converts_both_ways() {
        for cap in caps::all() {
            let bare = cap.to_string();
            let oci = parse_name(&bare).unwrap();
            assert_eq!(to_caps(oci).unwrap(), cap);
        }
    }

    #[test]
    fn adjust_adds_and_drops() {
        let base = docker_default_capabilities();
        let added = adjust(base.clone(), &["net_admin".into()], &[]).unwrap();
        assert_eq!(added.len(), 15);
        assert!(added.contains(&Capability::NetAdmin));

        let dropped = adjust(base.clone(), &[], &["CAP_NET_RAW".into(), "mknod".into()]).unwrap();
        assert_eq!(dropped.len(), 12);
        assert!(!dropped.contains(&Capability::NetRaw));

        let only = adjust(base.clone(), &["CHOWN".into()], &["all".into()]).unwrap();
        assert_eq!(names(&only), ["CHOWN"]);

        let none = adjust(base.clone(), &[], &["ALL".into()]).unwrap();
        assert!(none.is_empty());

        let all = adjust(base.clone(), &["ALL".into()], &["SYS_ADMIN".into()]).unwrap();
        assert!(all.len() > 30, "{all:?}");
        assert!(!all.contains(&Capability::SysAdmin));
        assert!(all.contains(&Capability::SysModule));

        let dup = adjust(base.clone(), &["KILL".into()], &[]).unwrap();
        assert_eq!(dup.len(), 14);
        assert_eq!(adjust(base.clone(), &[], &[]).unwrap(), base);
    }

    #[test]
    fn adjust_rejects_unknown_names() {
        let err = adjust(docker_default_capabilities(), &["NET_ADMINN".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cap-add"), "{err}");
        let err = format!(
            "{:#}",
            adjust(vec![], &[], &["CAP_BOGUS".into()]).unwrap_err()
        );
        assert!(err.contains("CAP_BOGUS"), "{err}");
    }

    /// Reads one hex capability mask (`CapEff`, `CapBnd`, ...) from /proc/self/status.
    fn status_mask(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))?;
        u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
    }

    /// Runs `body` in a forked child and returns how it ended; the child never returns into
    /// the test harness.
    fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
        // SAFETY: the child only runs `body` (plain syscalls and reads of /proc) and then
        // leaves with _exit, never returning into the multi-threaded test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(120);
                // SAFETY: _exit ends the forked child without running the parent's atexit
                // handlers or unwinding into the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
        }
    }

    #[test]
    fn apply_default_set_in_child() {
        let status = in_child(|| {
            // A private UTS namespace, so a sethostname that wrongly succeeds cannot rename
            // the host.
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).is_err() {
                return 2;
            }
            if apply(&default_linux_capabilities()).is_err() {
                return 3;
            }
            if status_mask("CapEff") != Some(DOCKER_MASK) {
                return 4;
            }
            if status_mask("CapBnd") != Some(DOCKER_MASK) {
                return 5;
            }
            if status_mask("CapPrm") != Some(DOCKER_MASK) {
                return 6;
            }
            if status_mask("CapInh") != Some(0) || status_mask("CapAmb") != Some(0) {
                return 7;
            }
            match nix::unistd::sethostname("pier-caps-test") {
                Err(nix::errno::Errno::EPERM) => 0,
                _ => 8,
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn apply_after_setuid_in_child() {
        let status = in_child(|| {
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).is_err() {
                return 2;
            }
            // As the container init does: keep capabilities across the uid switch.
            if nix::sys::prctl::set_keepcaps(true).is_err() {
                return 3;
            }
            let uid = nix::unistd::Uid::from_raw(1000);
            if nix::unistd::setresuid(uid, uid, uid).is_err() {
                return 4;
            }
            if let Err(e) = apply(&default_linux_capabilities()) {
                eprintln!("{e:#}");
                return 5;
            }
            if status_mask("CapEff") != Some(DOCKER_MASK)
                || status_mask("CapBnd") != Some(DOCKER_MASK)
            {
                return 6;
            }
            match nix::unistd::sethostname("pier-caps-test") {
                Err(nix::errno::Errno::EPERM) => 0,
                _ => 7,
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn apply_ambient_set_in_child() {
        let status = in_child(|| {
            let set: Capabilities = [Capability::NetBindService, Capability::Kill]
                .into_iter()
                .collect();
            let mut caps = LinuxCapabilities::default();
            caps.set_bounding(Some(set.clone()))
                .set_effective(Some(set.clone()))
                .set_permitted(Some(set.clone()))
                .set_inheritable(Some(set.clone()))
                .set_ambient(Some(set));
            if let Err(e) = apply(&caps) {
                eprintln!("{e:#}");
                return 3;
            }
            // CAP_KILL is bit 5, CAP_NET_BIND_SERVICE bit 10.
            let want = (1 << 5) | (1 << 10);
            if status_mask("CapAmb") != Some(want) || status_mask("CapBnd") != Some(want) {
                return 4;
            }
            0
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn ambient_without_inheritable_is_skipped_as_runc_does() {
        let status = in_child(|| {
            // Ambient needs the capability in inheritable too: it is left out, not an error.
            let one: Capabilities = [Capability::Kill].into_iter().collect();
            let mut caps = LinuxCapabilities::default();
            caps.set_bounding(Some(one.clone()))
                .set_effective(Some(one.clone()))
                .set_permitted(Some(one.clone()))
                .set_inheritable(Some(Capabilities::new()))
                .set_ambient(Some(one));
            match (apply(&caps), caps::read(None, CapSet::Ambient)) {
                (Ok(()), Ok(amb)) if amb.is_empty() => 0,
                _ => 9,
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }
}
