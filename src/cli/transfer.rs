//! Moving images and filesystems in and out: save, load, export, push, pull, login, logout.

use anyhow::{bail, Context, Result};
use clap::Args;
use pier_engine::container::Engine;
use pier_engine::image::archive;
use pier_engine::image::export::export_merged;
use pier_engine::image::platform::Platform;
use pier_engine::image::registry::{
    self, auth::Credentials, credentials::CredentialStore, RemoteRef,
};
use pier_oci::atomic_file::{self, Options};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// `pier save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Images (NAME[:TAG] or ID).
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `pier save`: an OCI image layout tar (with Docker's manifest.json).
pub fn save(engine: &Engine, args: SaveArgs) -> Result<i32> {
    let store = engine.images()?;
    write_output(args.output.as_deref(), "save", |out| {
        archive::save(&store, &args.images, out)
    })?;
    Ok(0)
}

/// `pier load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file instead of standard input.
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `pier load`: an OCI layout or `docker save` archive (plain or gzip).
pub fn load(engine: &Engine, args: LoadArgs) -> Result<i32> {
    let store = engine.images()?;
    let loaded = match &args.input {
        Some(path) if path != Path::new("-") => {
            let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            archive::load(&store, &mut f).with_context(|| format!("loading {}", path.display()))?
        }
        _ => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                bail!("pier load: no archive given: use -i FILE or pipe one to standard input");
            }
            archive::load(&store, &mut stdin.lock()).context("loading from standard input")?
        }
    };
    if !args.quiet {
        for line in archive::describe(&loaded) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// `pier export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Container (name or ID).
    pub container: String,
}

/// `pier export`: the container's filesystem (image layers + its changes) as one tar.
/// A running container is exported as is (not a consistent snapshot: stop it first).
pub fn export(engine: &Engine, args: ExportArgs) -> Result<i32> {
    let (paths, record) = engine.find(&args.container)?;
    let store = engine.images()?;
    let image = store
        .resolve(&record.image_id)
        .with_context(|| format!("image {} of container {}", record.image, record.name))?;
    let scratch = store.staging_dir()?;
    write_output(args.output.as_deref(), "export", |out| {
        export_merged(&image.layer_dirs, &paths.upper(), scratch.path(), out)
            .with_context(|| format!("exporting container {}", record.name))
            .map(|_| ())
    })?;
    Ok(0)
}

/// Runs `write` on the output file (written beside it, then renamed, so a failure never
/// leaves a truncated archive under the name) or on standard output.
fn write_output(
    path: Option<&Path>,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match path {
        // Durable: an archive the user asked for outlives the machine's next power cut.
        Some(path) if path != Path::new("-") => {
            atomic_file::write_with(path, Options::durable().create_parent(false), write)
        }
        _ => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                bail!("pier {what}: refusing to write an archive to a terminal: use -o FILE or redirect the output");
            }
            let mut out = BufWriter::new(stdout.lock());
            write(&mut out)?;
            out.flush().context("writing to standard output")
        }
    }
}

/// `--creds` shared by push and pull.
#[derive(Debug, Args)]
pub struct CredsArgs {
    /// Credentials for the registry, USER:PASSWORD (default: those saved by pier login,
    /// in Docker's config.json or its credential helper).
    #[arg(long)]
    pub creds: Option<String>,
}

impl CredsArgs {
    /// The credentials for registry `host`: `--creds`, else those saved by pier login.
    fn resolve(&self, host: &str) -> Result<Option<Credentials>> {
        match &self.creds {
            Some(c) => Credentials::parse(c).map(Some),
            None => saved_credentials(host),
        }
    }
}

/// The credentials `pier login` saved for registry `host`, if any.
pub fn saved_credentials(host: &str) -> Result<Option<Credentials>> {
    CredentialStore::open()?.get(host)
}

/// `pier push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push: [HOST[:PORT]/]NAME[:TAG] (tag it first with pier tag; no host
    /// means Docker Hub).
    pub reference: String,
    #[command(flatten)]
    pub creds: CredsArgs,
    /// Print nothing but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `pier push`.
