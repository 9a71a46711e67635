//! seccomp: Docker's default syscall filter, compiling an OCI `linux.seccomp` section to a
//! classic BPF program with seccompiler (rust-vmm, pure Rust, no libseccomp), and installing it.
//!
//! # How an OCI profile becomes one BPF program
//!
//! OCI profiles (libseccomp's model) attach an action to each syscall entry, and one syscall
//! may appear in several entries with different actions and argument conditions. A
//! seccompiler [`SeccompFilter`] has one `match_action` and one `mismatch_action`, so
//! `compile` builds one filter per distinct action:
//!
//! - for each non-ALLOW action `A` (ERRNO(n), KILL, TRAP, LOG, TRACE): a filter whose rules are
//!   the entries with action `A`, `match_action = A`, `mismatch_action = ALLOW`;
//! - for ALLOW: a filter of the ALLOW entries, `match_action = ALLOW`,
//!   `mismatch_action = defaultAction` (skipped, as a bare `RET ALLOW`, when the default is
//!   ALLOW itself).
//!
//! Installing these as separate filters would work (the kernel runs every filter and keeps the
//! most restrictive verdict) but costs one filter run per syscall each. Instead the programs
//! are *linked* into one: every `RET ALLOW` of an action filter (its "no match" exit; its
//! match exit is `A`, never ALLOW) becomes a jump to the next filter's start, and the ALLOW
//! filter comes last. A syscall therefore gets the first non-ALLOW action whose entry matches,
//! else ALLOW if an ALLOW entry matches, else the default action.
//!
//! Precedence when entries overlap: action filters run most restrictive first, in the
//! kernel's own order (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, TRACE, LOG), and all come
//! before ALLOW; two ERRNO entries with different errnos keep the profile's order. Docker's
//! profile has no overlaps except by design (`clone3` -> ENOSYS).
//!
//! Other translation details:
//! - args compare all 64 bits (as libseccomp does on 64-bit architectures); `SCMP_CMP_MASKED_EQ`
//!   takes the mask from `value` and the expected value from `valueTwo`;
//! - conditions within one entry are ANDed, except that several conditions on the same
//!   argument index are ORed, one rule each, as runc does;
//! - syscall names the running architecture lacks are skipped, as libseccomp does;
//! - only the native architecture is filtered: seccompiler's arch check kills any other ABI
//!   (e.g. 32-bit x86 via `int 0x80`), where Docker also allows x86/x32; x32 syscall numbers
//!   match no rule and get the default action;
//! - `SCMP_ACT_NOTIFY` hands the syscall to a seccomp agent (user notification, Linux 5.0):
//!   seccompiler has no such action, so it is compiled as `SCMP_ACT_TRACE` with a reserved
//!   value (`NOTIFY_STANDIN`) and rewritten to `SECCOMP_RET_USER_NOTIF` afterwards; the
//!   filter is then installed with `apply_with_listener`, which returns the listener
//!   descriptor the agent gets. `flags` are for `apply_with_flags`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::{caps, seccomp_profile, syscalls};

/// Most instructions one classic BPF program may hold (the kernel's `BPF_MAXINSNS`).
const BPF_MAX_INSNS: usize = 4096;

/// Length of the architecture check seccompiler puts at the start of every program.
const ARCH_CHECK_LEN: usize = 3;

/// `BPF_RET | BPF_K`: return a constant.
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// `BPF_JMP | BPF_JA`: jump forward unconditionally by `k`.
const JUMP_ALWAYS: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;

/// Docker's default profile for Docker's default capability set on the running architecture
/// (moby `profiles/seccomp/default.json`): default action ERRNO(EPERM), the big allowlist,
/// `personality` limited to five personas, `clone` without namespace flags, `clone3` answered
/// with ENOSYS (so libc falls back to the checkable `clone`), and the capability-gated groups
/// only where Docker's set holds the capability (`chroot` for CAP_SYS_CHROOT).
pub fn docker_default_profile() -> Result<LinuxSeccomp> {
    docker_profile_for_capabilities(&caps::docker_default_capabilities())
}

