//! `pier compose`: the command line of `docker compose` over [`pier_engine::compose`].

use super::container::inspect::print_top;
use super::container::ps::status_text;
use super::output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_engine::compose::containers::{label, number};
use pier_engine::compose::down::{DownOptions, RemoveImages};
use pier_engine::compose::logs::{self, LogsOptions};
use pier_engine::compose::model::Condition;
use pier_engine::compose::up::UpOptions;
use pier_engine::compose::{labels, Compose, Project, ProjectOptions};
use pier_engine::container::config::env_entry;
use pier_engine::container::exec::ExecRequest;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::start::Attach;
use pier_engine::container::Engine;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// `pier compose`.
#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The compose file, repeatable: later files are laid over earlier ones (default:
    /// compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in the current
    /// directory, with its .override file if there is one).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The project name (default: the file's `name:`, else its directory's name).
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// The file of variables for interpolation (default: .env beside the compose file).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Activate a profile (repeatable; default: COMPOSE_PROFILES).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Look for the compose file here instead of the current directory.
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// The subcommands of `pier compose`.
#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Create and start the project's containers (building images first if needed).
    Up(UpArgs),
    /// Stop and remove the project's containers and networks (-v: volumes too).
    Down(DownArgs),
    /// List the project's containers.
    Ps(PsArgs),
    /// Show the output of the project's containers, prefixed per service.
    Logs(LogsArgs),
    /// Run a command in a running service container.
    Exec(ExecArgs),
    /// Run a one-off command in a new container of a service.
    Run(RunArgs),
    /// Build (or rebuild) the images of services that have a build section.
    Build(ServicesArgs),
    /// Start the project's stopped containers.
    Start(ServicesArgs),
    /// Stop the project's running containers.
    Stop(StopArgs),
    /// Restart the project's containers.
    Restart(StopArgs),
    /// Print the resolved compose file (interpolated, defaults made explicit).
    Config(ConfigArgs),
    /// Show the processes of the project's containers.
    Top(ServicesArgs),
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Start in the background and return.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting, even if they exist.
    #[arg(long)]
    pub build: bool,
    /// Recreate containers even if their configuration did not change.
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Seconds a depends_on condition may take before up gives up.
    #[arg(long = "wait-timeout", default_value_t = 60)]
    pub wait_timeout: u64,
    /// Remove containers of services no longer in the compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Stop the whole project when any container exits (foreground only).
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Exit with this service's exit code (implies --abort-on-container-exit).
    #[arg(long = "exit-code-from", value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Services (default: all), with their dependencies.
    pub services: Vec<String>,
}

/// `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove the named volumes of the file and the containers' anonymous volumes.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images: local (those without an image: key, built by compose) or all.
    #[arg(long, value_name = "local|all")]
    pub rmi: Option<String>,
    /// Seconds to wait for each container to stop before SIGKILL.
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    /// Remove containers of services no longer in the compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
}

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Include stopped containers.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following the output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// No colours, even on a terminal.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Show times.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Only the last N lines of each container.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// No terminal, even when stdin is one.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Which replica.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// The service.
    pub service: String,
    /// Command and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// The service.
    pub service: String,
    /// Command and arguments (default: the service's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Commands that take service names.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Services (default: all).
    pub services: Vec<String>,
}

/// `stop`, `restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Only check the file (print nothing but warnings and errors).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only the service names.
    #[arg(long)]
    pub services: bool,
    /// Only the volume names.
    #[arg(long)]
    pub volumes: bool,
}

impl ComposeArgs {
    /// Reads the project, printing the file's warnings.
    fn project(&self) -> Result<Project> {
        let dir = match &self.project_directory {
            Some(d) => d.clone(),
            None => std::env::current_dir().context("the current directory")?,
        };
        let project = Project::load(&ProjectOptions {
            files: self.files.clone(),
            name: self.project_name.clone(),
            env_file: self.env_file.clone(),
            dir,
            create_host_dirs: matches!(
                self.command,
                ComposeCommand::Up(_) | ComposeCommand::Run(_)
            ),
            profiles: self.profiles.clone(),
        })?;
        for w in &project.loaded.warnings {
            eprintln!("pier compose: warning: {w}");
        }
        Ok(project)
    }
}

/// Whether the command puts a pier process into a container (starts one, execs, builds).
pub fn enters_containers(args: &ComposeArgs) -> bool {
    matches!(
        args.command,
        ComposeCommand::Up(_)
            | ComposeCommand::Run(_)
            | ComposeCommand::Exec(_)
            | ComposeCommand::Build(_)
            | ComposeCommand::Start(_)
            | ComposeCommand::Restart(_)
    )
}

