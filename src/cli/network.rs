//! `pier network ...` and `pier port`.

use super::{filter, format, output};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use pier_engine::container::config::NetworkMode;
use pier_engine::container::Engine;
use pier_engine::network::{NetworkInfo, NetworkManager, DEFAULT_NETWORK};

/// `pier network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove networks (they must have no containers).
    Rm(RmArgs),
    /// Remove user networks no container uses.
    Prune(PruneArgs),
    /// Show a network's subnet, bridge and containers (JSON).
    Inspect(InspectArgs),
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
    /// Set a label: KEY=VALUE (or KEY).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Network name.
    pub name: String,
}

/// `pier network ls`.
#[derive(Debug, Args)]
#[command(mut_arg("filters", |a| a.help(
    "Filter: name=REGEX, label=KEY[=VALUE], driver=bridge, type=custom|builtin, \
     dangling=true|false (repeatable: the same key ORed, different keys ANDed)"
)))]
pub struct LsArgs {
    #[command(flatten)]
    pub list: filter::ListArgs,
}

/// `pier network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(short = 'f', long, help = format::HELP)]
    pub format: Option<String>,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Column titles of `network ls --format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Subnet", "SUBNET"),
    ("Gateway", "GATEWAY"),
    ("Bridge", "BRIDGE"),
    ("Containers", "CONTAINERS"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("Internal", "INTERNAL"),
    ("IPv6", "IPV6"),
];

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
            let labels = filter::parse_labels(&a.labels)?;
            let info =
                nets.create_labelled(&a.name, a.subnet.as_deref(), a.gateway.as_deref(), labels)?;
            println!("{}", info.name);
        }
        NetworkCommand::Ls(a) => ls(engine, &nets, a)?,
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
            let fmt = format::Format::parse(a.format.as_deref())?;
            let infos = a
                .names
                .iter()
                .map(|n| inspect_json(&nets.inspect(n)?))
                .collect::<Result<Vec<_>>>()?;
            fmt.print_inspect(&infos)?;
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

/// `network inspect`'s object: Docker's fields (`Name`, `Driver`, `Labels`, `IPAM`,
/// `Containers`), then pier's own (`bridge`, `endpoints`, ...).
fn inspect_json(n: &NetworkInfo) -> Result<serde_json::Value> {
    let containers: serde_json::Map<String, serde_json::Value> = n
        .endpoints
        .iter()
        .map(|e| {
            (
                e.container_id.clone(),
                serde_json::json!({
                    "Name": e.container_name,
                    "IPv4Address": format!("{}/{}", e.endpoint.ip, e.endpoint.prefix),
                    "MacAddress": e.endpoint.mac,
                }),
            )
        })
        .collect();
    let mut v = serde_json::json!({
        "Name": n.name,
        "Id": n.name,
        "Driver": "bridge",
        "Scope": "local",
        "Labels": n.labels,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet, "Gateway": n.gateway.to_string()}]},
        "Containers": containers,
    });
    if let (Some(obj), serde_json::Value::Object(own)) =
        (v.as_object_mut(), serde_json::to_value(n)?)
    {
        obj.extend(own);
    }
    Ok(v)
}

/// `pier network ls`.
fn ls(engine: &Engine, nets: &NetworkManager, args: LsArgs) -> Result<()> {
    let fmt = format::Format::parse(args.list.format.as_deref())?;
    let filters = filter::Filters::parse(
        &args.list.filters,
        "network ls",
        &["name", "label", "driver", "type", "dangling"],
    )?;
    for t in filters.values("type") {
        if !matches!(t.as_str(), "custom" | "builtin") {
            bail!("invalid filter \"type={t}\": type is custom or builtin");
        }
    }
    let containers = engine.containers()?;
    let mut list = Vec::new();
    for n in nets.list()? {
        let builtin = n.name == DEFAULT_NETWORK;
        let used = !n.endpoints.is_empty()
            || containers
                .iter()
                .any(|c| matches!(&c.config.network, Some(NetworkMode::Bridge(b)) if *b == n.name));
        if filters.pass_name(&n.name)?
            && filters.pass_labels(&n.labels)
            && filters.pass("driver", |d| d == "bridge")
            && filters.pass("type", |t| (t == "builtin") == builtin)
            && filters.pass_dangling(!used && !builtin)
        {
            list.push(n);
        }
    }
    if args.list.quiet {
        for n in &list {
            println!("{}", n.name);
        }
        return Ok(());
    }
    if !fmt.is_default() {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|n| {
                serde_json::json!({
                    "ID": n.name,
                    "Name": n.name,
                    "Driver": "bridge",
                    "Scope": "local",
                    "Subnet": n.subnet,
                    "Gateway": n.gateway.to_string(),
                    "Bridge": n.bridge,
                    "Containers": n.endpoints.len().to_string(),
                    "Labels": filter::labels_text(&n.labels),
                    "Label": n.labels,
                    "Internal": "false",
                    "IPv6": "false",
                })
            })
            .collect();
        return fmt.print(&items, HEADERS);
    }
    let rows: Vec<Vec<String>> = list
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
    Ok(())
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
