//! Running a parsed Dockerfile: stage by stage, step by step, each step producing an image
//! (unindexed until the end) from the previous one, reusing cached results.
//!
//! Output follows Docker's classic builder: `Step 2/5 : RUN ...`, ` ---> Using cache`,
//! ` ---> <short id>`, `Successfully built <id>`, `Successfully tagged name:tag`, plus the
//! time each step took.

use super::cache::{self, BuildCache};
use super::context::BuildContext;
use super::copy::{self, Ownership, Sources};
use super::dockerfile::{self, Command, CopyArgs, Dockerfile, Instruction, Step};
use super::expand::{expand, expand_vars, Vars};
use super::instructions::{self, MetaContext};
use super::run::{self, RunStep};
use super::scratch::{RootView, Scratch};
use crate::container::config::NetworkMode;
use crate::container::{user, Engine};
use crate::image::registry::{self, credentials::CredentialStore, PullPolicy};
use crate::image::store::DEFAULT_PATH_ENV;
use crate::image::{Image, ImageStore, Reference};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{Config, HistoryBuilder, ImageConfiguration};
use pier_oci::time::now_rfc3339_seconds;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `CONTEXT/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `-t` references.
    pub tags: Vec<String>,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--target STAGE`.
    pub target: Option<String>,
    /// Network of `RUN` containers.
    pub network: NetworkMode,
    /// `--label K=V`: labels of the final image (a `LABEL` step appended to the last stage,
    /// as Docker's classic builder does).
    pub labels: Vec<(String, String)>,
}

/// The state of the stage being built.
struct StageState {
    /// The image so far (`None` for `FROM scratch` before any step).
    image: Option<Image>,
    /// Its configuration.
    config: ImageConfiguration,
    /// `ARG`s in scope with their values.
    args: Vec<(String, String)>,
    /// `CMD` set in this stage (an `ENTRYPOINT` then keeps it).
    cmd_set: bool,
}

impl StageState {
    fn cfg(&self) -> Config {
        self.config.config().clone().unwrap_or_default()
    }

    fn env(&self) -> Vec<String> {
        self.cfg().env().clone().unwrap_or_default()
    }

    /// Variables for substitution: ARG values, overridden by ENV ones.
    fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        for e in self.env() {
            if let Some((k, val)) = e.split_once('=') {
                v.push((k.to_string(), val.to_string()));
            }
        }
        v
    }

    fn parent_id(&self) -> String {
        self.image
            .as_ref()
            .map_or_else(|| "scratch".to_string(), |i| i.id.clone())
    }

    fn workdir(&self) -> String {
        self.cfg()
            .working_dir()
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

/// What a step contributes besides its config change.
enum Layer<'a> {
    /// Metadata only (an `empty_layer` history entry).
    None,
    /// Files written by `COPY`/`ADD`/`WORKDIR` into a directory.
    Dir(PathBuf),
    /// The writable layer of a finished `RUN` container.
    Container(run::BuildContainer<'a>),
}

/// A build in progress.
struct Build<'a> {
    engine: &'a Engine,
    store: ImageStore,
    cache: BuildCache,
    scratch: Scratch,
    context: BuildContext,
    df: Dockerfile,
    opts: &'a BuildOptions,
    out: &'a mut dyn Write,
    step_no: usize,
    total: usize,
    used_args: BTreeSet<String>,
    /// Final image of each finished stage.
    stages: Vec<Option<Image>>,
}

