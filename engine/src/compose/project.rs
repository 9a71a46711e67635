//! A project: the compose file resolved into services (in start order), networks and volumes
//! with their real names, and the project's name.

use super::file::{self, Loaded};
use super::plan;
use super::service::{self, Names, ServicePlan};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the user pointed at the project (`-f`, `-p`, `--env-file`, the current directory).
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    /// `-f FILE`s, laid over each other in order (default: the first of
    /// [`file::FILE_NAMES`] in `dir`, and its override file if there is one).
    pub files: Vec<PathBuf>,
    /// `-p NAME`.
    pub name: Option<String>,
    /// `--env-file` (default: `.env` beside the file).
    pub env_file: Option<PathBuf>,
    /// Where to look for the file (the current directory).
    pub dir: PathBuf,
    /// Create missing host directories of bind mounts (for commands that make containers).
    pub create_host_dirs: bool,
    /// Active profiles (`--profile`, else `COMPOSE_PROFILES`): services with `profiles:`
    /// take part only when one of theirs is active.
    pub profiles: Vec<String>,
}

/// A project network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPlan {
    /// Its key in the file.
    pub key: String,
    /// Its real name.
    pub name: String,
    /// Made outside compose.
    pub external: bool,
}

/// A project volume.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumePlan {
    /// Its key in the file.
    pub key: String,
    /// Its real name.
    pub name: String,
    /// Made outside compose.
    pub external: bool,
    /// Labels from the file.
    pub labels: BTreeMap<String, String>,
}

/// A resolved project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's name.
    pub name: String,
    /// The file as read.
    pub loaded: Loaded,
    /// Services in start order.
    pub services: Vec<ServicePlan>,
    /// Networks that some service uses.
    pub networks: Vec<NetworkPlan>,
    /// Declared volumes.
    pub volumes: Vec<VolumePlan>,
    /// Services of the file left out by its profiles: their containers are not orphans.
    pub disabled: Vec<String>,
}

/// Docker Compose's rule for project names: lower case letters, digits, `-` and `_`,
/// starting with a letter or digit.
pub fn normalize_name(raw: &str) -> String {
    raw.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .collect()
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || normalize_name(name) != name {
        bail!("invalid project name {name:?}: use lower case letters, digits, dashes and underscores, starting with a letter or digit");
    }
    Ok(())
}

