//! Container commands: run, create, start, stop, restart, kill, rm, rename, ps, logs,
//! inspect, wait, top, exec, stats, and the `pier container` group (cp and diff are in
//! `container_fs.rs`).

use super::{filter, format, output};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_engine::container::config::{
    env_entry, read_env_file, HealthConfig, Limits, NetworkMode, RestartPolicy, RunConfig,
};
use pier_engine::container::exec::ExecRequest;
use pier_engine::container::inspect::TopProcess;
use pier_engine::container::logs::{self, LogOptions};
use pier_engine::container::mount_args::MountArgs;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::start::Attach;
use pier_engine::container::Engine;
use std::path::PathBuf;
use std::time::Duration;

/// The resource limit flags of `run`/`create` and `update`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Memory limit (e.g. 32m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (e.g. 0.5): a CFS quota.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Relative CPU weight (default 1024).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on (e.g. 0-1, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10 to 1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
}

impl LimitArgs {
    /// The limits, each error naming its flag.
    pub fn parse(&self) -> Result<Limits> {
        Limits::parse(
            self.memory.as_deref(),
            self.memory_swap.as_deref(),
            self.cpus.as_deref(),
            self.cpu_shares,
            self.cpuset_cpus.as_deref(),
            self.pids_limit,
            self.blkio_weight,
        )
    }
}

/// Options shared by `run` and `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from pier's environment).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (name or UID) and optional group: USER[:GROUP].
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Container hostname (default: the short container ID).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Mount the container's root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a host path (/HOST:CONTAINER), a named volume (NAME:CONTAINER, created if
    /// missing) or an anonymous volume (CONTAINER); OPTIONS: ro, rw, nocopy.
    #[arg(
        short = 'v',
        long = "volume",
        value_name = "[HOST|NAME:]CONTAINER[:OPTIONS]"
    )]
    pub volumes: Vec<String>,
    /// Mount in Docker's key=value form: type=bind|volume|tmpfs,source=..,target=..,readonly,
    /// volume-nocopy, volume-label=K=V, tmpfs-size=.., tmpfs-mode=...
    #[arg(long = "mount", value_name = "KEY=VALUE,...")]
    pub mounts: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS].
    #[arg(long = "tmpfs", value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Network: bridge (default), a user network's name, none, host, or container:NAME.
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp].
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish every exposed port to a random host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Run pier's init as PID 1 (reaps zombies, forwards signals).
    #[arg(long)]
    pub init: bool,
    /// Add a Linux capability.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Set a label: KEY=VALUE (or KEY).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Another name for the container on its network (user networks).
    #[arg(long = "network-alias", value_name = "NAME")]
    pub network_aliases: Vec<String>,
    /// Restart policy: no, on-failure[:MAX_RETRIES], always, unless-stopped (needs -d with
    /// run).
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Command to check the container's health (run with /bin/sh -c in the container).
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s, 1m30s).
    #[arg(
        long = "health-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", value_name = "N", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,
    /// Maximum time one health check may run.
    #[arg(
        long = "health-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Time after start during which failed checks do not count.
    #[arg(
        long = "health-start-period",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Disable the image's HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Image to create the container from.
    pub image: String,
    /// Command and arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `pier run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

impl CreateArgs {
    /// Validates every option; nothing is created when one is wrong.
    fn to_config(&self, auto_remove: bool) -> Result<RunConfig> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(read_env_file(f)?);
        }
        for e in &self.env {
            env.push(env_entry(e)?);
        }
        let limits = self.limits.parse()?;
        let network = match self.network.as_deref() {
            Some(n) => NetworkMode::parse(n)?,
            None => NetworkMode::Bridge(pier_engine::network::DEFAULT_NETWORK.to_string()),
        };
        if (!self.publish.is_empty() || self.publish_all)
            && !matches!(network, NetworkMode::Bridge(_))
        {
            bail!("-p/-P publish ports through a bridge network; with --network {} there is nothing to publish", network.display());
        }
        let network = Some(network);
        let mounts = MountArgs::parse(&self.volumes, &self.mounts, &self.tmpfs)?;
        let restart = match self.restart.as_deref() {
            Some(r) => RestartPolicy::parse(r)?,
            None => RestartPolicy::No,
        };
        if auto_remove && restart != RestartPolicy::No {
            bail!("conflicting options: --restart and --rm (a container that restarts is not removed when it exits)");
        }
        let healthcheck = HealthConfig::from_flags(
            self.health_cmd.as_deref(),
            self.health_interval.as_deref(),
            self.health_timeout.as_deref(),
            self.health_start_period.as_deref(),
            self.health_retries,
            self.no_healthcheck,
        )?;
        Ok(RunConfig {
            image: self.image.clone(),
            name: self.name.clone(),
            command: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            interactive: self.interactive,
            tty: self.tty,
            read_only: self.read_only,
            volumes: mounts.binds,
            volume_mounts: mounts.volumes,
            no_image_volumes: false,
            tmpfs: mounts.tmpfs,
            limits,
            network,
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            init: self.init,
            auto_remove,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            labels: filter::parse_labels(&self.labels)?,
            network_aliases: self.network_aliases.clone(),
            extra_networks: Vec::new(),
            restart,
            healthcheck,
        })
    }
}

