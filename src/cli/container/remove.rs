//! `pier rm` and `pier container prune`.

use crate::cli::output;
use anyhow::Result;
use clap::Args;
use pier_engine::container::Engine;

/// `pier rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier rm`.
pub fn rm(engine: &Engine, args: RmArgs) -> Result<i32> {
    let mut failed = false;
    for c in &args.containers {
        let removed = if args.volumes {
            engine.remove_with_volumes(c, args.force)
        } else {
            engine.remove(c, args.force)
        };
        match removed {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("pier: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `pier container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    #[command(flatten)]
    pub force: output::Force,
}

/// `pier container prune`.
pub fn prune(engine: &Engine, args: ContainerPruneArgs) -> Result<i32> {
    if !args
        .force
        .confirmed("This will remove all stopped containers.")?
    {
        return Ok(0);
    }
    let (names, bytes) = engine.prune_containers()?;
    output::pruned("Containers", &names, Some(bytes));
    Ok(0)
}
