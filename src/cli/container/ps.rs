//! `pier ps` (`pier container ls`): the container table, its filters and Docker's STATUS words.

use crate::cli::{filter, format, output};
use anyhow::{bail, Context, Result};
use clap::Args;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::status_words::state_word;
pub(crate) use pier_engine::container::status_words::status_text;
use pier_engine::container::Engine;

/// `pier ps`.
#[derive(Debug, Args)]
#[command(mut_arg("filters", |a| a.help(
    "Filter: id, name, label, status, ancestor, exited, before, since, network (KEY=VALUE, \
     repeatable: the same key ORed, different keys ANDed)"
)))]
pub struct PsArgs {
    /// Show all containers (default: running only).
    #[arg(short = 'a', long)]
    pub all: bool,
    #[command(flatten)]
    pub list: filter::ListArgs,
    /// Do not truncate IDs and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show the N most recently created containers (all states).
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the most recently created container (all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
}

/// Column titles of `ps --format 'table ...'`, as Docker names them.
const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

const PS_FILTERS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "network",
];

/// The containers `ps` lists: running ones (all with `-a` or a status/exited filter), then
/// the filters.
fn ps_select(engine: &Engine, args: &PsArgs) -> Result<Vec<ContainerRecord>> {
    let filters = filter::Filters::parse(&args.list.filters, "ps", PS_FILTERS)?;
    for s in filters.values("status") {
        if !matches!(
            s.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            bail!("invalid filter \"status={s}\": status is created, restarting, running, removing, paused, exited or dead");
        }
    }
    let exited: Vec<i32> = filters
        .values("exited")
        .iter()
        .map(|v| {
            v.parse()
                .with_context(|| format!("invalid filter \"exited={v}\": expected an exit code"))
        })
        .collect::<Result<_>>()?;
    let all_recs = engine.containers()?;
    let created_of = |key: &str| -> Result<String> {
        all_recs
            .iter()
            .find(|r| r.name == key || r.id.starts_with(key))
            .map(|r| r.created.clone())
            .with_context(|| format!("invalid filter: no such container: {key}"))
    };
    let window = filters.created_window(created_of)?;
    let images = engine.images()?;
    let ancestors: Vec<(String, Option<String>)> = filters
        .values("ancestor")
        .iter()
        .map(|a| (a.clone(), images.resolve(a).ok().map(|i| i.id)))
        .collect();
    let limit = if args.latest { Some(1) } else { args.last };
    let show_all = args.all || limit.is_some() || filters.has("status") || filters.has("exited");
    let mut out = Vec::new();
    for r in all_recs.iter() {
        let keep = (show_all || r.status == ContainerStatus::Running || r.restarting)
            && filters.pass("id", |v| r.id.starts_with(v))
            && filters.pass_name(&r.name)?
            && filters.pass_labels(&r.config.labels)
            && filters.pass("status", |v| v == state_word(r))
            && (exited.is_empty()
                || r.status == ContainerStatus::Exited
                    && exited.contains(&r.exit_code.unwrap_or(0)))
            && window.contains(&r.created)
            && (ancestors.is_empty()
                || ancestors.iter().any(|(name, id)| {
                    r.image == *name
                        || r.image.strip_suffix(":latest") == Some(name.as_str())
                        || id.as_deref() == Some(r.image_id.as_str())
                }))
            && filters.pass("network", |n| {
                r.config.network.as_ref().is_some_and(|m| m.display() == n)
            });
        if keep {
            out.push(r.clone());
        }
    }
    // Newest first, as Docker lists them.
    out.sort_by(|a, b| b.created.cmp(&a.created));
    if let Some(n) = limit {
        out.truncate(n);
    }
    Ok(out)
}

/// `0.0.0.0:8080->80/tcp, ...` while it runs (host ports as picked), as Docker shows them.
fn published_ports(r: &ContainerRecord) -> String {
    r.network
        .clone()
        .filter(|_| r.status == ContainerStatus::Running)
        .and_then(|v| serde_json::from_value::<pier_engine::network::Endpoint>(v).ok())
        .map(|ep| {
            ep.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// One container as `ps --format` sees it (Docker's field names).
fn ps_item(r: &ContainerRecord, no_trunc: bool) -> serde_json::Value {
    let cmd = format!("\"{}\"", r.args.join(" "));
    let labels = filter::labels_text(&r.config.labels);
    let mounts = r
        .config
        .volume_mounts
        .iter()
        .filter_map(|m| m.name.clone())
        .chain(
            r.config
                .volumes
                .iter()
                .map(|b| b.source.display().to_string()),
        )
        .collect::<Vec<_>>()
        .join(",");
    serde_json::json!({
        "ID": if no_trunc { r.id.as_str() } else { r.short_id() },
        "Image": r.image,
        "Command": if no_trunc { cmd } else { output::ellipsize(&cmd, 22) },
        "CreatedAt": output::docker_time(&r.created),
        "RunningFor": format!("{} ago", output::since(&r.created)),
        "Ports": published_ports(r),
        "State": state_word(r),
        "Status": status_text(r),
        "Size": "",
        "Names": r.name,
        "Labels": labels,
        "Label": r.config.labels,
        "Mounts": mounts,
        "Networks": r.config.network.as_ref().map(|n| n.display()).unwrap_or_else(|| "none".into()),
        "LocalVolumes": r.config.volume_mounts.len().to_string(),
    })
}

/// `pier ps`.
pub fn ps(engine: &Engine, args: PsArgs) -> Result<i32> {
    let fmt = format::Format::parse(args.list.format.as_deref())?;
    let recs = ps_select(engine, &args)?;
    if args.list.quiet {
        for r in &recs {
            println!(
                "{}",
                if args.no_trunc {
                    r.id.as_str()
                } else {
                    r.short_id()
                }
            );
        }
        return Ok(0);
    }
    let items: Vec<serde_json::Value> = recs.iter().map(|r| ps_item(r, args.no_trunc)).collect();
    if !fmt.is_default() {
        fmt.print(&items, PS_HEADERS)?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            [
                "ID",
                "Image",
                "Command",
                "RunningFor",
                "Status",
                "Networks",
                "Names",
            ]
            .iter()
            .map(|k| i[*k].as_str().unwrap_or_default().to_string())
            .collect()
        })
        .collect();
    output::table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "NETWORK",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}
