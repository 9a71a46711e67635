//! `-v`, `--mount` and `--tmpfs`: what the user asked to mount, validated before anything is
//! created, with Docker's syntax and rules.
//!
//! - `-v /host:/ctr[:OPTS]` is a bind mount (a source starting with `/`), `-v name:/ctr[:OPTS]`
//!   a named volume (created on first use), `-v /ctr` an anonymous volume. `OPTS` is a
//!   comma-separated list of `ro`, `rw`, `nocopy` (volumes), `z`/`Z` (SELinux labels: nothing
//!   to do without SELinux) and `rprivate`/`private` (pier's mounts are private).
//! - `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...` takes Docker's keys;
//!   an unknown key, or a key of another type, is an error naming it.

use super::config::{BindMount, TmpfsMount, VolumeMount};
use crate::units;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every mount of `pier run`/`create`, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MountArgs {
    /// Host paths.
    pub binds: Vec<BindMount>,
    /// Named and anonymous volumes.
    pub volumes: Vec<VolumeMount>,
    /// tmpfs mounts.
    pub tmpfs: Vec<TmpfsMount>,
}

/// One parsed `-v` or `--mount` value.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Bind(BindMount),
    Volume(VolumeMount),
    Tmpfs(TmpfsMount),
}

impl MountArgs {
    /// Parses the `-v`, `--mount` and `--tmpfs` values; two mounts on the same container path
    /// are an error, as in Docker.
    pub fn parse(volume: &[String], mount: &[String], tmpfs: &[String]) -> Result<MountArgs> {
        let mut out = MountArgs::default();
        let parsed = volume
            .iter()
            .map(|v| parse_volume_flag(v))
            .chain(mount.iter().map(|m| parse_mount_flag(m)))
            .chain(
                tmpfs
                    .iter()
                    .map(|t| TmpfsMount::parse(t).map(Parsed::Tmpfs)),
            );
        for p in parsed {
            match p? {
                Parsed::Bind(b) => out.binds.push(b),
                Parsed::Volume(v) => out.volumes.push(v),
                Parsed::Tmpfs(t) => out.tmpfs.push(t),
            }
        }
        let mut seen: Vec<&Path> = Vec::new();
        for dest in out.destinations() {
            if seen.contains(&dest) {
                bail!("duplicate mount point: {}", dest.display());
            }
            seen.push(dest);
        }
        Ok(out)
    }

    /// Every container path something is mounted on.
    pub fn destinations(&self) -> impl Iterator<Item = &Path> {
        self.binds
            .iter()
            .map(|b| b.destination.as_path())
            .chain(self.volumes.iter().map(|v| v.destination.as_path()))
            .chain(self.tmpfs.iter().map(|t| t.destination.as_path()))
    }
}

/// Checks a container path: absolute, not `/` itself.
fn destination(flag: &str, spec: &str, path: &str) -> Result<PathBuf> {
    if !path.starts_with('/') {
        bail!("invalid {flag} {spec:?}: the container path {path:?} must be absolute");
    }
    let p = PathBuf::from(path);
    if p.parent().is_none() {
        bail!("invalid {flag} {spec:?}: the container path cannot be /");
    }
    Ok(p)
}

/// A bind source: absolute and existing (Docker would create a missing one; pier refuses, so
/// a typo is an error instead of an empty directory).
fn bind_source(flag: &str, spec: &str, path: &str) -> Result<PathBuf> {
    if !path.starts_with('/') {
        bail!("invalid {flag} {spec:?}: the host path {path:?} must be absolute");
    }
    let p = PathBuf::from(path);
    if !p.exists() {
        bail!("invalid {flag} {spec:?}: bind source path does not exist: {path}");
    }
    Ok(p)
}

fn volume_name(flag: &str, spec: &str, name: &str) -> Result<String> {
    crate::volume::validate_name(name).with_context(|| {
        format!(
            "invalid {flag} {spec:?} (a host path must be absolute, anything else names a volume)"
        )
    })?;
    Ok(name.to_string())
}

/// Parses `-v HOST:CONTAINER[:OPTS]`, `-v NAME:CONTAINER[:OPTS]` or `-v CONTAINER`.
fn parse_volume_flag(spec: &str) -> Result<Parsed> {
    const FLAG: &str = "-v";
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => (Some(*s), *t, ""),
        [s, t, o] => (Some(*s), *t, *o),
        _ => bail!("invalid -v {spec:?}: expected [HOST_PATH|NAME:]CONTAINER_PATH[:OPTIONS]"),
    };
    if source == Some("") {
        bail!("invalid -v {spec:?}: the source before ':' is empty");
    }
    let destination = destination(FLAG, spec, target)?;
    let (mut read_only, mut no_copy, mut mode_seen) = (false, false, false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" if mode_seen => bail!("invalid -v {spec:?}: give ro or rw only once"),
            "ro" | "rw" => {
                read_only = o == "ro";
                mode_seen = true;
            }
            "nocopy" => no_copy = true,
            "z" | "Z" | "private" | "rprivate" => {}
            "shared" | "rshared" | "slave" | "rslave" => bail!(
                "invalid -v {spec:?}: propagation {o:?} is not supported: pier's mounts are private"
            ),
            other => bail!("invalid -v {spec:?}: unknown option {other:?} (use ro, rw or nocopy)"),
        }
    }
    match source {
        Some(s) if s.starts_with('/') => {
            if no_copy {
                bail!("invalid -v {spec:?}: nocopy is for volumes, not host paths");
            }
            Ok(Parsed::Bind(BindMount {
                source: bind_source(FLAG, spec, s)?,
                destination,
                read_only,
            }))
        }
        source => Ok(Parsed::Volume(VolumeMount {
            name: source.map(|s| volume_name(FLAG, spec, s)).transpose()?,
            anonymous: source.is_none(),
            destination,
            read_only,
            no_copy,
            labels: BTreeMap::new(),
        })),
    }
}