/// Whether this `pier compose` needs no engine (and so no root): `config`.
pub fn needs_engine(args: &ComposeArgs) -> bool {
    !matches!(args.command, ComposeCommand::Config(_))
}

/// `pier compose config`, which only reads the file.
pub fn config(args: &ComposeArgs) -> Result<i32> {
    let ComposeCommand::Config(c) = &args.command else {
        bail!("not a config command");
    };
    let project = args.project()?;
    if c.quiet {
    } else if c.services {
        for s in &project.services {
            println!("{}", s.name);
        }
    } else if c.volumes {
        for v in &project.volumes {
            println!("{}", v.key);
        }
    } else {
        print!("{}", project.config_yaml()?);
    }
    Ok(0)
}

/// `pier compose ...`.
pub fn compose(engine: &Engine, args: ComposeArgs) -> Result<i32> {
    let project = args.project()?;
    let mut err = std::io::stderr();
    let mut c = Compose::new(engine, project, &mut err);
    let secs = |t: Option<u64>| t.map(Duration::from_secs);
    match args.command {
        ComposeCommand::Up(a) => up(&mut c, a),
        ComposeCommand::Down(a) => {
            let images = match a.rmi.as_deref() {
                None => None,
                Some("local") => Some(RemoveImages::Local),
                Some("all") => Some(RemoveImages::All),
                Some(o) => bail!("--rmi {o:?}: use local or all"),
            };
            c.down(&DownOptions {
                volumes: a.volumes,
                images,
                timeout: secs(a.timeout),
                remove_orphans: a.remove_orphans,
            })?;
            Ok(0)
        }
        ComposeCommand::Ps(a) => ps(&c, a),
        ComposeCommand::Logs(a) => {
            let containers = c.containers_of(&a.services, true)?;
            let opts = LogsOptions {
                follow: a.follow,
                color: !a.no_color && std::io::stdout().is_terminal(),
                timestamps: a.timestamps,
                tail: a.tail,
            };
            logs::show(engine, &containers, opts, &|| false, &mut std::io::stdout())?;
            Ok(0)
        }
        ComposeCommand::Exec(a) => {
            let target = c
                .service_containers(&a.service)?
                .into_iter()
                .find(|r| number(r) == a.index)
                .with_context(|| {
                    format!(
                        "service {:?} has no container number {}: is the project up?",
                        a.service, a.index
                    )
                })?;
            let env = a
                .env
                .iter()
                .map(|e| env_entry(e))
                .collect::<Result<Vec<_>>>()?;
            let tty = !a.no_tty && std::io::stdin().is_terminal();
            engine.exec(
                &target.id,
                &ExecRequest {
                    command: a.command,
                    interactive: tty,
                    tty,
                    env,
                    workdir: a.workdir,
                    user: a.user,
                },
            )
        }
        ComposeCommand::Run(a) => {
            let rec = c.create_oneoff(&a.service, a.command, a.rm, &UpOptions::default())?;
            let tty = std::io::stdin().is_terminal();
            let attach = Attach::Foreground {
                interactive: tty,
                tty: false,
                forward_signals: true,
            };
            match engine.run_attached(&rec.id, attach, &mut |_| {}) {
                Ok(outcome) => Ok(outcome.exit.code),
                Err(e) => {
                    let _ = engine.remove_with_volumes(&rec.id, true);
                    Err(e)
                }
            }
        }
        ComposeCommand::Build(a) => {
            let services: Vec<_> = c
                .project
                .selected(&a.services, false)?
                .into_iter()
                .filter(|s| s.build.is_some())
                .cloned()
                .collect();
            if services.is_empty() {
                eprintln!("pier compose: no service to build (none has a build: section)");
            }
            for s in services {
                c.build_service(&s)?;
            }
            Ok(0)
        }
        ComposeCommand::Start(a) => c.start(&a.services).map(|()| 0),
        ComposeCommand::Stop(a) => c.stop(&a.services, secs(a.timeout)).map(|()| 0),
        ComposeCommand::Restart(a) => c.restart(&a.services, secs(a.timeout)).map(|()| 0),
        ComposeCommand::Config(_) => unreachable!("handled without the engine"),
        ComposeCommand::Top(a) => {
            for r in c.containers_of(&a.services, false)? {
                if r.status != ContainerStatus::Running {
                    continue;
                }
                println!("{}", r.name);
                print_top(&engine.top(&r.id)?);
                println!();
            }
            Ok(0)
        }
    }
}

