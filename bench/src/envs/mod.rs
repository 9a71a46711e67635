//! How each environment launches the payload.
//!
//! Every environment implements [`Environment`]: it says whether it can run here (and why
//! not, never faking a result), runs `pier-payload <args>` once and returns the payload's
//! stdout JSON lines with the wall time measured around the launch.
//!
//! * [`native`]: the payload exec'd directly (the baseline of every ratio).
//! * [`pier`]: `pier run` / `pier runtime run` through the `pier` binary, as users run it.
//! * [`oci_peer`]: `runc run` / `crun run` on the same prepared OCI bundle.
//! * [`podman`]: `podman run` of the same image, for the whole-path start-up comparison.
//! * [`docker`]: `docker run` of the same image through a dockerd of the bench's own, for
//!   start-up and the bridge and published-port network paths.
//! * [`vm`] and [`vm_env`]: a QEMU guest booted for each run.

pub mod bundle;
pub mod cgroup_workaround;
pub mod docker;
pub mod native;
pub mod oci_peer;
pub mod pier;
pub mod podman;
pub mod subnet;
pub mod vm;
pub mod vm_env;

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether an environment can run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Ready to run.
    Available,
    /// Cannot run here; the reason is shown to the user and written to the report.
    Unavailable(String),
}

impl Availability {
    /// True when [`Availability::Available`].
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }

    /// The reason when unavailable.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Availability::Available => None,
            Availability::Unavailable(r) => Some(r),
        }
    }
}

/// How the payload's network is set up (containers only; native and VMs ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// Share the host's network namespace.
    Host,
    /// A private network namespace: pier's default bridge, or loopback only for the OCI
    /// runtimes (whose bundles have no network set up).
    Private,
}

/// One launch of the payload.
#[derive(Debug, Clone)]
pub struct PayloadRun {
    /// The payload's stdout lines that look like JSON objects.
    pub lines: Vec<String>,
    /// Wall time from just before the launch call to the environment's exit.
    pub wall: Duration,
    /// `CLOCK_REALTIME` (ns) read just before the launch call, to compare with the
    /// payload's `entry_ns`.
    pub launched_ns: u128,
    /// For a VM: host time from launch to the guest's init.
    pub boot_ms: Option<f64>,
}

impl PayloadRun {
    /// The first JSON line parsed, or an error naming the environment.
    pub fn json(&self, env: &str) -> Result<serde_json::Value> {
        let line = self
            .lines
            .first()
            .with_context(|| format!("{env}: the payload printed no JSON line"))?;
        serde_json::from_str(line)
            .with_context(|| format!("{env}: parsing payload output {line:?}"))
    }
}

/// An environment the payload runs in.
pub trait Environment {
    /// Name used in samples and reports: `native`, `pier`, `runc`, `crun`, `podman`,
    /// `qemu-tcg`/`qemu-kvm`.
    fn name(&self) -> String;

    /// Which path through the environment: `run` (whole Docker-like path) or `runtime`
    /// (the low-level OCI runtime on a bundle); empty for native and VMs.
    fn variant(&self) -> String {
        String::new()
    }

    /// Whether it can run here, with the reason when it cannot.
    fn availability(&self) -> Availability;

    /// Runs `pier-payload <args>` once and waits for it (killed after `timeout`).
    fn run_payload(
        &mut self,
        args: &[String],
        net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun>;

    /// The VM accelerator (`kvm`, `tcg`), `None` for everything else.
    fn accelerator(&self) -> Option<String> {
        None
    }

    /// Runs the next payloads with the bundle's seccomp filter (`true`, the default) or
    /// without one; `false` if this environment has no such choice (only the low-level
    /// runtimes on the shared bundle have).
    fn set_seccomp(&mut self, _on: bool) -> bool {
        false
    }
}

/// Where the harness keeps what environments share.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The static `pier-payload` binary.
    pub payload: PathBuf,
    /// The `pier` binary (normally the one whose `pier bench` runs this harness).
    pub pier: PathBuf,
    /// Bench-private cache and state directory (pier root, bundles, VM kernel).
    pub cache: PathBuf,
}

impl Setup {
    /// pier's state root for the bench: the user's containers and images are untouched.
    pub fn pier_root(&self) -> PathBuf {
        self.cache.join("pier-root")
    }
}

/// Name of the image (in pier's bench root, podman and the bench's dockerd) holding busybox + the payload.
pub const IMAGE: &str = "localhost/pier-bench-busybox:latest";

/// Path of the payload inside containers built from [`IMAGE`] and the OCI bundle.
pub const PAYLOAD_IN_CONTAINER: &str = "/pier-payload";

/// Runs `cmd` to completion with stdout captured, timing it; kills it after `timeout`.
/// stderr is captured too and given in the error when the command fails.
pub fn run_timed(cmd: Command, what: &str, timeout: Duration) -> Result<PayloadRun> {
    let done = run_captured(cmd, what, timeout)?;
    Ok(PayloadRun {
        lines: json_lines(&done.stdout),
        wall: done.wall,
        launched_ns: done.launched_ns,
        boot_ms: None,
    })
}

/// Runs `cmd` to completion and returns its stdout; an error carries the last line of its
/// stderr. Killed after `timeout`.
pub fn run_timed_text(cmd: Command, what: &str, timeout: Duration) -> Result<String> {
    Ok(run_captured(cmd, what, timeout)?.stdout)
}

/// A finished command's stdout and timing.
struct Captured {
    stdout: String,
    wall: Duration,
    launched_ns: u128,
}

fn run_captured(mut cmd: Command, what: &str, timeout: Duration) -> Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let launched_ns = crate::clock::realtime_ns();
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("spawning {what}"))?;
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().context("child stdout")?;
    let mut err = child.stderr.take().context("child stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {timeout:?}; killed");
        }
        // Short sleeps keep the timing resolution well under a millisecond.
        std::thread::sleep(Duration::from_micros(200));
    };
    let wall = start.elapsed();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "{what} failed ({status}): {}",
            stderr.trim().lines().last().unwrap_or("no error output")
        );
    }
    Ok(Captured {
        stdout,
        wall,
        launched_ns,
    })
}

/// The lines of `text` that look like JSON objects (a runtime may print other text).
pub fn json_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{') && l.ends_with('}'))
        .map(str::to_string)
        .collect()
}

/// First line of `tool --version`, if the tool runs (written once, in the machine record).
pub use pier_record::environment::tool_version;

/// Finds `tool` on `PATH` (or takes it as a path), like `which`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = PathBuf::from(tool);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_json_lines() {
        let l = json_lines("hello\n{\"a\":1}\n  {\"b\":2}  \nnot {json\n");
        assert_eq!(l, vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn timed_run_reports_failure_and_output() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo '{\"x\":1}'; echo oops >&2"]);
        let r = run_timed(c, "sh", Duration::from_secs(5)).unwrap();
        assert_eq!(r.lines, vec!["{\"x\":1}"]);
        let mut c = Command::new("sh");
        c.args(["-c", "echo broken >&2; exit 3"]);
        let e = run_timed(c, "sh", Duration::from_secs(5)).unwrap_err();
        assert!(format!("{e}").contains("broken"), "{e}");
        let mut c = Command::new("sleep");
        c.arg("5");
        let e = run_timed(c, "sleep", Duration::from_millis(100)).unwrap_err();
        assert!(format!("{e}").contains("killed"), "{e}");
    }
}
