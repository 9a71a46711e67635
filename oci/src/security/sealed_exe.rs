//! Keeping the containers away from the host's pier binary (the CVE-2019-5736 pattern).
//!
//! Between `clone`/`fork` and `execve`, pier's own code runs inside the container's PID
//! namespace: the container's init until `start`, pier's `--init` reaper for the container's
//! whole life, `pier exec`'s process until it executes the command (or pier itself, executed as
//! `/proc/self/exe` by a command the container controls). A process of the container that
//! opens `/proc/<pid>/exe` of such a process holds the host's pier binary; as soon as no
//! process runs it any more (the kernel refuses writes to a running binary, ETXTBSY), it can
//! reopen that descriptor for writing through `/proc/self/fd` and replace pier with its own
//! code, which root on the host runs next.
//!
//! So, as runc does, the commands that put a pier process into a container first re-execute
//! pier from a copy the container cannot write ([`reexec_sealed`]), made one of two ways:
//! - `SealMethod::Overlay` (the default): a private read-only overlayfs whose top layer is
//!   the binary's directory, made with the new mount API (`fsopen`/`fsmount`) and never
//!   attached to any mount namespace. Nothing is copied; opening the file for writing fails
//!   with EROFS, and no one can remount what no path leads to.
//! - `SealMethod::Memfd` (when overlayfs cannot be used, or with `PIER_EXE_SEAL=memfd`): a
//!   copy in a memfd sealed against any write. It costs a copy of the binary per command, in
//!   memory as long as that pier runs (a detached container's watcher: the container's life),
//!   but shares no page with the host file: a kernel bug that lets one write a read-only
//!   file's page cache (Dirty Pipe) then reaches only the copy.
//!
//! `super::dumpable::NonDumpable` closes the other half: the process is not dumpable while
//! it is in the container's namespaces, so the container cannot even open its `/proc/<pid>/exe`
//! (nor its memory, nor its descriptors) without CAP_SYS_PTRACE.

use anyhow::{bail, Context, Result};
use nix::fcntl::AtFlags;
use rustix::fs::{MemfdFlags, OFlags, SealFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Chooses the method: unset (overlay, falling back to memfd), `overlay` or `memfd` (only that
/// one; an error if it cannot be used).
pub(crate) const MODE_ENV: &str = "PIER_EXE_SEAL";

/// Set by pier on the sealed copy it executes (the method's name), removed again at once: it
/// tells the copy that it is one, and stops a loop if it somehow were not.
const REEXEC_ENV: &str = "_PIER_SEALED_EXE";

/// Set by pier on the sealed copy it executes, with the path of the binary it copied, and
/// removed again at once: a sealed pier still finds the programs installed beside the
/// original (the small monitor, `pier-monitor`), which its own `/proc/self/exe` does not show.
const ORIGINAL_ENV: &str = "_PIER_ORIGINAL_EXE";

/// The original binary's path, as [`ORIGINAL_ENV`] said when this process started sealed.
static ORIGINAL: OnceLock<PathBuf> = OnceLock::new();

/// The path of the pier binary that was installed and executed, not of a sealed copy of it:
/// `/proc/self/exe` before the re-execution, what the re-execution said after it (`None` if
/// it did not say).
pub fn original_exe() -> Option<PathBuf> {
    if let Some(path) = ORIGINAL.get() {
        return Some(path.clone());
    }
    if active().is_some() {
        return None;
    }
    std::fs::read_link("/proc/self/exe").ok()
}

/// The seals that make a memfd read-only for good (F_SEAL_SEAL: no one can undo them).
const MEMFD_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// The directory, under /run/pier (or pier's state root), that overlayfs takes as its second,
/// empty layer (it needs two lower layers to mount without a writable one).
const EMPTY_LAYER_DIR: &str = "sealed-exe-layer";

/// How the running pier was re-executed from a copy the containers cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealMethod {
    /// A private read-only overlayfs over the binary's directory (no copy).
    Overlay,
    /// A sealed memfd copy of the binary.
    Memfd,
}

impl SealMethod {
    /// The name used in `PIER_EXE_SEAL` and in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SealMethod::Overlay => "overlay",
            SealMethod::Memfd => "memfd",
        }
    }

    fn from_name(name: &str) -> Option<SealMethod> {
        match name {
            "overlay" => Some(SealMethod::Overlay),
            "memfd" => Some(SealMethod::Memfd),
            _ => None,
        }
    }
}

