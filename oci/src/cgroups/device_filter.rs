//! Device access on cgroup v2: an eBPF program built from `linux.resources.devices`.
//!
//! Opening a device node, or creating one with mknod(2), is checked by the kernel against the
//! cgroup of the process. cgroup v1 has a `devices` controller with `devices.allow` /
//! `devices.deny` files (see [`super::v1`]). cgroup v2 has no such files: the check runs the
//! `BPF_PROG_TYPE_CGROUP_DEVICE` programs attached to the cgroup and its ancestors, and the
//! access is allowed only if every one of them returns 1. runc, crun and youki all attach such
//! a program; so does pier. Without it a container keeping CAP_MKNOD could `mknod /x b 8 0`
//! and read the host's disk.
//!
//! The program receives `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where `access_type` is `(access << 16) | type`, access a set of `BPF_DEVCG_ACC_*` bits
//! (one call may ask for read and write together) and type `BPF_DEVCG_DEV_BLOCK` or `_CHAR`.
//!
//! ## How rules decide (the same as runc and youki for the rule lists Docker and pier write)
//! - A rule of type `a` (all devices; OCI's default type) resets: everything before it is
//!   forgotten and it sets the default, allow or deny, as a v1 `devices.allow`/`deny` write
//!   of `a` does. Without one the default is deny (the list is an allow-list), as in runc.
//! - Otherwise the **last matching rule wins**, judged per access kind: for each access the
//!   request asks for (r, w, m), the last rule that matches the device (type, major and minor,
//!   where an absent or negative number matches any) and names that access decides it. The
//!   request is allowed only if each of its accesses is. Judging each access on its own keeps
//!   `deny c 1:3 w` from being bypassed by an open for read+write, which a rule-at-a-time
//!   subset test lets through in allow-by-default lists.
//! - An absent or empty `access` means `rwm`, as in pier's v1 driver.
//!
//! Instructions are encoded with the `rbpf` crate's instruction type and opcode table (its
//! interpreter also runs the programs in the unit tests); the few syscalls are in [`super::bpf`].

use std::ffi::CStr;
use std::fmt;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use rbpf::ebpf::{self, Insn};

use super::bpf;

/// License string handed to the kernel. It only matters for helpers restricted to GPL
/// programs, and this program calls no helper at all.
const LICENSE: &CStr = c"Apache-2.0";

/// `BPF_DEVCG_DEV_*`: the device type in the low 16 bits of `access_type`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// `BPF_DEVCG_ACC_*`: the accesses in the high 16 bits of `access_type`.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Registers: r1 holds the context on entry (and is then free), r0 the verdict on exit.
const CTX: u8 = 1;
const TYPE: u8 = 2;
/// The requested accesses that no rule has decided yet.
const PENDING: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

/// How device access is policed on this machine, for `pier system info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFilterKind {
    /// cgroup v1: the kernel's `devices` controller, fed through devices.allow / devices.deny.
    DevicesController,
    /// cgroup v2: an eBPF program attached to each container's cgroup.
    EbpfProgram,
}

impl fmt::Display for DeviceFilterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceFilterKind::DevicesController => "cgroup v1 devices controller",
            DeviceFilterKind::EbpfProgram => "eBPF cgroup device program",
        })
    }
}

/// The kind of device filter pier's containers get here (follows the cgroup driver).
pub fn device_filter_kind() -> Result<DeviceFilterKind> {
    Ok(match super::detect_version()? {
        2 => DeviceFilterKind::EbpfProgram,
        _ => DeviceFilterKind::DevicesController,
    })
}

/// One rule as the program tests it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `DEV_BLOCK` or `DEV_CHAR`.
    typ: i32,
    /// `None` matches any.
    major: Option<u32>,
    minor: Option<u32>,
    /// `ACC_*` bits.
    access: i32,
}

/// The rules that still count once `a` rules have reset the list, and the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceFilter {
    default_allow: bool,
    rules: Vec<Rule>,
}

