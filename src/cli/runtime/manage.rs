//! `ps`, `pause`, `resume`, `update`, `events`: looking at and adjusting a running container.

use super::args::{EventsArgs, Format, PsArgs, UpdateArgs};
use super::Ctx;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use pier_oci::container::{Container, Status};
use serde_json::{json, Map, Value};
use std::io::Read;

/// `ps`.
pub fn ps(ctx: &Ctx, a: &PsArgs) -> Result<i32> {
    let c = Container::load(&ctx.root, &a.id)?;
    let pids = c.cgroup()?.pids()?;
    if a.format == Format::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps printed no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// `pause`.
pub fn pause(ctx: &Ctx, id: &str) -> Result<i32> {
    Container::load(&ctx.root, id)?.pause()?;
    Ok(0)
}

/// `resume`.
pub fn resume(ctx: &Ctx, id: &str) -> Result<i32> {
    Container::load(&ctx.root, id)?.resume()?;
    Ok(0)
}

/// `update`.
pub fn update(ctx: &Ctx, a: &UpdateArgs) -> Result<i32> {
    let c = Container::load(&ctx.root, &a.id)?;
    let resources: LinuxResources = match &a.resources {
        Some(path) => {
            let mut data = Vec::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("reading the resources from stdin")?;
            } else {
                data =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            }
            serde_json::from_slice(&data).context("parsing the resources (linux.resources JSON)")?
        }
        None => serde_json::from_value(resources_from_flags(a)?)
            .context("building the resources from the flags")?,
    };
    c.update(&resources)?;
    Ok(0)
}

/// runc's individual `update` flags as a linux.resources object.
fn resources_from_flags(a: &UpdateArgs) -> Result<Value> {
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
        match v.as_deref() {
            None => Ok(None),
            Some("-1") => Ok(Some(-1)),
            Some(text) => {
                let n = pier_engine::units::parse_size(text)
                    .with_context(|| format!("--{flag} {text}"))?;
                Ok(Some(
                    i64::try_from(n).with_context(|| format!("--{flag} {text}: too large"))?,
                ))
            }
        }
    };
    let mut memory = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    let limit = bytes("memory", &a.memory)?;
    put(&mut memory, "limit", limit.map(Value::from));
    put(
        &mut memory,
        "reservation",
        bytes("memory-reservation", &a.memory_reservation)?.map(Value::from),
    );
    let swap = bytes("memory-swap", &a.memory_swap)?;
    // runc: removing the memory limit without naming swap also lifts the swap limit.
    let swap = swap.or((limit == Some(-1)).then_some(0));
    put(&mut memory, "swap", swap.map(Value::from));
    let mut cpu = Map::new();
    put(&mut cpu, "shares", a.cpu_share.map(Value::from));
    put(&mut cpu, "quota", a.cpu_quota.map(Value::from));
    put(&mut cpu, "period", a.cpu_period.map(Value::from));
    put(
        &mut cpu,
        "realtimeRuntime",
        a.cpu_rt_runtime.map(Value::from),
    );
    put(&mut cpu, "realtimePeriod", a.cpu_rt_period.map(Value::from));
    put(&mut cpu, "cpus", a.cpuset_cpus.clone().map(Value::from));
    put(&mut cpu, "mems", a.cpuset_mems.clone().map(Value::from));
    let mut out = Map::new();
    if !memory.is_empty() {
        out.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(l) = a.pids_limit {
        out.insert("pids".into(), json!({ "limit": l }));
    }
    if let Some(w) = a.blkio_weight {
        out.insert("blockIO".into(), json!({ "weight": w }));
    }
    Ok(Value::Object(out))
}

/// `events`: one stats event (`--stats`), or one every `--interval` until the container stops.
pub fn events(ctx: &Ctx, a: &EventsArgs) -> Result<i32> {
    if a.interval.is_zero() {
        bail!("--interval must be greater than 0");
    }
    loop {
        let c = Container::load(&ctx.root, &a.id)?;
        if c.status() == Status::Stopped {
            if a.stats {
                bail!("container {} is not running", a.id);
            }
            return Ok(0);
        }
        println!("{}", serde_json::to_string(&c.stats_event()?)?);
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(a.interval);
    }
}
