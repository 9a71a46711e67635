//! Docker's default seccomp profile as data: moby's `profiles/seccomp/default.json`
//! (`default_linux.go`), entry for entry, with its `includes`/`excludes` conditions on
//! capabilities and architectures. [`docker_profile`] selects the entries for one capability
//! set and architecture, as dockerd does when it writes a container's `config.json`.
//! `minKernel` conditions are ignored (the only one, 4.8 for ptrace, is long met).
//!
//! Which release: [`DOCKER_RELEASE`] / [`MOBY_PROFILES_VERSION`]. To re-sync, diff this file
//! against `vendor/github.com/moby/profiles/seccomp/default.json` of the newest Docker
//! release tag (`docker-vX.Y.Z` in moby/moby) and update both constants.

use anyhow::{Context, Result};
use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// The Docker Engine release whose default seccomp profile this file reproduces (the newest
/// release when it was last synced; Docker has shipped this exact profile since 29.5.0).
/// Notable changes it carries over older copies: no `io_uring_*` (removed in Docker 25.0,
/// moby PR #46762: io_uring bypasses seccomp for the operations it submits), and no
/// `AF_ALG` sockets (the kernel crypto API), besides `AF_VSOCK`.
pub(crate) const DOCKER_RELEASE: &str = "29.7.2";

/// The version of the moby profiles module (where Docker's default profile lives since it
/// left the moby tree) that [`DOCKER_RELEASE`] vendors.
pub(crate) const MOBY_PROFILES_VERSION: &str = "github.com/moby/profiles/seccomp v0.2.3";

/// The action of a profile entry.
#[derive(Clone, Copy)]
enum Action {
    /// `SCMP_ACT_ALLOW`.
    Allow,
    /// `SCMP_ACT_ERRNO` with this errno.
    Errno(u32),
}

/// One argument condition, as in the OCI profile.
struct Arg {
    index: usize,
    value: u64,
    value_two: u64,
    op: LinuxSeccompOperator,
}

/// When an entry applies: every listed capability must be (includes) / none may be
/// (excludes) in the container's set; the architecture must (not) be listed.
struct When {
    caps: &'static [Capability],
    arches: &'static [&'static str],
}

/// No condition.
const ANY: When = When {
    caps: &[],
    arches: &[],
};

/// One entry of Docker's profile.
struct Entry {
    names: &'static [&'static str],
    action: Action,
    args: &'static [Arg],
    includes: When,
    excludes: When,
}

/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
/// CLONE_NEWCGROUP` (0x7E020000): clone may create none of these without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 = 2_114_060_288;

/// Entry allowing `names` unconditionally when every capability in `caps` is granted.
const fn allow_with(names: &'static [&'static str], caps: &'static [Capability]) -> Entry {
    Entry {
        names,
        action: Action::Allow,
        args: &[],
        includes: When { caps, arches: &[] },
        excludes: ANY,
    }
}

/// Entry allowing `names` unconditionally on the listed (Go-named) architectures.
const fn allow_on(names: &'static [&'static str], arches: &'static [&'static str]) -> Entry {
    Entry {
        names,
        action: Action::Allow,
        args: &[],
        includes: When { caps: &[], arches },
        excludes: ANY,
    }
}

/// Entry allowing `personality(persona)` for one persona value (a macro, not a `const fn`,
/// so the argument slice is a constant).
macro_rules! personality {
    ($persona:expr) => {
        Entry {
            names: &["personality"],
            action: Action::Allow,
            args: &[Arg {
                index: 0,
                value: $persona,
                value_two: 0,
                op: LinuxSeccompOperator::ScmpCmpEq,
            }],
            includes: ANY,
            excludes: ANY,
        }
    };
}

// Docker's socket rules rely on AF_ALG and AF_VSOCK being two apart, one family between.
const _: () = assert!(libc::AF_ALG == 38 && libc::AF_VSOCK == 40);

/// Entry allowing `socket(family, ...)` when `family <op> value`.
macro_rules! socket {
    ($value:expr, $op:ident) => {
        Entry {
            names: &["socket"],
            action: Action::Allow,
            args: &[Arg {
                index: 0,
                value: $value,
                value_two: 0,
                op: LinuxSeccompOperator::$op,
            }],
            includes: ANY,
            excludes: ANY,
        }
    };
}

