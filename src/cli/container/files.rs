//! Commands on a container's files: `pier cp` and `pier diff`.

use anyhow::{bail, Result};
use clap::Args;
use pier_engine::container::Engine;
use std::path::Path;

/// `pier cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Keep owners (default: files belong to root in the container, to you on the host).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Source: CONTAINER:PATH or a host path (PATH/. for a directory's contents).
    pub source: String,
    /// Destination: CONTAINER:PATH or a host path.
    pub destination: String,
}

/// `CONTAINER:PATH` split, or `None` for a host path (one with a `/` before any `:`, as
/// Docker reads `./a:b` as a file).
fn container_path(arg: &str) -> Option<(&str, &str)> {
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// `pier cp`.
pub fn cp(engine: &Engine, args: CpArgs) -> Result<i32> {
    let stats = match (
        container_path(&args.source),
        container_path(&args.destination),
    ) {
        (Some((c, from)), None) => {
            engine.copy_from_container(c, from, Path::new(&args.destination), args.archive)?
        }
        (None, Some((c, to))) => {
            engine.copy_to_container(c, Path::new(&args.source), to, args.archive)?
        }
        (Some(_), Some(_)) => {
            bail!("copying between containers is not supported: copy through the host")
        }
        (None, None) => bail!("one of source and destination must be CONTAINER:PATH"),
    };
    if stats.skipped > 0 {
        eprintln!(
            "pier: {} device nodes or sockets were not copied",
            stats.skipped
        );
    }
    Ok(0)
}

/// `pier diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container.
    pub container: String,
}

/// `pier diff`.
pub fn diff(engine: &Engine, args: DiffArgs) -> Result<i32> {
    for c in engine.diff(&args.container)? {
        println!("{} {}", c.kind, c.path.display());
    }
    Ok(0)
}