/// Builds the image described by the options; returns it tagged and listed.
pub fn build(engine: &Engine, opts: &BuildOptions, out: &mut dyn Write) -> Result<Image> {
    for t in &opts.tags {
        Reference::parse(t).with_context(|| format!("invalid tag {t:?}"))?;
    }
    let context = BuildContext::open(&opts.context)?;
    let (df_path, text) = context.read_dockerfile(opts.dockerfile.as_deref())?;
    let file_name = df_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let mut df = dockerfile::parse(&file_name, &text)?;
    let last = match &opts.target {
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| anyhow!("target stage {t:?} could not be found in {file_name}"))?,
        None => df.stages.len() - 1,
    };
    if !opts.labels.is_empty() {
        df.stages[last]
            .steps
            .push(label_step(&opts.labels, df.escape));
    }
    let total = df.stages[..=last].iter().map(|s| 1 + s.steps.len()).sum();
    let store = engine.images()?;
    let mut b = Build {
        engine,
        cache: BuildCache::open(&store),
        store,
        scratch: Scratch::new(engine.root())?,
        context,
        df,
        opts,
        out,
        step_no: 0,
        total,
        used_args: BTreeSet::new(),
        stages: Vec::new(),
    };
    super::interrupt::install()?;
    let global = b.global_args()?;
    for i in 0..=last {
        let image = b.build_stage(i, &global)?;
        b.stages.push(image);
    }
    let unused: Vec<&str> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !b.used_args.contains(*k))
        .collect();
    if !unused.is_empty() {
        writeln!(
            b.out,
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        )?;
    }
    let Some(Some(image)) = b.stages.pop() else {
        bail!("no image was generated: the Dockerfile's last stage is an empty FROM scratch");
    };
    let image = b.store.add_to_index(&image, &opts.tags)?;
    writeln!(b.out, "Successfully built {}", image.short_id())?;
    for t in &opts.tags {
        writeln!(b.out, "Successfully tagged {}", Reference::parse(t)?)?;
    }
    Ok(image)
}

/// The `LABEL` step for `--label` values, escaped so that they are taken literally.
fn label_step(labels: &[(String, String)], escape: char) -> Step {
    let literal = |w: &str| {
        w.chars()
            .flat_map(|c| {
                let escaped = c == escape || c == '$';
                escaped
                    .then_some(escape)
                    .into_iter()
                    .chain(std::iter::once(c))
            })
            .collect::<String>()
    };
    let text = labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    Step {
        line: 0,
        text: format!("LABEL {text}"),
        instruction: Instruction::Label(
            labels
                .iter()
                .map(|(k, v)| (literal(k), literal(v)))
                .collect(),
        ),
    }
}

impl<'a> Build<'a> {
    fn build_arg(&self, name: &str) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// `ARG`s before the first `FROM`: their values for `FROM` lines and later `ARG NAME`.
    fn global_args(&mut self) -> Result<Vec<(String, String)>> {
        let mut vars: Vec<(String, String)> = Vec::new();
        for step in self.df.global_args.clone() {
            if let Instruction::Arg(list) = &step.instruction {
                for (k, default) in list {
                    let value = match self.build_arg(k) {
                        Some(v) => {
                            self.used_args.insert(k.clone());
                            Some(v)
                        }
                        None => default
                            .as_deref()
                            .map(|d| expand(d, &vars, self.df.escape))
                            .transpose()
                            .map_err(|e| self.at(&step, e))?,
                    };
                    if let Some(v) = value {
                        vars.push((k.clone(), v));
                    }
                }
            }
        }
        Ok(vars)
    }

    /// An error about `step`, naming the Dockerfile and line.
    fn at(&self, step: &Step, e: anyhow::Error) -> anyhow::Error {
        anyhow!("{}:{}: {e:#}", self.df.file, step.line)
    }

    fn header(&mut self, step: &Step) -> Result<()> {
        self.step_no += 1;
        writeln!(
            self.out,
            "Step {}/{} : {}",
            self.step_no, self.total, step.text
        )?;
        self.out.flush()?;
        Ok(())
    }

    fn build_stage(&mut self, index: usize, global: &[(String, String)]) -> Result<Option<Image>> {
        let stage = self.df.stages[index].clone();
        self.header(&stage.from)?;
        let Instruction::From { image, .. } = &stage.from.instruction else {
            bail!("internal error: a stage without FROM");
        };
        let base =
            expand(image, &global.to_vec(), self.df.escape).map_err(|e| self.at(&stage.from, e))?;
        let image = self
            .base_image(&base, index)
            .map_err(|e| self.at(&stage.from, e))?;
        let mut st = match image {
            Some(img) => StageState {
                config: img.config.clone(),
                image: Some(img),
                args: Vec::new(),
                cmd_set: false,
            },
            None => {
                let mut config = ImageConfiguration::default();
                let mut c = Config::default();
                c.set_env(Some(vec![DEFAULT_PATH_ENV.to_string()]));
                config.set_config(Some(c));
                StageState {
                    image: None,
                    config,
                    args: Vec::new(),
                    cmd_set: false,
                }
            }
        };
        match &st.image {
            Some(img) => writeln!(self.out, " ---> {}", img.short_id())?,
            None => writeln!(self.out, " ---> scratch (empty)")?,
        }
        for step in &stage.steps {
            if super::interrupt::requested() {
                bail!("build interrupted");
            }
            let started = Instant::now();
            self.header(step)?;
            self.step(&mut st, step, global)
                .map_err(|e| self.at(step, e))?;
            match &st.image {
                Some(img) => writeln!(
                    self.out,
                    " ---> {} ({:.2}s)",
                    img.short_id(),
                    started.elapsed().as_secs_f64()
                )?,
                None => writeln!(self.out, " ---> scratch (empty)")?,
            }
            self.out.flush()?;
        }
        Ok(st.image)
    }