impl DeviceFilter {
    /// Reads OCI rules, refusing what no device cgroup accepts (types other than a/b/c,
    /// access letters other than r/w/m, numbers above 2^32-1), naming the rule.
    pub(crate) fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<DeviceFilter> {
        let mut filter = DeviceFilter {
            default_allow: false,
            rules: Vec::new(),
        };
        for rule in rules {
            let text = super::v1::device_rule(rule);
            let typ = match rule.typ().unwrap_or_default() {
                LinuxDeviceType::A => {
                    filter = DeviceFilter {
                        default_allow: rule.allow(),
                        rules: Vec::new(),
                    };
                    continue;
                }
                LinuxDeviceType::B => DEV_BLOCK,
                LinuxDeviceType::C => DEV_CHAR,
                other => bail!(
                    "device rule {text:?}: type {:?} cannot be used in a device cgroup rule (only a, b or c)",
                    other.as_str()
                ),
            };
            let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
                match n.filter(|&n| n >= 0) {
                    None => Ok(None),
                    Some(n) => u32::try_from(n).map(Some).with_context(|| {
                        format!("device rule {text:?}: {what} {n} is above 2^32-1")
                    }),
                }
            };
            let access = match rule.access().as_deref().unwrap_or("") {
                "" => ACC_ALL,
                letters => letters.chars().try_fold(0, |bits, c| match c {
                    'r' => Ok(bits | ACC_READ),
                    'w' => Ok(bits | ACC_WRITE),
                    'm' => Ok(bits | ACC_MKNOD),
                    _ => Err(anyhow::anyhow!(
                        "device rule {text:?}: access {c:?} is not one of r, w, m"
                    )),
                })?,
            };
            filter.rules.push(Rule {
                allow: rule.allow(),
                typ,
                major: number(rule.major(), "major")?,
                minor: number(rule.minor(), "minor")?,
                access,
            });
        }
        Ok(filter)
    }

    /// The program, as eBPF instructions.
    pub(crate) fn instructions(&self) -> Result<Vec<Insn>> {
        let mut code = Assembler::default();
        // r2 = type, r3 = requested accesses, r4 = major, r5 = minor.
        code.push(insn(ebpf::LD_W_REG, TYPE, CTX, 0, 0));
        code.push(insn(ebpf::MOV32_REG, PENDING, TYPE, 0, 0));
        code.push(insn(ebpf::RSH32_IMM, PENDING, 0, 0, 16));
        code.push(insn(ebpf::AND32_IMM, TYPE, 0, 0, 0xffff));
        code.push(insn(ebpf::LD_W_REG, MAJOR, CTX, 4, 0));
        code.push(insn(ebpf::LD_W_REG, MINOR, CTX, 8, 0));
        // Last rule first: the first one met that names a pending access decides it.
        for rule in self.rules.iter().rev() {
            code.jump(ebpf::JNE_IMM, TYPE, rule.typ, Target::NextRule);
            if let Some(major) = rule.major {
                // Compared as 64 bits: a number above 2^31-1 sign-extends and matches no
                // device, which is right, since device numbers have at most 20 bits.
                code.jump(ebpf::JNE_IMM, MAJOR, major as i32, Target::NextRule);
            }
            if let Some(minor) = rule.minor {
                code.jump(ebpf::JNE_IMM, MINOR, minor as i32, Target::NextRule);
            }
            if rule.allow {
                // These accesses are granted; done once nothing is left pending.
                code.push(insn(ebpf::AND32_IMM, PENDING, 0, 0, !rule.access));
                code.jump(ebpf::JEQ_IMM, PENDING, 0, Target::Verdict(true));
            } else {
                code.jump(ebpf::JSET_IMM, PENDING, rule.access, Target::Verdict(false));
            }
            code.end_rule()?;
        }
        // What no rule decided gets the default: fall through into its verdict.
        for allow in [self.default_allow, !self.default_allow] {
            code.place_verdict(allow);
            code.push(insn(ebpf::MOV32_IMM, 0, 0, 0, i32::from(allow)));
            code.push(insn(ebpf::EXIT, 0, 0, 0, 0));
        }
        code.finish()
    }

    /// The program encoded for BPF_PROG_LOAD (native byte order; rbpf encodes little-endian,
    /// which is the order of every architecture pier builds for).
    pub(crate) fn bytecode(&self) -> Result<Vec<u8>> {
        Ok(self
            .instructions()?
            .iter()
            .flat_map(|i| i.to_array())
            .collect())
    }
}

