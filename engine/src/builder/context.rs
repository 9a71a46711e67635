//! The build context: the directory `COPY` and `ADD` read from, minus what `.dockerignore`
//! excludes, plus the path rules (no escaping the context, globs).
//!
//! `.dockerignore` patterns follow Docker: one per line, `#` comments, paths relative to the
//! context (a leading `/` is ignored), `*` and `?` within one path component, `**` across
//! any number of them, `[a-z]` classes, `\` escapes, `!` re-includes; the last matching
//! pattern wins, and excluding a directory excludes everything under it. The matching is
//! [`crate::glob`]'s, linear in the path and the pattern; a pattern longer than
//! [`MAX_PATTERN`] or a file larger than [`MAX_IGNORE_FILE`] is refused, naming the file
//! (and the line).

use crate::glob::{self, Glob, PathGlob};
use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use pier_oci::security::in_root::{list_dir, Follow, RootDir};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

/// The longest `.dockerignore` pattern, in bytes: as long as the longest path Linux takes
/// (`PATH_MAX`); a longer one is a mistake or an attack.
pub const MAX_PATTERN: usize = 4096;

/// The largest `.dockerignore` read, in bytes (a generated list of twenty thousand paths
/// is well under it): every path of the context is matched against every pattern.
pub const MAX_IGNORE_FILE: u64 = 4 << 20;

/// One `.dockerignore` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// The pattern over path components.
    glob: PathGlob,
    /// `!pattern`: re-include.
    exception: bool,
}

/// The parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Ignore> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.len() > MAX_PATTERN {
                bail!(
                    "{} line {}: a pattern of {} bytes, over the limit of {MAX_PATTERN}",
                    source.display(),
                    n + 1,
                    line.len()
                );
            }
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let parts = clean(pat);
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                glob: PathGlob::new(&parts),
                exception,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `rel` (a path relative to the context) is excluded, either itself or
    /// through an excluded parent directory.
    pub fn excludes(&self, rel: &Path) -> bool {
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            if p.glob.matches_path_or_parent(&parts) {
                excluded = !p.exception;
            }
        }
        excluded
    }
}

/// Splits a pattern or path into normal components (`.` dropped, `..` applied, a leading
/// `/` ignored).
fn clean(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in pattern.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// The build context directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The context directory (absolute, symlinks resolved).
    pub root: PathBuf,
    /// Exclusions.
    pub ignore: Ignore,
}

impl BuildContext {
    /// Opens the context directory, reading its `.dockerignore` if any.
    pub fn open(dir: &Path) -> Result<BuildContext> {
        let root = dir
            // untrusted-paths: allowed: the context directory as the user named it
            .canonicalize()
            .with_context(|| format!("build context {}", dir.display()))?;
        // untrusted-paths: allowed: the context directory itself, just canonicalized
        if !root.is_dir() {
            bail!("build context {} is not a directory", dir.display());
        }
        let ignore_file = root.join(".dockerignore");
        let ctx = RootDir::open(&root, Follow::InRoot)
            .with_context(|| format!("build context {}", dir.display()))?;
        // Inside the context: a `.dockerignore` linking out of it is not the host's file.
        let ignore = match ctx.open_file_following(Path::new(".dockerignore")) {
            Ok(f) => {
                let mut text = String::new();
                f.take(MAX_IGNORE_FILE + 1)
                    .read_to_string(&mut text)
                    .with_context(|| format!("reading {}", ignore_file.display()))?;
                if text.len() as u64 > MAX_IGNORE_FILE {
                    bail!(
                        "{}: larger than the limit of {} MiB",
                        ignore_file.display(),
                        MAX_IGNORE_FILE >> 20
                    );
                }
                Ignore::parse(&text, &ignore_file)?
            }
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ignore::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", ignore_file.display())),
        };
        Ok(BuildContext { root, ignore })
    }

