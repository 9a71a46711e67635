//! `pier build` (images from Dockerfiles), `pier commit` (an image from a container) and
//! `pier history` (how an image was made).

use super::output;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pier_engine::builder::commit::CommitOptions;
use pier_engine::builder::driver::parse_build_args;
use pier_engine::builder::{self, BuildOptions};
use pier_engine::container::config::NetworkMode;
use pier_engine::container::Engine;
use std::path::PathBuf;

/// `pier build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag for the image: NAME[:TAG] (repeatable).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Build-time variable KEY=VALUE (or KEY, taken from the environment) (repeatable).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Do not use the cache: run every step.
    #[arg(long)]
    pub no_cache: bool,
    /// Build up to this stage (by its `AS` name).
    #[arg(long)]
    pub target: Option<String>,
    /// Network for RUN steps: none (default) or host.
    #[arg(long, default_value = "none")]
    pub network: String,
    /// Only print the image ID.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set a label on the image: KEY=VALUE (or KEY).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The build context directory.
    pub context: PathBuf,
}

/// `pier build`.
pub fn build(engine: &Engine, args: BuildArgs) -> Result<i32> {
    let opts = BuildOptions {
        context: args.context,
        dockerfile: args.file,
        tags: args.tags,
        build_args: parse_build_args(&args.build_args)?,
        no_cache: args.no_cache,
        target: args.target,
        network: match NetworkMode::parse(&args.network)? {
            m @ (NetworkMode::None | NetworkMode::Host) => m,
            _ => anyhow::bail!(
                "--network {}: RUN steps support only none (the default) and host",
                args.network
            ),
        },
        labels: super::filter::parse_labels(&args.labels)?
            .into_iter()
            .collect(),
    };
    if !args.quiet {
        builder::build(engine, &opts, &mut std::io::stdout())?;
        return Ok(0);
    }
    // RUN commands write straight to pier's stdout: point it at /dev/null meanwhile.
    let saved = nix::unistd::dup(std::io::stdout()).context("dup of stdout")?;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    nix::unistd::dup2_stdout(&null).context("redirecting stdout")?;
    let result = builder::build(engine, &opts, &mut std::io::sink());
    nix::unistd::dup2_stdout(&saved).context("restoring stdout")?;
    println!("{}", result?.id);
    Ok(0)
}

/// `pier commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit message (the history entry's comment).
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author.
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
    /// VOLUME, WORKDIR, STOPSIGNAL (repeatable).
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Freeze a running container while its files are archived, as Docker does
    /// (`--pause=false`: archive it running; files it changes meanwhile may be inconsistent).
    #[arg(short = 'p', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pause: bool,
    /// Container.
    pub container: String,
    /// Name for the image: REPO[:TAG] (none: an untagged image).
    pub reference: Option<String>,
}

/// `pier commit`: prints the new image's ID, as Docker does.
pub fn commit(engine: &Engine, args: CommitArgs) -> Result<i32> {
    let opts = CommitOptions {
        message: args.message,
        author: args.author,
        changes: args.changes,
        reference: args.reference,
        pause: args.pause,
    };
    let image = builder::commit::commit(engine, &args.container, &opts)?;
    println!("{}", image.id);
    Ok(0)
}

/// `pier history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Do not truncate the instructions and IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only image IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The image.
    pub image: String,
}

/// `pier history`.
pub fn history(engine: &Engine, args: HistoryArgs) -> Result<i32> {
    let store = engine.images()?;
    let image = store.resolve(&args.image)?;
    let rows = builder::history::history(&store, &image)?;
    let id = |r: &builder::history::HistoryRow| match &r.id {
        Some(id) if args.no_trunc => id.clone(),
        Some(_) => image.short_id().to_string(),
        None => "<missing>".to_string(),
    };
    if args.quiet {
        for r in &rows {
            println!("{}", id(r));
        }
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let created_by = r.created_by.replace(['\n', '\t'], " ");
            let created_by = if args.no_trunc || created_by.chars().count() <= 45 {
                created_by
            } else {
                format!("{}…", created_by.chars().take(44).collect::<String>())
            };
            vec![
                id(r),
                r.created
                    .as_deref()
                    .map(|c| format!("{} ago", output::since(c)))
                    .unwrap_or_default(),
                created_by,
                output::size(r.size),
                r.comment.clone(),
            ]
        })
        .collect();
    output::table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &table,
    );
    Ok(0)
}

/// `pier builder ...`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache: intermediate images and layers no image uses.
    Prune(BuilderPruneArgs),
}

/// `pier builder prune`.
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    #[command(flatten)]
    pub force: output::Force,
}

/// `pier builder ...`.
pub fn builder(engine: &Engine, cmd: BuilderCommand) -> Result<i32> {
    match cmd {
        BuilderCommand::Prune(a) => {
            if !a
                .force
                .confirmed("This will remove all dangling build cache.")?
            {
                return Ok(0);
            }
            let store = engine.images()?;
            let cache = builder::cache::BuildCache::open(&store);
            let (layers, bytes) = cache.prune(&store)?;
            println!(
                "Deleted build cache: {layers} layers, total reclaimed space: {}",
                output::size(bytes)
            );
            Ok(0)
        }
    }
}
