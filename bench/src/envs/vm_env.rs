//! The VM as an [`Environment`]: an adapter over [`super::vm`]. Each run boots a fresh
//! guest for one payload command, so launch-to-exit includes the whole boot.
//!
//! Its name carries the accelerator (`qemu-kvm` or `qemu-tcg`) so that every sample, table
//! and plot says whether the guest ran with hardware virtualisation or under emulation.

use super::vm::{Vm, VmConfig};
use super::{find_tool, Availability, Environment, NetMode, PayloadRun, Setup};
use anyhow::{bail, Result};
use std::time::Duration;

/// A prepared guest, or why there is none.
pub struct VmEnv {
    vm: Option<Vm>,
    ready: Availability,
    accel_reason: String,
}

impl VmEnv {
    /// Prepares a guest with `cpus` vCPUs and `memory_mb` MiB (kernel and initramfs cached
    /// under the bench cache; the accelerator probed: KVM if it boots, else TCG).
    pub fn new(setup: &Setup, cpus: u32, memory_mb: u32) -> VmEnv {
        if find_tool("qemu-system-x86_64").is_none() {
            return VmEnv {
                vm: None,
                ready: Availability::Unavailable(
                    "qemu-system-x86_64 is not installed (scripts/setup.sh bench installs it)"
                        .into(),
                ),
                accel_reason: String::new(),
            };
        }
        let mut cfg = VmConfig::new(setup.payload.clone(), setup.cache.clone());
        cfg.cpus = cpus;
        cfg.memory_mb = memory_mb;
        match Vm::prepare(&cfg) {
            Ok(vm) => VmEnv {
                accel_reason: vm.verdict().reason.clone(),
                vm: Some(vm),
                ready: Availability::Available,
            },
            Err(e) => VmEnv {
                vm: None,
                ready: Availability::Unavailable(format!("preparing the guest failed: {e:#}")),
                accel_reason: String::new(),
            },
        }
    }

    /// The prepared guest (for the network suite's long-running server).
    pub fn vm(&self) -> Option<&Vm> {
        self.vm.as_ref()
    }

    /// Why this accelerator was chosen (the KVM probe's outcome).
    pub fn accel_reason(&self) -> &str {
        &self.accel_reason
    }

    /// One line describing the guest (qemu, kernel, size, accelerator).
    pub fn describe(&self) -> Option<String> {
        self.vm.as_ref().map(Vm::describe)
    }
}

/// Short accelerator label for names: `kvm` or `tcg`.
pub fn accel_label(vm: &Vm) -> &'static str {
    match vm.accel() {
        super::vm::Accel::Kvm => "kvm",
        super::vm::Accel::Tcg => "tcg",
    }
}

impl Environment for VmEnv {
    fn name(&self) -> String {
        match &self.vm {
            Some(vm) => format!("qemu-{}", accel_label(vm)),
            None => "qemu".into(),
        }
    }

    fn availability(&self) -> Availability {
        self.ready.clone()
    }

    fn run_payload(
        &mut self,
        args: &[String],
        _net: NetMode,
        timeout: Duration,
    ) -> Result<PayloadRun> {
        let Some(vm) = &self.vm else {
            bail!("no VM: {}", self.ready.reason().unwrap_or("not prepared"));
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let launched_ns = crate::clock::realtime_ns();
        let run = vm.run(&argv, timeout)?;
        if run.exit_code != 0 {
            bail!(
                "the payload exited with {} in the guest ({})",
                run.exit_code,
                run.warnings.join("; ")
            );
        }
        Ok(PayloadRun {
            lines: super::json_lines(&run.results.join("\n")),
            wall: Duration::from_secs_f64(run.total_ms / 1000.0),
            launched_ns,
            boot_ms: Some(run.boot_ms),
        })
    }

    fn accelerator(&self) -> Option<String> {
        self.vm.as_ref().map(|vm| accel_label(vm).to_string())
    }
}
