//! Building the OCI runtime config (`config.json`) of a container from its image and the
//! user's options, with Docker's defaults: the same mounts, namespaces, capabilities,
//! seccomp profile, masked paths and device rules a `docker run` container gets.

use crate::container::config::{BindMount, Limits, NetworkMode, RunConfig};
use anyhow::{Context, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxBuilder, LinuxCpu, LinuxMemory, LinuxNamespace, LinuxNamespaceType,
    LinuxPids, LinuxResources, Mount, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use pier_oci::devices;
use pier_oci::security;
use std::collections::HashMap;
use std::path::PathBuf;

/// Everything about one container that goes into its config.
pub struct SpecInputs<'a> {
    /// Container ID (cgroup name).
    pub id: &'a str,
    /// The user's options.
    pub config: &'a RunConfig,
    /// Final command line (entrypoint + cmd).
    pub args: Vec<String>,
    /// Final environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Resolved user.
    pub uid: u32,
    /// Resolved group.
    pub gid: u32,
    /// Supplementary groups from the image's /etc/group.
    pub additional_gids: Vec<u32>,
    /// Hostname.
    pub hostname: String,
    /// Files pier writes for the container: /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// Network namespace to join (bridge networks, `container:`); `None` with `NetworkMode::None`
    /// means a new one.
    pub netns_path: Option<PathBuf>,
    /// Annotations (image, name).
    pub annotations: HashMap<String, String>,
    /// The container's volumes as bind mounts of their directories.
    pub volumes: Vec<BindMount>,
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        ),
    ]
}

/// The cgroup resources for the limits (`None` when no limit is set, so nothing is written).
pub fn resources(limits: &Limits) -> LinuxResources {
    let mut r = LinuxResources::default();
    if limits.memory.is_some() || limits.memory_swap.is_some() {
        let mut m = LinuxMemory::default();
        m.set_limit(limits.memory.map(|v| v as i64));
        m.set_swap(limits.memory_swap);
        r.set_memory(Some(m));
    }
    if limits.cpus.is_some() || limits.cpu_shares.is_some() || limits.cpuset_cpus.is_some() {
        let mut c = LinuxCpu::default();
        if let Some(cpus) = limits.cpus {
            let period = 100_000u64;
            c.set_period(Some(period));
            c.set_quota(Some((cpus * period as f64).round() as i64));
        }
        c.set_shares(limits.cpu_shares);
        c.set_cpus(limits.cpuset_cpus.clone());
        r.set_cpu(Some(c));
    }
    if let Some(p) = limits.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = limits.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    r.set_devices(Some(devices::default_cgroup_rules()));
    r
}

/// Builds the complete OCI config.
pub fn build(inputs: &SpecInputs) -> Result<Spec> {
    let cfg = inputs.config;
    let mut mounts = default_mounts();
    for (source, dest) in &inputs.etc_files {
        // A hosts file shared by the containers of a network is read-only: a container
        // writing it would change the names every other container resolves.
        let opts: &[&str] = if *dest == "/etc/hosts" && super::network::shares_network_hosts(cfg) {
            &["rbind", "rprivate", "ro"]
        } else {
            &["rbind", "rprivate"]
        };
        mounts.push(mount(dest, "bind", &source.to_string_lossy(), opts));
    }
    // The user's mounts, parents before what is mounted inside them (`-v db:/data` before
    // `--tmpfs /data/cache`), as Docker sorts them; the order among equals is kept.
    let mut user: Vec<(&PathBuf, Mount)> = Vec::new();
    for tmpfs in &cfg.tmpfs {
        let opts: Vec<&str> = tmpfs.options.iter().map(String::as_str).collect();
        let dest = &tmpfs.destination;
        user.push((
            dest,
            mount(&dest.to_string_lossy(), "tmpfs", "tmpfs", &opts),
        ));
    }
    for v in cfg.volumes.iter().chain(&inputs.volumes) {
        let mut opts = vec!["rbind", "rprivate"];
        if v.read_only {
            // `ro` makes the top mount read-only; `rro` also the mounts the `rbind` copied
            // from below the source (Docker 25+ asks the same of runc).
            opts.extend(["ro", "rro"]);
        }
        let dest = &v.destination;
        user.push((
            dest,
            mount(
                &dest.to_string_lossy(),
                "bind",
                &v.source.to_string_lossy(),
                &opts,
            ),
        ));
    }
    user.sort_by_key(|(dest, _)| dest.components().count());
    mounts.extend(user.into_iter().map(|(_, m)| m));

    let network = cfg
        .network
        .clone()
        .unwrap_or(NetworkMode::Bridge(crate::network::DEFAULT_NETWORK.into()));
    let mut namespaces = Vec::new();
    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ] {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        namespaces.push(ns);
    }
    if network != NetworkMode::Host {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(LinuxNamespaceType::Network);
        ns.set_path(inputs.netns_path.clone());
        namespaces.push(ns);
    }

    let mut caps = security::caps::default_linux_capabilities();
    let mut seccomp = security::seccomp::docker_default_profile()?;
    if !cfg.cap_add.is_empty() || !cfg.cap_drop.is_empty() {
        let base: Vec<_> = caps
            .bounding()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let set: oci_spec::runtime::Capabilities =
            security::caps::adjust(base, &cfg.cap_add, &cfg.cap_drop)?
                .into_iter()
                .collect();
        caps.set_bounding(Some(set.clone()));
        caps.set_effective(Some(set.clone()));
        // As dockerd: added capabilities unlock the syscalls they govern (SYS_ADMIN: mount...).
        seccomp = security::seccomp::docker_profile_for_capabilities(
            &set.iter().copied().collect::<Vec<_>>(),
        )?;
        caps.set_permitted(Some(set));
    }

    let user = UserBuilder::default()
        .uid(inputs.uid)
        .gid(inputs.gid)
        .additional_gids(inputs.additional_gids.clone())
        .build()
        .context("building the process user")?;
    let process = ProcessBuilder::default()
        .terminal(cfg.tty)
        .user(user)
        .args(inputs.args.clone())
        .env(inputs.env.clone())
        .cwd(PathBuf::from(&inputs.cwd))
        .capabilities(caps)
        .no_new_privileges(true)
        .build()
        .context("building the process section")?;

    let mut sysctl = HashMap::new();
    if network != NetworkMode::Host {
        // As Docker: binding ports below 1024 inside the container needs no capability.
        sysctl.insert(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        );
    }
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources(&cfg.limits))
        .cgroups_path(PathBuf::from(format!(
            "{}/{}",
            pier_oci::cgroups::PARENT,
            inputs.id
        )))
        .masked_paths(security::paths::docker_masked_paths())
        .readonly_paths(security::paths::docker_readonly_paths())
        .seccomp(seccomp)
        .sysctl(sysctl)
        .build()
        .context("building the linux section")?;
    let root = RootBuilder::default()
        .path(PathBuf::from("rootfs"))
        .readonly(cfg.read_only)
        .build()
        .context("building the root section")?;
    SpecBuilder::default()
        .version("1.2.0")
        .root(root)
        .hostname(inputs.hostname.clone())
        .mounts(mounts)
        .process(process)
        .linux(linux)
        .annotations(inputs.annotations.clone())
        .build()
        .context("building config.json")
}
