//! Image commands: images, import, rmi, tag, image bootstrap/ls/rm/inspect.

use super::{filter, format, output};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pier_engine::container::Engine;
use pier_engine::glob;
use pier_engine::image::bootstrap::bootstrap_busybox;
use pier_engine::image::store::Image;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

/// `pier images`.
#[derive(Debug, Args)]
#[command(mut_arg("filters", |a| a.help(
    "Filter: dangling=true|false, label=KEY[=VALUE], reference=PATTERN, before=IMAGE, \
     since=IMAGE (repeatable: the same key ORed, different keys ANDed)"
)))]
pub struct ImagesArgs {
    #[command(flatten)]
    pub list: filter::ListArgs,
}

/// Column titles of `images --format 'table ...'`.
const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
];

/// An image's labels (from its configuration).
fn image_labels(img: &Image) -> BTreeMap<String, String> {
    img.config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .map(|l| l.into_iter().collect())
        .unwrap_or_default()
}

/// The `(image, reference)` rows `pier images` lists, filtered.
fn select(engine: &Engine, args: &ImagesArgs) -> Result<Vec<(Image, Option<String>)>> {
    let filters = filter::Filters::parse(
        &args.list.filters,
        "images",
        &["dangling", "label", "reference", "before", "since"],
    )?;
    let list = engine.images()?.list()?;
    let created_of = |key: &str| -> Result<String> {
        let img = engine.images()?.resolve(key)?;
        Ok(img.created.unwrap_or_default())
    };
    let window = filters.created_window(created_of)?;
    let mut out = Vec::new();
    for img in list {
        let created = img.created.clone().unwrap_or_default();
        if !(filters.pass_dangling(img.references.is_empty())
            && filters.pass_labels(&image_labels(&img))
            && window.contains(&created))
        {
            continue;
        }
        if img.references.is_empty() {
            if !filters.has("reference") {
                out.push((img, None));
            }
            continue;
        }
        for r in img.references.clone() {
            let (repo, _) = split_reference(&r);
            // Docker's `reference=` is Go's path.Match: `*` and `?` stop at `/`.
            if filters.pass("reference", |p| {
                let p = glob::Glob::new(p);
                p.matches(&r) || p.matches(repo)
            }) {
                out.push((img.clone(), Some(r)));
            }
        }
    }
    Ok(out)
}

/// `repo:tag` split (a port's colon is not a tag's).
fn split_reference(r: &str) -> (&str, &str) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (r, "latest"),
    }
}

/// `pier images`.
pub fn images(engine: &Engine, args: ImagesArgs) -> Result<i32> {
    let fmt = format::Format::parse(args.list.format.as_deref())?;
    let rows = select(engine, &args)?;
    if args.list.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for (i, _) in &rows {
            if seen.insert(i.id.clone()) {
                println!("{}", i.short_id());
            }
        }
        return Ok(0);
    }
    let containers = engine.containers()?;
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|(img, r)| {
            let (repo, tag) = r.as_deref().map(split_reference).unwrap_or(("<none>", "<none>"));
            let labels = image_labels(img);
            serde_json::json!({
                "Repository": repo,
                "Tag": tag,
                "ID": img.short_id(),
                "Digest": img.manifest_digest,
                "CreatedSince": img.created.as_deref().map(|c| format!("{} ago", output::since(c))).unwrap_or_default(),
                "CreatedAt": img.created.as_deref().map(output::docker_time).unwrap_or_default(),
                "Size": output::size(img.size),
                "Containers": containers.iter().filter(|c| c.image_id == img.id).count().to_string(),
                "Labels": filter::labels_text(&labels),
                "Label": labels,
            })
        })
        .collect();
    if !fmt.is_default() {
        fmt.print(&items, HEADERS)?;
        return Ok(0);
    }
    let table: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            ["Repository", "Tag", "ID", "CreatedSince", "Size"]
                .iter()
                .map(|k| i[*k].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    output::table(
        &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        &table,
    );
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
    #[arg(short = 'f', long, help = format::HELP)]
    pub format: Option<String>,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// What `image inspect` prints for one image.
pub fn inspect_json(img: &Image) -> serde_json::Value {
    serde_json::json!({
        "Id": img.id,
        "RepoTags": img.references,
        "ManifestDigest": img.manifest_digest,
        "Created": img.created,
        "Size": img.size,
        "Config": img.config,
        "LayerDirs": img.layer_dirs,
        "Architecture": img.config.architecture().to_string(),
        "Os": img.config.os().to_string(),
    })
}

/// `pier image ...`.
pub fn image(engine: &Engine, cmd: ImageCommand) -> Result<i32> {
    match cmd {
        ImageCommand::Bootstrap(a) => {
            if a.what != "busybox" {
                bail!("pier image bootstrap {:?}: only busybox can be bootstrapped (from the host's busybox-static)", a.what);
            }
            let reference = a.tag.unwrap_or_else(|| "busybox:latest".into());
            let img = bootstrap_busybox(&engine.images()?, &reference)?;
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
            let fmt = format::Format::parse(a.format.as_deref())?;
            let store = engine.images()?;
            let mut out = Vec::new();
            for name in &a.images {
                out.push(inspect_json(&store.resolve(name)?));
            }
            fmt.print_inspect(&out)?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs_as_docker() {
        use glob::matches as glob;
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("*", "library/busybox"));
        assert!(glob("*/busybox", "library/busybox"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("box", "busybox"));
        assert!(glob("busy[a-c]ox", "busybox"), "classes, as path.Match");
        assert!(glob("team/\\*", "team/*"), "escapes, as path.Match");
        assert_eq!(
            split_reference("localhost:5000/a"),
            ("localhost:5000/a", "latest")
        );
        assert_eq!(split_reference("a:1"), ("a", "1"));
    }
}
