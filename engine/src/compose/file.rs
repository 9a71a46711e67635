//! Finding and reading a compose file: `compose.yaml` (and its three other names) in the
//! current directory, `.env` beside it, interpolation, then the typed model. A YAML syntax
//! error is reported with its line; a value of the wrong type with its path and, when the raw
//! file shows it, its line; an unknown key is a warning naming it (and its service).

use super::interpolate::interpolate_tree;
use super::model::ComposeFile;
use crate::capped_read::read_to_string_capped;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The names `docker compose` looks for, in its order of preference.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// A compose file, read and interpolated.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The files, in the order they were laid over each other.
    pub paths: Vec<PathBuf>,
    /// The first file's directory: relative paths (build contexts, binds, env files) start
    /// here.
    pub dir: PathBuf,
    /// The model.
    pub file: ComposeFile,
    /// The variables interpolation used (`.env`, overridden by the process environment).
    pub vars: BTreeMap<String, String>,
    /// Warnings for the user (unknown keys, unset variables, obsolete `version`).
    pub warnings: Vec<String>,
}

/// The compose file in `dir` (the first of [`FILE_NAMES`] that exists).
pub fn find(dir: &Path) -> Result<PathBuf> {
    FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no compose file in {}: looked for {} (or give one with -f)",
                dir.display(),
                FILE_NAMES.join(", ")
            )
        })
}

/// Reads `.env`-style `KEY=VALUE` lines (comments, blank lines, `export ` prefixes and
/// surrounding quotes handled as compose does).
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            bail!(
                "{}:{}: expected KEY=VALUE, found {line:?}",
                path.display(),
                n + 1
            );
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("{}:{}: invalid variable name {k:?}", path.display(), n + 1);
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // An unquoted value ends at a ` #` comment.
            v.split(" #").next().unwrap_or(v).trim_end().to_string()
        };
        out.insert(k.to_string(), v);
    }
    Ok(out)
}

/// The override file Docker Compose reads after `path` when it exists
/// (`compose.override.yaml` beside `compose.yaml`).
pub fn override_of(path: &Path) -> Option<PathBuf> {
    let stem = path.file_stem()?.to_str()?;
    let dir = path.parent()?;
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.override.{ext}")))
        .find(|p| p.is_file())
}

/// Loads `paths` (each laid over the ones before): `.env` from the first one's directory
/// (`env_file` overrides where), the process environment over it, interpolation, the typed
/// model.
pub fn load(paths: &[PathBuf], env_file: Option<&Path>) -> Result<Loaded> {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::path::absolute(p).with_context(|| format!("resolving {}", p.display())))
        .collect::<Result<_>>()?;
    let first = paths.first().context("no compose file given")?;
    let dir = first
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut vars = BTreeMap::new();
    let dotenv = env_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join(".env"));
    if dotenv.is_file() {
        vars = read_dotenv(&dotenv)?;
    } else if env_file.is_some() {
        bail!("env file {} not found", dotenv.display());
    }
    for (k, v) in std::env::vars() {
        vars.insert(k, v);
    }
    let mut merged: Option<yaml_serde::Value> = None;
    let mut warnings = Vec::new();
    let mut text = String::new();
    for path in &paths {
        text = read_compose_file(path)?;
        let (tree, w) = read_tree(&text, &vars).with_context(|| path.display().to_string())?;
        warnings.extend(w);
        match &mut merged {
            None => merged = Some(tree),
            Some(m) => super::merge::merge(m, tree, ""),
        }
    }
    let tree = merged.context("no compose file given")?;
    // A type error's line is found in the file's own text: only with one file.
    let lines = (paths.len() == 1).then_some(text.as_str());
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (file, w) = typed(&tree, lines).with_context(|| names.clone())?;
    warnings.extend(w);
    Ok(Loaded {
        paths,
        dir,
        file,
        vars,
        warnings,
    })
}

/// The largest compose file read (real ones are a few KB; a generated file with hundreds of
/// services stays well under it), so a hostile one cannot make pier read gigabytes into
/// memory before parsing.
pub const MAX_FILE_SIZE: u64 = 4 << 20;

/// Reads one compose file, refusing one larger than [`MAX_FILE_SIZE`].
fn read_compose_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    read_to_string_capped(
        file,
        MAX_FILE_SIZE,
        &path.display().to_string(),
        "a compose file",
    )
}

/// Parses compose text with `vars` for interpolation; returns the model and the warnings.
pub fn parse(text: &str, vars: &BTreeMap<String, String>) -> Result<(ComposeFile, Vec<String>)> {
    let (tree, mut warnings) = read_tree(text, vars)?;
    let (file, w) = typed(&tree, Some(text))?;
    warnings.extend(w);
    Ok((file, warnings))
}

/// One file as a YAML tree: syntax checked (errors with their line), variables interpolated,
/// merge keys resolved. Warns about unset variables.
fn read_tree(
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(yaml_serde::Value, Vec<String>)> {
    super::nesting::check_depth(text, super::nesting::MAX_DEPTH)?;
    let mut tree: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| syntax_error(&e))?;
    if tree.is_null() {
        bail!("the file is empty");
    }
    if !tree.is_mapping() {
        bail!("line 1: the top level must be a map (services:, volumes:, networks:)");
    }
    let mut warnings = Vec::new();
    let mut unset = Vec::new();
    interpolate_tree(&mut tree, vars, "", &mut |name| {
        if !unset.iter().any(|u| u == name) {
            unset.push(name.to_string());
        }
    })?;
    for name in unset {
        warnings.push(format!(
            "the {name:?} variable is not set: defaulting to a blank string"
        ));
    }
    // Merge keys (`<<: *defaults`) are YAML 1.1: resolve them as compose does.
    tree.apply_merge()
        .map_err(|e| anyhow::anyhow!("resolving `<<` merge keys: {e}"))?;
    Ok((tree, warnings))
}

