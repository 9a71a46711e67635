//! The one root filesystem every container environment runs: pier's busybox image layer
//! with the payload copied in at `/pier-payload`.
//!
//! It exists in three forms, all from the same files, so that start-up differences come
//! from the runtimes and not from what they start:
//! * an OCI bundle (`rootfs/` + `config.json` from `runc spec`) for `pier runtime run`,
//!   `runc run` and `crun run`;
//! * a tar of that rootfs, imported as [`super::IMAGE`] into pier's bench root (for
//!   `pier run`) and into podman (for `podman run`).

use super::{Setup, IMAGE, PAYLOAD_IN_CONTAINER};
use anyhow::{bail, Context, Result};
use pier_engine::image::ImageStore;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// The prepared bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Bundle directory (holds `config.json` and `rootfs/`).
    pub dir: PathBuf,
    /// Tar of `rootfs/`, for image imports.
    pub rootfs_tar: PathBuf,
    /// `config.json` as `runc spec` wrote it, before per-run changes.
    base_config: Value,
}

/// pier's bench image store and its `busybox:latest` (bootstrapped there when missing).
pub fn busybox(setup: &Setup) -> Result<(ImageStore, pier_engine::image::Image)> {
    let store = ImageStore::open(&setup.pier_root()).with_context(|| {
        format!(
            "opening pier's bench image store in {}",
            setup.pier_root().display()
        )
    })?;
    let busybox = match store.resolve("busybox:latest") {
        Ok(img) => img,
        Err(_) => pier_engine::image::bootstrap::bootstrap_busybox(&store, "busybox:latest")
            .context("bootstrapping the busybox image in the bench root")?,
    };
    Ok((store, busybox))
}

/// Builds the bundle under `<cache>/bundle` (replacing an older one) and imports its rootfs
/// as [`IMAGE`] into pier's bench root.
pub fn prepare(setup: &Setup) -> Result<Bundle> {
    let dir = setup.cache.join("bundle");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing old bundle {}", dir.display()))?;
    }
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).with_context(|| format!("creating {}", rootfs.display()))?;
    let (store, busybox) = busybox(setup)?;
    for layer in &busybox.layer_dirs {
        // cp -a keeps symlinks (busybox applets), modes and ownership.
        run(Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", layer.display()))
            .arg(&rootfs))?;
    }
    let payload_dst = rootfs.join(PAYLOAD_IN_CONTAINER.trim_start_matches('/'));
    std::fs::copy(&setup.payload, &payload_dst).with_context(|| {
        format!(
            "copying {} to {}",
            setup.payload.display(),
            payload_dst.display()
        )
    })?;
    let rootfs_tar = dir.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&rootfs_tar)
        .arg("."))?;
    let mut f = std::fs::File::open(&rootfs_tar)
        .with_context(|| format!("opening {}", rootfs_tar.display()))?;
    store
        .import_rootfs_tar(&mut f, IMAGE)
        .with_context(|| format!("importing {} as {IMAGE}", rootfs_tar.display()))?;
    // runc writes its default spec into the current directory.
    run(Command::new("runc").arg("spec").current_dir(&dir)).context(
        "runc spec (the OCI peers' bundle starts from runc's default config; install runc)",
    )?;
    let cfg_path = dir.join("config.json");
    let base_config: Value = serde_json::from_slice(
        &std::fs::read(&cfg_path).with_context(|| format!("reading {}", cfg_path.display()))?,
    )
    .with_context(|| format!("parsing {}", cfg_path.display()))?;
    let base_config = with_docker_defaults(base_config)?;
    Ok(Bundle {
        dir,
        rootfs_tar,
        base_config,
    })
}

impl Bundle {
    /// Writes `config.json` for one run: no terminal, `/pier-payload <args>`, either the
    /// bundle's own network namespace (loopback only) or the host's, and Docker's seccomp
    /// filter or none (`seccomp`).
    pub fn configure(&self, args: &[String], host_net: bool, seccomp: bool) -> Result<()> {
        let mut cfg = configured(&self.base_config, args, host_net);
        if !seccomp {
            without_seccomp(&mut cfg);
        }
        let path = self.dir.join("config.json");
        let text = serde_json::to_vec_pretty(&cfg).context("serialising config.json")?;
        pier_oci::persist::write_atomic(&path, &text)
    }
}

