//! `pier exec`: another process in a running container.

use anyhow::Result;
use clap::Args;
use pier_engine::container::config::env_entry;
use pier_engine::container::exec::ExecRequest;
use pier_engine::container::Engine;

/// `pier exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Container.
    pub container: String,
    /// Command and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `pier exec`.
pub fn exec(engine: &Engine, args: ExecArgs) -> Result<i32> {
    let env = args
        .env
        .iter()
        .map(|e| env_entry(e))
        .collect::<Result<Vec<_>>>()?;
    let req = ExecRequest {
        command: args.command,
        interactive: args.interactive,
        tty: args.tty,
        env,
        workdir: args.workdir,
        user: args.user,
    };
    engine.exec(&args.container, &req)
}
