//! `pier cri`: a small CRI client (what kubelet says to containerd), since crictl is not
//! packaged: list, make, start, stop and remove pods and their containers, run commands in
//! them. Output as crictl prints it. The client itself is the pier-cri crate.

use super::output;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pier_cri::{api, config, Client};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `pier cri [--endpoint E] ...`.
#[derive(Debug, Args)]
pub struct CriArgs {
    /// The CRI runtime's socket (containerd's by default).
    #[arg(long, short = 'r', env = "CONTAINER_RUNTIME_ENDPOINT", default_value = pier_cri::DEFAULT_ENDPOINT)]
    pub endpoint: String,
    #[command(subcommand)]
    pub command: CriCommand,
}

/// The subcommands, named as crictl's.
#[derive(Debug, Subcommand)]
pub enum CriCommand {
    /// The runtime's name and CRI version.
    Version,
    /// List pods.
    Pods,
    /// List containers (running ones; every one with -a).
    Ps(PsArgs),
    /// List the runtime's images.
    Images,
    /// Run a pod from a pod configuration file (crictl's JSON); prints its ID.
    Runp(RunpArgs),
    /// Create a container in a pod; prints its ID.
    Create(CreateArgs),
    /// Start created containers.
    Start(IdsArgs),
    /// Stop running containers.
    Stop(StopArgs),
    /// Remove containers.
    Rm(IdsArgs),
    /// Stop pods (their containers, their sandbox, their network).
    Stopp(IdsArgs),
    /// Remove stopped pods.
    Rmp(IdsArgs),
    /// Run a command in a running container (ExecSync) and exit with its exit code.
    Exec(ExecArgs),
    /// A pod's status and the runtime's details of it, as JSON.
    Inspectp(IdArgs),
    /// A container's status and the runtime's details of it, as JSON.
    Inspect(IdArgs),
    /// A container's CPU, memory and writable-layer use.
    Stats(IdArgs),
    /// Print a private containerd configuration with a runtime handler that runs pier.
    ContainerdConfig(super::cri_containerd_config::ContainerdConfigArgs),
}

/// `pier cri ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Every container, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only this pod's containers.
    #[arg(short, long)]
    pub pod: Option<String>,
    /// Print IDs only.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `pier cri runp`.
#[derive(Debug, Args)]
pub struct RunpArgs {
    /// The runtime handler (the RuntimeClass's `handler`, e.g. `pier`); the runtime's
    /// default when empty.
    #[arg(long, default_value = "")]
    pub runtime: String,
    /// The pod configuration (JSON).
    pub pod_config: String,
}

/// `pier cri create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The pod's ID (from `runp`).
    pub pod_id: String,
    /// The container configuration (JSON).
    pub container_config: String,
    /// The pod's configuration, as given to `runp`.
    pub pod_config: String,
}

/// Subcommands taking container or pod IDs.
#[derive(Debug, Args)]
pub struct IdsArgs {
    /// IDs.
    #[arg(required = true)]
    pub ids: Vec<String>,
}

/// Subcommands taking one ID.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The ID.
    pub id: String,
}

/// `pier cri stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds between the stop signal and SIGKILL.
    #[arg(short, long, default_value_t = 10)]
    pub timeout: u64,
    /// Container IDs.
    #[arg(required = true)]
    pub ids: Vec<String>,
}

/// `pier cri exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Seconds before the command is killed (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// The container.
    pub id: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub cmd: Vec<String>,
}