/// Whether pier protects its binary at all (always: there is no switch to turn it off; this is
/// for `pier system info`, next to `active` and `probe`).
pub const PROTECTS_HOST_BINARY: bool = true;

static ACTIVE: OnceLock<Option<SealMethod>> = OnceLock::new();

/// How this process runs sealed, once [`reexec_sealed`] has checked (`None` before, and in
/// commands that never put a process into a container).
pub(crate) fn active() -> Option<SealMethod> {
    ACTIVE.get().copied().flatten()
}

/// With `PIER_TRACE`, when the re-execution began (`CLOCK_MONOTONIC`, nanoseconds).
const TRACE_SINCE_ENV: &str = "PIER_TRACE_SEALED_SINCE";

/// Makes sure this process runs from a sealed copy of pier: returns at once if it does, else
/// re-executes pier (same arguments and environment) from a sealed copy and never returns.
/// `root` is pier's state root (where the overlay's empty layer goes if /run/pier cannot
/// hold it). Call it first thing in the commands that put a pier process into a container,
/// while single-threaded.
pub fn reexec_sealed(root: &Path) -> Result<()> {
    reexec_sealed_with(&[Path::new("/run/pier"), root])
}

/// [`reexec_sealed`] for the runc-compatible entry point, which writes nothing outside the
/// state root its client gave it (`--root`): the overlay's empty layer is
/// `<state_root>/sealed-exe-layer` (which `list` skips: it holds no `state.json`).
pub fn reexec_sealed_under(state_root: &Path) -> Result<()> {
    reexec_sealed_with(&[state_root])
}

fn reexec_sealed_with(bases: &[&Path]) -> Result<()> {
    if active().is_some() {
        return Ok(());
    }
    let claimed = std::env::var_os(REEXEC_ENV);
    let traced_since = std::env::var_os(TRACE_SINCE_ENV);
    let original = std::env::var_os(ORIGINAL_ENV);
    // Not for pier's children: each pier checks for itself.
    std::env::remove_var(REEXEC_ENV);
    std::env::remove_var(TRACE_SINCE_ENV);
    std::env::remove_var(ORIGINAL_ENV);
    let claimed = claimed.and_then(|c| SealMethod::from_name(&c.to_string_lossy()));
    if let Some(method) = running_sealed(claimed) {
        if let Some(since) = traced_since.and_then(|t| t.to_str()?.parse::<u64>().ok()) {
            crate::trace::report(
                "sealed re-exec",
                crate::trace::now_ns().saturating_sub(since),
            );
        }
        let _ = ACTIVE.set(Some(method));
        if let Some(original) = original {
            let _ = ORIGINAL.set(PathBuf::from(original));
        }
        restore_name();
        return Ok(());
    }
    if let Some(method) = claimed {
        bail!(
            "pier re-executed itself from a sealed copy ({}) but /proc/self/exe is not one",
            method.name()
        );
    }
    let wanted = wanted()?;
    if crate::trace::enabled() {
        std::env::set_var(TRACE_SINCE_ENV, crate::trace::now_ns().to_string());
    }
    let mut overlay_failure = None;
    if wanted != Some(SealMethod::Memfd) {
        let err = match overlay(bases) {
            Ok(exe) => exec_copy(&exe, SealMethod::Overlay),
            Err(e) => e,
        };
        let err = err.context("protecting the host binary with a read-only overlayfs");
        if wanted == Some(SealMethod::Overlay) {
            return Err(err);
        }
        // No overlayfs, no CAP_SYS_ADMIN, an old kernel: copy instead (slower, as safe).
        overlay_failure = Some(err);
    }
    let exe = memfd_copy().with_context(|| match &overlay_failure {
        Some(e) => format!(
            "protecting the host binary with a sealed memfd copy (overlayfs failed first: {e:#})"
        ),
        None => "protecting the host binary with a sealed memfd copy".to_string(),
    })?;
    Err(exec_copy(&exe, SealMethod::Memfd)
        .context("protecting the host binary with a sealed memfd copy"))
}