/// The syscalls every container may make, whatever its capabilities.
const ALWAYS_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Docker's profile, in moby's order.
const ENTRIES: &[Entry] = &[
    Entry {
        names: ALWAYS_ALLOWED,
        action: Action::Allow,
        args: &[],
        includes: ANY,
        excludes: ANY,
    },
    // moby: includes minKernel 4.8 (ignored).
    Entry {
        names: &["process_vm_readv", "process_vm_writev", "ptrace"],
        action: Action::Allow,
        args: &[],
        includes: ANY,
        excludes: ANY,
    },
    // Any socket family but AF_ALG (38, the kernel crypto API, a frequent source of kernel
    // bugs) and AF_VSOCK (40, which reaches the hypervisor): below 38, 39 (AF_NFC), above 40.
    socket!(libc::AF_ALG as u64, ScmpCmpLt),
    socket!(libc::AF_ALG as u64 + 1, ScmpCmpEq),
    socket!(libc::AF_VSOCK as u64, ScmpCmpGt),
    // PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, and 0xffffffff (query).
    personality!(0x0),
    personality!(0x0008),
    personality!(0x20000),
    personality!(0x20008),
    personality!(0xffff_ffff),
    allow_on(&["sync_file_range2", "swapcontext"], &["ppc64le"]),
    allow_on(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        &["arm", "arm64"],
    ),
    allow_on(&["arch_prctl"], &["amd64", "x32"]),
    allow_on(&["modify_ldt"], &["amd64", "x32", "x86"]),
    allow_on(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        &["s390", "s390x"],
    ),
    allow_on(&["riscv_flush_icache"], &["riscv64"]),
    allow_with(&["open_by_handle_at"], &[Capability::DacReadSearch]),
    allow_with(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        &[Capability::SysAdmin],
    ),
    // Without CAP_SYS_ADMIN, clone may not create namespaces.
    Entry {
        names: &["clone"],
        action: Action::Allow,
        args: &[Arg {
            index: 0,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: 0,
            op: LinuxSeccompOperator::ScmpCmpMaskedEq,
        }],
        includes: ANY,
        excludes: When {
            caps: &[Capability::SysAdmin],
            arches: &["s390", "s390x"],
        },
    },
    // s390 passes clone's flags as the second argument.
    Entry {
        names: &["clone"],
        action: Action::Allow,
        args: &[Arg {
            index: 1,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: 0,
            op: LinuxSeccompOperator::ScmpCmpMaskedEq,
        }],
        includes: When {
            caps: &[],
            arches: &["s390", "s390x"],
        },
        excludes: When {
            caps: &[Capability::SysAdmin],
            arches: &[],
        },
    },
    // clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes libc fall
    // back to clone, whose flags the rule above checks.
    Entry {
        names: &["clone3"],
        action: Action::Errno(libc::ENOSYS as u32),
        args: &[],
        includes: ANY,
        excludes: When {
            caps: &[Capability::SysAdmin],
            arches: &[],
        },
    },
    allow_with(&["reboot"], &[Capability::SysBoot]),
    allow_with(&["chroot"], &[Capability::SysChroot]),
    allow_with(
        &["delete_module", "init_module", "finit_module"],
        &[Capability::SysModule],
    ),
    allow_with(&["acct"], &[Capability::SysPacct]),
    allow_with(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        &[Capability::SysPtrace],
    ),
    allow_with(&["iopl", "ioperm"], &[Capability::SysRawio]),
    allow_with(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        &[Capability::SysTime],
    ),
    allow_with(&["vhangup"], &[Capability::SysTtyConfig]),
    allow_with(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        &[Capability::SysNice],
    ),
    allow_with(&["syslog"], &[Capability::Syslog]),
    allow_with(&["bpf"], &[Capability::Bpf]),
    allow_with(&["perf_event_open"], &[Capability::Perfmon]),
];

/// Go's name (`runtime.GOARCH`) for a Rust target architecture, as the profile's `arches`
/// conditions use it.
pub(crate) fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The OCI architectures moby's `archMap` lists for a Go architecture: the native one and the
/// compat ABIs its kernel can also run.
fn oci_arches(go_arch: &str) -> Vec<Arch> {
    match go_arch {
        "amd64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "arm64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        _ => vec![],
    }
}

/// Whether an entry applies to a container with capability set `caps` on `go_arch`, by
/// dockerd's rules: all included capabilities present, no excluded one present, the
/// architecture included (if a list is given) and not excluded.
fn applies(entry: &Entry, caps: &[Capability], go_arch: &str) -> bool {
    let inc = &entry.includes;
    let exc = &entry.excludes;
    inc.caps.iter().all(|c| caps.contains(c))
        && (inc.arches.is_empty() || inc.arches.contains(&go_arch))
        && !exc.caps.iter().any(|c| caps.contains(c))
        && !exc.arches.contains(&go_arch)
}

