//! `pier logs`: a container's output, optionally followed.

use anyhow::{Context, Result};
use clap::Args;
use pier_engine::container::logs::{self, LogOptions};
use pier_engine::container::record::ContainerStatus;
use pier_engine::container::Engine;

/// `pier logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long = "tail", short = 'n')]
    pub tail: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Container.
    pub container: String,
}

/// `pier logs`.
pub fn logs(engine: &Engine, args: LogsArgs) -> Result<i32> {
    let (paths, rec) = engine.find(&args.container)?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .with_context(|| format!("--tail {n:?}: expected a number or \"all\""))?,
        ),
    };
    let opts = LogOptions {
        tail,
        timestamps: args.timestamps,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut reader = logs::print(&paths.log(), &opts, &mut out, &mut err)?;
    if args.follow {
        let id = rec.id.clone();
        let running = || {
            engine
                .find(&id)
                .map(|(_, r)| r.status == ContainerStatus::Running)
                .unwrap_or(false)
        };
        let follow_opts = LogOptions {
            tail: None,
            timestamps: args.timestamps,
        };
        logs::follow(&mut reader, &follow_opts, &running, &mut out, &mut err)?;
    }
    Ok(0)
}