/// Docker's profile for a container with this bounding set, as dockerd adapts it to
/// `--cap-add`/`--cap-drop` (e.g. CAP_SYS_ADMIN unlocks `mount`, `unshare`, ...).
pub fn docker_profile_for_capabilities(caps: &[Capability]) -> Result<LinuxSeccomp> {
    seccomp_profile::docker_profile(caps, seccomp_profile::go_arch(std::env::consts::ARCH))
}

/// `compile``(`[`docker_default_profile`]`())`, compiled once per process and cached.
pub fn docker_default_program() -> Result<&'static BpfProgram> {
    static PROGRAM: OnceLock<BpfProgram> = OnceLock::new();
    if let Some(program) = PROGRAM.get() {
        return Ok(program);
    }
    let program = compile(&docker_default_profile()?).context("compiling Docker's profile")?;
    Ok(PROGRAM.get_or_init(|| program))
}

/// The seccompiler architecture of the running machine.
fn target_arch() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| anyhow::anyhow!("seccomp: unsupported architecture: {e}"))
}

/// Compile an OCI seccomp section to a BPF program for the running architecture (see the
/// module documentation for how actions and overlapping entries are translated). Supports
/// actions ALLOW, ERRNO (errnoRet, default EPERM), KILL/KILL_THREAD, KILL_PROCESS, TRAP, LOG and
/// TRACE, and argument operators EQ, NE, LT, LE, GT, GE and MASKED_EQ. Syscall names unknown on
/// this architecture are skipped.
pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<BpfProgram> {
    let arch = target_arch()?;
    let default = action(profile.default_action(), profile.default_errno_ret())
        .context("seccomp defaultAction")?;

    // Rules per action, in order of first appearance; ALLOW kept apart (it is linked last).
    let mut allow = Rules::new();
    let mut others: Vec<(SeccompAction, Rules)> = Vec::new();
    for entry in profile.syscalls().iter().flatten() {
        let act = action(entry.action(), entry.errno_ret())
            .with_context(|| format!("seccomp entry for {:?}", entry.names()))?;
        let rules = if act == SeccompAction::Allow {
            &mut allow
        } else {
            let i = match others.iter().position(|(a, _)| *a == act) {
                Some(i) => i,
                None => {
                    others.push((act.clone(), Rules::new()));
                    others.len() - 1
                }
            };
            &mut others[i].1
        };
        let args = entry.args().as_deref().unwrap_or_default();
        let entry_rules = conditions(args)
            .with_context(|| format!("seccomp arguments for {:?}", entry.names()))?;
        for name in entry.names() {
            // Unknown here (a 32-bit or other-arch name): skipped, as libseccomp does.
            if let Some(nr) = syscalls::number(name) {
                rules.add(nr, entry_rules.clone());
            }
        }
    }
    // Most restrictive first, as the kernel ranks actions; stable, so equal ranks (two
    // errnos) keep the profile's order.
    others.sort_by_key(|(a, _)| rank(a));

    let mut segments: Vec<BpfProgram> = Vec::with_capacity(others.len() + 1);
    for (act, rules) in others {
        if rules.is_empty() {
            continue;
        }
        let filter = SeccompFilter::new(rules.into_map(), SeccompAction::Allow, act.clone(), arch)
            .with_context(|| format!("building the seccomp filter for action {act:?}"))?;
        segments.push(
            filter
                .try_into()
                .with_context(|| format!("compiling the seccomp filter for action {act:?}"))?,
        );
    }
    let last_rules = if default == SeccompAction::Allow {
        // Allow entries are no-ops when everything is allowed anyway.
        BTreeMap::new()
    } else {
        allow.into_map()
    };
    // With no rules, seccompiler emits just the arch check and `RET default`; the match
    // action is then unused but must differ from the default.
    let match_action = if default == SeccompAction::Allow {
        SeccompAction::KillProcess
    } else {
        SeccompAction::Allow
    };
    let filter = SeccompFilter::new(last_rules, default.clone(), match_action, arch)
        .context("building the seccomp ALLOW filter")?;
    segments.push(
        filter
            .try_into()
            .context("compiling the seccomp ALLOW filter")?,
    );
    let mut program = link(segments)?;
    rewrite_notify(&mut program);
    Ok(program)
}