/// Runs `pier cri ...`; returns the exit code.
pub fn cri(args: CriArgs) -> Result<i32> {
    if let CriCommand::ContainerdConfig(a) = args.command {
        // A file to write, not a conversation: no runtime to connect to yet.
        return super::cri_containerd_config::containerd_config(a);
    }
    let mut c = Client::connect(&args.endpoint)?;
    match args.command {
        CriCommand::Version => {
            let v = c.version()?;
            println!("Version:  {}", v.version);
            println!("RuntimeName:  {}", v.runtime_name);
            println!("RuntimeVersion:  {}", v.runtime_version);
            println!("RuntimeApiVersion:  {}", v.runtime_api_version);
        }
        CriCommand::Pods => pods(&mut c)?,
        CriCommand::Ps(a) => ps(&mut c, a)?,
        CriCommand::Images => images(&mut c)?,
        CriCommand::Runp(a) => {
            let pod = read_pod(&a.pod_config)?;
            println!("{}", c.run_pod(pod, &a.runtime)?);
        }
        CriCommand::Create(a) => {
            let pod = read_pod(&a.pod_config)?;
            let text = read(&a.container_config)?;
            let ctr = config::container_from_json(&a.container_config, &text)?;
            println!("{}", c.create_container(&a.pod_id, ctr, pod)?);
        }
        CriCommand::Start(a) => each(&a.ids, |id| c.start_container(id))?,
        CriCommand::Stop(a) => {
            let t = Duration::from_secs(a.timeout);
            each(&a.ids, |id| c.stop_container(id, t))?
        }
        CriCommand::Rm(a) => each(&a.ids, |id| c.remove_container(id))?,
        CriCommand::Stopp(a) => {
            for id in &a.ids {
                c.stop_pod(id)?;
                println!("Stopped sandbox {id}");
            }
        }
        CriCommand::Rmp(a) => {
            for id in &a.ids {
                c.remove_pod(id)?;
                println!("Removed sandbox {id}");
            }
        }
        CriCommand::Exec(a) => {
            let out = c.exec_sync(&a.id, &a.cmd, Duration::from_secs(a.timeout))?;
            std::io::stdout().write_all(&out.stdout)?;
            std::io::stderr().write_all(&out.stderr)?;
            return Ok(out.exit_code);
        }
        CriCommand::Inspectp(a) => {
            let s = c.pod_status(&a.id, true)?;
            print_json(&s.status, &s.info)?;
        }
        CriCommand::Inspect(a) => {
            let s = c.container_status(&a.id, true)?;
            print_json(&s.status, &s.info)?;
        }
        CriCommand::Stats(a) => stats(&mut c, &a.id)?,
        CriCommand::ContainerdConfig(_) => unreachable!("handled before connecting"),
    }
    Ok(0)
}

/// Runs `f` on every ID, printing each as crictl does.
fn each(ids: &[String], mut f: impl FnMut(&str) -> Result<(), pier_cri::Error>) -> Result<()> {
    for id in ids {
        f(id)?;
        println!("{id}");
    }
    Ok(())
}

fn read(file: &str) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {file}"))
}

fn read_pod(file: &str) -> Result<api::PodSandboxConfig> {
    Ok(config::pod_from_json(file, &read(file)?)?)
}

/// `{"status": ..., "info": ...}` with the runtime's info strings (JSON themselves) parsed.
fn print_json<T: serde::Serialize>(
    status: &Option<T>,
    info: &std::collections::HashMap<String, String>,
) -> Result<()> {
    let info: serde_json::Map<String, serde_json::Value> = info
        .iter()
        .map(|(k, v)| {
            let v = serde_json::from_str(v).unwrap_or_else(|_| v.clone().into());
            (k.clone(), v)
        })
        .collect();
    let out = serde_json::json!({ "status": status, "info": info });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// crictl's short ID: the first 13 characters.
fn short(id: &str) -> String {
    id.chars().take(13).collect()
}

/// "5 seconds ago" from CRI's nanoseconds since the epoch.
fn ago(nanos: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    let since = SystemTime::now().duration_since(t).unwrap_or_default();
    let when = humantime::format_rfc3339_seconds(SystemTime::now() - since).to_string();
    format!("{} ago", pier_engine::container::status_words::since(&when))
}

fn pods(c: &mut Client) -> Result<()> {
    let mut pods = c.pods()?;
    pods.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|p| {
            let m = p.metadata.clone().unwrap_or_default();
            vec![
                short(&p.id),
                ago(p.created_at),
                state_word(
                    api::PodSandboxState::try_from(p.state)
                        .ok()
                        .map(|s| s.as_str_name()),
                ),
                m.name,
                m.namespace,
                m.attempt.to_string(),
                if p.runtime_handler.is_empty() {
                    "(default)".into()
                } else {
                    p.runtime_handler.clone()
                },
            ]
        })
        .collect();
    output::table(
        &[
            "POD ID",
            "CREATED",
            "STATE",
            "NAME",
            "NAMESPACE",
            "ATTEMPT",
            "RUNTIME",
        ],
        &rows,
    );
    Ok(())
}

