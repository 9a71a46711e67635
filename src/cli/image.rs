//! Image commands: images, import, rmi, tag, image bootstrap/ls/rm/inspect.

use super::output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_runtime::engine::Engine;
use std::io::Read;
use std::path::PathBuf;

/// `pier images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `pier images`.
pub fn images(engine: &Engine, args: ImagesArgs) -> Result<i32> {
    let list = engine.images()?.list()?;
    if args.quiet {
        for i in &list {
            println!("{}", i.short_id());
        }
        return Ok(0);
    }
    let mut rows = Vec::new();
    for img in &list {
        let created = img
            .created
            .as_deref()
            .map(|c| format!("{} ago", output::since(c)))
            .unwrap_or_default();
        let refs = if img.references.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            img.references.clone()
        };
        for r in refs {
            let (repo, tag) = r.rsplit_once(':').unwrap_or((&r, "latest"));
            rows.push(vec![
                repo.to_string(),
                tag.to_string(),
                img.short_id().to_string(),
                created.clone(),
                output::size(img.size),
            ]);
        }
    }
    output::table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    Ok(0)
}

/// `pier import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Root filesystem tarball (plain or gzip), `-` for stdin.
    pub file: String,
    /// Name for the image: NAME[:TAG].
    pub reference: String,
}

/// `pier import`.
pub fn import(engine: &Engine, args: ImportArgs) -> Result<i32> {
    let store = engine.images()?;
    let image = if args.file == "-" {
        let mut stdin = std::io::stdin().lock();
        store.import_rootfs_tar(&mut stdin, &args.reference)?
    } else {
        let path = PathBuf::from(&args.file);
        let mut f =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut r: &mut dyn Read = &mut f;
        store.import_rootfs_tar(&mut r, &args.reference)?
    };
    println!("{}", image.id);
    Ok(0)
}

/// `pier rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even if a container uses it.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `pier rmi`.
pub fn rmi(engine: &Engine, args: RmiArgs) -> Result<i32> {
    let store = engine.images()?;
    let containers = engine.containers()?;
    for name in &args.images {
        let img = store.resolve(name)?;
        if !args.force {
            if let Some(c) = containers.iter().find(|c| c.image_id == img.id) {
                bail!("unable to remove image {name}: container {} ({}) uses it; remove the container first or use rmi -f", c.name, c.status.as_str());
            }
        }
        for line in store.remove(name)? {
            println!("{line}");
        }
    }
    Ok(0)
}

/// `pier tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image.
    pub source: String,
    /// New name: NAME[:TAG].
    pub target: String,
}

/// `pier tag`.
pub fn tag(engine: &Engine, args: TagArgs) -> Result<i32> {
    engine.images()?.tag(&args.source, &args.target)?;
    Ok(0)
}

/// `pier image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a base image from the host (busybox: from Debian's busybox-static).
    Bootstrap(BootstrapArgs),
    /// List images.
    Ls(ImagesArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Show an image's configuration and layers (JSON).
    Inspect(ImageInspectArgs),
    /// Remove images without a name that no container uses (-a: every image no container uses).
    Prune(ImagePruneArgs),
}

/// `pier image prune`.
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    #[command(flatten)]
    pub force: output::Force,
    /// Remove every image no container uses, not only those without a name.
    #[arg(short = 'a', long)]
    pub all: bool,
}

/// `pier image bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// What to build: busybox.
    pub what: String,
    /// Name for the image (default: busybox:latest).
    #[arg(short = 't', long = "tag")]
    pub tag: Option<String>,
}

/// `pier image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `pier image ...`.
pub fn image(engine: &Engine, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::Bootstrap(a) => {
            if a.what != "busybox" {
                bail!("pier image bootstrap {:?}: only busybox can be bootstrapped (from the host's busybox-static)", a.what);
            }
            let reference = a.tag.unwrap_or_else(|| "busybox:latest".into());
            let img = engine.images()?.bootstrap_busybox(&reference)?;
            println!("{}", img.id);
            Ok(0)
        }
        ImageCommand::Prune(a) => {
            let what = if a.all {
                "This will remove all images without at least one container associated to them."
            } else {
                "This will remove all dangling images."
            };
            if !a.force.confirmed(what)? {
                return Ok(0);
            }
            let report = engine.prune_images(a.all)?;
            output::pruned("Images", &report.lines, Some(report.reclaimed));
            Ok(0)
        }
        ImageCommand::Ls(a) => images(engine, a),
        ImageCommand::Rm(a) => rmi(engine, a),
        ImageCommand::Inspect(a) => {
            let store = engine.images()?;
            let mut out = Vec::new();
            for name in &a.images {
                let img = store.resolve(name)?;
                out.push(serde_json::json!({
                    "Id": img.id,
                    "RepoTags": img.references,
                    "ManifestDigest": img.manifest_digest,
                    "Created": img.created,
                    "Size": img.size,
                    "Config": img.config,
                    "LayerDirs": img.layer_dirs,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
    }
}
