//! `pier system`: prune, df, info; and `pier events`, the log of what happened.

use super::output;
use anyhow::Result;
use clap::{Args, Subcommand};
use pier_engine::container::record::ContainerStatus;
use pier_engine::container::Engine;
use pier_engine::disk_usage::tree_size;

/// `pier events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only the events of this container (name or full ID), removed ones included.
    #[arg(long)]
    pub container: Option<String>,
}

/// `pier events`: prints the event log, oldest first (it is kept after containers are removed).
pub fn events(engine: &Engine, args: EventsArgs) -> Result<i32> {
    for e in engine.events().read()? {
        if args
            .container
            .as_ref()
            .is_some_and(|c| *c != e.name && *c != e.id)
        {
            continue;
        }
        println!("{}", e.render());
    }
    Ok(0)
}

/// `pier system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers and everything a crash left behind (mounts, cgroups, network).
    Prune(PruneArgs),
    /// Show disk use of images, layers, containers and volumes.
    Df,
    /// Show what pier runs on (kernel, cgroup version, state directory) and which protections
    /// are in force for containers on this machine.
    Info {
        /// Output format: `json` for one JSON object.
        #[arg(long)]
        format: Option<String>,
    },
    /// Serve the Docker Engine API (1.41) on a Unix socket, so the docker CLI and SDKs drive
    /// pier; containers made through it are pier's own (they show in `pier ps`).
    Service(ServiceArgs),
}

/// `pier system service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The Unix socket to listen on (made root-owned, mode 0660; a stale one is replaced).
    #[arg(long, default_value = pier_api::DEFAULT_SOCKET)]
    pub socket: std::path::PathBuf,
    /// Exit after this many seconds without a request in progress (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub timeout: u64,
}

/// `pier system prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub force: output::Force,
    /// Remove every image no container uses, not only those without a name.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Also remove anonymous volumes no container uses.
    #[arg(long)]
    pub volumes: bool,
}

