//! `pier network ...` and `pier port`.

use super::output;
use anyhow::Result;
use clap::{Args, Subcommand};
use pier_runtime::engine::Engine;

/// `pier network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    Ls,
    /// Remove networks (they must have no containers).
    Rm(RmArgs),
    /// Remove user networks no container uses.
    Prune(PruneArgs),
    /// Show a network's subnet, bridge and containers (JSON).
    Inspect(NamesArgs),
    /// Connect a running container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

/// `pier network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form (default: the next free 10.89.N.0/24).
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway address (default: the subnet's first address).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Network name.
    pub name: String,
}

/// Network names.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `pier network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail on networks that do not exist.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `pier network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub force: output::Force,
}

/// `pier network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Extra names for the container on this network.
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// `pier network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// `pier network ...`.
pub fn network(engine: &Engine, cmd: NetworkCommand) -> Result<i32> {
    let nets = engine.networks()?;
    match cmd {
        NetworkCommand::Create(a) => {
            let info = nets.create(&a.name, a.subnet.as_deref(), a.gateway.as_deref())?;
            println!("{}", info.name);
        }
        NetworkCommand::Ls => {
            let rows: Vec<Vec<String>> = nets
                .list()?
                .into_iter()
                .map(|n| {
                    vec![
                        n.name,
                        n.bridge,
                        n.subnet,
                        n.gateway.to_string(),
                        n.endpoints.len().to_string(),
                    ]
                })
                .collect();
            output::table(
                &["NAME", "BRIDGE", "SUBNET", "GATEWAY", "CONTAINERS"],
                &rows,
            );
        }
        NetworkCommand::Rm(a) => {
            let existing: Vec<String> = nets.list()?.into_iter().map(|n| n.name).collect();
            for n in &a.names {
                if a.force && !existing.contains(n) {
                    continue;
                }
                nets.remove(n)?;
                println!("{n}");
            }
        }
        NetworkCommand::Prune(a) => {
            if !a.force.confirmed(
                "This will remove all custom networks not used by at least one container.",
            )? {
                return Ok(0);
            }
            output::pruned("Networks", &engine.prune_unused_networks()?, None);
        }
        NetworkCommand::Inspect(a) => {
            let infos = a
                .names
                .iter()
                .map(|n| nets.inspect(n))
                .collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&infos)?);
        }
        NetworkCommand::Connect(a) => {
            let ep = engine.network_connect(&a.network, &a.container, &a.aliases)?;
            println!("{} connected to {} as {}", a.container, a.network, ep.ip);
        }
        NetworkCommand::Disconnect(a) => {
            engine.network_disconnect(&a.network, &a.container)?;
        }
    }
    Ok(0)
}

/// `pier port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container.
    pub container: String,
}

/// `pier port`: `80/tcp -> 0.0.0.0:8080`, as Docker prints it.
pub fn port(engine: &Engine, args: PortArgs) -> Result<i32> {
    for p in engine.ports(&args.container)? {
        let ip = p
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        println!(
            "{}/{} -> {ip}:{}",
            p.container_port, p.protocol, p.host_port
        );
    }
    Ok(0)
}
