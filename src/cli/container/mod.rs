//! Container commands, one file per group: [`create`] (run, create), [`lifecycle`] (start,
//! stop, restart, kill, rename, wait), [`remove`] (rm, prune), [`ps`], [`logs`], [`inspect`]
//! (inspect, top, stats), [`exec`], [`attach`], [`files`] (cp, diff), [`update`] (pause,
//! unpause, update); [`limits`] holds the resource flags `create` and `update` share. This
//! file holds the `pier container ...` group, which names the same commands as Docker does.

pub mod attach;
pub mod create;
pub mod exec;
pub mod files;
pub mod inspect;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod ps;
pub mod remove;
pub mod update;

use anyhow::Result;
use clap::Subcommand;
use pier_engine::container::Engine;

/// `pier container ...`: the container commands under their group name, as Docker has them.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_alias = "list")]
    Ls(ps::PsArgs),
    /// Remove containers.
    Rm(remove::RmArgs),
    /// Show low-level information on containers (JSON).
    Inspect(inspect::InspectArgs),
    /// Remove every stopped container.
    Prune(remove::ContainerPruneArgs),
    /// Restart containers.
    Restart(lifecycle::RestartArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Show the files a container added, changed or deleted.
    Diff(files::DiffArgs),
    /// Copy files between a container and the host.
    Cp(files::CpArgs),
    /// Follow a running container's output until it exits.
    Attach(attach::AttachArgs),
    /// Make an image from a container's changes.
    Commit(crate::cli::build::CommitArgs),
    /// Freeze every process of running containers.
    Pause(update::PauseArgs),
    /// Thaw paused containers.
    Unpause(update::PauseArgs),
    /// Change the limits or restart policy of containers.
    Update(update::UpdateArgs),
}

/// Whether `pier container CMD` puts a pier process into a container (see
/// `seal::enters_containers`): only `restart` starts one. No wildcard: a new command chooses.
pub fn enters_containers(cmd: &ContainerCommand) -> bool {
    match cmd {
        ContainerCommand::Restart(_) => true,
        ContainerCommand::Ls(_)
        | ContainerCommand::Rm(_)
        | ContainerCommand::Inspect(_)
        | ContainerCommand::Prune(_)
        | ContainerCommand::Rename(_)
        | ContainerCommand::Diff(_)
        | ContainerCommand::Cp(_)
        | ContainerCommand::Attach(_)
        | ContainerCommand::Commit(_)
        | ContainerCommand::Pause(_)
        | ContainerCommand::Unpause(_)
        | ContainerCommand::Update(_) => false,
    }
}

/// `pier container ...`.
pub fn container(engine: &Engine, cmd: ContainerCommand) -> Result<i32> {
    match cmd {
        ContainerCommand::Ls(a) => ps::ps(engine, a),
        ContainerCommand::Rm(a) => remove::rm(engine, a),
        ContainerCommand::Inspect(a) => inspect::inspect(engine, a),
        ContainerCommand::Restart(a) => lifecycle::restart(engine, a),
        ContainerCommand::Rename(a) => lifecycle::rename(engine, a),
        ContainerCommand::Diff(a) => files::diff(engine, a),
        ContainerCommand::Cp(a) => files::cp(engine, a),
        ContainerCommand::Attach(a) => attach::attach(engine, a),
        ContainerCommand::Commit(a) => crate::cli::build::commit(engine, a),
        ContainerCommand::Pause(a) => update::pause(engine, a),
        ContainerCommand::Unpause(a) => update::unpause(engine, a),
        ContainerCommand::Update(a) => update::update(engine, a),
        ContainerCommand::Prune(a) => remove::prune(engine, a),
    }
}