    /// Reads the Dockerfile `path` (a path on the host, as given with `-f`, or `None`: the
    /// context's `Dockerfile`). One inside the context is resolved inside it like every
    /// context file: a `Dockerfile` that links out of the context is refused, never read
    /// (nor shown in an error). One outside the context is the user's own file.
    pub fn read_dockerfile(&self, path: Option<&Path>) -> Result<(PathBuf, String)> {
        let in_context = match path {
            None => Some(PathBuf::from("Dockerfile")),
            Some(p) => {
                let parent = match p.parent() {
                    // untrusted-paths: allowed: the -f path as the user named it
                    Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok(),
                    _ => std::env::current_dir().ok(),
                };
                parent.and_then(|d| {
                    let rel = d.strip_prefix(&self.root).ok()?.to_path_buf();
                    Some(rel.join(p.file_name()?))
                })
            }
        };
        let shown = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.join("Dockerfile"));
        let Some(rel) = in_context else {
            // untrusted-paths: allowed: a -f Dockerfile outside the context is the user's own file
            let text = std::fs::read_to_string(&shown)
                .with_context(|| format!("reading the Dockerfile {}", shown.display()))?;
            return Ok((shown, text));
        };
        let ctx = RootDir::open(&self.root, Follow::InRoot)
            .with_context(|| format!("build context {}", self.root.display()))?;
        let file = ctx.open_file_following(&rel).map_err(|e| match e {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP => anyhow::anyhow!(
                "reading the Dockerfile {}: not found in the build context (a symlink is \
                 followed only inside the context)",
                shown.display()
            ),
            Errno::EINVAL => anyhow::anyhow!(
                "reading the Dockerfile {}: not a regular file",
                shown.display()
            ),
            e => anyhow::anyhow!("reading the Dockerfile {}: {e}", shown.display()),
        })?;
        let mut text = String::new();
        file.take(MAX_DOCKERFILE + 1)
            .read_to_string(&mut text)
            .with_context(|| format!("reading the Dockerfile {}", shown.display()))?;
        if text.len() as u64 > MAX_DOCKERFILE {
            bail!(
                "the Dockerfile {} is larger than {} MiB",
                shown.display(),
                MAX_DOCKERFILE >> 20
            );
        }
        Ok((shown, text))
    }
}

/// The largest Dockerfile read from a build context.
pub const MAX_DOCKERFILE: u64 = 16 << 20;

/// A source path checked to stay inside `root`: components normalized, `..` refused when it
/// would climb out. An absolute source is relative to the root, as Docker does.
pub fn relative_source(source: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(source).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    bail!("forbidden path outside the build context: {source}");
                }
            }
            Component::Normal(s) => out.push(s),
        }
    }
    Ok(out)
}

