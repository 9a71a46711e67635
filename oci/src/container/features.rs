//! The runtime-spec "features" document (`pier runtime features`): what this runtime
//! honours, so that a manager can check before it asks. Kept beside the code it describes:
//! each entry is what the other modules really implement.

use crate::hooks::HookPoint;
use serde_json::{json, Value};

/// The oldest and newest runtime-spec versions pier accepts.
pub(crate) const OCI_VERSION_MIN: &str = "1.0.0";
/// See [`OCI_VERSION_MIN`].
pub(crate) const OCI_VERSION_MAX: &str = "1.2.0";

/// The features document.
pub fn document() -> Value {
    let hooks: Vec<&str> = HookPoint::ALL.iter().map(|h| h.name()).collect();
    let capabilities: Vec<String> = {
        let mut all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        all.sort();
        all
    };
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": hooks,
        "mountOptions": crate::mounts::options::KNOWN_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false
            },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": [native_arch()],
                "knownFlags": [
                    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ],
                "supportedFlags": [
                    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ]
            },
            "apparmor": {"enabled": crate::process::attributes::apparmor_enabled()},
            "selinux": {"enabled": crate::process::attributes::selinux_enabled()},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "mountExtensions": {"idmap": {"enabled": false}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "io.github.pier.version": env!("CARGO_PKG_VERSION")
        },
        "potentiallyUnsafeConfigAnnotations": []
    })
}

/// The libseccomp name of the architecture pier filters (only the native one).
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_as_the_specification_type() {
        let doc = document();
        let parsed: oci_spec::runtime::Features =
            serde_json::from_value(doc.clone()).expect("a runtime-spec features document");
        assert_eq!(parsed.oci_version_max(), OCI_VERSION_MAX);
        let hooks = parsed.hooks().clone().unwrap();
        assert!(hooks.contains(&"createRuntime".to_string()));
        assert!(doc["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_SYS_ADMIN")));
    }
}