    /// `FROM`: scratch, an earlier stage, or an image in the store, pulled if missing
    /// (as `docker build` does), with the credentials `pier login` saved.
    fn base_image(&mut self, name: &str, index: usize) -> Result<Option<Image>> {
        if name == "scratch" {
            return Ok(None);
        }
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.df.stages[..index]
            .iter()
            .position(|s| s.name() == Some(lower.as_str()))
        {
            return Ok(self.stages[i].clone());
        }
        if self.store.resolve(name).is_err() {
            let creds = |host: &str| CredentialStore::open()?.get(host);
            let mut lines = Vec::new();
            registry::ensure_image(
                &self.store,
                name,
                PullPolicy::Missing,
                &creds,
                &mut |l| lines.push(l.to_string()),
            )
            .map_err(|e| anyhow!("FROM {name}: {e:#} (offline, bootstrap an image with `pier image bootstrap busybox` or load one)"))?;
            for l in lines {
                writeln!(self.out, "{l}")?;
            }
        }
        let image = self
            .store
            .resolve(name)
            .map_err(|e| anyhow!("FROM {name}: {e:#}"))?;
        Ok(Some(image))
    }

    /// Runs one step: computes what it records, then uses the cache or does the work.
    fn step(
        &mut self,
        st: &mut StageState,
        step: &Step,
        global: &[(String, String)],
    ) -> Result<()> {
        let esc = self.df.escape;
        let vars = st.vars();
        let ex = |w: &str| expand(w, &vars, esc);
        let nop = |text: String| format!("/bin/sh -c #(nop)  {text}");
        let mut cfg = st.cfg();
        let created_by = match &step.instruction {
            Instruction::From { .. } => bail!("internal error: FROM inside a stage"),
            Instruction::Run(command) => return self.run_step(st, command),
            Instruction::Copy(args) => return self.copy_step(st, args, false),
            Instruction::Add(args) => return self.copy_step(st, args, true),
            Instruction::Workdir(path) => return self.workdir_step(st, &ex(path)?),
            Instruction::Arg(list) => {
                let mut shown = Vec::new();
                for (k, default) in list {
                    let value = match self.build_arg(k) {
                        Some(v) => {
                            self.used_args.insert(k.clone());
                            Some(v)
                        }
                        None => match default {
                            Some(d) => Some(ex(d)?),
                            None => Vars::get(global, k),
                        },
                    };
                    st.args.retain(|(n, _)| n != k);
                    if let Some(v) = &value {
                        st.args.push((k.clone(), v.clone()));
                    }
                    shown.push(match default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                }
                let created_by = nop(format!("ARG {}", shown.join(" ")));
                created_by
            }
            Instruction::Maintainer(m) => {
                let m = ex(m)?;
                let mut config = st.config.clone();
                config.set_author(Some(m.clone()));
                config.set_config(Some(cfg));
                return self.commit(
                    st,
                    nop(format!("MAINTAINER {m}")),
                    String::new(),
                    config,
                    |_| Ok(Layer::None),
                );
            }
            other => {
                let mut meta = MetaContext {
                    vars: &vars,
                    escape: esc,
                    cmd_set: st.cmd_set,
                };
                let created_by = instructions::apply(other, &mut cfg, &mut meta)?;
                st.cmd_set = meta.cmd_set;
                created_by
            }
        };
        self.commit_config(st, created_by, cfg)
    }

    fn commit_config(
        &mut self,
        st: &mut StageState,
        created_by: String,
        cfg: Config,
    ) -> Result<()> {
        let mut config = st.config.clone();
        config.set_config(Some(cfg));
        self.commit(st, created_by, String::new(), config, |_| Ok(Layer::None))
    }

    /// The common end of every step: a cache hit reuses the earlier image; otherwise `work`
    /// produces the layer (if any) and the new image is stored with a history entry.
    fn commit(
        &mut self,
        st: &mut StageState,
        created_by: String,
        inputs: String,
        config: ImageConfiguration,
        work: impl FnOnce(&mut Self) -> Result<Layer<'a>>,
    ) -> Result<()> {
        let key = cache::key(&st.parent_id(), &created_by, &inputs);
        if !self.opts.no_cache {
            if let Some(hit) = self.cache.get(&self.store, &key) {
                writeln!(self.out, " ---> Using cache")?;
                st.config = hit.config.clone();
                st.image = Some(hit);
                return Ok(());
            }
        }
        let layer = work(self)?;
        let mut config = config;
        let created = now_rfc3339_seconds();
        let mut history = config.history().clone().unwrap_or_default();
        let mut entry = HistoryBuilder::default()
            .created(created.clone())
            .created_by(created_by);
        if matches!(layer, Layer::None) {
            entry = entry.empty_layer(true);
        }
        history.push(entry.build().context("building the history entry")?);
        config.set_history(Some(history));
        config.set_created(Some(created));
        let dirs: Vec<PathBuf> = match &layer {
            Layer::None => Vec::new(),
            Layer::Dir(d) => vec![d.clone()],
            Layer::Container(c) => vec![c.upper.clone()],
        };
        let image = self
            .store
            .commit_layers_unindexed(st.image.as_ref(), &dirs, config)?;
        if let Layer::Container(c) = layer {
            writeln!(self.out, "Removing intermediate container {}", &c.id[..12])?;
            drop(c);
        }
        self.cache.put(&key, &image)?;
        st.config = image.config.clone();
        st.image = Some(image);
        Ok(())
    }

    fn run_step(&mut self, st: &mut StageState, command: &Command) -> Result<()> {
        let argv = instructions::argv(&st.cfg(), command);
        let env_keys: Vec<String> = st
            .env()
            .iter()
            .filter_map(|e| e.split('=').next().map(str::to_string))
            .collect();
        // Build arguments reach the command as environment variables (ENV wins) and are
        // part of what the step records, so changing one reruns the step.
        let args: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut created_by = argv.join(" ");
        if !st.args.is_empty() {
            let all: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            created_by = format!("|{} {} {created_by}", all.len(), all.join(" "));
        }
        let config = st.config.clone();
        let shown = argv.join(" ");
        let image = st.image.clone();
        let network = self.opts.network.clone();
        self.commit(st, created_by, String::new(), config, move |b| {
            let image = image.ok_or_else(|| {
                anyhow!("RUN needs files to run: the build state is an empty FROM scratch image (COPY a program in first)")
            })?;
            let c = run::run(
                b.engine,
                RunStep {
                    image: &image,
                    argv,
                    env: args,
                    network,
                    shown,
                },
                b.out,
            )?;
            Ok(Layer::Container(c))
        })
    }

    fn copy_step(&mut self, st: &mut StageState, a: &CopyArgs, add: bool) -> Result<()> {
        let verb = if add { "ADD" } else { "COPY" };
        let esc = self.df.escape;
        let vars = st.vars();
        let ex = |w: &str| -> Result<String> {
            if a.json {
                expand_vars(w, &vars, esc)
            } else {
                expand(w, &vars, esc)
            }
        };
        let sources = a
            .sources
            .iter()
            .map(|s| ex(s))
            .collect::<Result<Vec<_>>>()?;
        let dest = ex(&a.dest)?;
        let dest = if dest.starts_with('/') {
            dest
        } else {
            format!("{}/{dest}", st.workdir().trim_end_matches('/'))
        };
        // Sources: the context, or another stage's / image's files.
        let (from_image, from_label) = match &a.from {
            None => (None, String::new()),
            Some(f) => {
                let f = expand(f, &vars, esc)?;
                (Some(self.copy_source_image(&f)?), format!("--from={f} "))
            }
        };
        let from_view = match &from_image {
            Some(img) => Some(RootView::open(&self.scratch, img.as_ref())?),
            None => None,
        };
        let what = match &a.from {
            Some(f) => format!("{f:?}"),
            None => "build context".to_string(),
        };
        let src = match &from_view {
            Some(v) => Sources {
                root: v.root(),
                ignore: None,
                what: &what,
            },
            None => Sources {
                root: &self.context.root,
                ignore: Some(&self.context.ignore),
                what: &what,
            },
        };
        let view = RootView::open(&self.scratch, st.image.as_ref())?;
        let plan = copy::plan(&src, &sources, &dest, &view, add)?;
        let hash = plan.hash()?;
        let own = match &a.chown {
            Some(spec) => {
                let spec = ex(spec)?;
                let u = user::resolve(view.root(), &spec)
                    .with_context(|| format!("{verb} --chown={spec}"))?;
                Ownership {
                    uid: u.uid,
                    gid: u.gid,
                    mode: None,
                }
            }
            None => Ownership::default(),
        };
        let own = Ownership {
            mode: match &a.chmod {
                Some(m) => Some(
                    u32::from_str_radix(m, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| {
                            anyhow!("{verb} --chmod={m}: expected an octal mode such as 755")
                        })?,
                ),
                None => None,
            },
            ..own
        };
        let created_by = format!(
            "/bin/sh -c #(nop) {verb} {from_label}{}:{hash} in {dest} ",
            plan.kind()
        );
        let inputs = format!("{hash} chown={}:{} chmod={:?}", own.uid, own.gid, own.mode);
        let config = st.config.clone();
        self.commit(st, created_by, inputs, config, |b| {
            let layer = b.scratch.subdir("layer-")?;
            plan.write(&layer, &view, own)?;
            Ok(Layer::Dir(layer))
        })
    }

    /// `COPY --from=`: a stage by name or index, else an image.
    fn copy_source_image(&self, from: &str) -> Result<Option<Image>> {
        let current = self.stages.len();
        if let Ok(i) = from.parse::<usize>() {
            if i < current {
                return Ok(self.stages[i].clone());
            }
            bail!("COPY --from={from}: stage {i} is not a previous stage (stages are numbered from 0)");
        }
        let lower = from.to_ascii_lowercase();
        if let Some(i) = self
            .df
            .stages
            .iter()
            .position(|s| s.name() == Some(lower.as_str()))
        {
            if i < current {
                return Ok(self.stages[i].clone());
            }
            bail!("COPY --from={from}: stage {from} is not built before this one");
        }
        self.store
            .resolve(from)
            .map(Some)
            .map_err(|e| anyhow!("COPY --from={from}: no such stage, and {e:#}"))
    }

    fn workdir_step(&mut self, st: &mut StageState, path: &str) -> Result<()> {
        if path.is_empty() {
            bail!("WORKDIR requires a path");
        }
        let joined = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", st.workdir().trim_end_matches('/'))
        };
        let clean = clean_path(&joined);
        let mut cfg = st.cfg();
        cfg.set_working_dir(Some(clean.clone()));
        let mut config = st.config.clone();
        config.set_config(Some(cfg));
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {clean}");
        let image = st.image.clone();
        self.commit(st, created_by, String::new(), config, move |b| {
            let view = RootView::open(&b.scratch, image.as_ref())?;
            let rel = view.resolve(Path::new(&clean))?;
            if view
                .dir()
                .lstat_opt(&rel)
                .is_ok_and(|st| st.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR))
            {
                return Ok(Layer::None);
            }
            let layer = b.scratch.subdir("layer-")?;
            copy::make_parents(&layer, &view, &rel, &mut BTreeMap::new())?;
            Ok(Layer::Dir(layer))
        })
    }
}

/// `/a/./b/../c` -> `/a/c`.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Build arguments `K=V` (or `K`, taking the value from pier's environment) parsed.
pub fn parse_build_args(args: &[String]) -> Result<Vec<(String, String)>> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let mut out = Vec::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            Some(_) => bail!("--build-arg {a:?}: expected KEY=VALUE"),
            None => {
                if let Some(v) = env.get(a) {
                    out.push((a.clone(), v.clone()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_args() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/../x"), "/x");
        let a = parse_build_args(&["A=1".into(), "B=x=y".into()]).unwrap();
        assert_eq!(
            a,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(parse_build_args(&["=1".into()]).is_err());
    }
}
