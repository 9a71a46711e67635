//! `pier system`: prune, df, info.

use super::output;
use anyhow::Result;
use clap::{Args, Subcommand};
use pier_runtime::disk_usage::tree_size;
use pier_runtime::engine::record::ContainerStatus;
use pier_runtime::engine::Engine;

/// `pier system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Remove stopped containers and everything a crash left behind (mounts, cgroups, network).
    Prune(PruneArgs),
    /// Show disk use of images, layers, containers and volumes.
    Df,
    /// Show what pier runs on: kernel, cgroup version, state directory.
    Info,
}

/// `pier system prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub force: output::Force,
    /// Also remove anonymous volumes no container uses.
    #[arg(long)]
    pub volumes: bool,
}

/// `pier system ...`.
pub fn system(engine: &Engine, cmd: SystemCommand) -> Result<i32> {
    match cmd {
        SystemCommand::Prune(a) => {
            let mut what = "This will remove all stopped containers and what a crash left behind (mounts, cgroups, network state)".to_string();
            if a.volumes {
                what.push_str(", and anonymous volumes not used by at least one container");
            }
            if !a.force.confirmed(&format!("{what}."))? {
                return Ok(0);
            }
            let report = engine.prune()?;
            for c in &report.containers {
                println!("Deleted container: {c}");
            }
            for l in &report.leftovers {
                println!("Cleaned up: {l}");
            }
            println!(
                "Removed {} containers, {} leftovers",
                report.containers.len(),
                report.leftovers.len()
            );
            if a.volumes {
                let volumes = engine.prune_volumes(false, &|_| false)?;
                for v in &volumes.removed {
                    println!("Deleted volume: {v}");
                }
                println!(
                    "Removed {} volumes, {}",
                    volumes.removed.len(),
                    output::size(volumes.reclaimed)
                );
            }
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
        SystemCommand::Info => {
            let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            println!("pier version:   {}", env!("CARGO_PKG_VERSION"));
            println!("kernel:         {}", kernel.trim());
            println!(
                "cgroup version: {}",
                pier_runtime::cgroups::detect_version()
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|e| format!("unknown ({e})"))
            );
            println!("state root:     {}", engine.root().display());
            println!("containers:     {}", engine.containers()?.len());
            println!("images:         {}", engine.images()?.list()?.len());
            Ok(0)
        }
    }
}