fn up(c: &mut Compose, a: UpArgs) -> Result<i32> {
    let abort = a.abort_on_container_exit || a.exit_code_from.is_some();
    if abort && a.detach {
        bail!("--abort-on-container-exit and --detach are incompatible options");
    }
    if let Some(s) = &a.exit_code_from {
        c.project.service(s)?;
        if !a.services.is_empty()
            && !c
                .project
                .selected(&a.services, true)?
                .iter()
                .any(|x| &x.name == s)
        {
            bail!("--exit-code-from {s}: service {s:?} is not among the services started");
        }
    }
    let opts = UpOptions {
        services: a.services,
        build: a.build,
        force_recreate: a.force_recreate,
        wait_timeout: Duration::from_secs(a.wait_timeout),
        remove_orphans: a.remove_orphans,
    };
    if !a.detach {
        // Ctrl-C stops the project (the containers' monitors run in their own sessions, so
        // the terminal's signal reaches only this process).
        pier_engine::builder::interrupt::install()?;
    }
    let started = c.up(&opts)?;
    if a.detach {
        return Ok(0);
    }
    // With --abort-on-container-exit, the containers whose exit ends the project: not those
    // a dependant waits on to complete (a migration that exits 0 is meant to), as in Docker.
    let completing: Vec<&str> = c
        .project
        .services
        .iter()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, cond)| *cond == Condition::ServiceCompletedSuccessfully)
        .map(|(d, _)| d.as_str())
        .collect();
    let watched: Vec<&ContainerRecord> = started
        .iter()
        .filter(|r| label(r, labels::SERVICE).is_none_or(|s| !completing.contains(&s)))
        .collect();
    let exited = std::cell::RefCell::new(None::<ContainerRecord>);
    let engine = c.engine;
    let stop = || {
        if pier_engine::builder::interrupt::requested() {
            return true;
        }
        if !abort {
            return false;
        }
        if exited.borrow().is_some() {
            return true;
        }
        let first = watched.iter().find_map(|r| match engine.find(&r.id) {
            Ok((_, now)) if now.status == ContainerStatus::Exited => Some(now),
            _ => None,
        });
        let found = first.is_some();
        *exited.borrow_mut() = first;
        found
    };
    let color = std::io::stdout().is_terminal();
    let opts_logs = LogsOptions {
        follow: true,
        color,
        timestamps: false,
        tail: None,
    };
    logs::show(c.engine, &started, opts_logs, &stop, &mut std::io::stdout())?;
    let interrupted = pier_engine::builder::interrupt::requested();
    let exited = exited.into_inner();
    if !interrupted && exited.is_none() {
        return Ok(0);
    }
    if let Some(r) = &exited {
        eprintln!(
            "{} exited with code {}\nAborting on container exit...",
            r.name,
            r.exit_code.unwrap_or(-1)
        );
    } else {
        eprintln!("Gracefully stopping... (the containers get SIGTERM, then SIGKILL after their stop timeout)");
    }
    let all: Vec<String> = if opts.services.is_empty() {
        Vec::new()
    } else {
        c.project
            .selected(&opts.services, true)?
            .iter()
            .map(|s| s.name.clone())
            .collect()
    };
    c.stop(&all, None)?;
    if interrupted {
        return Ok(130);
    }
    let code = match &a.exit_code_from {
        Some(service) => {
            let r = c
                .service_containers(service)?
                .into_iter()
                .next()
                .with_context(|| {
                    format!("--exit-code-from: service {service:?} has no container")
                })?;
            r.exit_code.unwrap_or(-1)
        }
        None => exited.and_then(|r| r.exit_code).unwrap_or(0),
    };
    Ok(code)
}

fn ps(c: &Compose, a: PsArgs) -> Result<i32> {
    let recs: Vec<ContainerRecord> = c
        .containers_of(&a.services, true)?
        .into_iter()
        .filter(|r| a.all || r.status == ContainerStatus::Running)
        .collect();
    if a.quiet {
        for r in &recs {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = recs
        .iter()
        .map(|r| {
            let ports = c
                .engine
                .ports(&r.id)
                .map(|ps| {
                    ps.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                r.name.clone(),
                r.image.clone(),
                output::ellipsize(&format!("\"{}\"", r.args.join(" ")), 22),
                label(r, labels::SERVICE).unwrap_or_default().to_string(),
                format!("{} ago", output::since(&r.created)),
                status_text(r),
                ports,
            ]
        })
        .collect();
    output::table(
        &[
            "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
        ],
        &rows,
    );
    Ok(0)
}