pub fn push(engine: &Engine, args: PushArgs) -> Result<i32> {
    let store = engine.images()?;
    let quiet = args.quiet;
    let creds = |host: &str| args.creds.resolve(host);
    if !quiet {
        let remote = RemoteRef::parse(&args.reference)?;
        println!(
            "The push refers to repository [{}/{}]",
            remote.host, remote.repository
        );
    }
    registry::push(&store, &args.reference, &creds, &mut |line| {
        if !quiet {
            println!("{line}");
        }
    })?;
    Ok(0)
}

/// `pier pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull: NAME[:TAG][@DIGEST] (`nginx` is docker.io/library/nginx:latest),
    /// or HOST[:PORT]/NAME[:TAG].
    pub reference: String,
    #[command(flatten)]
    pub creds: CredsArgs,
    /// Print nothing but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The platform to pull from a multi-platform image, OS/ARCH[/VARIANT] (default:
    /// this machine's, e.g. linux/amd64).
    #[arg(long)]
    pub platform: Option<String>,
}

/// `pier pull`.
pub fn pull(engine: &Engine, args: PullArgs) -> Result<i32> {
    let remote = RemoteRef::parse(&args.reference)?;
    let store = engine.images()?;
    let quiet = args.quiet;
    let creds = |host: &str| args.creds.resolve(host);
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let mut shown = crate::cli::pull_progress::for_stdout(quiet);
    let report =
        registry::pull_platform(&store, &args.reference, &platform, &creds, shown.as_mut())?;
    drop(shown);
    if !quiet {
        println!("Digest: {}", report.repo_digest);
        println!("Image ID: {}", report.image.id);
        println!("Status: Downloaded image for {}", remote.shown());
        println!("{}", remote.image);
    }
    Ok(0)
}

/// `pier login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry, e.g. ghcr.io or localhost:5000 (default: Docker Hub, docker.io).
    pub host: Option<String>,
    /// User name (asked for on a terminal if not given).
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin).
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `pier login`: checks the credentials against the registry, then saves them where
/// Docker keeps them (`~/.docker/config.json` or its credential helper).
pub fn login(_engine: &Engine, args: LoginArgs) -> Result<i32> {
    let host = registry::registry_name(args.host.as_deref());
    let stdin = io::stdin();
    let username = match args.username {
        Some(u) => u,
        None if stdin.is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            read_line(&mut stdin.lock(), "the user name")?
        }
        None => bail!("pier login: give the user name with -u"),
    };
    if username.is_empty() {
        bail!("pier login: the user name is empty");
    }
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => read_line(&mut stdin.lock(), "the password from standard input")?,
        (None, false) if stdin.is_terminal() => {
            eprint!("Password: ");
            let p = read_secret_line(&stdin)?;
            eprintln!();
            p
        }
        (None, false) => bail!("pier login: give the password with --password-stdin or -p"),
    };
    if password.is_empty() {
        bail!("pier login: the password is empty");
    }
    let creds = Credentials { username, password };
    registry::check_login(&host, creds.clone()).with_context(|| format!("logging in to {host}"))?;
    let saved_in = CredentialStore::open()?.store(&host, &creds)?;
    println!("Login Succeeded (credentials for {host} saved in {saved_in})");
    Ok(0)
}

fn read_line(input: &mut dyn BufRead, what: &str) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .with_context(|| format!("reading {what}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A line from the terminal with echo off, so the password is not shown.
fn read_secret_line(stdin: &io::Stdin) -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = tcgetattr(stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(stdin, SetArg::TCSANOW, &quiet).context("turning the terminal's echo off")?;
    let line = read_line(&mut stdin.lock(), "the password");
    tcsetattr(stdin, SetArg::TCSANOW, &saved).context("restoring the terminal's echo")?;
    line
}

/// `pier logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub, docker.io).
    pub host: Option<String>,
}

/// `pier logout`: forgets the saved credentials for a registry.
pub fn logout(_engine: &Engine, args: LogoutArgs) -> Result<i32> {
    let host = registry::registry_name(args.host.as_deref());
    if CredentialStore::open()?.erase(&host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(0)
}