/// `SANDBOX_READY` → `Ready`, `CONTAINER_RUNNING` → `Running`, as crictl shows states.
fn state_word(name: Option<&str>) -> String {
    let Some(name) = name else {
        return "Unknown".into();
    };
    let word = name.rsplit('_').next().unwrap_or(name).to_lowercase();
    let mut chars = word.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => word,
    }
}

fn ps(c: &mut Client, a: PsArgs) -> Result<()> {
    let pods: std::collections::HashMap<String, String> = c
        .pods()?
        .into_iter()
        .map(|p| (p.id, p.metadata.map(|m| m.name).unwrap_or_default()))
        .collect();
    let mut ctrs = c.containers(a.pod.as_deref())?;
    ctrs.retain(|x| a.all || x.state == api::ContainerState::ContainerRunning as i32);
    ctrs.sort_by_key(|x| std::cmp::Reverse(x.created_at));
    if a.quiet {
        for x in &ctrs {
            println!("{}", x.id);
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = ctrs
        .iter()
        .map(|x| {
            let m = x.metadata.clone().unwrap_or_default();
            vec![
                short(&x.id),
                output::ellipsize(&x.image_ref, 40),
                ago(x.created_at),
                state_word(
                    api::ContainerState::try_from(x.state)
                        .ok()
                        .map(|s| s.as_str_name()),
                ),
                m.name,
                m.attempt.to_string(),
                short(&x.pod_sandbox_id),
                pods.get(&x.pod_sandbox_id).cloned().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "CONTAINER",
            "IMAGE",
            "CREATED",
            "STATE",
            "NAME",
            "ATTEMPT",
            "POD ID",
            "POD",
        ],
        &rows,
    );
    Ok(())
}

fn images(c: &mut Client) -> Result<()> {
    let mut rows = Vec::new();
    for i in c.images()? {
        let id = short(i.id.trim_start_matches("sha256:"));
        let size = output::size(i.size);
        if i.repo_tags.is_empty() {
            rows.push(vec![
                "<none>".into(),
                "<none>".into(),
                id.clone(),
                size.clone(),
            ]);
        }
        for t in &i.repo_tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            rows.push(vec![repo.into(), tag.into(), id.clone(), size.clone()]);
        }
    }
    output::table(&["IMAGE", "TAG", "IMAGE ID", "SIZE"], &rows);
    Ok(())
}

fn stats(c: &mut Client, id: &str) -> Result<()> {
    let s = c.container_stats(id)?;
    let cpu = s
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map_or(0, |v| v.value);
    let mem = s
        .memory
        .and_then(|m| m.working_set_bytes)
        .map_or(0, |v| v.value);
    let disk = s
        .writable_layer
        .and_then(|w| w.used_bytes)
        .map_or(0, |v| v.value);
    let name = s.attributes.and_then(|a| a.metadata).map(|m| m.name);
    output::table(
        &["CONTAINER", "NAME", "CPU (core ns)", "MEM", "DISK"],
        &[vec![
            short(id),
            name.unwrap_or_default(),
            cpu.to_string(),
            output::size(mem),
            output::size(disk),
        ]],
    );
    Ok(())
}