fn insn(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        opc,
        dst,
        src,
        off,
        imm,
    }
}

/// Where a jump goes; resolved to relative offsets once the layout is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The first instruction after the current rule's block.
    NextRule,
    /// The block returning this verdict (allow or not).
    Verdict(bool),
}

/// Collects instructions with symbolic jumps and resolves them.
#[derive(Default)]
struct Assembler {
    insns: Vec<Insn>,
    /// Jumps of the current rule to the next one (instruction indexes).
    to_next_rule: Vec<usize>,
    /// Jumps to a verdict: (instruction index, allow).
    to_verdict: Vec<(usize, bool)>,
    /// Where the deny and the allow blocks start.
    verdict_at: [Option<usize>; 2],
}

impl Assembler {
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn jump(&mut self, opc: u8, dst: u8, imm: i32, target: Target) {
        let at = self.insns.len();
        match target {
            Target::NextRule => self.to_next_rule.push(at),
            Target::Verdict(allow) => self.to_verdict.push((at, allow)),
        }
        self.push(insn(opc, dst, 0, 0, imm));
    }

    /// Points the current rule's "next rule" jumps here.
    fn end_rule(&mut self) -> Result<()> {
        let here = self.insns.len();
        for at in std::mem::take(&mut self.to_next_rule) {
            self.insns[at].off = offset(at, here)?;
        }
        Ok(())
    }

    /// The block returning `allow` starts here.
    fn place_verdict(&mut self, allow: bool) {
        self.verdict_at[usize::from(allow)] = Some(self.insns.len());
    }

    fn finish(mut self) -> Result<Vec<Insn>> {
        for (at, allow) in std::mem::take(&mut self.to_verdict) {
            let to = self.verdict_at[usize::from(allow)]
                .context("eBPF device program: jump to a verdict never placed")?;
            self.insns[at].off = offset(at, to)?;
        }
        Ok(self.insns)
    }
}

/// The relative offset of a jump at `from` to `to`, if it fits the instruction.
fn offset(from: usize, to: usize) -> Result<i16> {
    i16::try_from(to as i64 - from as i64 - 1).with_context(|| {
        format!("too many device rules: the eBPF program cannot jump {from} -> {to}")
    })
}

/// Builds the program for `rules` and attaches it to the v2 cgroup `dir`, replacing the
/// device programs attached there before. The new one is attached first, so that at no moment
/// is the cgroup without a filter (while both are attached a device must pass both).
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let filter = DeviceFilter::from_rules(rules)?;
    let bytecode = filter.bytecode()?;
    let cgroup = std::fs::File::open(dir)
        .with_context(|| format!("opening cgroup directory {}", dir.display()))?;
    let old = bpf::attached_device_programs(cgroup.as_fd()).with_context(|| {
        format!(
            "listing the device programs of {} (bpf BPF_PROG_QUERY)",
            dir.display()
        )
    })?;
    let prog = load(&bytecode).context("loading the eBPF device program (bpf BPF_PROG_LOAD)")?;
    bpf::attach_device_program(cgroup.as_fd(), prog.as_fd()).with_context(|| {
        format!(
            "attaching the eBPF device program to {} (bpf BPF_PROG_ATTACH)",
            dir.display()
        )
    })?;
    for id in old {
        let old_prog = match bpf::program_by_id(id) {
            Ok(fd) => fd,
            // Gone meanwhile; or hidden by an LSM, which only ever restricts further.
            Err(Errno::ENOENT | Errno::EPERM | Errno::EACCES) => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("opening device program id {id}"));
            }
        };
        match bpf::detach_device_program(cgroup.as_fd(), old_prog.as_fd()) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "detaching the previous device program (id {id}) from {}",
                        dir.display()
                    )
                })
            }
        }
    }
    Ok(())
}