/// Names the process after the command again: executed from a descriptor, it would be called
/// after the descriptor (`3`) or the memfd (`memfd:pier`) in `ps`, `top` and `/proc/<pid>/comm`.
fn restore_name() {
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let Some(name) = Path::new(&arg0).file_name() else {
        return;
    };
    // The kernel keeps 15 bytes.
    let bytes = &name.as_bytes()[..name.len().min(15)];
    if let Ok(name) = CString::new(bytes) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// What [`reexec_sealed`] would use on this machine (for `pier system info`). Makes (and drops)
/// an overlay; the memfd method is only named, not tried (that would copy the binary).
pub(crate) fn probe(root: &Path) -> Result<SealMethod> {
    let bases = [Path::new("/run/pier"), root];
    match wanted()? {
        Some(SealMethod::Memfd) => Ok(SealMethod::Memfd),
        Some(SealMethod::Overlay) => overlay(&bases).map(|_| SealMethod::Overlay),
        None => Ok(overlay(&bases).map_or(SealMethod::Memfd, |_| SealMethod::Overlay)),
    }
}

/// The method `PIER_EXE_SEAL` asks for (`None`: overlay, else memfd).
fn wanted() -> Result<Option<SealMethod>> {
    parse_mode(std::env::var_os(MODE_ENV))
}

fn parse_mode(value: Option<OsString>) -> Result<Option<SealMethod>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match SealMethod::from_name(&v.to_string_lossy()) {
            Some(m) => Ok(Some(m)),
            None => bail!(
                "{MODE_ENV}={}: expected overlay or memfd (the host binary is always protected)",
                v.to_string_lossy()
            ),
        },
    }
}

/// Whether /proc/self/exe is a sealed copy: a memfd with every write sealed off (that is
/// proof), or a read-only overlayfs that our own re-execution said it made (`claimed`).
fn running_sealed(claimed: Option<SealMethod>) -> Option<SealMethod> {
    let exe = File::open("/proc/self/exe").ok()?;
    if rustix::fs::fcntl_get_seals(&exe).is_ok_and(|s| s.contains(MEMFD_SEALS)) {
        return Some(SealMethod::Memfd);
    }
    if claimed == Some(SealMethod::Overlay) {
        use nix::sys::statfs::{fstatfs, OVERLAYFS_SUPER_MAGIC};
        use nix::sys::statvfs::FsFlags;
        let fs = fstatfs(&exe).ok()?;
        if fs.filesystem_type() == OVERLAYFS_SUPER_MAGIC && fs.flags().contains(FsFlags::ST_RDONLY)
        {
            return Some(SealMethod::Overlay);
        }
    }
    None
}

