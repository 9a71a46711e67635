//! Command-line definitions (clap) and dispatch, one file per command group.

mod bench;
mod build;
mod compose;
mod container;
mod cri;
mod cri_containerd_config;
#[cfg(test)]
mod doc_check;
#[cfg(test)]
mod doc_editions;
#[cfg(test)]
mod doc_glossary;
#[cfg(test)]
mod doc_sections;
mod docs;
mod filter;
mod format;
mod image;
mod lab;
mod network;
mod output;
mod pull_progress;
mod repair_scope;
mod runtime;
mod seal;
mod system;
mod transfer;
mod volume;

use clap::{Parser, Subcommand};
use pier_engine::container::Engine;
use std::path::PathBuf;

/// pier: a container runtime to learn from and measure with.
#[derive(Debug, Parser)]
#[command(name = "pier", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    /// State directory (images, containers, networks).
    #[arg(long, global = true, env = "PIER_ROOT", default_value = pier_engine::container::DEFAULT_ROOT)]
    pub root: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// Every pier command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container from an image.
    Run(container::create::RunArgs),
    /// Create a container without starting it.
    Create(container::create::CreateArgs),
    /// Start one or more stopped containers.
    Start(container::lifecycle::StartArgs),
    /// Stop running containers (SIGTERM, then SIGKILL after a timeout).
    Stop(container::lifecycle::StopArgs),
    /// Stop and start containers again.
    Restart(container::lifecycle::RestartArgs),
    /// Send a signal to running containers.
    Kill(container::lifecycle::KillArgs),
    /// Rename a container.
    Rename(container::lifecycle::RenameArgs),
    /// Follow a running container's output until it exits (Ctrl-C is passed on to it).
    Attach(container::attach::AttachArgs),
    /// Make an image from a container's changes.
    Commit(build::CommitArgs),
    /// Freeze every process of running containers.
    Pause(container::update::PauseArgs),
    /// Thaw paused containers.
    Unpause(container::update::PauseArgs),
    /// Change the limits or restart policy of containers (running ones at once).
    Update(container::update::UpdateArgs),
    /// Copy files between a container and the host: CONTAINER:PATH HOSTPATH or the reverse.
    Cp(container::files::CpArgs),
    /// Show the files a container added (A), changed (C) or deleted (D).
    Diff(container::files::DiffArgs),
    /// Remove containers.
    Rm(container::remove::RmArgs),
    /// List containers.
    Ps(container::ps::PsArgs),
    /// Show a container's output.
    Logs(container::logs::LogsArgs),
    /// Show low-level information on a container (JSON).
    Inspect(container::inspect::InspectArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(container::lifecycle::WaitArgs),
    /// Show the processes running in a container.
    Top(container::inspect::TopArgs),
    /// Run a command in a running container.
    Exec(container::exec::ExecArgs),
    /// Show CPU, memory and process use of running containers.
    Stats(container::inspect::StatsArgs),
    /// Show what happened to containers: created, started, refused, signalled, exited, removed.
    Events(system::EventsArgs),
    /// List a container's published ports.
    Port(network::PortArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Talk CRI to containerd as kubelet does: pods, their containers, exec (crictl's
    /// commands).
    Cri(cri::CriArgs),
    /// Run a multi-container application from a compose file (docker compose's commands).
    Compose(compose::ComposeArgs),
    /// List images.
    Images(image::ImagesArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Show how an image was made, one layer or instruction per line.
    History(build::HistoryArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Import a root filesystem tarball as an image.
    Import(image::ImportArgs),
    /// Remove images.
    Rmi(image::RmiArgs),
    /// Give an image a new name.
    Tag(image::TagArgs),
    /// Save images to an OCI image layout tar (docker load accepts it too).
    Save(transfer::SaveArgs),
    /// Load images from an OCI layout or docker save archive.
    Load(transfer::LoadArgs),
    /// Write a container's filesystem as a tar.
    Export(transfer::ExportArgs),
    /// Push an image to a registry (HTTPS; plain HTTP to loopback or insecure-registries).
    Push(transfer::PushArgs),
    /// Pull an image from a registry (nginx = docker.io/library/nginx:latest).
    Pull(transfer::PullArgs),
    /// Log in to a registry (credentials saved in Docker's ~/.docker/config.json).
    Login(transfer::LoginArgs),
    /// Forget the credentials for a registry.
    Logout(transfer::LogoutArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// The low-level OCI runtime with runc's command line (what Docker, Podman and containerd
    /// call; also answers as `pier-runc`).
    Runtime(runtime::RuntimeArgs),
    /// Benchmark native vs pier vs runc/crun/podman vs a VM; writes results/<timestamp>/.
    Bench(pier_bench_cli::Args),
    /// Manage pier itself (clean-up, disk use, information).
    #[command(subcommand)]
    System(system::SystemCommand),
    /// The guided labs: start one, check your work, get a hint, reset.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Generate documentation from pier's own definitions (for the book).
    #[command(subcommand, hide = true)]
    Docs(docs::DocsCommand),
}

/// Parses, runs, and returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A detached container's monitor: pier executed again by `pier run -d` / `pier start`,
    // before anything else of the command line runs (see the engine's container::monitor).
    pier_engine::container::monitor::serve_from_this_binary();
    if args
        .get(1)
        .is_some_and(|a| a == pier_engine::container::monitor::ENTRY)
    {
        return pier_engine::container::monitor::main(&args[2..]);
    }
    // runc's command line: under a runc name, or after `runtime` (whose own --root is runc's
    // state directory, not pier's root: split before clap sees it). It seals itself.
    if args.first().is_some_and(|a| runtime::invoked_as_runc(a)) {
        // A runc name is runc alone: no pier root, state only under --root.
        return runtime::main(args, None);
    }
    if let Some((pier_root, rest)) = runtime::split_command_line(&args) {
        return runtime::main(rest, pier_root.as_deref());
    }
    seal::before_parsing();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = output::exit_code(&e, 125);
            eprintln!("pier: {}", output::one_line(&e));
            code
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    seal::after_parsing(&cli)?;
    if let Command::Bench(a) = cli.command {
        return bench::bench(a);
    }
    if let Command::Runtime(args) = cli.command {
        // The low level works on bundles alone: no engine, no image store.
        return Ok(runtime::run(args, Some(&cli.root)));
    }
    if let Command::Lab(cmd) = cli.command {
        // The labs open the engine themselves (through the labs crate).
        return lab::lab(&cli.root, cmd);
    }
    if let Command::Docs(cmd) = cli.command {
        return docs::docs(cmd);
    }
    if let Command::Cri(args) = cli.command {
        // A client of containerd's CRI plugin: pier's own store is not involved.
        return cri::cri(args);
    }
    if let Command::Compose(a) = &cli.command {
        if !compose::needs_engine(a) {
            return compose::config(a);
        }
    }
    let engine = Engine::open(&cli.root)?;
    // Every command first cleans up after the containers whose watcher died that it may
    // use: all of them, or only those it names (see `repair_scope`).
    match repair_scope::of(&cli.command) {
        repair_scope::Scope::All => engine.reconcile()?,
        repair_scope::Scope::Named(keys) => engine.reconcile_named(&keys)?,
        repair_scope::Scope::Launch { names, joined } => {
            engine.reconcile_name_holders(&names)?;
            engine.reconcile_named(&joined)?;
        }
    }
    // And finishes the network tear-down of containers that exited: what it lists or
    // changes is then gone. Launching a container waits only if it joins a network.
    let launches = matches!(
        cli.command,
        Command::Run(_) | Command::Create(_) | Command::Start(_) | Command::Restart(_)
    );
    if !launches {
        engine.settle_network_teardown()?;
    }
    match cli.command {
        Command::Run(a) => container::create::run(&engine, a),
        Command::Create(a) => container::create::create(&engine, a),
        Command::Start(a) => container::lifecycle::start(&engine, a),
        Command::Stop(a) => container::lifecycle::stop(&engine, a),
        Command::Restart(a) => container::lifecycle::restart(&engine, a),
        Command::Kill(a) => container::lifecycle::kill(&engine, a),
        Command::Rename(a) => container::lifecycle::rename(&engine, a),
        Command::Attach(a) => container::attach::attach(&engine, a),
        Command::Commit(a) => build::commit(&engine, a),
        Command::Pause(a) => container::update::pause(&engine, a),
        Command::Unpause(a) => container::update::unpause(&engine, a),
        Command::Update(a) => container::update::update(&engine, a),
        Command::Cp(a) => container::files::cp(&engine, a),
        Command::Diff(a) => container::files::diff(&engine, a),
        Command::Rm(a) => container::remove::rm(&engine, a),
        Command::Ps(a) => container::ps::ps(&engine, a),
        Command::Logs(a) => container::logs::logs(&engine, a),
        Command::Inspect(a) => container::inspect::inspect(&engine, a),
        Command::Wait(a) => container::lifecycle::wait(&engine, a),
        Command::Top(a) => container::inspect::top(&engine, a),
        Command::Exec(a) => container::exec::exec(&engine, a),
        Command::Stats(a) => container::inspect::stats(&engine, a),
        Command::Events(a) => system::events(&engine, a),
        Command::Port(a) => network::port(&engine, a),
        Command::Container(c) => container::container(&engine, c),
        Command::Network(c) => network::network(&engine, c),
        Command::Volume(c) => volume::volume(&engine, c),
        Command::Compose(a) => compose::compose(&engine, a),
        Command::Images(a) => image::images(&engine, a),
        Command::Build(a) => build::build(&engine, a),
        Command::History(a) => build::history(&engine, a),
        Command::Builder(c) => build::builder(&engine, c),
        Command::Import(a) => image::import(&engine, a),
        Command::Rmi(a) => image::rmi(&engine, a),
        Command::Tag(a) => image::tag(&engine, a),
        Command::Image(c) => image::image(&engine, c),
        Command::Save(a) => transfer::save(&engine, a),
        Command::Load(a) => transfer::load(&engine, a),
        Command::Export(a) => transfer::export(&engine, a),
        Command::Push(a) => transfer::push(&engine, a),
        Command::Pull(a) => transfer::pull(&engine, a),
        Command::Login(a) => transfer::login(&engine, a),
        Command::Logout(a) => transfer::logout(&engine, a),
        Command::System(c) => system::system(&engine, c),
        Command::Runtime(_)
        | Command::Lab(_)
        | Command::Docs(_)
        | Command::Bench(_)
        | Command::Cri(_) => {
            unreachable!("handled above")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