/// Loads the program. Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, whose default
/// (8 MiB or less) may be used up: on EPERM the limit is lifted for one more try and put back,
/// so that the container, forked later, does not inherit the lifted limit.
fn load(bytecode: &[u8]) -> Result<std::os::fd::OwnedFd> {
    match bpf::load_cgroup_device_program(bytecode, LICENSE) {
        Err(e) if e.errno == Errno::EPERM => {
            let (soft, hard) = getrlimit(Resource::RLIMIT_MEMLOCK)?;
            if setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY).is_err() {
                return Err(e.into());
            }
            let retry = bpf::load_cgroup_device_program(bytecode, LICENSE);
            setrlimit(Resource::RLIMIT_MEMLOCK, soft, hard)
                .context("restoring RLIMIT_MEMLOCK after loading the device program")?;
            retry.map_err(Into::into)
        }
        result => result.map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    use super::*;
    use crate::devices::default_cgroup_rules;

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: i64,
        minor: i64,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if major >= 0 {
            b = b.major(major);
        }
        if minor >= 0 {
            b = b.minor(minor);
        }
        b.build().unwrap()
    }

    /// Runs the program in rbpf's interpreter on one device access; true if allowed.
    fn run(code: &[u8], typ: char, major: u32, minor: u32, access: &str) -> bool {
        let dev = if typ == 'b' { DEV_BLOCK } else { DEV_CHAR };
        let bits = access.chars().fold(0, |b, c| {
            b | match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                _ => ACC_MKNOD,
            }
        });
        let mut ctx = Vec::new();
        ctx.extend_from_slice(&(((bits as u32) << 16) | dev as u32).to_ne_bytes());
        ctx.extend_from_slice(&major.to_ne_bytes());
        ctx.extend_from_slice(&minor.to_ne_bytes());
        let vm = rbpf::EbpfVmRaw::new(Some(code)).expect("rbpf accepts the program");
        match vm.execute_program(&mut ctx).expect("program runs") {
            0 => false,
            1 => true,
            other => panic!("program returned {other}"),
        }
    }

    /// The semantic in the plainest words (see the module comment), to check the program by.
    fn oracle(
        rules: &[LinuxDeviceCgroup],
        typ: char,
        major: u32,
        minor: u32,
        access: &str,
    ) -> bool {
        let mut default = false;
        let mut live: Vec<&LinuxDeviceCgroup> = Vec::new();
        for r in rules {
            if r.typ().unwrap_or_default() == LinuxDeviceType::A {
                default = r.allow();
                live.clear();
            } else {
                live.push(r);
            }
        }
        let matches = |r: &LinuxDeviceCgroup, a: char| {
            r.typ().unwrap_or_default().as_str().starts_with(typ)
                && r.major()
                    .filter(|&m| m >= 0)
                    .is_none_or(|m| m == i64::from(major))
                && r.minor()
                    .filter(|&m| m >= 0)
                    .is_none_or(|m| m == i64::from(minor))
                && r.access()
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("rwm")
                    .contains(a)
        };
        access.chars().all(|a| {
            live.iter()
                .rev()
                .find(|r| matches(r, a))
                .map_or(default, |r| r.allow())
        })
    }

    const ACCESSES: [&str; 7] = ["r", "w", "m", "rw", "rm", "wm", "rwm"];

    /// Every device in a small grid, every access: program and oracle agree.
    fn assert_agrees(rules: &[LinuxDeviceCgroup]) {
        let code = DeviceFilter::from_rules(rules).unwrap().bytecode().unwrap();
        for typ in ['b', 'c'] {
            for major in [0, 1, 5, 8, 136, 4095] {
                for minor in [0, 1, 2, 3, 5, 1_048_575] {
                    for access in ACCESSES {
                        assert_eq!(
                            run(&code, typ, major, minor, access),
                            oracle(rules, typ, major, minor, access),
                            "{typ} {major}:{minor} {access} under {:?}",
                            rules
                                .iter()
                                .map(super::super::v1::device_rule)
                                .collect::<Vec<_>>()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dockers_default_rules() {
        let rules = default_cgroup_rules();
        let code = DeviceFilter::from_rules(&rules)
            .unwrap()
            .bytecode()
            .unwrap();
        // mknod anything, but open only the standard devices.
        assert!(run(&code, 'b', 8, 0, "m"));
        assert!(!run(&code, 'b', 8, 0, "r"));
        assert!(!run(&code, 'b', 8, 0, "rw"));
        assert!(run(&code, 'c', 1, 3, "rw"));
        assert!(run(&code, 'c', 1, 5, "r"));
        assert!(run(&code, 'c', 5, 2, "rw"), "/dev/ptmx");
        assert!(run(&code, 'c', 136, 7, "rw"), "/dev/pts/7");
        assert!(!run(&code, 'c', 10, 200, "rw"), "/dev/net/tun");
        assert!(!run(&code, 'c', 1, 1, "r"), "/dev/mem");
        assert_agrees(&rules);
    }

    #[test]
    fn last_matching_rule_wins_per_access() {
        use LinuxDeviceType::{A, B, C};
        // An allow-by-default list: a write denial holds against an open for read+write.
        let rules = [rule(true, A, -1, -1, "rwm"), rule(false, C, 1, 3, "w")];
        let code = DeviceFilter::from_rules(&rules)
            .unwrap()
            .bytecode()
            .unwrap();
        assert!(run(&code, 'c', 1, 3, "r"));
        assert!(!run(&code, 'c', 1, 3, "w"));
        assert!(!run(&code, 'c', 1, 3, "rw"));
        assert!(run(&code, 'c', 1, 5, "rw"));
        assert_agrees(&rules);

        // A later rule overrides an earlier one; accesses granted by two rules add up.
        let rules = [
            rule(true, C, -1, -1, "m"),
            rule(false, C, 1, -1, "m"),
            rule(true, C, 1, 3, "r"),
            rule(true, C, 1, 3, "w"),
        ];
        let code = DeviceFilter::from_rules(&rules)
            .unwrap()
            .bytecode()
            .unwrap();
        assert!(run(&code, 'c', 1, 3, "rw"));
        assert!(!run(&code, 'c', 1, 3, "m"));
        assert!(run(&code, 'c', 5, 0, "m"));
        assert!(!run(&code, 'b', 5, 0, "m"));
        assert_agrees(&rules);

        // An "a" rule forgets what came before it.
        let rules = [
            rule(true, C, 1, 3, "rwm"),
            rule(false, A, -1, -1, "rwm"),
            rule(true, B, 8, -1, "r"),
        ];
        let code = DeviceFilter::from_rules(&rules)
            .unwrap()
            .bytecode()
            .unwrap();
        assert!(!run(&code, 'c', 1, 3, "r"));
        assert!(run(&code, 'b', 8, 17, "r"));
        assert_agrees(&rules);

        // No rules at all: nothing is allowed (an allow-list), as in runc.
        let code = DeviceFilter::from_rules(&[]).unwrap().bytecode().unwrap();
        assert!(!run(&code, 'c', 1, 3, "r"));
    }

    /// Random rule lists (a fixed-seed generator, so failures repeat) against the oracle.
    #[test]
    fn random_rule_lists_match_the_oracle() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let len = next(7);
            let rules: Vec<LinuxDeviceCgroup> = (0..len)
                .map(|_| {
                    let typ = [LinuxDeviceType::A, LinuxDeviceType::B, LinuxDeviceType::C]
                        [next(3) as usize];
                    let major = [-1, 1, 8, 136][next(4) as usize];
                    let minor = [-1, 0, 3, 5][next(4) as usize];
                    let access = ["", "r", "w", "m", "rw", "wm", "rwm"][next(7) as usize];
                    rule(next(2) == 1, typ, major, minor, access)
                })
                .collect();
            assert_agrees(&rules);
        }
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let err =
            |r: LinuxDeviceCgroup| format!("{:#}", DeviceFilter::from_rules(&[r]).unwrap_err());
        let text = err(rule(true, LinuxDeviceType::C, 1, 3, "rwx"));
        assert!(text.contains("c 1:3 rwx") && text.contains("'x'"), "{text}");
        let text = err(rule(true, LinuxDeviceType::P, 1, 3, "rw"));
        assert!(
            text.contains("p 1:3 rw") && text.contains("only a, b or c"),
            "{text}"
        );
        let text = err(rule(true, LinuxDeviceType::B, 1 << 33, 0, "r"));
        assert!(text.contains("major 8589934592"), "{text}");
    }

    #[test]
    fn kind_follows_the_cgroup_version() {
        let expected = match crate::cgroups::detect_version().unwrap() {
            2 => "eBPF cgroup device program",
            _ => "cgroup v1 devices controller",
        };
        assert_eq!(device_filter_kind().unwrap().to_string(), expected);
    }
}
