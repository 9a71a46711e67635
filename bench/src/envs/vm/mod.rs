//! The virtual machine environment of `pier bench`: the payload run as PID 1's child in a
//! QEMU guest, to compare with the same payload run natively and in containers (as in
//! Felter et al. 2015, "An updated performance comparison of virtual machines and Linux
//! containers").
//!
//! pier builds the guest itself: a kernel ([`kernel`]: the host's, else Debian's package,
//! with the virtio modules it needs), an initramfs ([`initramfs`]: busybox, the payload, virtio modules and a small
//! [`guest_init`] script), and an accelerator verdict ([`accel`]: KVM if a probe guest
//! boots under it, else TCG). [`Vm::run`] boots the guest for one payload command and
//! times it; [`Vm::start_with_network`] keeps a guest running on a private host link
//! ([`net`]) for network measurements.

pub mod accel;
mod bzimage;
mod cpio;
mod elf;
pub mod guest_init;
pub mod initramfs;
pub mod kernel;
mod modules;
pub mod net;
pub mod qemu;

pub use accel::Accel;

use anyhow::{bail, Context, Result};
use guest_init::Marker;
use kernel::GuestKernel;
use qemu::{Guest, Launch, Line, TapNic};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the KVM probe may take to reach init; a KVM boot takes about a second.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(6);

/// The kernel's command line limit on x86 (`COMMAND_LINE_SIZE`).
const MAX_CMDLINE: usize = 2048;

/// What the VM looks like and where its pieces live.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Virtual CPUs (give the same count as the container's CPU limit).
    pub cpus: u32,
    /// Guest memory in MiB (give the same as the container's memory limit).
    pub memory_mb: u32,
    /// Cache directory; the guest kernel and initramfs go to `<cache_dir>/vm/`.
    pub cache_dir: PathBuf,
    /// The static payload binary, installed in the guest as `/bin/pier-payload`.
    pub payload: PathBuf,
    /// A static busybox for the guest's shell and tools.
    pub busybox: PathBuf,
    /// The accelerator; `None` probes KVM and falls back to TCG.
    pub accel: Option<Accel>,
}

impl VmConfig {
    /// One vCPU, 256 MiB, the host's `/bin/busybox`, accelerator probed.
    pub fn new(payload: PathBuf, cache_dir: PathBuf) -> VmConfig {
        VmConfig {
            cpus: 1,
            memory_mb: 256,
            cache_dir,
            payload,
            busybox: PathBuf::from("/bin/busybox"),
            accel: None,
        }
    }
}

/// The outcome of one guest run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VmRun {
    /// The accelerator it ran under.
    pub accel: Accel,
    /// Host time from launching qemu to the guest's `PIER-BOOTED` (init started).
    pub boot_ms: f64,
    /// The guest's own uptime when init started (kernel boot, as the guest saw it).
    pub guest_boot_s: f64,
    /// Host time from launching qemu to qemu's exit.
    pub total_ms: f64,
    /// The payload's stdout lines (one JSON object each, for the real payload).
    pub results: Vec<String>,
    /// The payload's exit status.
    pub exit_code: i32,
    /// Problems init reported (`PIER-WARN`), e.g. a module that failed to load.
    pub warnings: Vec<String>,
}

/// A prepared guest: kernel, initramfs and accelerator, ready to boot any number of times.
#[derive(Debug, Clone)]
pub struct Vm {
    kernel: GuestKernel,
    initramfs: PathBuf,
    verdict: accel::Verdict,
    cpus: u32,
    memory_mb: u32,
}

/// Markers seen so far in one boot.
#[derive(Default)]
struct Progress {
    booted: Option<(Instant, f64)>,
    results: Vec<String>,
    warnings: Vec<String>,
    exit_code: Option<i32>,
}

