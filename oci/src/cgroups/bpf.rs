//! The four `bpf(2)` commands a cgroup device program needs: load it, attach it to a cgroup,
//! list what is attached, detach. Nothing else of BPF is used by pier.
//!
//! `bpf(2)` takes a `union bpf_attr` whose layout differs per command; each command below has
//! its own `#[repr(C)]` struct with the fields of that member of the union (from
//! include/uapi/linux/bpf.h). The kernel zero-fills whatever lies past the size passed, so a
//! struct may stop after the last field it sets. No crate is used for this layer: libc has
//! the syscall number but not `bpf_attr`, and the crates that wrap it (libbpf-sys, aya) are
//! whole loaders (a C library, or ELF object files) for four short calls.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

/// `enum bpf_prog_type`: a program run on device access by processes of a cgroup.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `enum bpf_attach_type`: the cgroup hook for device access.
const BPF_CGROUP_DEVICE: u32 = 6;
/// Attach flag: several programs per cgroup; a device access must pass all of them (and
/// those of ancestor cgroups), so adding one can only restrict further.
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// Size of the verifier log asked for when a load fails (the verifier explains why).
const LOG_SIZE: usize = 64 * 1024;
/// How often a load interrupted by a signal (EAGAIN, Linux 4.20+) is tried again.
const LOAD_RETRIES: usize = 30;

/// `bpf_attr` for BPF_PROG_LOAD (the fields up to the verifier log).
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// `bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// `bpf_attr` for BPF_PROG_QUERY, complete: Linux 6.17 to 7.1 write `revision` whatever
/// size is passed, so the struct must reach it.
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// Calls `bpf(cmd, attr, size_of(attr))`, returning the non-negative result.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] prefix of `union bpf_attr`
    // for `cmd`, and the size passed is its own; pointers inside it (instructions, license,
    // log, id buffer) are kept alive by the callers until this returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a file descriptor the kernel just returned.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a new descriptor returned by bpf(2) (always close-on-exec) that nothing
    // else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Why a program failed to load: the errno and, when the verifier refused it, its log.
#[derive(Debug)]
pub(crate) struct LoadError {
    pub errno: Errno,
    pub verifier_log: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.errno.desc())?;
        if !self.verifier_log.is_empty() {
            write!(f, "; verifier log:\n{}", self.verifier_log)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Loads `insns` (encoded eBPF instructions, 8 bytes each) as a
/// BPF_PROG_TYPE_CGROUP_DEVICE program; the returned descriptor holds it.
pub(crate) fn load_cgroup_device_program(
    insns: &[u8],
    license: &CStr,
) -> Result<OwnedFd, LoadError> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
    };
    let load = |attr: &mut ProgLoadAttr| {
        let mut tries = 0;
        loop {
            match bpf(BPF_PROG_LOAD, attr) {
                Err(Errno::EAGAIN) if tries < LOAD_RETRIES => tries += 1,
                result => return result,
            }
        }
    };
    let errno = match load(&mut attr) {
        Ok(fd) => return Ok(owned(fd)),
        Err(errno) => errno,
    };
    // Again with the verifier's log, which says which instruction it refused and why.
    let mut log = vec![0u8; LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    if let Ok(fd) = load(&mut attr) {
        return Ok(owned(fd));
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    Err(LoadError {
        errno,
        verifier_log: String::from_utf8_lossy(&log[..end]).trim_end().to_string(),
    })
}

/// Attaches `prog` to the cgroup open as `cgroup` at the device hook, beside any programs
/// already there (BPF_F_ALLOW_MULTI). The attachment holds its own reference: the program
/// stays until detached or until the cgroup is removed, whatever happens to `prog`.
pub(crate) fn attach_device_program(cgroup: BorrowedFd, prog: BorrowedFd) -> Result<(), Errno> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the device hook of `cgroup`.
pub(crate) fn detach_device_program(cgroup: BorrowedFd, prog: BorrowedFd) -> Result<(), Errno> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// IDs of the device programs attached to `cgroup` itself (not those inherited from its
/// ancestors, which also run but belong to them).
pub(crate) fn attached_device_programs(cgroup: BorrowedFd) -> Result<Vec<u32>, Errno> {
    // A cgroup holds at most 64 programs per hook; ENOSPC says how many there really are.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = ProgQueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(Errno::ENOSPC) if attr.prog_cnt as usize > ids.len() => {
                ids.resize(attr.prog_cnt as usize, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A descriptor for the loaded program with ID `id` (needed to detach it).
pub(crate) fn program_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = id;
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned)
}
