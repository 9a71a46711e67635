//! The command line of `pier bench` (clap): parsed by the `pier` binary (its `--help`, the
//! book's CLI reference) and again by the `pier-bench` program that `pier bench` runs, which
//! hands it to `pier_bench::run`. [`launch`]: how the two programs find each other.

pub mod launch;

use clap::ValueEnum;
use std::path::PathBuf;

/// A suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SuiteName {
    /// The measured FMA peak, then DGEMM GFLOPS (and OpenBLAS natively when numpy is installed).
    Cpu,
    /// STREAM memory bandwidth.
    Mem,
    /// Launch-to-entry and launch-to-exit times.
    Startup,
    /// TCP throughput and request/response latency.
    Net,
    /// Timing jitter of a small work item.
    Jitter,
    /// Up to `--scale-n` detached containers on a bridge, one after another: time per start
    /// and memory per container as the number grows, for pier, podman and Docker (not in the
    /// default set: minutes).
    Scale,
    /// Pod start-up through CRI (RunPodSandbox + CreateContainer + StartContainer to the
    /// container's first output) with the runtime handlers pier, runc and crun under one
    /// private containerd, `--pods-n` pods each, in turns (not in the default set).
    Pods,
}

/// An environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvName {
    /// The payload run directly (the baseline).
    Native,
    /// `pier run` and `pier runtime run`.
    Pier,
    /// `runc run` on the same bundle.
    Runc,
    /// `crun run` on the same bundle.
    Crun,
    /// `podman run` of the same image (start-up suite only).
    Podman,
    /// `docker run` of the same image through a dockerd the bench starts (start-up and the
    /// bridge and published-port network paths).
    Docker,
    /// A QEMU guest (KVM if usable, else TCG emulation).
    Vm,
}

/// What `pier bench` does besides running the suites.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// Render report.md, report.html, summary.csv and the plots of a result directory
    /// again from its samples.csv, environment.json and notes.json (no measurement).
    Report {
        /// A result directory, e.g. results/latest.
        dir: PathBuf,
        /// Draw only the figures, with their texts in this language, into --plots-to; the
        /// report is left as it is (the Korean book's figures: --lang ko --plots-to
        /// book/ko/src/bench/plots; Korean needs a Korean font, e.g. fonts-nanum).
        #[arg(long, value_enum, requires = "plots_to")]
        lang: Option<PlotLang>,
        /// The directory --lang's figures are drawn into.
        #[arg(long, requires = "lang")]
        plots_to: Option<PathBuf>,
    },
}

/// The language of a figure's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlotLang {
    /// English, as in the report.
    En,
    /// Korean.
    Ko,
}

/// `pier bench`: native vs containers vs VM, measured side by side.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `report DIR` re-renders a run's report; without a command, the suites run.
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    /// Suites to run, comma-separated (default: all but scale and pods; scale alone runs on
    /// pier, podman and Docker only, unless --env says otherwise; pods runs the handlers
    /// pier, runc and crun, or those of them --env names).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub suite: Vec<SuiteName>,
    /// Environments, comma-separated (default: every available one).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub env: Vec<EnvName>,
    /// Measured runs per environment (start-up uses 5x as many launches).
    #[arg(long)]
    pub runs: Option<u32>,
    /// Quick sizes and counts (the default; under 5 minutes on 2 cores).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Full sizes and counts, DGEMM up to N=4096 (under 30 minutes on 2 cores).
    #[arg(long)]
    pub full: bool,
    /// Results directory: each run goes to DIR/<timestamp>/, DIR/latest points at it.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Pin the bench and everything it starts to these CPUs (e.g. 1 or 0-1).
    #[arg(long, value_name = "CPUS")]
    pub pin: Option<String>,
    /// The static payload binary (default: next to this pier build, else built with cargo).
    #[arg(long, env = "PIER_BENCH_PAYLOAD")]
    pub payload: Option<PathBuf>,
    /// Bench-private cache and state: pier's bench root, the OCI bundle, the VM kernel.
    #[arg(long, env = "PIER_BENCH_CACHE", default_value = "/var/tmp/pier-bench")]
    pub cache: PathBuf,
    /// How many containers the scale suite starts in each engine (it reports at 1, 10, 50,
    /// 100, 250 and 500 on the way, up to this number).
    #[arg(long, value_name = "N", env = "PIER_BENCH_SCALE_N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub scale_n: u32,
    /// How many pods the pods suite starts with each runtime handler (pier, runc, crun;
    /// `--env` picks among them).
    #[arg(long, value_name = "N", env = "PIER_BENCH_PODS_N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub pods_n: u32,
    /// Do not draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
}
