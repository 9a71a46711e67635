//! Running qemu: the command line, the process, and its serial console read line by line
//! with arrival times. A [`Guest`] kills its qemu when dropped, and qemu is also killed if
//! the thread that launched it dies (`PR_SET_PDEATHSIG`), so no VM outlives its run.

use super::accel::Accel;
use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The qemu binary for x86-64 guests.
pub const QEMU: &str = "qemu-system-x86_64";

/// How many recent console lines to keep for error messages.
const KEEP_LINES: usize = 40;

/// A virtio-net NIC backed by an existing tap device.
pub struct TapNic<'a> {
    /// The host's tap interface.
    pub ifname: &'a str,
    /// The guest NIC's MAC address.
    pub mac: &'a str,
    /// Move the virtio-net data path into the host kernel (vhost-net), as a KVM
    /// deployment would; only meaningful under KVM.
    pub vhost: bool,
}

/// Everything needed to start one VM.
pub struct Launch<'a> {
    /// Kernel image.
    pub kernel: &'a Path,
    /// Initramfs (gzipped cpio).
    pub initrd: &'a Path,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Guest memory in MiB.
    pub memory_mb: u32,
    /// Accelerator.
    pub accel: Accel,
    /// Kernel command line.
    pub cmdline: &'a str,
    /// Optional network card.
    pub nic: Option<TapNic<'a>>,
}

/// The qemu command for `l`: no default devices, no display, serial console on stdout,
/// and exit instead of reboot (so a poweroff or panic ends the process).
pub fn command(l: &Launch<'_>) -> Command {
    let mut c = Command::new(QEMU);
    c.args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .args(["-serial", "stdio"])
        .args(l.accel.qemu_args())
        .args([
            "-smp",
            &l.cpus.to_string(),
            "-m",
            &format!("{}M", l.memory_mb),
        ])
        .arg("-kernel")
        .arg(l.kernel)
        .arg("-initrd")
        .arg(l.initrd)
        .args(["-append", l.cmdline]);
    if let Some(nic) = &l.nic {
        c.args([
            "-netdev",
            &format!(
                "tap,id=net0,ifname={},script=no,downscript=no,vhost={}",
                nic.ifname,
                if nic.vhost { "on" } else { "off" }
            ),
            "-device",
            &format!("virtio-net-pci,netdev=net0,mac={}", nic.mac),
        ]);
    }
    c
}

/// One line from the serial console and when it arrived.
#[derive(Debug, Clone)]
pub struct Line {
    /// When the host read it.
    pub at: Instant,
    /// The text, without line ending.
    pub text: String,
}

/// A running qemu process and its console.
pub struct Guest {
    child: Child,
    launched: Instant,
    lines: Receiver<Line>,
    recent: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Guest {
    /// Starts qemu; the launch instant is taken just before the spawn.
    pub fn spawn(l: &Launch<'_>) -> Result<Guest> {
        let mut cmd = command(l);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of
        // the parent; it runs in the forked child before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let launched = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {QEMU}"))?;
        let stdout = child.stdout.take().context("qemu stdout was not piped")?;
        let stderr = child.stderr.take().context("qemu stderr was not piped")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            // Lines end in \r\n on a serial port; the guest may also print invalid UTF-8.
            while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let at = Instant::now();
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                buf.clear();
                if tx.send(Line { at, text }).is_err() {
                    break;
                }
            }
        });
        let err_text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&err_text);
        let stderr_reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            if let Ok(mut e) = sink.lock() {
                e.push_str(&s);
            }
        });
        Ok(Guest {
            child,
            launched,
            lines,
            recent: VecDeque::new(),
            stderr: err_text,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// When qemu was started.
    pub fn launched(&self) -> Instant {
        self.launched
    }

    /// The next console line; `Ok(None)` once qemu closed its console (it exited), an
    /// error if nothing arrives before `deadline`.
    pub fn next_line(&mut self, deadline: Instant) -> Result<Option<Line>> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                if self.recent.len() == KEEP_LINES {
                    self.recent.pop_front();
                }
                self.recent.push_back(line.text.clone());
                Ok(Some(line))
            }
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => bail!("timed out; {}", self.describe()),
        }
    }

    /// Waits for qemu to exit, returning its status and the instant it was seen to exit.
    pub fn wait_exit(&mut self, deadline: Instant) -> Result<(ExitStatus, Instant)> {
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for qemu")? {
                let exited = Instant::now();
                // The pipe is closed now; let the reader store everything qemu said.
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return Ok((status, exited));
            }
            if Instant::now() >= deadline {
                bail!("qemu did not exit in time; {}", self.describe());
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// The last console lines and qemu's stderr, for error messages.
    pub fn describe(&self) -> String {
        let stderr = self.stderr();
        let console: Vec<&str> = self.recent.iter().map(String::as_str).collect();
        format!(
            "qemu stderr: {:?}; last console lines:\n{}",
            stderr,
            console.join("\n")
        )
    }

    /// What qemu wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// The qemu process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `qemu-system-x86_64 --version`'s first line, or `None` if qemu is missing.
pub fn version() -> Option<String> {
    let out = Command::new(QEMU).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    (out.status.success() && !first.is_empty()).then(|| first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(l: &Launch<'_>) -> String {
        let c = command(l);
        let v: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        v.join(" ")
    }

    #[test]
    fn command_line_carries_size_accelerator_console_and_nic() {
        let mut l = Launch {
            kernel: Path::new("/k"),
            initrd: Path::new("/i"),
            cpus: 2,
            memory_mb: 512,
            accel: Accel::Tcg,
            cmdline: "console=ttyS0 pier.cmd=",
            nic: None,
        };
        let a = args(&l);
        for want in [
            "-nodefaults",
            "-nographic",
            "-no-reboot",
            "-serial stdio",
            "-accel tcg -cpu max",
            "-smp 2 -m 512M",
            "-kernel /k -initrd /i -append console=ttyS0 pier.cmd=",
        ] {
            assert!(a.contains(want), "{want:?} missing in {a}");
        }
        assert!(!a.contains("-netdev"));
        l.accel = Accel::Kvm;
        l.nic = Some(TapNic {
            ifname: "pvmt1",
            mac: "52:54:00:00:00:02",
            vhost: true,
        });
        let a = args(&l);
        assert!(a.contains("-accel kvm -cpu host"), "{a}");
        assert!(a.contains("tap,id=net0,ifname=pvmt1,script=no,downscript=no,vhost=on"));
        assert!(a.contains("virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02"));
    }
}