/// Expands a (relative, checked) source pattern against the directory tree at `root`:
/// paths whose components match the pattern's, sorted. `ignore` hides excluded paths.
/// A pattern without glob characters yields itself if it exists.
///
/// Every lookup is made inside `root` ([`RootDir`] with [`Follow::InRoot`]): a context
/// symlink to `/etc` leads to the context's own `etc`, so a pattern never lists (or probes
/// for) the host's files.
pub fn expand_glob(
    root: &RootDir,
    pattern: &Path,
    ignore: Option<&Ignore>,
) -> Result<Vec<PathBuf>> {
    let parts: Vec<String> = pattern
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut current = vec![PathBuf::new()];
    for part in &parts {
        let mut next = Vec::new();
        let wildcard = glob::has_wildcards(part);
        let pattern = Glob::new(part);
        for base in &current {
            if !wildcard {
                let candidate = base.join(part);
                if root.lstat_opt(&candidate).is_ok_and(|s| s.is_some()) {
                    next.push(candidate);
                }
                continue;
            }
            // The base itself may be a link to a directory (followed, inside the root).
            let Ok(dir) = root.open_at(base, OFlag::O_RDONLY | OFlag::O_DIRECTORY) else {
                continue;
            };
            let names = list_dir(dir.as_fd())
                .with_context(|| format!("reading {}", root.path().join(base).display()))?;
            for name in names {
                let name = name.to_string_lossy().into_owned();
                if pattern.matches(&name) {
                    next.push(base.join(name));
                }
            }
        }
        current = next;
    }
    let mut out: Vec<PathBuf> = current
        .into_iter()
        .filter(|p| !ignore.is_some_and(|i| i.excludes(p)))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn dockerignore_patterns() {
        let ig = parse(
            "# comment\n*.log\n/build\n**/secret*\ndocs/**/*.md\n!docs/keep.md\n!important.log\n",
        );
        assert!(ig.excludes(Path::new("a.log")));
        assert!(!ig.excludes(Path::new("sub/a.log")), "* does not cross /");
        assert!(!ig.excludes(Path::new("important.log")), "exception");
        assert!(ig.excludes(Path::new("build")));
        assert!(
            ig.excludes(Path::new("build/out/x")),
            "under an excluded dir"
        );
        assert!(ig.excludes(Path::new("secret.txt")));
        assert!(ig.excludes(Path::new("a/b/secret.key")));
        assert!(ig.excludes(Path::new("docs/a/b/x.md")));
        assert!(ig.excludes(Path::new("docs/x.md")), "** matches zero dirs");
        assert!(!ig.excludes(Path::new("docs/keep.md")));
        assert!(!ig.excludes(Path::new("src/main.rs")));
    }

    #[test]
    fn globs() {
        use crate::glob::matches;
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "a.txtx"));
        assert!(matches("file?", "file1"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("\\*", "*"));
    }

    #[test]
    fn dockerignore_classes_escapes_and_deep_stars() {
        let ig = parse("[a-c]*.tmp\nlit\\*ral\n**/cache/**/x?\n");
        assert!(ig.excludes(Path::new("b1.tmp")));
        assert!(!ig.excludes(Path::new("d1.tmp")));
        assert!(ig.excludes(Path::new("lit*ral")));
        assert!(!ig.excludes(Path::new("literal")));
        assert!(ig.excludes(Path::new("cache/x1")));
        assert!(ig.excludes(Path::new("a/cache/b/c/x2/under")));
        assert!(!ig.excludes(Path::new("a/cache/b/c/y2")));
    }

    #[test]
    fn a_hostile_dockerignore_is_fast_or_refused() {
        let deep: PathBuf = vec!["a"; 500].into_iter().collect();
        let ig = parse("*a*a*a*a*a*a*a*b\n**/**/**/**/**/**/b\n");
        let start = std::time::Instant::now();
        assert!(!ig.excludes(&deep));
        assert!(!ig.excludes(Path::new(&"a".repeat(200))));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));

        let long = format!("# fine\n{}\n", "x".repeat(MAX_PATTERN));
        assert!(Ignore::parse(&long, Path::new("ctx/.dockerignore")).is_ok());
        let long = format!("# fine\n\n{}\n", "*a".repeat(MAX_PATTERN));
        let err = Ignore::parse(&long, Path::new("ctx/.dockerignore")).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("ctx/.dockerignore line 3"), "{err}");
        assert!(err.contains("8192 bytes, over the limit of 4096"), "{err}");
    }

    #[test]
    fn an_oversized_dockerignore_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let line = format!("{}\n", "x".repeat(1023));
        let f = std::fs::File::create(d.path().join(".dockerignore")).unwrap();
        let mut w = std::io::BufWriter::new(f);
        for _ in 0..(MAX_IGNORE_FILE / 1024 + 1) {
            std::io::Write::write_all(&mut w, line.as_bytes()).unwrap();
        }
        drop(w);
        let err = format!("{:#}", BuildContext::open(d.path()).unwrap_err());
        assert!(
            err.contains(".dockerignore: larger than the limit of 4 MiB"),
            "{err}"
        );
        fs::write(d.path().join(".dockerignore"), "*.log\n").unwrap();
        assert!(BuildContext::open(d.path())
            .unwrap()
            .ignore
            .excludes(Path::new("a.log")));
    }

    fn parse(text: &str) -> Ignore {
        Ignore::parse(text, Path::new(".dockerignore")).unwrap()
    }

    #[test]
    fn sources_stay_inside_the_context() {
        assert_eq!(relative_source("/a/./b").unwrap(), Path::new("a/b"));
        assert_eq!(relative_source("a/../b").unwrap(), Path::new("b"));
        assert!(relative_source("../x").is_err());
        assert!(relative_source("a/../../x").is_err());
        assert_eq!(relative_source(".").unwrap(), Path::new(""));
    }

    #[test]
    fn glob_expansion_in_a_tree() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.txt", "c.md", "sub/d.txt"] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        let ig = parse("b.txt\n");
        let root = RootDir::open(d.path(), Follow::InRoot).unwrap();
        let got = expand_glob(&root, Path::new("*.txt"), Some(&ig)).unwrap();
        assert_eq!(got, vec![PathBuf::from("a.txt")]);
        let got = expand_glob(&root, Path::new("*/*.txt"), None).unwrap();
        assert_eq!(got, vec![PathBuf::from("sub/d.txt")]);
        assert!(expand_glob(&root, Path::new("nope"), None)
            .unwrap()
            .is_empty());
        let ig = parse("sub\n");
        assert!(expand_glob(&root, Path::new("sub/d.txt"), Some(&ig))
            .unwrap()
            .is_empty());
    }
}
