//! The sandbox (pause) image, made here: a small static C program that holds the pod's
//! namespaces, built with `cc -static` and packed with `pier build` (FROM scratch), then
//! saved as an OCI archive beside pier's busybox for containerd to import. Nothing comes
//! from the network.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pause program: holds the pod's namespaces, sleeps until SIGINT or SIGTERM, reaps
/// the orphans a shared PID namespace hands it (what Kubernetes' pause does).
pub const PAUSE_C: &str = r#"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0};
  a.sa_handler = quit;
  sigaction(SIGINT, &a, 0);
  sigaction(SIGTERM, &a, 0);
  a.sa_handler = reap;
  a.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &a, 0);
  for (;;) pause();
}
"#;

/// The pause image's Dockerfile.
pub const DOCKERFILE: &str = "FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n";

/// Runs pier with the given arguments (`build ...`, `save ...`) against the caller's state
/// root; `Err` carries pier's words.
pub type PierRunner<'a> = dyn FnMut(&[&str]) -> Result<(), String> + 'a;

/// The two image archives a private containerd imports, made in `dir`: the pause image
/// ([`super::PAUSE_IMAGE`], built by `pier build`) and pier's `busybox` (`pier save`, which
/// the caller's root must hold). Returns their paths (pause first).
pub fn image_archives(dir: &Path, pier: &mut PierRunner) -> Result<Vec<PathBuf>, Error> {
    let ctx = build_context(dir)?;
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let pause = dir.join("pause.tar");
    let busybox = dir.join("busybox.tar");
    let steps: [(&str, Vec<String>); 3] = [
        (
            "building the pause image",
            vec![
                "build".into(),
                "-q".into(),
                "-t".into(),
                super::PAUSE_IMAGE.into(),
                text(&ctx),
            ],
        ),
        (
            "saving the pause image",
            vec![
                "save".into(),
                "-o".into(),
                text(&pause),
                super::PAUSE_IMAGE.into(),
            ],
        ),
        (
            "saving the busybox image",
            vec!["save".into(), "-o".into(), text(&busybox), "busybox".into()],
        ),
    ];
    for (step, args) in steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pier(&args).map_err(|reason| Error::setup(step, reason))?;
    }
    Ok(vec![pause, busybox])
}

/// `<dir>/pause-context`: the static pause program and its Dockerfile.
pub fn build_context(dir: &Path) -> Result<PathBuf, Error> {
    let ctx = dir.join("pause-context");
    let io = |what: &str, e: std::io::Error| Error::setup(what, e.to_string());
    std::fs::create_dir_all(&ctx).map_err(|e| io("creating the pause context", e))?;
    let src = dir.join("pause.c");
    std::fs::write(&src, PAUSE_C).map_err(|e| io("writing pause.c", e))?;
    let out = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(ctx.join("pause"))
        .arg(&src)
        .output()
        .map_err(|e| io("running cc for the pause program", e))?;
    if !out.status.success() {
        return Err(Error::setup(
            "cc -static could not build the pause program (gcc, libc6-dev)",
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE)
        .map_err(|e| io("writing the pause Dockerfile", e))?;
    Ok(ctx)
}