/// `pier system prune`: what `container prune`, `network prune`, `image prune [-a]`,
/// `volume prune` (with `--volumes`) and `builder prune` remove, plus what a crash left
/// behind (mounts, cgroups, directories), reported as Docker does.
fn prune(engine: &Engine, args: PruneArgs) -> Result<i32> {
    let mut what = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if args.volumes {
        what.push("all anonymous volumes not used by at least one container");
    }
    what.push(if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    what.push("unused build cache");
    what.push("what a crash left behind (mounts, cgroups, network state)");
    let text = what
        .iter()
        .map(|w| format!("  - {w}"))
        .collect::<Vec<_>>()
        .join("\n");
    if !args
        .force
        .confirmed(&format!("This will remove:\n{text}\n"))?
    {
        return Ok(0);
    }
    let report = engine.prune()?;
    let mut reclaimed = report.reclaimed;
    output::pruned("Containers", &report.containers, None);
    output::pruned("Networks", &engine.prune_unused_networks()?, None);
    if args.volumes {
        let volumes = engine.prune_volumes(false, &|_| false)?;
        reclaimed += volumes.reclaimed;
        output::pruned("Volumes", &volumes.removed, None);
    }
    let images = engine.prune_images(args.all)?;
    reclaimed += images.reclaimed;
    output::pruned("Images", &images.lines, None);
    let store = engine.images()?;
    let (layers, bytes) = pier_engine::builder::cache::BuildCache::open(&store).prune(&store)?;
    reclaimed += bytes;
    if layers > 0 {
        println!("Deleted build cache objects: {layers} layers\n");
    }
    output::pruned("leftovers (pier)", &report.leftovers, None);
    println!("Total reclaimed space: {}", output::size(reclaimed));
    Ok(0)
}

/// `pier system ...`.
pub fn system(engine: &Engine, cmd: SystemCommand) -> Result<i32> {
    match cmd {
        SystemCommand::Prune(a) => prune(engine, a),
        SystemCommand::Service(a) => {
            let opts = pier_api::ServiceOptions {
                socket: a.socket,
                idle_timeout: (a.timeout > 0).then(|| std::time::Duration::from_secs(a.timeout)),
            };
            pier_api::serve(engine.root(), opts)?;
            Ok(0)
        }
        SystemCommand::Df => {
            let du = engine.images()?.disk_usage()?;
            let containers = engine.containers()?;
            let upper: u64 = containers
                .iter()
                .map(|c| tree_size(&engine.paths(&c.id).upper()))
                .sum();
            let running = containers
                .iter()
                .filter(|c| c.status == ContainerStatus::Running)
                .count();
            let store = engine.volumes()?;
            let volumes = store.list()?;
            let volume_bytes: u64 = volumes.iter().map(|v| store.size(&v.name)).sum();
            let used_volumes = volumes
                .iter()
                .filter(|v| {
                    containers.iter().any(|c| {
                        c.config
                            .volume_mounts
                            .iter()
                            .any(|m| m.name.as_deref() == Some(v.name.as_str()))
                    })
                })
                .count();
            output::table(
                &["TYPE", "TOTAL", "ACTIVE", "SIZE", "SHARED"],
                &[
                    vec![
                        "Images".into(),
                        du.images.to_string(),
                        containers
                            .iter()
                            .map(|c| c.image_id.as_str())
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                            .to_string(),
                        output::size(du.bytes),
                        String::new(),
                    ],
                    vec![
                        "Layers".into(),
                        du.layers.to_string(),
                        String::new(),
                        output::size(du.bytes),
                        format!(
                            "{} layers, {}",
                            du.shared_layers,
                            output::size(du.shared_bytes)
                        ),
                    ],
                    vec![
                        "Containers".into(),
                        containers.len().to_string(),
                        running.to_string(),
                        output::size(upper),
                        String::new(),
                    ],
                    vec![
                        "Local Volumes".into(),
                        volumes.len().to_string(),
                        used_volumes.to_string(),
                        output::size(volume_bytes),
                        String::new(),
                    ],
                ],
            );
            Ok(0)
        }
        SystemCommand::Info { format } => {
            let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            let cgroup = pier_oci::cgroups::detect_version()
                .map(|v| format!("v{v}"))
                .unwrap_or_else(|e| format!("unknown ({e})"));
            let protections = pier_oci::security::report::protections(engine.root());
            // Whether pulled layers get their device nodes (engine/src/image/layer_devices.rs).
            let image_devices =
                match pier_engine::image::layer_devices::DeviceNodes::for_image_layers() {
                    pier_engine::image::layer_devices::DeviceNodes::Create => "created",
                    pier_engine::image::layer_devices::DeviceNodes::Skip => {
                        "skipped (not root in the initial user namespace)"
                    }
                };
            // What watches a detached container (engine/src/container/monitor.rs).
            let monitor = match pier_engine::container::monitor::small_program() {
                Some(p) => format!("{} (the small monitor)", p.display()),
                None => "pier itself (no pier-monitor beside the pier binary)".to_string(),
            };
            match format.as_deref() {
                Some("json") => {
                    let info = serde_json::json!({
                        "version": env!("CARGO_PKG_VERSION"),
                        "kernel": kernel.trim(),
                        "cgroupVersion": cgroup,
                        "root": engine.root(),
                        "containers": engine.containers()?.len(),
                        "images": engine.images()?.list()?.len(),
                        "imageDeviceNodes": image_devices,
                        "security": protections,
                        "monitor": monitor,
                    });
                    println!("{}", serde_json::to_string_pretty(&info)?);
                }
                Some(other) => anyhow::bail!("unknown --format {other:?}: use json"),
                None => {
                    println!("pier version:   {}", env!("CARGO_PKG_VERSION"));
                    println!("kernel:         {}", kernel.trim());
                    println!("cgroup version: {cgroup}");
                    println!("state root:     {}", engine.root().display());
                    println!("containers:     {}", engine.containers()?.len());
                    println!("images:         {}", engine.images()?.list()?.len());
                    println!("image devices:  {image_devices}");
                    println!("monitor:        {monitor}");
                    println!("security:");
                    for p in &protections {
                        println!("  {:<17} {}", format!("{}:", p.name), p.state);
                    }
                }
            }
            Ok(0)
        }
    }
}