/// Links seccompiler programs into one (see the module documentation): the arch check once,
/// then each program's body, every `RET ALLOW` of all but the last turned into a jump past
/// the end of its own body.
fn link(segments: Vec<BpfProgram>) -> Result<BpfProgram> {
    let Some(last) = segments.last() else {
        bail!("seccomp: nothing to link");
    };
    let arch_check = last
        .get(..ARCH_CHECK_LEN)
        .context("seccomp: seccompiler program shorter than its arch check")?
        .to_vec();
    if segments
        .iter()
        .any(|s| s.get(..ARCH_CHECK_LEN) != Some(&arch_check[..]))
    {
        bail!("seccomp: unexpected seccompiler output (arch checks differ)");
    }
    let allow = u32::from(SeccompAction::Allow);
    let total = segments
        .iter()
        .map(|s| s.len() - ARCH_CHECK_LEN)
        .sum::<usize>()
        + ARCH_CHECK_LEN;
    if total > BPF_MAX_INSNS {
        bail!("seccomp profile too large: {total} BPF instructions (kernel limit {BPF_MAX_INSNS})");
    }

    let mut program = Vec::with_capacity(total);
    program.extend_from_slice(&arch_check);
    let count = segments.len();
    for (i, segment) in segments.into_iter().enumerate() {
        let body = &segment[ARCH_CHECK_LEN..];
        let is_last = i + 1 == count;
        for (pc, insn) in body.iter().enumerate() {
            if !is_last && insn.code == RET_K && insn.k == allow {
                // Fits: `total` is bounded by BPF_MAX_INSNS above.
                let past_end = (body.len() - pc - 1) as u32;
                program.push(sock_filter {
                    code: JUMP_ALWAYS,
                    jt: 0,
                    jf: 0,
                    k: past_end,
                });
            } else {
                program.push(insn.clone());
            }
        }
    }
    Ok(program)
}

/// The kernel's precedence of a seccomp action (`ACTION_ONLY`: lower is more restrictive).
fn rank(action: &SeccompAction) -> i32 {
    if *action == SeccompAction::Trace(NOTIFY_STANDIN) {
        return libc::SECCOMP_RET_USER_NOTIF as i32;
    }
    (u32::from(action.clone()) & libc::SECCOMP_RET_ACTION_FULL) as i32
}

/// The TRACE data that stands for SCMP_ACT_NOTIFY until [`compile`] rewrites it.
pub(crate) const NOTIFY_STANDIN: u32 = 0xfeed;