/// `pier run`: create, start, and (unless `-d`) wait and return the container's exit code.
pub fn run(engine: &Engine, args: RunArgs) -> Result<i32> {
    if args.detach && args.create.interactive && !args.create.tty {
        // Allowed by Docker, but stdin goes nowhere; keep it simple and say so.
        bail!("-d with -i: a detached container has no stdin to keep open in pier");
    }
    let config = args.create.to_config(args.rm)?;
    if !args.detach && config.restart != RestartPolicy::No {
        bail!("--restart needs -d: the restart policy is applied by the container's monitor, which a foreground pier run does not leave behind");
    }
    let rec = engine.create(config, true)?;
    if args.detach {
        if let Err(e) = engine.start_detached(&rec.id) {
            let _ = engine.remove_with_volumes(&rec.id, true);
            return Err(e);
        }
        println!("{}", rec.id);
        return Ok(0);
    }
    let attach = Attach::Foreground {
        interactive: args.create.interactive,
        tty: args.create.tty,
        forward_signals: true,
    };
    match engine.run_attached(&rec.id, attach, &mut |_| {}) {
        Ok(outcome) => {
            if outcome.oom_killed {
                eprintln!(
                    "pier: container {} was killed: out of memory (--memory limit reached)",
                    rec.name
                );
            }
            Ok(outcome.exit.code)
        }
        Err(e) => {
            // A container that never ran is not worth keeping (nothing is left behind).
            let _ = engine.remove_with_volumes(&rec.id, true);
            Err(e)
        }
    }
}

/// `pier create`.
pub fn create(engine: &Engine, args: CreateArgs) -> Result<i32> {
    let config = args.to_config(false)?;
    let rec = engine.create(config, false)?;
    println!("{}", rec.id);
    Ok(0)
}

