//! The accelerator qemu runs the guest with: KVM (hardware virtualisation) when it works,
//! else TCG (qemu's software emulation, many times slower). `/dev/kvm` existing is not
//! enough (nested or restricted hosts expose a device that cannot run a guest), so the
//! verdict comes from booting the real guest under KVM with a short timeout; it is cached
//! for the life of the process.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::OpenOptions;
use std::sync::OnceLock;

/// How qemu executes guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Accel {
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
    /// Software emulation (Tiny Code Generator).
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accel::Kvm => f.write_str("kvm"),
            Accel::Tcg => f.write_str("tcg (software emulation)"),
        }
    }
}

impl Accel {
    /// The qemu arguments selecting this accelerator and its CPU model: the host's CPU
    /// under KVM (as the IBM study did), the most capable emulated one under TCG.
    pub fn qemu_args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => ["-accel", "tcg", "-cpu", "max"],
        }
    }
}

/// True if `/dev/kvm` can be opened read-write: the precondition for trying KVM at all.
pub fn kvm_device_usable() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// The accelerator chosen and why (e.g. how the KVM probe failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The accelerator to use.
    pub accel: Accel,
    /// A one-line reason, for reports.
    pub reason: String,
    /// How long the KVM probe took, if one ran.
    pub probe_time: Option<std::time::Duration>,
}

static VERDICT: OnceLock<Verdict> = OnceLock::new();

/// The process-wide verdict, computing it with `probe` the first time.
pub fn cached_verdict(probe: impl FnOnce() -> Verdict) -> Verdict {
    VERDICT.get_or_init(probe).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_emulation() {
        assert_eq!(Accel::Kvm.to_string(), "kvm");
        assert_eq!(Accel::Tcg.to_string(), "tcg (software emulation)");
        assert_eq!(Accel::Tcg.qemu_args()[3], "max");
    }
}
