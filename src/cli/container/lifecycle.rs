//! `pier start`, `stop`, `restart`, `kill`, `rename` and `wait`: moving a container through its
//! life.

use anyhow::{bail, Context, Result};
use clap::Args;
use pier_engine::container::record::ContainerStatus;
use pier_engine::container::start::Attach;
use pier_engine::container::Engine;
use std::time::Duration;

/// `pier start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach stdin too.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier start`.
pub fn start(engine: &Engine, args: StartArgs) -> Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() != 1 {
            bail!("pier start -a takes exactly one container");
        }
        let (_, rec) = engine.find(&args.containers[0])?;
        let attach = Attach::Foreground {
            interactive: args.interactive,
            tty: rec.config.tty,
            forward_signals: true,
        };
        return Ok(engine.run_attached(&rec.id, attach, &mut |_| {})?.exit.code);
    }
    for c in &args.containers {
        let (_, rec) = engine.find(c)?;
        if rec.status == ContainerStatus::Running {
            println!("{c}");
            continue;
        }
        engine.start_detached(&rec.id)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier stop`.
pub fn stop(engine: &Engine, args: StopArgs) -> Result<i32> {
    for c in &args.containers {
        engine.stop(c, Duration::from_secs(args.time))?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier restart`: stop (if running), then start in the background.
pub fn restart(engine: &Engine, args: RestartArgs) -> Result<i32> {
    for c in &args.containers {
        let (_, rec) = engine.find(c)?;
        engine.stop(&rec.id, Duration::from_secs(args.time))?;
        engine.find(&rec.id).with_context(|| {
            format!("container {} was removed when it stopped (--rm)", rec.name)
        })?;
        engine.start_detached(&rec.id)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// `pier rename`.
pub fn rename(engine: &Engine, args: RenameArgs) -> Result<i32> {
    engine.rename(&args.container, &args.new_name)?;
    Ok(0)
}

/// `pier kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier kill`.
pub fn kill(engine: &Engine, args: KillArgs) -> Result<i32> {
    let sig = pier_oci::container::kill::parse_signal(&args.signal)?;
    for c in &args.containers {
        engine.kill(c, sig)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier wait`.
pub fn wait(engine: &Engine, args: WaitArgs) -> Result<i32> {
    for c in &args.containers {
        println!("{}", engine.wait(c)?);
    }
    Ok(0)
}