/// `pier start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach stdin too.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier start`.
pub fn start(engine: &Engine, args: StartArgs) -> Result<i32> {
    if args.attach || args.interactive {
        if args.containers.len() != 1 {
            bail!("pier start -a takes exactly one container");
        }
        let (_, rec) = engine.find(&args.containers[0])?;
        let attach = Attach::Foreground {
            interactive: args.interactive,
            tty: rec.config.tty,
            forward_signals: true,
        };
        return Ok(engine.run_attached(&rec.id, attach, &mut |_| {})?.exit.code);
    }
    for c in &args.containers {
        let (_, rec) = engine.find(c)?;
        if rec.status == ContainerStatus::Running {
            println!("{c}");
            continue;
        }
        engine.start_detached(&rec.id)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier stop`.
pub fn stop(engine: &Engine, args: StopArgs) -> Result<i32> {
    for c in &args.containers {
        engine.stop(c, Duration::from_secs(args.time))?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier restart`: stop (if running), then start in the background.
pub fn restart(engine: &Engine, args: RestartArgs) -> Result<i32> {
    for c in &args.containers {
        let (_, rec) = engine.find(c)?;
        engine.stop(&rec.id, Duration::from_secs(args.time))?;
        engine.find(&rec.id).with_context(|| {
            format!("container {} was removed when it stopped (--rm)", rec.name)
        })?;
        engine.start_detached(&rec.id)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// `pier rename`.
pub fn rename(engine: &Engine, args: RenameArgs) -> Result<i32> {
    engine.rename(&args.container, &args.new_name)?;
    Ok(0)
}

/// `pier kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short = 's', long = "signal", default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier kill`.
pub fn kill(engine: &Engine, args: KillArgs) -> Result<i32> {
    let sig = pier_oci::container::kill::parse_signal(&args.signal)?;
    for c in &args.containers {
        engine.kill(c, sig)?;
        println!("{c}");
    }
    Ok(0)
}

/// `pier container ...`: the container commands under their group name, as Docker has them.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_alias = "list")]
    Ls(PsArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Show low-level information on containers (JSON).
    Inspect(InspectArgs),
    /// Remove every stopped container.
    Prune(ContainerPruneArgs),
    /// Restart containers.
    Restart(RestartArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Show the files a container added, changed or deleted.
    Diff(super::container_fs::DiffArgs),
    /// Copy files between a container and the host.
    Cp(super::container_fs::CpArgs),
    /// Follow a running container's output until it exits.
    Attach(super::attach::AttachArgs),
    /// Make an image from a container's changes.
    Commit(super::build::CommitArgs),
    /// Freeze every process of running containers.
    Pause(super::container_state::PauseArgs),
    /// Thaw paused containers.
    Unpause(super::container_state::PauseArgs),
    /// Change the limits or restart policy of containers.
    Update(super::container_state::UpdateArgs),
}

/// `pier container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    #[command(flatten)]
    pub force: output::Force,
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
        ContainerCommand::Ls(a) => ps(engine, a),
        ContainerCommand::Rm(a) => rm(engine, a),
        ContainerCommand::Inspect(a) => inspect(engine, a),
        ContainerCommand::Restart(a) => restart(engine, a),
        ContainerCommand::Rename(a) => rename(engine, a),
        ContainerCommand::Diff(a) => super::container_fs::diff(engine, a),
        ContainerCommand::Cp(a) => super::container_fs::cp(engine, a),
        ContainerCommand::Attach(a) => super::attach::attach(engine, a),
        ContainerCommand::Commit(a) => super::build::commit(engine, a),
        ContainerCommand::Pause(a) => super::container_state::pause(engine, a),
        ContainerCommand::Unpause(a) => super::container_state::unpause(engine, a),
        ContainerCommand::Update(a) => super::container_state::update(engine, a),
        ContainerCommand::Prune(a) => {
            if !a
                .force
                .confirmed("This will remove all stopped containers.")?
            {
                return Ok(0);
            }
            let (names, bytes) = engine.prune_containers()?;
            output::pruned("Containers", &names, Some(bytes));
            Ok(0)
        }
    }
}

/// `pier rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier rm`.
pub fn rm(engine: &Engine, args: RmArgs) -> Result<i32> {
    let mut failed = false;
    for c in &args.containers {
        let removed = if args.volumes {
            engine.remove_with_volumes(c, args.force)
        } else {
            engine.remove(c, args.force)
        };
        match removed {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("pier: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

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

/// Docker's STATUS column: "Up 5 seconds (healthy)", "Up 2 minutes (Paused)",
/// "Restarting (1) 2 seconds ago", "Exited (0) 3 minutes ago".
pub(super) fn status_text(r: &ContainerRecord) -> String {
    let finished = || output::since(r.finished_at.as_deref().unwrap_or(&r.created));
    match r.status {
        ContainerStatus::Running => {
            let mut s = format!(
                "Up {}",
                output::since(r.started_at.as_deref().unwrap_or(&r.created))
            );
            if r.paused {
                s.push_str(" (Paused)");
            } else if let Some(h) = &r.health {
                s.push(' ');
                s.push_str(h.status.ps_suffix());
            }
            s
        }
        ContainerStatus::Exited if r.restarting => format!(
            "Restarting ({}) {} ago",
            r.exit_code.unwrap_or(0),
            finished()
        ),
        ContainerStatus::Exited => format!(
            "Exited ({}){} {} ago",
            r.exit_code.unwrap_or(0),
            if r.oom_killed { " OOMKilled" } else { "" },
            finished()
        ),
        ContainerStatus::Created => "Created".to_string(),
    }
}

/// Docker's `State` word: `restarting` and `paused` are states of their own there.
fn state_word(r: &ContainerRecord) -> &'static str {
    if r.restarting {
        "restarting"
    } else if r.paused {
        "paused"
    } else {
        r.status.as_str()
    }
}

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

/// `pier logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the output until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long = "tail", short = 'n')]
    pub tail: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Container.
    pub container: String,
}

/// `pier logs`.
pub fn logs(engine: &Engine, args: LogsArgs) -> Result<i32> {
    let (paths, rec) = engine.find(&args.container)?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .with_context(|| format!("--tail {n:?}: expected a number or \"all\""))?,
        ),
    };
    let opts = LogOptions {
        tail,
        timestamps: args.timestamps,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let offset = logs::print(&paths.log(), &opts, &mut out, &mut err)?;
    if args.follow {
        let id = rec.id.clone();
        let running = || {
            engine
                .find(&id)
                .map(|(_, r)| r.status == ContainerStatus::Running)
                .unwrap_or(false)
        };
        let follow_opts = LogOptions {
            tail: None,
            timestamps: args.timestamps,
        };
        logs::follow(
            &paths.log(),
            offset,
            &follow_opts,
            &running,
            &mut out,
            &mut err,
        )?;
    }
    Ok(0)
}

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
                Ok(img) => Ok(super::image::inspect_json(&img)),
                Err(_) => Err(e),
            },
        })
        .collect::<Result<_>>()?;
    fmt.print_inspect(&values)?;
    Ok(0)
}

/// `pier wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pier wait`.
pub fn wait(engine: &Engine, args: WaitArgs) -> Result<i32> {
    for c in &args.containers {
        println!("{}", engine.wait(c)?);
    }
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
pub(super) fn print_top(procs: &[TopProcess]) {
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

/// `pier exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Container.
    pub container: String,
    /// Command and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `pier exec`.
pub fn exec(engine: &Engine, args: ExecArgs) -> Result<i32> {
    let env = args
        .env
        .iter()
        .map(|e| env_entry(e))
        .collect::<Result<Vec<_>>>()?;
    let req = ExecRequest {
        command: args.command,
        interactive: args.interactive,
        tty: args.tty,
        env,
        workdir: args.workdir,
        user: args.user,
    };
    engine.exec(&args.container, &req)
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
