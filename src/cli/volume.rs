//! `pier volume`: create, ls, inspect, rm, prune.

use super::{filter, format, output};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use pier_engine::container::Engine;
use pier_engine::volume::Volume;

/// `pier volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show volumes' details (JSON).
    Inspect(InspectArgs),
    /// Remove volumes (never one a container uses).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove volumes no container uses (anonymous ones; every one with -a).
    Prune(PruneArgs),
}

/// `pier volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Set a label: KEY=VALUE (or KEY).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Volume driver (only `local`).
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
    pub name: Option<String>,
}

/// `pier volume ls`.
#[derive(Debug, Args)]
#[command(mut_arg("filters", |a| a.help(
    "Filter: name=REGEX, label=KEY[=VALUE], dangling=true|false (repeatable: the same key \
     ORed, different keys ANDed)"
)))]
pub struct LsArgs {
    #[command(flatten)]
    pub list: filter::ListArgs,
}

/// `pier volume inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(short = 'f', long, help = format::HELP)]
    pub format: Option<String>,
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `pier volume rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail on volumes that do not exist.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Volumes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `pier volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub force: output::Force,
    /// Remove every unused volume, named ones too (default: anonymous ones only).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only volumes matching: label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
}

/// `pier volume ...`.
pub fn volume(engine: &Engine, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                bail!(
                    "volume driver {:?} is not available: pier has the local driver only",
                    a.driver
                );
            }
            let labels = filter::parse_labels(&a.labels)?;
            let v = engine.create_volume(a.name.as_deref(), labels)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => ls(engine, a),
        VolumeCommand::Inspect(a) => {
            let fmt = format::Format::parse(a.format.as_deref())?;
            let store = engine.volumes()?;
            let out: Vec<serde_json::Value> = a
                .names
                .iter()
                .map(|n| store.get(n).map(|v| v.inspect_json()))
                .collect::<Result<_>>()?;
            fmt.print_inspect(&out)?;
            Ok(0)
        }
        VolumeCommand::Rm(a) => {
            let store = engine.volumes()?;
            let mut failed = false;
            for n in &a.names {
                if a.force && !store.exists(n) {
                    continue;
                }
                match engine.remove_volume(n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("pier: {}", super::output::one_line(&e));
                        failed = true;
                    }
                }
            }
            Ok(i32::from(failed))
        }
        VolumeCommand::Prune(a) => {
            let filters = a
                .filters
                .iter()
                .map(|f| filter::LabelFilter::parse(f))
                .collect::<Result<Vec<_>>>()?;
            let what = if a.all {
                "all local volumes not used by at least one container"
            } else {
                "anonymous local volumes not used by at least one container"
            };
            if !a.force.confirmed(&format!("This will remove {what}."))? {
                return Ok(0);
            }
            let report =
                engine.prune_volumes(a.all, &|v| !filters.iter().all(|f| f.matches(&v.labels)))?;
            output::pruned("Volumes", &report.removed, Some(report.reclaimed));
            Ok(0)
        }
    }
}

/// Column titles of `volume ls --format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("CreatedAt", "CREATED AT"),
];

/// `pier volume ls`: Docker's filters, the same key ORed, different keys ANDed.
fn ls(engine: &Engine, args: LsArgs) -> Result<i32> {
    let fmt = format::Format::parse(args.list.format.as_deref())?;
    let filters = filter::Filters::parse(
        &args.list.filters,
        "volume ls",
        &["name", "label", "dangling"],
    )?;
    let containers = engine.containers()?;
    let in_use = |name: &str| {
        containers.iter().any(|c| {
            c.config
                .volume_mounts
                .iter()
                .any(|m| m.name.as_deref() == Some(name))
        })
    };
    let mut volumes: Vec<Volume> = Vec::new();
    for v in engine.volumes()?.list()? {
        if filters.pass_name(&v.name)?
            && filters.pass_labels(&v.labels)
            && filters.pass_dangling(!in_use(&v.name))
        {
            volumes.push(v);
        }
    }
    if args.list.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    if !fmt.is_default() {
        let items: Vec<serde_json::Value> = volumes
            .iter()
            .map(|v| {
                let mut item = v.inspect_json();
                item["Labels"] = filter::labels_text(&v.labels).into();
                item["Label"] = serde_json::json!(v.labels);
                item
            })
            .collect();
        fmt.print(&items, HEADERS)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|v| vec!["local".to_string(), v.name.clone()])
        .collect();
    output::table(&["DRIVER", "VOLUME NAME"], &rows);
    Ok(0)
}