/// Whether the profile sends any syscall to a seccomp agent (SCMP_ACT_NOTIFY).
pub(crate) fn notifies(profile: &LinuxSeccomp) -> bool {
    profile.default_action() == LinuxSeccompAction::ScmpActNotify
        || profile
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Rewrites every `RET TRACE|NOTIFY_STANDIN` into `RET USER_NOTIF`.
fn rewrite_notify(program: &mut BpfProgram) {
    const BPF_RET_K: u16 = 0x06;
    let standin = libc::SECCOMP_RET_TRACE | NOTIFY_STANDIN;
    for insn in program.iter_mut() {
        if insn.code == BPF_RET_K && insn.k == standin {
            insn.k = libc::SECCOMP_RET_USER_NOTIF;
        }
    }
}

/// The rules for each syscall number of one action.
struct Rules(BTreeMap<i64, Option<Vec<SeccompRule>>>);

impl Rules {
    fn new() -> Self {
        Self(BTreeMap::new())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds one entry for syscall `nr`: unconditional if `conditions` is empty, else ORed with
    /// the rules already there. `None` marks "unconditional", which absorbs any rule.
    fn add(&mut self, nr: i64, rules: Vec<SeccompRule>) {
        let slot = self.0.entry(nr).or_insert_with(|| Some(Vec::new()));
        match (slot.as_mut(), rules.is_empty()) {
            (Some(_), true) => *slot = None,
            (Some(existing), false) => existing.extend(rules),
            (None, _) => {}
        }
    }

    /// seccompiler's form: an empty rule list matches the syscall unconditionally.
    fn into_map(self) -> BTreeMap<i64, Vec<SeccompRule>> {
        self.0
            .into_iter()
            .map(|(nr, rules)| (nr, rules.unwrap_or_default()))
            .collect()
    }
}

/// Translates one OCI action (with its errnoRet) to seccompiler's.
fn action(act: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<SeccompAction> {
    Ok(match act {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        // libseccomp/runc return EPERM when no errnoRet is given.
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno_ret.unwrap_or(libc::EPERM as u32))
        }
        // SCMP_ACT_KILL is libseccomp's old name for KILL_THREAD.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActTrace => {
            let data = errno_ret.unwrap_or(0);
            if data == NOTIFY_STANDIN {
                bail!("SCMP_ACT_TRACE errnoRet {data:#x} is reserved by pier (it marks SCMP_ACT_NOTIFY)");
            }
            SeccompAction::Trace(data)
        }
        LinuxSeccompAction::ScmpActNotify => SeccompAction::Trace(NOTIFY_STANDIN),
    })
}

/// Translates one entry's argument conditions into seccompiler rules (ORed): one rule ANDing
/// all of them, or, if an argument index repeats, one rule per condition (runc's reading).
/// No conditions gives no rules, i.e. "match the syscall unconditionally".
fn conditions(args: &[LinuxSeccompArg]) -> Result<Vec<SeccompRule>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let converted = args.iter().map(condition).collect::<Result<Vec<_>>>()?;
    let mut indices: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indices.sort_unstable();
    indices.dedup();
    let groups = if indices.len() < args.len() {
        converted.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![converted]
    };
    groups
        .into_iter()
        .map(|g| SeccompRule::new(g).map_err(|e| anyhow::anyhow!("seccomp rule: {e}")))
        .collect()
}

/// Translates one OCI argument condition (compared as a full 64-bit value).
fn condition(arg: &LinuxSeccompArg) -> Result<SeccompCondition> {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(arg.value()),
    };
    let value = match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    let index = u8::try_from(arg.index())
        .ok()
        .filter(|&i| i <= 5)
        .with_context(|| format!("argument index {} out of range 0..=5", arg.index()))?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| anyhow::anyhow!("argument {index}: {e}"))
}

/// Install it (requires no_new_privs already set, or CAP_SYS_ADMIN). Unlike seccompiler's
/// `apply_filter`, this does not set no_new_privs itself: that is the OCI
/// `process.noNewPrivileges` setting, the container init's decision. Errors name the syscall
/// (seccomp(2)/prctl).
pub fn apply(program: &BpfProgram) -> Result<()> {
    apply_with_flags(program, &[])
}

/// [`apply`] with the OCI `linux.seccomp.flags` (TSYNC, LOG, SPEC_ALLOW, ...).
pub(crate) fn apply_with_flags(
    program: &BpfProgram,
    flags: &[LinuxSeccompFilterFlag],
) -> Result<()> {
    install(program, flags, 0).map(drop)
}