/// The running binary through a private read-only overlayfs: an `O_PATH` descriptor of the
/// file, whose mount is freed with the last process that runs it.
fn overlay(bases: &[&Path]) -> Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").context("readlink /proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        bail!("/proc/self/exe is {}, not a file path", exe.display());
    };
    let empty = empty_layer(bases, dir)?;
    let ctx =
        rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).context("fsopen(overlay)")?;
    // The binary's directory on top, so nothing in the empty layer can hide the binary.
    let lower = format!("{}:{}", overlay_escape(dir), overlay_escape(&empty));
    rustix::mount::fsconfig_set_string(&ctx, "lowerdir", lower.as_str())
        .with_context(|| format!("fsconfig overlay lowerdir={lower}"))?;
    // Keep the real inode numbers (compared below); older kernels lack the option.
    let _ = rustix::mount::fsconfig_set_string(&ctx, "xino", "off");
    rustix::mount::fsconfig_create(&ctx)
        .with_context(|| format!("creating an overlayfs over {}", dir.display()))?;
    let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOSUID;
    let mnt = rustix::mount::fsmount(&ctx, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .context("fsmount of the overlayfs")?;
    let file = rustix::fs::openat(
        &mnt,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .with_context(|| format!("opening {} in the overlayfs", name.to_string_lossy()))?;
    let file = File::from(file);
    let seen = file
        .metadata()
        .context("stat of the binary in the overlayfs")?;
    let running = std::fs::metadata("/proc/self/exe").context("stat /proc/self/exe")?;
    let same = |m: &std::fs::Metadata| (m.ino(), m.size(), m.mtime(), m.mtime_nsec());
    if same(&seen) != same(&running) {
        // Replaced since it started (an upgrade, a rebuild): that is not the binary running.
        bail!(
            "{} in the overlayfs is not the running binary (replaced since pier started?)",
            exe.display()
        );
    }
    Ok(file.into())
}

/// An empty directory for the overlay's second layer, made if needed in the first of `bases`
/// (/run/pier, then pier's state root) where it does not overlap the binary's directory
/// `bin_dir` (overlayfs refuses layers inside one another) and can be made.
fn empty_layer(bases: &[&Path], bin_dir: &Path) -> Result<std::path::PathBuf> {
    let mut failures = Vec::new();
    for base in bases {
        let dir = base.join(EMPTY_LAYER_DIR);
        let made = std::fs::create_dir_all(&dir).and_then(|()| dir.canonicalize());
        match made {
            Ok(dir) if !dir.starts_with(bin_dir) && !bin_dir.starts_with(&dir) => return Ok(dir),
            Ok(dir) => failures.push(format!("{} overlaps it", dir.display())),
            Err(e) => failures.push(format!("{}: {e}", dir.display())),
        }
    }
    bail!(
        "no directory for the overlay's empty layer outside {} (the binary's directory): {}",
        bin_dir.display(),
        failures.join("; ")
    )
}

/// overlayfs separates layers with `:` and escapes with `\`.
fn overlay_escape(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// The running binary copied into a memfd sealed against writes, resizing and further seals.
fn memfd_copy() -> Result<OwnedFd> {
    let src = File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    let len = src.metadata().context("stat /proc/self/exe")?.len();
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps it executable where vm.memfd_noexec defaults to no-exec;
    // older kernels reject the flag.
    let memfd = rustix::fs::memfd_create("pier", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("pier", flags))
        .context("memfd_create for a sealed copy of pier")?;
    let mut left = len;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        match rustix::fs::sendfile(&memfd, &src, None, chunk) {
            Ok(0) => bail!("/proc/self/exe ended {left} bytes early while copying it"),
            Ok(n) => left -= n as u64,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).context("copying /proc/self/exe into the memfd"),
        }
    }
    rustix::fs::fchmod(&memfd, rustix::fs::Mode::from_raw_mode(0o511))
        .context("chmod of the memfd copy")?;
    // F_SEAL_EXEC (Linux 6.3) also fixes the mode; fine to lack it.
    let _ = rustix::fs::fcntl_add_seals(&memfd, SealFlags::EXEC);
    rustix::fs::fcntl_add_seals(&memfd, MEMFD_SEALS).context("sealing the memfd copy of pier")?;
    Ok(memfd)
}

/// Executes the sealed copy with this process's arguments and environment; returns only the
/// error.
fn exec_copy(exe: &OwnedFd, method: SealMethod) -> anyhow::Error {
    exec_fd(exe, std::env::args_os(), Some(method))
}

/// Executes this process's own binary again, with `args` (the program name first) and the
/// same environment; returns only on failure. A process that runs from a sealed copy executes
/// that copy, and the new program knows it is one ([`reexec_sealed`] then returns at once): for
/// a process that must stay sealed without this one's memory (a detached container's monitor).
pub fn exec_self(args: impl IntoIterator<Item = OsString>) -> anyhow::Error {
    match File::open("/proc/self/exe") {
        Ok(exe) => exec_fd(&OwnedFd::from(exe), args, active()),
        Err(e) => anyhow::Error::from(e).context("opening /proc/self/exe"),
    }
}