/// `strconv.ParseBool`'s words, as Docker reads `readonly=` and `volume-nocopy=`.
fn parse_bool(spec: &str, key: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None => Ok(true),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => bail!("invalid --mount {spec:?}: {key}={v:?} is not true or false"),
    }
}

/// Parses Docker's `--mount` value (comma-separated `key=value` fields).
fn parse_mount_flag(spec: &str) -> Result<Parsed> {
    const FLAG: &str = "--mount";
    let mut kind = "volume";
    let (mut source, mut target) = (None, None);
    let (mut read_only, mut no_copy) = (false, false);
    let mut labels = BTreeMap::new();
    let (mut tmpfs_size, mut tmpfs_mode) = (None, None);
    // Keys that belong to one type only, to refuse them on another.
    let mut typed: Vec<(&str, &str)> = Vec::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (field.trim(), None),
        };
        let need = || -> Result<&str> {
            value.with_context(|| {
                format!("invalid --mount {spec:?}: {key} needs a value ({key}=...)")
            })
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                kind = match need()? {
                    t @ ("bind" | "volume" | "tmpfs") => t,
                    other => bail!(
                        "invalid --mount {spec:?}: type {other:?} is not supported (use bind, volume or tmpfs)"
                    ),
                }
            }
            "source" | "src" => source = Some(need()?),
            "target" | "destination" | "dst" => target = Some(need()?),
            "readonly" | "ro" => read_only = parse_bool(spec, key, value)?,
            "volume-nocopy" => {
                no_copy = parse_bool(spec, key, value)?;
                typed.push((key, "volume"));
            }
            "volume-label" => {
                let label = need()?;
                let (k, v) = label.split_once('=').unwrap_or((label, ""));
                labels.insert(k.to_string(), v.to_string());
                typed.push((key, "volume"));
            }
            "volume-driver" => {
                if need()? != "local" {
                    bail!("invalid --mount {spec:?}: only the local volume driver exists in pier");
                }
                typed.push((key, "volume"));
            }
            "volume-opt" => bail!(
                "invalid --mount {spec:?}: volume-opt is not supported (pier's volumes are local directories)"
            ),
            "bind-propagation" => {
                if !matches!(need()?, "private" | "rprivate") {
                    bail!("invalid --mount {spec:?}: bind-propagation {:?} is not supported: pier's mounts are private", need()?);
                }
                typed.push((key, "bind"));
            }
            "bind-recursive" => {
                // pier's binds are recursive, and read-only ones recursively read-only.
                if !matches!(need()?, "enabled" | "readonly") {
                    bail!("invalid --mount {spec:?}: bind-recursive {:?} is not supported (pier's binds are always recursive)", need()?);
                }
                typed.push((key, "bind"));
            }
            "consistency" => {} // macOS file sharing; Docker ignores it on Linux too.
            "tmpfs-size" => {
                let v = need()?;
                tmpfs_size = Some(
                    units::parse_size(v)
                        .with_context(|| format!("invalid --mount {spec:?}: tmpfs-size={v:?}"))?,
                );
                typed.push((key, "tmpfs"));
            }
            "tmpfs-mode" => {
                let v = need()?;
                tmpfs_mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .with_context(|| {
                            format!("invalid --mount {spec:?}: tmpfs-mode={v:?} is not an octal mode")
                        })?,
                );
                typed.push((key, "tmpfs"));
            }
            _ if value.is_none() => {
                bail!("invalid --mount {spec:?}: field {field:?} must be a key=value pair")
            }
            _ => bail!("invalid --mount {spec:?}: unexpected key {key:?} in {field:?}"),
        }
    }
    if let Some((key, for_type)) = typed.iter().find(|(_, t)| *t != kind) {
        bail!("invalid --mount {spec:?}: key {key:?} is for type={for_type}, not type={kind}");
    }
    let target = target
        .with_context(|| format!("invalid --mount {spec:?}: target is required (target=/path)"))?;
    let destination = destination(FLAG, spec, target)?;
    match kind {
        "bind" => {
            let source = source.with_context(|| {
                format!("invalid --mount {spec:?}: type=bind needs source=/host/path")
            })?;
            Ok(Parsed::Bind(BindMount {
                source: bind_source(FLAG, spec, source)?,
                destination,
                read_only,
            }))
        }
        "tmpfs" => {
            if source.is_some() {
                bail!("invalid --mount {spec:?}: type=tmpfs takes no source");
            }
            let mut options: Vec<String> = [
                if read_only { "ro" } else { "rw" },
                "noexec",
                "nosuid",
                "nodev",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if let Some(size) = tmpfs_size {
                options.push(format!("size={size}"));
            }
            if let Some(mode) = tmpfs_mode {
                options.push(format!("mode={mode:o}"));
            }
            Ok(Parsed::Tmpfs(TmpfsMount {
                destination,
                options,
            }))
        }
        _ => {
            if source.is_some_and(|s| s.starts_with('/')) {
                bail!("invalid --mount {spec:?}: a host path is mounted with type=bind");
            }
            Ok(Parsed::Volume(VolumeMount {
                name: source
                    .filter(|s| !s.is_empty())
                    .map(|s| volume_name(FLAG, spec, s))
                    .transpose()?,
                anonymous: source.is_none_or(str::is_empty),
                destination,
                read_only,
                no_copy,
                labels,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: &[&str], m: &[&str]) -> Result<MountArgs> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        let m: Vec<String> = m.iter().map(|s| s.to_string()).collect();
        MountArgs::parse(&v, &m, &[])
    }

    fn err(v: &[&str], m: &[&str]) -> String {
        format!("{:#}", one(v, m).unwrap_err())
    }

    #[test]
    fn dash_v_forms() {
        let f = one(
            &[
                "/tmp:/data:ro",
                "db:/var/lib/db",
                "/anon",
                "cache:/c:rw,nocopy",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(f.binds.len(), 1);
        assert!(f.binds[0].read_only);
        assert_eq!(f.volumes[0].name.as_deref(), Some("db"));
        assert!(!f.volumes[0].anonymous && !f.volumes[0].read_only);
        assert_eq!(f.volumes[1].name, None);
        assert!(f.volumes[1].anonymous);
        assert!(f.volumes[2].no_copy);
    }

    #[test]
    fn dash_v_errors_name_the_problem() {
        assert!(err(&["/definitely/not/here:/data"], &[]).contains("does not exist"));
        assert!(err(&["rel/path:/data"], &[]).contains("invalid volume name"));
        assert!(err(&["x:/data"], &[]).contains("invalid volume name \"x\""));
        assert!(err(&["/tmp:/data:zz"], &[]).contains("unknown option \"zz\""));
        assert!(err(&["db:data"], &[]).contains("must be absolute"));
        assert!(err(&["db:/"], &[]).contains("cannot be /"));
        assert!(err(&["/tmp:/d:nocopy"], &[]).contains("nocopy"));
        assert!(err(&["aa:/d", "bb:/d/"], &[]).contains("duplicate mount point: /d"));
    }

    #[test]
    fn mount_forms() {
        let f = one(
            &[],
            &[
                "type=volume,source=db,target=/db,readonly,volume-label=app=x",
                "type=bind,src=/tmp,dst=/h,ro=false",
                "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770",
                "target=/anon",
            ],
        )
        .unwrap();
        assert_eq!(f.volumes[0].name.as_deref(), Some("db"));
        assert!(f.volumes[0].read_only);
        assert_eq!(
            f.volumes[0].labels.get("app").map(String::as_str),
            Some("x")
        );
        assert!(!f.binds[0].read_only);
        assert!(f.tmpfs[0].options.contains(&"size=1048576".to_string()));
        assert!(f.tmpfs[0].options.contains(&"mode=1770".to_string()));
        assert!(f.volumes[1].anonymous);
    }

    #[test]
    fn mount_errors_name_the_key() {
        assert!(
            err(&[], &["type=volume,target=/d,colour=red"]).contains("unexpected key \"colour\"")
        );
        assert!(
            err(&[], &["type=volume,target=/d,bogus"]).contains("\"bogus\" must be a key=value")
        );
        assert!(err(&[], &["type=bind,source=/tmp,target=/d,tmpfs-size=1m"])
            .contains("key \"tmpfs-size\" is for type=tmpfs, not type=bind"));
        assert!(err(&[], &["type=nfs,target=/d"]).contains("type \"nfs\""));
        assert!(err(&[], &["type=volume,source=db"]).contains("target is required"));
        assert!(err(&[], &["type=tmpfs,source=x,target=/d"]).contains("takes no source"));
        assert!(err(&[], &["type=bind,target=/d"]).contains("needs source"));
        assert!(err(&[], &["type=volume,source=/tmp,target=/d"]).contains("type=bind"));
        assert!(err(&[], &["type=tmpfs,target=/d,tmpfs-mode=999"]).contains("tmpfs-mode"));
        assert!(err(&[], &["target=/d,readonly=maybe"]).contains("readonly"));
    }
}