/// Docker's default profile for a container whose bounding set is `caps`, on `go_arch`
/// (`"amd64"`, `"arm64"`, ...): default action `SCMP_ACT_ERRNO` (EPERM), and the entries
/// whose conditions hold.
pub(crate) fn docker_profile(caps: &[Capability], go_arch: &str) -> Result<LinuxSeccomp> {
    let syscalls: Vec<LinuxSyscall> = ENTRIES
        .iter()
        .filter(|e| applies(e, caps, go_arch))
        .map(to_oci)
        .collect::<Result<_>>()?;
    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(libc::EPERM as u32))
        .set_architectures(Some(oci_arches(go_arch)))
        .set_syscalls(Some(syscalls));
    Ok(profile)
}

/// One entry as an OCI `linux.seccomp.syscalls` item.
fn to_oci(entry: &Entry) -> Result<LinuxSyscall> {
    let mut call = LinuxSyscall::default();
    call.set_names(entry.names.iter().map(|n| n.to_string()).collect());
    match entry.action {
        Action::Allow => call.set_action(LinuxSeccompAction::ScmpActAllow),
        Action::Errno(errno) => call
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(errno)),
    };
    if !entry.args.is_empty() {
        let args = entry
            .args
            .iter()
            .map(|a| {
                LinuxSeccompArgBuilder::default()
                    .index(a.index)
                    .value(a.value)
                    .value_two(a.value_two)
                    .op(a.op)
                    .build()
                    .with_context(|| {
                        format!("argument {} of the rule for {:?}", a.index, entry.names)
                    })
            })
            .collect::<Result<_>>()?;
        call.set_args(Some(args));
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_names(profile: &LinuxSeccomp) -> Vec<String> {
        profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn default_amd64_profile_matches_docker() {
        let caps = crate::security::caps::docker_default_capabilities();
        let profile = docker_profile(&caps, "amd64").unwrap();
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(profile.default_errno_ret(), Some(1));
        assert_eq!(ALWAYS_ALLOWED.len(), 361);
        let allowed = allowed_names(&profile);
        for name in [
            "read",
            "openat",
            "arch_prctl",
            "modify_ldt",
            "chroot",
            "ptrace",
        ] {
            assert!(allowed.iter().any(|n| n == name), "{name} not allowed");
        }
        // Gated on capabilities outside Docker's default set, or on other architectures.
        for name in [
            "mount",
            "unshare",
            "setns",
            "keyctl",
            "reboot",
            "bpf",
            "cacheflush",
        ] {
            assert!(!allowed.iter().any(|n| n == name), "{name} allowed");
        }
        let calls = profile.syscalls().as_ref().unwrap();
        // Docker 25.0 dropped io_uring (moby #46762): no entry may name it, under any condition.
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert!(
                !calls.iter().any(|s| s.names().iter().any(|n| n == name)),
                "{name} is in the profile"
            );
        }
        let sockets: Vec<_> = calls.iter().filter(|s| s.names() == &["socket"]).collect();
        assert_eq!(
            sockets.len(),
            3,
            "AF_ALG and AF_VSOCK carved out by three rules"
        );
        let clone3 = calls.iter().find(|s| s.names() == &["clone3"]).unwrap();
        assert_eq!(clone3.errno_ret(), Some(libc::ENOSYS as u32));
        let clones: Vec<_> = calls.iter().filter(|s| s.names() == &["clone"]).collect();
        assert_eq!(clones.len(), 1, "only the non-s390 clone rule");
        assert_eq!(clones[0].args().as_ref().unwrap()[0].index(), 0);
        let personas = calls
            .iter()
            .filter(|s| s.names() == &["personality"])
            .count();
        assert_eq!(personas, 5);
    }

    #[test]
    fn sys_admin_unlocks_its_group_and_drops_the_clone_limits() {
        let mut caps = crate::security::caps::docker_default_capabilities();
        caps.push(Capability::SysAdmin);
        let profile = docker_profile(&caps, "amd64").unwrap();
        let allowed = allowed_names(&profile);
        for name in ["mount", "unshare", "setns", "clone", "clone3"] {
            assert!(allowed.iter().any(|n| n == name), "{name} not allowed");
        }
        let calls = profile.syscalls().as_ref().unwrap();
        assert!(!calls
            .iter()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActErrno));
    }

    #[test]
    fn arm64_profile_has_arm_calls_not_x86_ones() {
        let caps = crate::security::caps::docker_default_capabilities();
        let allowed = allowed_names(&docker_profile(&caps, "arm64").unwrap());
        assert!(allowed.iter().any(|n| n == "cacheflush"));
        assert!(!allowed.iter().any(|n| n == "arch_prctl"));
    }
}