/// `base` with terminal off, the payload's argv, and the network namespace dropped when
/// `host_net`.
pub fn configured(base: &Value, args: &[String], host_net: bool) -> Value {
    let mut cfg = base.clone();
    let mut argv = vec![json!(PAYLOAD_IN_CONTAINER)];
    argv.extend(args.iter().map(|a| json!(a)));
    cfg["process"]["terminal"] = json!(false);
    cfg["process"]["args"] = Value::Array(argv);
    if host_net {
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    }
    cfg
}

/// `cfg` without a seccomp filter: the start-up suite's `runtime-noseccomp` cases, which
/// compare the runtimes on what is not the filter's compilation and loading.
pub fn without_seccomp(cfg: &mut Value) {
    if let Some(linux) = cfg["linux"].as_object_mut() {
        linux.remove("seccomp");
    }
}

/// `runc spec`'s config with the security a `docker run` (and `pier run`) container gets:
/// Docker's 14 capabilities and Docker's default seccomp profile, so that `pier runtime run`,
/// runc and crun run under the same conditions as the whole-path environments (runc's spec has
/// 3 capabilities and no seccomp filter).
pub fn with_docker_defaults(mut cfg: Value) -> Result<Value> {
    let caps = serde_json::to_value(pier_oci::security::caps::docker_default_capabilities())
        .context("serialising Docker's capability set")?;
    let process = &mut cfg["process"];
    for set in ["bounding", "effective", "permitted"] {
        process["capabilities"][set] = caps.clone();
    }
    if let Some(c) = process["capabilities"].as_object_mut() {
        c.remove("inheritable");
        c.remove("ambient");
    }
    cfg["linux"]["seccomp"] =
        serde_json::to_value(pier_oci::security::seccomp::docker_default_profile()?)
            .context("serialising Docker's default seccomp profile")?;
    Ok(cfg)
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_has_dockers_capabilities_and_seccomp_profile() {
        let base = json!({
            "process": {"capabilities": {
                "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}},
            "linux": {"namespaces": []}
        });
        let c = with_docker_defaults(base).unwrap();
        let caps = &c["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            let list = caps[set].as_array().unwrap();
            assert_eq!(list.len(), 14, "{set}: {list:?}");
            assert!(list.contains(&json!("CAP_NET_BIND_SERVICE")), "{set}");
            assert!(!list.contains(&json!("CAP_SYS_ADMIN")), "{set}");
        }
        assert!(caps.get("inheritable").is_none() && caps.get("ambient").is_none());
        let seccomp = &c["linux"]["seccomp"];
        assert_eq!(
            seccomp["defaultAction"],
            json!("SCMP_ACT_ERRNO"),
            "{seccomp}"
        );
        assert!(seccomp["syscalls"].as_array().unwrap().len() > 10);
        let mut bare = c.clone();
        without_seccomp(&mut bare);
        assert!(bare["linux"].get("seccomp").is_none(), "{bare}");
        assert_eq!(bare["process"], c["process"], "only the filter goes");
    }

    #[test]
    fn configures_args_terminal_and_network() {
        let base = json!({
            "process": {"terminal": true, "args": ["sh"]},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]}
        });
        let args = vec!["start".to_string()];
        let c = configured(&base, &args, false);
        assert_eq!(c["process"]["terminal"], json!(false));
        assert_eq!(c["process"]["args"], json!(["/pier-payload", "start"]));
        assert_eq!(c["linux"]["namespaces"].as_array().unwrap().len(), 3);
        let c = configured(&base, &args, true);
        let ns = c["linux"]["namespaces"].as_array().unwrap();
        assert_eq!(ns.len(), 2);
        assert!(ns.iter().all(|n| n["type"] != "network"));
    }
}
