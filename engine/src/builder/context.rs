//! The build context: the directory `COPY` and `ADD` read from, minus what `.dockerignore`
//! excludes, plus the path rules (no escaping the context, globs).
//!
//! `.dockerignore` patterns follow Docker: one per line, `#` comments, paths relative to the
//! context (a leading `/` is ignored), `*` and `?` within one path component, `**` across
//! any number of them, `[a-z]` classes, `!` re-includes; the last matching pattern wins,
//! and excluding a directory excludes everything under it.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// One `.dockerignore` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Path components of the pattern.
    parts: Vec<String>,
    /// `!pattern`: re-include.
    exception: bool,
}

/// The parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
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
            patterns.push(Pattern { parts, exception });
        }
        Ignore { patterns }
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
            // A pattern matches the path or one of its parent directories.
            let hit = (1..=parts.len()).any(|n| match_parts(&p.parts, &parts[..n]));
            if hit {
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

/// Matches pattern components against path components (`**` spans zero or more).
fn match_parts(pat: &[String], path: &[String]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_parts(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob_component(first, p) && match_parts(rest, prest),
            None => false,
        },
    }
}

/// Matches one path component against a glob (`*`, `?`, `[...]`, `\` escapes).
pub fn glob_component(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|e| e + 1) else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Whether a path component has glob characters.
fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
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
            .canonicalize()
            .with_context(|| format!("build context {}", dir.display()))?;
        if !root.is_dir() {
            bail!("build context {} is not a directory", dir.display());
        }
        let ignore_file = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ignore_file) {
            Ok(t) => Ignore::parse(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", ignore_file.display())),
        };
        Ok(BuildContext { root, ignore })
    }
}

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
pub fn expand_glob(root: &Path, pattern: &Path, ignore: Option<&Ignore>) -> Result<Vec<PathBuf>> {
    let parts: Vec<String> = pattern
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut current = vec![PathBuf::new()];
    for part in &parts {
        let mut next = Vec::new();
        for base in &current {
            if !is_glob(part) {
                let candidate = base.join(part);
                if fs::symlink_metadata(root.join(&candidate)).is_ok() {
                    next.push(candidate);
                }
                continue;
            }
            let dir = root.join(base);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd {
                let e = e.with_context(|| format!("reading {}", dir.display()))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if glob_component(part, &name) {
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

    #[test]
    fn dockerignore_patterns() {
        let ig = Ignore::parse(
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
        assert!(glob_component("*.txt", "a.txt"));
        assert!(!glob_component("*.txt", "a.txtx"));
        assert!(glob_component("file?", "file1"));
        assert!(glob_component("[a-c]x", "bx"));
        assert!(!glob_component("[!a-c]x", "bx"));
        assert!(glob_component("\\*", "*"));
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
        let ig = Ignore::parse("b.txt\n");
        let got = expand_glob(d.path(), Path::new("*.txt"), Some(&ig)).unwrap();
        assert_eq!(got, vec![PathBuf::from("a.txt")]);
        let got = expand_glob(d.path(), Path::new("*/*.txt"), None).unwrap();
        assert_eq!(got, vec![PathBuf::from("sub/d.txt")]);
        assert!(expand_glob(d.path(), Path::new("nope"), None)
            .unwrap()
            .is_empty());
        let ig = Ignore::parse("sub\n");
        assert!(expand_glob(d.path(), Path::new("sub/d.txt"), Some(&ig))
            .unwrap()
            .is_empty());
    }
}
