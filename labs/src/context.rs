//! What a check can look at: the engine (container records, image store), pier's binary (for
//! commands the engine does not expose as a library yet), the student's recorded answers, and
//! helpers that turn "not there" into a failed check with a precise reason.

use crate::progress::Progress;
use crate::text::{self, josa, Josa, Lang, Msg};
use anyhow::{anyhow, bail, Context, Result};
use pier_engine::container::events::Event;
use pier_engine::container::record::{ContainerRecord, ContainerStatus};
use pier_engine::container::Engine;
use pier_engine::image::Image;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Everything a check needs.
pub struct Ctx {
    engine: Engine,
    pier: PathBuf,
    lang: Lang,
}

impl Ctx {
    /// Opens the engine at `root`; `pier` is the binary used for commands that exist only on
    /// the command line (networks).
    pub fn open(root: &Path, pier: &Path) -> Result<Ctx> {
        Ok(Ctx {
            engine: Engine::open(root)?,
            pier: pier.to_path_buf(),
            lang: Lang::from_env(),
        })
    }

    /// The language the checker speaks, from the environment ([`Lang::from_env`]).
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// pier's state directory.
    pub fn root(&self) -> &Path {
        self.engine.root()
    }

    /// The `pier` binary.
    pub fn pier(&self) -> &Path {
        &self.pier
    }

    /// The lab's working directory (`<root>/labs/work/N`), for files the student writes
    /// (a Dockerfile, an env file, a bind-mounted data directory).
    pub fn workdir(&self, lab: u32) -> PathBuf {
        self.root().join("labs/work").join(lab.to_string())
    }