impl Progress {
    /// Records `line`'s marker, if any, and returns it.
    fn feed(&mut self, line: &Line) -> Option<Marker> {
        let marker = guest_init::parse_marker(&line.text)?;
        match &marker {
            Marker::Booted { uptime_s } => self.booted = Some((line.at, *uptime_s)),
            Marker::Result(r) => self.results.push(r.clone()),
            Marker::Exit(code) => self.exit_code = Some(*code),
            Marker::Warn(w) => self.warnings.push(w.clone()),
            Marker::NetUp(_) => {}
        }
        Some(marker)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Vm {
    /// Obtains the kernel and initramfs (cached under `cfg.cache_dir`) and settles the
    /// accelerator (probing KVM once per process when `cfg.accel` is `None`).
    pub fn prepare(cfg: &VmConfig) -> Result<Vm> {
        if cfg.cpus == 0 || cfg.memory_mb < 64 {
            bail!("a VM needs at least 1 vCPU and 64 MiB (got {cfg:?})");
        }
        let kernel = kernel::obtain(&cfg.cache_dir).context("obtaining a guest kernel")?;
        let contents = initramfs::Contents {
            busybox: &cfg.busybox,
            payload: &cfg.payload,
            modules: &kernel.modules,
        };
        let initramfs = initramfs::obtain(&cfg.cache_dir.join("vm"), &contents)
            .context("building the guest initramfs")?;
        let mut vm = Vm {
            kernel,
            initramfs,
            verdict: accel::Verdict {
                accel: cfg.accel.unwrap_or(Accel::Tcg),
                reason: "chosen by configuration".to_string(),
                probe_time: None,
            },
            cpus: cfg.cpus,
            memory_mb: cfg.memory_mb,
        };
        if cfg.accel.is_none() {
            vm.verdict = accel::cached_verdict(|| vm.probe_kvm());
        }
        Ok(vm)
    }

    /// The accelerator every run of this VM uses.
    pub fn accel(&self) -> Accel {
        self.verdict.accel
    }

    /// The accelerator with why it was chosen (configured, or the KVM probe's outcome).
    pub fn verdict(&self) -> &accel::Verdict {
        &self.verdict
    }

    /// One line describing the guest, for reports: qemu, kernel, size, accelerator.
    pub fn describe(&self) -> String {
        format!(
            "{}; kernel {} ({}, booting {}); {} vCPU, {} MiB; {}",
            qemu_version().unwrap_or_else(|| "qemu (version unknown)".to_string()),
            self.kernel.release,
            self.kernel.source,
            self.kernel
                .boot_image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.cpus,
            self.memory_mb,
            self.verdict.accel
        )
    }

    /// The guest kernel in use.
    pub fn kernel(&self) -> &GuestKernel {
        &self.kernel
    }

    /// The initramfs in use.
    pub fn initramfs(&self) -> &PathBuf {
        &self.initramfs
    }

    /// KVM if the guest reaches init under KVM within [`KVM_PROBE_TIMEOUT`], else TCG.
    fn probe_kvm(&self) -> accel::Verdict {
        let started = Instant::now();
        let tcg = |reason: String| accel::Verdict {
            accel: Accel::Tcg,
            reason,
            probe_time: Some(started.elapsed()),
        };
        if !accel::kvm_device_usable() {
            return tcg("/dev/kvm cannot be opened read-write".to_string());
        }
        let probe = || -> Result<()> {
            let cmdline = guest_init::kernel_cmdline(&["--version"], None);
            let mut guest = Guest::spawn(&self.launch(Accel::Kvm, &cmdline, None))?;
            let deadline = guest.launched() + KVM_PROBE_TIMEOUT;
            let mut progress = Progress::default();
            while let Some(line) = guest.next_line(deadline)? {
                if let Some(Marker::Booted { .. }) = progress.feed(&line) {
                    return Ok(());
                }
            }
            // qemu exited before init ran: give its stderr (e.g. a failed KVM ioctl).
            let (status, _) = guest.wait_exit(deadline)?;
            bail!(
                "qemu exited ({status}): {}",
                guest.stderr().replace('\n', " ")
            )
        };
        match probe() {
            Ok(_) => accel::Verdict {
                accel: Accel::Kvm,
                reason: format!("a KVM guest reached init in {:.1?}", started.elapsed()),
                probe_time: Some(started.elapsed()),
            },
            Err(e) => tcg(format!(
                "the KVM probe guest failed after {:.1?}: {}",
                started.elapsed(),
                format!("{e:#}").replace('\n', " | ")
            )),
        }
    }

    fn launch<'a>(&'a self, accel: Accel, cmdline: &'a str, nic: Option<TapNic<'a>>) -> Launch<'a> {
        Launch {
            kernel: &self.kernel.boot_image,
            initrd: &self.initramfs,
            cpus: self.cpus,
            memory_mb: self.memory_mb,
            accel,
            cmdline,
            nic,
        }
    }

    fn cmdline(args: &[&str], guest_cidr: Option<&str>) -> Result<String> {
        let line = guest_init::kernel_cmdline(args, guest_cidr);
        if line.len() >= MAX_CMDLINE {
            bail!(
                "payload arguments too long for the kernel command line ({} bytes)",
                line.len()
            );
        }
        Ok(line)
    }