/// `execveat` of the binary `exe` with `args`, this environment, and `_PIER_SEALED_EXE` naming
/// `sealed` (if any).
fn exec_fd(
    exe: &OwnedFd,
    args: impl IntoIterator<Item = OsString>,
    sealed: Option<SealMethod>,
) -> anyhow::Error {
    let to_c = |s: OsString| CString::new(s.as_bytes()).context("argument with a NUL byte");
    let args: Result<Vec<CString>> = args.into_iter().map(to_c).collect();
    let mut env: Vec<OsString> = std::env::vars_os()
        .filter(|(k, _)| k != REEXEC_ENV && k != ORIGINAL_ENV)
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    if let Some(method) = sealed {
        env.push(format!("{REEXEC_ENV}={}", method.name()).into());
        if let Some(original) = original_exe() {
            let mut kv = OsString::from(format!("{ORIGINAL_ENV}="));
            kv.push(original);
            env.push(kv);
        }
    }
    let env: Result<Vec<CString>> = env.into_iter().map(to_c).collect();
    let (args, env) = match (args, env) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // An ELF binary runs from a close-on-exec descriptor (a script could not: runc's note).
    match nix::unistd::execveat(exe, c"", &args, &env, AtFlags::AT_EMPTY_PATH) {
        Err(e) => anyhow::Error::from(e).context("execveat of pier's own binary"),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Opening a descriptor's file again, for writing, the way an attacker would: through
    /// /proc/self/fd.
    fn reopen_for_append(fd: &OwnedFd) -> std::io::Result<File> {
        use std::os::fd::AsRawFd;
        std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
    }

    #[test]
    fn memfd_copy_is_the_binary_and_cannot_be_written() {
        let copy = memfd_copy().expect("memfd copy");
        let copy_file = File::from(copy.try_clone().expect("dup"));
        let exe = std::fs::read("/proc/self/exe").expect("reading /proc/self/exe");
        let mut data = vec![0; exe.len()];
        // The copy's offset is at its end (sendfile wrote through it).
        std::os::unix::fs::FileExt::read_exact_at(&copy_file, &mut data, 0)
            .expect("reading the copy");
        assert!(data == exe, "the copy differs from the binary");
        let seals = rustix::fs::fcntl_get_seals(&copy).expect("F_GET_SEALS");
        assert!(seals.contains(MEMFD_SEALS), "{seals:?}");
        // Opening may succeed (no process runs it); writing must not.
        if let Ok(mut f) = reopen_for_append(&copy) {
            assert!(f.write_all(b"x").is_err(), "wrote to the sealed copy");
        }
        assert!(copy_file.set_len(1).is_err(), "shrank the sealed copy");
    }

    #[test]
    fn overlay_gives_the_binary_read_only() {
        let root = tempfile::tempdir().expect("temp dir");
        let file = match overlay(&[root.path()]) {
            Ok(f) => f,
            // Without overlayfs or the mount API pier copies instead: nothing to test here.
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "overlay: {e:#}"
                );
                eprintln!("skipped: no private overlayfs here ({e:#})");
                return;
            }
        };
        let err = reopen_for_append(&file).expect_err("opened the overlay's binary for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        let seen = File::from(file).metadata().expect("stat");
        let exe = std::fs::metadata("/proc/self/exe").expect("stat");
        assert_eq!((seen.ino(), seen.len()), (exe.ino(), exe.len()));
        assert_ne!(
            seen.dev(),
            exe.dev(),
            "the overlay's file is another device's"
        );
    }

    #[test]
    fn modes_parse_and_a_bad_one_is_named() {
        assert_eq!(parse_mode(None).unwrap(), None);
        assert_eq!(parse_mode(Some("".into())).unwrap(), None);
        assert_eq!(
            parse_mode(Some("memfd".into())).unwrap(),
            Some(SealMethod::Memfd)
        );
        assert_eq!(
            parse_mode(Some("overlay".into())).unwrap(),
            Some(SealMethod::Overlay)
        );
        let err = parse_mode(Some("off".into())).expect_err("off is refused");
        assert!(err.to_string().contains("PIER_EXE_SEAL=off"), "{err}");
    }
}