    /// What `pier ARGS` prints, run against this state directory: for what pier shows only on
    /// its command line (`pier ps`'s health column, `pier inspect`'s JSON).
    pub fn pier_output(&self, args: &[&str]) -> Result<String> {
        let out = std::process::Command::new(&self.pier)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("running pier {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "pier {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `pier inspect NAME`'s object.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        let text = self.pier_output(&["inspect", name])?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("reading pier inspect {name}'s JSON"))?;
        Ok(v.get(0).cloned().unwrap_or(v))
    }

    /// The line of `pier ps -a` that shows the container `name`.
    pub fn ps_line(&self, name: &str) -> Result<String> {
        self.pier_output(&["ps", "-a"])?
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .map(str::to_string)
            .ok_or_else(|| {
                Msg::new(
                    format!("pier ps -a shows no container named {name}"),
                    format!(
                        "pier ps -a에 {} 이름의 컨테이너가 보이지 않습니다",
                        josa(name, Josa::IraneunRaneun)
                    ),
                )
                .into()
            })
    }

    /// The value the student recorded with `pier lab answer LAB KEY VALUE`.
    pub fn answer(&self, lab: u32, key: &str) -> Result<String> {
        let progress = Progress::load(self.root())?;
        progress
            .labs
            .get(&lab)
            .and_then(|l| l.answers.get(key))
            .cloned()
            .ok_or_else(|| {
                Msg::new(
                    text::no_answer(Lang::En, lab, key),
                    text::no_answer(Lang::Ko, lab, key),
                )
                .into()
            })
    }

    /// When `pier lab start LAB` last ran, if it did.
    pub fn started_at(&self, lab: u32) -> Option<SystemTime> {
        let progress = Progress::load(self.root()).ok()?;
        let text = progress.labs.get(&lab)?.started_at.clone()?;
        pier_oci::time::parse_rfc3339(&text).ok()
    }

    /// The events pier logged (`pier events`) for the container called `name` since
    /// `pier lab start LAB`, oldest first; they outlive the container. Only lines pier
    /// sealed count: a line written into the log by hand is refused
    /// ([`EventLog::read_sealed`](pier_engine::container::events::EventLog::read_sealed)).
    pub fn events(&self, lab: u32, name: &str) -> Result<Vec<Event>> {
        let since = self.started_at(lab);
        Ok(self
            .engine
            .events()
            .read_sealed()?
            .into_iter()
            .filter(|e| e.name == name)
            .filter(|e| match (since, e.when()) {
                (Some(since), Some(at)) => at >= since,
                _ => true,
            })
            .collect())
    }

    /// The container named `name`, or a failure telling how to make it.
    pub fn container(&self, name: &str) -> Result<ContainerRecord> {
        let all = self.engine.containers()?;
        all.into_iter().find(|r| r.name == name).ok_or_else(|| {
            Msg::new(
                format!("there is no container named {name} (`pier ps -a` lists them)"),
                format!(
                    "{} 이름의 컨테이너가 없습니다 (`pier ps -a`가 컨테이너를 보여 줍니다)",
                    josa(name, Josa::IraneunRaneun)
                ),
            )
            .into()
        })
    }

    /// The running container `name` and the host PID of its init process.
    pub fn running(&self, name: &str) -> Result<(ContainerRecord, i32)> {
        let rec = self.container(name)?;
        if rec.status != ContainerStatus::Running {
            return Err(Msg::new(
                format!(
                    "container {name} exists but is {} (it must be running: start it with -d and a command that keeps running)",
                    rec.status.as_str()
                ),
                format!(
                    "컨테이너 {} 있지만 상태가 {}입니다 (실행 중이어야 합니다: -d와 계속 실행되는 명령으로 시작하세요)",
                    josa(name, Josa::EunNeun),
                    rec.status.as_str()
                ),
            )
            .into());
        }
        let pid = rec
            .init
            .filter(|p| p.is_alive())
            .map(|p| p.pid)
            .ok_or_else(|| {
                Msg::new(
                    format!("container {name} is marked running but its process is gone"),
                    format!(
                        "컨테이너 {} 실행 중으로 기록되어 있지만 그 프로세스가 없습니다",
                        josa(name, Josa::EunNeun)
                    ),
                )
            })?;
        Ok((rec, pid))
    }

    /// The container `name` after it exited, with its exit code.
    pub fn exited(&self, name: &str) -> Result<(ContainerRecord, i32)> {
        let rec = self.container(name)?;
        match (rec.status, rec.exit_code) {
            (ContainerStatus::Exited, Some(code)) => Ok((rec, code)),
            (status, _) => Err(Msg::new(
                format!(
                    "container {name} is {}; it should have run to the end (do not use -d for this one)",
                    status.as_str()
                ),
                format!(
                    "컨테이너 {name}의 상태가 {}입니다. 끝까지 실행되었어야 합니다 (이 컨테이너에는 -d를 쓰지 마세요)",
                    status.as_str()
                ),
            )
            .into()),
        }
    }

    /// Everything the container wrote to stdout and stderr; `None` when pier kept no log
    /// (this build logs only detached containers, so checks fall back to the record then).
    pub fn log(&self, rec: &ContainerRecord) -> Result<Option<String>> {
        let path = self.engine.paths(&rec.id).log();
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the log of {} ({})", rec.name, path.display()))?;
        let mut out = String::new();
        for line in text.lines() {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => out.push_str(v["log"].as_str().unwrap_or_default()),
                Err(_) => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Ok(Some(out))
    }

    /// The content of a file of the running container's cgroup, e.g.
    /// `cgroup_file(rec, "memory", "memory.limit_in_bytes")`.
    pub fn cgroup_file(
        &self,
        rec: &ContainerRecord,
        controller: &str,
        file: &str,
    ) -> Result<String> {
        let cg = rec.cgroup.as_ref().ok_or_else(|| {
            Msg::new(
                format!("container {} has no cgroup (is it running?)", rec.name),
                format!("컨테이너 {}에 cgroup이 없습니다 (실행 중인가요?)", rec.name),
            )
        })?;
        let dir = cg
            .cgroup_dir(controller)
            .ok_or_else(|| anyhow!("the {controller} controller is not mounted"))?;
        let path = dir.join(file);
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string())
    }

    /// The image `reference`, or a failure saying it does not exist.
    pub fn image(&self, reference: &str) -> Result<Image> {
        self.engine.images()?.resolve(reference).map_err(|_| {
            Msg::new(
                format!("there is no image {reference} (`pier images` lists them)"),
                format!(
                    "이미지 {} 없습니다 (`pier images`가 이미지를 보여 줍니다)",
                    josa(reference, Josa::IGa)
                ),
            )
            .into()
        })
    }

    /// The container's writable layer (overlayfs upper directory).
    pub fn upper_dir(&self, rec: &ContainerRecord) -> PathBuf {
        self.engine.paths(&rec.id).upper()
    }
}