    /// Boots the guest, runs `pier-payload <args>` in it and waits for qemu to exit,
    /// killing it after `timeout`. Returns the payload's stdout lines and exit status, and
    /// launch-to-init and launch-to-exit times.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Result<VmRun> {
        let cmdline = Self::cmdline(args, None)?;
        let mut guest = Guest::spawn(&self.launch(self.verdict.accel, &cmdline, None))?;
        let deadline = guest.launched() + timeout;
        let mut progress = Progress::default();
        // Read to the end of the console: qemu closes it when it exits.
        while let Some(line) = guest
            .next_line(deadline)
            .with_context(|| format!("VM running pier-payload {args:?}"))?
        {
            progress.feed(&line);
        }
        let (_, exited) = guest.wait_exit(deadline)?;
        finish(&guest, progress, exited, self.verdict.accel)
    }

    /// Boots the guest with a virtio-net NIC on a new host bridge in `subnet` (a /24;
    /// [`net::DEFAULT_SUBNET`] if `None`), starts `pier-payload <args>` (e.g. a network
    /// server) and returns once the guest's network is up. Dropping the result kills
    /// qemu and removes the tap and bridge.
    pub fn start_with_network(
        &self,
        args: &[&str],
        subnet: Option<Ipv4Addr>,
        boot_timeout: Duration,
    ) -> Result<RunningVm> {
        let link = net::HostLink::create(subnet.unwrap_or(net::DEFAULT_SUBNET))
            .context("creating the host side of the VM network")?;
        let cmdline = Self::cmdline(args, Some(&link.guest_cidr()))?;
        let nic = TapNic {
            ifname: &link.tap,
            mac: net::GUEST_MAC,
            // vhost-net is what a KVM deployment uses; under TCG it would not help.
            vhost: self.verdict.accel == Accel::Kvm && net::vhost_net_usable(),
        };
        let mut guest = Guest::spawn(&self.launch(self.verdict.accel, &cmdline, Some(nic)))?;
        let deadline = guest.launched() + boot_timeout;
        let mut progress = Progress::default();
        loop {
            let line = guest
                .next_line(deadline)
                .context("waiting for the VM network")?;
            match line.as_ref().and_then(|l| progress.feed(l)) {
                Some(Marker::NetUp(_)) => break,
                Some(Marker::Exit(code)) => bail!(
                    "the guest payload exited ({code}) before its network was up; {}",
                    guest.describe()
                ),
                _ if line.is_none() => bail!("qemu exited during boot; {}", guest.describe()),
                _ => {}
            }
        }
        Ok(RunningVm {
            guest,
            progress,
            accel: self.verdict.accel,
            link,
        })
    }
}

/// The installed qemu's version line, e.g. `QEMU emulator version 7.2.22 (...)`.
pub fn qemu_version() -> Option<String> {
    qemu::version()
}

/// Builds the [`VmRun`] of a guest that exited.
fn finish(guest: &Guest, progress: Progress, exited: Instant, accel: Accel) -> Result<VmRun> {
    let Some((booted_at, guest_boot_s)) = progress.booted else {
        bail!("the guest never reached init; {}", guest.describe());
    };
    let Some(exit_code) = progress.exit_code else {
        bail!(
            "the guest stopped without reporting the payload's exit; {}",
            guest.describe()
        );
    };
    Ok(VmRun {
        accel,
        boot_ms: ms(booted_at - guest.launched()),
        guest_boot_s,
        total_ms: ms(exited - guest.launched()),
        results: progress.results,
        warnings: progress.warnings,
        exit_code,
    })
}

/// A guest running with a network link to the host. Dropping it kills qemu, then removes
/// the tap and bridge (fields drop in declaration order). qemu is also killed if the
/// thread that started it exits, so keep it on the thread that uses it.
pub struct RunningVm {
    guest: Guest,
    progress: Progress,
    accel: Accel,
    link: net::HostLink,
}

impl RunningVm {
    /// The guest's address, reachable from the host only.
    pub fn guest_ip(&self) -> Ipv4Addr {
        self.link.guest_ip
    }

    /// The host's address on the link.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.link.host_ip
    }

    /// The accelerator the guest runs under.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// The qemu process id.
    pub fn pid(&self) -> u32 {
        self.guest.pid()
    }

    /// The host's tap and bridge interface names.
    pub fn interfaces(&self) -> (&str, &str) {
        (&self.link.tap, &self.link.bridge)
    }

    /// The payload's next stdout line, or `None` once it has exited.
    pub fn next_result(&mut self, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        while self.progress.exit_code.is_none() {
            let Some(line) = self.guest.next_line(deadline)? else {
                break;
            };
            if let Some(Marker::Result(r)) = self.progress.feed(&line) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Waits up to `timeout` for the payload to finish and the guest to power off.
    pub fn wait(mut self, timeout: Duration) -> Result<VmRun> {
        let deadline = Instant::now() + timeout;
        while let Some(line) = self.guest.next_line(deadline)? {
            self.progress.feed(&line);
        }
        let (_, exited) = self.guest.wait_exit(deadline)?;
        let progress = std::mem::take(&mut self.progress);
        finish(&self.guest, progress, exited, self.accel)
    }
}
