//! Looking at containers: `pier inspect`, `pier top`, `pier stats`.

use crate::cli::{format, output};
use anyhow::Result;
use clap::Args;
use pier_engine::container::inspect::TopProcess;
use pier_engine::container::Engine;
use std::time::Duration;

/// `pier inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format with a Go template, e.g. '{{.State.Pid}}' or '{{json .Config}}' (or json).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Containers (or images).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier inspect`.
pub fn inspect(engine: &Engine, args: InspectArgs) -> Result<i32> {
    let fmt = format::Format::parse(args.format.as_deref())?;
    // Like `docker inspect`, a name that is not a container may be an image.
    let values: Vec<serde_json::Value> = args
        .containers
        .iter()
        .map(|c| match engine.inspect(c) {
            Ok(v) => Ok(v),
            Err(e) => match engine.images().and_then(|s| s.resolve(c)) {
                Ok(img) => Ok(crate::cli::image::inspect_json(&img)),
                Err(_) => Err(e),
            },
        })
        .collect::<Result<_>>()?;
    fmt.print_inspect(&values)?;
    Ok(0)
}

/// `pier top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Container.
    pub container: String,
}

/// `pier top`.
pub fn top(engine: &Engine, args: TopArgs) -> Result<i32> {
    print_top(&engine.top(&args.container)?);
    Ok(0)
}

/// The table of `top`.
pub(crate) fn print_top(procs: &[TopProcess]) {
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| {
            let t = p.cpu_time.as_secs();
            vec![
                p.uid.to_string(),
                p.pid.to_string(),
                p.ppid.to_string(),
                format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
                p.command.clone(),
            ]
        })
        .collect();
    output::table(&["UID", "PID", "PPID", "TIME", "CMD"], &rows);
}

/// `pier stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    #[arg(long, help = format::HELP)]
    pub format: Option<String>,
    /// Containers (default: all running).
    pub containers: Vec<String>,
}

/// Column titles of `stats --format 'table ...'`.
const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("PIDs", "PIDS"),
];

/// One sample with Docker's field names (`.Name`, `.CPUPerc`, `.MemUsage`...) and pier's.
fn stats_item(s: &pier_engine::container::inspect::StatsSample) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(s)?;
    let mem_perc = if s.memory_limit > 0 {
        s.memory_usage as f64 * 100.0 / s.memory_limit as f64
    } else {
        0.0
    };
    if let Some(obj) = v.as_object_mut() {
        obj.extend([
            ("Container".into(), s.name.clone().into()),
            ("ID".into(), s.id.clone().into()),
            ("Name".into(), s.name.clone().into()),
            ("CPUPerc".into(), format!("{:.2}%", s.cpu_percent).into()),
            (
                "MemUsage".into(),
                format!(
                    "{} / {}",
                    output::mem(s.memory_usage),
                    output::mem(s.memory_limit)
                )
                .into(),
            ),
            ("MemPerc".into(), format!("{mem_perc:.2}%").into()),
            ("PIDs".into(), s.pids.to_string().into()),
        ]);
    }
    Ok(v)
}

/// `pier stats`.
pub fn stats(engine: &Engine, args: StatsArgs) -> Result<i32> {
    let fmt = format::Format::parse(args.format.as_deref())?;
    loop {
        let samples = engine.stats(&args.containers, Duration::from_secs(1))?;
        let items = samples.iter().map(stats_item).collect::<Result<Vec<_>>>()?;
        if !fmt.is_default() {
            fmt.print(&items, STATS_HEADERS)?;
        } else {
            if !args.no_stream {
                print!("\x1b[2J\x1b[H");
            }
            let rows: Vec<Vec<String>> = samples
                .iter()
                .zip(&items)
                .map(|(s, i)| {
                    let mut row: Vec<String> = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc"]
                        .iter()
                        .map(|k| i[*k].as_str().unwrap_or_default().to_string())
                        .collect();
                    row.push(match s.pids_limit {
                        Some(l) => format!("{} / {l}", s.pids),
                        None => s.pids.to_string(),
                    });
                    row
                })
                .collect();
            output::table(
                &[
                    "CONTAINER ID",
                    "NAME",
                    "CPU %",
                    "MEM USAGE / LIMIT",
                    "MEM %",
                    "PIDS",
                ],
                &rows,
            );
        }
        if args.no_stream {
            return Ok(0);
        }
    }
}
