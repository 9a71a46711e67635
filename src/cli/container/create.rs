//! `pier run` and `pier create`: a container from an image and flags.

use super::limits::LimitArgs;
use crate::cli::filter;
use anyhow::{bail, Result};
use clap::Args;
use pier_engine::container::config::{
    env_entry, read_env_file, HealthConfig, NetworkMode, RestartPolicy, RunConfig,
};
use pier_engine::container::logs::LogConfig;
use pier_engine::container::mount_args::MountArgs;
use pier_engine::container::start::Attach;
use pier_engine::container::Engine;
use pier_engine::image::registry::{self, PullPolicy};
use std::path::PathBuf;

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
    /// Log option, as Docker's json-file driver: max-size=SIZE (one file, default 20m),
    /// max-file=N (files kept, default 5).
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opts: Vec<String>,
    /// Pull the image first: missing (if not in the store), always, or never.
    #[arg(long = "pull", value_name = "POLICY", default_value = "missing")]
    pub pull: String,
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
    /// Pulls the image as `--pull` says (progress on standard error: standard output is
    /// the container's).
    fn pull_image(&self, engine: &Engine) -> Result<()> {
        let policy = PullPolicy::parse(&self.pull)?;
        let store = engine.images()?;
        let creds = crate::cli::transfer::saved_credentials;
        registry::ensure_image(&store, &self.image, policy, &creds, &mut |line| {
            eprintln!("{line}")
        })?;
        Ok(())
    }

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
        let log = LogConfig::parse_opts(&self.log_opts)?;
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
            stdin_once: false,
            console_size: None,
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
            log,
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
    args.create.pull_image(engine)?;
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
    args.pull_image(engine)?;
    let rec = engine.create(config, false)?;
    println!("{}", rec.id);
    Ok(0)
}
