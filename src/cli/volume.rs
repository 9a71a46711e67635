//! `pier volume`: create, ls, inspect, rm, prune.

use super::output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_runtime::engine::Engine;
use pier_runtime::volume::Volume;
use std::collections::BTreeMap;

/// `pier volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show volumes' details (JSON).
    Inspect(NamesArgs),
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
pub struct LsArgs {
    /// Only names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter: name=TEXT, label=KEY[=VALUE], dangling=true|false (repeat to combine).
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
}

/// Volume names.
#[derive(Debug, Args)]
pub struct NamesArgs {
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
            let labels = parse_labels(&a.labels)?;
            let v = engine.create_volume(a.name.as_deref(), labels)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => ls(engine, a),
        VolumeCommand::Inspect(a) => {
            let store = engine.volumes()?;
            let out: Vec<serde_json::Value> = a
                .names
                .iter()
                .map(|n| store.get(n).map(|v| v.inspect_json()))
                .collect::<Result<_>>()?;
            println!("{}", serde_json::to_string_pretty(&out)?);
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
                        eprintln!("pier: {}", super::one_line(&e));
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
                .map(|f| LabelFilter::parse(f))
                .collect::<Result<Vec<_>>>()?;
            let what = if a.all {
                "all local volumes not used by at least one container"
            } else {
                "anonymous local volumes not used by at least one container"
            };
            if !a.force.confirmed(&format!("This will remove {what}."))? {
                return Ok(0);
            }
            let report = engine.prune_volumes(a.all, &|v| !filters.iter().all(|f| f.matches(v)))?;
            output::pruned("Volumes", &report.removed, Some(report.reclaimed));
            Ok(0)
        }
    }
}

/// `KEY=VALUE` (or `KEY`) labels.
fn parse_labels(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in items {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            bail!("invalid label {l:?}: expected KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `label=KEY[=VALUE]` or `label!=KEY[=VALUE]`.
struct LabelFilter {
    key: String,
    value: Option<String>,
    negate: bool,
}

impl LabelFilter {
    fn parse(text: &str) -> Result<LabelFilter> {
        let (negate, rest) = if let Some(r) = text.strip_prefix("label!=") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("label=") {
            (false, r)
        } else {
            bail!("invalid filter {text:?}: prune filters are label=KEY[=VALUE] or label!=KEY[=VALUE]");
        };
        let (key, value) = match rest.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (rest, None),
        };
        if key.is_empty() {
            bail!("invalid filter {text:?}: the label key is empty");
        }
        Ok(LabelFilter {
            key: key.to_string(),
            value,
            negate,
        })
    }

    fn matches(&self, v: &Volume) -> bool {
        let has = match (&self.value, v.labels.get(&self.key)) {
            (None, Some(_)) => true,
            (Some(want), Some(got)) => want == got,
            _ => false,
        };
        has != self.negate
    }
}

/// `pier volume ls`: Docker's filters, the same key ORed, different keys ANDed.
fn ls(engine: &Engine, args: LsArgs) -> Result<i32> {
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &args.filters {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("invalid filter {f:?}: expected KEY=VALUE"))?;
        if !matches!(k, "name" | "label" | "dangling") {
            bail!("invalid filter {f:?}: use name=, label= or dangling=");
        }
        if k == "dangling" && !matches!(v, "true" | "false" | "1" | "0") {
            bail!("invalid filter {f:?}: dangling takes true or false");
        }
        by_key.entry(k.to_string()).or_default().push(v.to_string());
    }
    let containers = engine.containers()?;
    let in_use = |name: &str| {
        containers.iter().any(|c| {
            c.config
                .volume_mounts
                .iter()
                .any(|m| m.name.as_deref() == Some(name))
        })
    };
    let volumes: Vec<Volume> = engine
        .volumes()?
        .list()?
        .into_iter()
        .filter(|v| {
            by_key.iter().all(|(k, values)| {
                values.iter().any(|want| match k.as_str() {
                    "name" => v.name.contains(want.as_str()),
                    "label" => LabelFilter::parse(&format!("label={want}"))
                        .map(|f| f.matches(v))
                        .unwrap_or(false),
                    _ => matches!(want.as_str(), "true" | "1") != in_use(&v.name),
                })
            })
        })
        .collect();
    if args.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|v| vec!["local".to_string(), v.name.clone()])
        .collect();
    output::table(&["DRIVER", "VOLUME NAME"], &rows);
    Ok(0)
}