/// [`apply_with_flags`] with `SECCOMP_FILTER_FLAG_NEW_LISTENER`: returns the listener
/// descriptor on which a seccomp agent receives the notified syscalls.
pub(crate) fn apply_with_listener(
    program: &BpfProgram,
    flags: &[LinuxSeccompFilterFlag],
) -> Result<std::os::fd::OwnedFd> {
    let fd = install(program, flags, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    use std::os::fd::FromRawFd;
    // SAFETY: with NEW_LISTENER, seccomp(2) returns a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

/// Installs the filter; returns seccomp(2)'s result (the listener with NEW_LISTENER).
fn install(
    program: &BpfProgram,
    flags: &[LinuxSeccompFilterFlag],
    extra: libc::c_ulong,
) -> Result<i64> {
    if program.is_empty() {
        bail!("seccomp(2) SECCOMP_SET_MODE_FILTER: empty BPF program");
    }
    let len = u16::try_from(program.len()).with_context(|| {
        format!(
            "seccomp(2): BPF program of {} instructions too long",
            program.len()
        )
    })?;
    let flag_bits = flags.iter().fold(extra, |acc, f| {
        acc | match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        }
    });
    let prog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is #[repr(C)] with the same fields as the kernel's.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `program`, alive for the call; the kernel only copies the
    // instructions (copy_from_user) and validates them before use.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag_bits,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EACCES) {
            bail!(
                "seccomp(2) SECCOMP_SET_MODE_FILTER: {err}: set no_new_privs first \
                 (prctl PR_SET_NO_NEW_PRIVS) or keep CAP_SYS_ADMIN until the filter is installed"
            );
        }
        bail!(
            "seccomp(2) SECCOMP_SET_MODE_FILTER ({} instructions): {err}",
            program.len()
        );
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSyscallBuilder};
    use std::time::Instant;

    /// Runs `body` in a forked child after setting no_new_privs and installing `program`;
    /// returns how the child ended. The child never returns into the test harness.
    fn in_filtered_child(program: &BpfProgram, body: impl FnOnce() -> i32) -> WaitStatus {
        // SAFETY: the child only makes plain syscalls and leaves with _exit, never returning
        // into the multi-threaded test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if nix::sys::prctl::set_no_new_privs().is_err() {
                        return 2;
                    }
                    if let Err(e) = apply(program) {
                        eprintln!("{e:#}");
                        return 3;
                    }
                    body()
                }))
                .unwrap_or(120);
                // SAFETY: ends the forked child without unwinding into the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
        }
    }

    /// The errno of the last failed libc call.
    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// Calls `syscall(nr, args...)` and returns `Ok(ret)` or `Err(errno)`.
    fn sys(nr: libc::c_long, a: [u64; 3]) -> std::result::Result<libc::c_long, i32> {
        // SAFETY: only called with syscalls and arguments that touch no memory of ours
        // (integers and null pointers).
        let rc = unsafe { libc::syscall(nr, a[0], a[1], a[2]) };
        if rc == -1 {
            Err(errno())
        } else {
            Ok(rc)
        }
    }

    fn exited_ok(status: WaitStatus) {
        assert!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "child ended with {status:?}"
        );
    }

    #[test]
    fn default_profile_compiles_fast() {
        let profile = docker_default_profile().unwrap();
        let start = Instant::now();
        let program = compile(&profile).unwrap();
        let first = start.elapsed();
        let start = Instant::now();
        for _ in 0..10 {
            compile(&docker_default_profile().unwrap()).unwrap();
        }
        let warm = start.elapsed() / 10;
        println!(
            "Docker default seccomp profile: {} BPF instructions, compile {first:?} first, \
             {warm:?} warm (profile build included)",
            program.len()
        );
        assert!(program.len() < BPF_MAX_INSNS);
        // Generous for an unoptimised build on a shared machine; release is far below 1 ms.
        assert!(warm.as_millis() < 50, "compile took {warm:?}");
        let cached = docker_default_program().unwrap();
        assert_eq!(cached, &program);
        assert!(std::ptr::eq(cached, docker_default_program().unwrap()));
    }

    #[test]
    fn default_profile_enforced_in_child() {
        let program = compile(&docker_default_profile().unwrap()).unwrap();
        let status = in_filtered_child(&program, || {
            // Allowed.
            // SAFETY: getpid has no preconditions.
            if unsafe { libc::getpid() } <= 0 {
                return 10;
            }
            // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): not in the allowlist.
            if sys(libc::SYS_keyctl, [0, (-3i64) as u64, 0]) != Err(libc::EPERM) {
                return 11;
            }
            // unshare(CLONE_NEWUSER): needs CAP_SYS_ADMIN's group.
            if sys(libc::SYS_unshare, [libc::CLONE_NEWUSER as u64, 0, 0]) != Err(libc::EPERM) {
                return 12;
            }
            // personality(0xffffffff) only queries the persona: allowed.
            if sys(libc::SYS_personality, [0xffff_ffff, 0, 0]).is_err() {
                return 13;
            }
            // ADDR_NO_RANDOMIZE (0x0040000) is not one of the five allowed personas.
            if sys(libc::SYS_personality, [0x0040000, 0, 0]) != Err(libc::EPERM) {
                return 14;
            }
            // clone3 gets ENOSYS (its own action group), not the default EPERM.
            if sys(libc::SYS_clone3, [0, 0, 0]) != Err(libc::ENOSYS) {
                return 15;
            }
            // socket: any family but AF_VSOCK.
            if sys(
                libc::SYS_socket,
                [libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64, 0],
            ) != Err(libc::EPERM)
            {
                return 16;
            }
            // AF_ALG (the kernel crypto API) is carved out too since Docker 29.5.
            if sys(
                libc::SYS_socket,
                [libc::AF_ALG as u64, libc::SOCK_SEQPACKET as u64, 0],
            ) != Err(libc::EPERM)
            {
                return 21;
            }
            // io_uring_setup(1, NULL): EPERM from the filter (the kernel alone says EFAULT).
            if sys(libc::SYS_io_uring_setup, [1, 0, 0]) != Err(libc::EPERM) {
                return 22;
            }
            match sys(
                libc::SYS_socket,
                [libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0],
            ) {
                // SAFETY: closing the socket just created.
                Ok(fd) => unsafe {
                    libc::close(fd as i32);
                },
                Err(_) => return 17,
            }
            // clone with a namespace flag: EPERM (MASKED_EQ rule); if the filter wrongly let
            // it through, the new child exits at once.
            match sys(
                libc::SYS_clone,
                [(libc::CLONE_NEWUTS | libc::SIGCHLD) as u64, 0, 0],
            ) {
                Err(libc::EPERM) => {}
                // SAFETY: ends the wrongly created grandchild immediately.
                Ok(0) => unsafe { libc::_exit(0) },
                _ => return 18,
            }
            // Plain fork (clone without namespace flags) still works.
            // SAFETY: the grandchild exits at once.
            match unsafe { fork() } {
                // SAFETY: the grandchild leaves at once, without unwinding.
                Ok(ForkResult::Child) => unsafe { libc::_exit(7) },
                Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, 7)) => {}
                    _ => return 19,
                },
                Err(_) => return 20,
            }
            0
        });
        exited_ok(status);
    }

    /// A syscall entry with `args` and `action`.
    fn entry(
        names: &[&str],
        action: LinuxSeccompAction,
        errno: Option<u32>,
        args: Vec<(usize, LinuxSeccompOperator, u64, Option<u64>)>,
    ) -> oci_spec::runtime::LinuxSyscall {
        let mut b = LinuxSyscallBuilder::default()
            .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .action(action);
        if let Some(e) = errno {
            b = b.errno_ret(e);
        }
        if !args.is_empty() {
            let args: Vec<_> = args
                .into_iter()
                .map(|(index, op, value, two)| {
                    let mut a = LinuxSeccompArgBuilder::default()
                        .index(index)
                        .op(op)
                        .value(value);
                    if let Some(t) = two {
                        a = a.value_two(t);
                    }
                    a.build().unwrap()
                })
                .collect();
            b = b.args(args);
        }
        b.build().unwrap()
    }

    fn profile(
        default: LinuxSeccompAction,
        syscalls: Vec<oci_spec::runtime::LinuxSyscall>,
    ) -> LinuxSeccomp {
        let mut p = LinuxSeccomp::default();
        p.set_default_action(default).set_syscalls(Some(syscalls));
        p
    }

    #[test]
    fn argument_operators_enforced_in_child() {
        use LinuxSeccompAction::ScmpActErrno as Errno;
        use LinuxSeccompOperator::*;
        // sched_get_priority_max(policy) has no side effects; bogus policies give EINVAL, so
        // a distinct errno proves the rule fired.
        let call = &["sched_get_priority_max", "chown32", "no_such_syscall"];
        let p = profile(
            LinuxSeccompAction::ScmpActAllow,
            vec![
                entry(call, Errno, Some(101), vec![(0, ScmpCmpEq, 1000, None)]),
                // Two conditions on one argument: ORed, as runc does.
                entry(
                    call,
                    Errno,
                    Some(102),
                    vec![(0, ScmpCmpEq, 2000, None), (0, ScmpCmpEq, 2001, None)],
                ),
                entry(
                    call,
                    Errno,
                    Some(103),
                    vec![(0, ScmpCmpMaskedEq, 0xff00, Some(0x4200))],
                ),
                entry(call, Errno, Some(104), vec![(0, ScmpCmpEq, 1 << 32, None)]),
                entry(
                    call,
                    Errno,
                    Some(105),
                    vec![(1, ScmpCmpGt, 3000, None), (2, ScmpCmpLt, 5, None)],
                ),
                entry(
                    call,
                    Errno,
                    Some(106),
                    vec![(1, ScmpCmpLe, 10, None), (2, ScmpCmpGe, 6000, None)],
                ),
                entry(
                    call,
                    Errno,
                    Some(107),
                    vec![(0, ScmpCmpNe, 0, None), (1, ScmpCmpEq, 77, None)],
                ),
                // Unconditional for another syscall, and a LOG action (allowed, logged).
                entry(&["getppid"], LinuxSeccompAction::ScmpActLog, None, vec![]),
            ],
        );
        let program = compile(&p).unwrap();
        let nr = libc::SYS_sched_get_priority_max;
        let status = in_filtered_child(&program, move || {
            let cases: &[([u64; 3], std::result::Result<libc::c_long, i32>)] = &[
                ([0, 0, 0], Ok(0)), // SCHED_OTHER: no rule matches
                ([1000, 0, 0], Err(101)),
                ([999, 0, 0], Err(libc::EINVAL)),
                ([2000, 0, 0], Err(102)),
                ([2001, 0, 0], Err(102)),
                ([2002, 0, 0], Err(libc::EINVAL)),
                ([0x4233, 0, 0], Err(103)),
                ([0x4333, 0, 0], Err(libc::EINVAL)),
                // The kernel truncates the policy to int (0): only a 64-bit compare sees it.
                ([1 << 32, 0, 0], Err(104)),
                ([0, 3001, 4], Err(105)),
                ([0, 3000, 4], Ok(0)),
                ([0, 3001, 5], Ok(0)),
                ([0, 10, 6000], Err(106)),
                ([0, 11, 6000], Ok(0)),
                ([0, 10, 5999], Ok(0)),
                ([1, 77, 0], Err(107)),
                ([0, 77, 0], Ok(0)),
            ];
            for (i, (args, want)) in cases.iter().enumerate() {
                if sys(nr, *args) != *want {
                    eprintln!(
                        "case {i}: {args:?} gave {:?}, want {want:?}",
                        sys(nr, *args)
                    );
                    return 30 + i as i32;
                }
            }
            // SAFETY: getppid has no preconditions.
            if unsafe { libc::getppid() } <= 0 {
                return 60;
            }
            0
        });
        exited_ok(status);
    }

    #[test]
    fn kill_and_trap_actions_in_child() {
        for (action, signal) in [
            (LinuxSeccompAction::ScmpActKillProcess, Signal::SIGSYS),
            (LinuxSeccompAction::ScmpActKill, Signal::SIGSYS),
            (LinuxSeccompAction::ScmpActTrap, Signal::SIGSYS),
        ] {
            let p = profile(
                LinuxSeccompAction::ScmpActAllow,
                vec![entry(&["getppid"], action, None, vec![])],
            );
            let program = compile(&p).unwrap();
            let status = in_filtered_child(&program, || {
                // SAFETY: getppid has no preconditions; the filter stops the process here.
                unsafe { libc::getppid() };
                0
            });
            assert!(
                matches!(status, WaitStatus::Signaled(_, s, _) if s == signal),
                "{action:?}: child ended with {status:?}"
            );
        }
    }

    #[test]
    fn errno_default_and_precedence() {
        // Default ERRNO(EACCES); getppid allowed, but ERRNO(ENOENT) when arg0 == 9 (a
        // non-ALLOW entry wins over an ALLOW one for the same call).
        let mut p = profile(
            LinuxSeccompAction::ScmpActErrno,
            vec![
                entry(
                    &["getppid", "exit_group", "exit"],
                    LinuxSeccompAction::ScmpActAllow,
                    None,
                    vec![],
                ),
                entry(
                    &["getppid"],
                    LinuxSeccompAction::ScmpActErrno,
                    Some(libc::ENOENT as u32),
                    vec![(0, LinuxSeccompOperator::ScmpCmpEq, 9, None)],
                ),
            ],
        );
        p.set_default_errno_ret(Some(libc::EACCES as u32));
        let program = compile(&p).unwrap();
        let status = in_filtered_child(&program, || {
            if sys(libc::SYS_getppid, [0, 0, 0]).is_err() {
                return 40;
            }
            if sys(libc::SYS_getppid, [9, 0, 0]) != Err(libc::ENOENT) {
                return 41;
            }
            if sys(libc::SYS_getpid, [0, 0, 0]) != Err(libc::EACCES) {
                return 42;
            }
            0
        });
        exited_ok(status);
    }

    #[test]
    fn notify_compiles_and_unsupported_inputs_are_errors() {
        let notify = profile(
            LinuxSeccompAction::ScmpActErrno,
            vec![entry(
                &["read"],
                LinuxSeccompAction::ScmpActNotify,
                None,
                vec![],
            )],
        );
        // NOTIFY compiles to RET USER_NOTIF; TRACE may not use the value standing in for it.
        let program = compile(&notify).unwrap();
        assert!(program
            .iter()
            .any(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_USER_NOTIF));
        assert!(!program
            .iter()
            .any(|i| i.code == 0x06 && i.k == libc::SECCOMP_RET_TRACE | NOTIFY_STANDIN));
        let clash = profile(
            LinuxSeccompAction::ScmpActErrno,
            vec![entry(
                &["read"],
                LinuxSeccompAction::ScmpActTrace,
                Some(NOTIFY_STANDIN),
                vec![],
            )],
        );
        let err = format!("{:#}", compile(&clash).unwrap_err());
        assert!(err.contains("reserved"), "{err}");
        let bad_index = profile(
            LinuxSeccompAction::ScmpActErrno,
            vec![entry(
                &["read"],
                LinuxSeccompAction::ScmpActAllow,
                None,
                vec![(6, LinuxSeccompOperator::ScmpCmpEq, 0, None)],
            )],
        );
        let err = format!("{:#}", compile(&bad_index).unwrap_err());
        assert!(err.contains("index 6"), "{err}");
        assert!(apply(&Vec::new()).is_err());
    }

    #[test]
    fn apply_without_no_new_privs_needs_cap_sys_admin() {
        let program = compile(&docker_default_profile().unwrap()).unwrap();
        // SAFETY: the child only makes plain syscalls and leaves with _exit.
        let status = match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let mut code = 0;
                // Lose CAP_SYS_ADMIN (effective) without no_new_privs: seccomp(2) must refuse.
                let mut eff = ::caps::read(None, ::caps::CapSet::Effective).unwrap_or_default();
                eff.remove(&::caps::Capability::CAP_SYS_ADMIN);
                if ::caps::set(None, ::caps::CapSet::Effective, &eff).is_err() {
                    code = 50;
                } else {
                    match apply(&program) {
                        Err(e) if format!("{e:#}").contains("PR_SET_NO_NEW_PRIVS") => {}
                        _ => code = 51,
                    }
                }
                // SAFETY: ends the forked child without unwinding into the test harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).unwrap(),
        };
        exited_ok(status);
    }
}
