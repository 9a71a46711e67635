//! runc's command line, as clap definitions: the global flags, then one command each with
//! runc's flags and arguments (flags may come before or after the container ID).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// pier's low-level OCI runtime, with runc's command line: what Docker, Podman and containerd
/// call (as `pier runtime ...`, or as a `pier-runc` link to the pier binary).
#[derive(Debug, Parser)]
#[command(disable_help_subcommand = true)]
pub struct RuntimeArgs {
    /// State directory of the containers (runc's `--root`; default: `runtime` in pier's root
    /// when one is named, `pier --root P runtime` or $PIER_ROOT, else /run/pier-runtime).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write errors (and with --debug, progress) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log each step, not only errors.
    #[arg(long)]
    pub debug: bool,
    /// Accepted for runc compatibility: cgroupsPath in systemd form (`slice:prefix:name`) is
    /// mapped to the cgroupfs directory systemd would use.
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility ("auto", "true", "false"); pier runs as root only.
    #[arg(long, value_name = "auto|true|false")]
    pub rootless: Option<String>,

    #[command(subcommand)]
    pub command: RuntimeCommand,
}

/// The format of `--log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time="..." level=error msg="..."` lines, as logrus's text format.
    Text,
    /// `{"level":"error","msg":"...","time":"..."}` lines (what containerd and Podman read).
    Json,
}

/// The runtime's commands.
#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Create a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start(IdArg),
    /// Create and start a container, wait for it and delete it (with --detach, leave it
    /// running).
    Run(RunArgs),
    /// Print a container's state (JSON).
    State(IdArg),
    /// Send a signal (default SIGTERM) to a container's init, or with --all to every process.
    Kill(KillArgs),
    /// Delete a stopped container (with --force, also a running one).
    Delete(DeleteArgs),
    /// Run a new process inside a running container.
    Exec(ExecArgs),
    /// Show the processes of a container (as `ps -ef` or a JSON list of PIDs).
    Ps(PsArgs),
    /// List the containers in the state directory.
    List(ListArgs),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change a container's resource limits.
    Update(UpdateArgs),
    /// Print a container's resource usage as JSON events (with --stats, once).
    Events(EventsArgs),
    /// Print the features this runtime supports (the runtime-spec features document).
    Features,
    /// Write a starter config.json into a bundle directory.
    Spec(SpecArgs),
    /// Make the runc entry point: a hard link to this pier binary named PATH (e.g.
    /// /usr/local/bin/pier-runc), which keeps its name where a symlink would be resolved to
    /// `pier` (pier's own command, not runc's).
    InstallLink(InstallLinkArgs),
}

/// `install-link`'s argument.
#[derive(Debug, Args)]
pub struct InstallLinkArgs {
    /// Where to make the link; its file name must contain `runc` (`pier-runc`), on the pier
    /// binary's filesystem.
    pub path: PathBuf,
}

/// One container ID.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Container ID.
    pub id: String,
}

/// Flags `create` and `run` share.
#[derive(Debug, Args)]
pub struct BundleFlags {
    /// Bundle directory (holds config.json); default: the current directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the terminal's master descriptor (process.terminal).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's PID (host view) to this file.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility; pier always uses pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one for the container.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N more descriptors (after stdio and $LISTEN_FDS) to the container's process.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run pier's reaper as PID 1 (pier's own flag).
    #[arg(long)]
    pub init: bool,
    /// Container ID.
    pub id: String,
}

/// `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub bundle: BundleFlags,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub bundle: BundleFlags,
    /// Return once the container runs, instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility (pier does not become a subreaper).
    #[arg(long)]
    pub no_subreaper: bool,
}

/// `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not only its init.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container ID.
    pub id: String,
    /// Signal: a name (TERM, SIGKILL) or a number.
    #[arg(default_value = "SIGTERM", allow_hyphen_values = true)]
    pub signal: String,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill it first if it runs.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container ID.
    pub id: String,
}

/// `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process to run, as the `process` object of config.json (instead of ARGS).
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs, instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's PID (host view) to this file.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Unix socket that receives the terminal's master descriptor.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE; repeatable).
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// User: UID[:GID].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ID (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the process's sets (repeatable).
    #[arg(short = 'c', long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass N more descriptors (after stdio) to the process.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// AppArmor profile for the process (refused: this kernel's LSMs are not driven by pier).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process (refused, as --apparmor).
    #[arg(long)]
    pub process_label: Option<String>,
    /// Cgroup for the process ([CONTROLLER:]PATH, relative to the container's): only `/`
    /// (or the container's own cgroupsPath) is accepted; a sub-cgroup is refused.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Container ID.
    pub id: String,
    /// Command and arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Container ID.
    pub id: String,
    /// Options for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print the IDs only.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `table` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// `update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The new linux.resources as JSON, from this file or `-` for stdin (then the other
    /// flags are ignored).
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (µs).
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPU realtime period (µs).
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime (µs).
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (e.g. 0-1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a unit: 512m, 1g; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container ID.
    pub id: String,
}

/// `events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// Container ID.
    pub id: String,
}

/// `spec`.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for a rootless container (user namespace mapping the caller's IDs).
    #[arg(long)]
    pub rootless: bool,
}