impl Project {
    /// Finds, reads and resolves the project.
    pub fn load(opts: &ProjectOptions) -> Result<Project> {
        let paths: Vec<PathBuf> = if opts.files.is_empty() {
            let found = file::find(&opts.dir)?;
            let over = file::override_of(&found);
            std::iter::once(found).chain(over).collect()
        } else {
            opts.files.iter().map(|f| opts.dir.join(f)).collect()
        };
        let loaded = file::load(&paths, opts.env_file.as_deref())?;
        let name = match &opts.name {
            Some(n) => n.clone(),
            None => match loaded
                .vars
                .get("COMPOSE_PROJECT_NAME")
                .filter(|n| !n.is_empty())
            {
                Some(n) => n.clone(),
                None => match &loaded.file.name {
                    Some(n) => n.clone(),
                    None => normalize_name(
                        &loaded
                            .dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                },
            },
        };
        check_name(&name)?;
        let mut profiles = opts.profiles.clone();
        if profiles.is_empty() {
            if let Some(p) = loaded.vars.get("COMPOSE_PROFILES") {
                profiles = p
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
            }
        }
        let mut loaded = loaded;
        let mut disabled = Vec::new();
        loaded.file.services.retain(|key, s| {
            let on = s.profiles.is_empty()
                || s.profiles.iter().any(|p| profiles.contains(p) || p == "*");
            if !on {
                disabled.push(key.clone());
            }
            on
        });
        let mut project = Project::resolve(name, loaded, opts.create_host_dirs)
            .with_context(|| paths[0].display().to_string())?;
        project.disabled = disabled;
        Ok(project)
    }

    fn resolve(name: String, loaded: Loaded, create_host_dirs: bool) -> Result<Project> {
        let f = &loaded.file;
        if f.services.is_empty() {
            bail!("no services defined");
        }
        for s in f.services.keys() {
            crate::naming::check("service", s, 1, 63)?;
        }
        let flag = |v: Option<&super::model::Scalar>, what: &str| -> Result<bool> {
            v.map(|s| s.as_bool(what))
                .transpose()
                .map(|b| b.unwrap_or(false))
        };
        let mut networks = Vec::new();
        let mut keys: Vec<String> = f.networks.keys().cloned().collect();
        if !keys.iter().any(|k| k == "default") {
            keys.push("default".into());
        }
        for key in keys {
            let def = f.networks.get(&key).cloned().flatten().unwrap_or_default();
            if let Some(d) = def.driver.as_deref() {
                if d != "bridge" {
                    bail!(
                        "network {key:?}: driver {d:?} is not supported (pier has bridge networks)"
                    );
                }
            }
            let external = flag(def.external.as_ref(), &format!("networks.{key}.external"))?;
            let real = match (&def.name, external) {
                (Some(n), _) => n.clone(),
                (None, true) => key.clone(),
                (None, false) => format!("{name}_{key}"),
            };
            networks.push(NetworkPlan {
                key,
                name: real,
                external,
            });
        }
        let mut volumes = Vec::new();
        for (key, def) in &f.volumes {
            let def = def.clone().unwrap_or_default();
            if let Some(d) = def.driver.as_deref() {
                if d != "local" {
                    bail!("volume {key:?}: driver {d:?} is not supported (pier has local volumes)");
                }
            }
            let external = flag(def.external.as_ref(), &format!("volumes.{key}.external"))?;
            let real = match (&def.name, external) {
                (Some(n), _) => n.clone(),
                (None, true) => key.clone(),
                (None, false) => format!("{name}_{key}"),
            };
            crate::volume::validate_name(&real).with_context(|| format!("volume {key:?}"))?;
            let mut labels: BTreeMap<String, String> = def
                .labels
                .map(|l| {
                    l.entries()
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            labels.insert(super::labels::PROJECT.into(), name.clone());
            labels.insert(super::labels::VOLUME.into(), key.clone());
            volumes.push(VolumePlan {
                key: key.clone(),
                name: real,
                external,
                labels,
            });
        }
        let net_names: BTreeMap<String, String> = networks
            .iter()
            .map(|n| (n.key.clone(), n.name.clone()))
            .collect();
        let vol_names: BTreeMap<String, String> = volumes
            .iter()
            .map(|v| (v.key.clone(), v.name.clone()))
            .collect();
        let names = Names {
            project: &name,
            networks: &net_names,
            volumes: &vol_names,
            create_host_dirs,
        };
        let deps: BTreeMap<String, Vec<(String, super::model::Condition)>> = f
            .services
            .iter()
            .map(|(n, s)| {
                let mut on = s.depends_on.as_ref().map(|d| d.items()).unwrap_or_default();
                // `network_mode: service:x` joins x's namespace: x must run first.
                if let Some(x) = s
                    .network_mode
                    .as_deref()
                    .and_then(|m| m.strip_prefix("service:"))
                {
                    if !on.iter().any(|(d, _)| d == x) {
                        on.push((x.to_string(), super::model::Condition::ServiceStarted));
                    }
                }
                (n.clone(), on)
            })
            .collect();
        let order = plan::start_order(&deps)?;
        let mut services = Vec::new();
        for s in &order {
            let mut plan = service::resolve(s, &f.services[s], &loaded, &names)?;
            plan.depends_on = deps[s].clone();
            services.push(plan);
        }
        // Only the networks some service joins are created.
        let used: Vec<String> = services
            .iter()
            .flat_map(|s| {
                let first = match &s.config.network {
                    Some(crate::container::config::NetworkMode::Bridge(n)) => Some(n.clone()),
                    _ => None,
                };
                first
                    .into_iter()
                    .chain(s.config.extra_networks.iter().map(|x| x.network.clone()))
            })
            .collect();
        networks.retain(|n| used.contains(&n.name));
        Ok(Project {
            name,
            loaded,
            services,
            networks,
            volumes,
            disabled: Vec::new(),
        })
    }

    /// A service by name.
    pub fn service(&self, name: &str) -> Result<&ServicePlan> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no such service: {name}"))
    }

    /// The named services (all when empty), with their dependencies when `deps`, in start
    /// order.
    pub fn selected(&self, names: &[String], deps: bool) -> Result<Vec<&ServicePlan>> {
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        for n in names {
            self.service(n)?;
        }
        let wanted = if deps {
            let graph: BTreeMap<String, Vec<(String, super::model::Condition)>> = self
                .services
                .iter()
                .map(|s| (s.name.clone(), s.depends_on.clone()))
                .collect();
            plan::with_dependencies(names, &graph)?
        } else {
            names.to_vec()
        };
        Ok(self
            .services
            .iter()
            .filter(|s| wanted.contains(&s.name))
            .collect())
    }

    /// The directory of the compose file.
    pub fn dir(&self) -> &Path {
        &self.loaded.dir
    }

    /// The resolved file as YAML (`pier compose config`).
    pub fn config_yaml(&self) -> Result<String> {
        let mut file = self.loaded.file.clone();
        file.name = Some(self.name.clone());
        // The real names of networks and volumes, as `docker compose config` shows them.
        for n in &self.networks {
            let def = file.networks.entry(n.key.clone()).or_default();
            def.get_or_insert_with(Default::default).name = Some(n.name.clone());
        }
        for v in &self.volumes {
            let def = file.volumes.entry(v.key.clone()).or_default();
            def.get_or_insert_with(Default::default).name = Some(v.name.clone());
        }
        yaml_serde::to_string(&file).context("writing the resolved file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("My App.2"), "myapp2");
        assert_eq!(normalize_name("_x"), "x");
        assert!(check_name("Bad").is_err());
        assert!(check_name("good_1-a").is_ok());
    }
}