/// The tree read into the model; unknown keys become warnings. `text` (the raw file) lets a
/// type error name its line.
fn typed(tree: &yaml_serde::Value, text: Option<&str>) -> Result<(ComposeFile, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut ignored = Vec::new();
    let result: Result<ComposeFile, _> = {
        let mut note = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
        let track = serde_ignored::Deserializer::new(tree, &mut note);
        serde_path_to_error::deserialize(track)
    };
    let file = match result {
        Ok(f) => f,
        Err(e) => {
            let at = e.path().to_string();
            let mut msg = format!("{at}: {}", e.inner());
            if let Some(line) = text.and_then(|t| line_of_type_error(t, &at)) {
                msg = format!("line {line}: {msg}");
            }
            bail!("{msg}");
        }
    };
    for key in ignored {
        if let Some(w) = unknown_key_warning(&key) {
            warnings.push(w);
        }
    }
    if file.version.is_some() {
        warnings.push(
            "the attribute `version` is obsolete, it will be ignored (as docker compose does)"
                .to_string(),
        );
    }
    Ok((file, warnings))
}

/// A YAML syntax error as one line, with the line number first (the parser's message says
/// the column, and where the enclosing block started).
fn syntax_error(e: &yaml_serde::Error) -> anyhow::Error {
    match e.location() {
        Some(l) => anyhow::anyhow!("line {}: invalid YAML: {e}", l.line()),
        None => anyhow::anyhow!("invalid YAML: {e}"),
    }
}

/// The line of a type error at `path`: the raw (uninterpolated) file read into the model
/// again fails at the same path, and that parser knows the line. `None` when the error came
/// from an interpolated value.
fn line_of_type_error(text: &str, path: &str) -> Option<usize> {
    let de = yaml_serde::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, ComposeFile>(de) {
        Err(e) if e.path().to_string() == path => e.inner().location().map(|l| l.line()),
        _ => None,
    }
}

/// The warning for an ignored key path (`services.web.foo`); extension fields (`x-...`) are
/// the spec's way to keep private data in the file, so they are ignored silently.
fn unknown_key_warning(path: &str) -> Option<String> {
    // serde_ignored writes `?` for the inside of an `Option`.
    let parts: Vec<&str> = path.split('.').filter(|p| *p != "?").collect();
    if parts.iter().any(|p| p.starts_with("x-")) {
        return None;
    }
    Some(match parts.as_slice() {
        ["services", service, rest @ ..] if !rest.is_empty() => format!(
            "service {service:?}: unsupported key {:?} is ignored",
            rest.join(".")
        ),
        ["networks", net, rest @ ..] if !rest.is_empty() => format!(
            "network {net:?}: unsupported key {:?} is ignored",
            rest.join(".")
        ),
        ["volumes", vol, rest @ ..] if !rest.is_empty() => format!(
            "volume {vol:?}: unsupported key {:?} is ignored",
            rest.join(".")
        ),
        _ => format!("unsupported key {:?} is ignored", parts.join(".")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn syntax_error_names_the_line() {
        let text = "services:\n  web:\n    image: busybox\n   command: [oops\n";
        let e = parse(text, &vars(&[])).unwrap_err().to_string();
        assert!(e.starts_with("line "), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn type_error_names_path_and_line() {
        let text = "services:\n  web:\n    image: busybox\n    ports: 80\n";
        let e = parse(text, &vars(&[])).unwrap_err().to_string();
        assert!(e.contains("services.web.ports"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn unknown_keys_are_warnings_and_extensions_are_not() {
        let text = "x-common: &c {a: 1}\nservices:\n  web:\n    image: busybox\n    frobnicate: yes\n    x-note: hi\nsecrets: {}\n";
        let (f, w) = parse(text, &vars(&[])).unwrap();
        assert!(f.services.contains_key("web"));
        assert!(
            w.iter()
                .any(|w| w.contains("\"web\"") && w.contains("frobnicate")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("secrets")), "{w:?}");
        assert!(!w.iter().any(|w| w.contains("x-")), "{w:?}");
    }

    #[test]
    fn interpolation_reaches_typed_fields() {
        let text = "services:\n  web:\n    image: \"busybox:${TAG:-latest}\"\n    cpus: ${CPUS}\n    ports: [\"${PORT:-8080}:80\"]\n";
        let (f, w) = parse(text, &vars(&[("CPUS", "0.5")])).unwrap();
        let web = &f.services["web"];
        assert_eq!(web.image.as_deref(), Some("busybox:latest"));
        assert_eq!(web.cpus.as_ref().unwrap().text(), "0.5");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn dotenv_forms() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".env");
        std::fs::write(&p, "# c\nA=1\nexport B=\"two words\"\nC='x' \nD=v # note\n").unwrap();
        let v = read_dotenv(&p).unwrap();
        assert_eq!(v["A"], "1");
        assert_eq!(v["B"], "two words");
        assert_eq!(v["C"], "x");
        assert_eq!(v["D"], "v");
    }
}
